/**
 * `probe`: what the real API answers, before a first load. One user's token, one call per
 * catalog resource (a child for one parent only), and per resource the HTTP status, the body's
 * top-level keys, the selector that matched, the record count and each field's path and
 * inferred type. Never a value, not even an id: PayLink data is personal financial data, and
 * the output is meant to be pasted into tickets. When a selector misses, the `--config` snippet
 * that would fix it is given.
 */
import { endpointSymptom, fixAdvice, WITNESS_PATH } from './endpoint-health.ts';
import {
  ApiKeyRejectedError,
  describeError,
  MalformedResponseError,
  PayLinkHttpError,
  SelectorError,
} from './errors.ts';
import { parseIsoTimestamp } from './iso-timestamp.ts';
import { unitPath } from './load-user.ts';
import { isJsonObject, isNumberLiteral } from './number-literal.ts';
import { firstPage } from './paginate.ts';
import type { PayLinkApi, PayLinkSession } from './ports.ts';
import { KNOWN_TASKS, type ResourceDef } from './resources.ts';
import { locateRecords, looksLikeDataKey, looksLikeFieldName, printableKeys } from './select.ts';
import type { JsonObject, JsonValue } from './types.ts';

export interface FieldShape {
  /**
   * Dotted path; list items as `[]`: `bills[].actions[].type`. Keys that look like data (ids,
   * dates: a map keyed by data) are never printed: the map is `map` and its entries `<key>`.
   */
  readonly path: string;
  /** Types seen: text, timestamp, bigint, double, bool, null, object, map, list. */
  readonly types: readonly string[];
}

export interface ResourceProbe {
  readonly resource: string;
  /** The catalog path template (never an id). */
  readonly endpoint: string;
  readonly auth: 'user' | 'server';
  /** HTTP status; null when no response came (network), the body was unusable, or not called. */
  readonly status: number | null;
  /** Set when it answered 2xx with a body that is not JSON (or empty): what the body was. */
  readonly notJson?: string;
  readonly outcome: 'ok' | 'no_data' | 'selector_miss' | 'failed' | 'skipped';
  /** Our own error message (status and endpoint, never a value); for failed and skipped resources. */
  readonly detail?: string;
  /** The body's top-level keys (`data.<key>` for keys of a `data` object); `(array)` for a bare list. */
  readonly topLevelKeys: readonly string[];
  /** The selector path that matched, or null. */
  readonly selector: string | null;
  readonly records: number | null;
  readonly fields: readonly FieldShape[];
  /** A `--config` snippet (or `--resources` advice) that would fix a miss. */
  readonly fix?: string;
}

export interface ProbeInput {
  readonly identifier: string;
  /** Resources to probe, parents before children (catalog order). */
  readonly resources: readonly ResourceDef[];
  /** Known task ids of this user (for `tasks`). */
  readonly taskIds?: readonly string[];
}

/**
 * Whether the results speak about the endpoints. `known`: PayLink served this user something.
 * `unknown`: nothing answered 2xx and WITNESS_PATH answered 404 too: PayLink does not seem to
 * know the identifier, so the 404s say nothing about the endpoints (no fix is suggested).
 * `unconfirmed`: nothing answered 2xx and the witness could not tell.
 */
export type ProbeUserVerdict = 'known' | 'unknown' | 'unconfirmed';

export interface ProbeReport {
  readonly user: ProbeUserVerdict;
  /** One sentence when the user is not `known`. */
  readonly note?: string;
  readonly resources: readonly ResourceProbe[];
}

