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
 */

/** Path key of the item itself (`value` column, or the inner list of a list of lists). */
export const ITEM_PATH = '[]';
const TABLE_KEY_SEPARATOR = '\u0000';

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
