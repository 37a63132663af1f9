import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { BATCH_FAILED_CODE, commitLoad, type LoadMarker } from '#core/commit.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { ApiKeyRejectedError, PayLinkHttpError } from '#core/errors.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { batchManifestKey, loadMarkerKey, stagingPrefix } from '#core/layout.ts';
import { type BatchManifest, DEADLINE_CODE, loadBatch } from '#core/load-batch.ts';
import { planLoad, readBatchUsers, readPlan } from '#core/plan.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import type { JsonValue } from '#core/types.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';

/** A PayLink stand-in at the core's port: orders per user from a table, nothing else. */
function fakeApi(
  orders: (identifier: string) => JsonValue[],
  opts: { rejectKey?: boolean; failUser?: string } = {},
): PayLinkApi {
  let requests = 0;
  return {
    async openSession(identifier) {
      requests++;
      if (opts.rejectKey) throw new ApiKeyRejectedError(401);
      return {
        async getJson(request) {
          requests++;
          if (identifier === opts.failUser) throw new PayLinkHttpError(request.endpoint, 404, 40400);
          return { orders: orders(identifier) };
        },
      };
    },
    stats: () => ({ requests, retries: 0 }),
  };
}

const steps = selectResources(resolveCatalog(), ['orders']).steps;
const parts = createParquetPartWriterFactory();
const reader = createParquetPartReader();
const clock = () => new Date('2026-11-25T12:00:00Z');

let dir: string;
let store: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'commit-test-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function plan(loadId: string, users: string[], batchSize: number) {
  return planLoad(
    {
      loadId,
      startedAt: clock(),
      users: users.map((identifier) => ({ identifier })),
      batchSize,
      resources: ['orders'],
    },
    store,
  );
}

/** Runs one staged batch as a load-batch Lambda would: its own registry, read from the committed one. */
async function runBatch(
  loadId: string,
  batch: number,
  api: PayLinkApi,
  options: { concurrency?: number; deadline?: Date } = {},
) {
  const p = await readPlan(store, loadId);
  return loadBatch(
    {
      loadId,
      batch,
      dt: p.dt,
      startedAt: p.startedAt,
      users: await readBatchUsers(store, loadId, batch),
      steps,
      registry: await readCommittedSchema(store),
      concurrency: options.concurrency ?? 2,
      ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
    },
    { api, store, parts, clock },
  );
}

/** Runs every batch at once, as the Distributed Map does. */
async function runBatchesInParallel(loadId: string, api: PayLinkApi) {
  const p = await readPlan(store, loadId);
  await Promise.all(Array.from({ length: p.batches }, (_, batch) => runBatch(loadId, batch, api)));
}

async function parquetFiles(table: string) {
  const keys = (await store.list(`${table}/`)).filter((k) => k.endsWith('.parquet'));
  return Promise.all(keys.map(async (key) => ({ key, ...(await readParquet((await store.get(key))!)) })));
}

