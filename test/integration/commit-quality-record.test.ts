/**
 * The commit records its quality judgement in the load's report (`_loads/<id>.json`): the quiet
 * feeds (`quietFeeds`, with the median each was judged by and since which load) and the feed
 * tables it judged (`judgedFeeds`). Through the real commit on a local lake: three loads of
 * the same series, orders at 10 a user and then none, each judged as the deployed commit and
 * the CLI judge it (the earlier loads' reports read back from the lake), and each report read
 * back after its commit. A judgement that throws does not stop the commit, and the report then
 * records no judgement (the next load reads it as "not judged").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { commitLoad, type LoadMarker } from '#core/commit.ts';
import { committedLoadIds } from '#core/committed-loads.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { loadIdFromTime, loadMarkerKey } from '#core/layout.ts';
import { loadBatch } from '#core/load-batch.ts';
import { planLoad, readBatchUsers, readPlan } from '#core/plan.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import {
  loadSignals,
  QUALITY_DEFAULTS,
  type QualityRecord,
  qualityRecord,
  readEarlierLoads,
} from '#core/quality.ts';
import { readJson } from '#core/store-json.ts';

const steps = selectResources(resolveCatalog(), ['orders']).steps;
const parts = createParquetPartWriterFactory();
const reader = createParquetPartReader();
const users = ['u1', 'u2', 'u3', 'u4', 'u5'];

/** PayLink at the core's port: `perUser` orders for every user. */
function ordersApi(perUser: number): PayLinkApi {
  let requests = 0;
  return {
    async openSession(identifier) {
      requests++;
      return {
        async getJson() {
          requests++;
          return {
            orders: Array.from({ length: perUser }, (_, i) => ({ _id: `${identifier}-${i}`, total: 10 })),
          };
        },
      };
    },
    stats: () => ({ requests, retries: 0 }),
  };
}

let dir: string;
let store: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'commit-quality-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The judgement the deployed commit and `load` make: the earlier loads read from the lake. */
async function realJudge(draft: LoadMarker): Promise<QualityRecord> {
  const { loads } = await readEarlierLoads(store, draft, QUALITY_DEFAULTS);
  return qualityRecord(loadSignals(draft, loads, QUALITY_DEFAULTS).tables);
}

/**
 * Load `day` (of November 2026) of the `daily` schedule, `perUser` orders a user, committed with
 * `judge`; returns the load id.
 */
async function load(
  day: number,
  perUser: number,
  judge: (draft: LoadMarker) => Promise<QualityRecord | undefined>,
): Promise<string> {
  const startedAt = new Date(Date.UTC(2026, 10, day, 3));
  const loadId = loadIdFromTime(startedAt);
  const clock = () => new Date(startedAt.getTime() + 10 * 60_000);
  await planLoad(
    {
      loadId,
      startedAt,
      users: users.map((identifier) => ({ identifier })),
      batchSize: users.length,
      resources: ['orders'],
      schedule: 'daily',
      usersSelection: 'all',
    },
    store,
  );
  const p = await readPlan(store, loadId);
  await loadBatch(
    {
      loadId,
      batch: 0,
      dt: p.dt,
      startedAt: p.startedAt,
      users: await readBatchUsers(store, loadId, 0),
      steps,
      registry: await readCommittedSchema(store),
      concurrency: 2,
    },
    { api: ordersApi(perUser), store, parts, clock },
  );
  await commitLoad(loadId, { store, parts, reader, clock, judge });
  return loadId;
}

const reportOf = async (loadId: string) => (await readJson<LoadMarker>(store, loadMarkerKey(loadId)))!;

describe('the committed report records the judgement', () => {
  it('over three loads: nothing to judge by at first, then the third, empty, judged quiet', async () => {
    const first = await load(1, 10, realJudge);
    const second = await load(2, 10, realJudge);
    const third = await load(3, 0, realJudge);

    const [r1, r2, r3] = await Promise.all([first, second, third].map(reportOf));
    expect(r1!.rowsByTable.orders).toBe(50);
    // No earlier load, then one (fewer than minTrailingLoads, 2): judged nothing, and says so.
    expect({ quietFeeds: r1!.quietFeeds, judgedFeeds: r1!.judgedFeeds }).toEqual({
      quietFeeds: [],
      judgedFeeds: [],
    });
    expect({ quietFeeds: r2!.quietFeeds, judgedFeeds: r2!.judgedFeeds }).toEqual({
      quietFeeds: [],
      judgedFeeds: [],
    });
    // The third: no orders where 50 were expected.
    expect(r3!.rowsByTable.orders ?? 0).toBe(0);
    expect(r3!.judgedFeeds).toEqual(['orders']);
    expect(r3!.quietFeeds).toEqual([
      { table: 'orders', rows: 0, trailingMedian: 50, trailingLoads: 2, since: third },
    ]);
    expect(r3!.newLevelFeeds).toBeUndefined();
    expect(await committedLoadIds(store)).toEqual(new Set([first, second, third]));
  });

  it('a judgement that throws: the load still commits, and its report records no judgement', async () => {
    const first = await load(1, 10, realJudge);
    const second = await load(2, 10, realJudge);
    const third = await load(3, 0, async () => {
      throw new Error('S3 ListObjectsV2 failed');
    });

    expect(await committedLoadIds(store)).toEqual(new Set([first, second, third]));
    const r3 = await reportOf(third);
    expect(r3.rowsByTable.orders ?? 0).toBe(0);
    // Neither key: the feeds were not judged (an empty list would say judged, and none quiet).
    expect(Object.hasOwn(r3, 'quietFeeds')).toBe(false);
    expect(Object.hasOwn(r3, 'judgedFeeds')).toBe(false);

    // The next load, still empty, is judged quiet against the loads that had orders: the
    // unjudged third neither cleared a flag nor counts as one.
    const fourth = await load(4, 0, realJudge);
    const r4 = await reportOf(fourth);
    expect(r4.judgedFeeds).toEqual(['orders']);
    expect(r4.quietFeeds).toEqual([
      expect.objectContaining({ table: 'orders', rows: 0, trailingMedian: 50 }),
    ]);
  });

  it('records the tables whose lower level the judgement accepted (newLevelFeeds), and none when none', async () => {
    const accepted = await load(1, 10, async () => ({
      quietFeeds: [],
      judgedFeeds: ['orders'],
      newLevelFeeds: ['orders'],
    }));
    expect((await reportOf(accepted)).newLevelFeeds).toEqual(['orders']);
    const plain = await load(2, 10, async () => ({ quietFeeds: [], judgedFeeds: ['orders'] }));
    expect(Object.hasOwn(await reportOf(plain), 'newLevelFeeds')).toBe(false);
  });
});
