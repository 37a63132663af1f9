/**
 * Files sized for Athena: at commit, the parts every batch staged for one table and partition
 * are merged into one file, or, when the partition's data is larger, into files of at least
 * `MERGED_FILE_MIN_BYTES` each. Without it every batch leaves one part per table: 10k users at
 * batch size 500 gave 20 files of ~70 KB per table per load, ~1,900x below the 128 MB Athena's
 * performance guidance asks for ("Top 10 Performance Tuning Tips for Amazon Athena": avoid files
 * much smaller than 128 MB), and every query opened all of them.
 *
 * Streamed: rows are copied `READ_CHUNK_ROWS` at a time through one open writer per merged
 * file, so memory is one staged part's bytes, one chunk and one row group, whatever the load's
 * size. Values are copied as written (no re-typing): the parts were typed by the committed
 * registry already (commit rewrites those that disagreed). Deterministic: inputs in (batch,
 * part) order, output keys a function of the load id, so a commit that dies and runs again
 * writes the same files.
 */
import { LakeStateError } from './errors.ts';
import {
  mergedGroupKey,
  mergedPartKey,
  parsePartKey,
  partitionPrefix,
  partKey,
  stagingPrefix,
} from './layout.ts';
import { forEachConcurrent } from './pool.ts';
import type { ObjectStore, PartReader, PartWriterFactory } from './ports.ts';
import type { SchemaRegistry } from './schema-registry.ts';
import { readJson, writeJson } from './store-json.ts';
import type { StagedFile } from './table-sinks.ts';
import type { ColumnDef } from './types.ts';

/** Athena's guidance: files of at least 128 MB (a partition with less data is one file). */
export const MERGED_FILE_MIN_BYTES = 128 * 1024 * 1024;
/** Rows decoded at a time from a staged part. */
const READ_CHUNK_ROWS = 10_000;
/** Tables merged at once: overlaps one table's store I/O with another's encoding. */
const MERGE_CONCURRENCY = 4;

export interface MergeDeps {
  readonly store: ObjectStore;
  readonly parts: PartWriterFactory;
  readonly reader: PartReader;
  /** Bytes a merged file reaches before the next starts (tests lower it); default MERGED_FILE_MIN_BYTES. */
  readonly minFileBytes?: number;
}

/** What the merge did to one table's partition, for the load report. */
export interface MergedGroup {
  readonly table: string;
  readonly dt: string;
  readonly inputs: number;
  readonly outputs: number;
  /** Merged by an earlier attempt or by a Map item (merge-fan-out.ts), not by this call. */
  readonly reused: boolean;
}

/**
 * One table partition's merge, whole: its staged parts in merge order and the columns they are
 * written with. Everything a merge depends on, so whoever runs it (this commit, a later attempt,
 * a Map item of merge-fan-out.ts) writes the same files.
 */
export interface MergeWork {
  readonly table: string;
  readonly dt: string;
  /** In (batch, part) order. */
  readonly inputs: readonly StagedFile[];
  readonly columns: readonly ColumnDef[];
  readonly minFileBytes: number;
}

/** The staged files by (table, dt), in the input's order. */
function byPartition(files: readonly StagedFile[]): Map<string, StagedFile[]> {
  const groups = new Map<string, StagedFile[]>();
  for (const file of files) {
    const key = `${file.table}\u0000${file.dt}`;
    const group = groups.get(key);
    if (group) group.push(file);
    else groups.set(key, [file]);
  }
  return groups;
}

function workOf(group: readonly StagedFile[], registry: SchemaRegistry, deps: MergeDeps): MergeWork {
  return {
    table: group[0]!.table,
    dt: group[0]!.dt,
    inputs: sortParts(group),
    columns: registry.columns(group[0]!.table),
    minFileBytes: deps.minFileBytes ?? MERGED_FILE_MIN_BYTES,
  };
}

/**
 * Replaces each (table, dt) group of two or more staged parts by merged files staged under
 * `_staging/<load_id>/merged/` (their final keys: batch 0, parts 0..n-1); a group of one part
 * is kept as it is. Returns the files to publish, in the input's group order, and what was merged.
 * Throws LakeStateError when a part carries a column the registry does not have for its table.
 */
export async function mergeParts(
  loadId: string,
  files: readonly StagedFile[],
  registry: SchemaRegistry,
  deps: MergeDeps,
): Promise<{ files: StagedFile[]; merged: MergedGroup[] }> {
  const groups = byPartition(files);
  const out = new Map<string, StagedFile[]>();
  const merged: MergedGroup[] = [];
  const staged = new Set(await deps.store.list(`${stagingPrefix(loadId)}merged/`));
  await forEachConcurrent([...groups.entries()], MERGE_CONCURRENCY, async ([key, group]) => {
    if (group.length === 1) {
      out.set(key, group);
      return;
    }
    const work = workOf(group, registry, deps);
    const { outputs, reused } = await mergeOrReuse(loadId, work, deps, staged);
    out.set(key, outputs);
    merged.push({ table: work.table, dt: work.dt, inputs: group.length, outputs: outputs.length, reused });
  });
  return {
    files: [...groups.keys()].flatMap((key) => out.get(key)!),
    merged: merged.sort((a, b) => (a.table === b.table ? cmp(a.dt, b.dt) : cmp(a.table, b.table))),
  };
}

/**
 * The merges `mergeParts` would still have to do: groups of two or more parts that no earlier
 * attempt (or Map item) merged from these same inputs into these same columns.
 */
