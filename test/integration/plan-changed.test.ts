/**
 * The deployed plan of a `changed` schedule (the plan Lambda's handler, over S3 on loopback):
 * only the users of webhook events the schedule has not seen in a committed load, with the task
 * ids they name; a run that is never committed leaves them for the next run; an `all` schedule
 * adds the users learned from webhooks to the operator's list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { changedSelectionKey, changedStateKey } from '#core/changed-users.ts';
import { commitLoad } from '#core/commit.ts';
import { batchUsersKey } from '#core/layout.ts';
import type { BatchUser } from '#core/load-batch.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import { learnUsers } from '#core/user-registry.ts';
import type { PlanResult } from '#handlers/contract.ts';
import { handler as planHandler } from '#handlers/plan.ts';
import { resetRuntime } from '#handlers/runtime.ts';
import { type PlanWorld, startPlanWorld } from '#test/helpers/plan-handler-world.ts';

let world: PlanWorld;
let store: ObjectStore;
const receive = (identifier: string, at: string, data?: Record<string, unknown>) =>
  world.receive(identifier, at, data);

async function plan(schedule: string, scheduledTime: string, users?: 'changed'): Promise<PlanResult> {
  resetRuntime();
  return planHandler({ schedule, scheduledTime, ...(users === undefined ? {} : { users }) });
}

async function batchUsers(result: PlanResult): Promise<BatchUser[]> {
  const out: BatchUser[] = [];
  for (let b = 0; b < result.batches; b++)
    out.push(...((await readJson<BatchUser[]>(store, batchUsersKey(result.loadId, b))) ?? []));
  return out;
}

beforeAll(async () => {
  world = await startPlanWorld('plan-changed-lake');
  store = world.store;
}, 60_000);

afterAll(async () => {
  await world?.close();
});

describe('the plan of a changed schedule', () => {
  it('plans only the users of new events, keeps them until a load commits, then moves on', async () => {
    await receive('u-a', '2026-12-01T08:00:00.000Z');
    await receive('u-b', '2026-12-01T08:05:00.000Z', { taskId: 'task-b1', status: 'completed' });
    await receive('u-a', '2026-12-01T08:10:00.000Z', { taskId: 'task-a1', status: 'failed' });

    const first = await plan('hourly', '2026-12-01T09:00:00.000Z', 'changed');
    expect(first.users).toBe(2);
    expect(await batchUsers(first)).toEqual([
      { identifier: 'u-a', taskIds: ['task-a1'] },
      { identifier: 'u-b', taskIds: ['task-b1'] },
    ]);
    const selection = await readJson<{ schedule: string; events: number }>(
      store,
      changedSelectionKey(first.loadId),
    );
    expect(selection).toMatchObject({ schedule: 'hourly', events: 3 });

    // That run failed (never committed): the next one plans the same users again, plus a new one.
    await receive('u-c', '2026-12-01T09:30:00.000Z');
    const second = await plan('hourly', '2026-12-01T10:00:00.000Z', 'changed');
    expect((await batchUsers(second)).map((u) => u.identifier)).toEqual(['u-a', 'u-b', 'u-c']);

    // Committed, but its batches never ran: its users are recorded as failed.
    const commit = (loadId: string, at: string) =>
      commitLoad(loadId, {
        store,
        parts: createParquetPartWriterFactory(),
        reader: createParquetPartReader(),
        clock: () => new Date(at),
      });
    await commit(second.loadId, '2026-12-01T10:30:00.000Z');
    expect(await readJson(store, changedStateKey('hourly'))).toMatchObject({ retry: ['u-a', 'u-b', 'u-c'] });
    // No new event: the next run retries the users that failed, once.
    const third = await plan('hourly', '2026-12-01T11:00:00.000Z', 'changed');
    expect((await batchUsers(third)).map((u) => u.identifier)).toEqual(['u-a', 'u-b', 'u-c']);
    await commit(third.loadId, '2026-12-01T11:30:00.000Z');
    expect(await readJson(store, changedStateKey('hourly'))).not.toHaveProperty('retry');
    expect((await plan('hourly', '2026-12-01T11:45:00.000Z', 'changed')).users).toBe(0);
    await receive('u-b', '2026-12-01T11:50:00.000Z');
    const fourth = await plan('hourly', '2026-12-01T12:00:00.000Z', 'changed');
    // u-b's earlier task is still known (the registry): its current tasks stay whole.
    expect(await batchUsers(fourth)).toEqual([{ identifier: 'u-b', taskIds: ['task-b1'] }]);
  }, 60_000);

  it('a slot planned again after its load committed plans the same users, not the newest ones', async () => {
    await receive('u-x', '2026-12-03T08:00:00.000Z', { taskId: 'task-x1', status: 'completed' });
    const slot = '2026-12-03T09:00:00.000Z';
    const first = await plan('hourly', slot, 'changed');
    const planned = await batchUsers(first);
    expect(planned.map((u) => u.identifier)).toContain('u-x');
    await commitLoad(first.loadId, {
      store,
      parts: createParquetPartWriterFactory(),
      reader: createParquetPartReader(),
      clock: () => new Date('2026-12-03T09:30:00.000Z'),
    });
    await receive('u-y', '2026-12-03T09:40:00.000Z');
    // The slot runs again (an execution started by hand for it): it replaces its load, so it
    // loads the users that load had; u-y's event is left to the next slot.
    const again = await plan('hourly', slot, 'changed');
    expect(again.loadId).toBe(first.loadId);
    expect(await batchUsers(again)).toEqual(planned);
    // The next slot: u-y's event, and the slot's users once more (its commit had no batch, so
    // they are recorded as failed and retried once).
    const next = await plan('hourly', '2026-12-03T10:00:00.000Z', 'changed');
    expect((await batchUsers(next)).map((u) => u.identifier)).toEqual(
      [...planned.map((u) => u.identifier), 'u-y'].sort(),
    );
  }, 60_000);

  it('an all schedule loads the operator list and the users learned from webhooks', async () => {
    await learnUsers(
      store,
      [{ identifier: 'learned-9', taskId: null, eventTime: '2026-12-01T08:00:00.000Z' }],
      new Date(),
    );
    const result = await plan('daily', '2026-12-02T03:00:00.000Z');
    const identifiers = (await batchUsers(result)).map((u) => u.identifier);
    expect(identifiers).toEqual(
      expect.arrayContaining(['listed-1', 'listed-2', 'learned-9', 'u-a', 'u-b', 'u-c']),
    );
    expect(new Set(identifiers).size).toBe(identifiers.length);
  }, 60_000);
});
