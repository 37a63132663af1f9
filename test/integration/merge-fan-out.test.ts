/**
 * The commit's merge handed to a Map (lambdas/core/merge-fan-out.ts), run here as the deployed
 * steps run it: the commit hands off, each item merges its partition, the commit runs again.
 * Two lakes get the same staged batches; one commits in one call, the other through the hand-off.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { type CommitOutcome, commitLoad, commitOrHandOff, type LoadMarker } from '#core/commit.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import {
  dltLoadsKey,
  loadMarkerKey,
  mergedGroupKey,
  mergeItemsKey,
  mergeTaskKey,
  stagingPrefix,
} from '#core/layout.ts';
import { loadBatch } from '#core/load-batch.ts';
import {
  estimateMergeSeconds,
  MERGE_BUDGET,
  type MergeFanOutPolicy,
  type MergeItem,
  mergeBudgetSeconds,
  mergeTask,
} from '#core/merge-fan-out.ts';
import { type MergedGroup, type MergeSlicing, type MergeWork, sliceInputs } from '#core/merge-parts.ts';
import { planLoad, readBatchUsers, readPlan } from '#core/plan.ts';
import type { ObjectStore, PartWriterFactory, PayLinkApi } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import type { StagedFile } from '#core/table-sinks.ts';
import type { JsonValue } from '#core/types.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';

const steps = selectResources(resolveCatalog(), ['orders']).steps;
const parts = createParquetPartWriterFactory();
const reader = createParquetPartReader();
const clock = () => new Date('2026-11-25T12:00:00Z');
const LOAD = 'F1';
const USERS = Array.from({ length: 8 }, (_, i) => `${i % 2 === 0 ? 'a' : 'b'}${i}`);

/**
 * Orders whose new `amount` column batches type differently (double in one, text in another):
 * the commit rewrites a batch's parts before any merge, so the hand-off must carry that decision.
 */
function api(): PayLinkApi {
  const orders = (id: string): JsonValue[] =>
    id.startsWith('a')
      ? [{ _id: `${id}-1`, amount: 5 }]
      : [
          { _id: `${id}-1`, amount: 'N/A' },
          { _id: `${id}-2`, amount: 2.5 },
        ];
  return {
    async openSession(identifier) {
      return { getJson: async () => ({ orders: orders(identifier) }) };
    },
    stats: () => ({ requests: 0, retries: 0 }),
  };
}

let dirs: string[] = [];
beforeEach(() => {
  dirs = [];
});
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A lake with the load planned in batches of 2 users and every batch staged, not committed. */
async function stagedLake(): Promise<ObjectStore> {
  const dir = await mkdtemp(join(tmpdir(), 'merge-fan-out-'));
  dirs.push(dir);
  const store = createLocalStore(dir);
  await planLoad(
    {
      loadId: LOAD,
      startedAt: clock(),
      users: USERS.map((identifier) => ({ identifier })),
      batchSize: 2,
      resources: ['orders'],
    },
    store,
  );
  const p = await readPlan(store, LOAD);
  await Promise.all(
    Array.from({ length: p.batches }, async (_, batch) =>
      loadBatch(
        {
          loadId: LOAD,
          batch,
          dt: p.dt,
          startedAt: p.startedAt,
          users: await readBatchUsers(store, LOAD, batch),
          steps,
          // Each batch its own registry, as each load-batch Lambda reads the committed one.
          registry: await readCommittedSchema(store),
          concurrency: 2,
        },
        { api: api(), store, parts, clock },
      ),
    ),
  );
  return store;
}

/** A policy that hands off any merge (the stack's commitMergeSeconds = 0). */
const always: MergeFanOutPolicy = { remainingSeconds: () => 900, maxMergeSeconds: 0 };

async function rowsOf(store: ObjectStore, table: string) {
  const keys = (await store.list(`${table}/`)).filter((k) => k.endsWith('.parquet'));
  const files = await Promise.all(keys.map(async (k) => (await readParquet((await store.get(k))!)).rows));
  return {
    files: keys.length,
    rows: files.flat().sort((a, b) => String(a._dlt_id).localeCompare(String(b._dlt_id))),
  };
}

