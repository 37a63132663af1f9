/**
 * Source paths: how the normalizer names a field before the schema registry gives it a column.
 *
 * A field is identified by its raw key path within its row (`["company", "name"]`), written as
 * its JSON text: unambiguous whatever the keys contain, and never confusable with a lineage
 * column name (those never start with `[`). The empty path `[]` is the item itself in a list
 * of scalars (dlt's `value` column) or the inner list of a list of lists (dlt's `list` table).
 *
 * A row's table is named the same way, by source: the root table name, then the path key of
 * each list on the way down, joined with U+0000 (`accounts\0["bills"]\0["actions"]`). The
 * registry maps table keys to table names (`accounts__bills__actions`), once, and remembers it.
 *
 * A value the lake keeps as one JSON text column instead of flattening it (an object too wide
 * or keyed by data, see normalize.ts) is written under its JSON key: `{`, a one-letter reason,
 * then its path key (`{w["balances"]`). A row's fields that go to its overflow column are written
 * under `{<reason>*` as one JSON object. The registry names both (schema-registry.ts); neither
 * can be confused with a path key or a lineage column.
 */

/** Path key of the item itself (`value` column, or the inner list of a list of lists). */
export const ITEM_PATH = '[]';
const TABLE_KEY_SEPARATOR = '\u0000';

/**
 * The field a fan-out child's record carries its parent's key under (`_accounts__id` for the
 * `accounts` `_id`): dlt's include_from_parent. The loader writes it (load-user.ts); the
 * registry reads parent links off it (schema-registry.ts `fanOutParent`).
 */
export function parentKeyField(parent: string, field: string): string {
  return `_${parent}_${field}`;
}

export function pathKey(segments: readonly string[]): string {
  return JSON.stringify(segments);
}

export function pathSegments(key: string): string[] {
  return JSON.parse(key) as string[];
}

/** True for a source path key, false for a lineage column (`_dlt_id`, ...). */
export function isPathKey(key: string): boolean {
  return key.charCodeAt(0) === 0x5b; // '['
}

/** `key` extended by one raw segment, without parsing it back. */
export function childPathKey(parent: string | undefined, segment: string): string {
  const quoted = JSON.stringify(segment);
  if (parent === undefined || parent === ITEM_PATH) return `[${quoted}]`;
  return `${parent.slice(0, -1)},${quoted}]`;
}

/** The table key of the list at `listPath` in rows of `parentTable`. */
export function childTableKey(parentTable: string, listPath: string): string {
  return `${parentTable}${TABLE_KEY_SEPARATOR}${listPath}`;
}

/** `[root table, list path key, ...]`. */
export function splitTableKey(tableKey: string): string[] {
  return tableKey.split(TABLE_KEY_SEPARATOR);
}

/** Dotted form for messages and schema changes (`company.name`; `[]` is `(item)`). */
export function describePath(key: string): string {
  const segments = pathSegments(key);
  return segments.length === 0 ? '(item)' : segments.join('.');
}

/** Why a value is kept as JSON text instead of columns (reported with the schema change). */
export type JsonReason =
  /** An object with more keys than `LAKE.wideObjectKeys`. */
  | 'wide_object'
  /** An object whose every key looks like data (a number, a date, a UUID, an id). */
  | 'data_keys'
  /** A value nested deeper than `MAX_NESTING_DEPTH`. */
  | 'nesting_depth'
  /** The lake already keeps this path as JSON (an earlier load decided it). */
  | 'kept_as_json'
  /** The table has `LAKE.maxTableColumns` columns: new fields go to its overflow column. */
  | 'column_cap';

const REASON_CODES: Readonly<Record<JsonReason, string>> = {
  wide_object: 'w',
  data_keys: 'd',
  nesting_depth: 'n',
  kept_as_json: 'k',
  column_cap: 'c',
};
const REASONS: ReadonlyMap<string, JsonReason> = new Map(
  Object.entries(REASON_CODES).map(([reason, code]) => [code, reason as JsonReason]),
);
const JSON_MARK = '{';
const OVERFLOW_PATH = '*';

/** The raw key of the value at `path` kept as JSON text. */
export function jsonKey(path: string, reason: JsonReason): string {
  return JSON_MARK + REASON_CODES[reason] + path;
}

/** The raw key of a row's overflow object (its fields that got no column of their own). */
export function overflowKey(reason: JsonReason): string {
  return JSON_MARK + REASON_CODES[reason] + OVERFLOW_PATH;
}

/** True for a JSON or overflow key. */
export function isJsonKey(key: string): boolean {
  return key.charCodeAt(0) === 0x7b; // '{'
}

/** A JSON key's reason and path (undefined path: the overflow object). */
export function parseJsonKey(key: string): { reason: JsonReason; path: string | undefined } {
  const reason = REASONS.get(key.charAt(1));
  if (!isJsonKey(key) || reason === undefined) throw new Error(`not a JSON key: ${key}`);
  const rest = key.slice(2);
  return { reason, path: rest === OVERFLOW_PATH ? undefined : rest };
}
