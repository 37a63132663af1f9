/**
 * Commit a load: the only step that makes anything visible. In order:
 *  1. read the plan and every batch manifest; a batch that never finished gets its users
 *     recorded as failed in `user_loads` (so the lake says what is missing);
 *  2. merge the batches' schema views into the committed registry and write it. A column new
 *     to the lake gets the type settled from every batch's counts of its values
 *     (schema-registry.ts `settledType`), whatever the batch split or order; the parts of a
 *     batch that typed it otherwise, or staged values of it apart, are rewritten through the
 *     registry (misfits land in variant columns), so no column ever has two Parquet types. The changes
 *     are recorded in the commit intent before the version is claimed: an attempt that runs
 *     after a claim finds them in the registry, and reports them from there;
 *  3. sync the query catalog (Glue) so new columns exist before files that carry them;
 *  3b. merge each table partition's parts from all batches into one file (or files of at least
 *     128 MB; merge-parts.ts), staged apart from the batches' parts, which stay its input. With
 *     a fan-out policy (the deployed commit), a merge estimated longer than the invocation can
 *     afford is handed to a Map of one item per partition instead (merge-fan-out.ts; a partition
 *     too large for one item is sliced, `slicing`): the commit returns there, and its next run
 *     finds the partitions merged and goes on;
 *  4. write the commit intent (new keys + keys a previous attempt of this load published, and
 *     the schema claims);
 *  5. retract the load's `_dlt_loads` row if an earlier attempt committed it: from here until
 *     step 9 the load is invisible to readers, never half old and half new;
 *  6. move the merged (or lone) staged parts to their final keys (deterministic: a re-run overwrites);
 *  7. delete parts a previous attempt published that this one did not write;
 *  8. write the `_loads/<load_id>.json` report;
 *  9. write the load's `_dlt_loads` row: the commit point. Before it, the reading layers
 *     (lake-views.ts) show nothing of the load, whatever files a crash left behind;
 * 10. remove the load's staging.
 * Webhook events (event-claims.ts) join at step 1: the commit claims the stored events no load
 * committed yet, under the events lock, and stages their `webhook_events` rows as one more
 * batch; it holds the lock until after step 9, then records the claim as committed (and the
 * users it names in the registry, and what the load saw of their task ids: task-retirement.ts)
 * and, for a `changed` load, what its schedule has now seen.
 * Every step is idempotent, so a commit that dies anywhere can simply run again.
 */
import {
  claimUsers,
  foldChangedSelection,
  type MarkerChanged,
  markerChanged,
  readChangedSelection,
} from './changed-users.ts';
import { LAKE } from './constants.ts';
import type { EndpointFinding } from './endpoint-health.ts';
import { CommitIncompleteError, LakeStateError } from './errors.ts';
import {
  type ClaimedBatch,
  claimEvents,
  type EventsLockOptions,
  finishClaim,
  type MarkerEvents,
  markerEvents,
  releaseClaim,
} from './event-claims.ts';
import { rootRowId } from './ids.ts';
import {
  claimSchemaVersion,
  heldClaim,
  readCommittedSchema,
  type SchemaClaim,
  schemaClaimOf,
} from './lake-schema.ts';
import { DLT_LOADS_COLUMNS, isPartitioned, type ParentKeyLink, rootTableOf } from './lake-views.ts';
import {
  batchManifestKey,
  commitIntentKey,
  dltLoadsKey,
  loadMarkerKey,
  parsePartKey,
  partitionPrefix,
  partKey,
  stagedPartKey,
  stagingPrefix,
} from './layout.ts';
import type { Lease } from './lease.ts';
import {
  type BatchManifest,
  type DeferredSettlement,
  settleDeferredUnits,
  userLoadsRow,
} from './load-batch.ts';
import { USER_LOADS_COLUMNS } from './load-user.ts';
import {
  changesHandedOff,
  handOffMerges,
  type MergeFanOutPolicy,
  type MergeHandOff,
} from './merge-fan-out.ts';
import {
  type MergedGroup,
  type MergeSlicing,
  mergePlanned,
  pendingMerges,
  planMerges,
} from './merge-parts.ts';
import { type PlanDoc, readBatchUsers, readPlan } from './plan.ts';
import { forEachConcurrent } from './pool.ts';
import type { ObjectStore, PartReader, PartWriterFactory } from './ports.ts';
import type { QualityRecord, QuietFeedRecord, UsersSelection } from './quality.ts';
import type { MergeResult, SchemaChange, SchemaDoc, SchemaRegistry } from './schema-registry.ts';
import { readJson, writeJson } from './store-json.ts';
import { type StagedFile, TableSinks } from './table-sinks.ts';
import { collectTaskChecks, TASK_RETIREMENT } from './task-retirement.ts';
import type { Clock, ColumnDef } from './types.ts';

/** The query catalog kept in step with the registry (Glue in AWS; nothing locally). */
export interface TableCatalog {
  /**
   * `dts`: the partitions this load wrote to the table (the catalog widens its projection to
   * them); `parent`: how its root table's rows name their parent record (the current view's).
   */
  syncTables(
    tables: readonly {
      table: string;
      columns: readonly ColumnDef[];
      dts?: readonly string[];
      parent?: ParentKeyLink;
    }[],
  ): Promise<void>;
}

