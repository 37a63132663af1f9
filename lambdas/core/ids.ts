/**
 * Deterministic `_dlt_id`s in dlt's format: base64 (standard alphabet, `=` padding stripped) of a
 * shake_128 digest of `DLT_ID_LENGTH_BYTES` bytes, i.e. 14 characters (dlt/common/utils.py
 * `digest128`, dlt/common/normalizers/utils.py). Derived from data only, so a re-run of the same
 * load yields the same ids and merges line up.
 */
import { createHash } from 'node:crypto';

/** dlt's `DLT_ID_LENGTH_BYTES` (80 bits: ~1e-6 odds of any collision among 1e9 rows). */
export const DLT_ID_LENGTH_BYTES = 10;

/** Length of an id string: ceil(bytes / 3) * 4 base64 characters minus the stripped padding. */
export const DLT_ID_LENGTH = Math.ceil((DLT_ID_LENGTH_BYTES * 4) / 3);

/** dlt's `digest128(v, len_)`: base64 of shake_128(utf-8 of `value`), padding stripped. */
export function digest128(value: string, lengthBytes: number = DLT_ID_LENGTH_BYTES): string {
  return createHash('shake128', { outputLength: lengthBytes })
    .update(value, 'utf8')
    .digest('base64')
    .replace(/=+$/, '');
}

/**
 * An id for any tuple of strings. The parts are JSON-encoded as an array, not joined with a
 * separator: a separator could occur inside a user identifier (`a_b` + `c` vs `a` + `b_c`), and
 * a length prefix is not enough either because UTF-8 encoding maps every lone surrogate to
 * U+FFFD, while JSON.stringify escapes them (`"\ud800"`), so distinct tuples stay distinct.
 */
export function rowId(...parts: string[]): string {
  return digest128(JSON.stringify(parts));
}

/**
 * Root row id: load, user, table and the record's key within them (primary key or position,
 * chosen by the caller). dlt draws root ids at random, so each load's rows have their own ids;
 * ours are deterministic *per load*: a re-run of a load id reproduces them (the re-run replaces
 * the load), and two loads never share one, so a child row joins only its own load's parent.
 * The record's own key (`_id`) stays a column: "the same account across loads" is a query on it.
 */
export function rootRowId(loadId: string, userIdentifier: string, table: string, rootKey: string): string {
  return rowId(loadId, userIdentifier, table, rootKey);
}

/**
 * Child row id exactly as dlt computes it (relational.py `_get_child_row_hash`):
 * digest128(f"{parent_row_id}_{child_table}_{list_idx}"). Unambiguous as is: a parent id is
 * base64 (no `_`), so it ends at the first `_`; the index is digits, so it starts after the last.
 */
export function childRowId(parentId: string, childTable: string, listIndex: number): string {
  return digest128(`${parentId}_${childTable}_${listIndex}`);
}
