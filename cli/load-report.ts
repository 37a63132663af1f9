/**
 * One load of a lake, as `status --load-id`, `failed` and `load --users-from-failed` see it:
 * its report (`_loads/<id>.json`), whether it is committed (a `_dlt_loads` row), its per-user
 * outcomes (the load's `user_loads` parts) and the schema versions it went from and to.
 * Reads only; works on a local folder and on S3 alike.
 */
import { parquetReadObjects } from 'hyparquet';
import { isAbandonedOnThisHost } from '#adapters/lease-owner.ts';
import type { LoadMarker } from '#core/commit.ts';
import { committedLoadIds } from '#core/committed-loads.ts';
import { LAKE } from '#core/constants.ts';
import { ENDPOINT_UNAVAILABLE } from '#core/endpoint-health.ts';
import { ConfigError, LakeStateError, LoaderError } from '#core/errors.ts';
import {
  batchManifestKey,
  loadMarkerKey,
  parsePartKey,
  planKey,
  schemaVersionKey,
  stagingPrefix,
  tablePrefix,
} from '#core/layout.ts';
import { isLive, type LeaseDoc, readLease } from '#core/lease.ts';
import type { PlanDoc } from '#core/plan.ts';
import type { ObjectStore } from '#core/ports.ts';
import type { SchemaChange } from '#core/schema-registry.ts';
import { readJson } from '#core/store-json.ts';
import type { ColumnType } from '#core/types.ts';

/**
 * Exit code of `status --load-id` and `failed` when the lake has nothing of that load id: no
 * report, no `_dlt_loads` row, no staging. Distinct from 1 (the lake could not be read) so a
 * script can tell "no such load" from "broken lake".
 */
export const LOAD_NOT_FOUND_EXIT = 8;

/** Thrown when a lake has nothing of a load id; `exitCode` is LOAD_NOT_FOUND_EXIT. */
export class LoadNotFoundError extends LoaderError {
  override readonly name: string = 'LoadNotFoundError';
  readonly loadId: string;
  readonly exitCode = LOAD_NOT_FOUND_EXIT;
  constructor(loadId: string, dest: string) {
    super(
      `--load-id: no load '${loadId}' in ${dest} (no report, no _dlt_loads row, nothing staged); ` +
        `'paylink-loader status --dest ${dest}' lists its loads`,
      { code: 'load_not_found' },
    );
    this.loadId = loadId;
  }
}

/** One (user, resource) outcome of a load, from its `user_loads` rows. */
export interface UnitOutcome {
  readonly user: string;
  readonly resource: string;
  /** `ok`, `failed` or `endpoint_unavailable` (a resource disabled for the load, not the user's fault). */
  readonly status: string;
  readonly errorCode: string | null;
}

export interface FailureReason {
  /** `user_loads.error_code` (`http_404`, `access_token_rejected`, ...); `unknown` when empty. */
  readonly code: string;
  /** Distinct users with at least one failed unit of this code. */
  readonly users: number;
  /** Failed (user, resource) units of this code. */
  readonly units: number;
}

export interface LoadDetail {
  readonly dest: string;
  readonly loadId: string;
  /** A `_dlt_loads` row exists: the documented reading layers show it. */
  readonly committed: boolean;
  /**
   * `committed`; `reported` (a report but no commit point: a commit that stopped, or a re-run
   * in progress); `staged` (planned, batches staged, never committed: resumable or abandoned);
   * `running` when a live lease holds the load id.
   */
  readonly state: 'committed' | 'reported' | 'staged' | 'running';
  readonly dt: string | null;
  readonly startedAt: string | null;
  readonly committedAt: string | null;
  readonly resources: readonly string[];
  /** Users in the load (planned users, when not committed). */
  readonly users: number;
  /** Null while nothing is reported (staged or running): not known yet. */
  readonly failedUsers: number | null;
  readonly failuresByCode: readonly FailureReason[];
  /** Resources disabled for the load by an endpoint finding (their units: endpoint_unavailable). */
  readonly disabledResources: readonly string[];
  /** Users whose units were endpoint_unavailable only (not failures). */
  readonly endpointUnavailableUsers: number;
  /** PayLink requests, retries included (null: not committed). */
  readonly requests: number | null;
  readonly tables: readonly { table: string; rows: number; files: number; bytes: number }[];
  readonly schema: {
    /** Registry version before the load; equal to `after` when the load changed nothing. */
    readonly versionBefore: number | null;
    readonly versionAfter: number | null;
    readonly addedTables: readonly string[];
    readonly addedColumns: readonly { table: string; column: string; type: ColumnType }[];
    /** Every change the load recorded (variants, JSON columns, shape changes included). */
    readonly changes: readonly SchemaChange[];
  };
  /** Not committed: batches planned and batches staged complete. */
  readonly batches?: { planned: number; staged: number };
  /** A live lease: who is writing the load now. */
  readonly runningSince?: string;
}

