/**
 * Everything one user contributes to a load: mint a token, fetch each resource step (children
 * fanned out over their parent's records), normalize the records into rows. A (user, resource)
 * unit is all-or-nothing: its rows are returned only when every request of the unit succeeded,
 * so a failed unit writes no partial data and `user_loads` tells the truth about it.
 */
import type { ResourceStep } from './config.ts';
import { DEFAULTS, LAKE } from './constants.ts';
import { ApiKeyRejectedError, describeError, LoaderError, PaginationLimitError } from './errors.ts';
import { normalizeRecord } from './normalize.ts';
import { firstPage, nextPage } from './paginate.ts';
import type { PayLinkApi, PayLinkSession } from './ports.ts';
import { KNOWN_TASKS, type ResourceDef } from './resources.ts';
import { selectRecords } from './select.ts';
import type { JsonObject, JsonValue, RawRow } from './types.ts';

export type UnitStatus = 'ok' | 'failed';

/** One row of the `user_loads` table, before typing. */
export interface UnitOutcome {
  readonly resource: string;
  readonly status: UnitStatus;
  /** Root rows written for the unit (child-table rows not counted). */
  readonly rows: number;
  readonly requests: number;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly httpStatus: number | null;
}

export interface StagedRow {
  readonly table: string;
  /** Partition date (YYYY-MM-DD). */
  readonly dt: string;
  readonly row: RawRow;
}

export interface UserResult {
  readonly identifier: string;
  readonly outcomes: readonly UnitOutcome[];
  readonly rows: readonly StagedRow[];
  readonly failed: boolean;
}

export interface UserInput {
  readonly identifier: string;
  readonly steps: readonly ResourceStep[];
  readonly loadId: string;
  readonly dt: string;
  /** Task ids known for this user (webhooks or a task-id file): the parent of `tasks`. */
  readonly taskIds?: readonly string[];
  readonly maxPages?: number;
}

interface FetchedRecord {
  readonly record: JsonObject;
  readonly parentKey: string | undefined;
}

/** Thrown inside a unit when its parent unit failed: recorded, never surfaced. */
class ParentFailedError extends LoaderError {
  constructor(parent: string) {
    super(`parent resource ${parent} failed`, { code: 'parent_failed' });
  }
}

export async function loadUser(input: UserInput, api: PayLinkApi): Promise<UserResult> {
  const outcomes: UnitOutcome[] = [];
  const rows: StagedRow[] = [];
  let session: PayLinkSession;
  try {
    session = await api.openSession(input.identifier);
  } catch (error) {
    if (error instanceof ApiKeyRejectedError) throw error;
    for (const step of input.steps) if (step.emit) outcomes.push(failed(step.resource.table, error, 0));
    return { identifier: input.identifier, outcomes, rows, failed: true };
  }

  const fetched = new Map<string, readonly FetchedRecord[]>();
  for (const step of input.steps) {
    const { resource } = step;
    const counter = { requests: 0 };
    try {
      const records = await fetchUnit(resource, input, session, fetched, counter);
      fetched.set(resource.table, records);
      if (!step.emit) continue;
      const unitRows = normalizeUnit(resource, records, input);
      rows.push(...unitRows.rows);
      outcomes.push({
        resource: resource.table,
        status: 'ok',
        rows: unitRows.rootRows,
        requests: counter.requests,
        errorCode: null,
        errorMessage: null,
        httpStatus: null,
      });
    } catch (error) {
      if (error instanceof ApiKeyRejectedError) throw error;
      if (step.emit) outcomes.push(failed(resource.table, error, counter.requests));
    }
  }
  return {
    identifier: input.identifier,
    outcomes,
    rows,
    failed: outcomes.some((o) => o.status === 'failed'),
  };
}

function failed(resource: string, error: unknown, requests: number): UnitOutcome {
  const { code, message } = describeError(error);
  const status =
    typeof (error as { status?: unknown }).status === 'number' ? (error as { status: number }).status : null;
  return {
    resource,
    status: 'failed',
    rows: 0,
    requests,
    errorCode: code,
    errorMessage: message,
    httpStatus: status,
  };
}

/** The parent keys a child unit fans out over. */
function parentKeys(
  resource: ResourceDef,
  input: UserInput,
  fetched: ReadonlyMap<string, readonly FetchedRecord[]>,
): readonly (string | undefined)[] {
  const parent = resource.parent;
  if (!parent) return [undefined];
  if (parent.resource === KNOWN_TASKS) return input.taskIds ?? [];
  const records = fetched.get(parent.resource);
  if (!records) throw new ParentFailedError(parent.resource);
  const keys: string[] = [];
  for (const { record } of records) {
    const key = record[parent.field];
    if (typeof key === 'string' && key !== '') keys.push(key);
    else if (typeof key === 'number' && Number.isFinite(key)) keys.push(String(key));
  }
  return [...new Set(keys)];
}

