/**
 * A deployed `changed` schedule's plan (the plan Lambda's handler, over S3 on loopback) warns of
 * webhook events in `_events/` partitions dated more than a day after its scheduled date, as
 * `load --users changed`, `status` and `verify` do: one WARN line per run, `events_held_back`,
 * with counts; none on a schedule's first run, which lists all of `_events/` and takes them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { commitLoad } from '#core/commit.ts';
import { batchUsersKey } from '#core/layout.ts';
import type { BatchUser } from '#core/load-batch.ts';
import { readJson } from '#core/store-json.ts';
import { EVENTS_HELD_BACK_EVENT, type PlanResult } from '#handlers/contract.ts';
import type { LogRecord } from '#test/helpers/log-lines.ts';
import { type PlanWorld, planLogged, startPlanWorld } from '#test/helpers/plan-handler-world.ts';

let world: PlanWorld;

const heldBack = (lines: LogRecord[]) => lines.filter((l) => l.message === EVENTS_HELD_BACK_EVENT);

async function planned(result: PlanResult): Promise<string[]> {
  const out: string[] = [];
  for (let b = 0; b < result.batches; b++)
    out.push(
      ...((await readJson<BatchUser[]>(world.store, batchUsersKey(result.loadId, b))) ?? []).map(
        (u) => u.identifier,
      ),
    );
  return out.sort();
}

beforeAll(async () => {
  world = await startPlanWorld('plan-held-back');
}, 60_000);

afterAll(async () => {
  await world?.close();
});

describe('the deployed changed plan and events dated ahead', () => {
  it('says nothing on the first run (it takes them), then warns once with counts while they wait', async () => {
    await world.receive('u-now', '2026-12-01T08:00:00.000Z');
    // Received by a receiver whose clock ran a week ahead: stored under dt=2026-12-08.
    await world.receive('u-early', '2026-12-08T08:00:00.000Z');
    const first = await planLogged('hourly', '2026-12-01T09:00:00.000Z', 'changed');
    expect(heldBack(first.lines)).toEqual([]);
    expect(await planned(first.result)).toEqual(['u-early', 'u-now']);
    await commitLoad(first.result.loadId, {
      store: world.store,
      parts: createParquetPartWriterFactory(),
      reader: createParquetPartReader(),
      clock: () => new Date('2026-12-01T09:30:00.000Z'),
    });

    await world.receive('u-later', '2026-12-09T08:00:00.000Z');
    await world.receive('u-later-2', '2026-12-09T08:05:00.000Z');
    const second = await planLogged('hourly', '2026-12-01T10:00:00.000Z', 'changed');
    // Before, nothing was said: the two events waited in silence until 2026-12-08.
    const [warning, ...more] = heldBack(second.lines);
    expect(more).toEqual([]);
    expect(warning).toMatchObject({
      level: 'WARN',
      event: EVENTS_HELD_BACK_EVENT,
      objects: 2,
      partitions: 1,
    });
    expect(String(warning!.detail)).toContain('dt=2026-12-09 (2, held back until 2026-12-08)');
    // Not u-early's partition: the first run took it.
    expect(String(warning!.detail)).not.toContain('2026-12-08 (');
    expect(await planned(second.result)).not.toContain('u-later');
  }, 60_000);
});
