/**
 * The user registry: identifiers the loader learned from accepted webhook events, with the task
 * ids those events named. PayLink has no endpoint that lists users (../shared/docs/paylink-api.md),
 * so a user who linked an account yesterday is known only from their events; the operator's
 * list file stays supported and the two are united by the plan.
 *
 *   _state/users/<shard>.json   {"formatVersion": 1, "users": {"<identifier>": {"taskIds": [...], "firstSeen", "lastEventTime"}}}
 *
 * Sharded by a fixed hash of the identifier (plan.ts `identifierShard`), so a commit rewrites
 * only the shards of the users its events name. Written by the commit after its commit point
 * and under the events lock (event-claims.ts), so two commits never lose each other's users.
 */
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
  readonly taskIds: readonly string[];
  readonly firstSeen: string;
  readonly lastEventTime: string;
}

interface RegistryShard {
  readonly formatVersion: 1;
  readonly users: Readonly<Record<string, RegisteredUser>>;
}

export function registryShardKey(shard: number): string {
  return `${REGISTRY.prefix}${String(shard).padStart(2, '0')}.json`;
}

async function readShard(store: ObjectStore, shard: number): Promise<RegistryShard> {
  return (await readJson<RegistryShard>(store, registryShardKey(shard))) ?? { formatVersion: 1, users: {} };
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

/**
 * The later of two event times, compared as instants. Atomic's clock, not ours, and not always
 * a timestamp (a relative `yesterday`, say): a time that is not an ISO-8601 timestamp never
 * replaces one that is, and is replaced by any that is. Two that are not: the one kept stays.
 * (As text, `yesterday` sorted after every date and stuck for good.)
 */
export function laterEventTime(known: string, seen: string): string {
  const seenAt = parseIsoTimestamp(seen)?.getTime();
  if (seenAt === undefined) return known;
  const knownAt = parseIsoTimestamp(known)?.getTime();
  return knownAt === undefined || seenAt > knownAt ? seen : known;
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
 */
export async function learnUsers(
  store: ObjectStore,
  learned: readonly LearnedUser[],
  at: Date,
): Promise<number> {
  const byShard = new Map<number, LearnedUser[]>();
  for (const user of learned) {
    if (!isLoadableIdentifier(user.identifier)) continue;
    const shard = identifierShard(user.identifier, REGISTRY.shards);
    byShard.set(shard, [...(byShard.get(shard) ?? []), user]);
  }
  let added = 0;
  for (const [shard, users] of [...byShard].sort(([a], [b]) => a - b)) {
    const doc = await readShard(store, shard);
    const next: Record<string, RegisteredUser> = { ...doc.users };
    let changed = false;
    for (const user of users) {
      const known = Object.hasOwn(next, user.identifier) ? next[user.identifier] : undefined;
      if (known === undefined) added++;
      const taskIds = known?.taskIds ?? [];
      const withTask =
        user.taskId === null || taskIds.includes(user.taskId) ? taskIds : [...taskIds, user.taskId];
      const lastEventTime =
        known === undefined ? user.eventTime : laterEventTime(known.lastEventTime, user.eventTime);
      if (known !== undefined && withTask === taskIds && lastEventTime === known.lastEventTime) continue;
      next[user.identifier] = {
        taskIds: withTask,
        firstSeen: known?.firstSeen ?? at.toISOString(),
        lastEventTime,
      };
      changed = true;
    }
    if (changed) await writeJson(store, registryShardKey(shard), { formatVersion: 1, users: next });
  }
  return added;
}