function handedOff(outcome: CommitOutcome) {
  if (!('handedOff' in outcome)) throw new Error('expected a hand-off, the commit committed');
  return outcome.handedOff;
}
function committed(outcome: CommitOutcome): LoadMarker {
  if (!('committed' in outcome)) throw new Error('expected a commit, the merge was handed off');
  return outcome.committed;
}

async function runItems(store: ObjectStore, deps: { parts?: PartWriterFactory } = {}) {
  const items = (await readJson<MergeItem[]>(store, mergeItemsKey(LOAD)))!;
  const results: Awaited<ReturnType<typeof mergeTask>>[] = [];
  for (const item of items)
    results.push(await mergeTask(item, { store, parts: deps.parts ?? parts, reader }));
  return results;
}

describe('a commit whose merge does not fit its invocation', () => {
  it('hands the merge off without publishing, and after the items the lake equals a one-call commit', async () => {
    const single = await stagedLake();
    const expected = await commitLoad(LOAD, { store: single, parts, reader, clock });

    const store = await stagedLake();
    const handOff = handedOff(
      await commitOrHandOff(LOAD, { store, parts, reader, clock, mergeFanOut: always }),
    );
    // Two partitions of several batches' parts: orders and user_loads, one item each, keys only.
    expect(handOff).toMatchObject({ loadId: LOAD, groups: 2, budgetSeconds: 0 });
    const items = (await readJson<MergeItem[]>(store, mergeItemsKey(LOAD)))!;
    expect(items.map((i) => i.table).sort()).toEqual(['orders', 'user_loads']);
    for (const item of items) expect(Object.keys(item).sort()).toEqual(['dt', 'loadId', 'slice', 'table']);
    // Nothing visible yet: no table file, no report, no commit point; the schema is decided.
    expect(await store.list('orders/')).toEqual([]);
    expect(await store.get(loadMarkerKey(LOAD))).toBeUndefined();
    expect(await store.get(dltLoadsKey(LOAD))).toBeUndefined();
    const decided = await readCommittedSchema(store);
    expect(decided.columns('orders').find((c) => c.name === 'amount')?.type).toBe('double');

    const merged = await runItems(store);
    expect(merged.every((g) => !g.reused && g.outputs === 1)).toBe(true);

    const log: (readonly MergedGroup[])[] = [];
    // The commit after the Map, with the same policy: nothing left to hand off, it publishes.
    const marker = committed(
      await commitOrHandOff(LOAD, {
        store,
        parts,
        reader,
        clock,
        mergeFanOut: always,
        onMerged: (groups) => log.push(groups),
      }),
    );
    expect(log[0]!.map((g) => [g.table, g.reused])).toEqual([
      ['orders', true],
      ['user_loads', true],
    ]);
    // The same schema version, the same changes reported, the same files and rows.
    expect((await readCommittedSchema(store)).version).toBe(decided.version);
    expect(marker.schemaVersion).toBe(expected.schemaVersion);
    expect(marker.schemaChanges).toEqual(expected.schemaChanges);
    expect(marker.rowsByTable).toEqual(expected.rowsByTable);
    expect(marker.files.map((f) => [f.key, f.rows])).toEqual(expected.files.map((f) => [f.key, f.rows]));
    for (const table of ['orders', 'user_loads']) {
      const got = await rowsOf(store, table);
      expect(got.files, table).toBe(1);
      expect(got.rows, table).toEqual((await rowsOf(single, table)).rows);
    }
    expect(await store.list(stagingPrefix(LOAD))).toEqual([]);
  });

  it('retries a crashed item to completion, and never publishes a partition half merged', async () => {
    const store = await stagedLake();
    handedOff(await commitOrHandOff(LOAD, { store, parts, reader, clock, mergeFanOut: always }));
    // The orders item dies while closing its merged file (a Lambda killed mid-write).
    const crashing: PartWriterFactory = {
      async open(s, key, columns) {
        const writer = await parts.open(s, key, columns);
        if (!key.includes('/merged/orders/')) return writer;
        return {
          ...writer,
          append: (row) => writer.append(row),
          rowsWritten: () => writer.rowsWritten(),
          abort: () => writer.abort(),
          close: async () => {
            throw new Error('Runtime exited: signal: killed');
          },
        };
      },
    };
    // Items run apart, as the Map's child executions do: one fails, the other merges.
    const items = (await readJson<MergeItem[]>(store, mergeItemsKey(LOAD)))!;
    const ordersItem = items.find((i) => i.table === 'orders')!;
    const first = await Promise.allSettled(
      items.map((item) => mergeTask(item, { store, parts: crashing, reader })),
    );
    expect(first.map((r, i) => [items[i]!.table, r.status])).toEqual(
      expect.arrayContaining([
        ['orders', 'rejected'],
        ['user_loads', 'fulfilled'],
      ]),
    );
    // No record for a merge that did not finish; the batches' parts are still the input.
    expect(
      await store.get(mergedGroupKey(LOAD, 'orders', clock().toISOString().slice(0, 10))),
    ).toBeUndefined();
    expect((await store.list(stagingPrefix(LOAD))).filter((k) => k.includes('/parts/orders/')).length).toBe(
      4,
    );

    // A commit reaching the publish now merges that partition itself instead of publishing half of it.
    const early = await stagedLake();
    handedOff(await commitOrHandOff(LOAD, { store: early, parts, reader, clock, mergeFanOut: always }));
    await mergeTask({ ...ordersItem, table: 'user_loads' }, { store: early, parts, reader });
    const log: (readonly MergedGroup[])[] = [];
    const marker = committed(
      await commitOrHandOff(LOAD, { store: early, parts, reader, clock, onMerged: (g) => log.push(g) }),
    );
    expect(log[0]!.map((g) => [g.table, g.reused])).toEqual([
      ['orders', false],
      ['user_loads', true],
    ]);
    expect(marker.rowsByTable.orders).toBe(12);
    expect((await rowsOf(early, 'orders')).files).toBe(1);

    // The retried item finishes; the commit after it reuses both partitions.
    expect(await mergeTask(ordersItem, { store, parts, reader })).toMatchObject({
      outputs: 1,
      reused: false,
    });
    const log2: (readonly MergedGroup[])[] = [];
    const final = committed(
      await commitOrHandOff(LOAD, {
        store,
        parts,
        reader,
        clock,
        mergeFanOut: always,
        onMerged: (g) => log2.push(g),
      }),
    );
    expect(log2[0]!.every((g) => g.reused)).toBe(true);
    expect(final.rowsByTable).toEqual(marker.rowsByTable);
    expect((await rowsOf(store, 'orders')).rows).toEqual((await rowsOf(early, 'orders')).rows);
  });

  it('gives the one-call lake whatever store write the hand-off, an item or the commit after them dies at, once that step runs again', async () => {
    const single = await stagedLake();
    const expected = await commitLoad(LOAD, { store: single, parts, reader, clock });
    const expectedRows = await Promise.all(['orders', 'user_loads'].map((t) => rowsOf(single, t)));
    const expectedRegistry = (await readCommittedSchema(single)).toJSON();

    /** The store, dying (a killed Lambda) at its `at`-th write: put, create, move, delete, or a stream's close. */
    const dying = (store: ObjectStore, at: number) => {
      let writes = 0;
      const write = () => {
        if (++writes === at) throw new Error(`killed at write ${at}`);
      };
      const wrapped: ObjectStore = {
        ...store,
        description: store.description,
        put: async (key, body) => {
          write();
          return store.put(key, body);
        },
        putIfAbsent: async (key, body) => {
          write();
          return store.putIfAbsent(key, body);
        },
        delete: async (keys) => {
          write();
          return store.delete(keys);
        },
        move: async (from, to) => {
          write();
          return store.move(from, to);
        },
        openWrite: async (key) => {
          const writer = await store.openWrite(key);
          return {
            ...writer,
            close: async () => {
              write();
              return writer.close();
            },
          };
        },
      };
      return { store: wrapped, writes: () => writes };
    };
    /** The deployed steps, each re-run once on the healthy store if it died (Step Functions' retry). */
    const steps = async (store: ObjectStore, healthy: ObjectStore) => {
      const once = async <T>(step: (s: ObjectStore) => Promise<T>) => {
        try {
          return await step(store);
        } catch {
          // Killed (a real failure would fail again on the healthy store).
          return step(healthy);
        }
      };
      await once((s) => commitOrHandOff(LOAD, { store: s, parts, reader, clock, mergeFanOut: always }));
      const items = (await readJson<MergeItem[]>(healthy, mergeItemsKey(LOAD))) ?? [];
      for (const item of items) await once((s) => mergeTask(item, { store: s, parts, reader }));
      // The commit after the Map (afterMerge): no fan-out policy, it merges whatever is left itself.
      return once((s) => commitOrHandOff(LOAD, { store: s, parts, reader, clock }));
    };

    // How many writes a whole fanned-out commit makes, then a death at each one of them.
    const clean = await stagedLake();
    const counting = dying(clean, 0);
    committed(await steps(counting.store, clean));
    const total = counting.writes();
    expect(total).toBeGreaterThan(10);
    for (let at = 1; at <= total; at++) {
      const store = await stagedLake();
      const marker = committed(await steps(dying(store, at).store, store));
      expect(marker.rowsByTable, `died at write ${at}`).toEqual(expected.rowsByTable);
      // The registry is the one-call commit's, and so is the report's list of changes, even when
      // the death fell between the schema claim and the hand-off document: the re-run finds the
      // changes claimed already, and reports them from the record the claim left.
      const registry = await readCommittedSchema(store);
      expect(registry.toJSON(), `died at write ${at}`).toEqual(expectedRegistry);
      expect(marker.schemaChanges, `died at write ${at}`).toEqual(expected.schemaChanges);
      expect(marker.schemaVersion, `died at write ${at}`).toBe(expected.schemaVersion);
      const got = await Promise.all(['orders', 'user_loads'].map((t) => rowsOf(store, t)));
      expect(got, `died at write ${at}`).toEqual(expectedRows);
      // Committed (a death at the staging clean-up after the commit point leaves staging that
      // `verify --fix` removes, as for any commit).
      expect(await store.get(dltLoadsKey(LOAD)), `died at write ${at}`).toBeDefined();
    }
  }, 120_000);

  it('hands off only what is left when a commit that chose to merge itself ran out of time and runs again', async () => {
    const store = await stagedLake();
    // The first attempt's estimate fit, but its Lambda ended while user_loads was being merged.
    const timedOut: ObjectStore = {
      ...store,
      description: store.description,
      openWrite: async (key) => {
        const writer = await store.openWrite(key);
        if (!key.includes('/merged/user_loads/')) return writer;
        return { ...writer, close: () => Promise.reject(new Error('Task timed out after 900 s')) };
      },
    };
    const roomy: MergeFanOutPolicy = { remainingSeconds: () => 900 };
    await expect(
      commitOrHandOff(LOAD, { store: timedOut, parts, reader, clock, mergeFanOut: roomy }),
    ).rejects.toThrow();
    // The retry finds orders merged and estimates user_loads alone, which no longer fits.
    const handOff = handedOff(
      await commitOrHandOff(LOAD, { store, parts, reader, clock, mergeFanOut: always }),
    );
    expect(handOff.groups).toBe(1);
    expect((await readJson<MergeItem[]>(store, mergeItemsKey(LOAD)))!.map((i) => i.table)).toEqual([
      'user_loads',
    ]);
  });

  it('commits in one call, writing no hand-off, when the merge fits the budget', async () => {
    const store = await stagedLake();
    const roomy: MergeFanOutPolicy = { remainingSeconds: () => 900 };
    const marker = committed(
      await commitOrHandOff(LOAD, { store, parts, reader, clock, mergeFanOut: roomy }),
    );
    expect(marker.rowsByTable.orders).toBe(12);
    expect(await store.get(dltLoadsKey(LOAD))).toBeDefined();
  });

  it('refuses an item whose task the commit did not write, naming it', async () => {
    const store = await stagedLake();
    const item = { loadId: LOAD, table: 'orders', dt: '2026-11-25' };
    await expect(mergeTask(item, { store, parts, reader })).rejects.toThrow(
      `no merge task for orders dt=2026-11-25 (${mergeTaskKey(LOAD, 'orders', '2026-11-25')})`,
    );
  });
});

