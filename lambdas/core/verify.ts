/**
 * `verify`: does the lake hold what its commits say, and nothing a crash left behind?
 *
 * Checked, each finding naming its object and load:
 *  - every part a committed load's report lists exists (`missing_part`);
 *  - no part of a committed load that its report does not list (`stray_part`: readers see it);
 *  - a committed load has its report (`missing_report`);
 *  - no part, report or staging of a load that is not committed and not running
 *    (`orphan_part`, `orphan_report`, `orphan_staging`), no staging of a committed load
 *    (`leftover_staging`), no temporary file of a killed write (`temp_file`), no expired lease
 *    (`expired_lease`);
 *  - the schema registry: its newest version readable and `current.json` not ahead of it (the
 *    load-time checks, lake-schema.ts), no version missing in the chain (`registry_gap`);
 *  - one Parquet type per column: every committed part's footer agrees with the registry
 *    (`column_type`);
 *  - every webhook event not committed yet, or set aside, reads as one (`unreadable_event`), and
 *    every object of the open `_events/` partitions is named as a stored event
 *    (`stray_event_object`: no load reads it, so it is not an event set aside);
 *  - no `_events/` partition dated more than a day ahead (`held_back_events`: loads list up to
 *    tomorrow, so its events wait until the day before its date);
 *  - no event object in a closed `_events/` partition (older than the loads' read window) that
 *    no committed load holds (`unclaimed_event`: no load would ever take it);
 *  - the events' state files (`_state/events/committed.json`, `_state/changed/<schedule>.json`)
 *    read (`state_file`: a damaged one stops every load, or every changed load of its schedule).
 * A load holding a live lease (lease.ts) is running: its staging and parts are not findings.
 * `fixable` findings are what `repairLake` removes: leftovers of loads that are not committed,
 * and, for committed loads, staging and parts their report does not list. Nothing a reader
 * sees through a committed load's report is ever removed. A load that is not committed but whose
 * staging a re-run can still commit (a plan and staged batches: a run killed mid-commit, for
 * one) is `resumable`: its staging and the parts it published are kept by `repairLake` unless
 * asked to discard resumable loads (`verify --fix --discard-resumable`, `clean --apply`), since
 * removing them loses a load that only needed running again.
 */
import { CHANGED_STATE_PREFIX, changedSelectionKey, readChangedState } from './changed-users.ts';
import { committedLoadIds } from './committed-loads.ts';
import { ConfigError, LakeStateError } from './errors.ts';
import {
  eventsOutsideWindow,
  heldBackEvents,
  readCommittedEvents,
  strayEventObjects,
  unreadableEvents,
} from './event-claims.ts';
import { heldBackWords } from './event-log.ts';
import { readCommittedSchema } from './lake-schema.ts';
import { isPartitioned } from './lake-views.ts';
import {
  dltLoadsKey,
  leasesPrefix,
  loadIdOfDltLoadsKey,
  loadIdOfStagingKey,
  loadMarkerKey,
  loadsPrefix,
  parseLeaseKey,
  parsePartKey,
  planKey,
  schemaVersionsPrefix,
} from './layout.ts';
import { isLive, type LeaseDoc, type LeaseOwner, readLease } from './lease.ts';
import { forEachConcurrent } from './pool.ts';
import type { ObjectStore, PartReader } from './ports.ts';
import type { SchemaRegistry } from './schema-registry.ts';
import { readJson } from './store-json.ts';
import type { Clock } from './types.ts';
import { REGISTRY, readRegistryShard, registryShardKey } from './user-registry.ts';

export type FindingKind =
  | 'missing_part'
  | 'stray_part'
  | 'missing_report'
  | 'unreadable_report'
  | 'unreadable_part'
  | 'resumable_staging'
  | 'orphan_part'
  | 'orphan_report'
  | 'orphan_staging'
  | 'leftover_staging'
  | 'temp_file'
  | 'expired_lease'
  | 'registry'
  | 'registry_gap'
  | 'column_type'
  | 'unreadable_event'
  | 'unclaimed_event'
  | 'stray_event_object'
  | 'held_back_events'
  | 'state_file'
  | 'user_registry';

