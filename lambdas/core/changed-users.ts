/**
 * `changed` loads: only the users with webhook events their schedule has not seen in a committed
 * load yet, with the task ids those events (and earlier ones, via the registry) name.
 *
 *   _state/changed/<schedule>.json      the events seen by the schedule's committed loads (TakenEvents)
 *   _staging/<load_id>/changed.json     what this load was planned from (ChangedSelection)
 *
 * The plan lists the stored events of the schedule's open partitions and takes every one not yet
 * seen (a set difference, never a time cursor: an event whose write finished late is simply
 * listed next time, so none is skipped between two runs). The commit advances the schedule's
 * state only after its commit point; a run that fails leaves it where it was, so the next run
 * takes its events again. Two runs of one schedule never interleave (the run guard), and an
 * event seen twice only loads its user twice: harmless. A user whose load failed in a committed
 * run (PayLink answered 5xx for them, say) is loaded again by the next run, once: their change
 * is not lost to one bad moment, and a user who always fails is not retried forever.
 *
 * A re-run of a load id (`--load-id`, a re-delivered schedule slot) replaces that load, so it must
 * load the same users: the users a `changed` load was planned with are kept in its report
 * (`_loads/<id>.json`, `changed.users`), and a re-run of a load that has a report loads them again
 * (`reusedSelection`). Picking the users new at re-run time instead would replace the original
 * users' rows with nothing (their current state rolling back to an older load) while their events
 * stay seen. A re-run does not move its schedule's state: the events it was planned from were
 * folded when it first committed, and folding "nothing listed" on a later day would close
 * partitions it never listed.
 */
import { ConfigError, LakeStateError } from './errors.ts';
import { committedEventsNow } from './event-claims.ts';
import {
  asideRefs,
  byReceipt,
  type EventRef,
  type HeldBackPartition,
  heldBackEventPartitions,
  type LoadedEvent,
  listEvents,
  NOTHING_TAKEN,
  readEvents,
  readTakenState,
  type TakenEvents,
  takenKeys,
  toRead,
  type UnreadableEvent,
  withTaken,
} from './event-log.ts';
import { loadMarkerKey, stagingPrefix } from './layout.ts';
import type { BatchUser } from './load-batch.ts';
import type { ObjectStore } from './ports.ts';
import { readJson, writeJson } from './store-json.ts';
import { isLoadableIdentifier, registeredTaskIds } from './user-registry.ts';

const SCHEDULE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Where each schedule's state is (`changedStateKey`). */
export const CHANGED_STATE_PREFIX = '_state/changed/';

export function changedStateKey(schedule: string): string {
  if (!SCHEDULE.test(schedule))
    throw new ConfigError('schedule', 'must be kebab-case (a-z, 0-9, single dashes)');
  return `${CHANGED_STATE_PREFIX}${schedule}.json`;
}

/**
 * The pseudo load id of a schedule's lock (a lease, lease.ts): held by a CLI `changed` load from
 * its selection until after its commit, so two of them never select the same users. Not a valid
 * load id (load ids start with a letter or digit), so never a real load's lease.
 */
export function changedLockId(schedule: string): string {
  changedStateKey(schedule);
  return `_changed-${schedule}`;
}

export function changedSelectionKey(loadId: string): string {
  return `${stagingPrefix(loadId)}changed.json`;
}

/**
 * A schedule's state, or undefined before its first committed load. A damaged one stops its
 * changed loads with what to do: deleting it is safe (nothing is lost or committed twice: the
 * events' own record is `_state/events/committed.json`) and makes the next run a first one.
 */
export function readChangedState(store: ObjectStore, schedule: string): Promise<ChangedState | undefined> {
  return readTakenState<ChangedState>(
    store,
    changedStateKey(schedule),
    `the webhook events the '${schedule}' changed loads have seen`,
    `Restore it (an earlier S3 object version) or delete it: the next changed load of '${schedule}' is then a first one, loading the users of every stored event, and commits no event twice (README, "Recovering a damaged state file")`,
  );
}

/**
 * The `_events/` partitions dated past what `schedule`'s changed loads list, less the events it
 * has taken (event-log.ts `heldBackEventPartitions`: one LIST past tomorrow's partition). None
 * before its first committed run: that run lists all of `_events/` and takes them. What a
 * changed load (the CLI's) and a changed plan (the Lambda's) warn of.
 */
