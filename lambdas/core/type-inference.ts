/**
 * Column types from JSON values, and coercion of a value into a column's recorded type.
 *
 * dlt's rule, which we follow: a value that fits the column losslessly is coerced (`"123"`
 * into bigint, `5` into text); anything else does not fit and the caller writes it to a
 * variant column. Both functions run once per cell, so they avoid regexes and allocation
 * on the common paths (a string into text, a number into bigint/double).
 */
import { parseIsoTimestamp } from './iso-timestamp.ts';
import { decimalKey, NumberLiteral } from './number-literal.ts';
import type { Cell, ColumnType, JsonPrimitive } from './types.ts';

/** A non-null scalar as the body parser gives it. */
export type Scalar = Exclude<JsonPrimitive, null>;

/** Returned by `coerceValue` when the value cannot be stored in the column without loss. */
export const NO_FIT: unique symbol = Symbol('no-fit');
export type NoFit = typeof NO_FIT;

/**
 * The type an undeclared column gets from its first non-null value; undefined for null (a
 * null adds no column, as in dlt). Every number is `double`, whole or not: JSON has one number
 * type and `12` and `12.0` cannot be told apart once parsed, so typing a column `bigint` from
 * a first whole value would send every later fraction to a variant (dlt #3916: `sum()` of
 * 12 and 12.5 gave 12). Integers beyond 2^53 (`bigint`s from the lossless parser), literals no
 * double holds (`NumberLiteral`s without `exact`) and non-finite tokens are numbers too: their
 * column is double, and they go to its text variant.
 * An ISO date-time is a timestamp only when the lake's timestamps (Parquet TIMESTAMP_MILLIS)
 * hold it exactly: one with digits below the millisecond (`...:30.123456Z`) starts a text
 * column, which keeps it as spelled.
 */
export function inferType(value: JsonPrimitive): ColumnType | undefined {
  switch (typeof value) {
    case 'string':
      return exactTimestamp(value) === undefined ? 'text' : 'timestamp';
    case 'number':
    case 'bigint':
      return 'double';
    case 'object':
      return value === null ? undefined : 'double';
    case 'boolean':
      return 'bool';
    default:
      return undefined;
  }
}

/**
 * The type of the variant column a misfit value goes to. An exact integer beyond 2^53, a literal
 * no double holds and a non-finite token have no lossless number type in the lake: they are
 * kept as text (the digits, the literal as spelled, or `NaN` / `Infinity` / `-Infinity`). So
 * is a date-time with digits below the millisecond.
 */
export function variantType(value: Scalar): ColumnType {
  if (typeof value === 'bigint' || (typeof value === 'number' && !Number.isFinite(value))) return 'text';
  if (value instanceof NumberLiteral) return value.exact === undefined ? 'text' : 'double';
  return inferType(value) as ColumnType;
}

/** True for the bare `NaN` / `Infinity` / `-Infinity` tokens the body parser lets through. */
export function isNonFinite(value: JsonPrimitive): boolean {
  return typeof value === 'number' && !Number.isFinite(value);
}

/**
 * `value` as a cell of a column of `type`, or NO_FIT. Timestamps become `Date`s (UTC).
 * A non-finite number fits no column (not even text: it is a number that failed, and it must
 * show as null in its column with its token in `<column>__v_text`). A `bigint` (exact, beyond
 * 2^53) fits only text, as its digits: Parquet INT64 through parquetjs-lite and DOUBLE would
 * both round it.
 *
 * - text: strings as they are (an ISO string keeps its original spelling); numbers as the body
 *   spelled them (`String(v)` for a plain number, which the parser only gives when that is the
 *   spelling; a `NumberLiteral`'s literal, so `1.10` stays `1.10`); booleans as `String(v)`.
 * - bigint: safe integers; strings of a safe integer without leading zeros (`"007"` is an
 *   identifier, not the number 7: turning it into 7 would lose data).
 * - double: any number a double holds exactly; finite decimal strings (no leading zeros, no
 *   hex, no blanks) that do not lose digits (an integral string beyond 2^53 does not fit).
 *   Other decimal strings are taken as the nearest double (`"0.1000000000000000000001"` is
 *   0.1): the rule columns the lake has always had; a column the load is settling is stricter
 *   (`coerceNewValue`).
 * - bool: booleans; the strings `"true"` and `"false"`.
 * - timestamp: ISO-8601 date-time strings (see iso-timestamp.ts) a millisecond timestamp holds
 *   exactly (no non-zero digit below the millisecond).
 */
