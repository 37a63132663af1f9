/**
 * dlt's relational normalizer (dlt/common/normalizers/json/relational.py) for one record:
 * nested objects flatten into `a__b__c` columns, lists become child tables `<table>__<field>`
 * linked by `_dlt_parent_id` / `_dlt_list_idx`, lists of scalars give `value` rows, and a list
 * inside a list goes through an intermediate row whose inner list is the `<table>__list` table.
 *
 * Where we differ from dlt, on purpose:
 * - root `_dlt_id`s are deterministic per load (see ids.ts); a `_dlt_id` field in the data is
 *   data, never adopted as the row id;
 * - every row, child rows included, carries `_dlt_load_id` and `user_identifier`, and child rows
 *   carry `_dlt_root_id` (dlt adds it only for merge): a child table can be filtered to one load
 *   or one user, and joined to its root, without going through its parent;
 * - values nested `MAX_NESTING_DEPTH` levels deep are written as JSON text (dlt: 1000 levels,
 *   as a json column), which bounds recursion on hostile payloads;
 * - two fields whose names normalize to the same column (or child table) do not overwrite each
 *   other (dlt: the last one silently wins). See `flattenResolvingCollisions` for the rule.
 */

import { LAKE } from './constants.ts';
import { MalformedResponseError } from './errors.ts';
import { childRowId, rootRowId } from './ids.ts';
import { identifierTag, normalizeIdentifier, shortenIdentifier } from './naming.ts';
import type { JsonObject, JsonPrimitive, JsonValue, RawRow, TableRow } from './types.ts';

/** Nesting levels (objects and lists, dlt's `_r_lvl`) before values are kept as JSON text. */
export const MAX_NESTING_DEPTH = 32;

/** Field name dlt gives the inner list of a list of lists (its intermediate row is `{list: [...]}`). */
const NESTED_LIST_KEY = 'list';

/**
 * Lineage columns, always first and in this order.
 * Root rows: load id, id, user. Child rows: parent id, list index, id, load id, root id, user.
 */
const ROOT_SYSTEM_COLUMNS = 3;
const CHILD_SYSTEM_COLUMNS = 6;

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
 * (depth first, as dlt yields them). Same input, same output, byte for byte.
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
  emitObjectRow(out, { name: ctx.table, full: ctx.table }, row, ROOT_SYSTEM_COLUMNS, obj, 0, id, lineage);
  return out;
}

/** A name both as written (`name`, shortened if too long) and in full (what child names build on). */
interface Path {
  readonly name: string;
  readonly full: string;
}

interface PendingList {
  /** Full path of the field within the row (`company__tags`), the child table's suffix. */
  readonly field: string;
  readonly items: readonly JsonValue[];
}

function emitObjectRow(
  out: TableRow<RawRow>[],
  table: Path,
  row: RawRow,
  systemColumns: number,
  obj: JsonObject,
  level: number,
  id: string,
  lineage: Lineage,
): void {
  const lists: PendingList[] = [];
  let written = row;
  if (!flatten(obj, row, undefined, level, lists, table.name)) {
    // Rare: two fields share a column or child table. Start over with the careful resolver.
    written = {};
    for (const key of Object.keys(row).slice(0, systemColumns)) written[key] = row[key] ?? null;
    lists.length = 0;
    flattenResolvingCollisions(obj, written, level, lists, table.name);
  }
  out.push({ table: table.name, row: written });
  for (const list of lists)
    emitList(out, joinPath(table.full, list.field), list.items, level + 1, id, lineage);
}