describe('commit', () => {
  it('gives a new column one Parquet type when parallel batches typed it differently', async () => {
    // Batch 0 types `amount` double; batch 1, on its own, types it text ("N/A" first, then "2.5").
    const api = fakeApi((id) =>
      id.startsWith('a')
        ? [{ _id: `${id}-1`, amount: 5 }]
        : [
            { _id: `${id}-1`, amount: 'N/A' },
            { _id: `${id}-2`, amount: 2.5 },
          ],
    );
    await plan('L1', ['a1', 'a2', 'b1', 'b2'], 2);
    await runBatchesInParallel('L1', api);
    const marker = await commitLoad('L1', { store, parts, reader, clock });

    const schema = await readCommittedSchema(store);
    const columns = Object.fromEntries(schema.columns('orders').map((c) => [c.name, c.type]));
    expect(columns.amount).toBe('double');
    expect(columns.amount__v_text).toBe('text');

    const files = await parquetFiles('orders');
    const typesOf = (name: string) =>
      new Set(files.flatMap((f) => f.columns.filter((c) => c.name === name).map((c) => c.physicalType)));
    expect(typesOf('amount')).toEqual(new Set(['DOUBLE']));
    const rows = files.flatMap((f) => f.rows);
    expect(rows).toHaveLength(6);
    expect(marker.rowsByTable.orders).toBe(6);
    const byId = Object.fromEntries(rows.map((r) => [r._id, r]));
    expect(byId['a1-1']?.amount).toBe(5);
    // Batch 1's "2.5" was text in its view; re-typed by the committed double column, it fits.
    expect(byId['b1-2']?.amount).toBe(2.5);
    expect(byId['b2-1']?.amount__v_text).toBe('N/A');
    expect(byId['b2-1']?.amount).toBeNull();
  });

  it('finishes on a second run after dying half-way through publishing', async () => {
    await plan('L2', ['u1', 'u2', 'u3', 'u4'], 1);
    await runBatchesInParallel(
      'L2',
      fakeApi((id) => [{ _id: `${id}-o`, amount: 1 }]),
    );
    let moves = 0;
    const flaky: ObjectStore = {
      ...store,
      description: store.description,
      async move(from, to) {
        if (++moves === 3) throw new Error('lambda timed out');
        return store.move(from, to);
      },
    };
    // One merged file per row (a tiny file size): enough moves for the third to fail.
    const minFileBytes = 1;
    await expect(commitLoad('L2', { store: flaky, parts, reader, clock, minFileBytes })).rejects.toThrowError(
      'lambda timed out',
    );
    expect(await store.get(loadMarkerKey('L2'))).toBeUndefined();

    const marker = await commitLoad('L2', { store, parts, reader, clock, minFileBytes });
    expect(marker.rowsByTable.orders).toBe(4);
    const rows = (await parquetFiles('orders')).flatMap((f) => f.rows);
    expect(rows.map((r) => r._id).sort()).toEqual(['u1-o', 'u2-o', 'u3-o', 'u4-o']);
    expect(await store.list(stagingPrefix('L2'))).toEqual([]);
  });

  it('records the users of a batch that never finished as failed, and commits the rest', async () => {
    await plan('L3', ['u1', 'u2', 'u3'], 1);
    // Only batches 0 and 2 run; batch 1 "crashed".
    for (const batch of [0, 2]) {
      await runBatch(
        'L3',
        batch,
        fakeApi((id) => [{ _id: `${id}-o` }]),
        { concurrency: 1 },
      );
    }
    const marker = await commitLoad('L3', { store, parts, reader, clock });
    expect(marker.missingBatches).toEqual([1]);
    expect(marker.failedUserCount).toBe(1);
    expect(marker.failedUsers).toEqual(['u2']);
    const loads = (await parquetFiles('user_loads')).flatMap((f) => f.rows);
    const u2 = loads.filter((r) => r.user_identifier === 'u2');
    expect(u2).toHaveLength(1);
    expect(u2[0]).toMatchObject({ resource: 'orders', status: 'failed', error_code: BATCH_FAILED_CODE });
    expect(loads.filter((r) => r.status === 'ok')).toHaveLength(2);
  });

  it('replaces a load id on re-run and removes the parts the new run no longer writes', async () => {
    const api = fakeApi((id) => [{ _id: `${id}-o`, amount: 1 }]);
    await plan('L4', ['u1', 'u2', 'u3', 'u4'], 1);
    await runBatchesInParallel('L4', api);
    // Merged files of one row each (a tiny file size), so the re-run writes fewer files.
    const minFileBytes = 1;
    const first: LoadMarker = await commitLoad('L4', { store, parts, reader, clock, minFileBytes });
    expect(first.files.filter((f) => f.table === 'orders')).toHaveLength(4);

    await plan('L4', ['u1', 'u2'], 1);
    await runBatchesInParallel('L4', api);
    const second = await commitLoad('L4', { store, parts, reader, clock, minFileBytes });
    expect(second.files.filter((f) => f.table === 'orders')).toHaveLength(2);
    const rows = (await parquetFiles('orders')).flatMap((f) => f.rows);
    expect(rows.map((r) => r._id).sort()).toEqual(['u1-o', 'u2-o']);
    const marker = await readJson<LoadMarker>(store, loadMarkerKey('L4'));
    expect(marker?.users).toBe(2);
  });

  it('fails a batch at once when PayLink rejects our API key, staging nothing as done', async () => {
    await plan('L5', ['u1', 'u2'], 2);
    await expect(
      runBatch(
        'L5',
        0,
        fakeApi(() => [], { rejectKey: true }),
      ),
    ).rejects.toBeInstanceOf(ApiKeyRejectedError);
    const staged = await store.list(stagingPrefix('L5'));
    expect(staged.filter((k) => k.endsWith('manifest.json') || k.endsWith('.parquet'))).toEqual([]);
  });

  it('stops starting users at the deadline and records them as not loaded', async () => {
    await plan('L6', ['u1', 'u2', 'u3'], 3);
    const manifest = await runBatch(
      'L6',
      0,
      fakeApi((id) => [{ _id: id }]),
      {
        concurrency: 1,
        deadline: new Date(clock().getTime() - 1),
      },
    );
    expect(manifest.deadlineSkipped).toBe(3);
    expect(manifest.failedUsers).toEqual(['u1', 'u2', 'u3']);
    const marker = await commitLoad('L6', { store, parts, reader, clock });
    const loads = (await parquetFiles('user_loads')).flatMap((f) => f.rows);
    expect(new Set(loads.map((r) => r.error_code))).toEqual(new Set([DEADLINE_CODE]));
    expect(marker.failedUserCount).toBe(3);
  });

  it('records a failing user and still loads the others', async () => {
    await plan('L7', ['u1', 'u2'], 2);
    await runBatchesInParallel(
      'L7',
      fakeApi((id) => [{ _id: `${id}-o` }], { failUser: 'u2' }),
    );
    const marker = await commitLoad('L7', { store, parts, reader, clock });
    expect(marker.failedUsers).toEqual(['u2']);
    const loads = (await parquetFiles('user_loads')).flatMap((f) => f.rows);
    expect(loads.find((r) => r.user_identifier === 'u2')).toMatchObject({
      status: 'failed',
      error_code: 'http_404',
      http_status: 404n,
    });
    expect((await parquetFiles('orders')).flatMap((f) => f.rows).map((r) => r._id)).toEqual(['u1-o']);
  });

  it('merges the endpoint findings of batches judged apart (one Lambda each) into one', async () => {
    const users = Array.from({ length: 9 }, (_, i) => `u${i}`);
    await plan('L8', users, 3);
    let calls = 0;
    // The orders path does not exist: 404 for everybody, while PayLink serves the users
    // elsewhere (the witness, /pay-link/accounts: a minted token alone is no evidence).
    const api: PayLinkApi = {
      async openSession() {
        return {
          async getJson(request) {
            calls++;
            if (request.endpoint === '/pay-link/accounts') return { accounts: [] };
            throw new PayLinkHttpError(request.endpoint, 404, 40400);
          },
        };
      },
      stats: () => ({ requests: calls, retries: 0 }),
    };
    await runBatchesInParallel('L8', api);
    const marker = await commitLoad('L8', { store, parts, reader, clock });
    expect(marker.failedUserCount).toBe(0);
    expect(marker.endpointFindings).toHaveLength(1);
    expect(marker.endpointFindings[0]).toMatchObject({
      resource: 'orders',
      code: 'http_404',
      evidenceUsers: 9,
      batches: [0, 1, 2],
    });
    const loads = (await parquetFiles('user_loads')).flatMap((f) => f.rows);
    expect(loads.map((r) => r.status)).toEqual(Array(9).fill('endpoint_unavailable'));
    const onDisk = await readJson<LoadMarker>(store, loadMarkerKey('L8'));
    expect(onDisk?.endpointFindings.map((f) => f.resource)).toEqual(['orders']);
  });

  /** /pay-link/orders is missing for everybody but `works` (whose orders load); the witness answers. */
  function missingOrdersApi(works?: string): PayLinkApi {
    let calls = 0;
    return {
      async openSession(identifier) {
        return {
          async getJson(request): Promise<JsonValue> {
            calls++;
            if (request.endpoint === '/pay-link/accounts') return { accounts: [] };
            if (identifier === works) return { orders: [{ _id: `${identifier}-o` }] };
            throw new PayLinkHttpError(request.endpoint, 404, 40400);
          },
        };
      },
      stats: () => ({ requests: calls, retries: 0 }),
    };
  }

  it('finds an endpoint unusable from the evidence of batches too small to judge alone, failing nobody', async () => {
    // Batches of 2 users (and a last one of 1): no Lambda sees the 3 evidence users a verdict needs.
    const users = ['u0', 'u1', 'u2', 'u3', 'u4'];
    await plan('L9', users, 2);
    await runBatchesInParallel('L9', missingOrdersApi());
    const staged = await readJson<BatchManifest>(store, batchManifestKey('L9', 2));
    expect(staged?.deferredUnits).toHaveLength(1);
    const marker = await commitLoad('L9', { store, parts, reader, clock });
    expect(marker.failedUserCount).toBe(0);
    expect(marker.failedUsers).toEqual([]);
    expect(marker.endpointFindings).toHaveLength(1);
    expect(marker.endpointFindings[0]).toMatchObject({
      resource: 'orders',
      code: 'http_404',
      evidenceUsers: 5,
      batches: [0, 1, 2],
    });
    expect(marker.endpointFindings[0]!.message).toContain('--resources');
    const loads = (await parquetFiles('user_loads')).flatMap((f) => f.rows);
    expect(loads.map((r) => [r.user_identifier, r.status]).sort()).toEqual(
      users.map((u) => [u, 'endpoint_unavailable']),
    );
    // The commit's rows are merged with the batches' into the load's one user_loads file.
    expect(marker.files.filter((f) => f.table === 'user_loads').map((f) => f.rows)).toEqual([5]);
  });

  it("fails the small batches' users when the endpoint worked for somebody in another batch", async () => {
    await plan('L10', ['u0', 'u1', 'u2', 'u3', 'u4'], 2);
    await runBatchesInParallel('L10', missingOrdersApi('u4'));
    const marker = await commitLoad('L10', { store, parts, reader, clock });
    expect(marker.endpointFindings).toEqual([]);
    expect(marker.failedUsers).toEqual(['u0', 'u1', 'u2', 'u3']);
    expect(marker.failedUserCount).toBe(4);
    const loads = (await parquetFiles('user_loads')).flatMap((f) => f.rows);
    expect(loads.map((r) => [r.user_identifier, r.status, r.error_code]).sort()).toEqual([
      ['u0', 'failed', 'http_404'],
      ['u1', 'failed', 'http_404'],
      ['u2', 'failed', 'http_404'],
      ['u3', 'failed', 'http_404'],
      ['u4', 'ok', null],
    ]);
  });

  it('fails the users when the batches together hold fewer evidence users than a verdict needs', async () => {
    await plan('L11', ['u0', 'u1'], 1);
    await runBatchesInParallel('L11', missingOrdersApi());
    const marker = await commitLoad('L11', { store, parts, reader, clock });
    expect(marker.endpointFindings).toEqual([]);
    expect(marker.failedUsers).toEqual(['u0', 'u1']);
  });
});