describe('a partition too large for one merge Map item', () => {
  // 1 row a second against 8 s: the orders (12 rows in 4 batches' parts: the plan puts the `a`
  // users, 1 order each, in batches 0-1 and the `b` users, 2 each, in batches 2-3) are cut in 2
  // slices of 2 parts, the 8 user_loads rows fit one. A local commit (no slicing) merges whole.
  const slicing: MergeSlicing = { maxSeconds: 8, rowsPerSecond: 1, bytesPerSecond: 1e12 };
  const dt = clock().toISOString().slice(0, 10);

  it('is merged by one item per contiguous slice of its parts, each into its own files; a retried item redoes only its slice', async () => {
    const single = await stagedLake();
    const whole = await commitLoad(LOAD, { store: single, parts, reader, clock });
    expect(whole.files.filter((f) => f.table === 'orders')).toHaveLength(1);

    const store = await stagedLake();
    const handOff = handedOff(
      await commitOrHandOff(LOAD, { store, parts, reader, clock, mergeFanOut: always, slicing }),
    );
    expect(handOff).toMatchObject({ groups: 3, partitions: 2 });
    const items = (await readJson<MergeItem[]>(store, mergeItemsKey(LOAD)))!;
    expect(items.map((i) => [i.table, i.slice]).sort()).toEqual([
      ['orders', 0],
      ['orders', 1],
      ['user_loads', 0],
    ]);
    // Contiguous runs of the partition's parts in (batch, part) order: batches 0-1, then 2-3.
    const batchesOf = async (slice: number) =>
      (await readJson<MergeWork>(store, mergeTaskKey(LOAD, 'orders', dt, slice)))!.inputs.map(
        (f) => f.stagedKey.split('/batches/')[1]!.split('/')[0],
      );
    expect(await batchesOf(0)).toEqual(['00000', '00001']);
    expect(await batchesOf(1)).toEqual(['00002', '00003']);

    // The orders' second slice dies while closing its merged file; the other items merge.
    const crashing: PartWriterFactory = {
      async open(s, key, columns) {
        const writer = await parts.open(s, key, columns);
        if (!key.includes(`/merged/orders/dt=${dt}/${LOAD}.00001.`)) return writer;
        return { ...writer, close: () => Promise.reject(new Error('Runtime exited: signal: killed')) };
      },
    };
    const first = await Promise.allSettled(
      items.map((item) => mergeTask(item, { store, parts: crashing, reader })),
    );
    expect(first.map((r, i) => `${items[i]!.table}.${items[i]!.slice}: ${r.status}`).sort()).toEqual([
      'orders.0: fulfilled',
      'orders.1: rejected',
      'user_loads.0: fulfilled',
    ]);
    expect(await store.get(mergedGroupKey(LOAD, 'orders', dt, 0))).toBeDefined();
    expect(await store.get(mergedGroupKey(LOAD, 'orders', dt, 1))).toBeUndefined();
    // The retry of the failed item merges its slice; the first slice's item, run again, merges nothing.
    const retried = items.find((i) => i.table === 'orders' && i.slice === 1)!;
    expect(await mergeTask(retried, { store, parts, reader })).toMatchObject({ slice: 1, reused: false });
    const again = items.find((i) => i.table === 'orders' && i.slice === 0)!;
    expect(await mergeTask(again, { store, parts, reader })).toMatchObject({ slice: 0, reused: true });

    // The commit after the Map cuts the same slices and publishes what the items merged.
    const log: (readonly MergedGroup[])[] = [];
    const marker = committed(
      await commitOrHandOff(LOAD, { store, parts, reader, clock, slicing, onMerged: (g) => log.push(g) }),
    );
    expect(log[0]!.map((g) => [g.table, g.slices, g.reused])).toEqual([
      ['orders', 2, true],
      ['user_loads', 1, true],
    ]);
    expect(marker.files.filter((f) => f.table === 'orders').map((f) => [f.key, f.rows])).toEqual([
      [`orders/dt=${dt}/${LOAD}.00000.0000.parquet`, 4],
      [`orders/dt=${dt}/${LOAD}.00001.0000.parquet`, 8],
    ]);
    expect(marker.rowsByTable).toEqual(whole.rowsByTable);
    for (const table of ['orders', 'user_loads'])
      expect((await rowsOf(store, table)).rows, table).toEqual((await rowsOf(single, table)).rows);
    expect(await store.list(stagingPrefix(LOAD))).toEqual([]);
  });

  it('is merged in the same slices by a commit that merges itself, whether it hands off or not', async () => {
    const viaMap = await stagedLake();
    handedOff(
      await commitOrHandOff(LOAD, { store: viaMap, parts, reader, clock, mergeFanOut: always, slicing }),
    );
    await runItems(viaMap);
    const mapped = committed(await commitOrHandOff(LOAD, { store: viaMap, parts, reader, clock, slicing }));
    const direct = await stagedLake();
    const roomy: MergeFanOutPolicy = { remainingSeconds: () => 900 };
    const itself = committed(
      await commitOrHandOff(LOAD, { store: direct, parts, reader, clock, mergeFanOut: roomy, slicing }),
    );
    expect(itself.files.map((f) => [f.key, f.rows])).toEqual(mapped.files.map((f) => [f.key, f.rows]));
    expect(itself.files.filter((f) => f.table === 'orders')).toHaveLength(2);
  });
});

