/**
 * The commit's merge of wide rows within a constrained heap (issue 11, the wide-row out of
 * memory). Four partitions of wide rows (12 fields of 320 characters: ~3.9 KB a row) are merged
 * at once, as the commit does, through the worker-thread writer whose worker has a small heap.
 * Under the former rows-only rule each merged file's row group took every row (under the
 * 10,000-row cap) and the four groups together outgrew the worker's heap; with the byte rule the
 * four writers share a byte budget (lowered here with the heap, as the commit's is sized for its
 * Lambda) and the merge completes. The merged data must equal the staged data, through DuckDB.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createWorkerPartWriterFactory } from '#adapters/parquet-worker-writer.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { partKey, stagedPartKey } from '#core/layout.ts';
import { mergeParts } from '#core/merge-parts.ts';
import type { ObjectStore } from '#core/ports.ts';
import { SchemaRegistry } from '#core/schema-registry.ts';
import type { StagedFile } from '#core/table-sinks.ts';
import type { ColumnDef } from '#core/types.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';

const DT = '2026-11-25';
const TABLES = ['accounts', 'accounts__identities', 'orders', 'transactions'] as const;
const FIELDS = 12;
const VALUE_CHARS = 320;
/** Per table: 3 staged parts (batches) of 1,000 rows, ~11.5 MB of values in all. */
const PARTS = 3;
const ROWS = 1_000;
const COLUMNS: readonly ColumnDef[] = [
  { name: '_dlt_id', type: 'text' },
  { name: 'n', type: 'bigint' },
  ...Array.from({ length: FIELDS }, (_, i) => ({ name: `wide_${i}`, type: 'text' as const })),
];
/**
 * The encoding worker's old space. The four merged row groups of the rows-only rule (~11.5 MB of
 * values each, ~2.6x that in parquetjs-lite's buffers) cannot fit; four shares of the budget
 * below can.
 */
const WORKER_HEAP_MIB = 48;
/** The commit's budget scaled to the small heap as DEFAULTS.parquet's is to the commit's 336 MiB. */
const BYTES = { rowGroupBytes: 2 * 2 ** 20, bufferedBytesBudget: 6 * 2 ** 20, minRowGroupBytes: 2 ** 18 };

const registry = SchemaRegistry.fromJSON({
  formatVersion: 1,
  version: 1,
  tables: Object.fromEntries(TABLES.map((t) => [t, { columns: COLUMNS }])),
});

/** A distinct value per (row, field): nothing a dictionary or Snappy could fold away. */
const wideValue = (table: string, row: number, field: number) =>
  `${table}:${row}:${field}:`.padEnd(VALUE_CHARS, String.fromCharCode(97 + ((row + field) % 26)));

async function stage(store: ObjectStore, loadId: string): Promise<StagedFile[]> {
  const writers = createParquetPartWriterFactory();
  const staged: StagedFile[] = [];
  for (const table of TABLES)
    for (let batch = 0; batch < PARTS; batch++) {
      const finalKey = partKey({ table, dt: DT, loadId, batch, part: 0 });
      const stagedKey = stagedPartKey(finalKey, loadId, batch);
      const writer = await writers.open(store, stagedKey, COLUMNS);
      for (let r = 0; r < ROWS; r++) {
        const n = batch * ROWS + r;
        const row: Record<string, string | number> = { _dlt_id: `${table}-${n}`, n };
        for (let f = 0; f < FIELDS; f++) row[`wide_${f}`] = wideValue(table, n, f);
        await writer.append(row);
      }
      staged.push({ table, dt: DT, finalKey, stagedKey, ...(await writer.close()) });
    }
  return staged;
}

let dir: string;
let store: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'merge-wide-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('merging wide rows', () => {
  it('completes four merges at once in a small worker heap, and the merged rows equal the staged rows', async () => {
    const loadId = '1764000000000000';
    const staged = await stage(store, loadId);
    const parts = createWorkerPartWriterFactory({
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MIB },
    });
    const { files, merged } = await mergeParts(loadId, staged, registry, {
      store,
      parts,
      reader: createParquetPartReader(),
      rowGroupBytes: BYTES,
    });
    expect(merged.map((g) => [g.table, g.inputs, g.outputs])).toEqual(TABLES.map((t) => [t, PARTS, 1]));

    // Row groups closed by bytes, well before the 10,000-row cap: ~1.5 MiB shares of ~3.9 KB rows.
    for (const file of files) {
      const contents = await readParquet((await store.get(file.stagedKey))!);
      expect(contents.numRows).toBe(PARTS * ROWS);
      expect(contents.rowGroups, file.stagedKey).toBeGreaterThan(4);
    }

    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const sql = (key: string) => `'${join(dir, key).replaceAll("'", "''")}'`;
      for (const table of TABLES) {
        const from = staged.filter((f) => f.table === table).map((f) => sql(f.stagedKey));
        const to = files.filter((f) => f.table === table).map((f) => sql(f.stagedKey));
        const a = `SELECT * FROM read_parquet([${from.join(', ')}])`;
        const b = `SELECT * FROM read_parquet([${to.join(', ')}])`;
        const result = await connection.runAndReadAll(
          `SELECT (SELECT count(*) FROM (${a})), (SELECT count(*) FROM (${b})), ` +
            `(SELECT count(*) FROM ((${a} EXCEPT ALL ${b}) UNION ALL (${b} EXCEPT ALL ${a})))`,
        );
        const [stagedRows, mergedRows, differing] = result.getRows()[0]!.map(Number);
        expect({ table, mergedRows, differing }).toEqual({ table, mergedRows: stagedRows, differing: 0 });
        expect(stagedRows).toBe(PARTS * ROWS);
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }, 60_000);
});