describe("merging the batches' parts at commit", () => {
  /** Orders whose fields vary by user: later users add a column, a misfit goes to a variant. */
  const varied = fakeApi((id) => {
    const n = Number(id.slice(1));
    return [
      {
        _id: `${id}-o`,
        amount: n % 4 === 3 ? 'n/a' : n + 0.25, // never a batch's first user: no re-typing at commit
        count: n,
        big: '12345678901234567890',
        placed_at: `2026-11-${String((n % 28) + 1).padStart(2, '0')}T10:00:00Z`,
        paid: n % 2 === 0,
        note: n % 3 === 0 ? null : `note ${n}`,
        ...(n >= 6 ? { late_field: `late ${n}` } : {}),
      },
    ];
  });

  /** Every row of every part under a prefix, by table, as a canonical sorted list. */
  async function rowsUnder(keys: readonly string[]) {
    const out: Record<string, string[]> = {};
    for (const key of keys.filter((k) => k.endsWith('.parquet'))) {
      const table = key.includes('/parts/') ? key.split('/parts/')[1]!.split('/')[0]! : key.split('/')[0]!;
      const { rows } = await readParquet((await store.get(key))!);
      for (const row of rows) {
        const canonical = Object.entries(row)
          .filter(([, v]) => v !== null && v !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => `${k}=${v instanceof Date ? v.toISOString() : String(v)}`)
          .join('|');
        const list = out[table] ?? [];
        list.push(canonical);
        out[table] = list;
      }
    }
    for (const table of Object.keys(out)) out[table]!.sort();
    return out;
  }

  it('leaves one file per table partition holding exactly the rows the batches staged, value for value', async () => {
    const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
    await plan('M1', users, 2);
    await runBatchesInParallel('M1', varied);
    const staged = await rowsUnder(await store.list(stagingPrefix('M1')));
    expect(Object.keys(staged).sort()).toEqual(['orders', 'user_loads']);

    const marker = await commitLoad('M1', { store, parts, reader, clock });
    const published = (await store.list('orders/')).concat(await store.list('user_loads/'));
    expect(published.filter((k) => k.startsWith('orders/'))).toHaveLength(1);
    expect(published.filter((k) => k.startsWith('user_loads/'))).toHaveLength(1);
    expect(await rowsUnder(published)).toEqual(staged);
    expect(marker.files.map((f) => [f.table, f.rows])).toEqual([
      ['orders', 10],
      ['user_loads', 10],
    ]);
    // Every column the registry has, in each merged file (the early batches lacked late_field).
    const columns = (await readParquet((await store.get(published[0]!))!)).columns.map((c) => c.name);
    expect(columns).toEqual(expect.arrayContaining(['late_field', 'amount__v_text', 'big']));
  });

  it('reuses the partitions an earlier attempt merged when the commit runs again (a timed-out Lambda)', async () => {
    await plan(
      'M3',
      Array.from({ length: 6 }, (_, i) => `u${i}`),
      2,
    );
    await runBatchesInParallel('M3', varied);
    const opened: string[] = [];
    const counting = {
      open: (s: ObjectStore, key: string, columns: Parameters<typeof parts.open>[2]) => {
        opened.push(key);
        return parts.open(s, key, columns);
      },
    };
    let moves = 0;
    const dies: ObjectStore = {
      ...store,
      description: store.description,
      async move(from, to) {
        if (++moves === 2) throw new Error('lambda timed out');
        return store.move(from, to);
      },
    };
    await expect(commitLoad('M3', { store: dies, parts: counting, reader, clock })).rejects.toThrow();
    const mergedFirst = opened.filter((k) => k.includes('/merged/'));
    expect(mergedFirst).toHaveLength(2); // orders and user_loads
    opened.length = 0;
    const marker = await commitLoad('M3', { store, parts: counting, reader, clock });
    expect(
      opened.filter((k) => k.includes('/merged/')),
      'nothing merged again',
    ).toEqual([]);
    expect(marker.rowsByTable.orders).toBe(6);
    expect((await parquetFiles('orders')).flatMap((f) => f.rows)).toHaveLength(6);
    expect(await store.list(stagingPrefix('M3'))).toEqual([]);
  });

  it('merges again when the inputs changed since the earlier attempt (a batch re-ran)', async () => {
    await plan(
      'M4',
      Array.from({ length: 4 }, (_, i) => `u${i}`),
      2,
    );
    await runBatchesInParallel('M4', varied);
    let moves = 0;
    const dies: ObjectStore = {
      ...store,
      description: store.description,
      async move(from, to) {
        if (++moves === 1) throw new Error('lambda timed out');
        return store.move(from, to);
      },
    };
    await expect(commitLoad('M4', { store: dies, parts, reader, clock })).rejects.toThrow();
    // Batch 1 runs again (a redriven Map item) and now serves one more order for u3.
    await runBatch(
      'M4',
      1,
      fakeApi((id) => (id === 'u3' ? [{ _id: 'u3-o' }, { _id: 'u3-extra' }] : [{ _id: `${id}-o` }])),
    );
    const marker = await commitLoad('M4', { store, parts, reader, clock });
    expect(marker.rowsByTable.orders).toBe(5);
    const ids = (await parquetFiles('orders')).flatMap((f) => f.rows).map((r) => r._id);
    expect(ids.sort()).toEqual(['u0-o', 'u1-o', 'u2-o', 'u3-extra', 'u3-o']);
  });

  it('splits a partition larger than the file size into files of at least that size, no row lost', async () => {
    // 40 users of 30 orders each, in 20 batches: 20 staged parts of 60 rows.
    const many = fakeApi((id) =>
      Array.from({ length: 30 }, (_, i) => ({
        _id: `${id}-o${i}`,
        amount: Number(id.slice(1)) * 100 + i + 0.25,
        status: ['placed', 'paid', 'shipped', 'refunded'][i % 4]!,
        merchant: `merchant ${(Number(id.slice(1)) * 7 + i) % 13}`,
        placed_at: `2026-11-${String((i % 28) + 1).padStart(2, '0')}T10:00:00Z`,
      })),
    );
    const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
    await plan('M2', users, 2);
    await runBatchesInParallel('M2', many);
    const staged = await rowsUnder(await store.list(stagingPrefix('M2')));
    const stagedOrders = (await store.list(stagingPrefix('M2'))).filter((k) => k.includes('/orders/'));
    let stagedBytes = 0;
    for (const key of stagedOrders) stagedBytes += (await store.get(key))!.byteLength;
    // A file size of a twelfth of the orders' staged bytes. Merged files are smaller than the
    // parts they hold (one dictionary and footer instead of twenty), so twelve files by the staged
    // bytes would each be under it.
    const minFileBytes = Math.floor(stagedBytes / 12);
    // A file closes by the bytes its whole row groups wrote: row groups scaled down with the target.
    const small = createParquetPartWriterFactory({ rowGroupRows: 100 });
    const marker = await commitLoad('M2', { store, parts: small, reader, clock, minFileBytes });
    const files = marker.files.filter((f) => f.table === 'orders');
    const mergedBytes = files.reduce((n, f) => n + f.bytes, 0);
    const ratio = mergedBytes / stagedBytes;
    console.info(
      `orders: ${stagedBytes} B staged in ${stagedOrders.length} parts -> ${mergedBytes} B merged (x${ratio.toFixed(2)}) in ${files.length} files of ${files.map((f) => f.bytes).join(', ')} B, target ${minFileBytes} B`,
    );
    // The premise: the staged bytes over-count the merged files.
    expect(mergedBytes / Math.floor(stagedBytes / minFileBytes)).toBeLessThan(minFileBytes);
    expect(files.length).toBeGreaterThan(1);
    for (const f of files) expect(f.bytes, f.key).toBeGreaterThanOrEqual(minFileBytes);
    expect(files.reduce((n, f) => n + f.rows, 0)).toBe(1200);
    expect((await rowsUnder(await store.list('orders/'))).orders?.sort()).toEqual(staged.orders?.sort());
  });
});