export interface CommitDeps {
  readonly store: ObjectStore;
  readonly parts: PartWriterFactory;
  /** Reads staged parts back when batches disagree on a new column's type. */
  readonly reader: PartReader;
  readonly clock: Clock;
  readonly catalog?: TableCatalog;
  /** The load id's lease (lease.ts): renewed, so checked still ours, before publishing and before the commit point. */
  readonly lease?: Lease;
  /** Size a merged file reaches before the next one starts (merge-parts.ts); tests lower it. */
  readonly minFileBytes?: number;
  /**
   * Merge a partition too long for one invocation in slices (merge-parts.ts): the deployed
   * commit's MERGE_SLICING, the same whether it hands the merge off or merges itself.
   */
  readonly slicing?: MergeSlicing;
  /** How the webhook events lock is taken (event-claims.ts); defaults suit a Lambda. */
  readonly eventsLock?: EventsLockOptions;
  /** When to hand the merge to a Map instead (merge-fan-out.ts; commitOrHandOff only). */
  readonly mergeFanOut?: MergeFanOutPolicy;
  /** What the merge did (merged or reused each partition), for the invocation's log. */
  readonly onMerged?: (groups: readonly MergedGroup[]) => void;
  /**
   * Consecutive committed loads with a 404 that retire a fetched task id (task-retirement.ts);
   * default TASK_RETIREMENT.retireAfterMisses.
   */
  readonly retireTaskAfterMisses?: number;
  /**
   * Judges the load's data quality (quality.ts) before its report is written, over the loads
   * committed before it; the quiet feeds it returns are recorded in the report, so the next load
   * of the series carries a dead feed's flag forward with bounded reads. The load is committed
   * whatever the judgement does: a failure (or undefined) records nothing, which the next load
   * reads as "did not judge" (it neither clears nor carries a flag from it).
   */
  readonly judge?: (draft: LoadMarker) => Promise<QualityRecord | undefined>;
}

/** A commit that ran: committed, or handed its merge to the Map and to be run again after it. */
export type CommitOutcome = { readonly committed: LoadMarker } | { readonly handedOff: MergeHandOff };

export interface CommittedFile {
  readonly key: string;
  readonly table: string;
  readonly rows: number;
  readonly bytes: number;
}

export interface LoadMarker {
  readonly formatVersion: 1;
  readonly loadId: string;
  readonly dt: string;
  readonly startedAt: string;
  readonly committedAt: string;
  readonly resources: readonly string[];
  readonly users: number;
  readonly failedUserCount: number;
  /** The first failed identifiers (the full list is the `user_loads` table). */
  readonly failedUsers: readonly string[];
  readonly missingBatches: readonly number[];
  readonly requests: number;
  readonly rowsByTable: Readonly<Record<string, number>>;
  readonly files: readonly CommittedFile[];
  readonly schemaVersion: number;
  /**
   * The changes this load made to the registry, whichever of its commit's attempts claimed them.
   * Includes `shape_change`s: a field seen as a list and a scalar (or an object), table and column named.
   */
  readonly schemaChanges: readonly SchemaChange[];
  /** Bare NaN / Infinity / -Infinity tokens loaded as null (each token kept in `<column>__v_text`). */
  readonly nonFiniteValues: number;
  /**
   * Resources found unusable (endpoint-level: missing path, other auth, unreadable body), one
   * entry per resource merged over the batches; their units are `endpoint_unavailable`.
   */
  readonly endpointFindings: readonly EndpointFinding[];
  /** The webhook events this load commits (`webhook_events`): the claim it commits with. */
  readonly events?: MarkerEvents;
  /** A `changed` load: its schedule and the users it was planned with (a re-run loads them again). */
  readonly changed?: MarkerChanged;
  /**
   * The plan's schedule (the CLI's loads: `local`) and users selection: with the tables, the
   * series the quality signals compare this load with (quality.ts `seriesOf`). Absent in
   * reports written before markers carried them.
   */
  readonly schedule?: string;
  readonly usersSelection?: UsersSelection;
  /**
   * Failed users no batch counted, by primary error code (load-batch.ts `primaryFailureCode`):
   * those failed by units the commit settled, and the users of missing batches (`batch_failed`).
   * With the batches' counts they add up to `failedUserCount`. Absent when there are none.
   */
  readonly failedAtCommitByCode?: Readonly<Record<string, number>>;
  /**
   * The tables the commit judged quiet (`CommitDeps.judge`), with the median each was judged by
   * and since which load it has been quiet: the next load carries the flag forward. Empty when
   * none was; absent when the commit did not judge (or in reports written before commits did).
   */
  readonly quietFeeds?: readonly QuietFeedRecord[];
  /** The feed tables the commit judged, quiet or not (quality.ts `LoadFigures.judgedFeeds`). */
  readonly judgedFeeds?: readonly string[];
  /** Feed tables whose lower level the commit accepted as the new normal (quality.ts `LoadFigures.newLevelFeeds`). */
  readonly newLevelFeeds?: readonly string[];
}

