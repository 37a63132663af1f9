/**
 * The user registry: identifiers the loader learned from accepted webhook events, with the task
 * ids those events named. PayLink has no endpoint that lists users (../shared/docs/paylink-api.md),
 * so a user who linked an account yesterday is known only from their events; the operator's
 * list file stays supported and the two are united by the plan.
 *
 *   _state/users/<shard>.json   {"formatVersion": 2, "users": {"<identifier>": {"taskIds": [...], "firstSeen", "lastEventTime",
 *                                 "misses"?: {"<taskId>": ["<load id>", ...]}, "retired"?: {"<taskId>": {...}}}}}
 *
 * `taskIds` are the ids every load with `tasks` fetches. The commit retires ids (recordTaskChecks,
 * task-retirement.ts): one PayLink answered 404 for in `retireAfterMisses` consecutive committed
 * loads in which its endpoint answered other ids (`misses` lists those loads), and one whose
 * fetched status is final. A retired id moves from `taskIds` to `retired`, with the reason and
 * when, so an operator sees it and can put it back; a new event naming it brings it back.
 * formatVersion 1 files (no `misses`, no `retired`) are read as they are and written as 2.
 *
 * Sharded by a fixed hash of the identifier (plan.ts `identifierShard`), so a commit rewrites
 * only the shards of the users its events name. Written by the commit after its commit point
 * and under the events lock (event-claims.ts), so two commits never lose each other's users.
 */
import { LakeStateError } from './errors.ts';
import { parseIsoTimestamp } from './iso-timestamp.ts';
import { identifierShard } from './plan.ts';
import type { ObjectStore } from './ports.ts';
import { readJson, writeJson } from './store-json.ts';
import { isListableIdentifier } from './users-stream.ts';

/**
 * Whether an identifier from an event can be loaded: the users list's rules (users-stream.ts),
 * so one odd event cannot make every later plan refuse the registry as a users list. The
 * receiver refuses such events (webhook.ts); events stored before it did are skipped here.
 */
export function isLoadableIdentifier(identifier: string): boolean {
  return isListableIdentifier(identifier);
}

export const REGISTRY = {
  prefix: '_state/users/',
  /** Fixed forever: changing it moves every user to another shard. */
  shards: 16,
} as const;

export interface RegisteredUser {
  /** The task ids loads fetch. */
  readonly taskIds: readonly string[];
  readonly firstSeen: string;
  readonly lastEventTime: string;
  /**
   * Per fetched task id PayLink answered 404 for: the committed loads (ids) in which it did while
   * the endpoint answered other ids, consecutive (an answer clears them). A set, so a commit
   * folded twice (a crash between its steps) counts once.
   */
  readonly misses?: Readonly<Record<string, readonly string[]>>;
  /** Task ids no longer fetched, with why and when. */
  readonly retired?: Readonly<Record<string, RetiredTask>>;
}

/** Why and when a task id stopped being fetched. */
export interface RetiredTask {
  /** `not_found`: 404 in `misses.length` consecutive loads; `final_status`: the task ended. */
  readonly reason: 'not_found' | 'final_status';
  /** When the commit that retired it folded (ISO). */
  readonly at: string;
  /** The load whose answer retired it. */
  readonly loadId: string;
  /** `final_status`: the status PayLink answered. */
  readonly status?: string;
  /** `not_found`: the loads it answered 404 in. */
  readonly misses?: readonly string[];
}

/** The registry file format written now; 1 (no `misses`, no `retired`) is read as it is. */
export const REGISTRY_FORMAT = 2;

export interface RegistryShard {
  readonly formatVersion: 1 | 2;
  readonly users: Readonly<Record<string, RegisteredUser>>;
}

export function registryShardKey(shard: number): string {
  return `${REGISTRY.prefix}${String(shard).padStart(2, '0')}.json`;
}

/** One shard as loads read it (verify.ts checks every shard this way). @throws LakeStateError */
export function readRegistryShard(store: ObjectStore, shard: number): Promise<RegistryShard> {
  return readShard(store, shard);
}

async function readShard(store: ObjectStore, shard: number): Promise<RegistryShard> {
  const key = registryShardKey(shard);
  const doc = await readJson<RegistryShard>(store, key);
  if (doc === undefined) return { formatVersion: REGISTRY_FORMAT, users: {} };
  // A newer loader's file: writing it back in this format would drop what this one does not know.
  if (doc.formatVersion !== 1 && doc.formatVersion !== REGISTRY_FORMAT)
    throw new LakeStateError(
      `lake ${key}: registry formatVersion ${String(doc.formatVersion)} is not one this loader reads (1 or ${REGISTRY_FORMAT}); use the loader version that wrote it`,
    );
  if (typeof doc.users !== 'object' || doc.users === null)
    throw new LakeStateError(`lake ${key}: no "users" object (was it edited by hand?)`);
  return doc;
}

function writeShard(store: ObjectStore, shard: number, users: Record<string, RegisteredUser>): Promise<void> {
  return writeJson(store, registryShardKey(shard), { formatVersion: REGISTRY_FORMAT, users });
}

