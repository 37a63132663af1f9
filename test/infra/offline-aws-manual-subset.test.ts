/**
 * A subset run started by hand (docs/deploy.md: `"resources":["accounts"]` in the state
 * machine's input), offline under AWS rules: its judgement is of a series of its own, so it must
 * not reach the alarms of the schedule it ran under. Three full daily loads, the third with
 * `orders` emptied upstream (QuietFeed's metric below its threshold), then three `accounts` runs
 * of the same schedule: the third has two loads of its own series behind it and judges
 * `accounts` normal. Under the schedule's dimension that ratio would set QuietFeed back to OK
 * while `orders` is still dead; it goes under `daily:manual`, which no alarm watches.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIM, METRIC } from '#core/load-metrics.ts';
import { MANUAL_SCHEDULE_SUFFIX } from '#core/quality.ts';
import { type FeedProxy, startFeedProxy } from '#test/helpers/feed-proxy.ts';
import { FAST_HTTP } from '#test/helpers/lake-harness.ts';
import { emfRecords } from '#test/helpers/log-lines.ts';
import type { ExecutionOutcome } from '#test/helpers/offline-aws.ts';
import {
  DAILY_ALL,
  explainOutcome,
  type OfflineWorld,
  startOfflineWorld,
} from '#test/helpers/offline-deployment.ts';
import { exampleConfig } from './app-fixture.ts';

/** Enough users for `accounts` and `orders` to be judged with the shipped minExpectedRows (20). */
const USERS = Array.from({ length: 16 }, (_, i) => `subset-user-${String(i).padStart(2, '0')}`);
const CONFIG = exampleConfig({
  schedules: [DAILY_ALL],
  batchSize: 16,
  requestRate: 2000,
  userConcurrency: 8,
  loaderConfig: { http: FAST_HTTP },
});
/** Slots two hours ago, ten minutes apart: inside the daily window, never a hard-coded date. */
const NOW_MINUTE = Math.floor(Date.now() / 60_000) * 60_000;
const SLOT = (n: number) => new Date(NOW_MINUTE - 2 * 3_600_000 + n * 600_000).toISOString();

let world: OfflineWorld;
let proxy: FeedProxy;
const full: ExecutionOutcome[] = [];
const subset: ExecutionOutcome[] = [];

const commitRecords = (outcome: ExecutionOutcome) =>
  emfRecords(
    outcome.invocations
      .filter((i) => i.fn === 'commit')
      .map((i) => i.logs)
      .join('\n'),
  );

const quietAlarm = () =>
  world.template
    .idsOfType('AWS::CloudWatch::Alarm')
    .map((id) => world.template.resources[id].Properties)
    .filter((p) => p.MetricName === METRIC.lowestRowsToTrailingMedian)
    .map((p) => world.template.resolve(p))
    .find((p) =>
      (p.Dimensions as { Name: string; Value: string }[]).some(
        (d) => d.Name === DIM.schedule && d.Value === DAILY_ALL.name,
      ),
    )!;

beforeAll(async () => {
  world = await startOfflineWorld({ config: CONFIG, simulator: { seed: 'manual-subset' } });
  proxy = await startFeedProxy(world.sim.url);
  world.aws.functions.get('loadBatch')!.environment.PAYLINK_BASE_URL = proxy.url;
  await world.bucket.put(world.usersKey, `${USERS.join('\n')}\n`);
  for (const n of [0, 1, 2]) {
    if (n === 2) proxy.emptyPaths.add('/pay-link/orders');
    const outcome = await world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOT(n) });
    if (outcome.status !== 'SUCCEEDED') throw new Error(explainOutcome(world, outcome));
    full.push(outcome);
  }
  for (const n of [3, 4, 5]) {
    const outcome = await world.aws.execute('daily', {
      schedule: 'daily',
      scheduledTime: SLOT(n),
      resources: ['accounts'],
    });
    if (outcome.status !== 'SUCCEEDED') throw new Error(explainOutcome(world, outcome));
    subset.push(outcome);
  }
}, 300_000);

afterAll(async () => {
  await proxy?.close();
  await world?.close();
});

describe('a subset run started by hand on a deployed schedule', () => {
  it("writes no quiet-feed ratio at or above the alarm's threshold under the schedule's dimension after a quiet full load", () => {
    const alarm = quietAlarm();
    const lowest = (outcome: ExecutionOutcome, schedule: string) =>
      commitRecords(outcome)
        .filter(
          (r) =>
            r.dimensions[DIM.schedule] === schedule &&
            r.metrics[METRIC.lowestRowsToTrailingMedian] !== undefined,
        )
        .map((r) => r.metrics[METRIC.lowestRowsToTrailingMedian]!.value);
    // The full load that found `orders` empty: the alarm's metric below its threshold.
    expect(lowest(full[2]!, 'daily')).toEqual([0]);
    expect(alarm.Threshold).toBeGreaterThan(0);
    // The subset runs: nothing under the schedule's dimension that would return QuietFeed to OK.
    for (const run of subset) expect(lowest(run, 'daily').filter((v) => v >= alarm.Threshold)).toEqual([]);
    // The third one judged `accounts` (two loads of its own series before it): under `daily:manual`.
    expect(lowest(subset[2]!, `daily${MANUAL_SCHEDULE_SUFFIX}`)).toEqual([1]);
  });

  it("keeps its failed-user share, endpoint, unreadable-loads and run-time metrics off the schedule's alarms too", () => {
    // RunSeconds is RunOutsideWindow's metric: a quick hand-started run must not clear it.
    const alarmed = [
      METRIC.failedUserShare,
      METRIC.endpointUnavailable,
      METRIC.trailingLoadsUnreadable,
      METRIC.runSeconds,
    ];
    for (const run of subset) {
      const records = commitRecords(run);
      for (const metric of alarmed) {
        const under = records
          .filter((r) => r.metrics[metric] !== undefined)
          .map((r) => r.dimensions[DIM.schedule]);
        expect(under, metric).not.toContain('daily');
      }
      // Its counts are still the schedule's: LoadUsers and LoadRows under `daily`.
      expect(
        records.some(
          (r) => r.dimensions[DIM.schedule] === 'daily' && r.metrics[METRIC.loadUsers] !== undefined,
        ),
      ).toBe(true);
    }
    // A full run's judgement is the schedule's own.
    expect(
      commitRecords(full[2]!).some(
        (r) => r.dimensions[DIM.schedule] === 'daily' && r.metrics[METRIC.endpointUnavailable] !== undefined,
      ),
    ).toBe(true);
    expect(
      commitRecords(full[2]!).some(
        (r) => r.dimensions[DIM.schedule] === 'daily' && r.metrics[METRIC.runSeconds] !== undefined,
      ),
    ).toBe(true);
  });
});