export interface Finding {
  readonly kind: FindingKind;
  /** What `repairLake` would remove; empty for findings it cannot fix (reported only). */
  readonly keys: readonly string[];
  readonly loadId?: string;
  readonly detail: string;
  readonly fixable: boolean;
  /**
   * Of a load a re-run can still commit (its staging is resumable): `repairLake` keeps it unless
   * told to discard resumable loads.
   */
  readonly resumable?: boolean;
}

/** What `repairLake` removes beyond the leftovers of loads nothing can finish any more. */
export interface RepairOptions {
  /** Also remove the staging and published parts of loads a re-run could still commit. */
  readonly discardResumable?: boolean;
}

/** Kinds that hold a resumable load's data: kept with its staging. */
const RESUMABLE_KINDS: ReadonlySet<FindingKind> = new Set([
  'resumable_staging',
  'orphan_part',
  'orphan_report',
]);

export interface VerifyReport {
  readonly dest: string;
  readonly committedLoads: number;
  readonly partsChecked: number;
  /** Load ids with a live lease: being written now, so not judged. */
  readonly running: readonly string[];
  readonly findings: readonly Finding[];
}

export interface VerifyDeps {
  readonly store: ObjectStore;
  readonly reader: PartReader;
  readonly clock: Clock;
  /**
   * A store's unfinished writes (the local store's `.<name>.tmp-<hex>` files of a killed
   * process), with their last change. S3's incomplete multipart uploads are not listed: the
   * bucket's lifecycle rule aborts them.
   */
  readonly unfinishedWrites?: () => Promise<readonly { key: string; modifiedAt: Date }[]>;
  /** Unfinished writes younger than this may belong to a run without a lease (repair-schema): left alone. */
  readonly tempGraceMs?: number;
  /** True for a lease holder known dead before its lease expires (a CLI process gone on this host). */
  readonly isAbandoned?: (owner: LeaseOwner) => boolean;
}

interface Marker {
  readonly loadId: string;
  readonly files?: readonly { key: string }[];
}

const FOOTER_READS = 8;
const VERSION_KEY = /(\d+)\.json$/;
const DEFAULT_TEMP_GRACE_MS = 60 * 60 * 1000;