describe('load-batch typing order', () => {
  it('types a new column by its values at commit, not by the first user in order or the first to finish', async () => {
    // u0 answers last and is first in order; its amount is text, every later user's is a number.
    const slowFirst: PayLinkApi = {
      async openSession(identifier) {
        return {
          async getJson() {
            await new Promise((r) => setTimeout(r, identifier === 'u0' ? 80 : 1));
            return { orders: [{ _id: `${identifier}-o`, amount: identifier === 'u0' ? 'N/A' : 7 }] };
          },
        };
      },
      stats: () => ({ requests: 0, retries: 0 }),
    };
    await plan('L8', ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'], 6);
    const manifest = await runBatch('L8', 0, slowFirst, { concurrency: 6 });
    // The batch counts what its values were (the numbers fit its text column, yet are staged as
    // numbers, apart); the commit settles the type from the counts and re-types the batch's part.
    expect(manifest.newColumns?.orders?.amount).toMatchObject({ kinds: { text: 1, double: 5 }, apart: 5 });
    await commitLoad('L8', { store, parts, reader, clock });
    const columns = Object.fromEntries(
      (await readCommittedSchema(store)).columns('orders').map((c) => [c.name, c.type]),
    );
    expect(columns).toMatchObject({ amount: 'double', amount__v_text: 'text' });
    const rows = (await parquetFiles('orders')).flatMap((f) => f.rows);
    const byId = Object.fromEntries(rows.map((r) => [r._id, r]));
    expect(byId['u0-o']).toMatchObject({ amount: null, amount__v_text: 'N/A' });
    expect(byId['u5-o']).toMatchObject({ amount: 7, amount__v_text: null });
  });
});

describe('concurrent commits', () => {
  it('lets a commit that lost the schema-version race redo its merge on the winner, one type per column', async () => {
    // Load A types `x` double; load B (staged before A committed) types `x` text.
    await plan('A', ['a1'], 1);
    await runBatchesInParallel(
      'A',
      fakeApi(() => [{ _id: 'a', x: 1, only_a: true }]),
    );
    await plan('B', ['b1'], 1);
    await runBatchesInParallel(
      'B',
      fakeApi(() => [{ _id: 'b', x: 'text', only_b: 'yes' }]),
    );

    let raced = false;
    const racing: ObjectStore = {
      ...store,
      description: store.description,
      async putIfAbsent(key, body) {
        if (!raced) {
          raced = true;
          // A commits between B's read of the registry and B's claim of the next version.
          await commitLoad('A', { store, parts, reader, clock });
        }
        return store.putIfAbsent(key, body);
      },
    };
    const b = await commitLoad('B', { store: racing, parts, reader, clock });
    expect(raced).toBe(true);

    const schema = await readCommittedSchema(store);
    expect(schema.version).toBe(2);
    expect(b.schemaVersion).toBe(2);
    const columns = Object.fromEntries(schema.columns('orders').map((c) => [c.name, c.type]));
    expect(columns).toMatchObject({ x: 'double', x__v_text: 'text', only_a: 'bool', only_b: 'text' });

    const files = await parquetFiles('orders');
    const xTypes = new Set(
      files.flatMap((f) => f.columns.filter((c) => c.name === 'x').map((c) => c.physicalType)),
    );
    expect(xTypes).toEqual(new Set(['DOUBLE']));
    const rows = Object.fromEntries(files.flatMap((f) => f.rows).map((r) => [r._id, r]));
    expect(rows.a?.x).toBe(1);
    expect(rows.b?.x__v_text).toBe('text');
  });

  it("moves the values a batch staged apart into a new column another load committed with the batch's type", async () => {
    // Load B (staged before A committed) has `x` new: its double column holds 2, and "12.50"
    // waits in x__v_text for the load to settle the type. A commits `x` double first.
    await plan('A', ['a1'], 1);
    await runBatchesInParallel(
      'A',
      fakeApi(() => [{ _id: 'a', x: 1 }]),
    );
    await plan('B', ['b1'], 1);
    await runBatchesInParallel(
      'B',
      fakeApi(() => [
        { _id: 'b1', x: 2 },
        { _id: 'b2', x: '12.50' },
      ]),
    );
    await commitLoad('A', { store, parts, reader, clock });
    await commitLoad('B', { store, parts, reader, clock });

    // As in a load that found `x` committed: "12.50" fits the double column, so it is there.
    const columns = (await readCommittedSchema(store)).columns('orders').map((c) => c.name);
    expect(columns).not.toContain('x__v_text');
    const rows = Object.fromEntries(
      (await parquetFiles('orders')).flatMap((f) => f.rows).map((r) => [r._id, r]),
    );
    expect(rows.b1?.x).toBe(2);
    expect(rows.b2?.x).toBe(12.5);
  });

  it('never lets a second writer claim a schema version that exists', async () => {
    expect(await store.putIfAbsent('_schema/versions/000001.json', '{"v":1}')).toBe(true);
    expect(await store.putIfAbsent('_schema/versions/000001.json', '{"v":"other"}')).toBe(false);
    expect(new TextDecoder().decode(await store.get('_schema/versions/000001.json'))).toBe('{"v":1}');
    expect((await store.list('_schema/')).filter((k) => k.includes('.tmp'))).toEqual([]);
  });
});