interface CommitIntent {
  readonly loadId: string;
  readonly keys: readonly string[];
  /**
   * The schema versions attempts of this load id set out to claim, each with the changes it
   * brings, written before the claim: a re-run finds those changes in the registry already, so
   * this is where it learns them (each entry counts once its version file proves it; see
   * `earlierClaims`). Absent in intents written before commits recorded their claims.
   */
  readonly claims?: readonly ClaimRecord[];
}

interface ClaimRecord extends SchemaClaim {
  readonly changes: readonly SchemaChange[];
}

export const BATCH_FAILED_CODE = 'batch_failed';
const MARKER_FAILED_USERS = 1000;
const MOVE_CONCURRENCY = 16;
/** Commits racing for the same schema version: each lost race means another commit finished. */
const SCHEMA_CLAIM_ATTEMPTS = 10;

/** Commits the load, merging every partition itself. */
export async function commitLoad(loadId: string, deps: CommitDeps): Promise<LoadMarker> {
  const { mergeFanOut: _never, ...merging } = deps;
  const outcome = await commitOrHandOff(loadId, merging);
  if ('handedOff' in outcome) throw new LakeStateError(`load ${loadId}: the merge was handed off`);
  return outcome.committed;
}

/** Commits the load, or hands its merge off by `deps.mergeFanOut` (then commits nothing). */
export async function commitOrHandOff(loadId: string, deps: CommitDeps): Promise<CommitOutcome> {
  const { store } = deps;
  const plan = await readPlan(store, loadId);

  const manifests: BatchManifest[] = [];
  const missingBatches: number[] = [];
  for (let b = 0; b < plan.batches; b++) {
    const manifest = await readJson<BatchManifest>(store, batchManifestKey(loadId, b));
    if (manifest) manifests.push(manifest);
    else missingBatches.push(b);
  }
  // Read now: the staging (and this file) is gone once the load is committed.
  const changed = await readChangedSelection(store, loadId);
  const tasks = collectTaskChecks(
    manifests,
    deps.retireTaskAfterMisses ?? TASK_RETIREMENT.retireAfterMisses,
    plan.startedAt,
  );
  // A capped changed load claims its own users' events only; the deferred users' wait.
  const onlyUsers = claimUsers(changed);
  const claimed = await claimEvents(plan, {
    store,
    parts: deps.parts,
    reader: deps.reader,
    clock: deps.clock,
    ...(deps.eventsLock === undefined ? {} : { eventsLock: deps.eventsLock }),
    ...(deps.lease === undefined ? {} : { loadOwner: deps.lease.doc.owner }),
    ...(tasks === undefined ? {} : { tasks }),
    ...(onlyUsers === undefined ? {} : { claimUsers: onlyUsers }),
  });
  if (claimed?.manifest !== undefined) manifests.push(claimed.manifest);
  try {
    const outcome = await commitClaimed(loadId, plan, manifests, missingBatches, claimed, changed, deps);
    // Not committing yet: the lock goes now, the commit after the Map claims the events again.
    if ('handedOff' in outcome && claimed !== undefined) await releaseClaim(claimed);
    return outcome;
  } catch (error) {
    if (claimed !== undefined) await releaseClaim(claimed);
    throw error;
  }
}

