/**
 * What the deployed loader reports, offline under AWS rules (test/helpers/offline-aws.ts): three
 * daily loads of the synthesized stack, each Lambda the shipped bundle in its own containers
 * (processes kept between invocations, as Lambda keeps them), its stdout and stderr captured
 * per invocation as CloudWatch Logs would receive them.
 *
 * - The metrics of a load, in CloudWatch embedded metric format, read back from those lines.
 * - A feed that goes to zero rows on the third load (a proxy in front of the simulator empties
 *   `/pay-link/orders`): the commit's LowestRowsToTrailingMedian falls below the threshold of
 *   the quiet-feed alarm the template defines, with the alarm's own dimensions, and
 *   `paylink-loader status` flags the same table. With the data-quality settings a stack gets by
 *   default (minExpectedRows 20 among them): the users are enough for the tables to be judged.
 * - Then three runs of an `hourly` schedule of `changed` users (one user's webhook events): each
 *   is compared with the earlier changed loads of its schedule only, never with the daily full
 *   loads of the same tables, so none is quiet; its metrics carry the same two dimensions.
 * - No payload value and no secret in any line of the loads' logs or in any metric dimension:
 *   the API key and secret are distinctive markers, every list item PayLink returns carries one
 *   more distinctive value (`obs_marker`, loaded as a column), and every string the proxy passed
 *   on (public tokens included) is looked for.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Store } from '#adapters/s3-store.ts';
import { DIM, METRIC, METRICS_NAMESPACE } from '#core/load-metrics.ts';
import { MIN_EXPECTED_ROWS, MIN_USERS_FOR_FAILED_SHARE } from '#core/quality.ts';
import { parseScheduleExpression, runDeadlineSeconds } from '#core/schedule-expression.ts';
import { receiveWebhook, signWebhookBody } from '#core/webhook.ts';
import { type FeedProxy, startFeedProxy } from '#test/helpers/feed-proxy.ts';
import { FAST_HTTP, runCli } from '#test/helpers/lake-harness.ts';
import { type EmfRecord, emfRecords, jsonLines } from '#test/helpers/log-lines.ts';
import type { ExecutionOutcome } from '#test/helpers/offline-aws.ts';
import {
  describeDenials,
  OFFLINE_BUCKET,
  type OfflineWorld,
  startOfflineWorld,
} from '#test/helpers/offline-deployment.ts';
import { exampleConfig } from './app-fixture.ts';

const CREDENTIALS = { apiKey: 'obs-key-MARKER-7Hq2Lw', apiSecret: 'obs-secret-MARKER-Vb93Kd' };
/**
 * 16 users: the loads' tables have the rows the shipped minExpectedRows (20) judges (their
 * counts in this seeded world: orders 24 and accounts 24 over the 12 users that load).
 */
const USERS = Array.from({ length: 16 }, (_, i) => `obs-user-MARKER-${String(i).padStart(2, '0')}`);
/**
 * Slots relative to the real clock, never hard-coded dates: a run is timed from its slot to the
 * real time of its commit (RunSeconds), so a fixed date would put today's runs in the future
 * (clamped to 0 s) and, as the calendar moves, past their window. The daily slots are two hours
 * ago, ten minutes apart (inside the daily window); the hourly ones a few minutes ago.
 */
const NOW_MINUTE = Math.floor(Date.now() / 60_000) * 60_000;
const SLOT = (day: number) => new Date(NOW_MINUTE - 2 * 3_600_000 + (day - 1) * 600_000).toISOString();
/** The hourly schedule's slots, after the three daily loads; a webhook event half an hour before each. */
const HOURLY_SLOT = (hour: number) => new Date(NOW_MINUTE - 600_000 + hour * 120_000).toISOString();
/** The daily schedule's run deadline: a run committed later than this after its slot is outside its window. */
const DAILY_DEADLINE_SECONDS = runDeadlineSeconds(parseScheduleExpression('cron(0 3 * * ? *)')!, 24);
/** A daily slot so long ago that its run commits outside its window. */
const LATE_SLOT = new Date(NOW_MINUTE - (DAILY_DEADLINE_SECONDS + 3600) * 1000).toISOString();
/** The users whose webhook events the hourly `changed` runs load (48 order items, 24 recurring transactions). */
const CHANGED_USERS = ['00', '01', '03', '04', '05', '08', '09', '10'].map((n) => `obs-user-MARKER-${n}`);
const QUIET_TABLE = 'orders';
/** PayLink answers 404 for these users' data (none has an order): one failed user in four, every load. */
const FAILING_USERS = ['02', '06', '07', '11'].map((n) => `obs-user-MARKER-${n}`);

