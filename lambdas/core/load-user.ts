/**
 * Everything one user contributes to a load: mint a token, fetch each resource step (children
 * fanned out over their parent's records), normalize the records into rows. A (user, resource)
 * unit is all-or-nothing: its rows are returned only when every request of the unit succeeded,
 * so a failed unit writes no partial data and `user_loads` tells the truth about it.
 */
import type { ResourceStep } from './config.ts';
import { DEFAULTS, LAKE } from './constants.ts';
import {
  ENDPOINT_UNAVAILABLE,
  type EndpointFinding,
  type EndpointSymptom,
  endpointSymptom,
  type StepObservation,
  type UserObservation,
  WITNESS_PATH,
} from './endpoint-health.ts';
import {
  ApiKeyRejectedError,
  describeError,
  LoaderError,
  PaginationLimitError,
  PayLinkHttpError,
} from './errors.ts';
import { parentKeyField } from './field-path.ts';
import { type NormalizeRouting, normalizeRecord } from './normalize.ts';
import { isJsonObject, NumberLiteral } from './number-literal.ts';
import { firstPage, nextPage } from './paginate.ts';
import { isSafePathSegment } from './path-segment.ts';
import type { PayLinkApi, PayLinkSession } from './ports.ts';
import { KNOWN_TASKS, type ResourceDef } from './resources.ts';
import { selectRecords } from './select.ts';
import type { JsonObject, JsonValue, RawRow } from './types.ts';

export type UnitStatus = 'ok' | 'failed' | typeof ENDPOINT_UNAVAILABLE;

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
  /**
   * Set when the unit failed because of an endpoint-level symptom of `resource` (its own, or a
   * parent's it could not fan out from): the batch decides, once it knows whether that endpoint
   * is unusable, whether this is `endpoint_unavailable` or the user's failure.
   */
  readonly endpoint?: { readonly resource: string; readonly symptom: EndpointSymptom };
  /**
   * A unit of known task ids (`tasks`) that failed because PayLink answered a plain 404 for every
   * one of them: the ids. Once the endpoint answers anybody's id in the load, such a unit is the
   * user's stale ids, not a failure (`notFoundOutcome`).
   */
  readonly missingTaskIds?: readonly string[];
  /**
   * A fan-out child unit every parent key of which answered a plain 404, none of them named by
   * the parent list fetched again: settled `ok` / `parent_not_found` (`notFoundOutcome`). The
   * loader now settles such a unit at once (the 404s are explained, no endpoint evidence), so
   * only a deferred unit staged by an earlier version of the loader carries this: the commit
   * of a load begun before an upgrade still settles it as that version meant.
   */
  readonly missingParents?: MissingParents;
  /**
   * A fan-out child unit every parent key of which answered a plain 404, some of them still named
   * by the parent list fetched again (`ListedParents`): not proof those parents left. Once the
   * endpoint answers anybody in the load, the unit is the user's failure, `child_not_found`
   * (`notFoundOutcome`); while it answers nobody, the 404 may be a missing route, judged as such.
   * Either way the unit does not end `ok`, so no parent of it is left out of the parent rows.
   */
  readonly listedParents?: ListedParents;
}

/** Parent records a fan-out child unit got a plain 404 for: `accounts` `_id`s. */
export interface MissingParents {
  /** The parent resource (`accounts`). */
  readonly resource: string;
  /** The parent record's key field (`_id`). */
  readonly field: string;
  readonly keys: readonly string[];
}

/**
 * Parent records a fan-out child unit got a plain 404 for that the parent list, fetched again for
 * the user, still names (`keys`); `gone`: those of the unit's 404s it no longer names.
 */
export interface ListedParents extends MissingParents {
  /** The child's path template (`/pay-link/action-history`): never an id. */
  readonly endpoint: string;
  readonly gone: readonly string[];
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
  /** Some unit failed (before the batch's endpoint verdicts, which may excuse endpoint symptoms). */
  readonly failed: boolean;
  /** What this user showed about each endpoint (EndpointHealth folds it in). */
  readonly observation: UserObservation;
  /**
   * What PayLink answered for this user's known task ids (the registry's, a file's): set only
   * when a known-task resource was called. The commit retires ids from it (task-retirement.ts).
   */
  readonly tasks?: TaskCheck;
}

/** Per known task id of one user: found (with its `status`, when the record has one) or a plain 404. */
export interface TaskCheck {
  /** Task id -> the record's `status` (null: none, or not text). */
  readonly found: Readonly<Record<string, string | null>>;
  readonly missing: readonly string[];
}

