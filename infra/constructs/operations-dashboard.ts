import { Duration } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  MathExpression,
  Stats,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DIM, METRIC, METRICS_NAMESPACE } from '#core/load-metrics.ts';
import { MERGE_GROUPS_LABEL, mapItemsFailed } from './load-workflow.ts';
import { loadMetric } from './operations.ts';

export interface DashboardSchedule {
  readonly name: string;
  readonly stateMachine: IStateMachine;
  /** Seconds one run may take (its state machine timeout): the line runs are drawn against. */
  readonly runDeadlineSeconds: number;
  /** Seconds between two slots of the schedule (a rate's, a cron's `expectedPeriodHours`). */
  readonly periodSeconds: number;
}

/**
 * The period the runs graphs are drawn at: the shortest schedule's period, in whole minutes (a
 * CloudWatch period over a minute is a multiple of 60 s), at least one minute. A day would add
 * up an hourly or 15-minute schedule's runs into one datapoint, hiding each run and how it
 * stood against its slot; a daily schedule alone still gets one datapoint a day.
 */
export function runsGraphPeriod(schedules: readonly Pick<DashboardSchedule, 'periodSeconds'>[]): Duration {
  const shortest = Math.min(...schedules.map((s) => s.periodSeconds));
  if (!Number.isFinite(shortest)) return DAY;
  return Duration.seconds(Math.max(60, Math.floor(shortest / 60) * 60));
}

export interface OperationsDashboardProps {
  readonly dashboardName: string;
  readonly stackName: string;
  readonly schedules: readonly DashboardSchedule[];
  readonly functions: Readonly<Record<string, IFunction>>;
  /** The whole stack's PayLink request rate (requests/second, config `requestRate`). */
  readonly requestRate: number;
  readonly quietFeedFraction: number;
  /** cdk.json `dataQuality.failedUserSharePercent`: the FailedUserShare alarms' threshold (%). */
  readonly failedUserSharePercent: number;
  /** Every alarm of the stack, shown by state at the top (the data-quality ones have no graph of their own). */
  readonly alarms: readonly IAlarm[];
}

const HOUR = Duration.hours(1);
const DAY = Duration.days(1);

/** One load's rows per table: the largest load of each hour, per schedule. */
export const ROWS_TITLE = 'Rows per table per load (largest load of each hour)';

/** The request-rate widget: its title and the time range it shows by default (ISO 8601, back from now). */
export const REQUEST_RATE_TITLE =
  'PayLink requests/s over the last 24 h, per minute (line: configured requestRate)';
export const REQUEST_RATE_RANGE = '-PT24H';

/**
 * What an on-call engineer opens: runs against their schedule window, users failed by error
 * code, rows per table per load and against their trailing median, PayLink's request rate
 * against the configured limit, Lambda errors and throttles, and Map (batch) failures. The
 * loader's own metrics come from the handlers' EMF records (lambdas/core/load-metrics.ts);
 * tables and error codes are found with SEARCH, so a new table or code needs no redeploy.
 */
