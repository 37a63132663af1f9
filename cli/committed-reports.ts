/**
 * The committed loads' reports (`_loads/<id>.json`), read one way for `status` (status-command.ts)
 * and `status --load-id`'s judgement (load-quality.ts), so both judge a load over the same loads
 * and name the same damage. Only the CLI reads them whole; the commit reads them a few at a time
 * (quality.ts `readEarlierLoads`).
 *
 * The rules:
 * - A load is committed when its `_dlt_loads` row exists (commit.ts writes it last, the report
 *   just before it). No fallback to reports for lakes older than `_dlt_loads`: neither reader had one.
 * - The key names the load, as `verify` has it: a report whose body names another load is
 *   damaged, never counted as that other load.
 * - A report that is not valid JSON, or not a JSON object, is damaged, committed or not: named,
 *   never dropped silently.
 *   Those of committed loads are `unreadable` (with their commit time), so a load that may have
 *   been compared with one says its judgement lacks it (the commit's TrailingLoadsUnreadable).
 * - A report gone since the listing counts as no report (`withoutReport` for a committed load).
 * - Any other error (S3 access, network) is no finding about the lake: it is thrown.
 */
import { parquetReadObjects } from 'hyparquet';
import type { LoadMarker } from '#core/commit.ts';
import { LakeStateError } from '#core/errors.ts';
import { dltLoadsKey, dltLoadsPrefix, loadIdOfDltLoadsKey, loadsPrefix } from '#core/layout.ts';
import { forEachConcurrent } from '#core/pool.ts';
import type { ObjectStore } from '#core/ports.ts';
import type { UnreadableReport } from '#core/quality.ts';
import { readJson } from '#core/store-json.ts';

/** A load report that could not be read. */
export interface DamagedReport {
  readonly key: string;
  /** The load its key names. */
  readonly loadId: string;
  readonly committed: boolean;
  /** What is wrong with it, naming the key: `lake _loads/<id>.json: not valid JSON (...)`. */
  readonly message: string;
}

export interface CommittedReports {
  /** Load ids with a `_dlt_loads` row. */
  readonly committed: ReadonlySet<string>;
  /** The `_dlt_loads` keys that name a load: the commit points themselves. */
  readonly commitKeys: readonly string[];
  /** The committed loads' readable reports, by start time, then load id. */
  readonly reports: readonly LoadMarker[];
  /**
   * Committed loads with no readable report, sorted: deleted, gone since the listing, or damaged
   * (then in `damaged` too). Their rows are in the views; the reports' counts lack them.
   */
  readonly withoutReport: readonly string[];
  /** Loads with a readable report and no commit point, sorted. */
  readonly uncommitted: readonly string[];
  /** Every report that could not be read, committed or not, by key. */
  readonly damaged: readonly DamagedReport[];
  /** The committed loads among `damaged`, with their commit time when their row gives it. */
  readonly unreadable: readonly UnreadableReport[];
}

/** A few hundred small files on S3: read a handful at a time. */
const READS_AT_ONCE = 16;

