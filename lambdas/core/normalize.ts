/**
 * dlt's relational normalizer (dlt/common/normalizers/json/relational.py) for one record:
 * nested objects flatten into one row, lists become child rows linked by `_dlt_parent_id` /
 * `_dlt_list_idx`, lists of scalars give item rows, and a list inside a list goes through an
 * intermediate row whose inner list is the next child table.
 *
 * Rows come out keyed by SOURCE, not by column name: each field by its raw path key
 * (`["company","name"]`, see field-path.ts) and each child row's table by its chain of list
 * paths. Names are the schema registry's job (`SchemaRegistry.typeRow`): it decides each
 * source path's column once, whatever order records arrive in, remembers it in the committed
 * schema, and never gives one column to two source paths. (Deciding names here, record by
 * record, gave `accountId` and `account_id` one column or two depending on which record came
 * first.)
 *
 * Where we differ from dlt, on purpose:
 * - root `_dlt_id`s are deterministic per load (see ids.ts); a `_dlt_id` field in the data is
 *   data, never adopted as the row id;
 * - every row, child rows included, carries `_dlt_load_id` and `user_identifier`, and child rows
 *   carry `_dlt_root_id` (dlt adds it only for merge): a child table can be filtered to one load
 *   or one user, and joined to its root, without going through its parent;
 * - values nested `MAX_NESTING_DEPTH` levels deep are written as JSON text (dlt: 1000 levels,
 *   as a json column), which bounds recursion on hostile payloads.
 */

import { stringify } from 'lossless-json';
import { LAKE } from './constants.ts';
import { MalformedResponseError } from './errors.ts';
import { childPathKey, childTableKey, ITEM_PATH, pathSegments, splitTableKey } from './field-path.ts';
import { childRowId, rootRowId } from './ids.ts';
import { normalizeIdentifier, shortenIdentifier } from './naming.ts';
import type { JsonObject, JsonValue, RawRow, TableRow } from './types.ts';

/** Nesting levels (objects and lists, dlt's `_r_lvl`) before values are kept as JSON text. */
export const MAX_NESTING_DEPTH = 32;

/** What every row of one record shares: its load, its user and its root row. */
interface Lineage {
  readonly loadId: string;
  readonly userIdentifier: string;
  readonly rootId: string;
}

export interface NormalizeContext {
  /** Root table name, already normalized (catalog tables are snake_case identifiers). */
  readonly table: string;
  readonly loadId: string;
  readonly userIdentifier: string;
  /** The record's key within (user, table): primary key or position, chosen by the caller. */
  readonly rootKey: string;
}

/**
 * Rows for one record, parent before children, children in field order then list order
 * (depth first, as dlt yields them). `table` is a table key and row keys are lineage column
 * names or source path keys (field-path.ts); `SchemaRegistry.typeRow` turns them into names.
 * Same input, same output, byte for byte. Nulls are kept (they fill known columns); empty lists
 * and empty objects add nothing, as in dlt.
 */
export function normalizeRecord(record: JsonObject, ctx: NormalizeContext): TableRow<RawRow>[] {
  const out: TableRow<RawRow>[] = [];
  const id = rootRowId(ctx.loadId, ctx.userIdentifier, ctx.table, ctx.rootKey);
  const row: RawRow = {
    [LAKE.loadIdColumn]: ctx.loadId,
    [LAKE.idColumn]: id,
    [LAKE.userColumn]: ctx.userIdentifier,
  };
  const lineage: Lineage = { loadId: ctx.loadId, userIdentifier: ctx.userIdentifier, rootId: id };
  // dlt's wrap_in_dict: a record that is not an object becomes `{value: record}`.
  const obj: JsonObject = isObject(record) ? record : { [LAKE.scalarListColumn]: record as JsonValue };
  emitObjectRow(out, ctx.table, row, obj, 0, id, lineage);
  return out;
}

interface PendingList {
  /** Path key of the list field within the row: the child table key's last part. */
  readonly path: string;
  readonly items: readonly JsonValue[];
}

function emitObjectRow(
  out: TableRow<RawRow>[],
  table: string,
  row: RawRow,
  obj: JsonObject,
  level: number,
  id: string,
  lineage: Lineage,
): void {
  const lists: PendingList[] = [];
  flatten(obj, row, undefined, level, lists, table);
  out.push({ table, row });
  for (const list of lists)
    emitList(out, childTableKey(table, list.path), list.items, level + 1, id, lineage);
}