export interface UserInput {
  readonly identifier: string;
  readonly steps: readonly ResourceStep[];
  readonly loadId: string;
  readonly dt: string;
  /** Task ids known for this user (webhooks or a task-id file): the parent of `tasks`. */
  readonly taskIds?: readonly string[];
  readonly maxPages?: number;
  /** The finding that disabled a resource for this load, if any: such a resource is not called. */
  readonly disabled?: (resource: string) => EndpointFinding | undefined;
  /**
   * Whether the batch still needs evidence about a resource's endpoint. When one of this user's
   * resources showed an endpoint symptom, nothing else of theirs worked, and the verdict is still
   * open, the user is checked at WITNESS_PATH (one request) before counting as evidence.
   */
  readonly undecided?: (resource: string) => boolean;
  /** What the lake held before the load, for the normalizer's wide-record rules (normalize.ts). */
  readonly routing?: NormalizeRouting;
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

/**
 * A value that would not stay one segment of its request path (path-segment.ts: `.`, `..`): not
 * requested, since `/task/../details` is fetched as `/details`. Codes: `unsafe_identifier`,
 * `unsafe_task_id`, `unsafe_path_key` (a parent record's id).
 */
export class UnsafePathSegmentError extends LoaderError {
  constructor(code: 'unsafe_identifier' | 'unsafe_task_id' | 'unsafe_path_key', what: string, path: string) {
    super(`${what} not requested: '.' or '..' would not stay one path segment of ${path}`, { code });
  }
}

/** `user_loads.error_code` of a tasks unit some of whose known task ids were not requested (unsafe). */
export const UNSAFE_TASK_ID = 'unsafe_task_id';

/** How a step ended, for its children: fetched records, or why there are none. */
type StepState =
  | { readonly kind: 'fetched'; readonly records: readonly FetchedRecord[] }
  | { readonly kind: 'failed' }
  | { readonly kind: 'endpoint'; readonly resource: string; readonly symptom: EndpointSymptom }
  | { readonly kind: 'disabled'; readonly finding: EndpointFinding };

export async function loadUser(input: UserInput, api: PayLinkApi): Promise<UserResult> {
  const outcomes: UnitOutcome[] = [];
  const rows: StagedRow[] = [];
  const steps: StepObservation[] = [];
  let session: PayLinkSession;
  try {
    session = await api.openSession(input.identifier);
  } catch (error) {
    if (error instanceof ApiKeyRejectedError) throw error;
    for (const step of input.steps) if (step.emit) outcomes.push(failed(step.resource.table, error, 0));
    const observation = { identifier: input.identifier, minted: false, mintError: error, steps };
    return { identifier: input.identifier, outcomes, rows, failed: true, observation };
  }

  const states = new Map<string, StepState>();
  // No prototype: a task id is PayLink's text, and `found["__proto__"] = null` would set one.
  const found: Record<string, string | null> = Object.create(null);
  const missing = new Set<string>();
  let tasksCalled = false;
  const known = new Set(input.taskIds ?? []);
  // Each emitted unit's rows per record, so that parent records proven gone leave with theirs.
  const unitRows = new Map<string, { records: readonly FetchedRecord[]; groups: readonly StagedRow[][] }>();
  const maxPages = input.maxPages ?? DEFAULTS.pagination.maxPages;
  /** Parent lists fetched again for this user, by parent and the key they were fetched under. */
  const relisted = new Map<string, ReadonlySet<string> | ParentRecheckError>();

  /**
   * Which of the parent keys a fan-out child got a plain 404 for the parent list, fetched again,
   * still names. One request per user for a root parent (`accounts`: one list, whatever the
   * number of 404s and of children asking), made as the load's others are (the same resource
   * definition, session, rate limiter and retries); for a parent that is itself a fan-out, one
   * per key its 404'd records were fetched under.
   * @throws ParentRecheckError when that fetch fails (a 404 of it included): proves nothing.
   */
  const recheck = async (
    resource: ResourceDef,
    keys: readonly string[],
    counter: { requests: number },
  ): Promise<ParentCheck> => {
    const link = resource.parent!;
    const parent = input.steps.find((s) => s.resource.table === link.resource)!.resource;
    const state = states.get(link.resource);
    const missed = new Set(keys);
    const scopes = new Set(
      (state?.kind === 'fetched' ? state.records : [])
        .filter(({ record }) => missed.has(keyOf(record, link.field) ?? ''))
        .map(({ parentKey }) => parentKey),
    );
    const listed = new Set<string>();
    for (const scope of scopes) {
      const at = JSON.stringify([link.resource, scope ?? null]);
      let seen = relisted.get(at);
      if (seen === undefined) {
        try {
          const again: FetchedRecord[] = [];
          await fetchKey(parent, input, session, scope, counter, maxPages, again);
          seen = new Set(keysOf(again, link.field));
        } catch (error) {
          if (error instanceof ApiKeyRejectedError) throw error;
          seen = new ParentRecheckError(link.resource, resource.table, error);
        }
        relisted.set(at, seen);
      }
      if (seen instanceof ParentRecheckError) throw seen;
      for (const key of seen) listed.add(key);
    }
    return { gone: keys.filter((k) => !listed.has(k)), listed: keys.filter((k) => listed.has(k)) };
  };

  /**
   * Parent keys the parent list, fetched again, no longer names, found by any child unit: by
   * parent resource. Later children of the same parent do not ask for them (the parent's
   * state forgets them at once); their parent rows are left out at the end (`dropGoneParents`).
   */
  const goneParents = new Map<string, { parent: string; field: string; keys: Set<string> }>();
  const noteGone = (resource: ResourceDef, gone: readonly string[]) => {
    if (gone.length === 0) return;
    const link = resource.parent!;
    const scope = JSON.stringify([link.resource, link.field]);
    const drop = goneParents.get(scope)?.keys ?? new Set<string>();
    for (const key of gone) drop.add(key);
    goneParents.set(scope, { parent: link.resource, field: link.field, keys: drop });
    const state = states.get(link.resource);
    if (state?.kind === 'fetched')
      states.set(link.resource, {
        kind: 'fetched',
        records: state.records.filter(({ record }) => !drop.has(keyOf(record, link.field) ?? '')),
      });
  };

  /**
   * Parent records proven gone (the parent list, fetched again, no longer names them) leave this
   * load's parent rows, whatever became of the child unit that found them: the list is PayLink's
   * newer word. Only those: the list fetched again is not taken whole, since a parent new in it
   * had none of its children fetched. A child unit that failed keeps its committed rows, and the
   * current view shows a child row only while its parent record is current (lake-views.ts), so
   * the gone parent's committed children leave the current state with it.
   */
  const dropGoneParents = () => {
    for (const { parent, field, keys: drop } of goneParents.values()) {
      const staged = unitRows.get(parent);
      if (staged === undefined) continue;
      const kept = staged.records.map(({ record }) => {
        const key = keyOf(record, field);
        return key === undefined || !drop.has(key);
      });
      const removed = kept.filter((k) => !k).length;
      if (removed === 0) continue;
      unitRows.set(parent, {
        records: staged.records.filter((_, i) => kept[i]),
        groups: staged.groups.filter((_, i) => kept[i]),
      });
      const at = outcomes.findIndex((o) => o.resource === parent);
      if (at !== -1) outcomes[at] = { ...outcomes[at]!, rows: outcomes[at]!.rows - removed };
    }
  };

  for (const step of input.steps) {
    const { resource } = step;
    const counter = { requests: 0 };
    const finding = input.disabled?.(resource.table);
    const parentState = parentStateOf(resource, states);
    if (finding !== undefined || parentState?.kind === 'disabled') {
      const cause = finding ?? (parentState as { finding: EndpointFinding }).finding;
      states.set(resource.table, { kind: 'disabled', finding: cause });
      steps.push({ resource: resource.table, result: 'skipped' });
      if (step.emit) outcomes.push(unavailable(resource.table, cause, finding === undefined));
      continue;
    }
    if (parentState?.kind === 'endpoint') {
      // The parent's endpoint looked missing: this unit shares its fate, decided by the batch.
      states.set(resource.table, parentState);
      steps.push({ resource: resource.table, result: 'skipped' });
      if (step.emit)
        outcomes.push({
          ...failed(resource.table, new ParentFailedError(parentState.resource), 0),
          endpoint: { resource: parentState.resource, symptom: parentState.symptom },
        });
      continue;
    }
    try {
      const { records, unknownKeys, unsafeKeys } = await fetchUnit(resource, input, session, states, counter);
      if (unknownKeys.length > 0 && fansOutOverParent(resource)) {
        // A plain 404 for a parent record listed moments ago proves it left only when the parent
        // list, fetched again, no longer names it: PayLink might answer 404 for an account it
        // still lists (no history yet, a transient miss), and taking that 404 as the account's
        // leaving would drop its committed history from the current state.
        let check: ParentCheck;
        try {
          check = await recheck(resource, unknownKeys, counter);
        } catch (error) {
          if (!(error instanceof ParentRecheckError)) throw error;
          // The child answered for the user's other parents: its endpoint works. The unit fails
          // as for any failed fetch: nothing of it is written, its committed rows stay current.
          states.set(resource.table, { kind: 'failed' });
          steps.push({ resource: resource.table, result: 'ok' });
          if (step.emit) outcomes.push(failed(resource.table, error, counter.requests));
          continue;
        }
        if (check.listed.length > 0) {
          // Still listed: the 404 is no proof. The unit fails (the user's rows committed before
          // stay current, the next load tries again) rather than load without that parent. The
          // parents found gone leave all the same: their committed children leave the current
          // view with them (lake-views.ts), the still-listed ones' stay.
          noteGone(resource, check.gone);
          states.set(resource.table, { kind: 'failed' });
          steps.push({ resource: resource.table, result: 'ok' });
          if (step.emit)
            outcomes.push(childNotFound(resource.table, listedParentsOf(resource, check), counter.requests));
          continue;
        }
        noteGone(resource, check.gone);
      }
      states.set(resource.table, { kind: 'fetched', records });
      if (resource.parent?.resource === KNOWN_TASKS) {
        tasksCalled = true;
        for (const { record, parentKey } of records)
          if (parentKey !== undefined && known.has(parentKey))
            found[parentKey] = typeof record.status === 'string' ? record.status : null;
        for (const key of unknownKeys) if (known.has(key)) missing.add(key);
      }
      // A unit that made no request (no task id, no parent record to fan out over, only unsafe
      // ids) proved nothing about its endpoint: neutral for the verdict, as a unit not called.
      steps.push({ resource: resource.table, result: counter.requests === 0 ? 'skipped' : 'ok' });
      if (!step.emit) continue;
      const normalized = normalizeUnit(resource, records, input);
      unitRows.set(resource.table, { records, groups: normalized.groups });
      const unknown = unknownKeys.length;
      const ofTasks = resource.parent?.resource === KNOWN_TASKS;
      const notFound =
        unknown === 0
          ? null
          : ofTasks
            ? `PayLink answered 404 for ${unknown} of its task id(s) (${listKeys(unknownKeys)}): stale or unknown; the others were loaded`
            : `${parentNotFoundWords(missingParentsOf(resource, unknownKeys), 'some')}; the others were loaded`;
      // Task ids never requested (`.`, `..`: another URL) are named first, with any 404s after.
      const unsafe =
        unsafeKeys.length === 0
          ? null
          : `${unsafeKeys.length} of its task id(s) (${unsafeKeys.slice(0, 5).map(quoteKey).join(', ')}${unsafeKeys.length > 5 ? ', ...' : ''}) not requested: '.' or '..' would not stay one path segment of ${resource.path}; remove them from the users registry or the --task-ids file`;
      outcomes.push({
        resource: resource.table,
        status: 'ok',
        rows: normalized.rootRows,
        requests: counter.requests,
        // Loaded, with the ids PayLink does not know named (stale ids from events or a file).
        errorCode:
          unsafe !== null
            ? UNSAFE_TASK_ID
            : unknown === 0
              ? null
              : ofTasks
                ? TASK_NOT_FOUND
                : PARENT_NOT_FOUND,
        errorMessage: unsafe === null ? notFound : notFound === null ? unsafe : `${unsafe}; ${notFound}`,
        httpStatus: unknown === 0 ? null : 404,
      });
    } catch (thrown) {
      if (thrown instanceof ApiKeyRejectedError) throw thrown;
      // Every key of a fan-out answered a plain 404: the unit fails with the first 404 as before
      // (the batch weighs it as endpoint evidence), with the keys kept: known task ids for the
      // retirement and for the batch to call stale once the endpoint works; parent keys are
      // checked against the parent list fetched again first (below).
      const allMissing = thrown instanceof AllKeysMissing ? thrown.keys : undefined;
      const error = thrown instanceof AllKeysMissing ? thrown.first : thrown;
      const tasksMissing = allMissing !== undefined && resource.parent?.resource === KNOWN_TASKS;
      if (tasksMissing) {
        tasksCalled = true;
        for (const key of allMissing) if (known.has(key)) missing.add(key);
      }
      const missingParents =
        allMissing === undefined || tasksMissing ? undefined : missingParentsOf(resource, allMissing);
      // Every parent 404'd: proof they left only when the parent list, fetched again, no longer
      // names them (as above). Then every 404 is explained: no evidence about the endpoint
      // (neutral, as a unit that made no request), and the unit is loaded with nothing to load,
      // whatever the endpoint answered elsewhere. A 404 for a parent still listed stays evidence:
      // a route missing for everybody is judged as before. The parents found gone leave the
      // parent rows however the unit ends; those still listed stay.
      let listedParents: ListedParents | undefined;
      let cause = error;
      if (missingParents !== undefined) {
        try {
          const check = await recheck(resource, missingParents.keys, counter);
          if (check.listed.length === 0) {
            noteGone(resource, check.gone);
            states.set(resource.table, { kind: 'fetched', records: [] });
            steps.push({ resource: resource.table, result: 'skipped' });
            if (step.emit) {
              unitRows.set(resource.table, { records: [], groups: [] });
              outcomes.push({
                resource: resource.table,
                status: 'ok',
                rows: 0,
                requests: counter.requests,
                errorCode: PARENT_NOT_FOUND,
                errorMessage: parentNotFoundWords(missingParents, 'all'),
                httpStatus: 404,
              });
            }
            continue;
          }
          noteGone(resource, check.gone);
          listedParents = listedParentsOf(resource, check);
        } catch (recheckError) {
          if (!(recheckError instanceof ParentRecheckError)) throw recheckError;
          cause = recheckError;
        }
      }
      const symptom = error instanceof ParentFailedError ? undefined : endpointSymptom(error);
      if (symptom !== undefined) {
        states.set(resource.table, { kind: 'endpoint', resource: resource.table, symptom });
        steps.push({ resource: resource.table, result: symptom, error });
      } else {
        states.set(resource.table, { kind: 'failed' });
        steps.push({
          resource: resource.table,
          result: error instanceof ParentFailedError ? 'skipped' : 'failed',
          error,
        });
      }
      if (step.emit) {
        const outcome = failed(resource.table, cause, counter.requests);
        outcomes.push({
          ...outcome,
          // A failure after the check says what it found (if the endpoint turns out to answer
          // others, notFoundOutcome words it as child_not_found instead).
          ...(listedParents === undefined
            ? {}
            : { errorMessage: `${outcome.errorMessage}; ${checkFoundWords(listedParents)}`, listedParents }),
          ...(symptom === undefined ? {} : { endpoint: { resource: resource.table, symptom } }),
          ...(tasksMissing ? { missingTaskIds: allMissing } : {}),
        });
      }
    }
  }
  const witnessed = !needsWitness(steps, input)
    ? undefined
    : witnessFailed(steps, input)
      ? false
      : await servedAtWitness(session);
  dropGoneParents();
  for (const unit of unitRows.values()) for (const group of unit.groups) rows.push(...group);
  return {
    identifier: input.identifier,
    outcomes,
    rows,
    failed: outcomes.some((o) => o.status === 'failed'),
    observation: {
      identifier: input.identifier,
      minted: true,
      steps,
      ...(witnessed === undefined ? {} : { witnessed }),
    },
    ...(tasksCalled ? { tasks: { found, missing: [...missing] } } : {}),
  };
}

/**
 * A unit whose keys all answered a plain 404, once its endpoint answered somebody in the load:
 * the route exists, so the 404s are the keys'. Known task ids (`missingTaskIds`): stale ids,
 * `ok` with `task_not_found`. Parent keys of a fan-out child that the parent list, fetched again,
 * no longer names (`missingParents`): they vanished between the parent's fetch and this one (an
 * account unlinked mid-load), `ok` with `parent_not_found`. Parent keys it still names
 * (`listedParents`): no proof they left, so the unit is the user's failure, `child_not_found`
 * (its committed rows stay current).
 */
export function notFoundOutcome(outcome: UnitOutcome): UnitOutcome {
  const {
    endpoint: _endpoint,
    missingTaskIds: ids = [],
    missingParents: parents,
    listedParents: listed,
    ...rest
  } = outcome;
  if (listed !== undefined) return childNotFound(rest.resource, listed, rest.requests);
  return {
    ...rest,
    status: 'ok',
    rows: 0,
    errorCode: parents === undefined ? TASK_NOT_FOUND : PARENT_NOT_FOUND,
    errorMessage:
      parents === undefined
        ? `PayLink answered 404 for all ${ids.length} of its task id(s) (${listKeys(ids)}) while it answered other users' task ids: stale or unknown`
        : `${parentNotFoundWords(parents, 'all')}, while it answered other requests of this load`,
    httpStatus: 404,
  };
}

function missingParentsOf(resource: ResourceDef, keys: readonly string[]): MissingParents {
  return { resource: resource.parent?.resource ?? 'parent', field: resource.parent?.field ?? '_id', keys };
}

function listedParentsOf(resource: ResourceDef, check: ParentCheck): ListedParents {
  return { ...missingParentsOf(resource, check.listed), endpoint: resource.path, gone: check.gone };
}

/** `PayLink answered 404 for 1 of its accounts record(s) (_id acc-1): ...`: ids, never values. */
function parentNotFoundWords(missing: MissingParents, share: 'some' | 'all'): string {
  const { resource, field, keys } = missing;
  const count = share === 'all' ? `all ${keys.length}` : `${keys.length}`;
  return `PayLink answered 404 for ${count} of its ${resource} record(s) (${field} ${listKeys(keys)}), which ${resource}, fetched again, no longer lists: unlinked during the load ${leftOut(resource)}`;
}

const leftOut = (parent: string) => `(left out of this load's ${parent} too)`;

/**
 * `user_loads.error_code` of a failed fan-out child unit PayLink answered a plain 404 for some
 * parent records of, while the parent list, fetched again, still names them: no proof they left.
 */
export const CHILD_NOT_FOUND = 'child_not_found';

/** A fan-out child unit failed by 404s for parents still listed (see CHILD_NOT_FOUND). */
function childNotFound(table: string, listed: ListedParents, requests: number): UnitOutcome {
  const { resource, field, keys, endpoint, gone } = listed;
  const also =
    gone.length === 0
      ? ''
      : `; ${gone.length} other(s) (${field} ${listKeys(gone)}) no longer listed: unlinked during the load ${leftOut(resource)}`;
  return {
    resource: table,
    status: 'failed',
    rows: 0,
    requests,
    errorCode: CHILD_NOT_FOUND,
    errorMessage: `PayLink answered 404 at ${endpoint} for ${keys.length} ${resource} record(s) (${field} ${listKeys(keys)}) that ${resource}, fetched again, still lists: no proof they left, so this load takes none of the user's ${table} rows (those committed before stay current) and the next load tries again${also}`,
    httpStatus: 404,
  };
}

/**
 * What the parent list, fetched again, found of a failed unit's 404'd parents: those still listed
 * and those gone (kept in the parent rows all the same, as the unit failed).
 */
function checkFoundWords(listed: ListedParents): string {
  const { resource, field, keys, gone } = listed;
  const left =
    gone.length === 0
      ? ''
      : `, and no longer lists ${gone.length} (${field} ${listKeys(gone)}: unlinked during the load ${leftOut(resource)})`;
  return `${resource}, fetched again, still lists ${keys.length} of the 404'd record(s) (${field} ${listKeys(keys)})${left}`;
}

/** What the parent list, fetched again, says of the parent keys a child got a plain 404 for. */
interface ParentCheck {
  /** No longer listed: gone since the parent's fetch. */
  readonly gone: readonly string[];
  /** Still listed: the 404 proves nothing of the parent. */
  readonly listed: readonly string[];
}

/**
 * Fetching the parent list again (to check a child's 404s) failed: proves nothing, so the child
 * unit fails as for any failed fetch. Code and HTTP status are the failed fetch's.
 */
export class ParentRecheckError extends LoaderError {
  readonly status: number | null;
  constructor(parent: string, child: string, cause: unknown) {
    const { code, message } = describeError(cause);
    super(`fetching ${parent} again to check the 404s of ${child} failed: ${message}`, { code, cause });
    this.status = cause instanceof PayLinkHttpError ? cause.status : null;
  }
}

/** A child fetched once per record of a fetched parent (`action_history` per account). */
const fansOutOverParent = (resource: ResourceDef) =>
  resource.parent !== undefined && resource.parent.resource !== KNOWN_TASKS;

/** At most five keys, comma-separated. */
const listKeys = (keys: readonly string[]) =>
  `${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''}`;

/** A symptom whose verdict is open, on a user with nothing else working: ask the witness. */
function needsWitness(steps: readonly StepObservation[], input: UserInput): boolean {
  if (input.undecided === undefined || steps.some((s) => s.result === 'ok')) return false;
  return steps.some(
    (s) => typeof s.result === 'object' && input.undecided!(s.resource) && !witnessIsItself(s, input),
  );
}

/** This user's own call at the witness path already failed: asking again would not help. */
function witnessFailed(steps: readonly StepObservation[], input: UserInput): boolean {
  return steps.some(
    (s) =>
      s.result !== 'ok' &&
      s.result !== 'skipped' &&
      input.steps.find((step) => step.resource.table === s.resource)?.resource.path === WITNESS_PATH,
  );
}

/** A resource at the witness path cannot vouch for itself. */
function witnessIsItself(step: StepObservation, input: UserInput): boolean {
  return input.steps.find((s) => s.resource.table === step.resource)?.resource.path === WITNESS_PATH;
}

/** Whether PayLink serves this user's accounts (any 2xx JSON): the user is known to PayLink. */
async function servedAtWitness(session: PayLinkSession): Promise<boolean> {
  try {
    await session.getJson({ path: WITNESS_PATH, query: {}, endpoint: WITNESS_PATH, auth: 'user' });
    return true;
  } catch (error) {
    if (error instanceof ApiKeyRejectedError) throw error;
    return false;
  }
}

/** The state of a resource's fetched parent (undefined for roots and `known_tasks` children). */
function parentStateOf(resource: ResourceDef, states: ReadonlyMap<string, StepState>): StepState | undefined {
  const parent = resource.parent?.resource;
  if (parent === undefined || parent === KNOWN_TASKS) return undefined;
  return states.get(parent);
}

/** A unit not run because its endpoint (or its parent's) was found unusable earlier in the load. */
export function unavailable(resource: string, finding: EndpointFinding, viaParent = false): UnitOutcome {
  return {
    resource,
    status: ENDPOINT_UNAVAILABLE,
    rows: 0,
    requests: 0,
    errorCode: viaParent ? 'parent_unavailable' : finding.code,
    errorMessage: viaParent
      ? `parent resource ${finding.resource} is unavailable: ${finding.message}`
      : finding.message,
    httpStatus: viaParent ? null : finding.httpStatus,
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
  taskIds: readonly string[] | undefined,
  states: ReadonlyMap<string, StepState>,
): readonly (string | undefined)[] {
  const parent = resource.parent;
  if (!parent) return [undefined];
  if (parent.resource === KNOWN_TASKS) {
    // Known task ids, plus those discovered from `keysFrom` when that resource ran.
    const discovered = resource.keysFrom ? states.get(resource.keysFrom.resource) : undefined;
    const more = discovered?.kind === 'fetched' ? keysOf(discovered.records, resource.keysFrom!.field) : [];
    return [...new Set([...(taskIds ?? []), ...more])];
  }
  const state = states.get(parent.resource);
  if (state?.kind !== 'fetched') throw new ParentFailedError(parent.resource);
  return keysOf(state.records, parent.field);
}

function keysOf(records: readonly FetchedRecord[], field: string): string[] {
  const keys: string[] = [];
  for (const { record } of records) {
    const key = keyOf(record, field);
    if (key !== undefined) keys.push(key);
  }
  return [...new Set(keys)];
}

/** A record's key as its children are fetched by (text, a finite number, a number as spelled). */
function keyOf(record: JsonObject, field: string): string | undefined {
  const key = record[field];
  if (typeof key === 'string' && key !== '') return key;
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  if (key instanceof NumberLiteral) return key.literal;
  return undefined;
}

/** A value for a message: JSON-quoted (control characters escaped), at most 64 characters of it. */
const quoteKey = (value: string) => JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);

/**
 * The request path of a unit: `{identifier}` and `{id}` filled in, URL-encoded.
 * @throws UnsafePathSegmentError when a value would not stay one path segment (`..`).
 */
export function unitPath(resource: ResourceDef, identifier: string, parentKey: string | undefined): string {
  let path = resource.path;
  if (path.includes('{identifier}')) {
    if (!isSafePathSegment(identifier))
      throw new UnsafePathSegmentError('unsafe_identifier', `user identifier ${quoteKey(identifier)}`, path);
    path = path.replaceAll('{identifier}', encodeURIComponent(identifier));
  }
  if (parentKey !== undefined && !resource.parent?.queryParam && path.includes('{id}')) {
    if (!isSafePathSegment(parentKey)) {
      const tasks = resource.parent?.resource === KNOWN_TASKS;
      throw new UnsafePathSegmentError(
        tasks ? 'unsafe_task_id' : 'unsafe_path_key',
        `${tasks ? 'task id' : `${resource.parent?.resource} ${resource.parent?.field}`} ${quoteKey(parentKey)}`,
        resource.path,
      );
    }
    path = path.replaceAll('{id}', encodeURIComponent(parentKey));
  }
  return path;
}

/**
 * A unit's records, the keys it fans out over (known task ids, parent keys) PayLink answered a
 * plain 404 for (per key, see fetchUnit), and the known task ids not requested because they
 * would not stay one path segment.
 */
interface FetchedUnit {
  readonly records: FetchedRecord[];
  readonly unknownKeys: readonly string[];
  readonly unsafeKeys: readonly string[];
}

/** A plain 404 (not an HTML error page): "no such thing here". */
const isPlain404 = (error: unknown): error is PayLinkHttpError =>
  error instanceof PayLinkHttpError && error.status === 404 && !error.html;

async function fetchUnit(
  resource: ResourceDef,
  input: UserInput,
  session: PayLinkSession,
  states: ReadonlyMap<string, StepState>,
  counter: { requests: number },
): Promise<FetchedUnit> {
  const out: FetchedRecord[] = [];
  const maxPages = input.maxPages ?? DEFAULTS.pagination.maxPages;
  const listed = parentKeys(resource, input.taskIds, states);
  // A known task id (from the registry or a --task-ids file) that would not stay one path
  // segment is not requested (`/task/../details` is `/details`): named in the unit's outcome.
  const inPath = resource.parent?.resource === KNOWN_TASKS && !resource.parent.queryParam;
  const unsafeKeys = inPath
    ? listed.filter((k): k is string => k !== undefined && !isSafePathSegment(k))
    : [];
  const keys =
    unsafeKeys.length === 0 ? listed : listed.filter((k) => k === undefined || isSafePathSegment(k));
  // Known task ids come from events and files: one PayLink does not know (stale, mistyped) is
  // that task's 404, not the endpoint's, once another id of the unit answered. Parent keys come
  // from a parent fetched moments before, but the world moves on: an account unlinked since is
  // that account's 404 (PayLink: "Account not found"), once the parent list fetched again no
  // longer names it (loadUser). All of them 404 (or the only one): AllKeysMissing, which
  // loadUser settles (parents all gone: ok at once) or leaves to the batch's endpoint evidence
  // (task ids; parents still listed); once the endpoint answers anybody in the load, the unit
  // is the user's stale ids, or (parents still listed) child_not_found. An HTML
  // 404 is a page of a server with no such route: never a record's miss.
  const perKey = resource.parent !== undefined;
  const unknownKeys: string[] = [];
  let firstMissing: unknown;
  for (const parentKey of keys) {
    try {
      await fetchKey(resource, input, session, parentKey, counter, maxPages, out);
    } catch (error) {
      if (!perKey || parentKey === undefined || !isPlain404(error)) throw error;
      unknownKeys.push(parentKey);
      firstMissing ??= error;
    }
  }
  if (unknownKeys.length > 0 && unknownKeys.length === keys.length)
    throw new AllKeysMissing(firstMissing, unknownKeys);
  return { records: out, unknownKeys, unsafeKeys };
}

/** Inside a unit: every key it fans out over answered a plain 404 (unwrapped in loadUser, never surfaced). */
class AllKeysMissing {
  constructor(
    readonly first: unknown,
    readonly keys: readonly string[],
  ) {}
}

async function fetchKey(
  resource: ResourceDef,
  input: UserInput,
  session: PayLinkSession,
  parentKey: string | undefined,
  counter: { requests: number },
  maxPages: number,
  out: FetchedRecord[],
): Promise<void> {
  const baseQuery: Record<string, string> = {};
  const path = unitPath(resource, input.identifier, parentKey);
  if (parentKey !== undefined && resource.parent?.queryParam)
    baseQuery[resource.parent.queryParam] = parentKey;
  let pageQuery: Record<string, string> | undefined = firstPage(resource.paginator);
  let pages = 0;
  while (pageQuery !== undefined) {
    if (++pages > maxPages) throw new PaginationLimitError(resource.path, maxPages);
    const query = { ...baseQuery, ...pageQuery };
    counter.requests++;
    const body = await getOrEmpty(session, resource, { path, query, endpoint: resource.path });
    if (body === NOT_FOUND) break;
    const records = selectRecords(body, resource, { identifier: input.identifier });
    for (const record of records) out.push({ record, parentKey });
    pageQuery = nextPage(resource.paginator, { query: pageQuery, body, itemCount: records.length });
  }
}

const NOT_FOUND = Symbol('not-found');

/** `user_loads.error_code` of an `ok` tasks unit some of whose task ids PayLink answered 404 for. */
export const TASK_NOT_FOUND = 'task_not_found';

/**
 * `user_loads.error_code` of an `ok` fan-out child unit some of whose parent records PayLink
 * answered 404 for, the endpoint working: parents gone since they were fetched.
 */
export const PARENT_NOT_FOUND = 'parent_not_found';

/** One GET; a 404 of a `notFound: empty` resource is "no data here" (zero records), not an error. */
async function getOrEmpty(
  session: PayLinkSession,
  resource: ResourceDef,
  request: { path: string; query: Record<string, string>; endpoint: string },
): Promise<JsonValue | typeof NOT_FOUND> {
  try {
    return await session.getJson({ ...request, auth: resource.auth });
  } catch (error) {
    if (
      resource.notFound === 'empty' &&
      error instanceof PayLinkHttpError &&
      error.status === 404 &&
      !error.html
    )
      return NOT_FOUND;
    throw error;
  }
}

function normalizeUnit(
  resource: ResourceDef,
  records: readonly FetchedRecord[],
  input: UserInput,
): { groups: StagedRow[][]; rootRows: number } {
  /** Per record, its rows (root and child tables). */
  const groups: StagedRow[][] = [];
  const seenKeys = new Map<string, number>();
  const parentColumn =
    resource.parent && resource.parent.resource !== KNOWN_TASKS
      ? parentKeyField(resource.parent.resource, resource.parent.field)
      : undefined;
  records.forEach(({ record, parentKey }, index) => {
    const prepared = applyAliases(record, resource.fieldAliases);
    // dlt's include_from_parent: the child row keeps its parent's key (`_accounts_id`).
    if (parentColumn !== undefined && parentKey !== undefined) prepared[parentColumn] = parentKey;
    const rootKey = recordKey(resource, record, parentKey, index, seenKeys);
    const dt = partitionDate(resource, record) ?? input.dt;
    const rows: StagedRow[] = [];
    groups.push(rows);
    for (const tr of normalizeRecord(prepared, {
      table: resource.table,
      loadId: input.loadId,
      userIdentifier: input.identifier,
      rootKey,
      ...(input.routing === undefined ? {} : { routing: input.routing }),
    })) {
      rows.push({ table: tr.table, dt, row: tr.row });
    }
  });
  return { groups, rootRows: records.length };
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
  // A number the parser kept as spelled (`1.0`) keys by that spelling, as the body wrote it.
  let own =
    typeof pk === 'string' || typeof pk === 'number' || pk instanceof NumberLiteral
      ? `k:${pk}`
      : `i:${index}`;
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
    value = isJsonObject(value) ? value[part] : undefined;
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

/**
 * What a load of these steps lacks to call its task-id children (`tasks`): undefined when every
 * such resource has task ids given (`hasTaskIds`) or a discovery resource (`keysFrom`) in the
 * load. Otherwise one sentence naming the resource and both ways to give it ids, because such
 * a resource would otherwise load nothing, silently.
 */
export function taskIdsProblem(steps: readonly ResourceStep[], hasTaskIds: boolean): string | undefined {
  if (hasTaskIds) return undefined;
  const loaded = new Set(steps.map((s) => s.resource.table));
  const starved = steps.filter(
    (s) =>
      s.emit &&
      s.resource.parent?.resource === KNOWN_TASKS &&
      (s.resource.keysFrom === undefined || !loaded.has(s.resource.keysFrom.resource)),
  );
  if (starved.length === 0) return undefined;
  const names = starved.map((s) => s.resource.table).join(', ');
  const discovery = [
    ...new Set(starved.flatMap((s) => (s.resource.keysFrom ? [s.resource.keysFrom.resource] : []))),
  ];
  return `${names} needs task ids and none were given: pass --task-ids <file> (JSON lines {"identifier","taskId"})${
    discovery.length > 0
      ? `, or add ${discovery.join(', ')} to --resources to discover them per user (low confidence, see docs/paylink-api.md)`
      : ''
  }`;
}