/** 16 users in one batch per load (the suite's time: each batch is a Lambda process). */
const CONFIG = exampleConfig({
  schedules: [
    {
      name: 'daily',
      expression: 'cron(0 3 * * ? *)',
      timezone: 'UTC',
      expectedPeriodHours: 24,
      users: 'all',
    },
    { name: 'hourly', expression: 'rate(1 hour)', users: 'changed' },
  ],
  batchSize: 16,
  requestRate: 2000,
  userConcurrency: 8,
  loaderConfig: { http: FAST_HTTP },
  // No dataQuality: the quiet-feed judgement below is the one a stack gets by default.
});
/** status judged as the stack's commit does: its settings from the stack's cdk.json. */
let STATUS_AS_STACK: string[] = [];

let world: OfflineWorld;
let proxy: FeedProxy;
const runs: ExecutionOutcome[] = [];
const hourlyRuns: ExecutionOutcome[] = [];
let lateRun: ExecutionOutcome;
let statusAfterDaily: Awaited<ReturnType<typeof runCli>>;

/** The lake as `status --dest` takes it. */
const lakeUri = () => `s3://${world.aws.functions.get('plan')!.environment.LAKE_BUCKET!}/${world.prefix}`;

function explain(outcome: ExecutionOutcome): string {
  return [
    `${outcome.status} ${outcome.error ?? ''}: ${outcome.cause ?? ''}`,
    ...describeDenials(world.gate),
    ...outcome.invocations
      .filter((i) => !i.ok)
      .map((i) => `${i.state} ${i.errorType}\n${i.logs.slice(-2000)}`),
  ].join('\n');
}

/** An alarm's dimensions as a name -> value map. */
const dimensionsOf = (alarm: Record<string, unknown>) =>
  Object.fromEntries((alarm.Dimensions as { Name: string; Value: string }[]).map((d) => [d.Name, d.Value]));

const quietAlarmOf = (schedule: string) =>
  world.template
    .idsOfType('AWS::CloudWatch::Alarm')
    .map((id) => world.template.resources[id].Properties)
    .filter((p) => p.MetricName === METRIC.lowestRowsToTrailingMedian)
    .map((p) => world.template.resolve(p))
    .find((p) => dimensionsOf(p)[DIM.schedule] === schedule)!;

const logsOf = (outcome: ExecutionOutcome, fn: string) =>
  outcome.invocations
    .filter((i) => i.fn === fn)
    .map((i) => i.logs)
    .join('\n');

/** The one EMF record of `fn` in a run that carries `metric`. */
function recordWith(outcome: ExecutionOutcome, fn: string, metric: string, table?: string): EmfRecord[] {
  return emfRecords(logsOf(outcome, fn)).filter(
    (r) => r.metrics[metric] !== undefined && (table === undefined || r.dimensions[DIM.table] === table),
  );
}

beforeAll(async () => {
  // The cdk.json of the stack deployed here: status takes its dataQuality (the defaults).
  const app = mkdtempSync(join(tmpdir(), 'obs-app-'));
  writeFileSync(join(app, 'cdk.json'), JSON.stringify({ context: { paylink: CONFIG } }));
  STATUS_AS_STACK = ['--stack-config', join(app, 'cdk.json')];
  world = await startOfflineWorld({
    config: CONFIG,
    simulator: { seed: 'observability', faults: { failUsers: FAILING_USERS } },
    credentials: CREDENTIALS,
  });
  proxy = await startFeedProxy(world.sim.url);
  proxy.markPayload = true;
  // Only load-batch calls PayLink: it reaches the simulator through the proxy.
  world.aws.functions.get('loadBatch')!.environment.PAYLINK_BASE_URL = proxy.url;
  await world.bucket.put(world.usersKey, `${USERS.join('\n')}\n`);
  for (const day of [1, 2, 3]) {
    if (day === 3) proxy.emptyPaths.add('/pay-link/orders');
    const outcome = await world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOT(day) });
    if (outcome.status !== 'SUCCEEDED') throw new Error(explain(outcome));
    runs.push(outcome);
  }
  // What status prints right after the feed went quiet (the hourly loads below come later).
  statusAfterDaily = await runCli(['status', '--dest', lakeUri(), ...STATUS_AS_STACK]);
  // The feed is back; the same users change before each hourly slot, as the webhook receiver stores it.
  proxy.emptyPaths.clear();
  const lake = createS3Store({ bucket: OFFLINE_BUCKET, prefix: world.prefix });
  for (const hour of [1, 2, 3]) {
    // A minute before its slot: after the previous hourly slot, so each run has its own events.
    const at = new Date(Date.parse(HOURLY_SLOT(hour)) - 60_000);
    for (const user of CHANGED_USERS) {
      const body = JSON.stringify({
        eventType: 'pay-link-accounts-updated',
        eventTime: at.toISOString(),
        user: { _id: `atomic-${user}`, identifier: user },
        data: {},
      });
      const stored = await receiveWebhook(
        {
          headers: { 'X-HMAC-Signature-Sha-256': signWebhookBody(body, CREDENTIALS.apiSecret) },
          body: new TextEncoder().encode(body),
        },
        { store: lake, secret: CREDENTIALS.apiSecret, receivedAt: at },
      );
      if (stored.kind !== 'accepted') throw new Error(`webhook not stored: ${JSON.stringify(stored)}`);
    }
    const outcome = await world.aws.execute('hourly', {
      schedule: 'hourly',
      scheduledTime: HOURLY_SLOT(hour),
      users: 'changed',
    });
    if (outcome.status !== 'SUCCEEDED') throw new Error(explain(outcome));
    hourlyRuns.push(outcome);
  }
  // A daily run that really ends outside its window (its slot is longer ago than the deadline).
  const late = await world.aws.execute('daily', { schedule: 'daily', scheduledTime: LATE_SLOT });
  if (late.status !== 'SUCCEEDED') throw new Error(explain(late));
  lateRun = late;
}, 300_000);