function emitList(
  out: TableRow<RawRow>[],
  table: string,
  items: readonly JsonValue[],
  level: number,
  parentId: string,
  lineage: Lineage,
): void {
  for (let index = 0; index < items.length; index++) {
    const item = items[index] as JsonValue;
    const id = childRowId(parentId, naturalTableName(table), index);
    const row: RawRow = {
      [LAKE.parentIdColumn]: parentId,
      [LAKE.listIndexColumn]: index,
      [LAKE.idColumn]: id,
      [LAKE.loadIdColumn]: lineage.loadId,
      [LAKE.rootIdColumn]: lineage.rootId,
      [LAKE.userColumn]: lineage.userIdentifier,
    };
    if (Array.isArray(item)) {
      // dlt: a list in a list goes through an intermediate row holding the inner list.
      out.push({ table, row });
      if (item.length === 0) continue;
      if (level + 1 >= MAX_NESTING_DEPTH) row[ITEM_PATH] = encodeDeep(item, table);
      else emitList(out, childTableKey(table, ITEM_PATH), item, level + 2, id, lineage);
    } else if (isObject(item)) {
      emitObjectRow(out, table, row, item, level, id, lineage);
    } else {
      row[ITEM_PATH] = item;
      out.push({ table, row });
    }
  }
}

/** Writes the object's scalars into `row` under their path keys and queues its non-empty lists. */
function flatten(
  obj: JsonObject,
  row: RawRow,
  prefix: string | undefined,
  level: number,
  lists: PendingList[],
  table: string,
): void {
  for (const key in obj) {
    const value = obj[key] as JsonValue;
    const path = fieldPath(prefix, key);
    if (value !== null && typeof value === 'object') {
      if (level >= MAX_NESTING_DEPTH) row[path] = encodeDeep(value, table);
      else if (Array.isArray(value)) {
        if (value.length > 0) lists.push({ path, items: value });
      } else flatten(value, row, path, level + 1, lists, table);
      continue;
    }
    row[path] = value;
  }
}

/**
 * A value past the nesting cap, as JSON text (exact integers kept; non-finite tokens become
 * null). Only a pathologically deep value cannot be encoded.
 */
function encodeDeep(value: JsonValue, where: string): string {
  try {
    return stringify(value) as string;
  } catch (error) {
    throw new MalformedResponseError(`table ${where}`, 'a value is nested too deeply to encode', error);
  }
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const naturalNames = new Map<string, string>();

/**
 * The name dlt would give the table (`accounts__bills__actions`): child ids hash it, as dlt's
 * do, so ids match dlt's for the same parent id. The registry may name the table otherwise
 * (when two lists normalize alike); ids stay unique per table either way.
 */
function naturalTableName(tableKey: string): string {
  let name = naturalNames.get(tableKey);
  if (name !== undefined) return name;
  const [root, ...lists] = splitTableKey(tableKey) as [string, ...string[]];
  let full = root;
  for (const list of lists) {
    const segments = list === ITEM_PATH ? ['list'] : pathSegments(list).map(normalizeIdentifier);
    full = [full, ...segments].join(LAKE.pathSeparator);
  }
  name = shortenIdentifier(full, full);
  if (naturalNames.size >= PATH_CACHE_LIMIT) naturalNames.clear();
  naturalNames.set(tableKey, name);
  return name;
}

// Paths repeat for every record of a resource: cache them so the hot path builds few strings.
const PATH_CACHE_LIMIT = 50_000;
let pathCacheSize = 0;
const topLevelPaths = new Map<string, string>();
const nestedPaths = new Map<string, Map<string, string>>();

/** The path key of raw field `key` under the object at path key `prefix`. */
function fieldPath(prefix: string | undefined, key: string): string {
  const cache = prefix === undefined ? topLevelPaths : nestedPaths.get(prefix);
  let path = cache?.get(key);
  if (path !== undefined) return path;
  if (pathCacheSize >= PATH_CACHE_LIMIT) {
    topLevelPaths.clear();
    nestedPaths.clear();
    pathCacheSize = 0;
  }
  pathCacheSize++;
  path = childPathKey(prefix, key);
  if (prefix === undefined) topLevelPaths.set(key, path);
  else {
    let children = nestedPaths.get(prefix);
    if (children === undefined) {
      children = new Map();
      nestedPaths.set(prefix, children);
    }
    children.set(key, path);
  }
  return path;
}
