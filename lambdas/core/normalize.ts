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
 *
 * Wide records are bounded (README, "Wide records"), after dlt's `json` columns: a map keyed by
 * data is data, not a schema, and flattening it gave one column per key forever.
 * - A nested object with more than `WIDE_OBJECT_KEYS` keys, or whose every key looks like data
 *   (a number, a date, a UUID, a long hex or digit run: `looksLikeData`), is kept whole as JSON
 *   text in one column at its path, and so is any object or list at a path the lake already
 *   keeps as JSON (`NormalizeRouting.isJsonPath`: dlt's rule for a column typed `json`).
 * - A row object (the record, or an object in a list) that is that wide or data-keyed keeps its
 *   fields the lake already has columns for, and puts the others in one JSON object in the
 *   table's overflow column.
 * Both rules look only at the record and at what the lake held before the load (committed or
 * declared), never at other records of the load: the same record gives the same rows whatever
 * the record order or the split into batches.
 */

import { stringify } from 'lossless-json';
import { LAKE } from './constants.ts';
import { MalformedResponseError } from './errors.ts';
import {
  childPathKey,
  childTableKey,
  ITEM_PATH,
  type JsonReason,
  jsonKey,
  overflowKey,
  pathSegments,
  splitTableKey,
} from './field-path.ts';
import { childRowId, rootRowId } from './ids.ts';
import { normalizeIdentifier, shortenIdentifier } from './naming.ts';
import { NumberLiteral } from './number-literal.ts';
import type { JsonObject, JsonValue, RawRow, TableRow } from './types.ts';

/** Nesting levels (objects and lists, dlt's `_r_lvl`) before values are kept as JSON text. */
export const MAX_NESTING_DEPTH = 32;

/**
 * Keys an object may have before it is kept as JSON text (a nested object) or its new fields go
 * to the overflow column (a row). PayLink records have tens of fields; a few hundred keys is a
 * map, and each column costs every later part of the table a footer entry and a null column.
 */
export const WIDE_OBJECT_KEYS = 256;

/** What the lake held before this load, as the normalizer needs it (SchemaRegistry.routing). */
export interface NormalizeRouting {
  /** True when the lake keeps the value at source path key `path` of table key `table` as JSON. */
  isJsonPath(table: string, path: string): boolean;
  /** True when the lake has a column, child table or JSON column at or below raw top-level `key`. */
  hasField(table: string, key: string): boolean;
}

const NO_ROUTING: NormalizeRouting = { isJsonPath: () => false, hasField: () => false };

/** What every row of one record shares: its load, its user and its root row (and the lake's routing). */
interface Lineage {
  readonly loadId: string;
  readonly userIdentifier: string;
  readonly rootId: string;
  readonly routing: NormalizeRouting;
}

export interface NormalizeContext {
  /** Root table name, already normalized (catalog tables are snake_case identifiers). */
  readonly table: string;
  readonly loadId: string;
  readonly userIdentifier: string;
  /** The record's key within (user, table): primary key or position, chosen by the caller. */
  readonly rootKey: string;
  /** What the lake held before the load (JSON paths, known fields); nothing when omitted. */
  readonly routing?: NormalizeRouting;
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
  const lineage: Lineage = {
    loadId: ctx.loadId,
    userIdentifier: ctx.userIdentifier,
    rootId: id,
    routing: ctx.routing ?? NO_ROUTING,
  };
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
  const reason = wideReason(obj);
  if (reason === undefined) flatten(obj, row, undefined, level, lists, table, lineage.routing);
  else {
    // Fields the lake has columns for stay queryable; the rest go to the overflow column whole.
    const kept: JsonObject = Object.create(null);
    const overflow: JsonObject = Object.create(null);
    let spilled = false;
    for (const key in obj) {
      const value = obj[key] as JsonValue;
      if (lineage.routing.hasField(table, key)) kept[key] = value;
      else if (!isEmpty(value)) {
        overflow[key] = value;
        spilled = true;
      }
    }
    flatten(kept, row, undefined, level, lists, table, lineage.routing);
    if (spilled) row[overflowKey(reason)] = encodeJson(overflow, table);
  }
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
      if (level + 1 >= MAX_NESTING_DEPTH) row[jsonKey(ITEM_PATH, 'nesting_depth')] = encodeJson(item, table);
      else if (lineage.routing.isJsonPath(table, ITEM_PATH))
        row[jsonKey(ITEM_PATH, 'kept_as_json')] = encodeJson(item, table);
      else emitList(out, childTableKey(table, ITEM_PATH), item, level + 2, id, lineage);
    } else if (isObject(item)) {
      emitObjectRow(out, table, row, item, level, id, lineage);
    } else {
      row[ITEM_PATH] = item;
      out.push({ table, row });
    }
  }
}

