/**
 * Files sized for Athena: a 10,000-user load in 20 batches leaves one file per table partition
 * (the batches' parts merged at commit), every row of the load in it, and the load report lists
 * the files per table. The loader's whole core runs (plan, batches, commit, into a local lake
 * read back with DuckDB); PayLink is the simulated world answered in-process, without HTTP
 * (bench/lib/in-process-api.ts), so 20,000 requests fit the suite's time. The HTTP path is
 * load-cli's and the simulator tests'.
 */
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { runLoad } from '#core/run-load.ts';
import { generateIdentifiers, userData } from '#simulator/world.ts';
import { expectedTableCounts } from '#test/helpers/expected-rows.ts';
import { Scratch, tableCounts, withLake } from '#test/helpers/lake-harness.ts';
import { createInProcessApi } from '../../bench/lib/in-process-api.ts';

const SEED = 'files-seed';
const USERS = 10_000;
const BATCH_SIZE = 500;

describe(`a ${USERS.toLocaleString('en')}-user load in ${USERS / BATCH_SIZE} batches`, () => {
  let scratch: Scratch;
  beforeAll(async () => {
    scratch = await Scratch.create('files');
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  it('leaves one file per table partition holding every row, and reports files per table', async () => {
    const identifiers = generateIdentifiers(SEED, USERS);
    const dest = scratch.path('lake');
    const marker = await runLoad(
      {
        loadId: 'ten-k',
        startedAt: new Date('2026-11-30T03:00:00Z'),
        users: identifiers.map((identifier) => ({ identifier })),
        resources: selectResources(resolveCatalog(), ['suggestions']),
        batchSize: BATCH_SIZE,
        concurrency: 16,
      },
      {
        api: createInProcessApi(SEED),
        store: createLocalStore(dest),
        parts: createParquetPartWriterFactory(),
        reader: createParquetPartReader(),
        clock: () => new Date(),
      },
    );
    expect(marker.users).toBe(USERS);
    expect(marker.failedUserCount).toBe(0);

    const files = (await readdir(dest, { recursive: true }))
      .map(String)
      .filter((f) => f.endsWith('.parquet') && !f.startsWith('_'));
    const byFolder = new Map<string, number>();
    for (const f of files) {
      const folder = f.slice(0, f.lastIndexOf('/'));
      byFolder.set(folder, (byFolder.get(folder) ?? 0) + 1);
    }
    expect(byFolder.size, 'table partitions').toBeGreaterThanOrEqual(2);
    for (const [folder, n] of byFolder) expect(n, `files in ${folder}`).toBe(1);

    // Every row of the load, read back by DuckDB through the committed-loads views.
    const counts = await withLake(dest, tableCounts);
    const expected = expectedTableCounts(
      identifiers.map((id) => userData(SEED, id)),
      ['suggestions'],
    );
    for (const [table, rows] of Object.entries(expected)) expect(counts[table], table).toBe(rows);
    expect(counts.user_loads).toBe(USERS);

    // The report lists each file with its table, rows and bytes.
    expect(marker.files).toHaveLength(byFolder.size);
    for (const f of marker.files) {
      expect(f.rows, f.key).toBe(counts[f.table]);
      expect(f.bytes, f.key).toBeGreaterThan(0);
    }
  }, 240_000);
});
