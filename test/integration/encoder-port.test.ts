/**
 * The writer port holds another encoder (issue 11): the same load (every default resource, in
 * batches, so the commit merges each table partition's parts) runs through parquetjs-lite (the
 * product writer), @dsnp/parquetjs and hyparquet-writer (bench/lib/part-writers.ts), the last
 * also inside the worker-thread writer (parquet-worker-writer.ts, told which encoder to import). The merge
 * reads the parts back with the product reader (hyparquet) and re-encodes them with the
 * writer under test (CommitDeps.parts), so the parts and the merged files are both that
 * encoder's. Every file of the three lakes, `_dlt_loads` included, must hold the same columns
 * with the same DuckDB types and the same rows, value for value.
 */
import { readdir, readFile } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createWorkerPartWriterFactory } from '#adapters/parquet-worker-writer.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import type { LoadMarker } from '#core/commit.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import type { PartWriterFactory } from '#core/ports.ts';
import { runLoad } from '#core/run-load.ts';
import { generateIdentifiers, userData } from '#simulator/world.ts';
import { expectedTableCounts } from '#test/helpers/expected-rows.ts';
import { Scratch, tableCounts, withLake } from '#test/helpers/lake-harness.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';
import { createInProcessApi } from '../../bench/lib/in-process-api.ts';
import {
  createDsnpPartWriterFactory,
  createHyparquetPartWriterFactory,
} from '../../bench/lib/part-writers.ts';

const SEED = 'encoder-port';
const USERS = 240;
const BATCH_SIZE = 60;
const FIXED_NOW = new Date('2026-11-30T03:05:00Z');

async function load(dest: string, parts: PartWriterFactory): Promise<LoadMarker> {
  return runLoad(
    {
      loadId: 'encoders',
      startedAt: new Date('2026-11-30T03:00:00Z'),
      users: generateIdentifiers(SEED, USERS).map((identifier) => ({ identifier })),
      resources: selectResources(resolveCatalog()),
      batchSize: BATCH_SIZE,
      concurrency: 8,
    },
    {
      api: createInProcessApi(SEED),
      store: createLocalStore(dest),
      parts,
      reader: createParquetPartReader(),
      // One instant for every timestamp the load takes from its clock, so the lakes can be equal.
      clock: () => FIXED_NOW,
    },
  );
}

async function parquetFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }))
    .map(String)
    .filter((f) => f.endsWith('.parquet') && !f.startsWith('_staging'))
    .sort();
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;
const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;

describe('the Parquet writer port with another encoder behind it', () => {
  let scratch: Scratch;
  let instance: DuckDBInstance;
  let reference: { dest: string; marker: LoadMarker; files: string[] };
  beforeAll(async () => {
    scratch = await Scratch.create('encoders');
    instance = await DuckDBInstance.create(':memory:');
    const dest = scratch.path('parquetjs-lite');
    const marker = await load(dest, createParquetPartWriterFactory());
    reference = { dest, marker, files: await parquetFiles(dest) };
  }, 120_000);
  afterAll(async () => {
    instance?.closeSync();
    await scratch?.dispose();
  });

  it('the parquetjs-lite load is whole: every table, one file per table partition', async () => {
    expect(reference.marker.failedUserCount).toBe(0);
    const tables = reference.files.filter((f) => !f.startsWith('_'));
    const folders = new Set(tables.map((f) => f.slice(0, f.lastIndexOf('/'))));
    expect(folders.size, 'one file per table partition').toBe(tables.length);
    const counts = await withLake(reference.dest, tableCounts);
    const identifiers = generateIdentifiers(SEED, USERS);
    const expected = expectedTableCounts(identifiers.map((id) => userData(SEED, id)));
    expect(Object.keys(expected).length).toBeGreaterThan(15);
    for (const [table, rows] of Object.entries(expected)) expect(counts[table], table).toBe(rows);
  });

  for (const [name, createdBy, factory] of [
    ['@dsnp/parquetjs', '@dsnp/parquetjs', () => createDsnpPartWriterFactory()],
    ['hyparquet-writer', 'hyparquet-writer', async () => createHyparquetPartWriterFactory()],
    // The worker-thread writer (the handlers' default) imports the encoder it is told to run.
    [
      'hyparquet-writer in the encoding worker thread',
      'hyparquet-writer',
      async () =>
        createWorkerPartWriterFactory({
          encoder: {
            module: new URL('../../bench/lib/part-writers.ts', import.meta.url).href,
            export: 'createHyparquetPartWriterFactory',
          },
        }),
    ],
  ] as const) {
    it(`${name}: the load, its commit and its merge leave the same files, columns, types and values as parquetjs-lite`, async () => {
      const dest = scratch.path(name.replace(/[@/ ]/g, '_'));
      const marker = await load(dest, await factory());
      expect(marker.failedUserCount).toBe(0);
      const files = await parquetFiles(dest);
      expect(files).toEqual(reference.files);

      let sawTimestamps = false;
      let sawVariants = false;
      const connection = await instance.connect();
      try {
        for (const file of files) {
          const a = sqlString(`${reference.dest}/${file}`);
          const b = sqlString(`${dest}/${file}`);
          const describe = async (f: string) =>
            Object.fromEntries(
              (await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${f})`))
                .getRows()
                .map((r) => [String(r[0]), String(r[1])]),
            );
          const types = await describe(a);
          expect(await describe(b), `${file}: columns and types`).toEqual(types);
          const columns = Object.keys(types).map(ident).join(', ');
          const from = (f: string) => `SELECT ${columns} FROM read_parquet(${f})`;
          const diff = await connection.runAndReadAll(
            `SELECT (SELECT count(*) FROM read_parquet(${a})), (SELECT count(*) FROM read_parquet(${b})), ` +
              `(SELECT count(*) FROM ((${from(a)} EXCEPT ALL ${from(b)}) UNION ALL (${from(b)} EXCEPT ALL ${from(a)})))`,
          );
          const [rowsA, rowsB, differing] = diff.getRows()[0]!.map(Number);
          expect({ rows: rowsB, differing }, file).toEqual({ rows: rowsA, differing: 0 });

          // The Parquet types themselves (what Glue and Athena are told), not only DuckDB's reading.
          const [pa, pb] = await Promise.all(
            [`${reference.dest}/${file}`, `${dest}/${file}`].map(async (p) => readParquet(await readFile(p))),
          );
          expect(pb!.columns, `${file}: Parquet schema`).toEqual(pa!.columns);
          // Written by the encoder under test, merged files included, not copied from a part.
          expect([pa!.createdBy, pb!.createdBy], file).toEqual(['parquet.js', createdBy]);
          if (Object.values(types).includes('TIMESTAMP')) sawTimestamps = true;
          if (Object.keys(types).some((c) => c.includes('__v_'))) sawVariants = true;
        }
      } finally {
        connection.closeSync();
      }
      expect({ sawTimestamps, sawVariants }).toEqual({ sawTimestamps: true, sawVariants: true });
      expect(marker.files.map((f) => [f.key, f.rows])).toEqual(
        reference.marker.files.map((f) => [f.key, f.rows]),
      );
    }, 120_000);
  }
});
