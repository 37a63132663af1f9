/**
 * The two documented reading layers of the lake, as SQL that DuckDB (locally) and Athena engine 3
 * (Trino) both run unchanged: only the names of the schemas differ.
 *
 * - **raw**: the files as they are. Athena reads every object under a table's location, so raw
 *   shows whatever a crashed or running load left behind. Not a documented reading path.
 * - **history** (each table under its own name): the rows of committed loads only, i.e. loads
 *   with a row in `_dlt_loads`. Three loads of the same users give three loads' rows.
 * - **current** (schema `current` locally, database `<db>_current` in Athena): each user's rows
 *   from that user's latest committed load in which the table's resource succeeded for that user
 *   (`user_loads.status = 'ok'`); child tables follow their root resource. A user whose resource
 *   failed in the latest load keeps the previous good state; an account unlinked at the source
 *   disappears; a user missing from a later load (a changed-users load) keeps their state.
 *   A resource fanned out over another's records follows its parent once the parent is newer
 *   (`currentViewSql`'s `parent`): no history row is current without its account.
 *   `tasks` (PER_RECORD_ROOTS) is per task: each task's latest loaded row, since retired task
 *   ids are no longer fetched (task-retirement.ts).
 *
 * Loads are ordered by `_dlt_loads.started_at` (the plan's start), then load id: never by how
 * load ids sort as text.
 *
 * Every view lists its columns explicitly (Athena stores a view with its column list and calls it
 * stale when a table gains a column; the commit re-creates it), so the SQL takes the table's
 * columns from the schema registry.
 */
import { LAKE } from './constants.ts';
import { PARTITION_COLUMN } from './layout.ts';
import type { ColumnDef, ColumnType } from './types.ts';

/** Where the raw tables are, as a SQL prefix (`raw`, `"paylink_raw"`): `<schema>."<table>"`. */
export interface ViewNames {
  /** Quoted schema (or Glue database) holding the raw tables. */
  readonly rawSchema: string;
}

/** `_dlt_loads`: dlt's columns first (load_id, schema_name, status, inserted_at), then ours. */
export const DLT_LOADS_COLUMNS: readonly ColumnDef[] = [
  { name: 'load_id', type: 'text' },
  { name: 'schema_name', type: 'text' },
  { name: 'status', type: 'bigint' },
  { name: 'inserted_at', type: 'timestamp' },
  { name: 'schema_version', type: 'bigint' },
  { name: 'started_at', type: 'timestamp' },
  { name: 'load_date', type: 'text' },
  { name: 'resources', type: 'text' },
  { name: 'users', type: 'bigint' },
  { name: 'failed_users', type: 'bigint' },
  { name: 'requests', type: 'bigint' },
  { name: 'rows', type: 'bigint' },
] as const;

export const quoteIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteString = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * The resource a table belongs to: the table itself for a root table, the part before the first
 * `__` for a child table. Root table names never contain `__` (dlt's naming collapses it inside
 * one segment), so the split is unambiguous.
 */
export function rootTableOf(table: string): string {
  const at = table.indexOf(LAKE.pathSeparator);
  return at < 0 ? table : table.slice(0, at);
}

/** The root of the tables with no current view (event-claims.ts EVENTS_TABLE). */
const HISTORY_ONLY_ROOT = 'webhook_events';

/**
 * Roots whose current state is per record, not per user's latest load: `tasks` is fetched per
 * known task id, and ids stop being fetched once they retire (a final status, or PayLink no
 * longer knows them: task-retirement.ts). A user's latest load then holds only the tasks still
 * fetched, so each task's current row is its row from the latest committed load in which the
 * user's `tasks` succeeded and that task was loaded (by the column named here, the row itself
 * when it has none); child tables follow their root row (`_dlt_root_id`).
 */
const PER_RECORD_ROOTS: Readonly<Record<string, string>> = { tasks: '_id' };

/** Whether the table is partitioned by `dt` (every data table; not `_dlt_loads`). */
export function isPartitioned(table: string): boolean {
  return table !== LAKE.loadsTable;
}

/** The columns a view of `table` exposes: the registry's, then the partition column. */
export function viewColumns(table: string, columns: readonly ColumnDef[]): string[] {
  const names = columns.map((c) => c.name).filter((n) => n !== PARTITION_COLUMN);
  return isPartitioned(table) ? [...names, PARTITION_COLUMN] : names;
}