afterAll(async () => {
  await proxy?.close();
  await world?.close();
});

describe('the deployed loader reports each load in logs and EMF metrics', () => {
  it('writes the plan, batch and load metrics as EMF records dimensioned by stack and schedule, the load id a property', () => {
    const [first] = runs;
    const stack = world.template.deployment.stackName;
    const loadId = first!.output.loadId as string;
    const all = ['plan', 'loadBatch', 'commit'].flatMap((fn) => emfRecords(logsOf(first!, fn)));
    expect(all.length).toBeGreaterThan(0);
    for (const record of all) {
      expect(record.namespace).toBe(METRICS_NAMESPACE);
      expect(record.dimensions).toMatchObject({ [DIM.stack]: stack, [DIM.schedule]: 'daily' });
      expect(Object.keys(record.dimensions).every((d) => Object.values(DIM).includes(d as never))).toBe(true);
      expect(record.record.loadId).toBe(loadId);
    }

    const [plan] = recordWith(first!, 'plan', METRIC.plannedUsers);
    expect(plan!.metrics[METRIC.plannedUsers]!.value).toBe(USERS.length);
    expect(plan!.metrics[METRIC.plannedBatches]!.value).toBe(1);

    const batches = recordWith(first!, 'loadBatch', METRIC.batchUsers);
    // A number, as in the log lines (one type for one query).
    expect(batches.map((b) => b.record.batch)).toEqual([0]);
    for (const b of batches) {
      const m = b.metrics;
      expect(m[METRIC.batchUsers]).toEqual({ value: USERS.length, unit: 'Count' });
      expect(m[METRIC.requests]!.value).toBeGreaterThan(USERS.length);
      // Per minute instead (below): a total at the batch's end would draw them as one spike there.
      expect(m[METRIC.retries]).toBeUndefined();
      expect(m[METRIC.rateLimited]).toBeUndefined();
      expect(m[METRIC.batchRows]!.value).toBeGreaterThan(0);
      expect(m[METRIC.batchFiles]!.value).toBeGreaterThan(0);
      expect(m[METRIC.batchBytes]).toMatchObject({ unit: 'Bytes' });
      expect(m[METRIC.batchBytes]!.value).toBeGreaterThan(0);
      expect(m[METRIC.batchSeconds]!.unit).toBe('Seconds');
      // The function's 15 minutes, less what the batch took.
      expect(m[METRIC.deadlineHeadroomSeconds]!.value).toBeGreaterThan(800);
      expect(m[METRIC.deadlineHeadroomSeconds]!.value).toBeLessThanOrEqual(900);
    }

    // The failed users, counted under PayLink's answer.
    expect(batches.map((b) => b.metrics[METRIC.batchFailedUsers]!.value)).toEqual([FAILING_USERS.length]);
    const byCode = recordWith(first!, 'loadBatch', METRIC.failedUsersByCode);
    expect(
      byCode.map((r) => [r.dimensions[DIM.errorCode], r.metrics[METRIC.failedUsersByCode]!.value]),
    ).toEqual([
      // Once, under its own code: its action history, not fetched without its accounts
      // (parent_failed), does not count it twice. The codes add up to LoadFailedUsers.
      ['http_404', FAILING_USERS.length],
    ]);

    // Requests sent per minute, each record at its minute: what the dashboard's rate is drawn from.
    const sent = recordWith(first!, 'loadBatch', METRIC.requestsSent);
    expect(sent.length).toBeGreaterThan(0);
    for (const r of sent) expect((r.record._aws as { Timestamp: number }).Timestamp % 60_000).toBe(0);
    const total = sent.reduce((sum, r) => sum + r.metrics[METRIC.requestsSent]!.value, 0);
    // Every attempt is sent: at least the batch's requests.
    expect(total).toBeGreaterThanOrEqual(batches[0]!.metrics[METRIC.requests]!.value);
    const batchLine = jsonLines(logsOf(first!, 'loadBatch')).find((l) => l.message === 'batch_loaded')!;
    expect(
      Object.values(batchLine.requestsSentByMinute as Record<string, number>).reduce((a, b) => a + b),
    ).toBe(total);
    // Retries and 429s in the same per-minute records; they add up to the batch's.
    const sum = (metric: string) => sent.reduce((n, r) => n + r.metrics[metric]!.value, 0);
    expect(sum(METRIC.retries)).toBe(batchLine.retries);
    expect(sum(METRIC.rateLimited)).toBe(batchLine.rateLimited);

    const [load] = recordWith(first!, 'commit', METRIC.loadUsers);
    const m = load!.metrics;
    expect(m[METRIC.loadUsers]!.value).toBe(USERS.length);
    expect(m[METRIC.loadFailedUsers]!.value).toBe(FAILING_USERS.length);
    expect(m[METRIC.failedUserShare]).toEqual({ value: 25, unit: 'Percent' });
    expect(m[METRIC.endpointUnavailable]!.value).toBe(0);
    expect(m[METRIC.loadFiles]!.value).toBeGreaterThan(0);
    expect(m[METRIC.runSeconds]!.value).toBeGreaterThan(0);
    // Rows per table per load, one record per table, adding up to the load's feed rows.
    const tables = recordWith(first!, 'commit', METRIC.tableRows);
    expect(tables.map((t) => t.dimensions[DIM.table])).toContain(QUIET_TABLE);
    expect(tables.reduce((sum, t) => sum + t.metrics[METRIC.tableRows]!.value, 0)).toBe(
      m[METRIC.loadRows]!.value,
    );
    // Files and bytes per table: a table with rows has at least one file, and they add up.
    for (const t of tables)
      if (t.metrics[METRIC.tableRows]!.value > 0)
        expect(t.metrics[METRIC.tableFiles]!.value).toBeGreaterThan(0);
    expect(tables.every((t) => t.metrics[METRIC.tableBytes]!.unit === 'Bytes')).toBe(true);
    expect(tables.reduce((sum, t) => sum + t.metrics[METRIC.tableBytes]!.value, 0)).toBeLessThanOrEqual(
      m[METRIC.loadBytes]!.value,
    );
    // The first load has no earlier loads: no trailing median yet.
    expect(m[METRIC.lowestRowsToTrailingMedian]).toBeUndefined();
    expect(describeDenials(world.gate)).toEqual([]);
  });

  it('logs JSON lines with the load id, batch, schedule and the execution as correlation id on every line', () => {
    const [first] = runs;
    const loadId = first!.output.loadId as string;
    for (const invocation of first!.invocations) {
      const lines = jsonLines(invocation.logs).filter((l) => l._aws === undefined);
      expect(lines.length, invocation.fn).toBeGreaterThan(0);
      for (const line of lines) {
        expect(line).toMatchObject({ service: 'paylink-loader', loadId, schedule: 'daily' });
        expect(String(line.correlation_id)).toMatch(/:execution:/);
        if (invocation.fn === 'loadBatch') expect(typeof line.batch).toBe('number');
      }
    }
    const committed = jsonLines(logsOf(first!, 'commit')).find((l) => l.message === 'committed');
    expect(committed).toMatchObject({
      level: 'INFO',
      users: USERS.length,
      failedUsers: FAILING_USERS.length,
    });
  });

  it('writes nothing but JSON lines: no runtime warning as plain text (Buffer() deprecation, S3 stream length)', () => {
    // CloudWatch Logs Insights parses JSON lines only: a plain-text warning is a line no query
    // filters or counts (parquetjs-lite's DEP0005, the SDK's "Stream of unknown length").
    const invocations = [...runs, ...hourlyRuns, lateRun].flatMap((run) => run.invocations);
    expect(new Set(invocations.map((i) => i.fn))).toEqual(new Set(['plan', 'loadBatch', 'commit']));
    const plain = new Set<string>();
    for (const invocation of invocations) {
      const lines = invocation.logs.split('\n').filter((line) => line.trim() !== '');
      expect(lines.length, invocation.fn).toBeGreaterThan(0);
      for (const line of lines) if (jsonLines(line).length === 0) plain.add(`${invocation.fn}: ${line}`);
    }
    expect([...plain]).toEqual([]);
  });

  it("logs the commit's numbers as its metrics have them, per load and per table", () => {
    for (const run of [...runs, ...hourlyRuns]) {
      const line = jsonLines(logsOf(run, 'commit')).find((l) => l.message === 'committed')!;
      const [load] = recordWith(run, 'commit', METRIC.loadUsers);
      const m = load!.metrics;
      const judgedShare = (line.users as number) >= MIN_USERS_FOR_FAILED_SHARE;
      if (!judgedShare) expect(m[METRIC.failedUserShare]).toBeUndefined();
      expect({
        users: line.users,
        failedUsers: line.failedUsers,
        failedUserSharePercent: line.failedUserSharePercent,
        rows: line.rows,
        files: line.files,
        bytes: line.bytes,
        missingBatches: line.missingBatches,
        runSeconds: line.runSeconds,
      }).toEqual({
        users: m[METRIC.loadUsers]!.value,
        failedUsers: m[METRIC.loadFailedUsers]!.value,
        // A load of fewer users than minUsersForFailedShare (the hourly changed loads of 8) writes
        // no share for the alarm (asserted below); its log line still has it.
        failedUserSharePercent: judgedShare ? m[METRIC.failedUserShare]!.value : line.failedUserSharePercent,
        rows: m[METRIC.loadRows]!.value,
        files: m[METRIC.loadFiles]!.value,
        bytes: m[METRIC.loadBytes]!.value,
        missingBatches: m[METRIC.missingBatches]!.value,
        runSeconds: m[METRIC.runSeconds]!.value,
      });
      // The state machine's result says the same.
      expect(run.output.rows).toBe(line.rows);
      const perTable = Object.fromEntries(
        recordWith(run, 'commit', METRIC.tableRows).map((r) => [
          r.dimensions[DIM.table],
          r.metrics[METRIC.tableRows]!.value,
        ]),
      );
      const logged = line.tables as { table: string; rows: number }[];
      expect(Object.fromEntries(logged.map((t) => [t.table, t.rows]))).toEqual(perTable);
    }
  });

  it("raises the failed-user share above the alarm's threshold, with the alarm's dimensions", () => {
    const alarms = world.template
      .idsOfType('AWS::CloudWatch::Alarm')
      .map((id) => world.template.resources[id].Properties)
      .filter((p) => p.MetricName === METRIC.failedUserShare)
      .map((p) => world.template.resolve(p))
      .filter((p) => dimensionsOf(p)[DIM.schedule] === 'daily');
    expect(alarms).toHaveLength(1);
    const [share] = recordWith(runs[0]!, 'commit', METRIC.failedUserShare);
    expect(share!.dimensions).toEqual(
      Object.fromEntries(
        (alarms[0].Dimensions as { Name: string; Value: string }[]).map((d) => [d.Name, d.Value]),
      ),
    );
    expect(alarms[0].ComparisonOperator).toBe('GreaterThanThreshold');
    expect(share!.metrics[METRIC.failedUserShare]!.value).toBeGreaterThan(alarms[0].Threshold);
  });
});