export async function probeUser(input: ProbeInput, api: PayLinkApi): Promise<ProbeReport> {
  const session = await api.openSession(input.identifier);
  const resources = await probeResources(input, session);
  const answered = resources.some(
    (p) => p.outcome === 'ok' || p.outcome === 'no_data' || p.outcome === 'selector_miss',
  );
  const notFound = resources.some((p) => p.outcome === 'failed' && p.status === 404);
  if (answered || !notFound) return { user: 'known', resources };
  const witness = await witnessStatus(session);
  if (witness === 'ok') return { user: 'known', resources };
  // The 404s are about the user, not the endpoints: no endpoint is blamed, no fix suggested.
  const unblamed = resources.map(({ fix: _fix, ...p }) => p);
  if (witness === 404)
    return {
      user: 'unknown',
      note: `PayLink answered HTTP 404 at GET ${WITNESS_PATH} too (the one path Atomic's own code confirms): it does not seem to know this user. Check the identifier (exactly as given to PayLink); these results say nothing about the endpoints`,
      resources: unblamed,
    };
  return {
    user: 'unconfirmed',
    note: `every resource failed and GET ${WITNESS_PATH} ${witness === null ? 'did not answer' : `answered HTTP ${witness}`}: the results are inconclusive for this user; try another identifier`,
    resources: unblamed,
  };
}

/** GET WITNESS_PATH for the user: `ok` (2xx JSON), the HTTP status, or null (no usable answer). */
async function witnessStatus(session: PayLinkSession): Promise<'ok' | number | null> {
  try {
    await session.getJson({ path: WITNESS_PATH, query: {}, endpoint: WITNESS_PATH, auth: 'user' });
    return 'ok';
  } catch (error) {
    if (error instanceof ApiKeyRejectedError) throw error;
    return error instanceof PayLinkHttpError ? error.status : null;
  }
}

async function probeResources(input: ProbeInput, session: PayLinkSession): Promise<ResourceProbe[]> {
  const records = new Map<string, JsonObject[]>();
  const out: ResourceProbe[] = [];
  for (const resource of input.resources) {
    const base = { resource: resource.table, endpoint: resource.path, auth: resource.auth };
    const key = parentKey(resource, input.taskIds ?? [], records);
    if (key === null) {
      out.push({
        ...base,
        status: null,
        outcome: 'skipped',
        detail: skippedWhy(resource),
        topLevelKeys: [],
        selector: null,
        records: null,
        fields: [],
      });
      continue;
    }
    const query: Record<string, string> = { ...(firstPage(resource.paginator) ?? {}) };
    if (key !== undefined && resource.parent?.queryParam) query[resource.parent.queryParam] = key;
    let body: JsonValue;
    try {
      body = await session.getJson({
        path: unitPath(resource, input.identifier, key),
        query,
        endpoint: resource.path,
        auth: resource.auth,
      });
    } catch (error) {
      const status = error instanceof PayLinkHttpError ? error.status : null;
      if (resource.notFound === 'empty' && status === 404) {
        out.push({
          ...base,
          status,
          outcome: 'no_data',
          topLevelKeys: [],
          selector: null,
          records: 0,
          fields: [],
        });
        records.set(resource.table, []);
        continue;
      }
      const symptom = endpointSymptom(error);
      out.push({
        ...base,
        status,
        ...(error instanceof MalformedResponseError ? { notJson: error.detail } : {}),
        outcome: 'failed',
        detail: describeError(error).message,
        topLevelKeys: [],
        selector: null,
        records: null,
        fields: [],
        ...(symptom === undefined ? {} : { fix: fixAdvice(resource, symptom) }),
      });
      continue;
    }
    try {
      const located = locateRecords(body, resource, { identifier: input.identifier });
      records.set(resource.table, located.records);
      out.push({
        ...base,
        status: 200,
        outcome: 'ok',
        topLevelKeys: topLevelKeys(body, input.identifier),
        selector: located.selector,
        records: located.records.length,
        fields: fieldShapes(located.records),
      });
    } catch (error) {
      if (!(error instanceof SelectorError)) throw error;
      out.push({
        ...base,
        status: 200,
        outcome: 'selector_miss',
        detail: error.message,
        topLevelKeys: topLevelKeys(body, input.identifier),
        selector: null,
        records: null,
        fields: [],
        fix: selectorSnippet(resource, body, input.identifier),
      });
    }
  }
  return out;
}