const raw = (names: ViewNames, table: string) => `${names.rawSchema}.${quoteIdentifier(table)}`;
const select = (alias: string, columns: readonly string[]) =>
  columns.map((c) => `${alias}.${quoteIdentifier(c)}`).join(', ');

const loadId = quoteIdentifier(LAKE.loadIdColumn);
const user = quoteIdentifier(LAKE.userColumn);
const LOAD_ORDER = 'l."started_at" DESC, l."load_id" DESC';

/** History: the table's rows from committed loads only. */
export function historyViewSql(names: ViewNames, table: string, columns: readonly ColumnDef[]): string {
  const cols = viewColumns(table, columns);
  if (table === LAKE.loadsTable) return `SELECT ${select('l', cols)}\nFROM ${raw(names, table)} AS l`;
  return [
    `SELECT ${select('t', cols)}`,
    `FROM ${raw(names, table)} AS t`,
    `WHERE t.${loadId} IN (SELECT l."load_id" FROM ${raw(names, LAKE.loadsTable)} AS l)`,
  ].join('\n');
}

/**
 * How a fan-out resource's rows name their parent record (schema-registry.ts `fanOutParent`):
 * `action_history` rows carry the `accounts` `_id` they were fetched for in the column
 * `_accounts_id` (the field `_accounts__id` the loader writes, dlt's include_from_parent).
 */
export interface ParentKeyLink {
  /** The parent resource's root table (`accounts`). */
  readonly parentTable: string;
  /** The parent's columns holding its key: the key's column, then its text or bigint variants. */
  readonly parentColumns: readonly string[];
  /** The child root table's column holding the parent's key (`_accounts_id`). */
  readonly childColumn: string;
}

/**
 * Current state (undefined for `_dlt_loads` and `webhook_events`). For `user_loads`: each
 * (user, resource)'s outcome in the latest committed load that included it. For any other
 * table: the rows of each user's latest committed load in which the table's resource succeeded
 * for that user.
 *
 * `parent` (a resource fanned out over another's records, `action_history` over `accounts`): a
 * row is current only while its parent record is, once the parent is newer. Current state is per
 * user and resource, so a later load in which the parent succeeded and the child did not (a
 * `--resources accounts` load, a child unit that failed, an endpoint found missing) replaces the
 * parent's rows and keeps the child's older ones: an account unlinked since then would leave
 * `accounts` and keep its history. So when the user's latest committed load with the parent `ok`
 * is later than the child's, the child's rows (and their child tables' rows, through their root
 * row) are current only if their parent key is among that load's parent keys. When the parent's
 * is the same load or an earlier one, the child's rows are the newer word and all stay (a child
 * loaded after a new account was linked, with `--resources action_history`, names an account the
 * current `accounts` does not have yet).
 */
