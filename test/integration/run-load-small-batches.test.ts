import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { DEFAULTS } from '#core/constants.ts';
import { StoreError } from '#core/errors.ts';
import { batchManifestKey, stagedPartsPrefix } from '#core/layout.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { type RunLoadInput, runLoad } from '#core/run-load.ts';
import { readParquetFile } from '#test/helpers/read-parquet.ts';

const LOAD_ID = 'small-batches';
const BATCHES = 6;
const USERS = Array.from({ length: BATCHES * 2 }, (_, i) => ({
  identifier: `u${String(i).padStart(2, '0')}`,
}));
const LAST_USER = USERS.at(-1)!.identifier;
/** Each staged part's close is slowed by this much: a batch (3 parts) stages in 3 times that. */
const PART_CLOSE_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One order per user, every request taking 5 ms. Records when users start, and the time no
 * request was in flight between the first request and the last: what a barrier between
 * batches costs the rate. `events` has each user's start in order, and what the lake adds.
 */
function timedApi(
  hold?: { from: string; until: Promise<void> },
  slow?: { users: readonly string[]; ms: number },
) {
  const started: string[] = [];
  const events: string[] = [];
  let requests = 0;
  let inFlight = 0;
  let quietSince: number | undefined;
  let quietMs = 0;
  const request = async <T>(identifier: string, run: () => T): Promise<T> => {
    requests++;
    if (inFlight++ === 0 && quietSince !== undefined) quietMs += performance.now() - quietSince;
    try {
      await sleep(slow?.users.includes(identifier) ? slow.ms : 5);
      return run();
    } finally {
      if (--inFlight === 0) quietSince = performance.now();
    }
  };
  const api: PayLinkApi = {
    async openSession(identifier) {
      events.push(`start ${identifier}`);
      if (hold !== undefined && identifier >= hold.from) await hold.until;
      return request(identifier, () => {
        started.push(identifier);
        return {
          getJson: () =>
            request(identifier, () => ({
              orders: [{ id: `o-${identifier}`, total: 1, items: [{ sku: 'a' }] }],
            })),
        };
      });
    },
    stats: () => ({ requests, retries: 0 }),
  };
  return { api, started, events, quiet: () => quietMs };
}

interface LakeFaults {
  /** Batch 0's parts wait until the last user has started (or 5 s have passed). */
  readonly holdFirst?: boolean;
  /** This batch's first staged part fails to close (a full disk); `failed` is told. */
  readonly failBatch?: number;
  readonly failed?: () => void;
  /**
   * Users from this one on wait before their first request until a second after the failure
   * (the run learns of it once the failed part is abandoned, a few ms later).
   */
  readonly holdFrom?: string;
  /** The failed batch's other parts take this long each to abandon (a slow lake's deletes). */
  readonly abortMs?: number;
  /** These users' requests take `ms` each, not 5 ms. */
  readonly slowUsers?: { users: readonly string[]; ms: number };
}

/**
 * The local lake, with every staged part's close slowed by PART_CLOSE_MS, and `faults`. Records
 * each batch's staging as the time from its first part's close to its manifest, and counts writes.
 */
