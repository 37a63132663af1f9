/**
 * The commit's merge (merge-parts.ts), fanned out when one invocation cannot do it in time.
 *
 * The commit decides once its schema decisions are made (commit.ts, steps 2 and 3): it estimates
 * the merges still to do from their staged rows and bytes at a measured throughput, and when
 * that exceeds its budget (a share of the time its Lambda has left, or a configured cap) it
 * hands them off instead of merging: one task document per merge with everything that merge
 * depends on (its inputs in order, the registry's columns, the file size), the Map's item file
 * of `{loadId, table, dt, slice}`, and a hand-off document carrying the schema changes it
 * claimed. A merge is a (table, partition), or, for a partition too large for one item's
 * invocation, one slice of it (a contiguous run of its parts, merge-parts.ts `sliceInputs`, cut
 * by MERGE_SLICING): no partition is too large for the Map. Each Map item does one merge
 * (`mergeTask`), exactly as the commit would have, and leaves the record that merge-parts.ts
 * reuses. Then the commit runs again, finds every merge done, and publishes.
 *
 * Crash-safe by construction: a task is re-runnable (fixed output keys, the record written last,
 * so a crashed item leaves at most unnamed staged files that its retry overwrites); the commit
 * publishes a group only through a record whose outputs are all present; the staged parts stay
 * the inputs until the publish. A group the final commit finds unmerged (an item that lost a race
 * with another commit's schema change) is merged by the commit itself.
 */

import { LakeStateError } from './errors.ts';
import { mergeHandOffKey, mergeItemsKey, mergeTaskKey } from './layout.ts';
import {
  type MergeDeps,
  type MergedGroup,
  type MergeSlicing,
  type MergeWork,
  mergeOrReuse,
} from './merge-parts.ts';
import type { SchemaChange } from './schema-registry.ts';
import { readJson, writeJson } from './store-json.ts';

/**
 * What one invocation merges per second, measured with the loader's own reader (hyparquet) and
 * writer (parquetjs-lite in a worker thread), partition by partition, on the staged parts of a
 * real-shaped load (bench/merge-throughput.ts, bench/results/merge-throughput.md), on the shared
 * 2-core machine: 5,000 users at load average 6-9, 22,400 rows/s and 1.55 MB/s of staged Parquet
 * over all 20 partitions, 11,400 rows/s for the slowest (orders); 2,000 users at load 13, 12,700
 * rows/s and 0.88 MB/s. Those runs had both cores busy (the encoding worker on the second one);
 * merging one partition at a time on the loaded 2-core machine gave about 0.45-0.48 MB/s. The
 * commit Lambda's 1,024 MiB buy about 0.58 of a vCPU (a full vCPU at 1,769 MiB); its throughput
 * there was not measured. 0.4 MB/s is an estimate below every figure measured here, not a
 * measured fraction of the Lambda: one that runs long only costs a fan-out, and one that runs
 * short costs at most a timed-out commit, which its retry recovers, reusing every partition the
 * timed-out attempt had merged (merge-parts.ts). At these figures a 10,000-user load
 * (28 MiB, ~0.5M rows: ~100 s) merges in one commit and a 100,000-user load (280 MiB: ~735 s)
 * fans out. An item merges at most MERGE_SLICING.maxSeconds at these figures (a larger partition
 * is sliced). The plan sizes a run's commit with the same figures (capacity.ts `planCommitMerge`).
 */
export const MERGE_THROUGHPUT = { rowsPerSecond: 5_000, bytesPerSecond: 400_000 } as const;

/**
 * How much of its remaining time a commit spends merging before it hands off: what is left after
 * `reserveSeconds` (the publish's moves, the report, the commit point, Glue), of which only
 * `share`, as the estimate is a throughput measured on other machines and rows.
 */
export const MERGE_BUDGET = { reserveSeconds: 120, share: 0.5 } as const;

