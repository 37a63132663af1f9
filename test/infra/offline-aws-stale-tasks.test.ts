/**
 * Stale task ids in a fanned-out load, deployed, offline under AWS rules
 * (test/helpers/offline-aws.ts): the first batch holds 20 users (TASK_ID_EVIDENCE_USERS' old
 * in-batch threshold) whose registered task ids PayLink no longer knows, every id answering 404,
 * and the second batch a user whose ids answer. Each load-batch Lambda judges alone; only the
 * commit sees every batch. A batch that met only stale ids once disabled `tasks` on its own and
 * the load recorded it endpoint-unavailable although the other batch's ids answered. The load
 * level decision is the commit's: one answered id anywhere proves the endpoint, so the stale
 * users' units are theirs (ok, task_not_found) and the load has no finding, as a local load of
 * the same users has (test/integration/stale-task-ids.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identifierShard } from '#core/plan.ts';
import { REGISTRY, type RegisteredUser, registryShardKey } from '#core/user-registry.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { FAST_HTTP } from '#test/helpers/lake-harness.ts';
import type { ExecutionOutcome } from '#test/helpers/offline-aws.ts';
import {
  describeDenials,
  explainOutcome,
  type OfflineWorld,
  startOfflineWorld,
} from '#test/helpers/offline-deployment.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';
import { exampleConfig } from './app-fixture.ts';

const SEED = 'offline-stale-tasks';
/** Users of the first batch, each with one task id PayLink does not know. */
const STALE_USERS = 20;

let world: OfflineWorld;
let outcome: ExecutionOutcome;
let stale: string[];
/** The second batch: users with their real task ids registered (those that have any). */
let real: string[];
let realTasks: string[];
const staleId = (n: number) => `gone-task-${n}`;

beforeAll(async () => {
  // The plan cuts the sorted identifiers (code-unit order) into batches: the first 20 are batch 0.
  const identifiers = generateIdentifiers(SEED, 2 * STALE_USERS).sort();
  world = await startOfflineWorld({
    config: exampleConfig({
      batchSize: STALE_USERS,
      requestRate: 2000,
      loaderConfig: { http: FAST_HTTP },
      schedules: [
        {
          name: 'daily',
          expression: 'cron(0 3 * * ? *)',
          timezone: 'UTC',
          expectedPeriodHours: 24,
          users: 'all',
          resources: ['accounts', 'tasks'],
        },
      ],
    }),
    simulator: { seed: SEED },
  });
  stale = identifiers.slice(0, STALE_USERS);
  real = identifiers.slice(STALE_USERS);
  realTasks = real.flatMap((id) => world.sim.served(id).taskIds);
  // The registry: stale ids for the first batch's users, the real ids for the second batch's.
  const shards = new Map<number, Record<string, RegisteredUser>>();
  const register = (identifier: string, taskIds: string[]) => {
    const shard = identifierShard(identifier, REGISTRY.shards);
    shards.set(shard, {
      ...shards.get(shard),
      [identifier]: { taskIds, firstSeen: '2026-11-01T00:00:00.000Z', lastEventTime: '2026-11-01T00:00:00Z' },
    });
  };
  for (const [n, identifier] of stale.entries()) register(identifier, [staleId(n)]);
  for (const identifier of real) register(identifier, [...world.sim.served(identifier).taskIds]);
  for (const [shard, users] of shards)
    await world.bucket.put(
      `${world.prefix}/${registryShardKey(shard)}`,
      JSON.stringify({ formatVersion: 2, users }),
    );
  await world.bucket.put(world.usersKey, `${[...stale, ...real].join('\n')}\n`);
  outcome = await world.aws.execute('daily', world.aws.scheduledInput('daily', '2026-12-01T03:00:00.000Z'), {
    name: 'daily-stale-tasks',
  });
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

describe('a fanned-out load whose first batch meets only stale task ids', () => {
  it('records no endpoint finding when another batch had ids answered, and the stale units are task_not_found', async () => {
    expect(outcome.status, explainOutcome(world, outcome)).toBe('SUCCEEDED');
    const loadId = outcome.output.loadId as string;
    const batches = outcome.invocations.filter((i) => i.fn === 'loadBatch' && i.ok);
    expect(batches.length, 'two batches, each its own Lambda').toBe(2);
    const marker = JSON.parse(
      new TextDecoder().decode((await world.bucket.get(`${world.prefix}/_loads/${loadId}.json`))!),
    );
    expect(marker.endpointFindings ?? []).toEqual([]);
    const units = (await rowsOf('user_loads', loadId)).filter((r) => r.resource === 'tasks');
    expect(units).toHaveLength(2 * STALE_USERS);
    for (const identifier of stale)
      expect(
        units.find((u) => u.user_identifier === identifier),
        `${identifier}'s tasks unit`,
      ).toMatchObject({ status: 'ok', error_code: 'task_not_found', http_status: 404n, batch: 0n });
    for (const identifier of real)
      expect(units.find((u) => u.user_identifier === identifier)).toMatchObject({
        status: 'ok',
        error_code: null,
        batch: 1n,
      });
    const loaded = (await rowsOf('tasks', loadId)).map((r) => r._id).sort();
    expect(loaded).toEqual([...realTasks].sort());
    expect(describeDenials(world.gate)).toEqual([]);
  });
});