/**
 * Writes the object's scalars into `row` under their path keys, values kept as JSON under their
 * JSON keys, and queues its non-empty lists.
 */
function flatten(
  obj: JsonObject,
  row: RawRow,
  prefix: string | undefined,
  level: number,
  lists: PendingList[],
  table: string,
  routing: NormalizeRouting,
): void {
  for (const key in obj) {
    const value = obj[key] as JsonValue;
    const path = fieldPath(prefix, key);
    if (value === null || typeof value !== 'object' || value instanceof NumberLiteral) {
      row[path] = value;
      continue;
    }
    // An empty list or object adds nothing, as in dlt, wherever it would have gone.
    if (isEmpty(value)) continue;
    if (level >= MAX_NESTING_DEPTH) row[jsonKey(path, 'nesting_depth')] = encodeJson(value, table);
    else if (routing.isJsonPath(table, path)) row[jsonKey(path, 'kept_as_json')] = encodeJson(value, table);
    else if (Array.isArray(value)) lists.push({ path, items: value });
    else {
      const reason = wideReason(value);
      if (reason !== undefined) row[jsonKey(path, reason)] = encodeJson(value, table);
      else flatten(value, row, path, level + 1, lists, table, routing);
    }
  }
}

/** Why an object is not flattened (too many keys, or keys that are data), or undefined. */
function wideReason(obj: JsonObject): JsonReason | undefined {
  let count = 0;
  let dataKeys = true;
  for (const key in obj) {
    if (++count > WIDE_OBJECT_KEYS) return 'wide_object';
    // Most objects fail on their first key, so this costs one test per object.
    if (dataKeys && !looksLikeData(key)) dataKeys = false;
  }
  return count > 0 && dataKeys ? 'data_keys' : undefined;
}

const NUMBER_KEY = /^[-+]?\d+(?:[.,]\d+)?$/;
const DATE_KEY = /^\d{4}-\d{2}(?:-\d{2})?(?:[T ].*)?$/;
const UUID_KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_KEY = /^[0-9a-f]{16,}$/i;
const DIGIT_RUN = /\d{6}/;

/**
 * True for a key that is a value rather than a field name: a number (`42`, `-1.5`), a date or
 * date-time (`2024-01`, `2024-01-31T10:00Z`), a UUID, a hex id of 16+ digits (`5f8d0d55b547...`),
 * or a name holding a run of 6+ digits (`acct_000123456`), and always holds a digit. A field name
 * like `address_line_1` is none.
 */
export function looksLikeData(key: string): boolean {
  // Every data key above has a digit (a hex id or UUID without one is not worth the cost): most
  // field names have none and are settled without a regex.
  if (!hasDigit(key)) return false;
  return (
    NUMBER_KEY.test(key) ||
    DATE_KEY.test(key) ||
    UUID_KEY.test(key) ||
    HEX_KEY.test(key) ||
    DIGIT_RUN.test(key)
  );
}

function hasDigit(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code >= 48 && code <= 57) return true;
  }
  return false;
}

function isEmpty(value: JsonValue): boolean {
  if (value === null) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value !== 'object' || value instanceof NumberLiteral) return false;
  for (const _ in value) return false;
  return true;
}

/**
 * A value as JSON text: numbers as the body spelled them (lossless-json writes big integers and
 * `NumberLiteral`s verbatim), and a bare NaN / Infinity token, which JSON cannot hold, as the
 * string of its token (`"NaN"`), so the text stays JSON any reader parses and nothing is lost.
 * Only a pathologically deep value cannot be encoded.
 */
function encodeJson(value: JsonValue, where: string): string {
  try {
    return stringify(value, nonFiniteAsToken) as string;
  } catch (error) {
    throw new MalformedResponseError(`table ${where}`, 'a value is nested too deeply to encode', error);
  }
}

function nonFiniteAsToken(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

function isObject(value: unknown): value is JsonObject {
  return (
    value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof NumberLiteral)
  );
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