function emitList(
  out: TableRow<RawRow>[],
  table: Path,
  items: readonly JsonValue[],
  level: number,
  parentId: string,
  lineage: Lineage,
): void {
  for (let index = 0; index < items.length; index++) {
    const item = items[index] as JsonValue;
    const id = childRowId(parentId, table.name, index);
    const row: RawRow = {
      [LAKE.parentIdColumn]: parentId,
      [LAKE.listIndexColumn]: index,
      [LAKE.idColumn]: id,
      [LAKE.loadIdColumn]: lineage.loadId,
      [LAKE.rootIdColumn]: lineage.rootId,
      [LAKE.userColumn]: lineage.userIdentifier,
    };
    if (Array.isArray(item)) {
      // dlt: a list in a list is normalized as the mock row `{list: item}` one level deeper.
      const nested = { [NESTED_LIST_KEY]: item };
      emitObjectRow(out, table, row, CHILD_SYSTEM_COLUMNS, nested, level + 1, id, lineage);
    } else if (isObject(item)) {
      emitObjectRow(out, table, row, CHILD_SYSTEM_COLUMNS, item, level, id, lineage);
    } else {
      row[LAKE.scalarListColumn] = item;
      out.push({ table: table.name, row });
    }
  }
}

/**
 * The fast path: writes the object's scalars into `row` and queues its non-empty lists. Returns
 * false as soon as a column or child table is claimed twice (the caller then starts over).
 */
function flatten(
  obj: JsonObject,
  row: RawRow,
  prefix: string | undefined,
  level: number,
  lists: PendingList[],
  table: string,
): boolean {
  for (const key in obj) {
    const value = obj[key] as JsonValue;
    const path = fieldPath(prefix, key);
    if (value !== null && typeof value === 'object') {
      if (level >= MAX_NESTING_DEPTH) {
        if (Object.hasOwn(row, path.name)) return false;
        row[path.name] = encodeDeep(value, table);
      } else if (Array.isArray(value)) {
        if (value.length === 0) continue;
        for (const list of lists) if (list.field === path.full) return false;
        lists.push({ field: path.full, items: value });
      } else if (!flatten(value, row, path.full, level + 1, lists, table)) {
        return false;
      }
      continue;
    }
    if (Object.hasOwn(row, path.name)) return false;
    row[path.name] = value;
  }
  return true;
}

/** One field of the row as the careful resolver sees it: a cell or a list, with its raw path. */
interface Leaf {
  readonly raw: readonly string[];
  readonly path: Path;
  readonly kind: 'cell' | 'list';
  readonly value: JsonPrimitive | readonly JsonValue[];
  /** Set when the leaf loses its name to another field or to a system column. */
  renamed?: Path;
}

/**
 * Collision rule, independent of key order so that every record of a resource agrees:
 * - system columns (`_dlt_id`, ...) always keep their name;
 * - among fields that normalize to one column (or one child table), the field whose raw path is
 *   already normalized (`user_id` against `userId`) keeps it; failing that, the raw path that
 *   sorts first (JSON text, code unit order);
 * - every other field gets the name plus `_` and dlt's 6-character tag of its raw path
 *   (`user_id_k3x9qa`): stable across records and loads, and visible as a new column.
 */
function flattenResolvingCollisions(
  obj: JsonObject,
  row: RawRow,
  level: number,
  lists: PendingList[],
  table: string,
): void {
  const leaves: Leaf[] = [];
  collectLeaves(obj, [], undefined, level, leaves, table);
  const taken = new Set(Object.keys(row));
  renameLosers(
    leaves.filter((l) => l.kind === 'cell'),
    (l) => l.path.name,
    taken,
  );
  renameLosers(
    leaves.filter((l) => l.kind === 'list'),
    (l) => l.path.full,
    new Set(),
  );
  for (const leaf of leaves) {
    const path = leaf.renamed ?? leaf.path;
    if (leaf.kind === 'cell') row[path.name] = leaf.value as JsonPrimitive;
    else lists.push({ field: path.full, items: leaf.value as readonly JsonValue[] });
  }
}

function collectLeaves(
  obj: JsonObject,
  raw: readonly string[],
  prefix: string | undefined,
  level: number,
  leaves: Leaf[],
  table: string,
): void {
  for (const key in obj) {
    const value = obj[key] as JsonValue;
    const path = fieldPath(prefix, key);
    const rawPath = [...raw, key];
    if (value !== null && typeof value === 'object') {
      if (level >= MAX_NESTING_DEPTH) {
        leaves.push({ raw: rawPath, path, kind: 'cell', value: encodeDeep(value, table) });
      } else if (Array.isArray(value)) {
        if (value.length > 0) leaves.push({ raw: rawPath, path, kind: 'list', value });
      } else {
        collectLeaves(value, rawPath, path.full, level + 1, leaves, table);
      }
    } else {
      leaves.push({ raw: rawPath, path, kind: 'cell', value });
    }
  }
}