async function fetchUnit(
  resource: ResourceDef,
  input: UserInput,
  session: PayLinkSession,
  fetched: ReadonlyMap<string, readonly FetchedRecord[]>,
  counter: { requests: number },
): Promise<FetchedRecord[]> {
  const out: FetchedRecord[] = [];
  const maxPages = input.maxPages ?? DEFAULTS.pagination.maxPages;
  for (const parentKey of parentKeys(resource, input, fetched)) {
    const baseQuery: Record<string, string> = {};
    let path = resource.path;
    if (parentKey !== undefined) {
      if (resource.parent?.queryParam) baseQuery[resource.parent.queryParam] = parentKey;
      else path = path.replaceAll('{id}', encodeURIComponent(parentKey));
    }
    let pageQuery: Record<string, string> | undefined = firstPage(resource.paginator);
    let pages = 0;
    while (pageQuery !== undefined) {
      if (++pages > maxPages) throw new PaginationLimitError(resource.path, maxPages);
      const query = { ...baseQuery, ...pageQuery };
      counter.requests++;
      const body: JsonValue = await session.getJson({ path, query, endpoint: resource.path });
      const records = selectRecords(body, resource);
      for (const record of records) out.push({ record, parentKey });
      pageQuery = nextPage(resource.paginator, { query: pageQuery, body, itemCount: records.length });
    }
  }
  return out;
}

function normalizeUnit(
  resource: ResourceDef,
  records: readonly FetchedRecord[],
  input: UserInput,
): { rows: StagedRow[]; rootRows: number } {
  const rows: StagedRow[] = [];
  const seenKeys = new Map<string, number>();
  const parentColumn =
    resource.parent && resource.parent.resource !== KNOWN_TASKS
      ? `_${resource.parent.resource}_${resource.parent.field}`
      : undefined;
  records.forEach(({ record, parentKey }, index) => {
    const prepared = applyAliases(record, resource.fieldAliases);
    // dlt's include_from_parent: the child row keeps its parent's key (`_accounts_id`).
    if (parentColumn !== undefined && parentKey !== undefined) prepared[parentColumn] = parentKey;
    const rootKey = recordKey(resource, record, parentKey, index, seenKeys);
    const dt = partitionDate(resource, record) ?? input.dt;
    for (const tr of normalizeRecord(prepared, {
      table: resource.table,
      loadId: input.loadId,
      userIdentifier: input.identifier,
      rootKey,
    })) {
      rows.push({ table: tr.table, dt, row: tr.row });
    }
  });
  return { rows, rootRows: records.length };
}

function applyAliases(record: JsonObject, aliases: Readonly<Record<string, string>>): JsonObject {
  const out: JsonObject = { ...record };
  for (const [from, to] of Object.entries(aliases)) {
    if (from in out && !(to in out)) {
      out[to] = out[from]!;
      delete out[from];
    }
  }
  return out;
}

/**
 * A record's stable key within its user and resource: the primary key when it has one (a
 * duplicate gets an occurrence suffix), else its position. Children are scoped by parent key.
 */
function recordKey(
  resource: ResourceDef,
  record: JsonObject,
  parentKey: string | undefined,
  index: number,
  seen: Map<string, number>,
): string {
  const pk = resource.primaryKey === undefined ? undefined : record[resource.primaryKey];
  let own = typeof pk === 'string' || typeof pk === 'number' ? `k:${pk}` : `i:${index}`;
  const scoped = JSON.stringify([parentKey ?? null, own]);
  const n = seen.get(scoped) ?? 0;
  seen.set(scoped, n + 1);
  if (n > 0) own = `${own}#${n}`;
  return JSON.stringify([parentKey ?? null, own]);
}

/** Date partition from a record timestamp (`partitionBy`), when configured and parseable. */
function partitionDate(resource: ResourceDef, record: JsonObject): string | undefined {
  if (resource.partitionBy === undefined) return undefined;
  let value: JsonValue | undefined = record;
  for (const part of resource.partitionBy.split('.')) {
    value = value !== null && typeof value === 'object' && !Array.isArray(value) ? value[part] : undefined;
  }
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(value)) return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) return undefined;
  const year = new Date(ms).getUTCFullYear();
  return year >= 1900 && year <= 2999 ? new Date(ms).toISOString().slice(0, 10) : undefined;
}

export const USER_LOADS_COLUMNS = [
  { name: LAKE.loadIdColumn, type: 'text' },
  { name: LAKE.idColumn, type: 'text' },
  { name: LAKE.userColumn, type: 'text' },
  { name: 'resource', type: 'text' },
  { name: 'status', type: 'text' },
  { name: 'rows', type: 'bigint' },
  { name: 'requests', type: 'bigint' },
  { name: 'error_code', type: 'text' },
  { name: 'error_message', type: 'text' },
  { name: 'http_status', type: 'bigint' },
  { name: 'batch', type: 'bigint' },
  { name: 'load_started_at', type: 'timestamp' },
] as const;
