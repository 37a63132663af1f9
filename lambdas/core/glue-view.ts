/**
 * The Athena side of the reading layers (lake-views.ts): three Glue databases per lake and the
 * Glue definitions of the history and current-state views.
 *
 * - `<database>_raw`: the external tables over the table folders (every file, committed or not);
 * - `<database>`: history views under the tables' own names (committed loads only), so
 *   `SELECT ... FROM accounts` in the stack's database is already the safe read;
 * - `<database>_current`: current-state views.
 *
 * A view is a Glue table of type VIRTUAL_VIEW whose `ViewOriginalText` is
 * `/* Presto View: <base64 of {originalSql, catalog, schema, columns}> *\/` and whose columns
 * repeat the view's: the format Athena itself writes for `CREATE VIEW` (as read back with
 * GetTable; also how Terraform and CloudFormation users define Athena views). Athena checks the
 * stored columns against the SQL at query time and calls a view "stale" when they differ, so
 * the commit rewrites a view whenever its table gains a column.
 */
import { LAKE } from './constants.ts';
import { GLUE_TYPES, type GlueColumn } from './glue-table.ts';
import {
  currentViewSql,
  historyViewSql,
  type ParentKeyLink,
  quoteIdentifier,
  viewColumns,
} from './lake-views.ts';
import { PARTITION_COLUMN } from './layout.ts';
import type { ColumnDef, ColumnType } from './types.ts';

/** The Glue databases of one lake, from the stack's database name. */
export interface LakeDatabases {
  readonly raw: string;
  readonly history: string;
  readonly current: string;
}

export function lakeDatabases(database: string): LakeDatabases {
  return { raw: `${database}_raw`, history: database, current: `${database}_current` };
}

/** Trino (Athena engine 3) type names of the lake types, as a Presto view records them. */
const TRINO_TYPES: Readonly<Record<ColumnType, string>> = {
  text: 'varchar',
  bigint: 'bigint',
  double: 'double',
  bool: 'boolean',
  // Our Parquet timestamps are milliseconds (TIMESTAMP_MILLIS).
  timestamp: 'timestamp(3)',
};

/** The subset of Glue's TableInput a view sets. Structurally assignable to the SDK's type. */
export interface GlueViewInput {
  readonly Name: string;
  readonly Description: string;
  readonly TableType: 'VIRTUAL_VIEW';
  readonly Parameters: Readonly<Record<string, string>>;
  readonly ViewOriginalText: string;
  readonly ViewExpandedText: string;
  readonly PartitionKeys: readonly GlueColumn[];
  readonly StorageDescriptor: {
    readonly Columns: readonly GlueColumn[];
    readonly SerdeInfo: Readonly<Record<string, string>>;
  };
}

/** The view's columns with their types: the table's, then `dt` (text) where it is partitioned. */
function typedViewColumns(table: string, columns: readonly ColumnDef[]): ColumnDef[] {
  const types = new Map(columns.map((c) => [c.name, c.type]));
  return viewColumns(table, columns).map((name) => ({
    name,
    type: name === PARTITION_COLUMN ? 'text' : (types.get(name) ?? 'text'),
  }));
}

function viewInput(
  name: string,
  schema: string,
  sql: string,
  columns: readonly ColumnDef[],
  description: string,
): GlueViewInput {
  const presto = {
    originalSql: sql,
    catalog: 'awsdatacatalog',
    schema,
    columns: columns.map((c) => ({ name: c.name, type: TRINO_TYPES[c.type] })),
  };
  return {
    Name: name,
    Description: description,
    TableType: 'VIRTUAL_VIEW',
    Parameters: { presto_view: 'true', comment: 'Presto View' },
    ViewOriginalText: `/* Presto View: ${Buffer.from(JSON.stringify(presto), 'utf8').toString('base64')} */`,
    ViewExpandedText: '/* Presto View */',
    PartitionKeys: [],
    StorageDescriptor: {
      Columns: columns.map((c) => ({ Name: c.name, Type: GLUE_TYPES[c.type] })),
      SerdeInfo: {},
    },
  };
}

export interface LakeView {
  readonly database: string;
  readonly input: GlueViewInput;
  /** The view's SQL, for tests and people. */
  readonly sql: string;
}

/**
 * The history view and (except for `_dlt_loads`) the current-state view of one table. `parent`:
 * how the rows of its root table name their parent record (`SchemaRegistry.fanOutParent`).
 */
export function lakeViews(
  databases: LakeDatabases,
  table: string,
  columns: readonly ColumnDef[],
  parent?: ParentKeyLink,
): LakeView[] {
  const names = { rawSchema: quoteIdentifier(databases.raw) };
  const typed = typedViewColumns(table, columns);
  const views: LakeView[] = [];
  const history = historyViewSql(names, table, columns);
  views.push({
    database: databases.history,
    sql: history,
    input: viewInput(table, databases.history, history, typed, `${table}: rows of committed loads only`),
  });
  const current = currentViewSql(names, table, columns, parent);
  if (current !== undefined) {
    const what =
      table === LAKE.userLoadsTable
        ? 'each (user, resource) outcome in the latest committed load that included it'
        : `each user's rows from their latest committed load in which the resource succeeded${parent === undefined ? '' : `, while their ${parent.parentTable} record is current`}`;
    views.push({
      database: databases.current,
      sql: current,
      input: viewInput(table, databases.current, current, typed, `${table}: ${what}`),
    });
  }
  return views;
}

/** The SQL inside a view's `ViewOriginalText` (what `lakeViews` encoded), or undefined. */
export function decodePrestoView(
  text: string | undefined,
): { originalSql: string; columns: unknown } | undefined {
  const m = /^\/\* Presto View: ([A-Za-z0-9+/=]+) \*\/$/.exec(text ?? '');
  if (!m) return undefined;
  try {
    return JSON.parse(Buffer.from(m[1]!, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}