describe('a feed that goes to zero rows on its third load', () => {
  it("raises the quiet-feed alarm's metric below the alarm's threshold, with the alarm's dimensions", () => {
    const alarms = world.template
      .idsOfType('AWS::CloudWatch::Alarm')
      .map((id) => world.template.resources[id].Properties)
      .filter((p) => p.MetricName === METRIC.lowestRowsToTrailingMedian)
      .map((p) => world.template.resolve(p))
      .filter((p) => dimensionsOf(p)[DIM.schedule] === 'daily');
    expect(alarms).toHaveLength(1);
    const alarm = alarms[0]!;
    expect(alarm.ComparisonOperator).toBe('LessThanThreshold');
    const dimensions = Object.fromEntries(
      (alarm.Dimensions as { Name: string; Value: string }[]).map((d) => [d.Name, d.Value]),
    );

    const ratios = runs.map((run) => recordWith(run, 'commit', METRIC.lowestRowsToTrailingMedian));
    // Loads 1 and 2 have fewer than two earlier loads: nothing judged yet.
    expect(ratios[0]).toEqual([]);
    expect(ratios[1]).toEqual([]);
    const [third] = ratios[2]!;
    expect(third!.namespace).toBe(alarm.Namespace);
    expect(third!.dimensions).toEqual(dimensions);
    expect(third!.metrics[METRIC.lowestRowsToTrailingMedian]!.value).toBe(0);
    expect(third!.metrics[METRIC.lowestRowsToTrailingMedian]!.value).toBeLessThan(alarm.Threshold);
    // The table that went quiet, and a table that did not (same world, same rows).
    const perTable = (table: string) =>
      recordWith(runs[2]!, 'commit', METRIC.rowsToTrailingMedian, table)[0]?.metrics[
        METRIC.rowsToTrailingMedian
      ]?.value;
    expect(perTable(QUIET_TABLE)).toBe(0);
    expect(perTable('accounts')).toBe(1);
    // Its rows were there before.
    expect(
      recordWith(runs[1]!, 'commit', METRIC.tableRows, QUIET_TABLE)[0]!.metrics[METRIC.tableRows]!.value,
    ).toBeGreaterThan(0);
  });

  it('is flagged by paylink-loader status, with the rows against the trailing median (--json and text)', async () => {
    const bucket = world.aws.functions.get('plan')!.environment.LAKE_BUCKET!;
    const dest = `s3://${bucket}/${world.prefix}`;
    const json = await runCli(['status', '--dest', dest, '--json', '--last', '7', ...STATUS_AS_STACK]);
    expect(json.code, json.stderr).toBe(0);
    const quality = JSON.parse(json.stdout).quality;
    // Judged with the deployed stack's settings, read from its cdk.json.
    expect(quality.settings.minExpectedRows).toBe(MIN_EXPECTED_ROWS);
    expect(quality.sources.minExpectedRows).toBe(`${STATUS_AS_STACK[1]} (the stack's default)`);
    const loads = quality.loads as {
      loadId: string;
      flags: { kind: string; table?: string }[];
      tables: { table: string; rows: number; trailingMedian?: number; quiet: boolean }[];
    }[];
    // In the order they committed: the late run started first (its slot is long past) and
    // committed last, so it is the latest load, as a reader of the lake saw them appear.
    expect(loads.map((l) => l.loadId)).toEqual([...runs, ...hourlyRuns, lateRun].map((r) => r.output.loadId));
    const share = { kind: 'failed_user_share', percent: 25 };
    expect(loads[0]!.flags).toEqual([share]);
    expect(loads[1]!.flags).toEqual([share]);
    // The orders feed and its child table went quiet together; nothing else did.
    expect(loads[2]!.flags).toEqual([
      share,
      expect.objectContaining({ kind: 'quiet_feed', table: QUIET_TABLE, rows: 0 }),
      expect.objectContaining({ kind: 'quiet_feed', table: `${QUIET_TABLE}__items`, rows: 0 }),
    ]);
    const orders = loads[2]!.tables.find((t) => t.table === QUIET_TABLE)!;
    expect(orders.trailingMedian).toBeGreaterThan(0);
    expect(orders.quiet).toBe(true);

    const text = statusAfterDaily;
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`quiet feed ${QUIET_TABLE} \\(0 rows, trailing median \\d+`));
    expect(text.stdout).toMatch(new RegExp(`${QUIET_TABLE}\\s+0\\s+\\d+\\s+0\\s+QUIET`));
  });
});