async function commitClaimed(
  loadId: string,
  plan: PlanDoc,
  manifests: BatchManifest[],
  missingBatches: number[],
  claimed: ClaimedBatch | undefined,
  changed: Awaited<ReturnType<typeof readChangedSelection>>,
  deps: CommitDeps,
): Promise<CommitOutcome> {
  const { store } = deps;

  // Units the batches could not judge alone (a Lambda each), judged with every batch's evidence.
  const deferred = settleDeferredUnits(manifests, mergeFindings(manifests));
  const earlier = await earlierClaims(store, loadId);
  const { registry, changes, staged, claims } = await settleSchema(
    loadId,
    plan,
    manifests,
    missingBatches,
    deferred,
    earlier,
    deps,
  );
  const schemaVersion = registry.version;
  // The load's changes whatever attempt claimed them: this run finds those of an attempt that
  // died after its claim (or handed its merge to the Map) committed already, so it has none itself.
  const reported = await changesHandedOff(
    deps,
    loadId,
    distinctChanges([...claims.flatMap((c) => c.changes), ...changes]),
  );
  if (deps.catalog) {
    await deps.catalog.syncTables(
      registry.tables().map((table) => {
        const parent = registry.fanOutParent(rootTableOf(table));
        return {
          table,
          columns: registry.columns(table),
          dts: [...new Set(staged.filter((f) => f.table === table).map((f) => f.dt))],
          ...(parent === undefined ? {} : { parent }),
        };
      }),
    );
  }

  // One file per table and partition (or files of at least 128 MB): the batches' parts merged,
  // here or, when that would not fit this invocation, by a Map before the commit runs again.
  // Planned once for both: the plan lists the staging and reads each lone part's footer.
  const mergePlan = await planMerges(loadId, staged, registry, deps);
  if (deps.mergeFanOut !== undefined) {
    const pending = await pendingMerges(loadId, mergePlan, deps);
    const schema = { version: schemaVersion, changes: reported };
    const handedOff = await handOffMerges(loadId, pending, schema, deps.mergeFanOut, deps);
    if (handedOff !== undefined) return { handedOff };
  }
  const { files: toPublish, merged } = await mergePlanned(loadId, mergePlan, deps);
  deps.onMerged?.(merged);
  const newKeys = new Set(toPublish.map((f) => f.finalKey));
  const previousKeys = await previouslyPublished(store, loadId, plan.dt, registry.tables());
  const intent: CommitIntent = {
    loadId,
    keys: [...new Set([...newKeys, ...previousKeys])].sort(),
    claims,
  };
  await writeJson(store, commitIntentKey(loadId), intent);

  await deps.lease?.renew();
  // A re-run of a committed load id: hide the old attempt before touching its files.
  const hidEarlierCommit = (await store.get(dltLoadsKey(loadId))) !== undefined;
  if (hidEarlierCommit) await store.delete([dltLoadsKey(loadId)]);
  const progress = { published: 0 };
  try {
    await publish(toPublish, loadId, store, progress);
    const stale = [...previousKeys].filter((k) => !newKeys.has(k));
    if (stale.length > 0) await store.delete(stale);
    const built = await buildMarker(
      loadId,
      plan,
      manifests,
      missingBatches,
      deferred,
      toPublish,
      reported,
      schemaVersion,
      deps,
    );
    const events = markerEvents(claimed);
    const planned = markerChanged(changed, claimed?.claim.events, plan.startedAt);
    const draft: LoadMarker = {
      ...built,
      ...(events === undefined ? {} : { events }),
      ...(planned === undefined ? {} : { changed: planned }),
    };
    const judged = await deps.judge?.(draft).catch(() => undefined);
    const marker: LoadMarker =
      judged === undefined
        ? draft
        : {
            ...draft,
            quietFeeds: [...judged.quietFeeds],
            judgedFeeds: [...judged.judgedFeeds],
            ...(judged.newLevelFeeds === undefined ? {} : { newLevelFeeds: [...judged.newLevelFeeds] }),
          };
    await writeJson(store, loadMarkerKey(loadId), marker);
    await deps.lease?.renew();
    await claimed?.lock.renew();
    await writeLoadRow(marker, registry, deps);
    // Committed. The events' claim joins the committed set (a crash here leaves it pending: the
    // next commit folds it), and a `changed` schedule advances past what this load was planned from.
    // Neither may fail the committed load: a pending claim is folded by the next commit, and a
    // schedule that did not advance loads the same users again (at least once, never lost).
    if (claimed !== undefined)
      await finishClaim(claimed, { store, parts: deps.parts, clock: deps.clock }).catch(() =>
        releaseClaim(claimed),
      );
    if (changed !== undefined) {
      // A resource this load switched off (endpoint findings) was not loaded for any of its
      // users: they are not failed users, yet their events would be seen and their change left
      // unloaded until an `all` run. They are retried once by the next changed run, as failed
      // users are.
      const unloaded =
        marker.endpointFindings.length > 0 ? (changed.planned ?? []).map((u) => u.identifier) : [];
      await foldChangedSelection(store, changed, [...marker.failedUsers, ...unloaded]).catch(() => undefined);
    }
    // Committed. Staging left behind (a failed delete) is invisible and `verify --fix` removes it.
    // The temporary files of an earlier attempt killed mid-write (a merged file half written) go
    // too: `list` does not show them, and `verify` would report them for ever.
    await store.discardUnfinished?.(stagingPrefix(loadId)).catch(() => undefined);
    const leftovers = await store.list(stagingPrefix(loadId)).catch(() => []);
    if (leftovers.length > 0) await store.delete(leftovers).catch(() => undefined);
    return { committed: marker };
  } catch (error) {
    const mine = new Set([...newKeys, ...previousKeys]);
    const published = await countPublished(store, mine).catch(() => progress.published);
    if (published === 0 && !hidEarlierCommit) throw error;
    throw new CommitIncompleteError(loadId, published, hidEarlierCommit, error);
  }
}

