/**
 * `probe`: what the real API answers, before a first load. One user's token, one call per
 * catalog resource (a child for one parent only), and per resource the HTTP status, the body's
 * top-level keys, the selector that matched, the record count and each field's path and
 * inferred type. Never a value, not even an id: PayLink data is personal financial data, and
 * the output is meant to be pasted into tickets. When a selector misses, the `--config` snippet
 * that would fix it is given.
 */
import { endpointSymptom, fixAdvice } from './endpoint-health.ts';
import { describeError, PayLinkHttpError, SelectorError } from './errors.ts';
import { parseIsoTimestamp } from './iso-timestamp.ts';
import { unitPath } from './load-user.ts';
import { isJsonObject } from './number-literal.ts';
import { firstPage } from './paginate.ts';
import type { PayLinkApi } from './ports.ts';
import { KNOWN_TASKS, type ResourceDef } from './resources.ts';
import { locateRecords } from './select.ts';
import type { JsonObject, JsonValue } from './types.ts';

export interface FieldShape {
  /** Dotted path; list items as `[]`: `bills[].actions[].type`. */
  readonly path: string;
  /** Types seen: text, timestamp, bigint, double, bool, null, object, list. */
  readonly types: readonly string[];
}

export interface ResourceProbe {
  readonly resource: string;
  /** The catalog path template (never an id). */
  readonly endpoint: string;
  readonly auth: 'user' | 'server';
  /** HTTP status; null when no response came (network) or the resource was not called. */
  readonly status: number | null;
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

export async function probeUser(input: ProbeInput, api: PayLinkApi): Promise<ResourceProbe[]> {
  const session = await api.openSession(input.identifier);
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
      const located = locateRecords(body, resource);
      records.set(resource.table, located.records);
      out.push({
        ...base,
        status: 200,
        outcome: 'ok',
        topLevelKeys: topLevelKeys(body),
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
        topLevelKeys: topLevelKeys(body),
        selector: null,
        records: null,
        fields: [],
        fix: selectorSnippet(resource, body),
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

function topLevelKeys(body: JsonValue): string[] {
  if (Array.isArray(body)) return ['(array)'];
  if (!isJsonObject(body)) return [];
  const keys = Object.keys(body);
  const data = body.data;
  if (data !== null && typeof data === 'object' && !Array.isArray(data))
    for (const k of Object.keys(data)) keys.push(`data.${k}`);
  return keys;
}

/** The `--config` snippet naming the key that holds the records (or `$`: the body is the record). */
function selectorSnippet(resource: ResourceDef, body: JsonValue): string {
  const candidates: string[] = [];
  const consider = (path: string, value: JsonValue) => {
    if (
      resource.kind === 'list'
        ? Array.isArray(value)
        : value !== null && typeof value === 'object' && !Array.isArray(value)
    )
      candidates.push(path);
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

/** Every field path of the records with the types seen there; never a value. */
export function fieldShapes(records: readonly JsonObject[]): FieldShape[] {
  const seen = new Map<string, Set<string>>();
  const add = (path: string, type: string) => {
    const types = seen.get(path) ?? new Set<string>();
    types.add(type);
    seen.set(path, types);
  };
  const walk = (value: JsonValue, path: string) => {
    add(path, typeOf(value));
    if (Array.isArray(value)) for (const item of value) walk(item, `${path}[]`);
    else if (value !== null && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
  };
  for (const record of records) for (const [k, v] of Object.entries(record)) walk(v, k);
  return [...seen.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, types]) => ({ path, types: [...types].sort() }));
}

function typeOf(value: JsonValue): string {
  if (value === null) return 'null';
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