export class OperationsDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const { stackName } = props;
    const search = (metricName: string, extraDimension: string, statistic: string, period: Duration) =>
      new MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},${DIM.schedule},${DIM.stack},${extraDimension}} MetricName="${metricName}" ${DIM.stack}="${stackName}"', '${statistic}', ${period.toSeconds()})`,
        label: '',
        period,
      });
    const perSchedule = (metricName: string, statistic: string, period: Duration): IMetric[] =>
      props.schedules.map((s) =>
        loadMetric(stackName, s.name, metricName, statistic).with({ period, label: s.name }),
      );
    const graph = (
      title: string,
      left: IMetric[],
      extra: Partial<ConstructorParameters<typeof GraphWidget>[0]> = {},
    ) => new GraphWidget({ title, left, width: 12, height: 6, ...extra });

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(14),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# PayLink lake loader (${stackName})\nOne datapoint per load or batch. Alarms go to the stack's alarm topic; \`paylink-loader status\` shows the same signals from the lake.`,
        width: 24,
        height: 2,
      }),
    );
    // Every alarm by state, first: EndpointUnavailable, TrailingLoadsUnreadable, NoRecentSuccess,
    // PlanOverDeadline and the webhook's rejected-signature alarm have no graph below.
    if (props.alarms.length > 0)
      this.dashboard.addWidgets(
        new AlarmStatusWidget({
          title: 'Alarms',
          alarms: [...props.alarms],
          width: 24,
          height: Math.min(12, 2 + Math.ceil(props.alarms.length / 4)),
        }),
      );
    const runs = runsGraphPeriod(props.schedules);
    this.dashboard.addWidgets(
      graph(
        'Runs: seconds from slot to commit (line: run deadline)',
        perSchedule(METRIC.runSeconds, Stats.MAXIMUM, runs),
        {
          leftAnnotations: props.schedules.map((s) => ({
            value: s.runDeadlineSeconds,
            label: `${s.name} deadline`,
          })),
        },
      ),
      graph(
        'Runs by outcome',
        props.schedules.flatMap((s) => [
          s.stateMachine.metricSucceeded({ period: runs, label: `${s.name} succeeded` }),
          s.stateMachine.metricFailed({ period: runs, label: `${s.name} failed` }),
          s.stateMachine.metricTimedOut({ period: runs, label: `${s.name} timed out` }),
        ]),
      ),
    );
    this.dashboard.addWidgets(
      graph('Users failed, each under its primary error code', [
        search(METRIC.failedUsersByCode, DIM.errorCode, 'Sum', HOUR),
      ]),
      graph(
        'Failed-user share of each load (%) (line: alarm threshold)',
        perSchedule(METRIC.failedUserShare, Stats.MAXIMUM, HOUR),
        { leftAnnotations: [{ value: props.failedUserSharePercent, label: 'failedUserSharePercent' }] },
      ),
    );
    this.dashboard.addWidgets(
      // Maximum, not Sum: each datapoint is one load's rows, also for schedules that run more than
      // once an hour (a sum over the hour would add their loads up).
      graph(ROWS_TITLE, [search(METRIC.tableRows, DIM.table, 'Maximum', HOUR)]),
      graph(
        'Rows / trailing median per table (line: quiet-feed threshold)',
        [search(METRIC.rowsToTrailingMedian, DIM.table, 'Minimum', HOUR)],
        { leftAnnotations: [{ value: props.quietFeedFraction, label: 'quiet feed' }] },
      ),
    );
    // Requests sent per minute, each datapoint at the minute they were sent in (load-metrics.ts
    // RequestsSent): their sum over the graph's period divided by it is the real rate, whatever
    // the period CloudWatch picks for the time range shown.
    const sent = props.schedules.map((s) =>
      loadMetric(stackName, s.name, METRIC.requestsSent, Stats.SUM).with({ period: Duration.minutes(1) }),
    );
    const requestsPerSecond: IMetric[] = props.schedules.map(
      (s, i) =>
        new MathExpression({
          expression: `r${i} / PERIOD(r${i})`,
          usingMetrics: { [`r${i}`]: sent[i]! },
          label: `${s.name} requests/s`,
          period: Duration.minutes(1),
        }),
    );
    // requestRate is the whole stack's limit: with several schedules, their sum is drawn too.
    if (props.schedules.length > 1)
      requestsPerSecond.push(
        new MathExpression({
          expression: `(${sent.map((_, i) => `FILL(r${i}, 0)`).join(' + ')}) / PERIOD(r0)`,
          usingMetrics: Object.fromEntries(sent.map((m, i) => [`r${i}`, m])),
          label: 'all schedules requests/s',
          period: Duration.minutes(1),
        }),
      );
    this.dashboard.addWidgets(
      graph(REQUEST_RATE_TITLE, requestsPerSecond, {
        leftAnnotations: [{ value: props.requestRate, label: 'requestRate' }],
        // Its own range and period: over the dashboard's 14 days CloudWatch widens a graph's
        // period to hours and averages a run's bursts away. A minute over 24 hours is 1,440
        // points, the most a graph draws; a wider range picked in the console widens it again.
        start: REQUEST_RATE_RANGE,
        period: Duration.minutes(1),
        // 429s and retries per minute, on the right axis: counts, not a rate. Batches publish them
        // per wall-clock minute as they go (core/request-minutes.ts), each at the minute they happened.
        right: props.schedules.flatMap((s) => [
          loadMetric(stackName, s.name, METRIC.rateLimited, Stats.SUM).with({
            period: Duration.minutes(1),
            label: `${s.name} 429s per minute`,
          }),
          loadMetric(stackName, s.name, METRIC.retries, Stats.SUM).with({
            period: Duration.minutes(1),
            label: `${s.name} retries per minute`,
          }),
        ]),
      }),
      graph(
        'Batch headroom to the Lambda deadline (s, minimum)',
        perSchedule(METRIC.deadlineHeadroomSeconds, Stats.MINIMUM, HOUR),
      ),
    );
    const fns = Object.entries(props.functions);
    this.dashboard.addWidgets(
      graph(
        'Lambda errors and throttles',
        fns.flatMap(([name, fn]) => [
          fn.metricErrors({ period: Duration.minutes(5), label: `${name} errors` }),
          fn.metricThrottles({ period: Duration.minutes(5), label: `${name} throttles` }),
        ]),
      ),
      graph('Map failures: failed batch executions and batches missing at commit', [
        ...props.schedules.map((s) =>
          mapItemsFailed(s.stateMachine, {
            period: Duration.minutes(5),
            label: `${s.name} batches failed`,
          }),
        ),
        // A merge item that failed after its retries fails the run (the Failed alarm says so);
        // drawn here so a failed run's cause is on the same graph.
        ...props.schedules.map((s) =>
          mapItemsFailed(
            s.stateMachine,
            { period: Duration.minutes(5), label: `${s.name} merge items failed` },
            MERGE_GROUPS_LABEL,
          ),
        ),
        ...perSchedule(METRIC.missingBatches, Stats.MAXIMUM, HOUR),
      ]),
    );
  }
}