export function currentViewSql(
  names: ViewNames,
  table: string,
  columns: readonly ColumnDef[],
  parent?: ParentKeyLink,
): string | undefined {
  // `_dlt_loads` has no users; `webhook_events` is a log (each event once, in the load that
  // committed it), not per-user state: both are read through history only.
  if (table === LAKE.loadsTable || rootTableOf(table) === HISTORY_ONLY_ROOT) return undefined;
  const cols = viewColumns(table, columns);
  const loads = raw(names, LAKE.loadsTable);
  if (table === LAKE.userLoadsTable) {
    return [
      'WITH ranked AS (',
      `  SELECT ${select('u', cols)},`,
      `         row_number() OVER (PARTITION BY u.${user}, u."resource" ORDER BY ${LOAD_ORDER}) AS rn`,
      `  FROM ${raw(names, table)} AS u`,
      `  JOIN ${loads} AS l ON l."load_id" = u.${loadId}`,
      ')',
      `SELECT ${select('ranked', cols)}`,
      'FROM ranked',
      'WHERE ranked.rn = 1',
    ].join('\n');
  }
  const root = rootTableOf(table);
  const key = PER_RECORD_ROOTS[root];
  if (key !== undefined) {
    const rowId = quoteIdentifier(LAKE.idColumn);
    return [
      'WITH ok AS (',
      `  SELECT DISTINCT u.${user}, u.${loadId}`,
      `  FROM ${raw(names, LAKE.userLoadsTable)} AS u`,
      `  WHERE u."resource" = ${quoteString(root)} AND u."status" = 'ok'`,
      '), ranked AS (',
      `  SELECT r.${rowId} AS row_id,`,
      `         row_number() OVER (PARTITION BY r.${user}, COALESCE(r.${quoteIdentifier(key)}, r.${rowId}) ORDER BY ${LOAD_ORDER}) AS rn`,
      `  FROM ${raw(names, root)} AS r`,
      `  JOIN ok AS g ON g.${user} = r.${user} AND g.${loadId} = r.${loadId}`,
      `  JOIN ${loads} AS l ON l."load_id" = r.${loadId}`,
      ')',
      `SELECT ${select('t', cols)}`,
      `FROM ${raw(names, table)} AS t`,
      `WHERE t.${quoteIdentifier(table === root ? LAKE.idColumn : LAKE.rootIdColumn)} IN (SELECT ranked.row_id FROM ranked WHERE ranked.rn = 1)`,
    ].join('\n');
  }
  // The load's start only where the parent's load is compared with the child's (the views of
  // tables without a parent keep the SQL they always had: Athena's stored views stay current).
  const latestOk = (cte: string, resource: string, started = parent !== undefined) => [
    `${cte} AS (`,
    `  SELECT u.${user}, u.${loadId}${started ? ', l."started_at"' : ''},`,
    `         row_number() OVER (PARTITION BY u.${user} ORDER BY ${LOAD_ORDER}) AS rn`,
    `  FROM ${raw(names, LAKE.userLoadsTable)} AS u`,
    `  JOIN ${loads} AS l ON l."load_id" = u.${loadId}`,
    `  WHERE u."resource" = ${quoteString(resource)} AND u."status" = 'ok'`,
    ')',
  ];
  if (parent === undefined || parent.parentTable === root) {
    return [
      `WITH ${latestOk('latest', root, false).join('\n')}`,
      `SELECT ${select('t', cols)}`,
      `FROM ${raw(names, table)} AS t`,
      `JOIN latest AS g ON g.${user} = t.${user} AND g.${loadId} = t.${loadId}`,
      'WHERE g.rn = 1',
    ].join('\n');
  }
  // Keys compared as text: a key PayLink sent as a number is its decimal text in the child row.
  const parentKey = parent.parentColumns.map((c) => `CAST(p.${quoteIdentifier(c)} AS VARCHAR)`);
  const keyed = table === root ? 't' : 'r';
  return [
    'WITH',
    ...latestOk('latest', root),
    ',',
    ...latestOk('parent_latest', parent.parentTable),
    ', parent_keys AS (',
    `  SELECT DISTINCT p.${user}, ${parentKey.length === 1 ? parentKey[0] : `COALESCE(${parentKey.join(', ')})`} AS parent_key`,
    `  FROM ${raw(names, parent.parentTable)} AS p`,
    `  JOIN parent_latest AS q ON q.${user} = p.${user} AND q.${loadId} = p.${loadId}`,
    '  WHERE q.rn = 1',
    ')',
    `SELECT ${select('t', cols)}`,
    `FROM ${raw(names, table)} AS t`,
    `JOIN latest AS g ON g.${user} = t.${user} AND g.${loadId} = t.${loadId}`,
    ...(table === root
      ? []
      : [
          `JOIN ${raw(names, root)} AS r ON r.${quoteIdentifier(LAKE.idColumn)} = t.${quoteIdentifier(LAKE.rootIdColumn)} AND r.${loadId} = t.${loadId}`,
        ]),
    `LEFT JOIN parent_latest AS q ON q.${user} = t.${user} AND q.rn = 1`,
    `LEFT JOIN parent_keys AS k ON k.${user} = t.${user} AND k.parent_key = CAST(${keyed}.${quoteIdentifier(parent.childColumn)} AS VARCHAR)`,
    'WHERE g.rn = 1',
    `  AND (q.${loadId} IS NULL OR q."started_at" < g."started_at"`,
    `       OR (q."started_at" = g."started_at" AND q.${loadId} <= g.${loadId})`,
    '       OR k.parent_key IS NOT NULL)',
  ].join('\n');
}

/** SQL type of a lake column in DuckDB (for typed NULL columns of tables or files that lack one). */
export const DUCKDB_TYPES: Readonly<Record<ColumnType, string>> = {
  text: 'VARCHAR',
  bigint: 'BIGINT',
  double: 'DOUBLE',
  bool: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
};
