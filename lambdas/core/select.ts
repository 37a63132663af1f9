/**
 * Finds a resource's records in a response body. Selectors are not trusted (several PayLink
 * envelopes are guesses, see docs/paylink-api.md), so this is tolerant, in order:
 *  1. each configured selector (dotted path: `accounts`, `data.accounts`; `$` is the body itself);
 *  2. `data.<selector>` for each selector;
 *  3. list resources: a body that is itself an array, else the only array at the top level
 *     or directly under `data`;
 *     object resources: the only top-level key holding an object (or null), e.g.
 *     `{"data": {...}}`, unless the body carries `_id` (then it is a bare record, and
 *     guessing one of its nested objects would load the wrong thing);
 *  4. object resources: a bare record, i.e. a body with a field of its own (a scalar that is
 *     not an API status such as `message` or `code`), is the record, as dlt's rest_api reads a
 *     response without a list; a bare `null` is no record. (List resources stay strict: a
 *     list endpoint answering one object is more likely a wrong path than one record.)
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
/** Keys a SelectorError shows at most: enough to tell which envelope came back. */
export const MAX_KEYS_SHOWN = 8;
/** Longer keys are not shown: PayLink's field names are short camelCase words. */
const MAX_FIELD_NAME_LENGTH = 32;

/** Whom a body was fetched for: their identifier is never shown as a key. */
export interface SelectContext {
  readonly identifier?: string | undefined;
}

export function selectRecords(
  body: JsonValue,
  resource: SelectableResource,
  context: SelectContext = {},
): JsonObject[] {
  return locateRecords(body, resource, context).records;
}

/** Where the records were found: a selector path, or `*` for the only-list/only-object fallback. */
export interface Located {
  readonly records: JsonObject[];
  /** The path that matched (`accounts`, `data.accounts`, `$`), or the key the fallback used (`*data`). */
  readonly selector: string;
}

/** Like selectRecords, and says which selector matched (for `probe`). */
export function locateRecords(
  body: JsonValue,
  resource: SelectableResource,
  context: SelectContext = {},
): Located {
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
  if (resource.kind === 'object') {
    if (body === null) return { records: [], selector: ROOT_SELECTOR };
    tried.push('the body as the record');
    if (isBareRecord(body, resource.selectors))
      return { records: [body as JsonObject], selector: ROOT_SELECTOR };
  }
  const keys = keysSeen(body, context.identifier);
  throw new SelectorError(resource.table, tried, keys.shown, keys.notShown);
}

/** Top-level keys of status and error bodies: a body with only these is not a record. */
const STATUS_KEYS = new Set(['message', 'code', 'status', 'error', 'errors', 'success', 'ok']);

/**
 * An object carrying at least one scalar field of its own: a record, not an envelope. A body
 * holding a selector's key (in the wrong shape) is an envelope gone wrong, not a record.
 */
function isBareRecord(body: JsonValue, selectors: readonly string[]): boolean {
  if (!isObject(body)) return false;
  if (selectors.some((s) => Object.hasOwn(body, s.split('.')[0]!))) return false;
  return Object.entries(body).some(
    // A number kept as written (NumberLiteral) is a scalar too.
    ([key, value]) => !STATUS_KEYS.has(key) && value !== null && !Array.isArray(value) && !isObject(value),
  );
}

/**
 * Whether an object key looks like data rather than a field name: ids (hex, UUIDs, long digit
 * runs), dates, e-mail addresses, anything with spaces or punctuation. Keys of maps keyed by
 * data are personal data, so `probe` and error messages print a placeholder instead.
 */
export function looksLikeDataKey(key: string): boolean {
  if (key.length === 0 || key.length > 40) return true;
  if (!/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key)) return true;
  if (/\d{4,}/.test(key)) return true;
  // ObjectIds and other hex ids that happen to start with a letter.
  if (key.length >= 12 && /^[0-9a-f-]+$/i.test(key) && /\d/.test(key)) return true;
  return false;
}

/**
 * Keys safe to print (`probe`): those that look like field names (looksLikeFieldName: never
 * the user's identifier or a capitalised name); the others are replaced by one
 * `<n keys that look like data>` entry.
 */
export function printableKeys(keys: readonly string[], identifier?: string): string[] {
  const safe = keys.filter((k) => looksLikeFieldName(k, identifier));
  const hidden = keys.length - safe.length;
  return hidden === 0 ? safe : [...safe, `<${hidden} key${hidden === 1 ? '' : 's'} that look like data>`];
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
  // A body with fields of its own is a record: guessing one of its nested objects would load the wrong thing.
  if (!isObject(body) || Object.hasOwn(body, '_id') || isBareRecord(body, [])) return undefined;
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

/**
 * The keys a SelectorError shows: top-level keys and keys under `data`, only those that look
 * like field names (`looksLikeFieldName`), at most MAX_KEYS_SHOWN; the rest are counted.
 */
function keysSeen(body: JsonValue, identifier: string | undefined): { shown: string[]; notShown: number } {
  if (!isObject(body)) return { shown: [], notShown: 0 };
  const all = Object.keys(body).map((k) => ({ key: k, label: k }));
  const envelope = body[ENVELOPE];
  if (isObject(envelope))
    for (const k of Object.keys(envelope)) all.push({ key: k, label: `${ENVELOPE}.${k}` });
  const shown = all
    .filter((k) => looksLikeFieldName(k.key, identifier))
    .slice(0, MAX_KEYS_SHOWN)
    .map((k) => k.label);
  return { shown, notShown: all.length - shown.length };
}

/**
 * Whether a key may be named in an error: a short field name as PayLink spells them (`accounts`,
 * `_id`, `nextPage`: a lower-case letter or `_`, then letters, digits and `_`), not one that
 * looks like data (looksLikeDataKey: ids, long digit runs), and not the user's identifier (an
 * identifier such as `alice_smith` has a field name's shape). A capitalised key is a name
 * (`Netflix`), not a field: not shown either. What is not shown is counted, never printed.
 */
export function looksLikeFieldName(key: string, identifier?: string): boolean {
  if (key.length > MAX_FIELD_NAME_LENGTH || !/^[a-z_][A-Za-z0-9_]*$/.test(key)) return false;
  if (looksLikeDataKey(key)) return false;
  return identifier === undefined || !overlaps(key, identifier);
}

/** The same text ignoring case, or one holding the other (`alice` in `alice_smith`). */
function overlaps(key: string, identifier: string): boolean {
  const a = key.toLowerCase();
  const b = identifier.toLowerCase();
  if (a === b) return true;
  const [shorter, longer] = a.length <= b.length ? [a, b] : [b, a];
  return shorter.length >= 4 && longer.includes(shorter);
}
