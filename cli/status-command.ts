/** `paylink-loader status --dest <dir|s3://...>`: what a lake holds, from its own metadata. */
import { openStore } from '#adapters/open-store.ts';
import type { LoadMarker } from '#core/commit.ts';
import { LAKE } from '#core/constants.ts';
import { DISABLED_TABLES_NOTE } from '#core/endpoint-health.ts';
import { LakeStateError } from '#core/errors.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { dltLoadsPrefix, loadIdOfDltLoadsKey, loadsPrefix } from '#core/layout.ts';
import { forEachConcurrent } from '#core/pool.ts';
import type { ObjectStore } from '#core/ports.ts';
import type { SchemaRegistry } from '#core/schema-registry.ts';
import { readJson } from '#core/store-json.ts';
import { existingLakeFrom, parseFlags, required } from './args.ts';
import type { Io } from './io.ts';
import { formatBytes, renderTable } from './summary.ts';

export interface LakeStatus {
  readonly dest: string;
  /** Null when the registry is missing or damaged (see `warnings`). */
  readonly schemaVersion: number | null;
  readonly loads: readonly {
    loadId: string;
    dt: string;
    committedAt: string;
    users: number;
    failedUsers: number;
    /** Resources disabled by an endpoint finding in that load. */
    disabledResources: string[];
    rows: number;
  }[];
  readonly tables: readonly { table: string; rows: number; files: number; bytes: number; columns: number }[];
  /**
   * Loads that are not committed (no `_dlt_loads` row): running, or died before their commit
   * point. Whatever files they left are invisible through the history and current views.
   */
  readonly uncommitted: readonly string[];
  /**
   * Committed loads whose report (`_loads/<id>.json`) is gone: their rows are in the views, but
   * the per-table counts above cannot include them.
   */
  readonly withoutReport: readonly string[];
  /** Damage found while reading (a missing registry): the rest is still reported. */
  readonly warnings: readonly string[];
}

export async function lakeStatus(dest: string): Promise<LakeStatus> {
  const store = openStore(dest);
  // A load is committed when its `_dlt_loads` row exists; its report (`_loads/`) is written just before.
  const dltLoadsKeys = await store.list(dltLoadsPrefix);
  const committed = new Set(dltLoadsKeys.map(loadIdOfDltLoadsKey).filter((id) => id !== undefined));
  const markers: LoadMarker[] = [];
  const reportedOnly: string[] = [];
  for (const key of await store.list(loadsPrefix)) {
    if (!key.endsWith('.json')) continue;
    const marker = await readJson<LoadMarker>(store, key);
    if (!marker) continue;
    if (committed.has(marker.loadId)) markers.push(marker);
    else reportedOnly.push(marker.loadId);
  }
  // The order of loads everywhere (README, current state): start time, then load id.
  const order = (m: LoadMarker) => `${m.startedAt}\u0000${m.loadId}`;
  markers.sort((a, b) => (order(a) < order(b) ? -1 : 1));
  const reported = new Set(markers.map((m) => m.loadId));
  const withoutReport = [...committed].filter((id) => !reported.has(id)).sort();
  const warnings: string[] = [];
  let registry: SchemaRegistry | undefined;
  try {
    registry = await readCommittedSchema(store);
  } catch (error) {
    if (!(error instanceof LakeStateError)) throw error;
    warnings.push(error.message);
  }
  const tables = new Map<
    string,
    { table: string; rows: number; files: number; bytes: number; columns: number }
  >();
  for (const table of registry?.tables() ?? []) {
    tables.set(table, { table, rows: 0, files: 0, bytes: 0, columns: registry!.columns(table).length });
  }
  // The commit point itself: one single-row file per committed load.
  const loadsTable = tables.get(LAKE.loadsTable);
  if (loadsTable)
    Object.assign(loadsTable, {
      rows: committed.size,
      files: committed.size,
      bytes: await totalBytes(
        store,
        dltLoadsKeys.filter((k) => loadIdOfDltLoadsKey(k) !== undefined),
      ),
    });
  for (const m of markers) {
    for (const f of m.files) {
      const t = tables.get(f.table) ?? { table: f.table, rows: 0, files: 0, bytes: 0, columns: 0 };
      t.rows += f.rows;
      t.files += 1;
      t.bytes += f.bytes;
      tables.set(f.table, t);
    }
  }
  const staged = new Set(
    (await store.list('_staging/')).map((k) => k.split('/')[1]!).filter((id) => id && !committed.has(id)),
  );
  for (const id of reportedOnly) staged.add(id);
  return {
    dest: store.description,
    schemaVersion: registry?.version ?? null,
    loads: markers.map((m) => ({
      loadId: m.loadId,
      dt: m.dt,
      committedAt: m.committedAt,
      users: m.users,
      failedUsers: m.failedUserCount,
      // Markers written before endpoint findings existed have none.
      disabledResources: (m.endpointFindings ?? []).map((f) => f.resource),
      rows: Object.values(m.rowsByTable).reduce((a, b) => a + b, 0),
    })),
    tables: [...tables.values()].sort((a, b) => a.table.localeCompare(b.table)),
    uncommitted: [...staged].sort(),
    withoutReport,
    warnings,
  };
}

/** Sizes of `_dlt_loads` files: no load report lists them (each is the commit point itself). */
async function totalBytes(store: ObjectStore, keys: readonly string[]): Promise<number> {
  let bytes = 0;
  // A few hundred tiny files on S3: read them a handful at a time.
  await forEachConcurrent(keys, 16, async (key) => {
    const body = await store.get(key);
    bytes += body?.byteLength ?? 0;
  });
  return bytes;
}

export async function statusCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, { dest: { type: 'string' }, json: { type: 'boolean' } });
  const status = await lakeStatus(existingLakeFrom(io.cwd, required(values.dest, '--dest')));
  if (values.json) {
    io.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return 0;
  }
  const out: string[] = [`Lake ${status.dest} · schema version ${status.schemaVersion ?? '?'}`, ''];
  for (const warning of status.warnings) io.stderr.write(`warning: ${warning}\n`);
  out.push(`Loads (${status.loads.length}):`);
  out.push(
    renderTable(
      ['load_id', 'dt', 'committed_at', 'users', 'failed', 'rows', 'disabled'],
      status.loads.map((l) => [
        l.loadId,
        l.dt,
        l.committedAt,
        String(l.users),
        String(l.failedUsers),
        String(l.rows),
        l.disabledResources.join(',') || '-',
      ]),
    ),
  );
  out.push('', 'Tables (rows across committed loads):');
  out.push(
    renderTable(
      ['table', 'columns', 'rows', 'files', 'bytes'],
      status.tables.map((t) => [
        t.table,
        String(t.columns),
        String(t.rows),
        String(t.files),
        formatBytes(t.bytes),
      ]),
    ),
  );
  const latest = status.loads.at(-1);
  if (latest !== undefined && latest.disabledResources.length > 0) {
    out.push('', `Disabled in the latest load (${latest.loadId}): ${latest.disabledResources.join(', ')}.`);
    for (const table of latest.disabledResources) out.push(`  ${DISABLED_TABLES_NOTE(table)}.`);
  }
  if (status.withoutReport.length > 0) {
    out.push(
      '',
      `Committed loads whose report (_loads/<id>.json) is missing, not counted above: ${status.withoutReport.join(', ')}`,
    );
  }
  if (status.uncommitted.length > 0) {
    out.push(
      '',
      `Uncommitted loads (no _dlt_loads row: invisible through the history and current views): ${status.uncommitted.join(', ')}`,
    );
  }
  io.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
