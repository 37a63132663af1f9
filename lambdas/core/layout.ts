/**
 * Object keys of the lake, relative to its root (a folder or s3://bucket/prefix). The writer,
 * the commit and the Glue tables (infra) all derive keys from here, so they cannot drift.
 *
 *   <table>/dt=YYYY-MM-DD/<load_id>.<batch>.<part>.parquet   data (Athena LOCATION = <root>/<table>/)
 *   _loads/<load_id>.json                                   load report (files, rows, failures)
 *   _dlt_loads/<load_id>.parquet                            the commit point: one row, written last
 *   _schema/current.json, _schema/versions/<n>.json         schema registry
 *   _state/...                                              user registry, incremental state
 *   _staging/<load_id>/...                                  uncommitted plan, parts and manifests
 *   _leases/<load_id>/<seq>.json                            who is writing that load id now (lease.ts)
 */
import { ConfigError } from './errors.ts';

export const PARTITION_COLUMN = 'dt';
/** Hive-style partition folder for a table: what Glue's partition projection template mirrors. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Glue projection placeholder, not a JS template
export const PARTITION_TEMPLATE = '${dt}';

const LOAD_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Load ids become object-key segments: restrict them to characters that are safe everywhere. */
export function assertLoadId(loadId: string): string {
  if (!LOAD_ID.test(loadId) || loadId.includes('..')) {
    throw new ConfigError(
      'load-id',
      'must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  }
  return loadId;
}

/** dlt's load id format: unix seconds with microseconds, e.g. "1764064800.123456". */
export function loadIdFromTime(at: Date): string {
  return (at.getTime() / 1000).toFixed(6);
}

/**
 * The UTC date a load is partitioned under. A dlt-style load id carries its own time, so a
 * re-run of that load id lands in the same partition whatever day it runs.
 */
export function loadDate(loadId: string, startedAt: Date): string {
  return (loadIdTime(loadId) ?? startedAt).toISOString().slice(0, 10);
}

/**
 * The time a dlt-style load id names (9 to 11 digits of unix seconds, optionally `.` and up to
 * 6 digits of microseconds), or undefined for any other id (whose load is partitioned by its
 * start date). `99999999999` names 5138-11-16: callers that take ids from people check it.
 */
export function loadIdTime(loadId: string): Date | undefined {
  return /^\d{9,11}(\.\d{1,6})?$/.test(loadId) ? new Date(Number(loadId) * 1000) : undefined;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

export function batchLabel(batch: number): string {
  return pad(batch, 5);
}

export function partFileName(loadId: string, batch: number, part: number): string {
  return `${loadId}.${batchLabel(batch)}.${pad(part, 4)}.parquet`;
}

export function tablePrefix(table: string): string {
  return `${table}/`;
}

export function partitionPrefix(table: string, dt: string): string {
  return `${table}/${PARTITION_COLUMN}=${dt}/`;
}

/** Final key of a data file. */
export function partKey(p: {
  table: string;
  dt: string;
  loadId: string;
  batch: number;
  part: number;
}): string {
  return `${partitionPrefix(p.table, p.dt)}${partFileName(p.loadId, p.batch, p.part)}`;
}

/** Parses a final data key back; undefined for anything that is not one of ours. */
export function parsePartKey(
  key: string,
): { table: string; dt: string; loadId: string; batch: number; part: number } | undefined {
  const m = /^([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/(.+)\.(\d{5})\.(\d{4})\.parquet$/.exec(key);
  if (!m) return undefined;
  return { table: m[1]!, dt: m[2]!, loadId: m[3]!, batch: Number(m[4]), part: Number(m[5]) };
}

/**
 * The `_dlt_loads` table: one single-row Parquet file per committed load, unpartitioned (a few
 * hundred rows a year). Its key is a function of the load id alone, so a load id is committed
 * at most once, whatever the day a re-run happens on.
 */
export const dltLoadsPrefix = '_dlt_loads/';
export function dltLoadsKey(loadId: string): string {
  return `${dltLoadsPrefix}${loadId}.parquet`;
}
/** The load id of a `_dlt_loads` key; undefined for anything else under the prefix. */
export function loadIdOfDltLoadsKey(key: string): string | undefined {
  const m = /^_dlt_loads\/([^/]+)\.parquet$/.exec(key);
  return m ? m[1] : undefined;
}

export const loadsPrefix = '_loads/';
export function loadMarkerKey(loadId: string): string {
  return `${loadsPrefix}${loadId}.json`;
}

export const schemaCurrentKey = '_schema/current.json';
export const schemaVersionsPrefix = '_schema/versions/';
/** Zero-padded so the key order is the version order. */
export function schemaVersionKey(version: number): string {
  return `${schemaVersionsPrefix}${pad(version, 6)}.json`;
}

export function stagingPrefix(loadId: string): string {
  return `_staging/${loadId}/`;
}
/** The load id of a key under `_staging/<load_id>/`; undefined for anything else. */
export function loadIdOfStagingKey(key: string): string | undefined {
  return /^_staging\/([^/]+)\//.exec(key)?.[1];
}
/**
 * What a batch that found the load cannot work (SystemicFailureError) said: the run reads it
 * back to fail with that cause, so the Map's per-batch result stays a few bytes.
 */
export function systemicCauseKey(loadId: string): string {
  return `${stagingPrefix(loadId)}systemic-cause.json`;
}
export function planKey(loadId: string): string {
  return `${stagingPrefix(loadId)}plan.json`;
}
/** Everything one batch stages; a retried batch clears exactly this prefix first. */
export function batchPrefix(loadId: string, batch: number): string {
  return `${stagingPrefix(loadId)}batches/${batchLabel(batch)}/`;
}
/** The batch's users, written by plan (so a huge user list is never one state-machine payload). */
export function batchUsersKey(loadId: string, batch: number): string {
  return `${batchPrefix(loadId, batch)}users.json`;
}
/** Written by the batch when it is done: its files, rows, schema view and user outcomes. */
export function batchManifestKey(loadId: string, batch: number): string {
  return `${batchPrefix(loadId, batch)}manifest.json`;
}
export function stagedPartsPrefix(loadId: string, batch: number): string {
  return `${batchPrefix(loadId, batch)}parts/`;
}
/** A staged part mirrors its final key under the batch's staging prefix. */
export function stagedPartKey(finalKey: string, loadId: string, batch: number): string {
  return `${stagedPartsPrefix(loadId, batch)}${finalKey}`;
}
/**
 * A merged file (merge-parts.ts) mirrors its final key under the load's staging: apart from every
 * batch's parts, which stay the merge's input until the load is committed.
 */
export function mergedPartKey(finalKey: string, loadId: string): string {
  return `${stagingPrefix(loadId)}merged/${finalKey}`;
}
/** `group.json` for a partition merged whole (or its first slice), `group-<slice>.json` for a later slice. */
const sliceSuffix = (slice: number | undefined) => (slice === undefined || slice === 0 ? '' : `-${slice}`);
/**
 * Written once a table partition's merge (or one slice of it, merge-parts.ts) is done: a commit
 * that runs again reuses it.
 */
export function mergedGroupKey(loadId: string, table: string, dt: string, slice?: number): string {
  return `${stagingPrefix(loadId)}merged/${partitionPrefix(table, dt)}group${sliceSuffix(slice)}.json`;
}
/**
 * A group's merge (or one slice of it) handed to the Map (merge-fan-out.ts): everything the item
 * needs, written by the commit before the Map, beside the group record the item leaves.
 */
export function mergeTaskKey(loadId: string, table: string, dt: string, slice?: number): string {
  return `${stagingPrefix(loadId)}merged/${partitionPrefix(table, dt)}task${sliceSuffix(slice)}.json`;
}
/** The Map's item file of a merge hand-off: one `{loadId, table, dt, slice}` per merge. */
export function mergeItemsKey(loadId: string): string {
  return `${stagingPrefix(loadId)}merge-items.json`;
}
/** What the commit decided before a merge hand-off (its schema changes), for the commit after the Map. */
export function mergeHandOffKey(loadId: string): string {
  return `${stagingPrefix(loadId)}merge-handoff.json`;
}
/**
 * Written by commit before it publishes anything: the final keys it is about to write. A
 * re-run of the same load id reads it (and the old marker) to remove parts it no longer writes.
 * Also written just before the commit claims a schema version, naming that claim and its
 * changes: kept by a re-plan like the keys, so the load's report lists them whichever attempt
 * commits.
 */
export function commitIntentKey(loadId: string): string {
  return `${stagingPrefix(loadId)}commit-intent.json`;
}

/** Leases of one load id: one create-only object per generation, the newest is the holder. */
export const leasesPrefix = '_leases/';
export function leasePrefix(loadId: string): string {
  return `${leasesPrefix}${loadId}/`;
}
/** Zero-padded so the key order is the generation order. */
export function leaseKey(loadId: string, seq: number): string {
  return `${leasePrefix(loadId)}${pad(seq, 10)}.json`;
}
/** The load id and generation of a lease key; undefined for anything else. */
export function parseLeaseKey(key: string): { loadId: string; seq: number } | undefined {
  const m = /^_leases\/([^/]+)\/(\d{10})\.json$/.exec(key);
  return m ? { loadId: m[1]!, seq: Number(m[2]) } : undefined;
}