describe('a changed load (only the users with new webhook events) of an hourly schedule', () => {
  it('is compared with the changed loads of its schedule only, not flagged quiet against the full daily loads', () => {
    const alarm = quietAlarmOf('hourly');
    const lines = hourlyRuns.map(
      (run) => jsonLines(logsOf(run, 'commit')).find((l) => l.message === 'committed')!,
    );
    // The changed users per load; the first two have fewer than two earlier changed loads (the
    // daily loads of the same tables are another series).
    const n = CHANGED_USERS.length;
    expect(lines.map((l) => [l.users, l.trailingLoads, l.quietTables])).toEqual([
      [n, 0, []],
      [n, 1, []],
      [n, 2, []],
    ]);
    const [third] = recordWith(hourlyRuns[2]!, 'commit', METRIC.lowestRowsToTrailingMedian);
    // The same users' rows against the same users' rows.
    expect(third!.metrics[METRIC.lowestRowsToTrailingMedian]!.value).toBe(1);
    expect(third!.metrics[METRIC.lowestRowsToTrailingMedian]!.value).toBeGreaterThanOrEqual(alarm.Threshold);
    // The alarm's metric: its namespace and exactly its two low-cardinality dimensions.
    expect(third!.namespace).toBe(alarm.Namespace);
    expect(third!.dimensions).toEqual(dimensionsOf(alarm));
    expect(Object.keys(third!.dimensions).sort()).toEqual([DIM.schedule, DIM.stack]);
    for (const record of hourlyRuns.flatMap((run) => run.invocations.flatMap((i) => emfRecords(i.logs))))
      expect(record.dimensions).toMatchObject({ [DIM.schedule]: 'hourly' });
  });

  it('is shown by status in its own series, unflagged', async () => {
    const bucket = world.aws.functions.get('plan')!.environment.LAKE_BUCKET!;
    const dest = `s3://${bucket}/${world.prefix}`;
    // The three hourly loads, and the late daily run that committed after them.
    const json = await runCli(['status', '--dest', dest, '--json', '--last', '4', ...STATUS_AS_STACK]);
    expect(json.code, json.stderr).toBe(0);
    const all = JSON.parse(json.stdout).quality.loads as { schedule: string }[];
    expect(all.map((l) => l.schedule)).toEqual(['hourly', 'hourly', 'hourly', 'daily']);
    const loads = all.slice(0, 3) as {
      loadId: string;
      schedule: string;
      usersSelection: string;
      trailingLoads: number;
      flags: unknown[];
    }[];
    expect(loads.map((l) => [l.loadId, l.schedule, l.usersSelection, l.trailingLoads, l.flags])).toEqual(
      hourlyRuns.map((r, i) => [r.output.loadId, 'hourly', 'changed', i, []]),
    );
    const text = await runCli(['status', '--dest', dest, '--last', '4', ...STATUS_AS_STACK]);
    expect(text.stdout).toContain('hourly, changed users');
    expect(text.stdout).not.toContain('QUIET');
  });
});