/** Lambda's longest timeout (15 minutes), the commit function's: a merge Map item runs it. */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

/**
 * How the deployed commit cuts a partition into merges (merge-parts.ts `sliceInputs`): each is
 * estimated at MERGE_THROUGHPUT to fit the budget of a fresh item invocation, as a commit's own
 * merge is budgeted: (900 - 120) x 0.5 = 390 s, ~2M rows or ~156 MB of staged parts (~90 MB
 * merged). Without it a partition over 15 minutes of merging (~72,000 users of data 10x denser
 * than the simulator's) timed its item out on every retry and redrive: the load never committed.
 * The commit, its hand-off and the commit after the Map cut the same slices; a local commit has
 * no time limit and merges each partition whole.
 */
export const MERGE_SLICING: MergeSlicing = {
  maxSeconds: (LAMBDA_MAX_TIMEOUT_SECONDS - MERGE_BUDGET.reserveSeconds) * MERGE_BUDGET.share,
  ...MERGE_THROUGHPUT,
};

export interface MergeThroughput {
  readonly rowsPerSecond: number;
  readonly bytesPerSecond: number;
}

export interface MergeFanOutPolicy {
  /** Seconds the invocation has left, read when the merge is about to start (the Lambda's deadline). */
  readonly remainingSeconds: () => number;
  /** Most estimated seconds of merging done in this invocation (the stack's commitMergeSeconds). */
  readonly maxMergeSeconds?: number;
  readonly throughput?: MergeThroughput;
}

/** A merge, as a Map item: keys, not data (the state payload is capped at 256 KiB). */
export interface MergeItem {
  readonly loadId: string;
  readonly table: string;
  readonly dt: string;
  /** The partition's slice (0: the partition whole, or its first slice); absent in items of earlier releases. */
  readonly slice?: number;
}

/** What the commit answers instead of committing: the merges it handed to the Map. */
export interface MergeHandOff {
  readonly loadId: string;
  /** Merges handed off: Map items (a partition sliced counts each slice). */
  readonly groups: number;
  /** Table partitions they merge. */
  readonly partitions: number;
  readonly rows: number;
  readonly bytes: number;
  readonly estimatedSeconds: number;
  readonly budgetSeconds: number;
  /** The Map's item file, a key of the lake (a JSON array of MergeItem). */
  readonly itemsKey: string;
}

/** The hand-off document: what the commit decided before the Map, for the commit after it. */
interface HandOffDoc extends MergeHandOff {
  readonly formatVersion: 1;
  readonly schemaVersion: number;
  /** The schema changes claimed before the Map: the commit after it finds none left to claim. */
  readonly schemaChanges: readonly SchemaChange[];
}

interface TaskDoc extends MergeWork {
  readonly formatVersion: 1;
  readonly loadId: string;
}

/** Seconds the merges would take at `throughput`: the slower of the rows' and the bytes' figure. */
export function estimateMergeSeconds(
  work: readonly MergeWork[],
  throughput: MergeThroughput = MERGE_THROUGHPUT,
): number {
  let rows = 0;
  let bytes = 0;
  for (const w of work)
    for (const f of w.inputs) {
      rows += f.rows;
      bytes += f.bytes;
    }
  return Math.max(rows / throughput.rowsPerSecond, bytes / throughput.bytesPerSecond);
}

/** Seconds of merging this invocation may do (never negative). */
export function mergeBudgetSeconds(policy: MergeFanOutPolicy): number {
  const fromDeadline = (policy.remainingSeconds() - MERGE_BUDGET.reserveSeconds) * MERGE_BUDGET.share;
  return Math.max(0, Math.min(fromDeadline, policy.maxMergeSeconds ?? Number.POSITIVE_INFINITY));
}

/**
 * Hands `pending` to the Map when its estimate exceeds the budget: writes a task per group, the
 * item file and the hand-off document, and returns what was handed off. Undefined (nothing
 * written) when the commit should merge itself.
 */