describe('sliceInputs', () => {
  const part = (batch: number, rows: number): StagedFile => ({
    table: 't',
    dt: '2026-11-25',
    finalKey: `t/dt=2026-11-25/L.${String(batch).padStart(5, '0')}.0000.parquet`,
    stagedKey: `s${batch}`,
    rows,
    bytes: rows * 10,
  });
  const at = { rowsPerSecond: 1, bytesPerSecond: 1e12 };

  it('keeps a partition whole when it fits, or without slicing', () => {
    const inputs = [part(0, 3), part(1, 3)];
    expect(sliceInputs(inputs, undefined)).toEqual([inputs]);
    expect(sliceInputs(inputs, { ...at, maxSeconds: 6 })).toEqual([inputs]);
  });

  it('cuts the fewest contiguous slices within the limit, balanced, and the same every time', () => {
    // 10 parts of 10 rows at 1 row/s against 40 s: 3 slices of ~33 s, none a small remainder.
    const inputs = Array.from({ length: 10 }, (_, b) => part(b, 10));
    const slices = sliceInputs(inputs, { ...at, maxSeconds: 40 });
    expect(slices.map((s) => s.length)).toEqual([3, 4, 3]);
    expect(slices.flat()).toEqual(inputs);
    expect(sliceInputs(inputs, { ...at, maxSeconds: 40 })).toEqual(slices);
    // Uneven parts: every slice within the limit.
    const uneven = [5, 30, 2, 9, 25, 1, 14, 8].map((rows, b) => part(b, rows));
    for (const s of sliceInputs(uneven, { ...at, maxSeconds: 35 }))
      expect(s.reduce((n, f) => n + f.rows, 0)).toBeLessThanOrEqual(35);
  });
});

