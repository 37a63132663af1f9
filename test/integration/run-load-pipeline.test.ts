import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { batchManifestKey, stagedPartsPrefix } from '#core/layout.ts';
import type { BatchManifest } from '#core/load-batch.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { runLoad } from '#core/run-load.ts';
import type { JsonValue } from '#core/types.ts';
import { readParquetFile } from '#test/helpers/read-parquet.ts';

/** An order per user; items of the second batch's users carry a field the first batch never saw. */
function fakeApi(onSession: (identifier: string) => void): PayLinkApi {
  let requests = 0;
  return {
    async openSession(identifier) {
      requests++;
      onSession(identifier);
      return {
        async getJson() {
          requests++;
          const late = identifier >= 'u2';
          const item: JsonValue = { sku: 'a', ...(late ? { coupon: 'X' } : {}) };
          const order: JsonValue = { id: `o-${identifier}`, total: 10, items: [item] };
          return { orders: [order] };
        },
      };
    },
    stats: () => ({ requests, retries: 0 }),
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-load-pipeline-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runLoad pipelines its batches', () => {
  it("loads the next batch's users while the previous batch's parts close, and each batch keeps its own columns", async () => {
    const local = createLocalStore(dir);
    const started: string[] = [];
    let secondBatchStarted: () => void = () => undefined;
    const secondBatch = new Promise<void>((resolve) => {
      secondBatchStarted = resolve;
    });
    /** The users started when batch 0's first part opened. */
    let startedWhenBatch0Closed: string[] | undefined;
    const manifests = new Map<string, BatchManifest>();
    const store: ObjectStore = {
      ...local,
      description: local.description,
      async put(key, body) {
        // Commit removes the staging: keep the manifests as they are written.
        if (key === batchManifestKey('pipelined', 0) || key === batchManifestKey('pipelined', 1))
          manifests.set(key, JSON.parse(String(body)) as BatchManifest);
        await local.put(key, body);
      },
      async openWrite(key) {
        // Batch 0's parts open only once batch 1 has typed u2's rows (u3 starts after that: one
        // user at a time), or after 3 s, and then the test fails. Its first part (`orders`) waits
        // here; its second (`orders__items`) gets its columns after that.
        if (key.startsWith(stagedPartsPrefix('pipelined', 0))) {
          await Promise.race([secondBatch, new Promise((r) => setTimeout(r, 3000))]);
          startedWhenBatch0Closed ??= [...started];
        }
        return local.openWrite(key);
      },
    };
    const api = fakeApi((identifier) => {
      started.push(identifier);
      if (identifier === 'u3') secondBatchStarted();
    });
    const marker = await runLoad(
      {
        loadId: 'pipelined',
        startedAt: new Date('2026-11-25T12:00:00Z'),
        users: ['u0', 'u1', 'u2', 'u3'].map((identifier) => ({ identifier })),
        resources: selectResources(resolveCatalog(), ['orders']),
        batchSize: 2,
        concurrency: 1,
      },
      {
        api,
        store,
        parts: createParquetPartWriterFactory(),
        reader: createParquetPartReader(),
        clock: () => new Date('2026-11-25T12:00:00Z'),
      },
    );

    expect(startedWhenBatch0Closed).toContain('u3');
    expect(marker.users).toBe(4);
    expect(marker.rowsByTable.orders).toBe(4);
    expect(marker.rowsByTable.orders__items).toBe(4);
    // Batch 0 was staged with the columns it had seen; `coupon` came with batch 1 only.
    const manifest0 = manifests.get(batchManifestKey('pipelined', 0));
    const manifest1 = manifests.get(batchManifestKey('pipelined', 1));
    const columns = (m: BatchManifest | undefined) =>
      m?.schema.tables.orders__items?.columns.map((c) => c.name) ?? [];
    expect(columns(manifest0)).not.toContain('coupon');
    expect(columns(manifest1)).toContain('coupon');
    const orders = marker.files.filter((f) => f.table === 'orders__items');
    const contents = await Promise.all(
      orders.map(async (f) => ({ key: f.key, ...(await readParquetFile(join(dir, f.key))) })),
    );
    const rows = contents.flatMap((c) => c.rows);
    expect(rows.map((r) => r.coupon ?? null).sort()).toEqual(['X', 'X', null, null]);
    // The commit merged both batches' parts (batch 0's without `coupon`) into one file.
    expect(contents).toHaveLength(1);
  });

  it("starts the next batch's first users while the last users of a batch finish, and counts every request once", async () => {
    const local = createLocalStore(dir);
    const events: string[] = [];
    let requests = 0;
    // Every response takes 20 ms; the last user of each batch makes three more requests than the
    // others (a slow user), so a batch ends with one user still loading and slots to spare.
    const api: PayLinkApi = {
      async openSession(identifier) {
        requests++;
        events.push(`start ${identifier}`);
        await new Promise((r) => setTimeout(r, 20));
        let calls = 0;
        return {
          async getJson() {
            requests++;
            calls++;
            const slow = identifier.endsWith('-3');
            if (slow && calls === 1)
              for (let i = 0; i < 3; i++) {
                requests++;
                await new Promise((r) => setTimeout(r, 20));
              }
            await new Promise((r) => setTimeout(r, 20));
            if (calls === 1) events.push(`end ${identifier}`);
            return { orders: [{ id: `o-${identifier}`, total: 1, items: [] }] };
          },
        };
      },
      stats: () => ({ requests, retries: 0 }),
    };
    const users = [0, 1, 2].flatMap((b) => [0, 1, 2, 3].map((u) => ({ identifier: `b${b}-${u}` })));
    const marker = await runLoad(
      {
        loadId: 'prefetched',
        startedAt: new Date('2026-11-25T12:00:00Z'),
        users,
        resources: selectResources(resolveCatalog(), ['orders']),
        batchSize: 4,
        concurrency: 3,
      },
      {
        api,
        store: local,
        parts: createParquetPartWriterFactory(),
        reader: createParquetPartReader(),
        clock: () => new Date('2026-11-25T12:00:00Z'),
      },
    );
    for (const b of [0, 1])
      expect(
        events.indexOf(`start b${b + 1}-0`),
        `batch ${b + 1} starts before batch ${b} ends`,
      ).toBeLessThan(events.indexOf(`end b${b}-3`));
    // Every user once, in the lake, and every request counted by exactly one batch.
    expect(events.filter((e) => e.startsWith('start'))).toHaveLength(12);
    expect(marker.users).toBe(12);
    expect(marker.rowsByTable.orders).toBe(12);
    expect(marker.requests).toBe(requests);
    const orders = marker.files.filter((f) => f.table === 'orders');
    const rows = (await Promise.all(orders.map((f) => readParquetFile(join(dir, f.key))))).flatMap(
      (c) => c.rows,
    );
    expect(rows.map((r) => r.id).sort()).toEqual(users.map((u) => `o-${u.identifier}`).sort());
  });
});
