/**
 * Finds a resource's records in a response body. Selectors are not trusted (several PayLink
 * envelopes are guesses, see docs/paylink-api.md), so this is tolerant, in order:
 *  1. each configured selector (dotted path: `accounts`, `data.accounts`; `$` is the body itself);
 *  2. `data.<selector>` for each selector;
 *  3. list resources: a body that is itself an array, else the only array at the top level
 *     or directly under `data`;
 *     object resources: the only top-level key holding an object (or null), e.g.
 *     `{"data": {...}}`, unless the body carries `_id` (then it is a bare record, and
 *     guessing one of its nested objects would load the wrong thing: configure `$`).
 * A selector that reaches the wrong shape (a list where an object is expected, or a scalar)
 * does not match. A matched `null` is zero records. Nothing matched: SelectorError, which
 * names the keys seen and never a value.
 */

import { SelectorError } from './errors.ts';
import { isJsonObject } from './number-literal.ts';
import type { JsonObject, JsonValue } from './types.ts';

export interface SelectableResource {
  readonly table: string;
  readonly kind: 'list' | 'object';
  readonly selectors: readonly string[];
}

/** Selector meaning "the whole body". */
export const ROOT_SELECTOR = '$';
const ENVELOPE = 'data';
/** Keys listed in a SelectorError: enough to diagnose, bounded for huge maps. */
const MAX_KEYS_SEEN = 25;

export function selectRecords(body: JsonValue, resource: SelectableResource): JsonObject[] {
  return locateRecords(body, resource).records;
}

/** Where the records were found: a selector path, or `*` for the only-list/only-object fallback. */
export interface Located {
  readonly records: JsonObject[];
  /** The path that matched (`accounts`, `data.accounts`, `$`), or the key the fallback used (`*data`). */
  readonly selector: string;
}

/** Like selectRecords, and says which selector matched (for `probe`). */
export function locateRecords(body: JsonValue, resource: SelectableResource): Located {
  const tried: string[] = [];
  for (const path of candidatePaths(resource.selectors)) {
    tried.push(path);
    const found = matchShape(path === ROOT_SELECTOR ? body : readPath(body, path), resource.kind);
    if (found !== undefined) return { records: found, selector: path };
  }
  const fallback = resource.kind === 'list' ? onlyList(body) : onlyObject(body);
  tried.push(
    resource.kind === 'list'
      ? 'the only list at the top level or under data'
      : 'the only object at the top level',
  );
  if (fallback !== undefined) return { records: fallback.records, selector: fallback.selector };
  throw new SelectorError(resource.table, tried, keysSeen(body));
}

/** The value at a dotted path of objects; undefined when any step is missing or not an object. */
export function readPath(body: JsonValue, path: string): JsonValue | undefined {
  let current: JsonValue | undefined = body;
  for (const segment of path.split('.')) {
    if (!isObject(current) || !Object.hasOwn(current, segment)) return undefined;
    current = current[segment];
  }
  return current;
}

function candidatePaths(selectors: readonly string[]): string[] {
  const paths = [...selectors];
  for (const s of selectors) {
    if (s !== ROOT_SELECTOR && !s.startsWith(`${ENVELOPE}.`)) paths.push(`${ENVELOPE}.${s}`);
  }
  return [...new Set(paths)];
}

/** Records when `value` has the resource's shape; undefined when it does not (try the next selector). */
function matchShape(value: JsonValue | undefined, kind: 'list' | 'object'): JsonObject[] | undefined {
  if (value === undefined) return undefined;
  if (value === null) return [];
  if (kind === 'list') return Array.isArray(value) ? value.map(asRecord) : undefined;
  return isObject(value) ? [value] : undefined;
}

function onlyList(body: JsonValue): Located | undefined {
  if (Array.isArray(body)) return { records: body.map(asRecord), selector: ROOT_SELECTOR };
  if (!isObject(body)) return undefined;
  const lists: [string, JsonValue[]][] = [];
  for (const [key, value] of Object.entries(body)) if (Array.isArray(value)) lists.push([key, value]);
  const envelope = body[ENVELOPE];
  if (isObject(envelope)) {
    for (const [key, value] of Object.entries(envelope))
      if (Array.isArray(value)) lists.push([`${ENVELOPE}.${key}`, value]);
  }
  if (lists.length !== 1) return undefined;
  const [selector, list] = lists[0]!;
  return { records: list.map(asRecord), selector };
}

function onlyObject(body: JsonValue): Located | undefined {
  if (!isObject(body) || Object.hasOwn(body, '_id')) return undefined;
  let found: Located | undefined;
  let count = 0;
  for (const [key, value] of Object.entries(body)) {
    if (value === null || isObject(value)) {
      count++;
      found = { records: value === null ? [] : [value], selector: key };
    }
  }
  return count === 1 ? found : undefined;
}

/** dlt wraps scalars of a list the same way (`value` column). */
function asRecord(item: JsonValue): JsonObject {
  return isObject(item) ? item : { value: item };
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  // A number kept as spelled (`1.0`) is a class instance, not an object of the body.
  return isJsonObject(value);
}

function keysSeen(body: JsonValue): string[] {
  if (!isObject(body)) return [];
  const keys = Object.keys(body);
  const envelope = body[ENVELOPE];
  if (isObject(envelope)) for (const k of Object.keys(envelope)) keys.push(`${ENVELOPE}.${k}`);
  if (keys.length <= MAX_KEYS_SEEN) return keys;
  return [...keys.slice(0, MAX_KEYS_SEEN), `(+${keys.length - MAX_KEYS_SEEN} more)`];
}