/**
 * A copy of `record` as a dictionary with no prototype: identifiers and task ids are Atomic's
 * text, and on a plain object `x["__proto__"] = v` sets the prototype instead of a key (so
 * JSON.stringify dropped a user called `__proto__`). Reads stay `Object.hasOwn` guarded.
 */
function dict<T>(record?: Readonly<Record<string, T>>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, record);
}

/** Every registered identifier, sorted (code-unit order). */
export async function registeredIdentifiers(store: ObjectStore): Promise<string[]> {
  return [...(await registeredUsers(store)).keys()];
}

/** Every registered user with what the registry knows of them, by identifier in code-unit order. */
export async function registeredUsers(store: ObjectStore): Promise<Map<string, RegisteredUser>> {
  const out: [string, RegisteredUser][] = [];
  for (let shard = 0; shard < REGISTRY.shards; shard++)
    out.push(...Object.entries((await readShard(store, shard)).users));
  return new Map(out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The task ids the registry knows for each of `identifiers` (only users that have some). */
export async function registeredTaskIds(
  store: ObjectStore,
  identifiers: readonly string[],
): Promise<Map<string, string[]>> {
  const shards = new Map<number, string[]>();
  for (const identifier of identifiers) {
    const shard = identifierShard(identifier, REGISTRY.shards);
    shards.set(shard, [...(shards.get(shard) ?? []), identifier]);
  }
  const out = new Map<string, string[]>();
  for (const [shard, users] of shards) {
    const doc = await readShard(store, shard);
    for (const identifier of users) {
      const known = Object.hasOwn(doc.users, identifier) ? doc.users[identifier] : undefined;
      if (known !== undefined && known.taskIds.length > 0) out.set(identifier, [...known.taskIds]);
    }
  }
  return out;
}

/** How far an event time may run ahead of the commit that folds it (Atomic's clock vs ours). */
export const EVENT_TIME_SKEW_MS = 24 * 3600 * 1000;

/**
 * The later of two event times, compared as instants. Atomic's clock, not ours, and not always
 * a timestamp (a relative `yesterday`, `2026-13-45...`): a time that is not an ISO-8601
 * timestamp, or that is more than a day after `at` (the fold: year 99999 would stick for good),
 * never replaces one that is usable, and is replaced by any that is. A first time that is not
 * usable is kept only until a usable one comes (`learnUsers` records `at` instead).
 * (As text, `yesterday` sorted after every date and stuck for good.)
 */
export function laterEventTime(known: string, seen: string, at?: Date): string {
  const seenAt = usableEventTime(seen, at);
  if (seenAt === undefined) return known;
  const knownAt = usableEventTime(known, at);
  return knownAt === undefined || seenAt > knownAt ? seen : known;
}

function usableEventTime(time: string, at: Date | undefined): number | undefined {
  const ms = parseIsoTimestamp(time)?.getTime();
  if (ms === undefined) return undefined;
  return at !== undefined && ms > at.getTime() + EVENT_TIME_SKEW_MS ? undefined : ms;
}

/** What an event teaches the registry. */
export interface LearnedUser {
  readonly identifier: string;
  readonly taskId: string | null;
  readonly eventTime: string;
}

/**
 * Adds the users (and task ids) of `learned` to the registry; rewrites only the shards they
 * fall in, and only when something changed. Idempotent: learning the same events twice is a no-op.
 * A task id an event names is fetched again: a retired one comes back, and its misses are
 * cleared (PayLink just named it).
 */
export async function learnUsers(
  store: ObjectStore,
  learned: readonly LearnedUser[],
  at: Date,
): Promise<number> {
  let added = 0;
  for (const [shard, users] of byShard(learned.filter((u) => isLoadableIdentifier(u.identifier)))) {
    const doc = await readShard(store, shard);
    const next = dict(doc.users);
    let changed = false;
    for (const user of users) {
      const known = Object.hasOwn(next, user.identifier) ? next[user.identifier] : undefined;
      if (known === undefined) added++;
      const taskIds = known?.taskIds ?? [];
      const withTask =
        user.taskId === null || taskIds.includes(user.taskId) ? taskIds : [...taskIds, user.taskId];
      // A new user's first time is the event's when it is usable, else when the registry learned them.
      const lastEventTime =
        known === undefined
          ? usableEventTime(user.eventTime, at) === undefined
            ? at.toISOString()
            : user.eventTime
          : laterEventTime(known.lastEventTime, user.eventTime, at);
      const named = user.taskId === null ? undefined : user.taskId;
      const misses = named === undefined ? known?.misses : without(known?.misses, named);
      const retired = named === undefined ? known?.retired : without(known?.retired, named);
      if (
        known !== undefined &&
        withTask === taskIds &&
        lastEventTime === known.lastEventTime &&
        misses === known.misses &&
        retired === known.retired
      )
        continue;
      next[user.identifier] = {
        taskIds: withTask,
        firstSeen: known?.firstSeen ?? at.toISOString(),
        lastEventTime,
        ...(misses === undefined ? {} : { misses }),
        ...(retired === undefined ? {} : { retired }),
      };
      changed = true;
    }
    if (changed) await writeShard(store, shard, next);
  }
  return added;
}

/** `record` without `key` (undefined when nothing is left); the same object when it had no `key`. */
function without<T>(
  record: Readonly<Record<string, T>> | undefined,
  key: string,
): Readonly<Record<string, T>> | undefined {
  if (record === undefined || !Object.hasOwn(record, key)) return record;
  const { [key]: _gone, ...rest } = record;
  return Object.keys(rest).length === 0 ? undefined : rest;
}

/** Items grouped by their identifier's shard, shards in order. */
function byShard<T extends { identifier: string }>(items: readonly T[]): [number, T[]][] {
  const out = new Map<number, T[]>();
  for (const item of items) {
    const shard = identifierShard(item.identifier, REGISTRY.shards);
    out.set(shard, [...(out.get(shard) ?? []), item]);
  }
  return [...out].sort(([a], [b]) => a - b);
}

/** What one committed load learned about one user's fetched task ids (task-retirement.ts). */
export interface TaskCheckRecord {
  readonly identifier: string;
  /** Ids PayLink answered, with the status: a final one retires the id. */
  readonly found?: Readonly<Record<string, string | null>>;
  /** Ids that answered 404 while the endpoint answered other ids (a miss each). */
  readonly missing?: readonly string[];
}

export interface TaskRetirementSettings {
  /** Consecutive committed loads with a miss that retire an id. */
  readonly retireAfterMisses: number;
  /** Statuses after which a task never changes (task-retirement.ts FINAL_TASK_STATUSES). */
  readonly isFinal: (status: string) => boolean;
}

/**
 * Folds what committed load `loadId` learned about fetched task ids into the registry: an
 * answered id's misses are cleared, or it retires when its status is final; a missing id gets
 * the load added to its misses and retires at `retireAfterMisses`. Only ids a user's `taskIds`
 * hold are touched (an id from a --task-ids file, or retired meanwhile, is not the registry's).
 * Idempotent: folding the same load twice changes nothing more (misses are sets of load ids).
 * Returns how many ids it retired.
 */
export async function recordTaskChecks(
  store: ObjectStore,
  loadId: string,
  checks: readonly TaskCheckRecord[],
  settings: TaskRetirementSettings,
  at: Date,
): Promise<number> {
  let retiredNow = 0;
  for (const [shard, users] of byShard(checks)) {
    const doc = await readShard(store, shard);
    const next = dict(doc.users);
    let changed = false;
    for (const check of users) {
      const known = Object.hasOwn(next, check.identifier) ? next[check.identifier] : undefined;
      if (known === undefined) continue;
      const misses = dict(known.misses);
      const retired = dict(known.retired);
      let taskIds = [...known.taskIds];
      const retire = (id: string, task: RetiredTask) => {
        taskIds = taskIds.filter((t) => t !== id);
        delete misses[id];
        retired[id] = task;
        retiredNow++;
      };
      for (const [id, status] of Object.entries(check.found ?? {})) {
        if (!taskIds.includes(id)) continue;
        delete misses[id];
        if (status !== null && settings.isFinal(status))
          retire(id, { reason: 'final_status', at: at.toISOString(), loadId, status });
      }
      for (const id of check.missing ?? []) {
        if (!taskIds.includes(id)) continue;
        const loads = [...new Set([...(Object.hasOwn(misses, id) ? (misses[id] ?? []) : []), loadId])];
        if (loads.length >= settings.retireAfterMisses)
          retire(id, { reason: 'not_found', at: at.toISOString(), loadId, misses: loads });
        else misses[id] = loads;
      }
      const entry: RegisteredUser = {
        taskIds,
        firstSeen: known.firstSeen,
        lastEventTime: known.lastEventTime,
        ...(Object.keys(misses).length === 0 ? {} : { misses }),
        ...(Object.keys(retired).length === 0 ? {} : { retired }),
      };
      if (JSON.stringify(entry) === JSON.stringify(known)) continue;
      next[check.identifier] = entry;
      changed = true;
    }
    if (changed) await writeShard(store, shard, next);
  }
  return retiredNow;
}

/** What the registry holds, counted (status). */
export interface RegistryCounts {
  readonly users: number;
  /** Task ids loads fetch. */
  readonly taskIds: number;
  /** Fetched ids with at least one miss (on their way to retiring). */
  readonly missing: number;
  readonly retired: { readonly notFound: number; readonly finalStatus: number };
}

export async function registryCounts(store: ObjectStore): Promise<RegistryCounts> {
  let taskIds = 0;
  let missing = 0;
  let notFound = 0;
  let finalStatus = 0;
  const users = await registeredUsers(store);
  for (const user of users.values()) {
    taskIds += user.taskIds.length;
    missing += Object.keys(user.misses ?? {}).length;
    for (const task of Object.values(user.retired ?? {}))
      if (task.reason === 'not_found') notFound++;
      else finalStatus++;
  }
  return { users: users.size, taskIds, missing, retired: { notFound, finalStatus } };
}