/** The parent key to call a child with: undefined for a root, null when there is none to use. */
function parentKey(
  resource: ResourceDef,
  taskIds: readonly string[],
  records: ReadonlyMap<string, JsonObject[]>,
): string | undefined | null {
  const parent = resource.parent;
  if (parent === undefined) return undefined;
  const keys: JsonValue[] = [];
  if (parent.resource === KNOWN_TASKS) {
    keys.push(...taskIds);
    if (resource.keysFrom)
      for (const r of records.get(resource.keysFrom.resource) ?? [])
        keys.push(r[resource.keysFrom.field] ?? null);
  } else {
    for (const r of records.get(parent.resource) ?? []) keys.push(r[parent.field] ?? null);
  }
  const key = keys.find(
    (k) => (typeof k === 'string' && k !== '') || (typeof k === 'number' && Number.isFinite(k)),
  );
  return key === undefined ? null : String(key);
}

function skippedWhy(resource: ResourceDef): string {
  if (resource.parent?.resource === KNOWN_TASKS)
    return `no task id for this user: pass --task-ids${resource.keysFrom ? `, or let ${resource.keysFrom.resource} find some` : ''}`;
  return `no ${resource.parent?.resource} record to call it for`;
}

function topLevelKeys(body: JsonValue, identifier: string): string[] {
  if (Array.isArray(body)) return ['(array)'];
  if (!isJsonObject(body)) return [];
  const keys = printableKeys(Object.keys(body), identifier);
  const data = body.data;
  if (isJsonObject(data))
    for (const k of printableKeys(Object.keys(data), identifier)) keys.push(`data.${k}`);
  return keys;
}

/** The `--config` snippet naming the key that holds the records (or `$`: the body is the record). */
function selectorSnippet(resource: ResourceDef, body: JsonValue, identifier: string): string {
  const candidates: string[] = [];
  const consider = (path: string, value: JsonValue) => {
    if (path.split('.').some((k) => !looksLikeFieldName(k, identifier))) return;
    if (resource.kind === 'list' ? Array.isArray(value) : isJsonObject(value)) candidates.push(path);
  };
  if (isJsonObject(body)) {
    for (const [k, v] of Object.entries(body)) {
      consider(k, v);
      if (isJsonObject(v)) for (const [k2, v2] of Object.entries(v)) consider(`${k}.${k2}`, v2);
    }
    if (resource.kind === 'object' && Object.hasOwn(body, '_id')) candidates.unshift('$');
  }
  const pick = candidates[0] ?? '<key>';
  return `{"resources": {"${resource.table}": {"selectors": [${JSON.stringify(pick)}]}}}`;
}

/** The placeholder of a map's data-like keys in a field path. */
const MAP_KEY = '<key>';

/** Every field path of the records with the types seen there; never a value. */
export function fieldShapes(records: readonly JsonObject[]): FieldShape[] {
  const seen = new Map<string, Set<string>>();
  const add = (path: string, type: string) => {
    const types = seen.get(path) ?? new Set<string>();
    types.add(type);
    seen.set(path, types);
  };
  const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);
  const walkEntries = (object: JsonObject, path: string) => {
    // A map keyed by data (ids, dates): its keys are personal data; print its shape only.
    const keyed = Object.keys(object).some(looksLikeDataKey);
    for (const [k, v] of Object.entries(object)) walk(v, join(path, keyed ? MAP_KEY : k));
  };
  const walk = (value: JsonValue, path: string) => {
    if (Array.isArray(value)) {
      add(path, 'list');
      for (const item of value) walk(item, `${path}[]`);
    } else if (isJsonObject(value)) {
      add(path, Object.keys(value).some(looksLikeDataKey) ? 'map' : 'object');
      walkEntries(value, path);
    } else add(path, typeOf(value));
  };
  for (const record of records) walkEntries(record, '');
  return [...seen.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, types]) => ({ path, types: [...types].sort() }));
}

function typeOf(value: JsonValue): string {
  if (value === null) return 'null';
  // A number kept as written (beyond a double's range or precision): loaded as text.
  if (isNumberLiteral(value)) return 'text';
  if (Array.isArray(value)) return 'list';
  switch (typeof value) {
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(value) ? 'bigint' : 'double';
    case 'string':
      return parseIsoTimestamp(value) === undefined ? 'text' : 'timestamp';
    default:
      return 'object';
  }
}
