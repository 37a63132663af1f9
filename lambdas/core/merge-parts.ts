/**
 * Files sized for Athena: at commit, the parts every batch staged for one table and partition
 * are merged into one file, or, when the partition's data is larger, into files of at least
 * `MERGED_FILE_MIN_BYTES` each. Without it every batch leaves one part per table: 10k users at
 * batch size 500 gave 20 files of ~70 KB per table per load, ~1,900x below the 128 MB Athena's
 * performance guidance asks for ("Top 10 Performance Tuning Tips for Amazon Athena": avoid files
 * much smaller than 128 MB), and every query opened all of them.
 *
 * A merge has a time limit where it runs in a Lambda (15 minutes): with `slicing`, a partition
 * whose estimated merge exceeds what one invocation affords is merged in slices, contiguous runs
 * of its parts, each into its own files (`sliceInputs`). Each slice is a merge of its own: its
 * own record, its own output keys (batch `<slice>` of the load's merged keys), its own Map item,
 * so a retried slice redoes only its own parts. Such a partition's files are then as large as
 * one invocation can merge, which may be under 128 MB. Locally (no time limit) a partition is
 * one merge.
 *
 * Streamed: rows are copied a chunk at a time (`READ_CHUNK_ROWS` rows or `READ_CHUNK_BYTES` of
 * decoded values, whichever is fewer rows) through one open writer per merged file, so memory is
 * one staged part's bytes, one chunk and one row group, whatever the load's size. Row groups
 * close at their rows or their estimated bytes (row-group-budget.ts), the bytes shared among the
 * merges running at once (`MERGE_ROW_GROUP_BYTES`): rows of 40 fields of 64 characters made row groups
 * of 10,000 rows too big for four at once in the commit's 336 MiB encoding worker. Values are copied as written (no re-typing): the parts were typed by the committed
 * registry already (commit rewrites those that disagreed). Deterministic inputs: parts in
 * (batch, part) order, output keys a function of the load id, the slice and the file's rank,
 * so a commit that dies and runs again writes the same keys, and a record names what was written.
 */

import { DEFAULTS } from './constants.ts';
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
import { RowGroupBudget, type RowGroupByteLimits } from './row-group-budget.ts';
import type { SchemaRegistry } from './schema-registry.ts';
import { readJson, writeJson } from './store-json.ts';
import type { StagedFile } from './table-sinks.ts';
import type { ColumnDef } from './types.ts';

/** Athena's guidance: files of at least 128 MB (a partition with less data is one file). */
export const MERGED_FILE_MIN_BYTES = 128 * 1024 * 1024;
/** Rows decoded at a time from a staged part, at most. */
const READ_CHUNK_ROWS = 10_000;
/**
 * Bytes of values (the part's uncompressed Parquet data) decoded at a time, at most: a chunk of
 * 10,000 rows of 40 fields of 64 characters took ~51 MiB of heap on the main thread, four merges
 * at once four times that. 8 MiB is ~3,000 such rows; narrow rows still read 10,000 at a time.
 */
const READ_CHUNK_BYTES = 8 * 1024 * 1024;
/** Tables merged at once: overlaps one table's store I/O with another's encoding. */
const MERGE_CONCURRENCY = 4;
/**
 * Row groups of the merged files: the estimated bytes buffered are shared among the merges at
 * once (DEFAULTS.parquet.bufferedBytesBudget); by rows each writer keeps the writer factory's row
 * group (DEFAULTS.parquet.rowGroupRows: the merges never shrink row groups by rows, they are what
 * Athena reads).
 */
