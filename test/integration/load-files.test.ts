/**
 * Files sized for Athena (issue 11's Done-when): a 10,000-user load of every default resource
 * (19 tables and user_loads), in 20 batches of 500, leaves one file per table partition (the
 * batches' parts merged at commit), every row of the load in it, and the load report lists the
 * files per table. Rows are the cost (parquetjs-lite encodes each twice, staged and merged), so
 * one user in four is served a lean world (every list cut to its first item: ~19 rows instead
 * of ~45) and the others nothing linked: about 5 data rows and 6 user_loads rows per user. A
 * second load, 400 users, serves the world as drawn, every row of it, through the same checks.
 * Parts are encoded as the CLI encodes them (cliPartWriters: parquetjs-lite in a worker thread,
 * its heap capped), staging and merge alike. The loader's whole core runs (plan, batches,
 * commit, into a local lake read back with DuckDB); PayLink is the simulated world answered
 * in-process, without HTTP (bench/lib/in-process-api.ts). The HTTP path is load-cli's and the
 * simulator tests'.
 */
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { cliPartWriters } from '#cli/load-command.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { runLoad } from '#core/run-load.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import type { UserData } from '#simulator/world-types.ts';
import { DEFAULT_RESOURCES, type DefaultResource, expectedTableCounts } from '#test/helpers/expected-rows.ts';
import { Scratch, tableCounts, withLake } from '#test/helpers/lake-harness.ts';
import { createInProcessApi } from '../../bench/lib/in-process-api.ts';

const SEED = 'files-seed';
const BATCHES = 20;

/**
 * Each user's world with every list cut to its first item (accounts, their bills, actions and
 * history, orders and their items, ...): about one row per table and user, while every table
 * still gets rows (checked against the world as drawn below). What a batch's parts and the merge
 * do per file does not depend on the rows per user; their number is the cost.
 */
function lean(data: UserData): UserData {
  const firstOnly = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.slice(0, 1).map(firstOnly);
    if (value !== null && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, firstOnly(v)]));
    return value;
  };
  const accounts = firstOnly(data.accounts) as UserData['accounts'];
  const kept = new Set(accounts.map((a) => a._id));
  return {
    ...data,
    accounts,
    actionHistory: Object.fromEntries(
      Object.entries(data.actionHistory)
        .filter(([accountId]) => kept.has(accountId))
        .map(([accountId, entries]) => [accountId, firstOnly(entries) as UserData['actionHistory'][string]]),
    ),
    orders: firstOnly(data.orders) as UserData['orders'],
    suggestions: firstOnly(data.suggestions) as UserData['suggestions'],
    recurringFinancialTransactions: firstOnly(data.recurringFinancialTransactions) as UserData['orders'],
    mostRecentFinancialTransaction: firstOnly(
      data.mostRecentFinancialTransaction,
    ) as UserData['mostRecentFinancialTransaction'],
  };
}

/** A user PayLink knows with nothing linked: every feed answers empty. */
function noData(data: UserData): UserData {
  return {
    ...data,
    accounts: [],
    actionHistory: {},
    orders: [],
    suggestions: [],
    recurringFinancialTransactions: [],
    mostRecentFinancialTransaction: null,
  };
}

