/**
 * The schema changes a load's report lists (`_loads/<id>.json`, what the summary and the
 * SchemaChanges metric count) when its commit runs more than once. A commit claims the registry's
 * next version before it publishes; an attempt that dies after that claim leaves the changes in
 * the registry, so the next attempt finds none to make itself. Its report must still list them
 * (the commit records them before claiming: lambdas/core/commit.ts, `CommitIntent.claims`), and
 * must never list changes another load claimed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { commitLoad, type LoadMarker } from '#core/commit.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { dltLoadsKey, loadMarkerKey } from '#core/layout.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import type { JsonValue } from '#core/types.ts';
import { Crash, crashingStore, type StoreWrite } from '#test/helpers/crash-points.ts';
import { stageOrdersLoad } from '#test/helpers/staged-orders-load.ts';

const parts = createParquetPartWriterFactory();
const reader = createParquetPartReader();
const clock = () => new Date('2026-11-25T12:00:00Z');
const USERS = Array.from({ length: 6 }, (_, i) => `${i % 2 === 0 ? 'a' : 'b'}${i}`);

/**
 * Orders with a new `amount` column the batches type differently (double, then text), and, with
 * `extra`, one more new column: a new table, columns and a variant for the commit to claim.
 */
function api(extra?: string): PayLinkApi {
  const orders = (id: string): JsonValue[] => {
    const row: Record<string, JsonValue> = { _id: `${id}-1`, amount: id.startsWith('a') ? 5 : 'N/A' };
    if (extra !== undefined) row[extra] = 'x';
    return [row];
  };
  return {
    async openSession(identifier) {
      return { getJson: async () => ({ orders: orders(identifier) }) };
    },
    stats: () => ({ requests: 0, retries: 0 }),
  };
}

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

async function emptyLake(): Promise<ObjectStore> {
  const dir = await mkdtemp(join(tmpdir(), 'commit-schema-report-'));
  dirs.push(dir);
  return createLocalStore(dir);
}

/** Plans `loadId` (clearing an earlier attempt's staging, as a re-run does) and stages every batch. */
const stage = (store: ObjectStore, loadId: string, extra?: string): Promise<void> =>
  stageOrdersLoad({ store, loadId, identifiers: USERS, batchSize: 2, api: api(extra), parts, clock });

const commit = (store: ObjectStore, loadId: string) => commitLoad(loadId, { store, parts, reader, clock });

/** The commit's writes, in order, on a lake staged like `store` (counted on a copy of the run). */
async function commitWrites(loadId: string): Promise<StoreWrite[]> {
  const store = await emptyLake();
  await stage(store, loadId);
  const writes: StoreWrite[] = [];
  await commit(
    crashingStore(store, 0, (w) => writes.push(w)),
    loadId,
  );
  return writes;
}

const claimWrite = (writes: readonly StoreWrite[]) =>
  writes.find((w) => w.kind === 'putIfAbsent' && w.key.startsWith('_schema/versions/'))!;

describe('the schema changes a load reports when its commit runs again', () => {
  it('are the one-call commit’s whatever write the first attempt died at', async () => {
    const reference = await emptyLake();
    await stage(reference, 'L1');
    const expected = await commit(reference, 'L1');
    expect(expected.schemaChanges.map((c) => c.kind)).toEqual(
      expect.arrayContaining(['new_table', 'new_column', 'new_variant']),
    );

    const writes = await commitWrites('L1');
    const claim = claimWrite(writes);
    expect(claim.n).toBeGreaterThan(1);
    for (let at = 1; at <= writes.length; at++) {
      const where = `died at write ${at} of ${writes.length} (${writes[at - 1]!.kind} ${writes[at - 1]!.key})`;
      const store = await emptyLake();
      await stage(store, 'L1');
      const died = await commit(crashingStore(store, at), 'L1').then(
        () => undefined,
        (error: unknown) => error,
      );
      // Dead after its commit point (the staging clean-up, which may fail): committed, with its
      // report written. Before it, the commit failed with the death and runs again.
      const done = (await store.get(dltLoadsKey('L1'))) !== undefined;
      if (!done) {
        const crashed = died instanceof Crash || (died as Error | undefined)?.cause instanceof Crash;
        expect(crashed, `${where}: ${String(died)}`).toBe(true);
      }
      const marker = done
        ? (await readJson<LoadMarker>(store, loadMarkerKey('L1')))!
        : await commit(store, 'L1');
      expect(marker.schemaChanges, where).toEqual(expected.schemaChanges);
      expect(marker.schemaVersion, where).toBe(expected.schemaVersion);
      expect((await readCommittedSchema(store)).toJSON(), where).toEqual(
        (await readCommittedSchema(reference)).toJSON(),
      );
    }
  }, 120_000);

  it('are the first attempt’s when the load id is planned and loaded again after a death past the claim', async () => {
    const writes = await commitWrites('L1');
    const reference = await emptyLake();
    await stage(reference, 'L1');
    const expected = await commit(reference, 'L1');

    const store = await emptyLake();
    await stage(store, 'L1');
    // Dies right after the version file: the registry holds the changes, nothing else happened.
    await expect(commit(crashingStore(store, claimWrite(writes).n + 1), 'L1')).rejects.toThrow();
    expect((await readCommittedSchema(store)).version).toBe(expected.schemaVersion);
    // The whole load again (the plan clears the attempt's staging, all but its commit intent).
    await stage(store, 'L1');
    const marker = await commit(store, 'L1');
    expect(marker.schemaChanges).toEqual(expected.schemaChanges);
    expect(marker.schemaVersion).toBe(expected.schemaVersion);
  });

  it('leave out what another load claimed after this one recorded its claim and died before making it', async () => {
    const writes = await commitWrites('L1');
    const store = await emptyLake();
    await stage(store, 'L1');
    await stage(store, 'L2', 'note');
    // L1 records its claim of version 1 and dies before making it.
    await expect(commit(crashingStore(store, claimWrite(writes).n), 'L1')).rejects.toThrow();
    expect(await store.list('_schema/versions/')).toEqual([]);
    // L2 claims version 1 with L1's new columns and one more: they are L2's changes.
    const other = await commit(store, 'L2');
    expect(other.schemaVersion).toBe(1);
    expect(other.schemaChanges).toContainEqual(
      expect.objectContaining({ kind: 'new_column', table: 'orders', column: 'amount' }),
    );
    // L1's recorded claim names version 1, which holds other bytes: L1 made no change.
    const marker = await commit(store, 'L1');
    expect(marker.schemaChanges).toEqual([]);
    expect(marker.schemaVersion).toBe(1);
  });
});