export const MERGE_ROW_GROUP_BYTES: RowGroupByteLimits = {
  rowGroupBytes: DEFAULTS.parquet.rowGroupBytes,
  bufferedBytesBudget: DEFAULTS.parquet.bufferedBytesBudget,
  minRowGroupBytes: DEFAULTS.parquet.minRowGroupBytes,
};
/**
 * When a merged file is closed. A file closes only once the bytes its writer has put in the store
 * (whole row groups, `PartWriter.settledBytes`: a function of the rows, never of timing) reach
 * `minFileBytes`, so every file a merge closes before its last is at least that large, whatever
 * the data's compression does across the partition. It is checked after each chunk of rows read,
 * and only once the open file has taken in `minFileBytes` of staged parts (a merged file comes out
 * smaller than the parts it holds: 0.33x to 0.94x on the simulated tables, one dictionary and
 * footer instead of one per batch) and the merge has at least twice that in all (with less, two
 * files of the target cannot come out of it): checks wait for the encoder, so they are kept few.
 * When a file is full, the rest is estimated at the lower of two output/staged ratios, the merge's
 * so far and the open file's: a rest that would not fill another file by `remainderMargin` stays
 * in the current one, which becomes the last. So the last file of a merge is under `minFileBytes`
 * only when the merge's data is smaller, or when the rest compressed better than the data before
 * it by more than the margin (then it is the rest's own merged size, at least 1/margin of it at
 * the estimate).
 * A merge that runs again cuts the same files.
 */
export const MERGED_FILE_SIZING = { remainderMargin: 1.25 } as const;

/**
 * When a partition's merge is too long for one invocation: the estimated seconds one merge may
 * take, and the throughput it is estimated at (merge-fan-out.ts MERGE_THROUGHPUT).
 */
export interface MergeSlicing {
  readonly maxSeconds: number;
  readonly rowsPerSecond: number;
  readonly bytesPerSecond: number;
}

export interface MergeDeps {
  readonly store: ObjectStore;
  readonly parts: PartWriterFactory;
  readonly reader: PartReader;
  /** Bytes a merged file reaches before the next starts (tests lower it); default MERGED_FILE_MIN_BYTES. */
  readonly minFileBytes?: number;
  /** Split a partition whose merge would take longer (the deployed commit); none: one merge per partition. */
  readonly slicing?: MergeSlicing;
  /** Row group byte limits of the merged files (default MERGE_ROW_GROUP_BYTES; tests lower them). */
  readonly rowGroupBytes?: RowGroupByteLimits;
}

/** What the merge did to one table's partition, for the load report. */
export interface MergedGroup {
  readonly table: string;
  readonly dt: string;
  readonly inputs: number;
  readonly outputs: number;
  /** Merges the partition was split into (merge-parts.ts `sliceInputs`); 1 for a whole one. */
  readonly slices: number;
  /** Merged by an earlier attempt or by a Map item (merge-fan-out.ts), not by this call. */
  readonly reused: boolean;
}

/**
 * One table partition's merge, or one slice of it: its staged parts in merge order and the
 * columns they are written with. Everything a merge depends on, so whoever runs it (this commit,
 * a later attempt, a Map item of merge-fan-out.ts) writes the same files.
 */