export async function heldBackForSchedule(
  store: ObjectStore,
  schedule: string,
  today: string,
): Promise<HeldBackPartition[]> {
  const state = await readChangedState(store, schedule);
  return state === undefined ? [] : heldBackEventPartitions(store, today, takenKeys(state));
}

/** A schedule's state: the events its committed loads have seen, and users to retry once. */
export interface ChangedState extends TakenEvents {
  /** Users of new events whose load failed in the schedule's last committed run. */
  readonly retry?: readonly string[];
}

/** What a `changed` load was planned from: folded into its schedule's state when it commits. */
export interface ChangedSelection {
  readonly formatVersion: 1;
  readonly schedule: string;
  /** The date the events were listed on. */
  readonly today: string;
  /** Every stored event listed from the schedule's open partitions (seen before, or now). */
  readonly listed: readonly EventRef[];
  /**
   * Events new to the schedule (those of the users taken), and the users planned. New to the
   * schedule is not new to the lake: a load's commit claims every event new at its commit, so
   * the events received while it ran are committed by it but unseen by its schedule (`committedEarlier`).
   */
  readonly events: number;
  readonly users: number;
  /**
   * Of `events`, those another load had committed when they were selected, and of the users taken
   * for events, those with no other event: counted for the dry run and the start line (the commit
   * counts them again, `ChangedSources`). Absent in selections staged before they were counted.
   */
  readonly committedEarlier?: { readonly events: number; readonly users: number };
  /** The keys of the `events`: what the commit tells apart from the events it claims (`markerChanged`). */
  readonly eventKeys?: readonly string[];
  /** Users loaded again because their load failed in the last committed run (not retried twice). */
  readonly retried?: readonly string[];
  /** The users planned, with their task ids: kept in the load's report, so a re-run loads them again. */
  readonly planned?: readonly BatchUser[];
  /** Set when this is a re-run of a load that has a report: its schedule's state does not move. */
  readonly rerun?: true;
  /** A re-run: where the replaced load's users came from (its report's), kept as they were. */
  readonly sources?: ChangedSources;
  /**
   * A re-run: the replaced load's selection as its report keeps it (`MarkerChanged`), kept in the
   * re-run's report as it was. Not `maxUsers` / `deferred` above: a re-run selects nobody, caps
   * nothing and defers nothing itself.
   */
  readonly replaced?: {
    readonly selectedAt: string;
    readonly maxUsers?: number;
    readonly deferred?: MarkerChanged['deferred'];
  };
  /** Events that could not be read (event-log.ts): not seen, kept aside to be read again. */
  readonly aside?: readonly EventRef[];
  /** The cap this run was selected with (`maxUsersPerRun`); absent: unlimited. */
  readonly maxUsers?: number;
  /**
   * Users with new events left for the next run by the cap, and their events: not in `listed`
   * (not seen), not claimed by the commit (`claimUsers`), their partitions kept open from
   * `keepOpenFrom` (the oldest of them) so the next run lists them again.
   */
  readonly deferred?: ChangedDeferral;
}

/** What a capped `changed` run left for the next one (`ChangedSelection.deferred`). */
export interface ChangedDeferral {
  readonly users: number;
  readonly events: number;
  /**
   * Of `events`, those another load had committed when they were selected (new to the schedule,
   * not to the lake: pending for it, committed already). Absent when none, and in selections
   * staged before they were counted.
   */
  readonly committedEarlier?: number;
  /** The received-date partition of the oldest deferred event (absent: only users to retry were deferred). */
  readonly keepOpenFrom?: string;
  /** Users to retry (`ChangedState.retry`) the cap deferred: kept to retry by the next run. */
  readonly retry?: readonly string[];
}

