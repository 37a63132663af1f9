/**
 * The backlog of each `changed` schedule, for `paylink-loader status`: the webhook events its
 * committed loads have not seen, the users they name, how old the oldest is, and what its last
 * run left for the next one.
 *
 * Pending is decided by the loader's own code, never by a rule of status's own: the events are
 * those a changed run lists and reads (changed-users.ts `listChangedPending`, which
 * `selectChangedUsers` starts with), and the users come in the order runs take them
 * (`changedUsersOrder`, which `capChangedUsers` cuts): a run capped at n takes the first n.
 *
 * Cost: the counts come from the listing (one LIST per open partition, 1,000 keys a page); the
 * users and the oldest received time need each event object read (one GET each: the user is
 * inside it, the key is a digest). Status reads at most `maxReads` of them per schedule (oldest
 * partitions first; an object read for one schedule is not read again for another, nor for the
 * unreadable check: `sharedEventReads`), so a backlog of 100k events costs a listing, not 100k
 * GETs; over the limit the users and the oldest time are of the events read (`complete` false).
 */
import { plural } from '#core/capacity.ts';
import {
  CHANGED_STATE_PREFIX,
  changedUsersOrder,
  listChangedPending,
  type MarkerChanged,
} from '#core/changed-users.ts';
import { asideRefs, byReceipt, readEvents } from '#core/event-log.ts';
import { listAfter, type ObjectStore } from '#core/ports.ts';
import { LOCAL_RESOURCES_SCHEDULE_PREFIX, LOCAL_SCHEDULE } from '#core/schedule-config.ts';
import { isLoadableIdentifier } from '#core/user-registry.ts';
import { WEBHOOK } from '#core/webhook.ts';
import { renderTable } from './summary.ts';

/** Event objects `status` reads per schedule by default (`--max-event-reads`). */
export const BACKLOG_READS_DEFAULT = 10_000;

/** A schedule's last changed run (by selection, `lastChangedRun`), from its report's `changed` section. */
export interface LastChangedRun {
  readonly loadId: string;
  readonly committedAt: string;
  /** Users it was planned with. */
  readonly users: number;
  /** The cap it was selected with; null: unlimited. */
  readonly maxUsers: number | null;
  /** Users (and their events) its cap left for the next run; null when none were. */
  readonly deferred: { readonly users: number; readonly events: number } | null;
}

/** `--fail-on-signals`: the oldest pending event is older than the schedule's window. */
export interface StaleBacklog {
  readonly kind: 'stale_backlog';
  readonly schedule: string;
  readonly oldestReceivedAt: string;
  readonly ageSeconds: number;
  readonly windowSeconds: number;
  /** Where the window came from: `--max-event-age-hours`, or the stack's NoRecentSuccess window. */
  readonly windowFrom: string;
}

export interface ChangedBacklog {
  readonly schedule: string;
  /**
   * No committed changed load of it yet (no `_state/changed/<schedule>.json`): its first load
   * takes the users of every stored event. Not counted: that would list all of `_events/`.
   */
  readonly firstRun: boolean;
  /**
   * Events received and not seen by the schedule's committed loads (one per event key), as its
   * next run lists them: unreadable ones included. Null on a first run.
   */
  readonly events: number | null;
  /** The received-date partition of the oldest of them (from the listing); null when none. */
  readonly oldestPartition: string | null;
  /** Of `events`, the objects read (at most `--max-event-reads`). */
  readonly eventsRead: number;
  /** Every pending event was read: `users`, `pendingUsers` and `oldestReceivedAt` are exact. */
  readonly complete: boolean;
  /** Of those read, objects that are not readable events (their users not loaded). */
  readonly unreadableEvents: number;
  /**
   * Of `unreadableEvents`, those the schedule's last committed run read and set aside (its state's
   * `aside`). The rest arrived since: no run of it has read them yet, its next one will set them
   * aside. Said apart, so status never claims a load set aside an object no load has seen.
   */
  readonly unreadableSetAside: number;
  /** Distinct users the events read name. */
  readonly users: number;
  /** Users to retry once (their load failed in the last committed run), with or without an event. */
  readonly retryUsers: number;
  /** Every pending user (retries first, then by oldest pending event): a run capped at n takes the first n. */
  readonly pendingUsers: readonly string[];
  /** The oldest pending event's received time (of those read: not older than the true oldest). */
  readonly oldestReceivedAt: string | null;
  readonly oldestAgeSeconds: number | null;
  readonly lastRun: LastChangedRun | null;
  /** A one-line hint when the last run deferred users; null otherwise. */
  readonly hint: string | null;
  readonly flag: StaleBacklog | null;
}

