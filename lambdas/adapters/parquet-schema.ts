/**
 * How the lake's column types become Parquet, in one place: the part writer builds its schema
 * from here and infra derives the Glue column types from `PARQUET_TYPES`. No parquetjs-lite
 * import at runtime, so infra can read this file without loading the encoder.
 */
import type { ParquetFieldSpec } from 'parquetjs-lite';
import type { Cell, ColumnDef, ColumnType, Row } from '#core/types.ts';

/**
 * Column type -> parquetjs-lite type name. On disk: UTF8 = BYTE_ARRAY (STRING), INT64,
 * DOUBLE, BOOLEAN, TIMESTAMP_MILLIS = INT64 milliseconds since the epoch, UTC.
 * A column keeps its type forever (see architecture.md), so this table never changes.
 */
export const PARQUET_TYPES = {
  text: 'UTF8',
  bigint: 'INT64',
  double: 'DOUBLE',
  bool: 'BOOLEAN',
  timestamp: 'TIMESTAMP_MILLIS',
} as const satisfies Record<ColumnType, string>;

export type ParquetType = (typeof PARQUET_TYPES)[ColumnType];

export function parquetTypeOf(type: ColumnType): ParquetType {
  return PARQUET_TYPES[type];
}

/**
 * parquetjs-lite field specs: every column optional (a row may lack any field), SNAPPY.
 * Text columns get no statistics: parquetjs-lite orders strings by UTF-16 code units, not
 * by UTF-8 bytes as Parquet requires, so a row group holding both U+FFFF and an emoji gets a
 * min > max and readers that prune on statistics (DuckDB, Athena) skip rows they must return.
 */
export function parquetFieldSpecs(columns: readonly ColumnDef[]): Record<string, ParquetFieldSpec> {
  return Object.fromEntries(
    columns.map((column): [string, ParquetFieldSpec] => [
      column.name,
      {
        type: parquetTypeOf(column.type),
        optional: true,
        compression: 'SNAPPY',
        ...(column.type === 'text' ? { statistics: false } : {}),
      },
    ]),
  );
}

const INT64_MIN = -(2 ** 63);
const INT64_END = 2 ** 63;

/**
 * Why a non-null cell cannot go into a column of `type`, or undefined when it can. The
 * encoder itself coerces silently (parseInt on 1.5 gives 1, on 1e21 gives 1, `!!'false'` is
 * true, an ISO string becomes 1970-01-01), so a mismatch is caught here instead. The answer
 * names the kind of value, never the value.
 */
export function cellProblem(type: ColumnType, value: Exclude<Cell, null>): string | undefined {
  switch (type) {
    case 'text':
      return typeof value === 'string' ? undefined : kindOf(value);
    case 'bigint':
      if (typeof value !== 'number') return kindOf(value);
      if (!Number.isInteger(value)) return 'a number that is not an integer';
      return value >= INT64_MIN && value < INT64_END ? undefined : 'an integer outside the INT64 range';
    case 'double':
      if (typeof value !== 'number') return kindOf(value);
      return Number.isNaN(value) ? 'NaN' : undefined;
    case 'bool':
      return typeof value === 'boolean' ? undefined : kindOf(value);
    case 'timestamp':
      if (!(value instanceof Date)) return kindOf(value);
      return Number.isFinite(value.getTime()) ? undefined : 'an invalid Date';
  }
}

function kindOf(value: unknown): string {
  if (value instanceof Date) return 'a Date';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Throws TypeError unless the part's column names are non-empty and unique. */
export function assertColumns(key: string, columns: readonly ColumnDef[]): void {
  const seen = new Set<string>();
  for (const { name } of columns) {
    // `__proto__` would become the prototype of parquetjs-lite's field map, not a field.
    if (name === '' || name === '__proto__' || seen.has(name)) {
      throw new TypeError(`part ${key}: column names must be non-empty and unique (got '${name}')`);
    }
    seen.add(name);
  }
  if (columns.length === 0) throw new TypeError(`part ${key}: a part needs at least one column`);
}

/**
 * The row as parquetjs-lite takes it: a copy without a prototype (it reads fields with `in`, which
 * sees `constructor`), nulls left out. Throws TypeError naming the column when a name is not one of
 * the part's columns or a value does not fit the column's type (parquetjs-lite would coerce it).
 */
export function checkedRecord(
  key: string,
  types: ReadonlyMap<string, ColumnType>,
  row: Row,
): Record<string, Cell> {
  const record: Record<string, Cell> = Object.create(null);
  for (const name of Object.keys(row)) {
    const type = types.get(name);
    if (type === undefined)
      throw new TypeError(`part ${key}: column '${name}' is not one of the part's columns`);
    const value = row[name];
    if (value === null || value === undefined) continue;
    const problem = cellProblem(type, value);
    if (problem) throw new TypeError(`part ${key}: column '${name}' (${type}) cannot hold ${problem}`);
    record[name] = value;
  }
  return record;
}
