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
import { generateIdentifiers } from '#simulator/world.ts';
import type { ExecutionOutcome } from '#test/helpers/offline-aws.ts';
import {
  DAILY_ALL,
  describeDenials,
  explainOutcome,
  type OfflineWorld,
  offlineConfig,
  rowsOfLoad,
  startOfflineWorld,
} from '#test/helpers/offline-deployment.ts';
import { registryShards } from '#test/helpers/registry-shards.ts';

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
    config: offlineConfig({
      batchSize: STALE_USERS,
      schedules: [{ ...DAILY_ALL, resources: ['accounts', 'tasks'] }],
    }),
    simulator: { seed: SEED },
  });
  stale = identifiers.slice(0, STALE_USERS);
  real = identifiers.slice(STALE_USERS);
  realTasks = real.flatMap((id) => world.sim.served(id).taskIds);
  // The registry: stale ids for the first batch's users, the real ids for the second batch's.
  const registry = registryShards(
    [
      ...stale.map((identifier, n) => [identifier, [staleId(n)]] as const),
      ...real.map((identifier) => [identifier, [...world.sim.served(identifier).taskIds]] as const),
    ],
    { formatVersion: 2, day: '2026-11-01' },
  );
  for (const [key, text] of registry) await world.bucket.put(`${world.prefix}/${key}`, text);
  await world.bucket.put(world.usersKey, `${[...stale, ...real].join('\n')}\n`);
  outcome = await world.aws.execute('daily', world.aws.scheduledInput('daily', '2026-12-01T03:00:00.000Z'), {
    name: 'daily-stale-tasks',
  });
}, 240_000);

afterAll(async () => {
  await world?.close();
});

const rowsOf = (table: string, loadId: string) => rowsOfLoad(world, table, loadId);

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