export async function handOffMerges(
  loadId: string,
  pending: readonly MergeWork[],
  schema: { readonly version: number; readonly changes: readonly SchemaChange[] },
  policy: MergeFanOutPolicy,
  deps: Pick<MergeDeps, 'store'>,
): Promise<MergeHandOff | undefined> {
  if (pending.length === 0) return undefined;
  const estimatedSeconds = estimateMergeSeconds(pending, policy.throughput);
  const budgetSeconds = mergeBudgetSeconds(policy);
  if (estimatedSeconds <= budgetSeconds) return undefined;
  for (const work of pending) {
    const task: TaskDoc = { formatVersion: 1, loadId, ...work };
    await writeJson(deps.store, mergeTaskKey(loadId, work.table, work.dt, work.slice), task);
  }
  const items: MergeItem[] = pending.map((w) => ({ loadId, table: w.table, dt: w.dt, slice: w.slice ?? 0 }));
  await writeJson(deps.store, mergeItemsKey(loadId), items);
  const handOff: MergeHandOff = {
    loadId,
    groups: pending.length,
    partitions: new Set(pending.map((w) => `${w.table}\u0000${w.dt}`)).size,
    rows: pending.reduce((n, w) => n + w.inputs.reduce((m, f) => m + f.rows, 0), 0),
    bytes: pending.reduce((n, w) => n + w.inputs.reduce((m, f) => m + f.bytes, 0), 0),
    estimatedSeconds: Math.round(estimatedSeconds),
    budgetSeconds: Math.round(budgetSeconds),
    itemsKey: mergeItemsKey(loadId),
  };
  const doc: HandOffDoc = {
    formatVersion: 1,
    ...handOff,
    schemaVersion: schema.version,
    schemaChanges: schema.changes,
  };
  await writeJson(deps.store, mergeHandOffKey(loadId), doc);
  return handOff;
}

/**
 * A Map item: does one handed-off merge, a partition or a slice of one (or finds it done by an
 * earlier attempt of the item: a retry redoes only its own slice).
 * Throws LakeStateError when the commit left no task for it (the load was re-planned since).
 */
export async function mergeTask(
  item: MergeItem,
  deps: MergeDeps,
): Promise<Omit<MergedGroup, 'slices'> & { slice: number }> {
  const slice = item.slice ?? 0;
  const key = mergeTaskKey(item.loadId, item.table, item.dt, slice);
  const task = await readJson<TaskDoc>(deps.store, key);
  if (task === undefined)
    throw new LakeStateError(
      `load ${item.loadId}: no merge task for ${item.table} dt=${item.dt}${slice === 0 ? '' : ` slice ${slice}`} (${key}); re-run the commit`,
    );
  const { formatVersion: _v, loadId: _l, ...work } = task;
  const { outputs, reused } = await mergeOrReuse(item.loadId, work, deps);
  return {
    table: work.table,
    dt: work.dt,
    slice,
    inputs: work.inputs.length,
    outputs: outputs.length,
    reused,
  };
}

/**
 * The schema changes a load reports: `changes`, after those a hand-off before the Map claimed
 * (the commit after the Map finds them in the registry already, so it has none itself). The
 * commit intent's claim records (commit.ts) carry them too; the hand-off document is still read
 * for a hand-off whose commit wrote no such record (one of an earlier release, still in its Map).
 */
export async function changesHandedOff(
  deps: Pick<MergeDeps, 'store'>,
  loadId: string,
  changes: readonly SchemaChange[],
): Promise<SchemaChange[]> {
  const doc = await readJson<HandOffDoc>(deps.store, mergeHandOffKey(loadId));
  if (doc === undefined || doc.schemaChanges.length === 0) return [...changes];
  const seen = new Set(doc.schemaChanges.map((c) => JSON.stringify(c)));
  return [...doc.schemaChanges, ...changes.filter((c) => !seen.has(JSON.stringify(c)))];
}