/** Rows of the load's `user_loads` parts: from its report when it has one, else by key. */
async function userLoadsKeys(store: ObjectStore, loadId: string, marker: LoadMarker | undefined) {
  if (marker !== undefined) {
    return marker.files.filter((f) => f.table === LAKE.userLoadsTable).map((f) => f.key);
  }
  return (await store.list(tablePrefix(LAKE.userLoadsTable))).filter(
    (key) => parsePartKey(key)?.loadId === loadId,
  );
}

const OUTCOME_COLUMNS = [LAKE.userColumn, 'resource', 'status', 'error_code'];

/** Every (user, resource) outcome of a load, in part order (batch order). */
export async function readOutcomes(
  store: ObjectStore,
  loadId: string,
  marker: LoadMarker | undefined,
): Promise<UnitOutcome[]> {
  const outcomes: UnitOutcome[] = [];
  for (const key of await userLoadsKeys(store, loadId, marker)) {
    const bytes = await store.get(key);
    if (bytes === undefined) {
      throw new LakeStateError(
        `load ${loadId}: its user_loads part ${key} is missing (run 'paylink-loader verify')`,
      );
    }
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, columns: OUTCOME_COLUMNS });
    } catch (error) {
      throw new LakeStateError(`load ${loadId}: ${key} is not a readable Parquet file`, error);
    }
    for (const row of rows) {
      outcomes.push({
        user: String(row[LAKE.userColumn]),
        resource: String(row.resource),
        status: String(row.status),
        errorCode: typeof row.error_code === 'string' && row.error_code !== '' ? row.error_code : null,
      });
    }
  }
  return outcomes;
}

/** Code-unit order: the same on every machine, and the order a load plans its users in. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Users with at least one `failed` unit, sorted. `endpoint_unavailable` units are not the
 * user's failure (the resource was disabled for everybody), so they never list a user.
 */
export function failedUsersOf(outcomes: readonly UnitOutcome[]): string[] {
  return [...new Set(outcomes.filter((o) => o.status === 'failed').map((o) => o.user))].sort(byCodeUnit);
}

export function failuresByCode(outcomes: readonly UnitOutcome[]): FailureReason[] {
  const byCode = new Map<string, { users: Set<string>; units: number }>();
  for (const o of outcomes) {
    if (o.status !== 'failed') continue;
    const code = o.errorCode ?? 'unknown';
    const entry = byCode.get(code) ?? { users: new Set<string>(), units: 0 };
    entry.users.add(o.user);
    entry.units += 1;
    byCode.set(code, entry);
  }
  return [...byCode]
    .map(([code, { users, units }]) => ({ code, users: users.size, units }))
    .sort((a, b) => b.users - a.users || byCodeUnit(a.code, b.code));
}

/** The load's report, or undefined; a damaged report is named, never read as "no load". */
function readMarker(store: ObjectStore, loadId: string): Promise<LoadMarker | undefined> {
  return readJson<LoadMarker>(store, loadMarkerKey(loadId));
}

/**
 * Whether the load is committed, and its report. Throws LoadNotFoundError when the lake has
 * nothing of it.
 */
export async function findLoad(
  store: ObjectStore,
  loadId: string,
): Promise<{ committed: boolean; marker: LoadMarker | undefined; plan: PlanDoc | undefined }> {
  const [committedIds, marker, plan] = await Promise.all([
    committedLoadIds(store),
    readMarker(store, loadId),
    readJson<PlanDoc>(store, planKey(loadId)).catch(() => undefined),
  ]);
  const committed = committedIds.has(loadId);
  if (!committed && marker === undefined && plan === undefined) {
    const staged = await store.list(stagingPrefix(loadId));
    if (staged.length === 0) throw new LoadNotFoundError(loadId, store.description);
  }
  return { committed, marker, plan };
}

/**
 * The failed users of a committed load (sorted), for `failed` and `load --users-from-failed`.
 * `flag` names the option in errors. A load that is not committed is refused: its outcomes are
 * not final (a resume or re-run would change them).
 */