describe(`a load in ${BATCHES} batches`, () => {
  let scratch: Scratch;
  beforeAll(async () => {
    scratch = await Scratch.create('files');
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  async function loadAndCheck(
    users: number,
    resources: readonly DefaultResource[],
    shape: (data: UserData, identifier: string) => UserData = (data) => data,
  ): Promise<void> {
    const identifiers = generateIdentifiers(SEED, users);
    const dest = scratch.path(`lake-${users}-${resources.length}`);
    // Each user's world as served (and, for the first 1,000, as drawn), kept as the load draws
    // it: the expected rows come from the same worlds instead of drawing them all again.
    const drawnKept = new Set(identifiers.slice(0, 1000));
    const worlds = new Map<string, { drawn?: UserData; served: UserData }>();
    const served = (data: UserData, identifier: string) => {
      const world = {
        ...(drawnKept.has(identifier) ? { drawn: data } : {}),
        served: shape(data, identifier),
      };
      worlds.set(identifier, world);
      return world.served;
    };
    const marker = await runLoad(
      {
        loadId: 'files',
        startedAt: new Date('2026-11-30T03:00:00Z'),
        users: identifiers.map((identifier) => ({ identifier })),
        resources: selectResources(resolveCatalog(), resources),
        batchSize: users / BATCHES,
        concurrency: 16,
      },
      {
        api: createInProcessApi(SEED, { shape: served }),
        store: createLocalStore(dest),
        // The CLI's writer, chosen as the CLI chooses it with no PAYLINK_PARQUET_WRITER set.
        parts: cliPartWriters({}),
        reader: createParquetPartReader(),
        clock: () => new Date(),
      },
    );
    expect(marker.users).toBe(users);
    expect(marker.failedUserCount).toBe(0);

    const files = (await readdir(dest, { recursive: true }))
      .map(String)
      .filter((f) => f.endsWith('.parquet') && !f.startsWith('_'));
    const byFolder = new Map<string, number>();
    for (const f of files) {
      const folder = f.slice(0, f.lastIndexOf('/'));
      byFolder.set(folder, (byFolder.get(folder) ?? 0) + 1);
    }
    for (const [folder, n] of byFolder) expect(n, `files in ${folder}`).toBe(1);
    // One partition per table: the load's date.
    for (const folder of byFolder.keys())
      expect(folder.split('/').slice(1), folder).toEqual(['dt=2026-11-30']);

    // Every row of the load, read back by DuckDB through the committed-loads views.
    const counts = await withLake(dest, tableCounts);
    const worldOf = (id: string) => {
      const world = worlds.get(id);
      if (world === undefined) throw new Error(`the load never asked for ${id}`);
      return world;
    };
    const expected = expectedTableCounts(
      identifiers.map((id) => worldOf(id).served),
      resources,
    );
    // The world served (lean or not) still has every table the world as drawn has.
    const drawnTables = Object.keys(
      expectedTableCounts(
        identifiers.slice(0, 1000).map((id) => worldOf(id).drawn!),
        resources,
      ),
    ).sort();
    expect(Object.keys(expected).sort(), 'tables of the world served').toEqual(drawnTables);
    for (const [table, rows] of Object.entries(expected)) expect(counts[table], table).toBe(rows);
    expect(counts.user_loads).toBe(users * resources.length);
    // Every table the load wrote (user_loads included) has its partition, and only one.
    const tables = [...Object.keys(expected), 'user_loads'].sort();
    expect([...byFolder.keys()].map((folder) => folder.split('/')[0]).sort(), 'table partitions').toEqual(
      tables,
    );

    // The report lists each file with its table, rows and bytes.
    expect(marker.files).toHaveLength(byFolder.size);
    for (const f of marker.files) {
      expect(f.rows, f.key).toBe(counts[f.table]);
      expect(f.bytes, f.key).toBeGreaterThan(0);
    }
  }

  it('of 10,000 users and every default resource leaves one file per table partition holding every row, and reports files per table', async () => {
    // One user in four has data (lean), the others none: every batch of 500 still has 125 users
    // with data, so every table gets a part from each batch, for a quarter of the rows.
    const withData = new Set(generateIdentifiers(SEED, 10_000).filter((_, i) => i % 4 === 0));
    await loadAndCheck(10_000, DEFAULT_RESOURCES, (data, identifier) =>
      withData.has(identifier) ? lean(data) : noData(data),
    );
  }, 600_000);

  // The world as drawn, several items per list (list indexes past 0, many child rows per parent).
  it('of every default resource (400 users, every row the world draws) leaves one file per partition of each of its tables', async () => {
    await loadAndCheck(400, DEFAULT_RESOURCES);
  }, 240_000);
});