/**
 * An ObjectStore whose event objects are read at most once (kept in memory): `status` reads the
 * same events for the unreadable check and for each schedule's backlog. Counts the GETs it made.
 */
export function sharedEventReads(store: ObjectStore): ObjectStore & { readonly eventGets: () => number } {
  const cache = new Map<string, Promise<Uint8Array | undefined>>();
  let gets = 0;
  return {
    description: store.description,
    put: (key, body) => store.put(key, body),
    putIfAbsent: (key, body) => store.putIfAbsent(key, body),
    get: (key) => {
      if (!key.startsWith(WEBHOOK.eventsPrefix)) return store.get(key);
      let got = cache.get(key);
      if (got === undefined) {
        gets++;
        got = store.get(key);
        cache.set(key, got);
      }
      return got;
    },
    list: (prefix) => store.list(prefix),
    listAfter: (prefix, startAfter) => listAfter(store, prefix, startAfter),
    delete: (keys) => store.delete(keys),
    move: (from, to) => store.move(from, to),
    openWrite: (key) => store.openWrite(key),
    eventGets: () => gets,
  };
}

/** The schedules with a state in the lake, and the CLI's own (`local`), sorted. */
export async function changedSchedules(store: ObjectStore): Promise<string[]> {
  const names = new Set<string>([LOCAL_SCHEDULE]);
  for (const key of await store.list(CHANGED_STATE_PREFIX)) {
    if (!key.endsWith('.json')) continue;
    const name = key.slice(CHANGED_STATE_PREFIX.length, -'.json'.length);
    if (!name.includes('/')) names.add(name);
  }
  return [...names].sort();
}

/** The backlog figures of one schedule (no last run, hint or flag: `withLastRun`, `judgeBacklog`). */
export async function changedBacklog(
  store: ObjectStore,
  schedule: string,
  now: Date,
  maxReads: number,
): Promise<Omit<ChangedBacklog, 'lastRun' | 'hint' | 'flag'>> {
  const pending = await listChangedPending(store, schedule, now);
  const retry = pending.state.retry ?? [];
  if (pending.stored === undefined)
    return {
      schedule,
      firstRun: true,
      events: null,
      oldestPartition: null,
      eventsRead: 0,
      complete: false,
      unreadableEvents: 0,
      unreadableSetAside: 0,
      users: 0,
      retryUsers: 0,
      pendingUsers: [],
      oldestReceivedAt: null,
      oldestAgeSeconds: null,
    };
  const unseen = pending.unseen;
  // The listing order is by partition: the oldest days are read first.
  const read = await readEvents(store, unseen.slice(0, Math.max(0, maxReads)));
  const oldest = [...read.events].sort(byReceipt)[0];
  const unreadable = read.unreadable.filter((u) => !u.gone);
  const setAside = new Set(asideRefs(pending.state).map((r) => `${r.dt}/${r.key}`));
  const oldestPartition = unseen.reduce<string | null>((a, r) => (a === null || r.dt < a ? r.dt : a), null);
  return {
    schedule,
    firstRun: false,
    events: unseen.length,
    oldestPartition,
    eventsRead: read.events.length + read.unreadable.length,
    complete: read.events.length + read.unreadable.length === unseen.length,
    unreadableEvents: unreadable.length,
    unreadableSetAside: unreadable.filter((u) => setAside.has(`${u.dt}/${u.key}`)).length,
    users: new Set(read.events.map((e) => e.identifier).filter(isLoadableIdentifier)).size,
    retryUsers: new Set(retry).size,
    pendingUsers: changedUsersOrder(read.events, retry),
    oldestReceivedAt: oldest?.receivedAt ?? null,
    oldestAgeSeconds:
      oldest === undefined
        ? null
        : Math.max(0, Math.round((now.getTime() - Date.parse(oldest.receivedAt)) / 1000)),
  };
}