describe('logs and metrics of full loads', () => {
  it('carry no payload value, no secret and no user identifier, in any line or metric dimension', () => {
    const logs = [...runs, ...hourlyRuns].flatMap((run) => run.invocations.map((i) => i.logs)).join('\n');
    expect(logs.length).toBeGreaterThan(1000);
    // The proxy saw PayLink's answers, markers included: distinctive strings only (dates and
    // enum words like "active" could appear in a log for their own reasons).
    const markers = [...proxy.payloadValues].filter((v) => v.startsWith('PAYLOAD-MARK-'));
    expect(markers.length).toBeGreaterThan(10);
    const distinctive = [...proxy.payloadValues].filter(
      (v) => v.length >= 8 && /[a-z]/i.test(v) && !/^\d{4}-\d{2}-\d{2}/.test(v),
    );
    const leaked = [CREDENTIALS.apiKey, CREDENTIALS.apiSecret, ...USERS, ...markers, ...distinctive].filter(
      (value) => logs.includes(value),
    );
    expect(leaked).toEqual([]);
    const loadIds = [...runs, ...hourlyRuns].map((r) => r.output.loadId as string);
    for (const record of [...runs, ...hourlyRuns].flatMap((run) =>
      run.invocations.flatMap((i) => emfRecords(i.logs)),
    )) {
      for (const value of Object.values(record.dimensions)) {
        expect(loadIds.some((id) => value.includes(id))).toBe(false);
        expect(USERS.some((u) => value.includes(u))).toBe(false);
      }
    }
  });
});