function slowStore(dir: string, api: ReturnType<typeof timedApi>, faults: LakeFaults) {
  const local = createLocalStore(dir);
  let writes = 0;
  const stagingFrom = new Map<number, number>();
  const staging: { batch: number; from: number; to: number }[] = [];
  let batch0ReleasedAfterLastUser: boolean | undefined;
  const batchOf = (key: string) =>
    Array.from({ length: BATCHES }, (_, b) => b).find((b) => key.startsWith(stagedPartsPrefix(LOAD_ID, b)));
  const store: ObjectStore = {
    ...local,
    description: local.description,
    async put(key, body) {
      writes++;
      for (let b = 0; b < BATCHES; b++)
        if (key === batchManifestKey(LOAD_ID, b))
          staging.push({ batch: b, from: stagingFrom.get(b)!, to: performance.now() });
      await local.put(key, body);
    },
    async openWrite(key) {
      writes++;
      const writer = await local.openWrite(key);
      const batch = batchOf(key);
      if (batch === undefined) return writer;
      let failedHere = false;
      return {
        ...writer,
        async abort() {
          if (batch === faults.failBatch && !failedHere) await sleep(faults.abortMs ?? 0);
          await writer.abort();
          // The failed part's own clean-up is part of its failure: the run learns of it after.
          if (failedHere) api.events.push(`batch ${batch} failed part abandoned`);
        },
        async close() {
          writes++;
          if (!stagingFrom.has(batch)) stagingFrom.set(batch, performance.now());
          if (batch === faults.failBatch) {
            api.events.push(`batch ${batch} failed`);
            faults.failed?.();
            failedHere = true;
            throw new StoreError(key, 'write failed: no space left on device');
          }
          if (faults.holdFirst === true && batch === 0 && batch0ReleasedAfterLastUser === undefined) {
            const deadline = performance.now() + 5_000;
            while (!api.started.includes(LAST_USER) && performance.now() < deadline) await sleep(10);
            batch0ReleasedAfterLastUser = api.started.includes(LAST_USER);
          }
          await sleep(PART_CLOSE_MS);
          await writer.close();
        },
      };
    },
  };
  return {
    store,
    staging,
    batch0ReleasedAfterLastUser: () => batch0ReleasedAfterLastUser,
    writes: () => writes,
    /** Each batch's staging, in ms from the first one's start. */
    timeline: () => {
      const origin = Math.min(...staging.map((s) => s.from));
      return [...staging]
        .sort((a, b) => a.batch - b.batch)
        .map((s) => `${s.batch}: ${(s.from - origin).toFixed(0)}-${(s.to - origin).toFixed(0)}`)
        .join(', ');
    },
    /** The most batches staging at the same time. */
    mostAtOnce: () =>
      Math.max(...staging.map((s) => staging.filter((o) => o.from < s.to && s.from < o.to).length)),
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-load-small-batches-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(dir: string, faults: LakeFaults, extra: Partial<RunLoadInput> = {}) {
  let failed!: () => void;
  const until = new Promise<void>((resolve) => {
    failed = () => void sleep(1_000).then(() => resolve());
  });
  const api = timedApi(
    faults.holdFrom === undefined ? undefined : { from: faults.holdFrom, until },
    faults.slowUsers,
  );
  faults = { ...faults, failed };
  const lake = slowStore(dir, api, faults);
  const marker = runLoad(
    {
      loadId: LOAD_ID,
      startedAt: new Date('2026-11-25T12:00:00Z'),
      users: USERS,
      resources: selectResources(resolveCatalog(), ['orders']),
      batchSize: 2,
      concurrency: 2,
      ...extra,
    },
    {
      api: api.api,
      store: lake.store,
      parts: createParquetPartWriterFactory(),
      reader: createParquetPartReader(),
      clock: () => new Date('2026-11-25T12:00:00Z'),
    },
  );
  return { api, lake, marker };
}

describe('small batches against a slow lake', () => {
  it("keep requests going while earlier batches stage: the last batch's users load before the first batch is staged", async () => {
    const run = await load(dir, { holdFirst: true });
    const { api, lake } = run;
    const marker = await run.marker;
    const seen = `batches staging (ms from the first): ${lake.timeline()}; no request in flight ${api.quiet().toFixed(0)} ms`;

    // Batch 0's parts waited for the last user: they were let go because it started, not by the
    // 5 s timeout (one batch staging at a time held every later batch behind batch 0).
    expect(lake.batch0ReleasedAfterLastUser(), seen).toBe(true);
    // No request waited on the lake at a batch boundary: the time with none in flight is below
    // what staging one batch took (3 parts of 250 ms); one batch at a time waited 5 s on batch 0
    // and about 750 ms at every later boundary (about 8 s in all).
    expect(api.quiet(), seen).toBeLessThan(3 * PART_CLOSE_MS);
    expect(lake.mostAtOnce(), seen).toBeGreaterThan(1);
    // Every batch staged as a whole, and the load committed every user once.
    expect(lake.staging.map((s) => s.batch).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(marker.users).toBe(USERS.length);
    expect(marker.rowsByTable.orders).toBe(USERS.length);
    const orders = marker.files.filter((f) => f.table === 'orders');
    const rows = (await Promise.all(orders.map((f) => readParquetFile(join(dir, f.key))))).flatMap(
      (c) => c.rows,
    );
    expect(rows.map((r) => r.id).sort()).toEqual(USERS.map((u) => `o-${u.identifier}`));
  }, 30_000);

  it('stage one batch at a time when the buffered byte budget holds no more than one', async () => {
    // A budget of one estimated byte: any batch fills it, so none stages beside another.
    const run = await load(dir, {}, { limits: { ...DEFAULTS.parquet, bufferedBytesBudget: 1 } });
    const { lake } = run;
    const marker = await run.marker;

    expect(lake.mostAtOnce(), lake.timeline()).toBe(1);
    expect(lake.staging.map((s) => s.batch).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(marker.users).toBe(USERS.length);
  }, 30_000);

  it('stop at a failed staging: no user starts after it, the batches staging beside it finish first, and what was staged is kept', async () => {
    // Users of batch 3 on wait for the failure: the loop is still loading when it comes, and
    // batch 4's would start as batch 3's last users finish, if the run did not stop.
    const { api, lake, marker } = await load(dir, { failBatch: 1, holdFrom: USERS[6]!.identifier });

    await expect(marker).rejects.toThrow(/no space left on device/);
    // Users already started finish; none starts after the failure (once the failed part is
    // abandoned: the error comes out of its close after that clean-up, a few ms).
    const failedAt = api.events.indexOf('batch 1 failed part abandoned');
    expect(failedAt, api.events.join(', ')).toBeGreaterThan(0);
    expect(api.events.slice(failedAt + 1), api.events.join(', ')).toEqual([]);
    const after = lake.writes();
    // Nothing of the run writes once it has failed: every batch staging had finished.
    await sleep(3 * PART_CLOSE_MS);
    expect(lake.writes()).toBe(after);
    expect(api.started.length).toBeLessThan(USERS.length);
    // Batch 0 staged before (its manifest is kept for a resume); batch 1 never wrote one.
    const staged = lake.staging.map((s) => s.batch);
    expect(staged).toContain(0);
    expect(staged).not.toContain(1);
    const local = createLocalStore(dir);
    expect(await local.get(batchManifestKey(LOAD_ID, 0))).toBeDefined();
    expect(await local.get(batchManifestKey(LOAD_ID, 1))).toBeUndefined();
  }, 30_000);

  it('stop when a staging fails, not once its parts are abandoned: no user starts while a slow lake deletes them', async () => {
    // Batch 1's first part fails at once while batch 2's users (u04, u05) are still loading;
    // abandoning its other two parts takes 1.5 s each. The slots u04 and u05 free would start
    // batch 3's users meanwhile.
    const { api, lake, marker } = await load(dir, {
      failBatch: 1,
      abortMs: 1_500,
      slowUsers: { users: ['u04', 'u05'], ms: 250 },
    });

    await expect(marker).rejects.toThrow(/no space left on device/);
    const failedAt = api.events.indexOf('batch 1 failed part abandoned');
    expect(failedAt, api.events.join(', ')).toBeGreaterThan(0);
    expect(api.events.slice(failedAt + 1), api.events.join(', ')).toEqual([]);
    expect(api.started).not.toContain('u06');
    // The run returned after the parts were abandoned: nothing of it writes later.
    const after = lake.writes();
    await sleep(3 * PART_CLOSE_MS);
    expect(lake.writes()).toBe(after);
  }, 30_000);
});
