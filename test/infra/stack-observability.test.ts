/**
 * What the template gives an operator beyond "the run failed": the data-quality alarms of each
 * schedule (configurable in cdk.json `dataQuality`), the CloudWatch dashboard, and the
 * Powertools settings of every function. The metrics they watch are the ones the handlers
 * write (lambdas/core/load-metrics.ts); test/infra/offline-aws-observability.test.ts checks a
 * real load writes them with these dimensions.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '#core/errors.ts';
import { DIM, METRIC, METRICS_NAMESPACE } from '#core/load-metrics.ts';
import { MIN_USERS_FOR_FAILED_SHARE, QUALITY_DEFAULTS } from '#core/quality.ts';
import { parseScheduleExpression, runDeadlineSeconds } from '#core/schedule-expression.ts';
import { trailingSettings } from '#handlers/commit.ts';
import { parseStackConfig } from '#infra/config.ts';
import { LOAD_BATCHES_LABEL, MERGE_GROUPS_LABEL } from '#infra/constructs/load-workflow.ts';
import {
  REQUEST_RATE_RANGE,
  REQUEST_RATE_TITLE,
  ROWS_TITLE,
  runsGraphPeriod,
} from '#infra/constructs/operations-dashboard.ts';
import { type Cfn, exampleConfig, type Synthesized, synth } from './app-fixture.ts';

const SCHEDULES = [
  { name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 24 },
  { name: 'quarter-hourly', expression: 'rate(15 minutes)', resources: ['accounts'] },
];

const CONFIG = exampleConfig({
  schedules: SCHEDULES,
  dataQuality: { failedUserSharePercent: 10, quietFeedFraction: 0.25, trailingLoads: 5 },
});

let built: Synthesized;
let template: Template;

beforeAll(() => {
  built = synth(CONFIG);
  template = built.template;
});

const id = (construct: { node: { defaultChild?: unknown } }) =>
  built.stack.getLogicalId(construct.node.defaultChild as never);

const alarmsOn = (t: Template, metricName: string): Cfn[] =>
  Object.values(t.findResources('AWS::CloudWatch::Alarm'))
    .map((a) => a.Properties)
    .filter((p) => p.MetricName === metricName);

const scheduleOf = (alarm: Cfn) => alarm.Dimensions.find((d: Cfn) => d.Name === DIM.schedule).Value;

describe('data-quality alarms', () => {
  it('watch each schedule: failed-user share, quiet feed, endpoint unavailable, run outside its window', () => {
    const expected = {
      [METRIC.failedUserShare]: {
        Statistic: 'Maximum',
        Threshold: 10,
        ComparisonOperator: 'GreaterThanThreshold',
      },
      [METRIC.lowestRowsToTrailingMedian]: {
        Statistic: 'Minimum',
        Threshold: 0.25,
        ComparisonOperator: 'LessThanThreshold',
      },
      [METRIC.endpointUnavailable]: {
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      },
    };
    const topic = id(built.stack.operations.topic);
    for (const [metricName, shape] of Object.entries(expected)) {
      const alarms = alarmsOn(template, metricName);
      expect(alarms.map(scheduleOf).sort(), metricName).toEqual(['daily', 'quarter-hourly']);
      for (const alarm of alarms) {
        expect(alarm).toMatchObject({
          Namespace: METRICS_NAMESPACE,
          Period: 300,
          EvaluationPeriods: 1,
          // A per-load signal holds its state between loads (a period without a load has no
          // datapoint): a quiet feed stays in ALARM until a load says it recovered.
          TreatMissingData: 'ignore',
          AlarmActions: [{ Ref: topic }],
          // On-call hears when it clears too (a quiet feed recovered), on the same topic.
          OKActions: [{ Ref: topic }],
          ...shape,
        });
        expect(alarm.Dimensions).toEqual([
          { Name: DIM.schedule, Value: scheduleOf(alarm) },
          { Name: DIM.stack, Value: built.stack.stackName },
        ]);
      }
    }
    // A run is outside its window when it commits later than its run deadline after its slot.
    const window = alarmsOn(template, METRIC.runSeconds);
    const deadline = (s: (typeof SCHEDULES)[number]) =>
      runDeadlineSeconds(parseScheduleExpression(s.expression)!, s.expectedPeriodHours);
    expect(Object.fromEntries(window.map((a) => [scheduleOf(a), a.Threshold]))).toEqual({
      daily: deadline(SCHEDULES[0]!),
      'quarter-hourly': deadline(SCHEDULES[1]!),
    });
    for (const alarm of window)
      expect(alarm).toMatchObject({
        Statistic: 'Maximum',
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'ignore',
        OKActions: [{ Ref: topic }],
      });
    for (const alarm of alarmsOn(template, METRIC.trailingLoadsUnreadable))
      expect(alarm).toMatchObject({ TreatMissingData: 'ignore', OKActions: [{ Ref: topic }] });
  });

  it('give the commit the trailing-median window and the quiet-feed fraction, and only the commit', () => {
    const env = (fn: { node: { defaultChild?: unknown } }) =>
      template.toJSON().Resources[id(fn)].Properties.Environment.Variables;
    expect(env(built.stack.functions.commit)).toMatchObject({
      PAYLINK_TRAILING_LOADS: '5',
      PAYLINK_MIN_TRAILING_LOADS: String(QUALITY_DEFAULTS.minTrailingLoads),
      // The alarm's fraction: the commit's log names the tables the alarm would.
      PAYLINK_QUIET_FRACTION: '0.25',
      // The commit folds the load's task checks into the registry (task-retirement.ts).
      PAYLINK_RETIRE_TASK_AFTER_MISSES: '2',
    });
    expect(env(built.stack.functions.loadBatch).PAYLINK_TRAILING_LOADS).toBeUndefined();
    // The failed-user share is judged from this many users (the default, or cdk.json's).
    expect(env(built.stack.functions.commit).PAYLINK_MIN_USERS_FAILED_SHARE).toBe(
      String(MIN_USERS_FOR_FAILED_SHARE),
    );
    const set = synth(exampleConfig({ dataQuality: { minUsersForFailedShare: 3 } }));
    const commitEnv = Object.values(set.template.findResources('AWS::Lambda::Function'))
      .map((f) => f.Properties.Environment?.Variables ?? {})
      .find((v) => v.PAYLINK_TRAILING_LOADS !== undefined);
    expect(commitEnv.PAYLINK_MIN_USERS_FAILED_SHARE).toBe('3');
    expect(trailingSettings({ PAYLINK_MIN_USERS_FAILED_SHARE: '3' }).minUsersForFailedShare).toBe(3);
    expect(trailingSettings({}).minUsersForFailedShare).toBe(MIN_USERS_FOR_FAILED_SHARE);
    expect(() =>
      parseStackConfig({ ...exampleConfig(), dataQuality: { minUsersForFailedShare: 0 } }),
    ).toThrow(/minUsersForFailedShare/);
  });

  it('can be turned off one by one, and use the documented defaults otherwise', () => {
    const quiet = synth(
      exampleConfig({ dataQuality: { endpointUnavailable: false, runOutsideWindow: false } }),
    );
    expect(alarmsOn(quiet.template, METRIC.endpointUnavailable)).toEqual([]);
    expect(alarmsOn(quiet.template, METRIC.runSeconds)).toEqual([]);
    expect(alarmsOn(quiet.template, METRIC.failedUserShare)[0]!.Threshold).toBe(
      QUALITY_DEFAULTS.failedUserSharePercent,
    );
    expect(alarmsOn(quiet.template, METRIC.lowestRowsToTrailingMedian)[0]!.Threshold).toBe(
      QUALITY_DEFAULTS.quietFraction,
    );
    expect(alarmsOn(quiet.template, METRIC.trailingLoadsUnreadable)).toHaveLength(1);
    const off = synth(exampleConfig({ dataQuality: { failedUserShare: false, quietFeed: false } }));
    expect(alarmsOn(off.template, METRIC.failedUserShare)).toEqual([]);
    expect(alarmsOn(off.template, METRIC.lowestRowsToTrailingMedian)).toEqual([]);
    expect(alarmsOn(off.template, METRIC.trailingLoadsUnreadable)).toEqual([]);
    expect(alarmsOn(off.template, METRIC.endpointUnavailable)).toHaveLength(1);
  });

  it('alarm when the commit could not read the earlier loads (no quiet-feed judgement otherwise)', () => {
    const alarms = alarmsOn(template, METRIC.trailingLoadsUnreadable);
    expect(alarms.map(scheduleOf).sort()).toEqual(['daily', 'quarter-hourly']);
    for (const alarm of alarms)
      expect(alarm).toMatchObject({
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
  });

  it('pass each run its schedule to the commit: its metrics never fall under Schedule=unknown', () => {
    const machine = JSON.stringify(template.toJSON());
    const commitPayloads = machine.match(/\\"runInput.\$\\":\\"\$\$.Execution.Input\\"/g) ?? [];
    // The commit, and the commit after a merge Map.
    expect(commitPayloads.length).toBe(2 * SCHEDULES.length);
  });

  it('refuse a config that cannot work, naming the key', () => {
    const parse = (dataQuality: unknown) => () => parseStackConfig({ ...exampleConfig(), dataQuality });
    expect(parse({ quietFeedFraction: 0 })).toThrow(ConfigError);
    expect(parse({ quietFeedFraction: 0 })).toThrow(/paylink\.dataQuality\.quietFeedFraction/);
    expect(parse({ trailingLoads: 3, minTrailingLoads: 4 })).toThrow(
      /paylink\.dataQuality\.minTrailingLoads/,
    );
    expect(parse({ failedUserShare: 5 })).toThrow(/paylink\.dataQuality/);
    expect(parse({ trailingLoads: 51 })).toThrow(/paylink\.dataQuality\.trailingLoads/);
    // Plain words, as the CLI's flags say them: the key and the allowed range.
    const message = (dataQuality: unknown) => {
      try {
        parse(dataQuality)();
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(message({ trailingLoads: 51 })).toBe(
      'paylink.dataQuality.trailingLoads: must be a whole number from 1 to 50 (got 51)',
    );
    expect(message({ trailingLoads: 2.5 })).toBe(
      'paylink.dataQuality.trailingLoads: must be a whole number from 1 to 50 (got 2.5)',
    );
    expect(message({ quietFeedFraction: 1.5 })).toBe(
      'paylink.dataQuality.quietFeedFraction: must be a number above 0 and at most 1 (got 1.5)',
    );
    expect(message({ failedUserSharePercent: '5' })).toBe(
      'paylink.dataQuality.failedUserSharePercent: must be a percentage from 0 to below 100 (got a string)',
    );
    // The alarm fires above the threshold: 100 could never fire.
    expect(message({ failedUserSharePercent: 100 })).toBe(
      'paylink.dataQuality.failedUserSharePercent: must be a percentage from 0 to below 100 (got 100)',
    );
    expect(message({ quietFeed: 'no' })).toBe(
      'paylink.dataQuality.quietFeed: must be true or false (got a string)',
    );
    expect(message({ endpointUnavailable: 'yes' })).toBe(
      'paylink.dataQuality.endpointUnavailable: must be true or false (got a string)',
    );
    expect(message({ runOutsideWindow: 1 })).toBe(
      'paylink.dataQuality.runOutsideWindow: must be true or false (got 1)',
    );
    // A typo: the key itself and the nearest known one, the words status --stack-config uses.
    expect(message({ quietFeedFractoin: 0.5 })).toBe(
      'paylink.dataQuality.quietFeedFractoin: unknown key (did you mean "quietFeedFraction"?)',
    );
  });
});

describe('the operations dashboard', () => {
  /** The dashboard body with its tokens (function names, ARNs) as `<token>`. */
  function body(t: Template = template): string {
    const dashboards = Object.values(t.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const raw = dashboards[0]!.Properties.DashboardBody;
    const flat = (v: Cfn): string =>
      typeof v === 'string' ? v : v['Fn::Join'] ? v['Fn::Join'][1].map(flat).join('') : '<token>';
    return flat(raw);
  }

  it('is named after the stack and has every widget the issue lists, each on the loader metrics', () => {
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]!;
    expect(dashboard.Properties.DashboardName).toBe(built.stack.stackName);
    const widgets = JSON.parse(body()).widgets as Cfn[];
    const titles = widgets.map((w) => w.properties.title).filter(Boolean);
    expect(titles).toEqual([
      'Alarms',
      'Runs: seconds from slot to commit (line: run deadline)',
      'Runs by outcome',
      'Users failed, each under its primary error code',
      'Failed-user share of each load (%) (line: alarm threshold)',
      ROWS_TITLE,
      'Rows / trailing median per table (line: quiet-feed threshold)',
      REQUEST_RATE_TITLE,
      'Batch headroom to the Lambda deadline (s, minimum)',
      'Lambda errors and throttles',
      'Map failures: failed batch executions and batches missing at commit',
    ]);
    const widget = (title: string) => JSON.stringify(widgets.find((w) => w.properties.title === title));
    const stack = built.stack.stackName;
    expect(widget('Users failed, each under its primary error code')).toContain(
      `{${METRICS_NAMESPACE},${DIM.schedule},${DIM.stack},${DIM.errorCode}} MetricName=\\"${METRIC.failedUsersByCode}\\" ${DIM.stack}=\\"${stack}\\"`,
    );
    expect(widget(ROWS_TITLE)).toContain(`${DIM.table}} MetricName=\\"${METRIC.tableRows}\\"`);
    expect(JSON.parse(widget(ROWS_TITLE)).properties.metrics[0][0].expression).toContain("'Maximum', 3600)");
    // The configured requestRate as the line requests are drawn against.
    const requests = JSON.parse(widget(REQUEST_RATE_TITLE));
    // Drawn per minute over its own 24 hours: over the dashboard's 14 days CloudWatch would
    // widen the period to hours and average a run's bursts away.
    expect(requests.properties).toMatchObject({ period: 60, start: REQUEST_RATE_RANGE });
    expect(requests.properties.annotations.horizontal).toEqual([
      expect.objectContaining({ value: built.stack.config.requestRate }),
    ]);
    // The rate is requests sent per minute (each datapoint at its minute) over the period, per
    // schedule and for the whole stack (requestRate is the stack's limit); never the per-batch
    // totals, which land at each batch's end and draw a long batch as a spike.
    const rows = requests.properties.metrics as Cfn[][];
    const expressions = rows.flatMap((r) => (r[0]?.expression === undefined ? [] : [r[0]]));
    expect(expressions.map((e: Cfn) => [e.label, e.expression])).toEqual([
      ['daily requests/s', 'r0 / PERIOD(r0)'],
      ['quarter-hourly requests/s', 'r1 / PERIOD(r1)'],
      ['all schedules requests/s', '(FILL(r0, 0) + FILL(r1, 0)) / PERIOD(r0)'],
    ]);
    const inputs = rows.filter((r) => typeof r[0] === 'string' && (r.at(-1) as Cfn).id !== undefined);
    expect(inputs.map((r) => [r[1], r[3], (r.at(-1) as Cfn).id, (r.at(-1) as Cfn).stat])).toEqual([
      [METRIC.requestsSent, 'daily', 'r0', 'Sum'],
      [METRIC.requestsSent, 'quarter-hourly', 'r1', 'Sum'],
    ]);
    expect(JSON.stringify(rows)).not.toContain(`"${METRIC.requests}"`);
    // 429s and retries per minute on the right axis: batches publish them per minute as they go.
    const counted = rows.filter((r) => r[1] === METRIC.rateLimited || r[1] === METRIC.retries);
    expect(counted.map((r) => [r[1], r[3], (r.at(-1) as Cfn).period, (r.at(-1) as Cfn).yAxis])).toEqual(
      ['daily', 'quarter-hourly'].flatMap((s) => [
        [METRIC.rateLimited, s, 60, 'right'],
        [METRIC.retries, s, 60, 'right'],
      ]),
    );
    const quiet = JSON.parse(widget('Rows / trailing median per table (line: quiet-feed threshold)'));
    expect(quiet.properties.annotations.horizontal[0].value).toBe(0.25);
    const share = JSON.parse(widget('Failed-user share of each load (%) (line: alarm threshold)'));
    expect(share.properties.annotations.horizontal[0].value).toBe(10);
    // Every alarm of the stack by state (data-quality and webhook alarms included): the ones
    // with no graph of their own (EndpointUnavailable, TrailingLoadsUnreadable) show there.
    const alarmIds = Object.keys(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarmIds.length).toBeGreaterThan(10);
    const status = JSON.parse(widget('Alarms'));
    expect(status.type).toBe('alarm');
    expect(status.properties.alarms).toHaveLength(alarmIds.length);
    const lambda = widget('Lambda errors and throttles');
    for (const metric of ['Errors', 'Throttles']) expect(lambda).toContain(`"${metric}"`);
    expect(lambda.match(/"Errors"/g)).toHaveLength(4);
    // The Map's child executions only: their metrics carry `<state machine ARN>/<Map label>`,
    // matched exactly (a SEARCH on the name also matched the parent run and `daily-*` schedules).
    const mapFailures = JSON.parse(
      widget('Map failures: failed batch executions and batches missing at commit'),
    );
    const failed = (mapFailures.properties.metrics as Cfn[][]).filter((r) => r[1] === 'ExecutionsFailed');
    expect(failed.map((r) => [r[0], r[2], r[3], (r.at(-1) as Cfn).stat])).toEqual([
      ['AWS/States', 'StateMachineArn', `<token>/${LOAD_BATCHES_LABEL}`, 'Sum'],
      ['AWS/States', 'StateMachineArn', `<token>/${LOAD_BATCHES_LABEL}`, 'Sum'],
      ['AWS/States', 'StateMachineArn', `<token>/${MERGE_GROUPS_LABEL}`, 'Sum'],
      ['AWS/States', 'StateMachineArn', `<token>/${MERGE_GROUPS_LABEL}`, 'Sum'],
    ]);
    expect(JSON.stringify(mapFailures)).not.toContain('SEARCH');
    // ... and the token is each schedule's own state machine.
    const raw = JSON.stringify(
      Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody,
    );
    for (const name of ['daily', 'quarter-hourly']) {
      const machine = id(built.stack.workflows.get(name)!.stateMachine);
      expect(raw).toContain(`{"Ref":"${machine}"},"/${LOAD_BATCHES_LABEL}`);
      expect(raw).toContain(`{"Ref":"${machine}"},"/${MERGE_GROUPS_LABEL}`);
    }
  });

  /** The period of every metric of the two runs graphs, by graph. */
  function runsPeriods(t: Template): Record<string, number[]> {
    const widgets = JSON.parse(body(t)).widgets as Cfn[];
    const periods: Record<string, number[]> = {};
    for (const title of ['Runs: seconds from slot to commit (line: run deadline)', 'Runs by outcome']) {
      const rows = widgets.find((w) => w.properties.title === title)!.properties.metrics as Cfn[][];
      periods[title] = rows.map((r) => (r.at(-1) as Cfn).period ?? widgets[0].properties.period);
    }
    return periods;
  }

  it("draws runs at the shortest schedule's period, so a 15-minute schedule's runs are each a datapoint", () => {
    // daily and every 15 minutes: each run of the quarter-hourly one in its own datapoint.
    const periods = runsPeriods(template);
    expect(periods['Runs by outcome']).toEqual(Array(6).fill(900));
    expect(periods['Runs: seconds from slot to commit (line: run deadline)']).toEqual([900, 900]);
    // A daily schedule alone: one datapoint a day, as before.
    const daily = synth(exampleConfig({ schedules: [SCHEDULES[0]] })).template;
    expect(runsPeriods(daily)['Runs by outcome']).toEqual(Array(3).fill(86_400));
  });

  it('takes the period in whole minutes, at least one', () => {
    const period = (...seconds: number[]) =>
      runsGraphPeriod(seconds.map((s) => ({ periodSeconds: s }))).toSeconds();
    expect(period(86_400, 3600)).toBe(3600);
    expect(period(60)).toBe(60);
    // A cron stated as every 0.01 h (36 s): CloudWatch draws nothing finer than its minute here.
    expect(period(36)).toBe(60);
    // 0.33 h: 1,188 s, down to 19 whole minutes.
    expect(period(1188, 86_400)).toBe(1140);
  });
});

