/**
 * Merged files of at least the target size (issue 11: "files of at least 128 MB when a partition
 * is larger"), on a partition whose merged/staged ratio changes halfway: parts of text that does
 * not repeat (they merge to about their staged size) and many small parts of one repeated text
 * (each part mostly its own header and footer, which merge to almost nothing). The target is
 * scaled down (the merge's `minFileBytes`, as the commit's tests lower it) and the merged files'
 * row groups are small, so the partition makes several files.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createWorkerPartWriterFactory } from '#adapters/parquet-worker-writer.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { partKey, stagedPartKey } from '#core/layout.ts';
import { mergeParts } from '#core/merge-parts.ts';
import type { ObjectStore, PartWriterFactory } from '#core/ports.ts';
import { SchemaRegistry } from '#core/schema-registry.ts';
import type { StagedFile } from '#core/table-sinks.ts';
import type { ColumnDef } from '#core/types.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';

const TABLE = 'orders';
const DT = '2026-11-25';
/** Besides the two text columns, six always null: each adds to every part's footer. */
const COLUMNS: readonly ColumnDef[] = [
  { name: '_dlt_id', type: 'text' },
  { name: 'note', type: 'text' },
  ...Array.from({ length: 6 }, (_, i) => ({ name: `spare_${i}`, type: 'bigint' as const })),
];
/** The half that does not compress: 5 parts of 200 rows (~26 KB each). */
const RANDOM = { parts: 5, rows: 200 } as const;
/**
 * The half that does: 200 parts of 10 rows, each mostly its header and footer; they merge to a
 * fifth of their staged bytes. About 1.6 times the random half's staged bytes.
 */
const REPEATED = { parts: 200, rows: 10 } as const;
const TOTAL_ROWS = RANDOM.parts * RANDOM.rows + REPEATED.parts * REPEATED.rows;
/** Merged files' row groups: the bytes a file has written move every 100 rows. */
const ROW_GROUP_ROWS = 100;

const registry = SchemaRegistry.fromJSON({
  formatVersion: 1,
  version: 1,
  tables: { [TABLE]: { columns: COLUMNS } },
});
const reader = createParquetPartReader();

/** 120 characters that do not repeat (base64 of hashes): what Snappy cannot shrink much. */
function randomText(i: number): string {
  let text = '';
  for (let k = 0; text.length < 120; k++) text += createHash('sha256').update(`${i}.${k}`).digest('base64');
  return text.slice(0, 120);
}

/** Stages one part per batch, as the batches do, numbering rows across the partition. */
async function stage(store: ObjectStore, loadId: string, randomFirst: boolean): Promise<StagedFile[]> {
  const writers = createParquetPartWriterFactory();
  const halves = randomFirst ? [RANDOM, REPEATED] : [REPEATED, RANDOM];
  const staged: StagedFile[] = [];
  let i = 0;
  for (const half of halves)
    for (let p = 0; p < half.parts; p++) {
      const batch = staged.length;
      const finalKey = partKey({ table: TABLE, dt: DT, loadId, batch, part: 0 });
      const stagedKey = stagedPartKey(finalKey, loadId, batch);
      const writer = await writers.open(store, stagedKey, COLUMNS);
      for (let r = 0; r < half.rows; r++, i++)
        await writer.append({ _dlt_id: idOf(i), note: half === RANDOM ? randomText(i) : 'x'.repeat(120) });
      const { rows, bytes } = await writer.close();
      staged.push({ table: TABLE, dt: DT, finalKey, stagedKey, rows, bytes });
    }
  return staged;
}

const idOf = (i: number) => `id-${String(i).padStart(6, '0')}`;
const bytesOf = (files: readonly StagedFile[]) => files.reduce((n, f) => n + f.bytes, 0);