async function buildMarker(
  loadId: string,
  plan: PlanDoc,
  manifests: readonly BatchManifest[],
  missingBatches: readonly number[],
  deferred: DeferredSettlement,
  staged: readonly StagedFile[],
  changes: readonly SchemaChange[],
  schemaVersion: number,
  deps: CommitDeps,
): Promise<LoadMarker> {
  const { store } = deps;
  const failedUsers = [...manifests.flatMap((m) => m.failedUsers), ...deferred.lateFailed];
  let missingUsers = 0;
  for (const batch of missingBatches) {
    const users = await readBatchUsers(store, loadId, batch);
    missingUsers += users.length;
    if (failedUsers.length < MARKER_FAILED_USERS) failedUsers.push(...users.map((u) => u.identifier));
  }
  const rowsByTable: Record<string, number> = {};
  for (const f of staged) rowsByTable[f.table] = (rowsByTable[f.table] ?? 0) + f.rows;

  return {
    formatVersion: 1,
    loadId,
    dt: plan.dt,
    startedAt: plan.startedAt,
    committedAt: deps.clock().toISOString(),
    resources: plan.resources,
    users: plan.users,
    failedUserCount:
      manifests.reduce((n, m) => n + m.failedUsers.length, 0) + deferred.lateFailed.length + missingUsers,
    failedUsers: failedUsers.slice(0, MARKER_FAILED_USERS),
    missingBatches,
    requests: manifests.reduce((n, m) => n + m.requests, 0),
    rowsByTable,
    files: staged
      .map((f) => ({ key: f.finalKey, table: f.table, rows: f.rows, bytes: f.bytes }))
      .sort((a, b) => (a.key < b.key ? -1 : 1)),
    schemaVersion,
    schemaChanges: [...changes],
    nonFiniteValues: manifests.reduce((n, m) => n + (m.nonFiniteValues ?? 0), 0),
    endpointFindings: deferred.findings,
    ...(plan.schedule === undefined ? {} : { schedule: plan.schedule }),
    ...(plan.usersSelection === undefined ? {} : { usersSelection: plan.usersSelection }),
    ...failedAtCommit(deferred.lateFailedByCode, missingUsers),
  };
}

function failedAtCommit(
  late: Readonly<Record<string, number>>,
  missingUsers: number,
): { failedAtCommitByCode?: Record<string, number> } {
  const byCode: Record<string, number> = { ...late };
  if (missingUsers > 0) byCode[BATCH_FAILED_CODE] = (byCode[BATCH_FAILED_CODE] ?? 0) + missingUsers;
  return Object.keys(byCode).length === 0 ? {} : { failedAtCommitByCode: byCode };
}

/** How many of `keys` are under their table folders now (what a failed commit leaves visible on disk). */
async function countPublished(store: ObjectStore, keys: ReadonlySet<string>): Promise<number> {
  const prefixes = new Set([...keys].map((k) => k.slice(0, k.lastIndexOf('/') + 1)));
  let n = 0;
  for (const prefix of prefixes) for (const key of await store.list(prefix)) if (keys.has(key)) n++;
  return n;
}

/** One finding per resource over all batches (each Lambda judged its batch alone). */
function mergeFindings(manifests: readonly BatchManifest[]): EndpointFinding[] {
  const byResource = new Map<string, EndpointFinding>();
  for (const m of manifests) {
    for (const f of m.endpointFindings ?? []) {
      const seen = byResource.get(f.resource);
      byResource.set(
        f.resource,
        seen === undefined
          ? f
          : {
              ...seen,
              evidenceUsers: seen.evidenceUsers + f.evidenceUsers,
              batches: [...new Set([...seen.batches, ...f.batches])].sort((a, b) => a - b),
            },
      );
    }
  }
  return [...byResource.values()].sort((a, b) => (a.resource < b.resource ? -1 : 1));
}

/** The commit point: the load's one `_dlt_loads` row, a Parquet file that appears whole or not at all. */
async function writeLoadRow(marker: LoadMarker, registry: SchemaRegistry, deps: CommitDeps): Promise<void> {
  const table = LAKE.loadsTable;
  const row = registry.coerceRow(table, {
    load_id: marker.loadId,
    schema_name: LAKE.schemaName,
    status: LAKE.loadCommittedStatus,
    inserted_at: marker.committedAt,
    schema_version: marker.schemaVersion,
    started_at: marker.startedAt,
    load_date: marker.dt,
    resources: marker.resources.join(','),
    users: marker.users,
    failed_users: marker.failedUserCount,
    requests: marker.requests,
    rows: Object.values(marker.rowsByTable).reduce((a, b) => a + b, 0),
  });
  const writer = await deps.parts.open(deps.store, dltLoadsKey(marker.loadId), registry.columns(table));
  try {
    await writer.append(row);
    await writer.close();
  } catch (error) {
    await writer.abort().catch(() => undefined);
    throw error;
  }
}

interface SettledSchema {
  readonly registry: SchemaRegistry;
  readonly changes: SchemaChange[];
  /** Every part to publish: the batches' (some rewritten) and those recording missing batches. */
  readonly staged: StagedFile[];
  /** The claims of this load id that went through: earlier attempts' and this one's, if it claimed. */
  readonly claims: readonly ClaimRecord[];
}

/** What earlier attempts of a load id left of the schema changes they claimed. */
interface EarlierClaims {
  /** The keys of the intent they left (kept: the intent is rewritten at each claim). */
  readonly keys: readonly string[];
  /** Their claims that went through. */
  readonly claims: readonly ClaimRecord[];
}

async function earlierClaims(store: ObjectStore, loadId: string): Promise<EarlierClaims> {
  const intent = await readJson<CommitIntent>(store, commitIntentKey(loadId));
  const claims: ClaimRecord[] = [];
  // A claim recorded and never made (the attempt died first, or lost the version to another
  // commit) has no version file with its bytes: its changes are not the load's.
  // Two commits that claim byte-identical registries (the same base, the same changes) cannot be
  // told apart: both then report the changes, which both loads' batches did bring.
  for (const claim of intent?.claims ?? []) if (await heldClaim(store, claim)) claims.push(claim);
  return { keys: intent?.keys ?? [], claims };
}