/**
 * The schedule's newest committed changed load, by when it selected its users (`selectedAt`:
 * its first run's start, then its load id), never by commit time: a re-run of an older load
 * (`--load-id` of an earlier one) commits last but loads that older selection again, and must not
 * hide what a later (capped) run left for the next one. A re-run of the newest selection is the
 * last run, with that selection's cap and deferral.
 */
export function lastChangedRun(
  schedule: string,
  markers: readonly { loadId: string; startedAt?: string; committedAt: string; changed?: MarkerChanged }[],
): LastChangedRun | null {
  let last: { run: LastChangedRun; order: string } | null = null;
  for (const m of markers) {
    const c = m.changed;
    if (c === undefined || c.schedule !== schedule || !Array.isArray(c.users)) continue;
    // Reports written before `selectedAt` was kept: their start (a CLI re-run's is its own).
    const order = `${c.selectedAt ?? m.startedAt ?? m.committedAt}\u0000${m.loadId}`;
    if (last !== null && order < last.order) continue;
    last = {
      order,
      run: {
        loadId: m.loadId,
        committedAt: m.committedAt,
        users: c.users.length,
        maxUsers: c.maxUsers ?? null,
        deferred: c.deferred === undefined ? null : { users: c.deferred.users, events: c.deferred.events },
      },
    };
  }
  return last?.run ?? null;
}

/** The hint when the last run deferred users: run again, or raise the cap. */
export function backlogHint(schedule: string, last: LastChangedRun | null): string | null {
  if (last?.deferred == null || last.deferred.users === 0) return null;
  const left = `${plural(last.deferred.users, 'user')} with ${plural(last.deferred.events, 'event')}`;
  const cap = last.maxUsers === null ? '' : ` at its cap of ${last.maxUsers}`;
  const raise =
    schedule === LOCAL_SCHEDULE
      ? `run 'load --users changed' again to take them (oldest events first), or raise --max-users-per-run`
      : schedule.startsWith(LOCAL_RESOURCES_SCHEDULE_PREFIX)
        ? `run the same 'load --users changed --resources ...' again to take them (oldest events first), or raise --max-users-per-run`
        : `the next run takes them first; if runs keep deferring, events arrive faster than it loads them: raise its maxUsersPerRun if set below what a run can afford, else requestRate (PayLink permitting) or lengthen its period (docs/deploy.md section 11)`;
  return `${schedule}: its last run (${last.loadId})${cap} left ${left} for the next: ${raise}`;
}

/**
 * The `stale_backlog` signal: the oldest pending event of a schedule with a state is older than
 * its window (`--max-event-age-hours` for every schedule, else the stack's NoRecentSuccess
 * window of that schedule: two periods, longer than any event waits while the schedule keeps
 * up). None without a window; none for a first run (no committed load: `no_recent_load` says so).
 */
export function judgeBacklog(
  backlog: Omit<ChangedBacklog, 'lastRun' | 'hint' | 'flag'>,
  maxAgeSeconds: number | undefined,
  stackWindows: Readonly<Record<string, number>>,
): StaleBacklog | null {
  const stack = Object.hasOwn(stackWindows, backlog.schedule) ? stackWindows[backlog.schedule] : undefined;
  const windowSeconds = maxAgeSeconds ?? stack;
  if (windowSeconds === undefined || backlog.firstRun) return null;
  if (backlog.oldestReceivedAt === null || backlog.oldestAgeSeconds === null) return null;
  if (backlog.oldestAgeSeconds <= windowSeconds) return null;
  return {
    kind: 'stale_backlog',
    schedule: backlog.schedule,
    oldestReceivedAt: backlog.oldestReceivedAt,
    ageSeconds: backlog.oldestAgeSeconds,
    windowSeconds,
    windowFrom: maxAgeSeconds === undefined ? "the stack's NoRecentSuccess window" : '--max-event-age-hours',
  };
}