describe('Node options', () => {
  it("turn off parquetjs-lite's Buffer() deprecation warning where it is loaded, and only that warning", () => {
    const options = (fn: { node: { defaultChild?: unknown } }) =>
      template.toJSON().Resources[id(fn)].Properties.Environment.Variables.NODE_OPTIONS as string;
    const { plan, loadBatch, commit } = built.stack.functions;
    // Besides the heap limits (stack-heap.test.ts): source maps and this one warning off.
    for (const fn of [loadBatch, commit])
      expect(
        options(fn)
          .split(' ')
          .filter((o) => !/^--max-(old|semi)-space-size=/.test(o))
          .sort(),
      ).toEqual(['--disable-warning=DEP0005', '--enable-source-maps']);
    // plan and the webhook receiver do not load parquetjs-lite: every warning stays visible.
    for (const fn of [plan, built.stack.webhooks.function])
      expect(options(fn)).not.toMatch(/disable-warning/);
  });
});

describe('Powertools settings', () => {
  it('give every function its stack, service name, log level and tracer switch; the tracer follows the tracing config', () => {
    const functions = [...Object.values(built.stack.functions), built.stack.webhooks.function];
    for (const fn of functions) {
      expect(template.toJSON().Resources[id(fn)].Properties.Environment.Variables).toMatchObject({
        PAYLINK_STACK_NAME: built.stack.stackName,
        POWERTOOLS_SERVICE_NAME: 'paylink-loader',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        POWERTOOLS_TRACE_ENABLED: 'true',
        POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS: 'false',
        POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
      });
    }
    const untraced = synth(exampleConfig({ tracing: false, logLevel: 'DEBUG' }));
    // Every function, the webhook receiver included, follows the stack's logLevel.
    for (const fn of [...Object.values(untraced.stack.functions), untraced.stack.webhooks.function]) {
      const variables =
        untraced.template.toJSON().Resources[untraced.stack.getLogicalId(fn.node.defaultChild as never)]
          .Properties.Environment.Variables;
      expect(variables, fn.node.path).toMatchObject({
        POWERTOOLS_TRACE_ENABLED: 'false',
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
      });
      // Lambda's own application log level (AWS_LAMBDA_LOG_LEVEL, which Powertools obeys first)
      // follows it too: left at its INFO default it would drop every DEBUG line.
      expect(
        untraced.template.toJSON().Resources[untraced.stack.getLogicalId(fn.node.defaultChild as never)]
          .Properties.LoggingConfig,
        fn.node.path,
      ).toEqual({ LogFormat: 'JSON', ApplicationLogLevel: 'DEBUG', LogGroup: expect.anything() });
    }
    const quiet = synth(exampleConfig({ logLevel: 'warn' }));
    for (const fn of [...Object.values(quiet.stack.functions), quiet.stack.webhooks.function]) {
      const props =
        quiet.template.toJSON().Resources[quiet.stack.getLogicalId(fn.node.defaultChild as never)].Properties;
      expect(props.LoggingConfig.ApplicationLogLevel, fn.node.path).toBe('WARN');
    }
  });
});