function renameLosers(leaves: readonly Leaf[], nameOf: (leaf: Leaf) => string, taken: Set<string>): void {
  const groups = new Map<string, Leaf[]>();
  for (const leaf of leaves) {
    const group = groups.get(nameOf(leaf));
    if (group) group.push(leaf);
    else groups.set(nameOf(leaf), [leaf]);
  }
  const losers: Leaf[] = [];
  for (const [name, group] of groups) {
    const ranked = [...group].sort(compareClaims);
    if (taken.has(name)) losers.push(...ranked);
    else losers.push(...ranked.slice(1));
    taken.add(name);
  }
  for (const leaf of losers.sort(compareClaims)) {
    const base = `${leaf.path.full}_${identifierTag(JSON.stringify(leaf.raw))}`;
    // A second clash (a real field already named like the renamed one) is all but impossible;
    // a counter still keeps the result unique and deterministic.
    let renamed: Path = { full: base, name: shortenIdentifier(base, base) };
    for (let n = 2; taken.has(nameOf({ ...leaf, path: renamed })); n++) {
      const full = `${base}_${n}`;
      renamed = { full, name: shortenIdentifier(full, full) };
    }
    leaf.renamed = renamed;
    taken.add(nameOf({ ...leaf, path: renamed }));
  }
}

/** Already-normalized raw paths first, then raw paths in JSON code unit order. */
function compareClaims(a: Leaf, b: Leaf): number {
  const canonical = Number(isCanonical(b.raw)) - Number(isCanonical(a.raw));
  if (canonical !== 0) return canonical;
  const ja = JSON.stringify(a.raw);
  const jb = JSON.stringify(b.raw);
  return ja < jb ? -1 : ja > jb ? 1 : 0;
}

function isCanonical(raw: readonly string[]): boolean {
  return raw.every((segment) => normalizeIdentifier(segment) === segment);
}

/** A value past the nesting cap, as JSON text. Only a pathologically deep value cannot be encoded. */
function encodeDeep(value: JsonValue, where: string): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new MalformedResponseError(`table ${where}`, 'a value is nested too deeply to encode', error);
  }
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// Paths repeat for every record of a resource: cache them so the hot path builds no strings.
const PATH_CACHE_LIMIT = 50_000;
let pathCacheSize = 0;
const topLevelPaths = new Map<string, Path>();
const nestedPaths = new Map<string, Map<string, Path>>();

/** The column path of raw field `key` under the (full, normalized) `prefix`. */
function fieldPath(prefix: string | undefined, key: string): Path {
  if (prefix !== undefined) return joinPath(prefix, normalizeIdentifier(key));
  let path = topLevelPaths.get(key);
  if (path === undefined) {
    makeRoom();
    const name = normalizeIdentifier(key);
    path = { name, full: name };
    topLevelPaths.set(key, path);
  }
  return path;
}

/** `prefix__segment`, shortened as dlt's `shorten_fragments` does (tag from the full path). */
function joinPath(prefix: string, segment: string): Path {
  let path = nestedPaths.get(prefix)?.get(segment);
  if (path === undefined) {
    makeRoom();
    let children = nestedPaths.get(prefix);
    if (children === undefined) {
      children = new Map();
      nestedPaths.set(prefix, children);
    }
    const full = `${prefix}${LAKE.pathSeparator}${segment}`;
    path = { full, name: shortenIdentifier(full, full) };
    children.set(segment, path);
  }
  return path;
}

/** Bounded memory: past the limit, forget everything (names are recomputed on demand). */
function makeRoom(): void {
  if (pathCacheSize >= PATH_CACHE_LIMIT) {
    topLevelPaths.clear();
    nestedPaths.clear();
    pathCacheSize = 0;
  }
  pathCacheSize++;
}