/**
 * The target: the random half's staged bytes make about 3.4 files of it. Sized so that the former
 * rule (a first file of target / 0.3 staged bytes, later ones of target / (0.8 x the measured
 * ratio)) ended its first file near the end of the random half and cut the repeated half, merged
 * to a few KB, into files far under the target.
 */
function targetOf(staged: readonly StagedFile[], randomFirst: boolean): number {
  const random = randomFirst ? staged.slice(0, RANDOM.parts) : staged.slice(-RANDOM.parts);
  return Math.floor(bytesOf(random) / 3.4);
}

let dir: string;
let store: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'merge-sizes-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function merge(loadId: string, staged: StagedFile[], parts: PartWriterFactory, minFileBytes: number) {
  const { files } = await mergeParts(loadId, staged, registry, { store, parts, reader, minFileBytes });
  return Promise.all(
    files.map(async (f) => ({
      ...f,
      ids: (await readParquet((await store.get(f.stagedKey))!)).rows.map((r) => r._dlt_id),
    })),
  );
}

describe('merged file sizes', () => {
  it('closes no file but the last under the target when later parts compress far better than the first', async () => {
    const staged = await stage(store, 'L1', true);
    const stagedBytes = bytesOf(staged);
    const minFileBytes = targetOf(staged, true);
    const files = await merge(
      'L1',
      staged,
      createParquetPartWriterFactory({ rowGroupRows: ROW_GROUP_ROWS }),
      minFileBytes,
    );
    console.info(
      `random then repeated: ${stagedBytes} B staged in ${staged.length} parts -> ${files.map((f) => f.bytes).join(', ')} B, target ${minFileBytes} B`,
    );
    expect(files.length).toBeGreaterThan(1);
    for (const f of files.slice(0, -1)) expect(f.bytes, f.finalKey).toBeGreaterThanOrEqual(minFileBytes);
    // The last one too here: the rest was estimated at the open file's own (lower) ratio, so the
    // repeated tail stayed in it instead of making a file of its own.
    expect(files.at(-1)!.bytes).toBeGreaterThanOrEqual(minFileBytes);
    // Every row once, in the parts' order.
    const expected = Array.from({ length: TOTAL_ROWS }, (_, i) => idOf(i));
    expect(files.flatMap((f) => f.ids)).toEqual(expected);
  });

  it('merges a partition whose first parts compress best into files that all reach the target', async () => {
    const staged = await stage(store, 'L2', false);
    const minFileBytes = targetOf(staged, false);
    const files = await merge(
      'L2',
      staged,
      createParquetPartWriterFactory({ rowGroupRows: ROW_GROUP_ROWS }),
      minFileBytes,
    );
    console.info(
      `repeated then random: ${bytesOf(staged)} B staged in ${staged.length} parts -> ${files.map((f) => f.bytes).join(', ')} B, target ${minFileBytes} B`,
    );
    for (const f of files) expect(f.bytes, f.finalKey).toBeGreaterThanOrEqual(minFileBytes);
    expect(files.flatMap((f) => f.ids).sort()).toEqual(Array.from({ length: TOTAL_ROWS }, (_, i) => idOf(i)));
  });

  it('cuts the same files whichever writer encodes them and however far behind its encoding runs', async () => {
    const staged = await stage(store, 'L3', true);
    const minFileBytes = targetOf(staged, true);
    const inThread = await merge(
      'L3',
      staged,
      createParquetPartWriterFactory({ rowGroupRows: ROW_GROUP_ROWS }),
      minFileBytes,
    );
    // The worker thread's encoding lags the rows by timing; the cut must not depend on it.
    await store.delete(await store.list('_staging/L3/merged/'));
    const inWorker = await merge(
      'L3',
      staged,
      createWorkerPartWriterFactory({ rowGroupRows: ROW_GROUP_ROWS }),
      minFileBytes,
    );
    expect(inWorker.map((f) => [f.finalKey, f.rows, f.bytes])).toEqual(
      inThread.map((f) => [f.finalKey, f.rows, f.bytes]),
    );
  });
});