/**
 * Folds the batches' schema views into the committed registry and claims the next version.
 * Another commit may claim it first (two schedules on one lake): then everything is redone on
 * top of the newer registry, parts rewritten earlier included, since the winner may have typed
 * the same new column differently.
 */
async function settleSchema(
  loadId: string,
  plan: PlanDoc,
  manifests: readonly BatchManifest[],
  missingBatches: readonly number[],
  deferred: DeferredSettlement,
  earlier: EarlierClaims,
  deps: CommitDeps,
): Promise<SettledSchema> {
  const rewritten = new Set<string>();
  for (let attempt = 1; ; attempt++) {
    const registry = await readCommittedSchema(deps.store);
    const baseVersion = registry.version;
    const committedColumns = registry.columnCounts();
    if (!registry.hasTable(LAKE.loadsTable)) registry.declareTable(LAKE.loadsTable, [...DLT_LOADS_COLUMNS]);
    const changes: SchemaChange[] = [];
    const staged: StagedFile[] = [];
    // Source paths new to the lake are named in one total order over every batch's view.
    registry.claimNames(manifests.map((m) => m.schema));
    // Their types are settled from every batch's values together, never by which came first.
    const settled = registry.settleNewColumns(
      manifests.map((m) =>
        m.newColumns === undefined ? { schema: m.schema } : { schema: m.schema, values: m.newColumns },
      ),
    );
    const mergedViews = manifests.map((manifest, i) => {
      const view = settled[i]!;
      const merged = registry.merge(
        withoutVariantsOfConflicts(withoutColumns(manifest.schema, view.dropColumns), registry),
      );
      changes.push(...merged.added);
      return { view, merged };
    });
    // Every view is in before any part is re-typed, and the new columns in their own order: a
    // re-typed part gets the columns a later attempt of this commit would give it.
    registry.orderNewColumns(committedColumns);
    for (const [i, manifest] of manifests.entries()) {
      const { view, merged } = mergedViews[i]!;
      // Conflicts name our tables; renames name the batch's (the names its parts carry).
      const tables = new Set([...merged.conflicts, ...merged.renames].map((c) => c.table));
      for (const table of view.rewrite) tables.add(table);
      for (const r of merged.tableRenames) tables.add(r.from).add(r.to);
      for (const f of manifest.files) if (rewritten.has(f.stagedKey)) tables.add(f.table);
      const files =
        tables.size === 0
          ? manifest.files
          : await reconcile(manifest, tables, registry, deps, merged, committedColumns);
      for (const f of files) if (tables.has(f.table)) rewritten.add(f.stagedKey);
      staged.push(...files);
    }
    // The `user_loads` rows of units the batches deferred, one more part per batch that had any.
    staged.push(...(await recordDeferredUnits(loadId, plan, manifests, deferred, registry, deps)));
    // Users of batches that never finished: recorded as failed, staged like any batch output.
    for (const batch of missingBatches) {
      staged.push(
        ...(await recordFailedBatch(loadId, batch, plan.dt, plan.startedAt, plan.resources, registry, deps)),
      );
    }
    // A set of serialized changes: one wide record can add tens of thousands of columns, and a
    // pairwise comparison made that step quadratic (minutes for 20k columns).
    const seen = new Set(changes.map(changeKey));
    for (const change of registry.changes()) {
      const key = changeKey(change);
      if (!seen.has(key)) {
        seen.add(key);
        changes.push(change);
      }
    }
    if (changes.length === 0) return { registry, changes, staged, claims: earlier.claims };
    // New columns in an order of their own, not the batches' (mergeParts rewrites every part
    // written in another order): Glue's columns and the files' then agree for any split.
    registry.orderNewColumns(committedColumns);
    registry.setVersion(baseVersion + 1);
    // Recorded before the claim: an attempt that dies right after claiming leaves its changes
    // where the next attempt, which finds them in the registry, reads them (and only if it won).
    const claims = [...earlier.claims, { ...schemaClaimOf(registry), changes }];
    const intent: CommitIntent = { loadId, keys: earlier.keys, claims };
    await writeJson(deps.store, commitIntentKey(loadId), intent);
    if (await claimSchemaVersion(deps.store, registry)) return { registry, changes, staged, claims };
    if (attempt >= SCHEMA_CLAIM_ATTEMPTS) {
      throw new LakeStateError(
        `load ${loadId}: schema version ${baseVersion + 1} was taken by another commit ${attempt} times; re-run the commit`,
      );
    }
  }
}

/**
 * Moves staged parts to their final keys. A part no longer staged but already at its final
 * key was moved by an earlier attempt of this commit that died: that is progress, not an error.
 */