export async function committedFailedUsers(
  store: ObjectStore,
  loadId: string,
  flag: string,
): Promise<{ users: string[]; marker: LoadMarker | undefined }> {
  const { committed, marker } = await findLoad(store, loadId);
  if (!committed) {
    throw new ConfigError(
      flag,
      `load ${loadId} in ${store.description} is not committed (interrupted, failed or still running), ` +
        'so its outcomes are not final: resume or re-run it first',
    );
  }
  return { users: failedUsersOf(await readOutcomes(store, loadId, marker)), marker };
}

export async function loadDetail(store: ObjectStore, loadId: string, now: Date): Promise<LoadDetail> {
  const { committed, marker, plan } = await findLoad(store, loadId);
  const lease: LeaseDoc | undefined = committed
    ? undefined
    : await readLease(store, loadId).catch(() => undefined);
  // A CLI run on this host that is gone (killed) is not running, however fresh its lease.
  const running = lease !== undefined && isLive(lease, now) && !isAbandonedOnThisHost(lease.owner);
  const state: LoadDetail['state'] = running
    ? 'running'
    : committed
      ? 'committed'
      : marker !== undefined
        ? 'reported'
        : 'staged';
  // A report without a commit point may be an older attempt's: its outcomes are shown as it says.
  const outcomes = committed || marker !== undefined ? await readOutcomes(store, loadId, marker) : [];
  const failed = failedUsersOf(outcomes);
  const failedSet = new Set(failed);
  const unavailable = new Set(
    outcomes.filter((o) => o.status === ENDPOINT_UNAVAILABLE && !failedSet.has(o.user)).map((o) => o.user),
  );
  const tables = new Map<string, { table: string; rows: number; files: number; bytes: number }>();
  for (const f of marker?.files ?? []) {
    const t = tables.get(f.table) ?? { table: f.table, rows: 0, files: 0, bytes: 0 };
    t.rows += f.rows;
    t.files += 1;
    t.bytes += f.bytes;
    tables.set(f.table, t);
  }
  const changes = marker?.schemaChanges ?? [];
  const after = marker?.schemaVersion ?? null;
  // A load that changed the schema claimed exactly the next version (commit.ts settleSchema).
  const before = after === null ? null : changes.length > 0 ? after - 1 : after;
  if (after !== null && changes.length > 0 && (await store.get(schemaVersionKey(after))) === undefined) {
    throw new LakeStateError(
      `load ${loadId}: its schema version ${after} is missing from ${store.description}/_schema (run 'paylink-loader verify')`,
    );
  }
  let stagedBatches = 0;
  if (!committed && plan !== undefined) {
    for (let b = 0; b < plan.batches; b++)
      if ((await store.get(batchManifestKey(loadId, b))) !== undefined) stagedBatches++;
  }
  return {
    dest: store.description,
    loadId,
    committed,
    state,
    dt: marker?.dt ?? plan?.dt ?? null,
    startedAt: marker?.startedAt ?? plan?.startedAt ?? null,
    committedAt: committed ? (marker?.committedAt ?? null) : null,
    resources: marker?.resources ?? plan?.resources ?? [],
    users: marker?.users ?? plan?.users ?? 0,
    failedUsers: marker === undefined ? null : failed.length,
    failuresByCode: failuresByCode(outcomes),
    disabledResources: (marker?.endpointFindings ?? []).map((f) => f.resource),
    endpointUnavailableUsers: unavailable.size,
    requests: marker?.requests ?? null,
    tables: [...tables.values()].sort((a, b) => byCodeUnit(a.table, b.table)),
    schema: {
      versionBefore: before,
      versionAfter: after,
      addedTables: changes.filter((c) => c.kind === 'new_table').map((c) => c.table),
      addedColumns: changes.flatMap((c) =>
        c.kind === 'new_column' || c.kind === 'new_variant'
          ? [{ table: c.table, column: c.column, type: c.type }]
          : [],
      ),
      changes,
    },
    ...(committed || plan === undefined ? {} : { batches: { planned: plan.batches, staged: stagedBatches } }),
    ...(running ? { runningSince: lease.acquiredAt } : {}),
  };
}

/**
 * Reports a LoadNotFoundError as main.ts reports any failure (one line on stderr, the same as
 * JSON on stdout with `--json`), with its own exit code.
 */
export function reportNotFound(
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
  command: string,
  error: LoadNotFoundError,
  json: boolean,
): number {
  io.stderr.write(`error: ${error.message}.\n`);
  if (json) {
    const failure = {
      command,
      exitCode: error.exitCode,
      code: error.code,
      message: `${error.message}.`,
      committed: false,
      loadId: error.loadId,
    };
    io.stdout.write(`${JSON.stringify({ error: failure }, null, 2)}\n`);
  }
  return error.exitCode;
}
