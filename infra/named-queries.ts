/**
 * Saved Athena queries shipped with the stack. Pure: the SQL is built from the lake's column
 * names (core constants), so a rename there shows up here and in the tests.
 */
import { LAKE } from '#core/constants.ts';
import { lakeDatabases } from '#core/glue-view.ts';
import { PAYLINK_RESOURCES } from '#core/resources.ts';
import type { StackConfig } from './config.ts';

export interface NamedQueryDef {
  readonly name: string;
  readonly description: string;
  readonly sql: string;
}

const q = (database: string, table: string) => `"${database}"."${table}"`;

/** Tables the schedules load: their resource lists, or the default-enabled catalog. */
export function scheduledTables(config: Pick<StackConfig, 'schedules' | 'loaderConfig'>): string[] {
  const enabled = new Map(PAYLINK_RESOURCES.map((r) => [r.table, r.defaultEnabled]));
  for (const [table, override] of Object.entries(config.loaderConfig?.resources ?? {})) {
    if (override.defaultEnabled !== undefined) enabled.set(table, override.defaultEnabled);
  }
  const defaults = [...enabled].filter(([, on]) => on).map(([table]) => table);
  const tables = new Set(config.schedules.flatMap((s) => s.resources ?? defaults));
  return [...tables].sort();
}

/** Column of `user_loads` with the load's start time (from the plan): the order of loads. */
export const LOAD_STARTED_AT = 'load_started_at';

/**
 * Each user's rows of `table` from that user's latest successful load of it: the current-state
 * view the commit keeps in `<database>_current` (core/glue-view.ts, lake-views.ts). Saved as a
 * query so the console lists it next to the load history.
 */
export function currentStateQuery(database: string, table: string): NamedQueryDef {
  return {
    name: `current_state_${table}`,
    description: `Current ${table} per user: rows from each user's latest successful load of ${table}`,
    sql: `SELECT *\nFROM ${q(lakeDatabases(database).current, table)}`,
  };
}

/** One row per load and resource: users, outcomes, rows and the error codes seen, newest first. */
export function loadHistoryQuery(database: string): NamedQueryDef {
  const { loadIdColumn: loadId, userColumn: user, userLoadsTable } = LAKE;
  return {
    name: 'load_history',
    description: 'Loads by resource: users, ok/failed units, rows and error codes, newest first',
    sql: [
      'SELECT',
      `  ${loadId},`,
      `  min(${LOAD_STARTED_AT}) AS started_at,`,
      '  resource,',
      `  count(DISTINCT ${user}) AS users,`,
      "  count_if(status = 'ok') AS ok_units,",
      "  count_if(status = 'failed') AS failed_units,",
      '  sum("rows") AS "rows",',
      '  array_sort(array_distinct(filter(array_agg(error_code), c -> c IS NOT NULL))) AS error_codes',
      `FROM ${q(database, userLoadsTable)}`,
      `GROUP BY ${loadId}, resource`,
      'ORDER BY started_at DESC, resource',
    ].join('\n'),
  };
}

export function namedQueries(database: string, tables: readonly string[]): NamedQueryDef[] {
  return [...tables.map((t) => currentStateQuery(database, t)), loadHistoryQuery(database)];
}