/** What a committed `changed` load's report (`_loads/<id>.json`) keeps of its selection. */
export interface MarkerChanged {
  readonly schedule: string;
  readonly users: readonly BatchUser[];
  /**
   * Users (and their events) the run's cap left for the next run; absent when none were.
   * `committedEarlier`: of `events`, those another load had committed (`ChangedDeferral`).
   */
  readonly deferred?: { readonly users: number; readonly events: number; readonly committedEarlier?: number };
  /** The cap the run was selected with; absent: unlimited. */
  readonly maxUsers?: number;
  /** Where `users` came from (`ChangedSources`); absent in reports written before it was kept. */
  readonly sources?: ChangedSources;
  /**
   * When `users` were selected: the start of the load id's first run. A re-run keeps it (it loads
   * that selection again, whenever it runs), so it orders a schedule's selections (`status`'s last
   * run) where the start of a CLI re-run, which is its own, would put an older selection last.
   * Absent in reports written before it was kept: their `startedAt`.
   */
  readonly selectedAt?: string;
  /**
   * A re-run of the load id: `users`, `sources`, `maxUsers`, `deferred` and `selectedAt` are its
   * first run's selection, kept as they were (what it left for the next run is not this run's news).
   */
  readonly rerun?: true;
}

/**
 * Where a `changed` load's users came from, counted at its commit: the load's summary says it
 * (a real run once printed only "60 users"). `usersWithEvents + retriedUsers` is the users
 * planned; the events this load committed are the report's `events.count`.
 *
 * Events new to the schedule are not all new to the lake: a load's commit claims every event new
 * at its commit, so the events received while it ran (or while a load of a users list ran) are
 * committed by it, while the schedule has seen only those its changed loads listed when they
 * started. The next changed load takes them: their users are loaded, since the load that
 * committed them may have fetched those users before the events came, or not at all.
 */
export interface ChangedSources {
  /** Users taken for webhook events new to the schedule (its committed loads had not seen them). */
  readonly usersWithEvents: number;
  /** Events new to the schedule selected (those of the users taken; the cap's deferred users' excluded). */
  readonly eventsSelected: number;
  /**
   * Of `eventsSelected`, those another load had committed already (this load did not commit
   * them); the rest are new to the lake and committed with this load. Absent in reports written
   * before it was counted.
   */
  readonly eventsCommittedEarlier?: number;
  /** Users with no event selected, loaded again once because the last changed load failed them. */
  readonly retriedUsers: number;
  /**
   * Of `usersWithEvents`, those all of whose selected events another load had committed (none of
   * them new to the lake). Called `reloadedUsers` in reports written before: renamed because
   * these users need not have been loaded before (the load that committed their events may not
   * have loaded them, or fetched them before the events came).
   */
  readonly usersOnlyWithEventsCommittedEarlier: number;
}

/** `sources` as a report keeps them, those written before the rename (`reloadedUsers`) included. */
type KeptSources = Omit<ChangedSources, 'usersOnlyWithEventsCommittedEarlier'> &
  ({ readonly usersOnlyWithEventsCommittedEarlier: number } | { readonly reloadedUsers: number });

/** A report's `changed.sources` in today's shape (a re-run keeps them in its own report). */
function keptSources(kept: KeptSources): ChangedSources {
  if ('usersOnlyWithEventsCommittedEarlier' in kept) return kept;
  const { reloadedUsers, ...rest } = kept;
  return { ...rest, usersOnlyWithEventsCommittedEarlier: reloadedUsers };
}

export interface ChangedUsers {
  /** Sorted by identifier; each with every task id known for them (registry and these events). */
  readonly users: readonly BatchUser[];
  readonly selection: ChangedSelection;
  /** The new events, in receipt order. */
  readonly events: readonly LoadedEvent[];
  /** Stored events that could not be read: set aside, reported, their users not loaded. */
  readonly unreadable: readonly UnreadableEvent[];
  /**
   * The schedule has no state yet (no committed `changed` load of it): every stored event is
   * new to it, so this run loads the users of all of them, often as many as a full load. Not
   * avoided by starting from an earlier full load: its events are claimed at its commit, after
   * it fetched its users, so they are not all covered by it (README "The first changed load").
   */
  readonly firstRun?: true;
}