export function coerceValue(value: Scalar, type: ColumnType): Cell | NoFit {
  if (typeof value === 'bigint') return type === 'text' ? value.toString() : NO_FIT;
  if (typeof value === 'number' && !Number.isFinite(value)) return NO_FIT;
  if (typeof value === 'object') return coerceLiteral(value, type);
  switch (type) {
    case 'text':
      return typeof value === 'string' ? value : String(value);
    case 'bigint':
      if (typeof value === 'number') return Number.isSafeInteger(value) ? value : NO_FIT;
      return typeof value === 'string' ? integralString(value) : NO_FIT;
    case 'double':
      if (typeof value === 'number') return value;
      return typeof value === 'string' ? decimalString(value) : NO_FIT;
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (value === 'true') return true;
      if (value === 'false') return false;
      return NO_FIT;
    case 'timestamp':
      return typeof value === 'string' ? (exactTimestamp(value) ?? NO_FIT) : NO_FIT;
  }
}

function coerceLiteral(value: NumberLiteral, type: ColumnType): Cell | NoFit {
  if (type === 'text') return value.literal;
  const exact = value.exact;
  if (exact === undefined) return NO_FIT;
  if (type === 'double') return exact;
  if (type === 'bigint') return Number.isSafeInteger(exact) ? exact : NO_FIT;
  return NO_FIT;
}

/** The instant, when a millisecond timestamp holds the string's date-time exactly. */
function exactTimestamp(value: string): Date | undefined {
  const date = parseIsoTimestamp(value);
  return date === undefined || belowMillisecond(value) ? undefined : date;
}

/** True when `YYYY-MM-DDTHH:MM:SS.fff...` has a non-zero digit after the third fraction digit. */
function belowMillisecond(value: string): boolean {
  const mark = value.charCodeAt(19);
  if (mark !== 46 /* . */ && mark !== 44 /* , */) return false;
  for (let i = 23; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 48 || code > 57) return false;
    if (code !== 48) return true;
  }
  return false;
}

const INTEGRAL = /^-?(?:0|[1-9]\d{0,15})$/;
const DECIMAL = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?$/;

function integralString(value: string): number | NoFit {
  if (!INTEGRAL.test(value)) return NO_FIT;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : NO_FIT;
}

function decimalString(value: string): number | NoFit {
  if (value.length === 0 || value.length > 64 || !DECIMAL.test(value)) return NO_FIT;
  const n = Number(value);
  if (!Number.isFinite(n)) return NO_FIT;
  // "12345678901234567890" would come back as ...568000: digits lost, so it does not fit.
  if (Number.isInteger(n) && !Number.isSafeInteger(n) && !/[.eE]/.test(value)) return NO_FIT;
  return n;
}

/**
 * `coerceValue` for a column new to the lake whose type the load settles (schema-registry.ts
 * `settleNewColumns`): the same, except that a decimal string fits double only when the double
 * holds its exact value (`"12.50"` is 12.5; `"9007199254740993.0"`, `"1e-400"` and
 * `"0.1000000000000000000001"` do not fit), as a number literal is judged. A batch stages a
 * literal no double holds as its text, and the commit re-types that text: it must not become
 * a rounded number (1e-400 would be 0). Columns the lake already has keep `coerceValue`.
 */
export function coerceNewValue(value: Scalar, type: ColumnType): Cell | NoFit {
  if (type === 'double' && typeof value === 'string') return exactDecimalString(value);
  return coerceValue(value, type);
}

/** `decimalString`, when the double holds the string's exact value. */
function exactDecimalString(value: string): number | NoFit {
  const n = decimalString(value);
  if (n === NO_FIT) return NO_FIT;
  return decimalKey(value) === decimalKey(String(n)) ? n : NO_FIT;
}