/** An age or window in words: seconds under a minute, minutes under two hours, else hours. */
export function ageWords(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round((seconds / 3600) * 10) / 10} h`;
}

/** A `stale_backlog` flag in words (`--fail-on-signals`' stderr line, the text section). */
export function staleBacklogWords(f: StaleBacklog, backlog: ChangedBacklog): string {
  return (
    `schedule ${f.schedule}: oldest pending webhook event received ${f.oldestReceivedAt}, ${ageWords(f.ageSeconds)} ago, ` +
    `over its ${ageWords(Math.round(f.windowSeconds))} window (${f.windowFrom}); ` +
    `${plural(backlog.events ?? 0, 'event')} of ${plural(backlog.pendingUsers.length, 'user')} pending`
  );
}

/** The text section of `status`: one row per schedule, then hints and notes. */
export function formatBacklogs(
  backlogs: readonly ChangedBacklog[],
  maxReads: number,
  /** The lake has webhook events: a schedule with no changed load yet is worth a line. */
  hasEvents: boolean,
): string[] {
  const shown = backlogs.filter((b) => !b.firstRun || b.lastRun !== null);
  const first = backlogs.filter((b) => b.firstRun && b.lastRun === null).map((b) => b.schedule);
  const out: string[] = [];
  if (shown.length > 0) {
    out.push(
      `Changed schedules (webhook events their committed loads have not seen; 'load --users changed' is 'local', with other --resources '${LOCAL_RESOURCES_SCHEDULE_PREFIX}<8 hex>'):`,
    );
    const rows = shown.map((b) => [
      b.schedule,
      b.events === null ? '-' : String(b.events),
      b.firstRun ? '-' : `${b.complete ? '' : '>='}${b.pendingUsers.length}`,
      b.oldestReceivedAt === null ? '-' : `${b.complete ? '' : '~'}${b.oldestReceivedAt}`,
      b.oldestAgeSeconds === null ? '-' : ageWords(b.oldestAgeSeconds),
      b.lastRun === null ? '-' : b.lastRun.loadId,
      b.lastRun === null
        ? '-'
        : b.lastRun.deferred === null
          ? '0'
          : `${b.lastRun.deferred.users} (cap ${b.lastRun.maxUsers ?? '-'})`,
    ]);
    out.push(
      renderTable(['schedule', 'events', 'users', 'oldest_received', 'age', 'last_run', 'deferred'], rows),
    );
    for (const b of shown) {
      if (b.firstRun)
        out.push(
          `  ${b.schedule}: its state is gone (no _state/changed/${b.schedule}.json): its next load is a first one, taking the users of every stored event`,
        );
      if (!b.firstRun && !b.complete)
        out.push(
          `  ${b.schedule}: ${b.eventsRead} of ${b.events} events read (--max-event-reads ${maxReads}): users and oldest time are of those (at least that many users; the oldest partition is dt=${b.oldestPartition})`,
        );
      if (b.retryUsers > 0)
        out.push(
          `  ${b.schedule}: ${plural(b.retryUsers, 'user')} to retry once (their load failed in the last run), counted in users`,
        );
      if (b.unreadableSetAside > 0)
        out.push(
          `  ${b.schedule}: ${plural(b.unreadableSetAside, 'unreadable event object')} among them, set aside by its last run (their users not loaded: see the warning)`,
        );
      const unreadSince = b.unreadableEvents - b.unreadableSetAside;
      if (unreadSince > 0)
        out.push(
          `  ${b.schedule}: ${plural(unreadSince, 'unreadable event object')} among them that no run of it has read yet: its next run will set ${unreadSince === 1 ? 'it' : 'them'} aside (${unreadSince === 1 ? 'its user' : 'their users'} not loaded: see the warning)`,
        );
      if (b.hint !== null) out.push(`  hint: ${b.hint}`);
      if (b.flag !== null)
        out.push(`  stale_backlog: ${staleBacklogWords(b.flag, b)} (--fail-on-signals exits 9)`);
    }
  }
  if (first.length > 0 && hasEvents)
    out.push(
      `No committed changed load of ${first.join(', ')} yet: the first one takes the users of every stored event (not counted here).`,
    );
  return out;
}