describe('runs against their window', () => {
  it('times every run from its slot: inside the window, whatever the date', () => {
    for (const run of [...runs, ...hourlyRuns]) {
      const [load] = recordWith(run, 'commit', METRIC.runSeconds);
      const seconds = load!.metrics[METRIC.runSeconds]!.value;
      expect(seconds).toBeGreaterThan(0);
      expect(seconds).toBeLessThan(3 * 3600);
    }
  });

  it('flags a run that committed later than its deadline after its slot: the metric over the alarm, and status', async () => {
    const alarm = world.template
      .idsOfType('AWS::CloudWatch::Alarm')
      .map((id) => world.template.resources[id].Properties)
      .filter((p) => p.MetricName === METRIC.runSeconds)
      .map((p) => world.template.resolve(p))
      .find((p) => dimensionsOf(p)[DIM.schedule] === 'daily')!;
    expect(alarm.Threshold).toBe(DAILY_DEADLINE_SECONDS);
    const [late] = recordWith(lateRun, 'commit', METRIC.runSeconds);
    expect(late!.dimensions).toEqual(dimensionsOf(alarm));
    expect(late!.metrics[METRIC.runSeconds]!.value).toBeGreaterThan(alarm.Threshold);
    const [inTime] = recordWith(runs[0]!, 'commit', METRIC.runSeconds);
    expect(inTime!.metrics[METRIC.runSeconds]!.value).toBeLessThanOrEqual(alarm.Threshold);

    const minutes = String(DAILY_DEADLINE_SECONDS / 60);
    const json = await runCli([
      'status',
      '--dest',
      lakeUri(),
      '--json',
      '--last',
      '10',
      '--run-window-minutes',
      minutes,
    ]);
    expect(json.code, json.stderr).toBe(0);
    const loads = JSON.parse(json.stdout).quality.loads as { loadId: string; flags: { kind: string }[] }[];
    const outside = loads
      .filter((l) => l.flags.some((f) => f.kind === 'outside_window'))
      .map((l) => l.loadId);
    expect(outside).toEqual([lateRun.output.loadId]);
  });
});