export async function readCommittedReports(store: ObjectStore): Promise<CommittedReports> {
  const commitKeys = (await store.list(dltLoadsPrefix)).filter((k) => loadIdOfDltLoadsKey(k) !== undefined);
  const committed = new Set(commitKeys.map((k) => loadIdOfDltLoadsKey(k)!));
  const keys = (await store.list(loadsPrefix)).filter((k) => k.endsWith('.json'));
  const reports: LoadMarker[] = [];
  const uncommitted: string[] = [];
  const damaged: DamagedReport[] = [];
  await forEachConcurrent(keys, READS_AT_ONCE, async (key) => {
    const loadId = key.slice(loadsPrefix.length, -'.json'.length);
    const isCommitted = committed.has(loadId);
    const damage = (message: string) => damaged.push({ key, loadId, committed: isCommitted, message });
    // One damaged report must not hide the other loads: it is named, the rest is read.
    const marker = await readJson<LoadMarker>(store, key).catch((error: unknown) => {
      if (!(error instanceof LakeStateError)) throw error;
      damage(error.message);
      return undefined;
    });
    if (marker === undefined) return;
    if (typeof marker !== 'object' || marker === null || Array.isArray(marker)) {
      damage(`lake ${key}: not a load report (was it edited by hand?)`);
      return;
    }
    const wrong = wrongReportFields(marker);
    if (wrong.length > 0) {
      damage(`lake ${key}: not a load report: ${wrong.join(', ')} (was it edited by hand?)`);
      return;
    }
    if (marker.loadId !== loadId) {
      damage(
        `lake ${key}: the report names load ${JSON.stringify(marker.loadId)}, not ${loadId} (was it edited or copied by hand?)`,
      );
      return;
    }
    if (isCommitted) reports.push(marker);
    else uncommitted.push(loadId);
  });
  // The order of loads everywhere (README, current state): start time, then load id.
  const order = (m: LoadMarker) => `${m.startedAt}\u0000${m.loadId}`;
  reports.sort((a, b) => (order(a) < order(b) ? -1 : 1));
  damaged.sort((a, b) => (a.key < b.key ? -1 : 1));
  const reported = new Set(reports.map((m) => m.loadId));
  const unreadableIds = new Set(damaged.filter((d) => d.committed).map((d) => d.loadId));
  const unreadable: UnreadableReport[] = [];
  // Each with its commit time from its `_dlt_loads` row: "earlier" is by commit order (README
  // "Incremental readers"), never by a custom id's place (`--load-id backfill-1`).
  for (const loadId of [...unreadableIds].sort())
    unreadable.push({ loadId, committedAt: await insertedAt(store, loadId) });
  return {
    committed,
    commitKeys,
    reports,
    withoutReport: [...committed].filter((id) => !reported.has(id)).sort(),
    uncommitted: uncommitted.sort(),
    damaged,
    unreadable,
  };
}

/**
 * The fields `status` and the judgement read from every report, each checked for its type: a
 * JSON object missing one (`{"loadId": "x"}`) is damaged and named, never a TypeError later.
 * Returns the wrong ones as `files is missing` / `users is not a number`.
 */
function wrongReportFields(marker: object): string[] {
  const fields = marker as Record<string, unknown>;
  const isRecord = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  const checks: ReadonlyArray<[string, (v: unknown) => boolean, string]> = [
    ['loadId', (v) => typeof v === 'string', 'a string'],
    ['startedAt', (v) => typeof v === 'string', 'a string'],
    ['committedAt', (v) => typeof v === 'string', 'a string'],
    ['users', (v) => typeof v === 'number', 'a number'],
    ['rowsByTable', isRecord, 'an object'],
    ['files', Array.isArray, 'a list'],
    ['resources', Array.isArray, 'a list'],
  ];
  return checks
    .filter(([name, ok]) => !ok(fields[name]))
    .map(([name, , kind]) => (fields[name] === undefined ? `${name} is missing` : `${name} is not ${kind}`));
}

/**
 * A committed load's commit time from its `_dlt_loads` row (`inserted_at`); undefined when the
 * row cannot be read (then its place is guessed from its id, quality.ts `earlierScanOf`).
 */
export async function insertedAt(store: ObjectStore, loadId: string): Promise<string | undefined> {
  try {
    const bytes = await store.get(dltLoadsKey(loadId));
    if (bytes === undefined) return undefined;
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const [row] = await parquetReadObjects({ file, columns: ['inserted_at'] });
    const at: unknown = row?.inserted_at;
    const time = at instanceof Date ? at : typeof at === 'string' ? new Date(at) : undefined;
    return time !== undefined && !Number.isNaN(time.getTime()) ? time.toISOString() : undefined;
  } catch {
    // A damaged row is `verify`'s finding; here it only costs the commit order of one load.
    return undefined;
  }
}
