/**
 * The Glue Data Catalog definition of one lake table, as a plain object shaped like the Glue
 * API's `TableInput` (the adapter hands it to CreateTable/UpdateTable unchanged).
 *
 * Partitions are never registered: Athena *projects* them from `dt=YYYY-MM-DD/` folders, so a
 * commit that writes a new day needs no catalog call and Athena never misses a partition.
 * The projection template is built from layout.ts, the same functions the writer uses, so the
 * catalog cannot drift from the object keys.
 */
import { LAKE } from './constants.ts';
import { ConfigError } from './errors.ts';
import { isPartitioned } from './lake-views.ts';
import { PARTITION_COLUMN, PARTITION_TEMPLATE, partitionPrefix, tablePrefix } from './layout.ts';
import { isLakeName } from './naming.ts';
import type { ColumnDef, ColumnType } from './types.ts';

/** Athena/Hive type of each lake column type (one Parquet type each, forever). */
export const GLUE_TYPES: Readonly<Record<ColumnType, string>> = {
  text: 'string',
  bigint: 'bigint',
  double: 'double',
  bool: 'boolean',
  timestamp: 'timestamp',
};

export const PARQUET_FORMAT = {
  serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
  inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
} as const;

/**
 * Default projected date range. Load-date partitions never predate the loader; a resource that
 * partitions by a record timestamp may need an earlier start (pass `projectionRange`).
 */
export const DEFAULT_PROJECTION_RANGE = '2020-01-01,NOW';

export interface GlueColumn {
  readonly Name: string;
  readonly Type: string;
}

/** The subset of Glue's TableInput we set. Structurally assignable to the SDK's type. */
export interface GlueTableInput {
  readonly Name: string;
  readonly Description: string;
  readonly TableType: 'EXTERNAL_TABLE';
  readonly Parameters: Readonly<Record<string, string>>;
  readonly PartitionKeys: readonly GlueColumn[];
  readonly StorageDescriptor: {
    readonly Columns: readonly GlueColumn[];
    readonly Location: string;
    readonly InputFormat: string;
    readonly OutputFormat: string;
    readonly Compressed: boolean;
    readonly StoredAsSubDirectories: boolean;
    readonly SerdeInfo: {
      readonly SerializationLibrary: string;
      readonly Parameters: Readonly<Record<string, string>>;
    };
  };
}

export interface GlueTableSpec {
  readonly table: string;
  readonly columns: readonly ColumnDef[];
  /** The table's folder: `s3://bucket/prefix/<table>/` (must end with the layout's table prefix). */
  readonly location: string;
  /** `start,end` of the projected `dt` range; default DEFAULT_PROJECTION_RANGE. */
  readonly projectionRange?: string;
  readonly description?: string;
}

/** The lake's one naming rule (naming.ts), which every normalized name already satisfies. */
function assertName(key: string, name: string): void {
  if (!isLakeName(name)) {
    throw new ConfigError(
      key,
      `must be 1-${LAKE.maxIdentifierLength} characters of a-z, 0-9 and _, not starting with a digit`,
    );
  }
}

/** Maps lake columns to Glue columns, rejecting names Athena cannot query and duplicates. */
export function glueColumns(table: string, columns: readonly ColumnDef[]): GlueColumn[] {
  const seen = new Set<string>();
  return columns.map((column, index) => {
    const key = `glue.${table}.columns.${index}`;
    assertName(key, column.name);
    if (column.name === PARTITION_COLUMN) throw new ConfigError(key, 'collides with the partition column');
    if (seen.has(column.name)) throw new ConfigError(key, 'duplicate column name');
    seen.add(column.name);
    const type = GLUE_TYPES[column.type];
    if (type === undefined) throw new ConfigError(key, 'unknown column type');
    return { Name: column.name, Type: type };
  });
}

/**
 * The lake root a table location sits in: `s3://b/p/accounts/` -> `s3://b/p/`. Rejects a
 * location that is not `<root><table>/`, because the projection template is derived from it.
 */
function rootOf(table: string, location: string): string {
  const suffix = tablePrefix(table);
  if (!/^s3:\/\/[^/]+\//.test(location) || !location.endsWith(`/${suffix}`)) {
    throw new ConfigError(`glue.${table}.location`, `must be s3://<bucket>/[<prefix>/]${suffix}`);
  }
  return location.slice(0, -suffix.length);
}

export function glueTableInput(spec: GlueTableSpec): GlueTableInput {
  assertName('glue.table', spec.table);
  const root = rootOf(spec.table, spec.location);
  const dt = PARTITION_COLUMN;
  if (!isPartitioned(spec.table)) {
    // `_dlt_loads`: one small file per load directly under the table folder.
    const table = partitionedInput(spec, root, dt);
    return {
      ...table,
      Parameters: { EXTERNAL: 'TRUE', classification: 'parquet' },
      PartitionKeys: [],
    };
  }
  return partitionedInput(spec, root, dt);
}

function partitionedInput(spec: GlueTableSpec, root: string, dt: string): GlueTableInput {
  return {
    Name: spec.table,
    Description: spec.description ?? `PayLink lake table ${spec.table} (managed by paylink-lake-loader)`,
    TableType: 'EXTERNAL_TABLE',
    Parameters: {
      EXTERNAL: 'TRUE',
      classification: 'parquet',
      'projection.enabled': 'true',
      [`projection.${dt}.type`]: 'date',
      [`projection.${dt}.format`]: 'yyyy-MM-dd',
      [`projection.${dt}.range`]: spec.projectionRange ?? DEFAULT_PROJECTION_RANGE,
      [`projection.${dt}.interval`]: '1',
      [`projection.${dt}.interval.unit`]: 'DAYS',
      'storage.location.template': `${root}${partitionPrefix(spec.table, PARTITION_TEMPLATE)}`,
    },
    // `dt` is a string (not a date) so `WHERE dt = '2025-01-31'` works the same in Athena and DuckDB.
    PartitionKeys: [{ Name: dt, Type: 'string' }],
    StorageDescriptor: {
      Columns: glueColumns(spec.table, spec.columns),
      Location: spec.location,
      InputFormat: PARQUET_FORMAT.inputFormat,
      OutputFormat: PARQUET_FORMAT.outputFormat,
      Compressed: false,
      StoredAsSubDirectories: false,
      SerdeInfo: {
        SerializationLibrary: PARQUET_FORMAT.serializationLibrary,
        Parameters: { 'serialization.format': '1' },
      },
    },
  };
}

/**
 * Merges the catalog's columns with the lake's: additive only. Existing columns keep their
 * position and are never dropped (older files still hold them); new columns are appended in
 * the lake's order. The lake's type wins for an existing name: a column has one Parquet type
 * forever, so a different Glue type can only be a hand edit that would break queries.
 */
export function mergeGlueColumns(
  existing: readonly GlueColumn[],
  desired: readonly GlueColumn[],
): { columns: GlueColumn[]; changed: boolean } {
  const wanted = new Map(desired.map((c) => [c.Name, c.Type]));
  const present = new Set(existing.map((c) => c.Name));
  const kept = existing.map((c) => ({ Name: c.Name, Type: wanted.get(c.Name) ?? c.Type }));
  const added = desired.filter((c) => !present.has(c.Name)).map((c) => ({ Name: c.Name, Type: c.Type }));
  const retyped = kept.some((c, i) => c.Type.toLowerCase() !== existing[i]!.Type.toLowerCase());
  return { columns: [...kept, ...added], changed: added.length > 0 || retyped };
}