// Last in the file: its load and the report it damages (restored after) are seen by no test above.
describe('an earlier load report the commit cannot read', () => {
  let damagedRun: ExecutionOutcome;
  let damagedId: string;
  beforeAll(async () => {
    const lake = createS3Store({ bucket: OFFLINE_BUCKET, prefix: world.prefix });
    damagedId = String(runs[1]!.output!.loadId);
    const key = `_loads/${damagedId}.json`;
    const original = await lake.get(key);
    if (original === undefined) throw new Error(`no report at ${key}`);
    await lake.put(key, '{"loadId": "cut short');
    try {
      const outcome = await world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOT(4) });
      if (outcome.status !== 'SUCCEEDED') throw new Error(explain(outcome));
      damagedRun = outcome;
    } finally {
      await lake.put(key, original);
    }
  }, 120_000);

  it('makes TrailingLoadsUnreadable 1 with a WARN naming the report, and the load still committed', () => {
    const [record] = recordWith(damagedRun, 'commit', METRIC.trailingLoadsUnreadable);
    expect(record!.metrics[METRIC.trailingLoadsUnreadable]!.value).toBe(1);
    const warn = jsonLines(logsOf(damagedRun, 'commit')).find(
      (l) => l.message === 'trailing_loads_unreadable',
    );
    expect(warn).toMatchObject({ level: 'WARN', unreadableReports: 1, reports: [{ loadId: damagedId }] });
    expect(String((warn!.reports as { reason: string }[])[0]!.reason)).toMatch(/not valid JSON/);
    // Every load before read fine: 0.
    for (const run of runs) {
      const [fine] = recordWith(run, 'commit', METRIC.trailingLoadsUnreadable);
      expect(fine!.metrics[METRIC.trailingLoadsUnreadable]!.value).toBe(0);
    }
  });
});

// After the damaged report's run (which restores the report): a resource found unusable.
describe('a resource whose endpoint is missing (404 for every user)', () => {
  let disabledRun: ExecutionOutcome;
  beforeAll(async () => {
    proxy.missingPaths.add('/pay-link/orders');
    try {
      const outcome = await world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOT(5) });
      if (outcome.status !== 'SUCCEEDED') throw new Error(explain(outcome));
      disabledRun = outcome;
    } finally {
      proxy.missingPaths.clear();
    }
  }, 120_000);

  it("raises the commit's EndpointUnavailable to 1 with the alarm's dimensions, the batch naming the resource", () => {
    const alarm = world.template
      .idsOfType('AWS::CloudWatch::Alarm')
      .map((id) => world.template.resources[id].Properties)
      .filter((p) => p.MetricName === METRIC.endpointUnavailable)
      .map((p) => world.template.resolve(p))
      .find((p) => dimensionsOf(p)[DIM.schedule] === 'daily')!;
    expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    const [record] = recordWith(disabledRun, 'commit', METRIC.endpointUnavailable);
    expect(record!.dimensions).toEqual({
      [DIM.stack]: world.template.deployment.stackName,
      [DIM.schedule]: 'daily',
    });
    expect(record!.dimensions).toEqual(dimensionsOf(alarm));
    expect(record!.metrics[METRIC.endpointUnavailable]!.value).toBeGreaterThanOrEqual(alarm.Threshold);
    expect(record!.metrics[METRIC.endpointUnavailable]!.value).toBe(1);
    const batch = jsonLines(logsOf(disabledRun, 'loadBatch')).find((l) => l.message === 'batch_loaded');
    expect(batch).toMatchObject({ endpointFindings: ['orders'] });
    // One cause, one alarm: the disabled table is not judged quiet beside it.
    for (const quiet of recordWith(disabledRun, 'commit', METRIC.lowestRowsToTrailingMedian))
      expect(quiet.metrics[METRIC.lowestRowsToTrailingMedian]!.value).toBeGreaterThanOrEqual(0.5);
  });
});