async function publish(
  files: readonly StagedFile[],
  loadId: string,
  store: ObjectStore,
  progress: { published: number },
): Promise<void> {
  const stagedNow = new Set(await store.list(stagingPrefix(loadId)));
  const finals = new Map<string, Promise<Set<string>>>();
  const published = (file: StagedFile) => {
    const prefix = partitionPrefix(file.table, file.dt);
    if (!finals.has(prefix))
      finals.set(
        prefix,
        store.list(prefix).then((keys) => new Set(keys)),
      );
    return finals.get(prefix)!;
  };
  await forEachConcurrent(files, MOVE_CONCURRENCY, async (file) => {
    if (stagedNow.has(file.stagedKey)) {
      await store.move(file.stagedKey, file.finalKey);
      progress.published++;
      return;
    }
    if (!(await published(file)).has(file.finalKey)) {
      throw new LakeStateError(`load ${loadId}: staged part ${file.stagedKey} is missing; re-run the load`);
    }
  });
}

/**
 * Rewrites a batch's parts of the tables where its view of a new column differs from the type
 * the load settled on (or a concurrent commit's): values are re-typed by the registry, so misfits move to variant columns. Reads a
 * whole part into memory; parts are bounded by `partMaxRows`/`partMaxBytes`.
 */
async function reconcile(
  manifest: BatchManifest,
  tables: ReadonlySet<string>,
  registry: SchemaRegistry,
  deps: CommitDeps,
  names: Pick<MergeResult, 'renames' | 'tableRenames'>,
  /** The committed registry's column counts (`orderNewColumns`). */
  committedColumns: ReadonlyMap<string, number>,
): Promise<StagedFile[]> {
  const out: StagedFile[] = [];
  for (const file of manifest.files) {
    if (!tables.has(file.table)) {
      out.push(file);
      continue;
    }
    // A source path this batch named differently from the registry moves to the registry's column or table.
    const table = names.tableRenames.find((r) => r.from === file.table)?.to ?? file.table;
    const renamed = new Map(names.renames.filter((r) => r.table === file.table).map((r) => [r.from, r.to]));
    const raw = await deps.reader.readRows(deps.store, file.stagedKey);
    const rows = raw.map((r) => registry.retypeRow(table, renameKeys(foldVariants(r), renamed)));
    // A variant re-typing added takes its place among the new columns before the part is written.
    registry.orderNewColumns(committedColumns);
    const writer = await deps.parts.open(deps.store, file.stagedKey, registry.columns(table));
    for (const row of rows) await writer.append(row);
    const written = await writer.close();
    const finalKey = table === file.table ? file.finalKey : table + file.finalKey.slice(file.table.length);
    out.push({ ...file, table, finalKey, rows: written.rows, bytes: written.bytes });
  }
  return out;
}

const VARIANT_SUFFIX = /__v_(?:text|bigint|double|bool|timestamp)$/;

function baseColumn(column: string): string {
  let base = column;
  while (VARIANT_SUFFIX.test(base)) base = base.replace(VARIANT_SUFFIX, '');
  return base;
}

/**
 * A batch's view minus its variants of columns it typed differently from the registry: those
 * variants held values relative to the losing type. Re-typing the batch's rows (reconcile)
 * creates whatever variants the committed type needs, and no others.
 */
function withoutVariantsOfConflicts(doc: SchemaDoc, registry: SchemaRegistry): SchemaDoc {
  const tables: Record<string, SchemaDoc['tables'][string]> = {};
  for (const [table, entry] of Object.entries(doc.tables)) {
    const columns = entry.columns;
    const committed = new Map(registry.columns(table).map((c) => [c.name, c.type]));
    const conflicting = new Set(
      columns.filter((c) => committed.has(c.name) && committed.get(c.name) !== c.type).map((c) => c.name),
    );
    tables[table] = {
      // The batch's source path -> name mapping (and overflow reasons) travel with its columns.
      ...entry,
      columns: columns.filter((c) => c.name === baseColumn(c.name) || !conflicting.has(baseColumn(c.name))),
    };
  }
  return { ...doc, tables };
}

/** A batch's view without the given columns (by its table): variants the commit recreates by re-typing. */
function withoutColumns(doc: SchemaDoc, drop: ReadonlyMap<string, ReadonlySet<string>>): SchemaDoc {
  if (drop.size === 0) return doc;
  const tables: Record<string, SchemaDoc['tables'][string]> = {};
  for (const [table, entry] of Object.entries(doc.tables)) {
    const gone = drop.get(table);
    tables[table] =
      gone === undefined ? entry : { ...entry, columns: entry.columns.filter((c) => !gone.has(c.name)) };
  }
  return { ...doc, tables };
}

/**
 * Puts each value a batch had routed to a variant column back under its base column, so
 * re-typing places it by the committed type: a value that fits the base goes there, not into
 * a leftover variant of the losing batch (`price__v_double` beside a double `price`).
 */
function foldVariants(row: Record<string, string | number | boolean | null>) {
  const out: Record<string, string | number | boolean | null> = Object.create(null);
  const variants: [string, string | number | boolean][] = [];
  for (const [column, value] of Object.entries(row)) {
    if (!VARIANT_SUFFIX.test(column)) out[column] = value;
    else if (value !== null) variants.push([column, value]);
  }
  for (const [column, value] of variants) {
    const base = baseColumn(column);
    if (out[base] === null || out[base] === undefined) out[base] = value;
  }
  return out;
}