export interface MergeWork {
  readonly table: string;
  readonly dt: string;
  /** In (batch, part) order: the partition's parts, or the slice's contiguous run of them. */
  readonly inputs: readonly StagedFile[];
  readonly columns: readonly ColumnDef[];
  readonly minFileBytes: number;
  /** Which slice of the partition (absent: 0, the partition merged whole). Its files are batch `slice`. */
  readonly slice?: number;
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

/** The merges of one partition's parts: one, or its slices when `slicing` says it is too long. */
function worksOf(group: readonly StagedFile[], registry: SchemaRegistry, deps: MergeDeps): MergeWork[] {
  const table = group[0]!.table;
  const dt = group[0]!.dt;
  const columns = registry.columns(table);
  const minFileBytes = deps.minFileBytes ?? MERGED_FILE_MIN_BYTES;
  const slices = sliceInputs(sortParts(group), deps.slicing);
  return slices.map((inputs, slice) => ({
    table,
    dt,
    inputs,
    columns,
    minFileBytes,
    ...(slices.length === 1 ? {} : { slice }),
  }));
}

/**
 * A partition's parts (in merge order) cut into contiguous slices that each merge within
 * `slicing.maxSeconds` at its throughput: as many as the whole needs, balanced by the estimate
 * (the slower of the rows' and the bytes' figure), so none is a small remainder; one more when
 * uneven parts leave a slice over the limit. One slice
 * without `slicing` or when the whole fits. A part alone over the limit is a slice of its own
 * (parts are bounded by partMaxRows/partMaxBytes: seconds each). A function of the parts only,
 * so the commit, a later attempt and the Map cut the same slices.
 */
export function sliceInputs(
  inputs: readonly StagedFile[],
  slicing: MergeSlicing | undefined,
): StagedFile[][] {
  if (slicing === undefined || inputs.length <= 1) return [[...inputs]];
  const seconds = (rows: number, bytes: number) =>
    Math.max(rows / slicing.rowsPerSecond, bytes / slicing.bytesPerSecond);
  const total = seconds(
    inputs.reduce((n, f) => n + f.rows, 0),
    inputs.reduce((n, f) => n + f.bytes, 0),
  );
  if (total <= slicing.maxSeconds) return [[...inputs]];
  // Each part goes to the slice its midpoint falls in, on the parts' running estimate cut into
  // equal shares; a slice that would overrun the limit is cut early (a later slice then follows).
  const count = Math.ceil(total / slicing.maxSeconds);
  const estimates = inputs.map((f) => seconds(f.rows, f.bytes));
  const share = estimates.reduce((a, b) => a + b, 0) / count;
  const slices: StagedFile[][] = [];
  let current: StagedFile[] = [];
  let rows = 0;
  let bytes = 0;
  let before = 0;
  let cut = 0;
  for (const [i, file] of inputs.entries()) {
    const wanted = Math.min(count - 1, Math.floor((before + estimates[i]! / 2) / share));
    before += estimates[i]!;
    const overrun = seconds(rows + file.rows, bytes + file.bytes) > slicing.maxSeconds;
    if (current.length > 0 && (wanted > cut || overrun)) {
      slices.push(current);
      current = [];
      rows = 0;
      bytes = 0;
      cut = Math.max(cut + 1, wanted);
    }
    current.push(file);
    rows += file.rows;
    bytes += file.bytes;
  }
  slices.push(current);
  return slices;
}

/**
 * Replaces each (table, dt) group of two or more staged parts, or of one part whose columns are
 * not the registry's (`toMerge`), by merged files staged under `_staging/<load_id>/merged/`
 * (their final keys: batch `<slice>` (0 for a partition merged whole), parts 0..n-1); any other
 * lone part is kept as it is. Returns the files to publish, in
 * the input's group order, and what was merged.
 * Throws LakeStateError when a part carries a column the registry does not have for its table.
 */
export async function mergeParts(
  loadId: string,
  files: readonly StagedFile[],
  registry: SchemaRegistry,
  deps: MergeDeps,
): Promise<{ files: StagedFile[]; merged: MergedGroup[] }> {
  return mergePlanned(loadId, await planMerges(loadId, files, registry, deps), deps);
}

/**
 * What a commit merges: the staged files by partition and the merges of those `toMerge` names
 * (a partition's slices apart). Made once per commit and given to both `pendingMerges` and
 * `mergePlanned`: finding the partitions to merge lists the staging and reads every lone part's
 * footer (a GET each), which the deployed commit otherwise did twice.
 */
export interface MergePlan {
  /** The staged files by (table, dt), in the input's order. */
  readonly groups: ReadonlyMap<string, readonly StagedFile[]>;
  /** The merges of each partition to merge, in the groups' order. */
  readonly works: ReadonlyMap<string, readonly MergeWork[]>;
}

/** The merges of `files` (`MergePlan`): the partitions `toMerge` names, cut into their slices. */
export async function planMerges(
  loadId: string,
  files: readonly StagedFile[],
  registry: SchemaRegistry,
  deps: MergeDeps,
): Promise<MergePlan> {
  const groups = byPartition(files);
  const works = new Map<string, MergeWork[]>();
  for (const key of await toMerge(loadId, groups, registry, deps))
    works.set(key, worksOf(groups.get(key)!, registry, deps));
  return { groups, works };
}

/** `mergeParts` of a plan made already (`planMerges`). */
export async function mergePlanned(
  loadId: string,
  plan: MergePlan,
  deps: MergeDeps,
): Promise<{ files: StagedFile[]; merged: MergedGroup[] }> {
  const { groups, works } = plan;
  const done = new Map<MergeWork, { outputs: StagedFile[]; reused: boolean }>();
  const staged = new Set(await deps.store.list(`${stagingPrefix(loadId)}merged/`));
  // One budget for the merges at once: their writers share the bytes buffered.
  const budget = new RowGroupBudget(deps.rowGroupBytes ?? MERGE_ROW_GROUP_BYTES);
  await forEachConcurrent([...works.values()].flat(), MERGE_CONCURRENCY, async (work) => {
    done.set(work, await mergeOrReuse(loadId, work, deps, staged, budget));
  });
  const merged: MergedGroup[] = [];
  for (const [key, slices] of works) {
    const results = slices.map((w) => done.get(w)!);
    merged.push({
      table: slices[0]!.table,
      dt: slices[0]!.dt,
      inputs: groups.get(key)!.length,
      outputs: results.reduce((n, r) => n + r.outputs.length, 0),
      slices: slices.length,
      reused: results.every((r) => r.reused),
    });
  }
  return {
    files: [...groups.entries()].flatMap(([key, group]) =>
      works.has(key) ? works.get(key)!.flatMap((w) => done.get(w)!.outputs) : group,
    ),
    merged: merged.sort((a, b) => (a.table === b.table ? cmp(a.dt, b.dt) : cmp(a.table, b.table))),
  };
}

/**
 * The partitions to merge, in the groups' order: those of two or more parts, and a lone part
 * whose column names (its footer) are not the registry's, in its order. A lone part has its batch's
 * columns in the order its users brought them (or the order they had when the commit re-typed
 * it); rewritten, every committed file of the load lists the table's columns as Glue does,
 * whatever the batch split. Most lone parts of a load that adds no column are kept as they are.
 */
async function toMerge(
  loadId: string,
  groups: ReadonlyMap<string, readonly StagedFile[]>,
  registry: SchemaRegistry,
  deps: MergeDeps,
): Promise<string[]> {
  const lone = new Set<string>();
  const single = [...groups].filter(([, group]) => group.length === 1);
  // A lone part no longer staged was published as it is by an earlier attempt: it stays.
  const staged =
    single.length === 0 ? new Set<string>() : new Set(await deps.store.list(stagingPrefix(loadId)));
  await forEachConcurrent(
    single.filter(([, [file]]) => staged.has(file!.stagedKey)),
    FOOTER_CONCURRENCY,
    async ([key, [file]]) => {
      const columns = await deps.reader.readColumns(deps.store, file!.stagedKey);
      const wanted = registry.columns(file!.table);
      const same = columns.length === wanted.length && columns.every((c, i) => c.name === wanted[i]!.name);
      if (!same) lone.add(key);
    },
  );
  return [...groups].filter(([key, group]) => group.length > 1 || lone.has(key)).map(([key]) => key);
}

/** Footers of lone parts read at once (one ranged read each). */
const FOOTER_CONCURRENCY = 8;

/**
 * The merges of `plan` still to do: those no earlier attempt (or Map item) did from these same
 * inputs into these same columns.
 */
export async function pendingMerges(loadId: string, plan: MergePlan, deps: MergeDeps): Promise<MergeWork[]> {
  const staged = new Set(await deps.store.list(`${stagingPrefix(loadId)}merged/`));
  const pending: MergeWork[] = [];
  for (const work of [...plan.works.values()].flat()) {
    const earlier = await reusable(
      mergedGroupKey(loadId, work.table, work.dt, work.slice),
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
 * `budget`: shared with the merges running beside this one (absent: this merge's own).
 */
export async function mergeOrReuse(
  loadId: string,
  work: MergeWork,
  deps: MergeDeps,
  staged?: ReadonlySet<string>,
  budget?: RowGroupBudget,
): Promise<{ outputs: StagedFile[]; reused: boolean }> {
  const record = recordOf(work);
  const recordKey = mergedGroupKey(loadId, work.table, work.dt, work.slice);
  const listed =
    staged ??
    new Set(await deps.store.list(`${stagingPrefix(loadId)}merged/${partitionPrefix(work.table, work.dt)}`));
  const reused = await reusable(recordKey, record, listed, deps.store);
  if (reused !== undefined) return { outputs: reused, reused: true };
  const written = await mergeGroup(
    loadId,
    work,
    deps,
    budget ?? new RowGroupBudget(deps.rowGroupBytes ?? MERGE_ROW_GROUP_BYTES),
  );
  // After the outputs are whole: a record never names a file that is not there.
  await writeJson(deps.store, recordKey, { ...record, outputs: written });
  return { outputs: written, reused: false };
}

/** What a finished partition (or slice) merge leaves for a commit that runs again. */
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

/**
 * Merges one partition (or slice) into files of at least `minFileBytes` (a merge with less is one
 * file; the last file only as MERGED_FILE_SIZING says), closing a file by the bytes it has written.
 * The former rule foresaw file sizes from staged bytes at a ratio measured on the first file: a
 * partition whose later parts compressed better than its first closed files under the target.
 */
async function mergeGroup(
  loadId: string,
  work: MergeWork,
  deps: MergeDeps,
  budget: RowGroupBudget,
): Promise<StagedFile[]> {
  const { table, dt, columns, inputs: group, minFileBytes } = work;
  const known = new Set(columns.map((c) => c.name));
  const stagedBytes = group.reduce((n, f) => n + f.bytes, 0);
  const written: StagedFile[] = [];
  // Staged bytes taken into closed files and their bytes; staged bytes taken into the open one.
  let closedStaged = 0;
  let closedBytes = 0;
  let fileStaged = 0;
  // Set once the rest of the merge is to stay in the open file.
  let last = stagedBytes < 2 * minFileBytes;
  let open: { writer: Awaited<ReturnType<PartWriterFactory['open']>>; finalKey: string; stagedKey: string };
  const start = async (part: number) => {
    const finalKey = partKey({ table, dt, loadId, batch: work.slice ?? 0, part });
    const stagedKey = mergedPartKey(finalKey, loadId);
    open = { writer: await deps.parts.open(deps.store, stagedKey, columns), finalKey, stagedKey };
    budget.add(open.writer);
    fileStaged = 0;
  };
  const finish = async () => {
    budget.remove(open.writer);
    const done = await open.writer.close();
    closedStaged += fileStaged;
    closedBytes += done.bytes;
    written.push({ table, dt, finalKey: open.finalKey, stagedKey: open.stagedKey, ...done });
  };
  /** After a chunk: whether the open file is full and the rest makes another file of its own. */
  const full = async (): Promise<boolean> => {
    if (last || fileStaged < minFileBytes) return false;
    const bytes = await open.writer.settledBytes();
    if (bytes < minFileBytes) return false;
    // The lower of the merge's ratio so far and the open file's own: the nearer data says more
    // about the rest when the compression drifts, and a rest under-estimated only makes the
    // last file larger, never smaller than the target.
    const ratio = Math.min((closedBytes + bytes) / (closedStaged + fileStaged), bytes / fileStaged);
    const rest = (stagedBytes - closedStaged - fileStaged) * ratio;
    if (rest >= minFileBytes * MERGED_FILE_SIZING.remainderMargin) return true;
    last = true;
    return false;
  };
  await start(0);
  try {
    for (const file of group) {
      const perRow = file.rows === 0 ? 0 : file.bytes / file.rows;
      for await (const chunk of deps.reader.readRowChunks(
        deps.store,
        file.stagedKey,
        READ_CHUNK_ROWS,
        READ_CHUNK_BYTES,
      )) {
        for (const row of chunk) {
          for (const column of Object.keys(row))
            if (!known.has(column))
              throw new LakeStateError(
                `load ${loadId}: staged part ${file.stagedKey} has a column ${column} that table ${table} does not; re-run the load`,
              );
          await open!.writer.append(row);
          fileStaged += perRow;
        }
        if (await full()) {
          await finish();
          await start(written.length);
        }
      }
    }
    await finish();
  } catch (error) {
    budget.remove(open!.writer);
    await open!.writer.abort().catch(() => undefined);
    throw error;
  }
  return written;
}