/** Reads the whole lake (keys, reports, leases, registry, every committed footer) and lists findings. */
export async function verifyLake(deps: VerifyDeps): Promise<VerifyReport> {
  const { store } = deps;
  const now = deps.clock();
  const findings: Finding[] = [];
  const keys = await store.list('');
  const committed = await committedLoadIds(store);

  // Leases: live ones mark running loads; expired ones are leftovers.
  const running = new Set<string>();
  for (const key of keys.filter((k) => k.startsWith(leasesPrefix))) {
    const parsed = parseLeaseKey(key);
    const doc = parsed && (await readJson<LeaseDoc>(store, key).catch(() => undefined));
    if (parsed && doc && isLive(doc, now) && !(deps.isAbandoned?.(doc.owner) ?? false))
      running.add(parsed.loadId);
    else
      findings.push({
        kind: 'expired_lease',
        keys: [key],
        ...(parsed ? { loadId: parsed.loadId } : {}),
        detail: `lease ${key} expired, or its holder is gone (it stopped without releasing it)`,
        fixable: true,
      });
  }
  const settled = (loadId: string) => !running.has(loadId);

  // Reports: what each committed load published.
  const listed = new Map<string, Set<string>>();
  /** Committed loads whose report is damaged: their parts are neither missing nor stray. */
  const unjudged = new Set<string>();
  for (const key of keys.filter((k) => k.startsWith(loadsPrefix) && k.endsWith('.json'))) {
    const marker = await readJson<Marker>(store, key).catch(() => undefined);
    // The key names the load; a damaged body must not move the report to another load.
    const loadId = key.slice(loadsPrefix.length, -'.json'.length);
    if (!committed.has(loadId)) {
      if (settled(loadId))
        findings.push({
          kind: 'orphan_report',
          keys: [key],
          loadId,
          detail: `report ${key} of load ${loadId}, which is not committed`,
          fixable: true,
        });
      continue;
    }
    if (!Array.isArray(marker?.files) || marker.files.some((f) => typeof f?.key !== 'string')) {
      // Damaged: which parts the load published is unknown, so none of them is judged.
      findings.push({
        kind: 'unreadable_report',
        keys: [],
        loadId,
        detail: `the report ${key} of committed load ${loadId} is unreadable or lists no files: its parts cannot be checked (re-run the load id to rewrite it)`,
        fixable: false,
      });
      unjudged.add(loadId);
      continue;
    }
    listed.set(loadId, new Set(marker.files.map((f) => f.key)));
  }
  const present = new Set(keys);
  for (const loadId of [...committed].sort()) {
    const files = listed.get(loadId);
    if (unjudged.has(loadId)) continue;
    if (files === undefined) {
      findings.push({
        kind: 'missing_report',
        keys: [],
        loadId,
        detail: `committed load ${loadId} has no report ${loadMarkerKey(loadId)}: its parts cannot be checked`,
        fixable: false,
      });
      continue;
    }
    const missing = [...files].filter((k) => !present.has(k)).sort();
    if (missing.length > 0)
      findings.push({
        kind: 'missing_part',
        keys: [],
        loadId,
        detail: `committed load ${loadId}: ${missing.length} part(s) its report lists are gone (first: ${missing[0]}); their rows are lost to readers`,
        fixable: false,
      });
  }

  // Parts under the table folders.
  const committedParts: string[] = [];
  const orphans = new Map<string, string[]>();
  const strays = new Map<string, string[]>();
  for (const key of keys) {
    const part = parsePartKey(key);
    if (part === undefined || !isPartitioned(part.table)) continue;
    if (committed.has(part.loadId)) {
      const files = listed.get(part.loadId);
      if (files === undefined || files.has(key)) committedParts.push(key);
      else push(strays, part.loadId, key);
    } else if (settled(part.loadId)) push(orphans, part.loadId, key);
  }
  for (const [loadId, list] of orphans)
    findings.push({
      kind: 'orphan_part',
      keys: list,
      loadId,
      detail: `${list.length} part(s) of load ${loadId}, which is not committed (invisible to readers; first: ${list[0]})`,
      fixable: true,
    });
  for (const [loadId, list] of strays)
    findings.push({
      kind: 'stray_part',
      keys: list,
      loadId,
      detail: `${list.length} part(s) of committed load ${loadId} that its report does not list (readers see them; first: ${list[0]}): re-run the load id to replace it, or remove them by hand once you know they are duplicates`,
      fixable: false,
    });

  // Staging.
  const staging = new Map<string, string[]>();
  for (const key of keys) {
    const loadId = loadIdOfStagingKey(key);
    if (loadId !== undefined && settled(loadId)) push(staging, loadId, key);
  }
  for (const [loadId, list] of staging) {
    // A plan with finished batches: an interrupted run that `load --resume` continues.
    // A committed load's staging is leftovers, whatever it holds (a resume of it is refused).
    const resumable =
      !committed.has(loadId) &&
      list.includes(planKey(loadId)) &&
      list.some((k) => k.endsWith('/manifest.json'));
    if (resumable) {
      // A `changed` load resumes with `--users changed` (its staged selection), not a users file.
      const users = list.includes(changedSelectionKey(loadId)) ? ' --users changed' : '';
      findings.push({
        kind: 'resumable_staging',
        keys: list,
        loadId,
        detail: `load ${loadId} was interrupted with ${list.filter((k) => k.endsWith('/manifest.json')).length} batch(es) staged (${list.length} objects), resumable: re-run it to commit it ('paylink-loader load${users} ... --resume ${loadId}'), or remove it with --fix --discard-resumable`,
        fixable: true,
      });
      continue;
    }
    const done = committed.has(loadId);
    findings.push({
      kind: done ? 'leftover_staging' : 'orphan_staging',
      keys: list,
      loadId,
      detail: done
        ? `${list.length} staging object(s) of committed load ${loadId} were not removed`
        : `${list.length} staging object(s) of load ${loadId}, which is not committed and not running (abandoned)`,
      fixable: true,
    });
  }

  // A commit point without its report was covered above; a report of a running load is not a finding.
  // Unfinished writes of killed processes.
  const grace = deps.tempGraceMs ?? DEFAULT_TEMP_GRACE_MS;
  for (const temp of (await deps.unfinishedWrites?.()) ?? []) {
    const loadId = loadIdOfStagingKey(temp.key);
    if (loadId !== undefined && !settled(loadId)) continue;
    if (loadId === undefined && now.getTime() - temp.modifiedAt.getTime() < grace) continue;
    findings.push({
      kind: 'temp_file',
      keys: [temp.key],
      ...(loadId === undefined ? {} : { loadId }),
      detail: `unfinished write ${temp.key} (a process was killed while writing it)`,
      fixable: true,
    });
  }

  // The registry: the load-time checks, the version chain, one type per column.
  let registry: Awaited<ReturnType<typeof readCommittedSchema>> | undefined;
  try {
    registry = await readCommittedSchema(store);
  } catch (error) {
    if (!(error instanceof LakeStateError)) throw error;
    findings.push({ kind: 'registry', keys: [], detail: error.message, fixable: false });
  }
  const versions = keys
    .filter((k) => k.startsWith(schemaVersionsPrefix) && VERSION_KEY.test(k))
    .map((k) => Number(VERSION_KEY.exec(k)![1]));
  const gaps: number[] = [];
  for (let v = 1; v < (versions.at(-1) ?? 0); v++) if (!versions.includes(v)) gaps.push(v);
  if (gaps.length > 0)
    findings.push({
      kind: 'registry_gap',
      keys: [],
      detail: `schema version file(s) ${gaps.join(', ')} missing below the newest (${versions.at(-1)}): the registry's history is incomplete`,
      fixable: false,
    });
  // Every committed part and commit point must be a readable Parquet file: one that is not
  // stops every reader (DuckDB, Athena) of its table.
  const commitPoints = keys.filter((k) => loadIdOfDltLoadsKey(k) !== undefined);
  const unreadable: string[] = [];
  await forEachConcurrent(commitPoints, FOOTER_READS, async (key) => {
    await deps.reader.readColumns(store, key).catch(() => unreadable.push(key));
  });
  let mismatches: TypeMismatch[] = [];
  if (registry !== undefined) {
    const checked = await footerMismatches(store, deps.reader, registry, committedParts);
    mismatches = checked.mismatches;
    unreadable.push(...checked.unreadable);
  }
  for (const key of unreadable.sort())
    findings.push({
      kind: 'unreadable_part',
      keys: [],
      ...(parsePartKey(key) ? { loadId: parsePartKey(key)!.loadId } : { loadId: loadIdOfDltLoadsKey(key)! }),
      detail: `${key} is not a readable Parquet file: every query of its table fails (restore it, or re-run its load id)`,
      fixable: false,
    });
  for (const m of mismatches)
    findings.push({ kind: 'column_type', keys: [], detail: describeMismatch(m), fixable: false });
  // The events' state files: a damaged one stops every load (committed.json) or every changed
  // load of its schedule, so it is named here with what to do, never removed by --fix.
  const stateProblem = (read: Promise<unknown>) =>
    read.then(
      () => undefined,
      (error: unknown) => {
        if (error instanceof LakeStateError) return error.message;
        throw error;
      },
    );
  const committedProblem = await stateProblem(readCommittedEvents(store));
  const stateProblems = [committedProblem];
  for (const key of keys.filter((k) => k.startsWith(CHANGED_STATE_PREFIX) && k.endsWith('.json'))) {
    const schedule = key.slice(CHANGED_STATE_PREFIX.length, -'.json'.length);
    stateProblems.push(
      await stateProblem(readChangedState(store, schedule)).catch((error: unknown) =>
        error instanceof ConfigError
          ? `lake ${key}: not named as a schedule's state (kebab-case)`
          : Promise.reject(error),
      ),
    );
  }
  for (const problem of stateProblems)
    if (problem !== undefined)
      findings.push({ kind: 'state_file', keys: [], detail: problem.replace(/\.$/, ''), fixable: false });
  // The checks below read committed.json: with it damaged they cannot run (the finding above says so).
  const eventChecks = committedProblem === undefined;

  // Webhook events no load can commit: set aside by every load until repaired or removed. Never
  // removed by --fix (an event is the only copy of what Atomic told us).
  for (const event of eventChecks ? await unreadableEvents(store, now.toISOString().slice(0, 10)) : [])
    findings.push({
      kind: 'unreadable_event',
      keys: [],
      detail: `${event.problem}: set aside by every load, never committed (repair it, or move it out of _events/ once its user is loaded)`,
      fixable: false,
    });
  // Objects no load reads (not named as a stored event): not set aside, just not events. Never
  // removed by --fix either (a renamed copy may be the only copy of an event).
  for (const stray of eventChecks ? await strayEventObjects(store, now.toISOString().slice(0, 10)) : [])
    findings.push({
      kind: 'stray_event_object',
      keys: [],
      detail: `${stray.problem}: not a stored event, so no load sets it aside or commits it (move it out of _events/, or back to its digest's name if it is a renamed event)`,
      fixable: false,
    });

  // Events in partitions dated past what loads list (a receiver clock ahead, a hand copy): they
  // wait in silence until that day unless said (never moved by --fix: the date is the receiver's).
  const today = now.toISOString().slice(0, 10);
  const heldBack = eventChecks ? await heldBackEvents(store, today) : [];
  if (heldBack.length > 0)
    findings.push({
      kind: 'held_back_events',
      keys: [],
      detail: heldBackWords(heldBack, today),
      fixable: false,
    });

  // Events in partitions loads no longer list, that no committed load holds: lost to every load
  // unless moved (never removed by --fix either).
  for (const event of eventChecks
    ? await eventsOutsideWindow(store, keys, committed, deps.reader, now.toISOString().slice(0, 10))
    : [])
    findings.push({ kind: 'unclaimed_event', keys: [], detail: event.problem, fixable: false });

  // The user registry (learned users and task ids): a shard a hand edit broke stops every load
  // that reads it (loads name it and commit nothing), so it is reported here, never removed.
  for (let shard = 0; shard < REGISTRY.shards; shard++) {
    const key = registryShardKey(shard);
    const problem = await readRegistryShard(store, shard).then(
      () => undefined,
      (error: unknown) => (error instanceof LakeStateError ? error.message : undefined),
    );
    if (problem !== undefined)
      findings.push({
        kind: 'user_registry',
        keys: [],
        detail: `${problem}: every load that reads ${key} stops before loading (repair the file: README, "Removing a user or task id")`,
        fixable: false,
      });
  }

  // A resumable load's published parts and report go with its staging: a re-run uses them.
  const resumable = new Set(findings.filter((f) => f.kind === 'resumable_staging').map((f) => f.loadId));
  const marked = findings.map((f) =>
    f.loadId !== undefined && resumable.has(f.loadId) && RESUMABLE_KINDS.has(f.kind)
      ? { ...f, resumable: true }
      : f,
  );
  return {
    dest: store.description,
    committedLoads: committed.size,
    partsChecked: committedParts.length,
    running: [...running].sort(),
    findings: marked,
  };
}