/** The users a capped run takes, and those it leaves for the next run (`capChangedUsers`). */
export interface CappedUsers {
  /** Sorted by identifier. */
  readonly taken: readonly string[];
  /** In the order a later run takes them. */
  readonly deferred: readonly string[];
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Which users a run capped at `maxUsers` loads: the users to retry first (their change came
 * before the last commit: they waited longest), then the users whose oldest pending event is
 * oldest, in the order the events are read and claimed (`byReceipt`: received time, then event
 * key); ties (the same oldest event can only be one user's) by identifier. First in, first out:
 * a user deferred now is ahead of every user whose first event came later, so however many
 * arrive, each user is loaded within ceil(backlog / cap) runs. Pure and deterministic.
 */
export function capChangedUsers(
  events: readonly LoadedEvent[],
  retried: readonly string[],
  maxUsers: number | undefined,
  loadable: (identifier: string) => boolean = isLoadableIdentifier,
): CappedUsers {
  const order = changedUsersOrder(events, retried, loadable);
  const cut = maxUsers === undefined ? order.length : Math.max(0, maxUsers);
  return { taken: order.slice(0, cut).sort(byCodeUnits), deferred: order.slice(cut) };
}

/**
 * Every user with new events or to retry, in the order runs take them (`capChangedUsers`): a run
 * capped at n takes the first n. What `status` shows a schedule's backlog as (cli/changed-backlog.ts).
 */
export function changedUsersOrder(
  events: readonly LoadedEvent[],
  retried: readonly string[],
  loadable: (identifier: string) => boolean = isLoadableIdentifier,
): string[] {
  const oldest = new Map<string, LoadedEvent>();
  for (const event of events) {
    if (!loadable(event.identifier)) continue;
    const seen = oldest.get(event.identifier);
    if (seen === undefined || byReceipt(event, seen) < 0) oldest.set(event.identifier, event);
  }
  const retry = [...new Set(retried)].filter((u) => !oldest.has(u)).sort(byCodeUnits);
  const fifo = [...oldest.entries()]
    .sort(([ua, a], [ub, b]) => byReceipt(a, b) || byCodeUnits(ua, ub))
    .map(([identifier]) => identifier);
  return [...retry, ...fifo];
}

/** What a `changed` run of a schedule finds pending, before it reads an event (`listChangedPending`). */
export interface ChangedPending {
  /** The schedule's state; undefined before its first committed load. */
  readonly stored: ChangedState | undefined;
  readonly state: ChangedState;
  /** The date the events were listed on. */
  readonly today: string;
  /** Every stored event listed from the schedule's open partitions. */
  readonly listed: readonly EventRef[];
  /**
   * The events the run reads: the listed ones the schedule has not seen (one per key: a copy on
   * a later day counts once), in partition then key order, then those set aside before.
   */
  readonly unseen: readonly EventRef[];
}

/**
 * The events a `changed` run of `schedule` would read at `now`: one LIST per open partition of
 * the schedule's state, no event read. The loader's own rule (`selectChangedUsers` starts with
 * it), so `status` counts a schedule's backlog as its next run will find it.
 */
export async function listChangedPending(
  store: ObjectStore,
  schedule: string,
  now: Date,
): Promise<ChangedPending> {
  const stored = await readChangedState(store, schedule);
  const state: ChangedState = stored ?? NOTHING_TAKEN;
  const today = now.toISOString().slice(0, 10);
  const listed = await listEvents(store, state.from, today);
  return { stored, state, today, listed, unseen: toRead(listed, state) };
}

/**
 * The users with events `schedule` has not seen in a committed load. Each user's task ids are
 * all those known for them, not only the ones these events name: a user's current `tasks` are
 * the tasks of their latest load (lake-views.ts), so loading only the new ones would drop the rest.
 */
export async function selectChangedUsers(
  store: ObjectStore,
  schedule: string,
  now: Date,
  /**
   * Most users this run loads (`maxUsersPerRun`: a deployed schedule's, derived from what its
   * run can afford, or the CLI's `--max-users-per-run`); undefined: every user with new events.
   * A function is asked only when more than one user has new events (deriving the cap reads the
   * schedule's last load report: an idle run need not).
   */
  maxUsersOf?: number | (() => Promise<number>),
): Promise<ChangedUsers> {
  // The lake's record of committed events is what this load's commit claims against: a damaged
  // one is refused now, before every user is fetched, not at the commit (one GET; and one LIST
  // of pending claims). Read here to tell the selected events new to the lake from those another
  // load committed.
  const committed = await committedEventsNow(store);
  const { stored, state, today, listed: listedAll, unseen } = await listChangedPending(store, schedule, now);
  const read = await readEvents(store, unseen);
  const allEvents = read.events.sort(byReceipt);
  const pending = new Set([...allEvents.map((e) => e.identifier), ...(state.retry ?? [])]).size;
  const maxUsers =
    typeof maxUsersOf === 'function' ? (pending > 1 ? await maxUsersOf() : undefined) : maxUsersOf;
  const capped = capChangedUsers(allEvents, state.retry ?? [], maxUsers);
  // The deferred users' events stay new to the schedule: not seen, not loaded, not claimed.
  const deferredUsers = new Set(capped.deferred);
  const deferredEvents = allEvents.filter((e) => deferredUsers.has(e.identifier));
  const deferredKeys = new Set(deferredEvents.map((e) => e.key));
  const events = allEvents.filter((e) => !deferredUsers.has(e.identifier));
  // Set aside, not seen: a repaired object is loaded by a later run (event-log.ts).
  const unreadableKeys = new Set(read.unreadable.map((u) => u.key));
  // Seen: everything listed and readable, and the events set aside earlier that read now.
  const listedKeys = new Set(listedAll.map((r) => `${r.dt}/${r.key}`));
  const listed = [
    ...listedAll,
    ...events.filter((e) => !listedKeys.has(`${e.dt}/${e.key}`)).map(({ dt, key }) => ({ dt, key })),
  ].filter((r) => !unreadableKeys.has(r.key) && !deferredKeys.has(r.key));
  const aside = read.unreadable.filter((u) => !u.gone).map(({ dt, key }) => ({ dt, key }));
  const identifiers = [...capped.taken];
  const taken = new Set(identifiers);
  const withEvents = new Set(events.map((e) => e.identifier));
  const retried = (state.retry ?? []).filter((u) => taken.has(u) && !withEvents.has(u));
  // Users to retry that the cap left: still to retry, by the next run.
  const retryLater = (state.retry ?? []).filter((u) => deferredUsers.has(u) && !withEvents.has(u));
  const known = await registeredTaskIds(store, identifiers);
  for (const event of events) {
    if (event.taskId === null) continue;
    const ids = known.get(event.identifier) ?? [];
    if (!ids.includes(event.taskId)) known.set(event.identifier, [...ids, event.taskId]);
  }
  const users: BatchUser[] = identifiers.map((identifier) => {
    const taskIds = known.get(identifier);
    return taskIds === undefined ? { identifier } : { identifier, taskIds };
  });
  const earlier = events.filter(committed);
  const deferredEarlier = deferredEvents.filter(committed).length;
  const withNewEvents = new Set(events.filter((e) => !committed(e)).map((e) => e.identifier));
  const onlyEarlier = new Set(earlier.map((e) => e.identifier).filter((u) => !withNewEvents.has(u)));
  return {
    users,
    selection: {
      formatVersion: 1,
      schedule,
      today,
      listed,
      events: events.length,
      users: identifiers.length,
      committedEarlier: { events: earlier.length, users: onlyEarlier.size },
      eventKeys: events.map((e) => e.key),
      ...(retried.length === 0 ? {} : { retried }),
      planned: users,
      aside,
      ...(maxUsers === undefined ? {} : { maxUsers }),
      ...(deferredUsers.size === 0
        ? {}
        : {
            deferred: {
              users: deferredUsers.size,
              events: deferredEvents.length,
              ...(deferredEarlier === 0 ? {} : { committedEarlier: deferredEarlier }),
              ...(deferredEvents.length === 0
                ? {}
                : { keepOpenFrom: deferredEvents.map((e) => e.dt).sort()[0]! }),
              ...(retryLater.length === 0 ? {} : { retry: retryLater }),
            },
          }),
    },
    events,
    unreadable: read.unreadable,
    ...(stored === undefined ? { firstRun: true as const } : {}),
  };
}

/**
 * For the load's report: the schedule, the users this `changed` load was planned with, and where
 * they came from, given the events its commit claimed (`committed`: the claim's events). A
 * selected event this commit did not claim was committed by another load: a commit claims
 * every selected event not yet committed (a capped one, every event of its planned users).
 */
export function markerChanged(
  selection: ChangedSelection | undefined,
  committed: readonly { readonly identifier: string; readonly key: string }[] = [],
  /** The load's start (its plan's): when a first run selected its users. */
  startedAt?: string,
): MarkerChanged | undefined {
  if (selection?.planned === undefined) return undefined;
  const rerun = selection.rerun === true;
  // A re-run's cap and deferral are its first run's (kept), never its own: it selects nobody.
  const { deferred, maxUsers } = rerun ? (selection.replaced ?? {}) : selection;
  const selectedAt = rerun ? selection.replaced?.selectedAt : startedAt;
  const retried = new Set(selection.retried ?? []);
  const withEvents = selection.planned.filter((u) => !retried.has(u.identifier));
  // Selections staged before the keys were kept: the claim's users, whichever events they are of.
  const selectedKeys = selection.eventKeys === undefined ? undefined : new Set(selection.eventKeys);
  const claimedSelected = committed.filter((e) => selectedKeys?.has(e.key) ?? true);
  const claimedKeys = new Set(claimedSelected.map((e) => e.key));
  const usersWithNewEvents = new Set(claimedSelected.map((e) => e.identifier));
  // A re-run loads the replaced load's users: where they came from is that load's record (kept
  // when it has one), not this selection's, which lists no event.
  const sources: ChangedSources | undefined = rerun
    ? selection.sources
    : {
        usersWithEvents: withEvents.length,
        eventsSelected: selection.events,
        ...(selectedKeys === undefined
          ? {}
          : { eventsCommittedEarlier: selection.events - claimedKeys.size }),
        retriedUsers: retried.size,
        usersOnlyWithEventsCommittedEarlier: withEvents.filter((u) => !usersWithNewEvents.has(u.identifier))
          .length,
      };
  return {
    schedule: selection.schedule,
    users: selection.planned,
    ...(maxUsers === undefined ? {} : { maxUsers }),
    ...(deferred === undefined
      ? {}
      : {
          deferred: {
            users: deferred.users,
            events: deferred.events,
            ...(deferred.committedEarlier === undefined
              ? {}
              : { committedEarlier: deferred.committedEarlier }),
          },
        }),
    ...(sources === undefined ? {} : { sources }),
    ...(selectedAt === undefined ? {} : { selectedAt }),
    ...(rerun ? { rerun: true as const } : {}),
  };
}

/**
 * The users whose events a capped `changed` load's commit claims (event-claims.ts): its planned
 * users, when the cap deferred others (their events wait for the run that loads them). Undefined
 * (claim every new event, as an uncapped load does) otherwise, and for a re-run, whose events
 * were fixed by its first claim.
 */
export function claimUsers(selection: ChangedSelection | undefined): ReadonlySet<string> | undefined {
  if (selection?.deferred === undefined || selection.rerun === true || selection.planned === undefined)
    return undefined;
  return new Set(selection.planned.map((u) => u.identifier));
}

/**
 * The selection a `changed` run of `loadId` must reuse, or undefined when it selects afresh:
 *  - the load has a report (it committed, or an attempt reached its report): the users in it,
 *    as a re-run that leaves the schedule's state alone;
 *  - the load's staging holds its selection (an interrupted attempt): that selection, unchanged
 *    (its staged batches were planned from it, and resume only with the same users).
 * A report without the users (a load of another kind, or written before they were kept) is
 * refused: loading whatever is new now under that id would replace its users with others.
 */
export async function reusedSelection(
  store: ObjectStore,
  loadId: string,
  schedule: string,
  today: string,
  /** Where the load id came from, named by the refusal (`--load-id`, `scheduledTime`). */
  setting: string,
  /**
   * Whether to reuse an interrupted attempt's staged selection (the CLI resumes its batches).
   * The deployed plan does not (it re-plans a slot from scratch, and its role reads no staging).
   */
  fromStaging = true,
): Promise<ChangedUsers | undefined> {
  const marker = await readJson<{
    changed?: Omit<MarkerChanged, 'sources'> & { readonly sources?: KeptSources };
    startedAt?: string;
  }>(store, loadMarkerKey(loadId));
  if (marker !== undefined) {
    const kept = marker.changed;
    if (kept === undefined || !Array.isArray(kept.users))
      throw new ConfigError(
        setting,
        `load ${loadId} was committed without a record of 'changed' users (a load of a users list, ` +
          `or one made before they were kept), so a 'changed' re-run cannot load the same users again ` +
          `and would replace them; re-run it with the users it loaded, or load the new changes under a new load id`,
      );
    if (kept.schedule !== schedule)
      throw new LakeStateError(
        `load ${loadId} is a '${kept.schedule}' changed load, not a '${schedule}' one: not re-run as ${schedule}`,
      );
    return {
      users: kept.users,
      selection: {
        formatVersion: 1,
        schedule,
        today,
        listed: [],
        events: 0,
        users: kept.users.length,
        planned: kept.users,
        rerun: true,
        ...(kept.sources === undefined ? {} : { sources: keptSources(kept.sources) }),
        ...keptSelection(kept, marker.startedAt),
      },
      events: [],
      unreadable: [],
    };
  }
  if (!fromStaging) return undefined;
  const staged = await readChangedSelection(store, loadId);
  if (staged?.planned === undefined || staged.schedule !== schedule) return undefined;
  return { users: staged.planned, selection: staged, events: [], unreadable: [] };
}

/** What a re-run keeps of the replaced load's selection (`ChangedSelection.replaced`). */
function keptSelection(
  kept: Pick<MarkerChanged, 'selectedAt' | 'maxUsers' | 'deferred'>,
  startedAt: string | undefined,
): Pick<ChangedSelection, 'replaced'> {
  // A report written before `selectedAt` was kept: its start, the best it has (its first run's,
  // unless it was itself a CLI re-run's).
  const selectedAt = kept.selectedAt ?? startedAt;
  if (selectedAt === undefined) return {};
  return {
    replaced: {
      selectedAt,
      ...(kept.maxUsers === undefined ? {} : { maxUsers: kept.maxUsers }),
      ...(kept.deferred === undefined
        ? {}
        : { deferred: { users: kept.deferred.users, events: kept.deferred.events } }),
    },
  };
}

/**
 * Refuses to re-run a committed `changed` load as a load of a users list: a re-run replaces the
 * load, so its users' current state would go back to an earlier load while their events stay
 * seen by the schedule (the reverse of `reusedSelection`'s refusal).
 *
 * @throws ConfigError naming `setting` when `loadId`'s report is a `changed` load's.
 */
function usersWord(users: unknown): string {
  if (!Array.isArray(users)) return 'its users';
  return `${users.length} ${users.length === 1 ? 'user' : 'users'}`;
}

export async function refuseListRerunOfChanged(
  store: ObjectStore,
  loadId: string,
  setting: string,
): Promise<void> {
  const marker = await readJson<{ changed?: MarkerChanged }>(store, loadMarkerKey(loadId));
  const kept = marker?.changed;
  if (kept === undefined) return;
  throw new ConfigError(
    setting,
    `load ${loadId} is a '${kept.schedule}' changed load (${usersWord(kept.users)} from webhook events): re-running it with a users list would replace its users with others and take ` +
      `their current state back to an earlier load; re-run it with --users changed, or load the list under a new load id`,
  );
}

/** Stages the selection next to the plan (after the plan: planning clears the staging). */
export function stageChangedSelection(
  store: ObjectStore,
  loadId: string,
  selection: ChangedSelection,
): Promise<void> {
  return writeJson(store, changedSelectionKey(loadId), selection);
}

export function readChangedSelection(
  store: ObjectStore,
  loadId: string,
): Promise<ChangedSelection | undefined> {
  return readJson<ChangedSelection>(store, changedSelectionKey(loadId));
}

/**
 * After the load's commit point: its schedule has seen everything it listed, and the users that
 * failed in it (`failedUsers`, from its report) are retried by the next run, unless this run was
 * already their retry.
 */
export async function foldChangedSelection(
  store: ObjectStore,
  selection: ChangedSelection,
  failedUsers: readonly string[] = [],
): Promise<void> {
  const key = changedStateKey(selection.schedule);
  const state: ChangedState = (await readChangedState(store, selection.schedule)) ?? NOTHING_TAKEN;
  if (selection.rerun === true) {
    // A re-run: its events were seen when it first committed; only its failures are new.
    const retry = [...new Set([...(state.retry ?? []), ...failedUsers])].sort();
    if (retry.length > (state.retry ?? []).length) await writeJson(store, key, { ...state, retry });
    return;
  }
  const retried = new Set(selection.retried ?? []);
  const retry = [...new Set([...failedUsers, ...(selection.deferred?.retry ?? [])])]
    .filter((u) => !retried.has(u))
    .sort();
  const next: ChangedState = {
    ...withTaken(state, selection.listed, selection.today, selection.aside ?? asideRefs(state), {
      keepOpenFrom: selection.deferred?.keepOpenFrom,
    }),
    ...(retry.length === 0 ? {} : { retry }),
  };
  await writeJson(store, key, next);
}
