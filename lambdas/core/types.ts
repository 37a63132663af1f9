import type { NumberLiteral } from './number-literal.ts';

/**
 * JSON as PayLink sends it, parsed losslessly (lambdas/core/json-body.ts): an integer
 * literal beyond 2^53 is a `bigint` (exact); a literal a double would change, or that JavaScript
 * spells otherwise (`1e400`, `9007199254740993.0`, `1.10`), a `NumberLiteral`; every other
 * number a `number`; a bare `NaN` / `Infinity` token (not JSON, but some APIs send it) is that
 * non-finite number.
 */
export type JsonPrimitive = string | number | bigint | NumberLiteral | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A flattened row before typing: scalars only (nested objects are flattened, lists are child tables). */
export type RawRow = Record<string, JsonPrimitive>;

/** A typed row as it goes into Parquet: timestamps are `Date`s (parquetjs-lite needs them). */
export type Cell = string | number | boolean | Date | null;
export type Row = Record<string, Cell>;

/** Column types of the lake. Each maps to exactly one Parquet type, forever. */
export type ColumnType = 'text' | 'bigint' | 'double' | 'bool' | 'timestamp';
export const COLUMN_TYPES: readonly ColumnType[] = ['text', 'bigint', 'double', 'bool', 'timestamp'];

export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
}

/** One row routed to its table (root or child). */
export interface TableRow<R = RawRow> {
  readonly table: string;
  readonly row: R;
}

/** Injected wall clock: `core/` never reads the time itself. */
export type Clock = () => Date;