/**
 * Removes what the fixable findings name, after re-checking that each load is still neither
 * committed nor running (a load may have committed since the report was made); those of a
 * resumable load only with `discardResumable`. Returns the number of objects removed.
 */
export async function repairLake(
  deps: VerifyDeps & { readonly removeUnfinished?: (keys: readonly string[]) => Promise<void> },
  report: VerifyReport,
  options: RepairOptions = {},
): Promise<number> {
  const { store } = deps;
  let removed = 0;
  for (const finding of report.findings) {
    if (!finding.fixable || finding.keys.length === 0) continue;
    if (finding.resumable && !options.discardResumable) continue;
    if (
      finding.loadId !== undefined &&
      ['orphan_part', 'orphan_report', 'orphan_staging', 'resumable_staging'].includes(finding.kind)
    ) {
      // Committed or started since the report: no longer a leftover.
      if ((await store.get(dltLoadsKey(finding.loadId))) !== undefined) continue;
      const lease = await readLease(store, finding.loadId);
      if (lease !== undefined && isLive(lease, deps.clock())) continue;
    }
    if (finding.kind === 'temp_file') await deps.removeUnfinished?.(finding.keys);
    else await store.delete(finding.keys);
    removed += finding.keys.length;
  }
  return removed;
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

export interface TypeMismatch {
  readonly table: string;
  readonly column: string;
  readonly registryType: string;
  readonly fileTypes: readonly string[];
  /** The first part (key order) with another type. */
  readonly first: string;
}

/**
 * Columns whose type in the footers of `keys` (committed parts) differs from the registry's:
 * two Parquet types for one column, which Athena and DuckDB refuse or misread.
 */
export async function footerMismatches(
  store: ObjectStore,
  reader: PartReader,
  registry: SchemaRegistry,
  keys: readonly string[],
): Promise<{ mismatches: TypeMismatch[]; unreadable: string[] }> {
  const found = new Map<string, { table: string; column: string; types: Set<string>; first: string }>();
  const unreadable: string[] = [];
  await forEachConcurrent(keys, FOOTER_READS, async (key) => {
    const table = parsePartKey(key)?.table;
    if (table === undefined) return;
    const declared = new Map(registry.columns(table).map((c) => [c.name, c.type]));
    const columns = await reader.readColumns(store, key).catch(() => undefined);
    if (columns === undefined) {
      unreadable.push(key);
      return;
    }
    for (const column of columns) {
      const expected = declared.get(column.name);
      if (expected === undefined || column.type === expected) continue;
      const id = `${table}.${column.name}`;
      const seen = found.get(id) ?? { table, column: column.name, types: new Set<string>(), first: key };
      seen.types.add(String(column.type ?? 'unknown'));
      if (key < seen.first) seen.first = key;
      found.set(id, seen);
    }
  });
  const mismatches = [...found.values()]
    .sort((a, b) => (a.first < b.first ? -1 : 1))
    .map((m) => ({
      table: m.table,
      column: m.column,
      registryType: String(registry.columns(m.table).find((c) => c.name === m.column)?.type),
      fileTypes: [...m.types].sort(),
      first: m.first,
    }));
  return { mismatches, unreadable };
}

export function describeMismatch(m: TypeMismatch): string {
  return `${m.table}.${m.column} is ${m.registryType} in the registry but ${m.fileTypes.join('/')} in committed files (first: ${m.first})`;
}

/** Footers read at load start: enough to catch a registry rolled back under recent data, cheap on any lake. */
const LOAD_START_FOOTERS = 64;

/**
 * The load-time half of the footer check (`verify` reads every footer): the parts of the newest
 * committed load (by load id order; default ids are start times) must carry the registry's
 * types. A registry replaced by an older or hand-edited one would otherwise type new files
 * differently from committed ones. Throws LakeStateError naming the column and the way out.
 */
export async function assertRegistryMatchesNewestLoad(
  store: ObjectStore,
  reader: PartReader,
  registry: SchemaRegistry,
): Promise<void> {
  const newest = [...(await committedLoadIds(store))].sort().at(-1);
  if (newest === undefined) return;
  const marker = await readJson<Marker>(store, loadMarkerKey(newest));
  const keys = (marker?.files ?? []).map((f) => f.key).slice(0, LOAD_START_FOOTERS);
  const present = new Set<string>();
  for (const prefix of new Set(keys.map((k) => k.slice(0, k.lastIndexOf('/') + 1))))
    for (const key of await store.list(prefix)) present.add(key);
  const { mismatches } = await footerMismatches(
    store,
    reader,
    registry,
    keys.filter((k) => present.has(k)),
  );
  if (mismatches.length === 0) return;
  throw new LakeStateError(
    `the schema registry of ${store.description} disagrees with committed load ${newest}: ${describeMismatch(mismatches[0]!)}` +
      `${mismatches.length > 1 ? ` (and ${mismatches.length - 1} more column(s))` : ''}; loading now would give a column a second Parquet type. ` +
      `Run 'paylink-loader verify --dest ${store.description}' for every finding, then 'paylink-loader repair-schema --dest ${store.description}'`,
  );
}