function renameKeys<V>(row: Record<string, V>, renamed: ReadonlyMap<string, string>): Record<string, V> {
  if (renamed.size === 0) return row;
  const out: Record<string, V> = Object.create(null);
  for (const [column, value] of Object.entries(row)) out[renamed.get(column) ?? column] = value;
  return out;
}

function changeKey(change: SchemaChange): string {
  return JSON.stringify(change);
}

/** Each change once, where it first appears. */
function distinctChanges(changes: readonly SchemaChange[]): SchemaChange[] {
  const seen = new Set<string>();
  return changes.filter((c) => {
    const key = changeKey(c);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Keys an earlier attempt of this load id published: what its report lists, what its commit
 * intent was publishing, and, whatever survived of those (staging expires after 7 days), every
 * part of this load id in the load's `dt` partition of every table. The last one makes a re-run
 * with another batch size replace an attempt that died before its report without duplicating
 * it: the load id is in every part's key. (Parts a dead attempt put in record-date partitions,
 * `partitionBy`, are found through its intent only; without one they stay invisible orphans.)
 */
async function previouslyPublished(
  store: ObjectStore,
  loadId: string,
  dt: string,
  tables: readonly string[],
): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const table of tables) {
    if (!isPartitioned(table)) continue;
    for (const key of await store.list(`${partitionPrefix(table, dt)}${loadId}.`)) {
      if (parsePartKey(key)?.loadId === loadId) keys.add(key);
    }
  }
  const marker = await readJson<LoadMarker>(store, loadMarkerKey(loadId));
  for (const f of marker?.files ?? []) keys.add(f.key);
  const intent = await readJson<CommitIntent>(store, commitIntentKey(loadId));
  for (const k of intent?.keys ?? []) keys.add(k);
  return keys;
}

/**
 * Writes each batch's settled deferred units as one more `user_loads` part of that batch (the
 * part number after its own), so keys stay a function of the load and a re-run overwrites them.
 */
async function recordDeferredUnits(
  loadId: string,
  plan: PlanDoc,
  manifests: readonly BatchManifest[],
  deferred: DeferredSettlement,
  registry: SchemaRegistry,
  deps: CommitDeps,
): Promise<StagedFile[]> {
  if (deferred.units.length === 0) return [];
  if (!registry.hasTable(LAKE.userLoadsTable))
    registry.declareTable(LAKE.userLoadsTable, [...USER_LOADS_COLUMNS]);
  const table = LAKE.userLoadsTable;
  const out: StagedFile[] = [];
  for (const manifest of manifests) {
    const units = deferred.units.filter((u) => u.batch === manifest.batch);
    if (units.length === 0) continue;
    const own = manifest.files
      .filter((f) => f.table === table && f.dt === plan.dt)
      .map((f) => parsePartKey(f.finalKey)?.part ?? 0);
    const part = own.length === 0 ? 0 : Math.max(...own) + 1;
    const finalKey = partKey({ table, dt: plan.dt, loadId, batch: manifest.batch, part });
    const stagedKey = stagedPartKey(finalKey, loadId, manifest.batch);
    const writer = await deps.parts.open(deps.store, stagedKey, registry.columns(table));
    try {
      for (const unit of units)
        await writer.append(
          registry.coerceRow(table, userLoadsRow(plan, manifest.batch, unit.identifier, unit.outcome)),
        );
      const written = await writer.close();
      out.push({ table, dt: plan.dt, finalKey, stagedKey, rows: written.rows, bytes: written.bytes });
    } catch (error) {
      await writer.abort().catch(() => undefined);
      throw error;
    }
  }
  return out;
}

async function recordFailedBatch(
  loadId: string,
  batch: number,
  dt: string,
  startedAt: string,
  resources: readonly string[],
  registry: SchemaRegistry,
  deps: CommitDeps,
): Promise<StagedFile[]> {
  const users = await readBatchUsers(deps.store, loadId, batch);
  if (!registry.hasTable(LAKE.userLoadsTable))
    registry.declareTable(LAKE.userLoadsTable, [...USER_LOADS_COLUMNS]);
  const sinks = new TableSinks({ store: deps.store, parts: deps.parts, registry }, { loadId, batch });
  const rows = users.flatMap((user) =>
    resources.map((resource) => ({
      table: LAKE.userLoadsTable,
      dt,
      row: registry.coerceRow(LAKE.userLoadsTable, {
        [LAKE.loadIdColumn]: loadId,
        [LAKE.idColumn]: rootRowId(loadId, user.identifier, LAKE.userLoadsTable, resource),
        [LAKE.userColumn]: user.identifier,
        resource,
        status: 'failed',
        rows: 0,
        requests: 0,
        error_code: BATCH_FAILED_CODE,
        error_message: `batch ${batch} did not finish`,
        http_status: null,
        batch,
        load_started_at: startedAt,
      }),
    })),
  );
  await sinks.write(rows);
  return sinks.close();
}
