/**
 * A deployed `changed` schedule with a backlog over its cap, offline under AWS rules
 * (test/helpers/offline-aws.ts): cdk.json's `maxUsersPerRun` reaches the plan Lambda through the
 * synthesized stack; a run with more users pending than that loads the users whose events came
 * first, commits within its cap with only their events, says how many users and events it left
 * (its log line, the ChangedUsersDeferred metric, its load report), and the next runs take the
 * rest: every event committed once, every user loaded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC } from '#core/load-metrics.ts';
import { simulatedEvent } from '#simulator/webhook-sender.ts';
import { FAST_HTTP } from '#test/helpers/lake-harness.ts';
import { emfRecords } from '#test/helpers/log-lines.ts';
import type { ExecutionOutcome } from '#test/helpers/offline-aws.ts';
import {
  API_SECRET,
  describeDenials,
  explainOutcome,
  type OfflineWorld,
  startOfflineWorld,
} from '#test/helpers/offline-deployment.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';
import { exampleConfig } from './app-fixture.ts';

/** Arrival order (not alphabetical): the runs take them in this order, 2 at a time. */
const ARRIVAL = ['user-e', 'user-a', 'user-d', 'user-b', 'user-c'];

const CONFIG = exampleConfig({
  batchSize: 2,
  requestRate: 2000,
  loaderConfig: { http: FAST_HTTP },
  schedules: [{ name: 'hourly', expression: 'rate(1 hour)', users: 'changed', maxUsersPerRun: 2 }],
});

let world: OfflineWorld;
const runs: ExecutionOutcome[] = [];

beforeAll(async () => {
  world = await startOfflineWorld({ config: CONFIG, simulator: { seed: 'offline-changed-cap' } });
  for (const [i, identifier] of ARRIVAL.entries()) {
    const change = world.sim.change(identifier);
    const event = simulatedEvent({
      identifier,
      type: change.eventType,
      time: new Date(Date.UTC(2026, 11, 1, 9, i)),
      secret: API_SECRET,
      data: change.data,
    });
    const answer = await world.aws.invokeUrl('webhook', { headers: event.headers, body: event.body });
    expect(answer.statusCode).toBe(200);
    // Received in this order: the receiver dates each event by its own clock.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  for (const hour of [10, 11, 12, 13]) {
    const scheduledTime = `2026-12-01T${hour}:00:00.000Z`;
    runs.push(
      await world.aws.execute('hourly', world.aws.scheduledInput('hourly', scheduledTime), {
        name: `hourly-${scheduledTime.replace(/\D/g, '')}`,
      }),
    );
  }
}, 240_000);

afterAll(async () => {
  await world?.close();
});

async function rowsOf(table: string, loadId: string): Promise<Record<string, unknown>[]> {
  const keys = (await world.bucket.list(`${world.prefix}/${table}/`)).filter((k) => k.endsWith('.parquet'));
  const rows: Record<string, unknown>[] = [];
  for (const key of keys) rows.push(...(await readParquet((await world.bucket.get(key))!)).rows);
  return rows.filter((r) => r._dlt_load_id === loadId);
}

const planLogs = (outcome: ExecutionOutcome) => outcome.invocations.find((i) => i.fn === 'plan')!.logs;
/** The plan's ChangedUsersDeferred and ChangedEventsDeferred datapoints. */
function deferredMetric(outcome: ExecutionOutcome): [number, number] | undefined {
  const metrics = emfRecords(planLogs(outcome)).find(
    (r) => r.metrics[METRIC.changedUsersDeferred] !== undefined,
  )?.metrics;
  return metrics === undefined
    ? undefined
    : [metrics[METRIC.changedUsersDeferred]!.value, metrics[METRIC.changedEventsDeferred]!.value];
}

describe('a deployed changed schedule with more users pending than its maxUsersPerRun', () => {
  it('loads 2, 2 and 1 users in three committed runs, oldest events first, each event once', async () => {
    for (const run of runs) expect(run.status, explainOutcome(world, run)).toBe('SUCCEEDED');
    const [first, second, third, idle] = runs as [
      ExecutionOutcome,
      ExecutionOutcome,
      ExecutionOutcome,
      ExecutionOutcome,
    ];
    const loaded: string[][] = [];
    const events: string[][] = [];
    for (const run of [first, second, third]) {
      const loadId = run.output.loadId as string;
      loaded.push(
        [...new Set((await rowsOf('user_loads', loadId)).map((r) => String(r.user_identifier)))].sort(),
      );
      events.push((await rowsOf('webhook_events', loadId)).map((r) => String(r.user_identifier)).sort());
    }
    expect(loaded).toEqual([['user-a', 'user-e'], ['user-b', 'user-d'], ['user-c']]);
    // Each run committed only its own users' events; the others waited for their run.
    expect(events).toEqual(loaded);
    expect(idle.output).toMatchObject({ users: 0, nothingToLoad: true });
    expect(describeDenials(world.gate)).toEqual([]);
  });

  it('says what each run left: the plan log line and metrics, and the load report', async () => {
    const [first, second, third] = runs as [ExecutionOutcome, ExecutionOutcome, ExecutionOutcome];
    expect(planLogs(first)).toContain('"event":"changed_users_deferred"');
    expect([first, second, third].map(deferredMetric)).toEqual([
      [3, 3],
      [1, 1],
      [0, 0],
    ]);
    expect(planLogs(third)).not.toContain('"event":"changed_users_deferred"');
    const report = JSON.parse(
      new TextDecoder().decode(
        (await world.bucket.get(`${world.prefix}/_loads/${first.output.loadId as string}.json`))!,
      ),
    );
    expect(report.changed).toMatchObject({ maxUsers: 2, deferred: { users: 3, events: 3 } });
  });
});
