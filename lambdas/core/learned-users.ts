/**
 * The users a full load adds to the operator's list: every user the loader learned from webhook
 * events, with the task ids those events named.
 *
 * Two sources, because the registry (user-registry.ts) only learns a user when a load commits
 * their event: the registry itself, and the stored events no load has committed yet
 * (`_state/events/committed.json`, event-claims.ts). Without the second, a user who linked an
 * account yesterday would be loaded by the second full load after their event, not the first:
 * the first full load commits the event (and registers the user) after it planned its users.
 * An event claimed by a load that has not folded its claim yet is read here as uncommitted:
 * its user is loaded once more, which is harmless.
 */
import { readCommittedEvents } from './event-claims.ts';
import { listEvents, NOTHING_TAKEN, readEvents, toRead } from './event-log.ts';
import type { ObjectStore } from './ports.ts';
import { isLoadableIdentifier, registeredUsers } from './user-registry.ts';

export interface LearnedUsers {
  /** Registered users and users of uncommitted events, sorted (code-unit order), each once. */
  readonly identifiers: readonly string[];
  /** Every task id known for a user (registry and uncommitted events); only users that have some. */
  readonly taskIds: ReadonlyMap<string, readonly string[]>;
  /** Users known only from events no load has committed yet (not in the registry). */
  readonly fromPendingEvents: number;
  /** Task ids the registry no longer fetches (retired: task-retirement.ts), counted. */
  readonly retiredTaskIds: number;
}

export async function learnedUsers(store: ObjectStore, now: Date): Promise<LearnedUsers> {
  const registry = await registeredUsers(store);
  const taskIds = new Map<string, string[]>();
  let retiredTaskIds = 0;
  for (const [identifier, user] of registry) {
    if (user.taskIds.length > 0) taskIds.set(identifier, [...user.taskIds]);
    retiredTaskIds += Object.keys(user.retired ?? {}).length;
  }
  const committed = (await readCommittedEvents(store)) ?? NOTHING_TAKEN;
  const listed = await listEvents(store, committed.from, now.toISOString().slice(0, 10));
  // An unreadable event names no user: skipped here (the commit sets it aside and reports it).
  const { events: pending } = await readEvents(store, toRead(listed, committed));
  const identifiers = new Set(registry.keys());
  let fromPendingEvents = 0;
  for (const event of pending) {
    if (!isLoadableIdentifier(event.identifier)) continue;
    if (!identifiers.has(event.identifier)) {
      identifiers.add(event.identifier);
      fromPendingEvents++;
    }
    if (event.taskId === null) continue;
    const ids = taskIds.get(event.identifier) ?? [];
    if (!ids.includes(event.taskId)) taskIds.set(event.identifier, [...ids, event.taskId]);
  }
  return {
    identifiers: [...identifiers].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    taskIds,
    fromPendingEvents,
    retiredTaskIds,
  };
}