export async function pendingMerges(
  loadId: string,
  files: readonly StagedFile[],
  registry: SchemaRegistry,
  deps: MergeDeps,
): Promise<MergeWork[]> {
  const staged = new Set(await deps.store.list(`${stagingPrefix(loadId)}merged/`));
  const pending: MergeWork[] = [];
  for (const group of byPartition(files).values()) {
    if (group.length === 1) continue;
    const work = workOf(group, registry, deps);
    const earlier = await reusable(
      mergedGroupKey(loadId, work.table, work.dt),
      recordOf(work),
      staged,
      deps.store,
    );
    if (earlier === undefined) pending.push(work);
  }
  return pending;
}

/**
 * Merges one group, or returns what an earlier run of the same work left (its record names
 * outputs that are all still staged or already published). Re-runnable at any point: outputs
 * are written to fixed staged keys and the record only once they are all whole.
 * `staged`: the keys under the load's `merged/` folder, when the caller listed them already.
 */
export async function mergeOrReuse(
  loadId: string,
  work: MergeWork,
  deps: MergeDeps,
  staged?: ReadonlySet<string>,
): Promise<{ outputs: StagedFile[]; reused: boolean }> {
  const record = recordOf(work);
  const recordKey = mergedGroupKey(loadId, work.table, work.dt);
  const listed =
    staged ??
    new Set(await deps.store.list(`${stagingPrefix(loadId)}merged/${partitionPrefix(work.table, work.dt)}`));
  const reused = await reusable(recordKey, record, listed, deps.store);
  if (reused !== undefined) return { outputs: reused, reused: true };
  const written = await mergeGroup(loadId, work, deps);
  // After the outputs are whole: a record never names a file that is not there.
  await writeJson(deps.store, recordKey, { ...record, outputs: written });
  return { outputs: written, reused: false };
}

/** What a finished partition merge leaves for a commit that runs again. */
interface GroupRecord {
  readonly inputs: readonly { stagedKey: string; rows: number; bytes: number }[];
  readonly columns: readonly ColumnDef[];
  readonly minFileBytes: number;
  readonly outputs: readonly StagedFile[];
}

function recordOf(work: MergeWork): GroupRecord {
  return {
    inputs: work.inputs.map((f) => ({ stagedKey: f.stagedKey, rows: f.rows, bytes: f.bytes })),
    columns: work.columns,
    minFileBytes: work.minFileBytes,
    outputs: [],
  };
}

/**
 * The outputs of an earlier attempt's merge of the same inputs into the same columns, when each
 * is still staged or already published by that attempt; undefined otherwise (merge again).
 */
async function reusable(
  recordKey: string,
  record: GroupRecord,
  staged: ReadonlySet<string>,
  store: ObjectStore,
): Promise<StagedFile[] | undefined> {
  const earlier = await readJson<GroupRecord>(store, recordKey).catch(() => undefined);
  if (earlier === undefined || earlier.outputs.length === 0) return undefined;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(earlier.inputs, record.inputs) || !same(earlier.columns, record.columns)) return undefined;
  if (earlier.minFileBytes !== record.minFileBytes) return undefined;
  const { table, dt } = earlier.outputs[0]!;
  let published: Set<string> | undefined;
  for (const output of earlier.outputs) {
    if (staged.has(output.stagedKey)) continue;
    published ??= new Set(await store.list(partitionPrefix(table, dt)));
    if (!published.has(output.finalKey)) return undefined;
  }
  return [...earlier.outputs];
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function sortParts(group: readonly StagedFile[]): StagedFile[] {
  const order = (f: StagedFile) => {
    const p = parsePartKey(f.finalKey);
    return p === undefined ? [Number.MAX_SAFE_INTEGER, 0] : [p.batch, p.part];
  };
  return [...group].sort((a, b) => {
    const [ab, ap] = order(a);
    const [bb, bp] = order(b);
    return ab! - bb! || ap! - bp! || cmp(a.stagedKey, b.stagedKey);
  });
}

async function mergeGroup(loadId: string, work: MergeWork, deps: MergeDeps): Promise<StagedFile[]> {
  const { table, dt, columns, inputs: group } = work;
  const known = new Set(columns.map((c) => c.name));
  const bytes = group.reduce((n, f) => n + f.bytes, 0);
  const rows = group.reduce((n, f) => n + f.rows, 0);
  // Encoded size tracks the staged parts' closely, so splitting by rows gives files of ~bytes/n.
  const outputs = Math.max(1, Math.floor(bytes / work.minFileBytes));
  const rowsPerFile = Math.ceil(rows / outputs);
  const written: StagedFile[] = [];
  let open: { writer: Awaited<ReturnType<PartWriterFactory['open']>>; finalKey: string; stagedKey: string };
  const start = async (part: number) => {
    const finalKey = partKey({ table, dt, loadId, batch: 0, part });
    const stagedKey = mergedPartKey(finalKey, loadId);
    open = { writer: await deps.parts.open(deps.store, stagedKey, columns), finalKey, stagedKey };
  };
  const finish = async () => {
    const done = await open.writer.close();
    written.push({ table, dt, finalKey: open.finalKey, stagedKey: open.stagedKey, ...done });
  };
  await start(0);
  try {
    for (const file of group) {
      for await (const chunk of deps.reader.readRowChunks(deps.store, file.stagedKey, READ_CHUNK_ROWS)) {
        for (const row of chunk) {
          for (const column of Object.keys(row))
            if (!known.has(column))
              throw new LakeStateError(
                `load ${loadId}: staged part ${file.stagedKey} has a column ${column} that table ${table} does not; re-run the load`,
              );
          if (open!.writer.rowsWritten() >= rowsPerFile && written.length < outputs - 1) {
            await finish();
            await start(written.length);
          }
          await open!.writer.append(row);
        }
      }
    }
    await finish();
  } catch (error) {
    await open!.writer.abort().catch(() => undefined);
    throw error;
  }
  return written;
}