describe('the merge budget', () => {
  const work = (rows: number, bytes: number): MergeWork => ({
    table: 't',
    dt: '2026-11-25',
    inputs: [{ table: 't', dt: '2026-11-25', finalKey: 'k', stagedKey: 's', rows, bytes }],
    columns: [],
    minFileBytes: 1,
  });

  it('estimates by the slower of rows and bytes at the given throughput', () => {
    const throughput = { rowsPerSecond: 1000, bytesPerSecond: 1_000_000 };
    expect(estimateMergeSeconds([work(5000, 1_000_000)], throughput)).toBe(5);
    expect(estimateMergeSeconds([work(1000, 3_000_000), work(1000, 1_000_000)], throughput)).toBe(4);
  });

  it("is a share of the invocation's remaining time after the publish reserve, capped by the config", () => {
    const remaining = 900;
    const share = (remaining - MERGE_BUDGET.reserveSeconds) * MERGE_BUDGET.share;
    expect(mergeBudgetSeconds({ remainingSeconds: () => remaining })).toBe(share);
    expect(mergeBudgetSeconds({ remainingSeconds: () => remaining, maxMergeSeconds: 10 })).toBe(10);
    expect(mergeBudgetSeconds({ remainingSeconds: () => 60 })).toBe(0);
    expect(mergeBudgetSeconds({ remainingSeconds: () => Number.POSITIVE_INFINITY })).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});
