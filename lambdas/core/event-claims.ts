/**
 * The `webhook_events` table: each stored webhook event committed exactly once, by the first
 * load to commit after it arrived, through the same staging -> commit path as every table.
 *
 * How a load claims the events it commits (all under `_state/events/`):
 *  - `committed.json`: the keys of events committed so far (TakenEvents, event-log.ts), and
 *    the claims folded (`folded`: load id -> claimedAt, what pruning reads);
 *  - `claims/<load_id>.json`: what a load claimed (its events, and which of them were new);
 *  - `pending/<load_id>`: a claim not yet folded into `committed.json`.
 * A commit takes the events lock (a lease, lease.ts, on the pseudo load id `_webhook_events`),
 * holds it from its claim to its commit point, and then:
 *  1. settles every pending claim of another load: folded into `committed.json` (and the user
 *     registry) when that load committed with it (its `_dlt_loads` row exists and its report
 *     names the claim), otherwise abandoned (its holder lost the lock: crashed, or failed and
 *     released it), so its new events go back to the pool;
 *  2. claims every listed event not in `committed.json` (a load's first claim); a load id that
 *     claimed before (a re-run of a committed load, an attempt after one that died past its
 *     claim) claims exactly the events that load holds again, and nothing received since: a
 *     load id's events are fixed by its first claim (a re-run replaces a load, its events
 *     included), and newer events wait for the next load, never committed under an older id;
 *  3. writes the claim and its pending marker, then the events' rows as one more staged batch.
 * After its commit point it folds its own claim and releases the lock. A commit that dies
 * anywhere leaves either no claim, or a pending claim that the next holder settles by the rule
 * above (its own load's re-run keeps it as its claim, unless another commit settled it first):
 * two loads never both commit an event, and a failed load never loses one. A zombie (a
 * holder stalled past the lock's ttl and taken over) fails its renewal before its commit point.
 * Claims do not pile up: once folded, older than `claimKeepMs` and with no run of their load id
 * holding a live lease, they are pruned (`pruneClaims`, by the committing holder, from the
 * `folded` index in `committed.json`); a later re-run of such a load id takes its events from
 * its own committed `webhook_events` rows. Pending markers are removed by every settlement.
 * An event object that cannot be read is set aside, not claimed (event-log.ts): the claim
 * records it (`aside`), the load's report names it, and the next claims read it again.
 */
import { LakeStateError, LeaseHeldError } from './errors.ts';
import {
  asideRefs,
  byReceipt,
  EVENT_LOG,
  type EventRef,
  eventObjectKeyOf,
  type HeldBackPartition,
  heldBackEventPartitions,
  type LoadedEvent,
  listEvents,
  listStrayEventObjects,
  NOTHING_TAKEN,
  parseEventObjectKey,
  readEvents,
  readTakenState,
  type TakenEvents,
  takenKeys,
  toRead,
  type UnreadableEvent,
  withTaken,
} from './event-log.ts';
import { parseIsoTimestamp } from './iso-timestamp.ts';
import { readCommittedSchema } from './lake-schema.ts';
import { dltLoadsKey, loadMarkerKey } from './layout.ts';
import { acquireLease, isLive, type Lease, type LeaseOwner, readLease } from './lease.ts';
import type { BatchManifest } from './load-batch.ts';
import { type NormalizeRouting, normalizeRecord } from './normalize.ts';
import type { PlanDoc } from './plan.ts';
import type { ObjectStore, PartReader, PartWriterFactory } from './ports.ts';
import { readJson, writeJson } from './store-json.ts';
import { TableSinks } from './table-sinks.ts';
import { retirementSettings, type TaskChecks } from './task-retirement.ts';
import { inferType } from './type-inference.ts';
import type { Clock, JsonObject } from './types.ts';
import { learnUsers, recordTaskChecks } from './user-registry.ts';

export const EVENTS_TABLE = 'webhook_events';

export const EVENT_CLAIMS = {
  committedKey: '_state/events/committed.json',
  claimsPrefix: '_state/events/claims/',
  pendingPrefix: '_state/events/pending/',
  /** Not a valid load id (load ids start with a letter or digit): never a real load's lease. */
  lockId: '_webhook_events',
  /**
   * The events' staged batch number: after any batch a plan can have (99,999 batches of 500
   * users are 50M users), so its part keys never collide with a user batch's.
   */
  batch: 99_999,
  /** A holder renews at least this often (claim, publish, commit point): a stalled one is taken over. */
  lockTtlMs: 15 * 60 * 1000,
  /**
   * A folded claim is kept this long after its claim, then pruned (see `pruneClaims`): a re-run
   * of its load id soon after (the common case: a commit retried) finds it at hand.
   */
  claimKeepMs: 2 * 24 * 3600 * 1000,
  /** How long a commit waits for another commit holding the lock before failing (retryable). */
  lockWaitMs: 5 * 60 * 1000,
  lockPollMs: 500,
  /** How often a waiting commit says again that it waits (`EventsLockOptions.onWait`). */
  lockNoticeMs: 30 * 1000,
} as const;

/** Declared columns of `webhook_events` (source names; dlt naming gives `event_time`, ...). */
export const EVENT_COLUMNS = {
  eventKey: 'text',
  eventType: 'text',
  eventTime: 'timestamp',
  eventTimeDefaulted: 'bool',
  eventTimeRaw: 'text',
  userId: 'text',
  taskId: 'text',
  taskIdProblem: 'text',
  status: 'text',
  failReason: 'text',
  receivedAt: 'timestamp',
  ceId: 'text',
} as const;

export const claimKey = (loadId: string) => `${EVENT_CLAIMS.claimsPrefix}${loadId}.json`;
export const pendingKey = (loadId: string) => `${EVENT_CLAIMS.pendingPrefix}${loadId}`;

/** One claimed event: where it is, who it is about, and whether this claim took it first. */
export interface ClaimedEvent extends EventRef {
  readonly identifier: string;
  readonly taskId: string | null;
  readonly eventTime: string;
  /** When the receiver stored it (absent in claims written before it was kept). */
  readonly receivedAt?: string;
  /** Taken by this claim (not by an earlier committed attempt of the same load id). */
  readonly fresh: boolean;
}

export interface EventClaim {
  readonly formatVersion: 1;
  readonly loadId: string;
  /** Identifies this claim: the load's report names it when the load commits with it. */
  readonly claimedAt: string;
  /** The date the events were listed on (partitions older than `EVENT_LOG.keepDays` before it close on fold). */
  readonly today: string;
  readonly events: readonly ClaimedEvent[];
  /** Copies of events already committed, stored again on another day: marked taken on fold. */
  readonly copies: readonly EventRef[];
  /** Events unreadable when claimed: kept aside on fold (event-log.ts), to be read again. */
  readonly aside?: readonly EventRef[];
  /**
   * A claim of a load id that claimed before (`claimEvents`): it took only that load's events,
   * not everything listed, so folding it closes no partition.
   */
  readonly final?: true;
  /**
   * What the load saw of its users' fetched task ids (task-retirement.ts): folded into the
   * registry with the claim, after its events received before the load started and before the
   * others (an event naming a retired id brings it back).
   */
  readonly tasks?: TaskChecks;
  /**
   * The oldest partition holding a new event this claim left (`EventsDeps.claimUsers`): folding
   * it closes no partition from there on, so the next claim lists that event again.
   */
  readonly keepOpenFrom?: string;
}

/** What the load's report (`_loads/<id>.json`) says about its events. */
export interface MarkerEvents {
  readonly claimedAt: string;
  readonly count: number;
  /**
   * Committed events whose task field named no task id (`webhook_events.task_id_problem` set;
   * webhook.ts `taskOf`): their users are loaded, no task is fetched for them. Absent in reports
   * written before it was counted.
   */
  readonly taskIdProblemEvents?: number;
  /** Stored event objects that could not be read: set aside, not in `webhook_events`. */
  readonly unreadable?: readonly UnreadableEventReport[];
}

export interface EventsLockOptions {
  readonly owner?: LeaseOwner;
  readonly ttlMs?: number;
  readonly waitMs?: number;
  readonly isAbandoned?: (owner: LeaseOwner) => boolean;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Told when the commit has to wait for the lock, and again every `lockNoticeMs` while it
   * waits: a sentence naming the holder and how long it may still wait (the CLI prints it, the
   * commit Lambda logs it), so a wait of minutes never looks like a hang.
   */
  readonly onWait?: (message: string) => void;
}

export interface EventsDeps {
  readonly store: ObjectStore;
  readonly parts: PartWriterFactory;
  readonly clock: Clock;
  readonly eventsLock?: EventsLockOptions;
  /** The load's own lease holder (host, pid, command): who the events lock names. */
  readonly loadOwner?: LeaseOwner;
  /** Reads a re-run's committed `webhook_events` rows when its claim was pruned. */
  readonly reader?: PartReader;
  /**
   * What the load saw of its task ids (task-retirement.ts): a load with some claims (and takes
   * the lock) even when no event is new, so its checks are folded after its commit point.
   */
  readonly tasks?: TaskChecks;
  /**
   * A capped `changed` load's users (changed-users.ts `claimUsers`): its first claim takes only
   * their new events; the other users' events stay in the pool for the run that loads them.
   * Undefined: every new event, whoever it names.
   */
  readonly claimUsers?: ReadonlySet<string>;
}

/** The events a commit holds: its claim, the lock, and the staged batch of their rows. */
export interface ClaimedBatch {
  readonly claim: EventClaim;
  readonly lock: Lease;
  /** Undefined when the claim holds no event (nothing to stage). */
  readonly manifest: BatchManifest | undefined;
  /** Stored events that could not be read: set aside (kept, not committed), for the report. */
  readonly unreadable: readonly UnreadableEventReport[];
  /** Staged events whose task field named no task id (`MarkerEvents.taskIdProblemEvents`). */
  readonly taskIdProblemEvents: number;
}

/** An event object set aside, as reports name it. */
export interface UnreadableEventReport {
  /** Its lake key, `_events/dt=.../<key>.json`. */
  readonly key: string;
  readonly problem: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function takeLock(loadId: string, deps: EventsDeps): Promise<Lease> {
  const options = deps.eventsLock ?? {};
  const base = options.owner ?? deps.loadOwner;
  const started = deps.clock().getTime();
  const waitMs = options.waitMs ?? EVENT_CLAIMS.lockWaitMs;
  let noticed: number | undefined;
  for (;;) {
    try {
      return await acquireLease(deps.store, EVENT_CLAIMS.lockId, {
        // The load id in the owner id: a re-run of this load's commit joins its own lock.
        owner: {
          ...(base ?? { kind: 'commit' }),
          id: `load ${loadId}${base === undefined ? '' : ` ${base.id}`}`,
        },
        ttlMs: options.ttlMs ?? EVENT_CLAIMS.lockTtlMs,
        clock: deps.clock,
        ...(options.isAbandoned === undefined ? {} : { isAbandoned: options.isAbandoned }),
      });
    } catch (error) {
      if (!(error instanceof LeaseHeldError)) throw error;
      const waited = deps.clock().getTime() - started;
      if (waited >= waitMs)
        throw new LakeStateError(
          `load ${loadId}: the webhook events lock (${EVENT_CLAIMS.lockId}) stayed held for ${Math.round(waitMs / 1000)} s by ${error.holder}; ` +
            'nothing of this load was committed: re-run it with the same load id once that commit is done (its staged batches are kept)',
          error,
        );
      if (noticed === undefined || waited - noticed >= EVENT_CLAIMS.lockNoticeMs) {
        noticed = waited;
        options.onWait?.(
          `load ${loadId}: waiting for the webhook events lock, held by another commit until its commit point: ${error.holder}; ` +
            `waiting up to ${Math.round((waitMs - waited) / 1000)} s more`,
        );
      }
      await (options.sleep ?? sleep)(EVENT_CLAIMS.lockPollMs);
    }
  }
}

/** Whether `loadId` is committed with exactly `claim` (its commit point and its report agree). */
async function committedWith(store: ObjectStore, claim: EventClaim): Promise<boolean> {
  // The report first: a role that may not read `_dlt_loads/` (the deployed plan, counting in
  // `committedEventsNow`) reads it only for a claim whose load wrote its report, rarely pending.
  const marker = await readJson<{ events?: MarkerEvents }>(store, loadMarkerKey(claim.loadId));
  if (marker?.events?.claimedAt !== claim.claimedAt) return false;
  return (await store.get(dltLoadsKey(claim.loadId))) !== undefined;
}

/**
 * Whether an event is committed, as the next commit will find it: taken in `committed.json`, in a
 * partition it closed (and not set aside), or in a pending claim whose load committed with it (a
 * load that died after its commit point: the next commit folds it). Read-only, no lock: what a
 * `changed` selection tells its events new to the lake from those another load committed. Costs
 * `committed.json`, one LIST of pending claims, and two or three GETs per pending claim (usually
 * none). A claim that cannot be checked (unreadable, or a read the role is denied) counts as not
 * committed: the count is for words, and the commit counts again (`markerChanged`).
 *
 * @throws LakeStateError when `committed.json` is damaged (`readCommittedEvents`).
 */
export async function committedEventsNow(store: ObjectStore): Promise<(event: EventRef) => boolean> {
  const state = (await readCommittedEvents(store)) ?? NOTHING_TAKEN;
  const keys = takenKeys(state);
  const aside = new Set(asideRefs(state).map((r) => r.key));
  for (const key of await store.list(EVENT_CLAIMS.pendingPrefix)) {
    // A claim that cannot be read is settled (or refused) by the next commit, not by a count.
    const claim = await readJson<EventClaim>(
      store,
      claimKey(key.slice(EVENT_CLAIMS.pendingPrefix.length)),
    ).catch(() => undefined);
    if (claim !== undefined && (await committedWith(store, claim).catch(() => false)))
      for (const event of claim.events) keys.add(event.key);
  }
  const from = state.from;
  return (event) => keys.has(event.key) || (from !== undefined && event.dt < from && !aside.has(event.key));
}

/** `committed.json` plus a claim its load committed with; the claim's users join the registry. */
async function fold(
  store: ObjectStore,
  state: CommittedEvents,
  claim: EventClaim,
  at: Date,
): Promise<CommittedEvents> {
  const fresh = claim.events.filter((e) => e.fresh);
  const folded = { ...(state.folded ?? (await foldedSoFar(store))), [claim.loadId]: claim.claimedAt };
  const next: CommittedEvents = {
    ...withTaken(state, [...fresh, ...claim.copies], claim.today, claim.aside ?? asideRefs(state), {
      close: claim.final !== true,
      keepOpenFrom: claim.keepOpenFrom,
    }),
    folded,
  };
  await writeJson(store, EVENT_CLAIMS.committedKey, next);
  // The load's task checks between its events: those received before the load started were
  // there when it fetched (learned first: an id it fetched is registered, and retires now if
  // its answer says so); those received since may be newer than its answer (learned after: an
  // event naming a task id the load retired wins, the id is fetched once more).
  const learn = (events: readonly ClaimedEvent[]) =>
    learnUsers(
      store,
      events.map((e) => ({ identifier: e.identifier, taskId: e.taskId, eventTime: e.eventTime })),
      at,
    );
  const startedAt = claim.tasks === undefined ? Number.NaN : Date.parse(claim.tasks.startedAt);
  const before = (e: ClaimedEvent) => e.receivedAt !== undefined && Date.parse(e.receivedAt) < startedAt;
  await learn(fresh.filter(before));
  if (claim.tasks !== undefined)
    await recordTaskChecks(
      store,
      claim.loadId,
      claim.tasks.users,
      retirementSettings(claim.tasks.retireAfterMisses),
      at,
    );
  await learn(fresh.filter((e) => !before(e)));
  return next;
}

/**
 * `committed.json`, or undefined before the first commit of an event. A damaged one stops every
 * load (each commit claims against it): deleting it is not a safe fix, as every stored event
 * would then be committed again.
 */
export function readCommittedEvents(store: ObjectStore): Promise<CommittedEvents | undefined> {
  return readTakenState<CommittedEvents>(
    store,
    EVENT_CLAIMS.committedKey,
    'the webhook events committed to webhook_events so far',
    'Restore it (an earlier S3 object version, or a backup); deleting it makes the next load commit every stored event again, duplicating their webhook_events rows (README, "Recovering a damaged state file")',
  );
}

/**
 * `committed.json`: the events committed (TakenEvents) and, per load id, the `claimedAt` of the
 * claim folded last (the index `pruneClaims` works from, so pruning needs no listing).
 */
export interface CommittedEvents extends TakenEvents {
  readonly folded?: Readonly<Record<string, string>>;
}

/**
 * The folded claims of a lake written before the index existed: every claim without a pending
 * marker. Read once; from then on the index is kept by each fold.
 */
async function foldedSoFar(store: ObjectStore): Promise<Record<string, string>> {
  const pending = new Set(
    (await store.list(EVENT_CLAIMS.pendingPrefix)).map((k) => k.slice(EVENT_CLAIMS.pendingPrefix.length)),
  );
  const out: Record<string, string> = {};
  for (const key of await store.list(EVENT_CLAIMS.claimsPrefix)) {
    const loadId = key.slice(EVENT_CLAIMS.claimsPrefix.length, -'.json'.length);
    if (pending.has(loadId)) continue;
    const claim = await readJson<EventClaim>(store, key).catch(() => undefined);
    if (claim !== undefined) out[loadId] = claim.claimedAt;
  }
  return out;
}

/**
 * Deletes the claims no run will read again, under the events lock. A claim is read only by its
 * pending settlement and by a run of its own load id (a re-run re-commits the events it holds).
 * So a claim is pruned once it is folded (in the index, no pending marker), was claimed more
 * than `claimKeepMs` ago, and no live lease holds its load id (no run of it in progress, which
 * covers every live load that could still read it). A later re-run of that id finds its events
 * in its own committed `webhook_events` rows instead (`committedEventsOf`).
 */
export async function pruneClaims(store: ObjectStore, now: Date): Promise<string[]> {
  const state: CommittedEvents = (await readCommittedEvents(store)) ?? NOTHING_TAKEN;
  const cutoff = now.getTime() - EVENT_CLAIMS.claimKeepMs;
  const pruned: string[] = [];
  for (const [loadId, claimedAt] of Object.entries(state.folded ?? {})) {
    if (!(Date.parse(claimedAt) < cutoff)) continue;
    if ((await store.get(pendingKey(loadId))) !== undefined) continue;
    const lease = await readLease(store, loadId).catch(() => undefined);
    if (lease !== undefined && isLive(lease, now)) continue;
    pruned.push(loadId);
  }
  if (pruned.length === 0) return [];
  await store.delete(pruned.map(claimKey));
  const folded = { ...state.folded };
  for (const loadId of pruned) delete folded[loadId];
  await writeJson(store, EVENT_CLAIMS.committedKey, { ...state, folded });
  return pruned;
}

/**
 * The events a committed load holds in its own `webhook_events` rows (its report lists their
 * files): a re-run's events when its claim was pruned. Each row's `received_at` names the
 * partition its event object is stored in (the receiver dates it by receipt).
 */
async function committedEventsOf(
  store: ObjectStore,
  loadId: string,
  reader: PartReader | undefined,
): Promise<EventRef[]> {
  // Only a committed load's rows are its own: a failed attempt's report and parts (published,
  // never committed) name events that went back to the pool and another load committed.
  if ((await store.get(dltLoadsKey(loadId))) === undefined) return [];
  const marker = await readJson<{ events?: MarkerEvents; files?: readonly { key: string; table: string }[] }>(
    store,
    loadMarkerKey(loadId),
  );
  const files = (marker?.files ?? []).filter((f) => f.table === EVENTS_TABLE);
  if (files.length === 0) return [];
  if (reader === undefined)
    throw new LakeStateError(
      `load ${loadId}: the claim of its webhook events was pruned and its committed rows cannot be read here; re-run it from the CLI or the commit Lambda`,
    );
  const refs: EventRef[] = [];
  for (const file of files)
    for (const row of await reader.readRows(store, file.key)) {
      const key = row.event_key;
      const received = row.received_at;
      if (typeof key !== 'string' || typeof received !== 'string')
        throw new LakeStateError(`lake ${file.key}: a webhook_events row without event_key or received_at`);
      refs.push({ dt: received.slice(0, 10), key });
    }
  return refs;
}

/** What `settlePending` leaves this load: the lake's committed events and this load's own. */
interface Settled {
  readonly state: CommittedEvents;
  /** The events this load holds already: committed by an earlier attempt, or claimed by `unsettled`. */
  readonly kept: ClaimedEvent[];
  /** This load's own claim, pending: its attempt died before its commit point. */
  readonly unsettled?: EventClaim;
  /** This load id claimed events before (a claim of it exists, or its committed rows hold events). */
  readonly claimedBefore?: boolean;
}

/**
 * Settles other loads' pending claims (see the file comment), and this load's own earlier one:
 * returns the events this load committed before (re-committed by this attempt), or, when its
 * own claim is still pending, that claim as it was.
 */
async function settlePending(
  store: ObjectStore,
  loadId: string,
  at: Date,
  reader: PartReader | undefined,
): Promise<Settled> {
  let state: CommittedEvents = (await readCommittedEvents(store)) ?? NOTHING_TAKEN;
  let unsettled: EventClaim | undefined;
  for (const key of await store.list(EVENT_CLAIMS.pendingPrefix)) {
    const other = key.slice(EVENT_CLAIMS.pendingPrefix.length);
    const claim = await readJson<EventClaim>(store, claimKey(other));
    if (claim !== undefined && (await committedWith(store, claim))) {
      state = await fold(store, state, claim, at);
    } else if (claim !== undefined && other === loadId) {
      // This load's own attempt died between its claim and its commit point, and no other
      // commit settled it since (its marker is still here): none of its events was committed by
      // anyone else, so this attempt commits exactly them again (no event received since).
      unsettled = claim;
      continue;
    } else if (claim !== undefined) {
      // Abandoned: its new events go back to the pool; what an earlier commit of that load
      // id holds stays its own (a re-run of it commits them again).
      const kept = claim.events.filter((e) => !e.fresh);
      if (kept.length === 0) await store.delete([claimKey(other)]);
      else {
        // Its task checks go too: that load never committed what it saw.
        const { aside: _aside, tasks: _tasks, ...rest } = claim;
        await writeJson(store, claimKey(other), { ...rest, events: kept, copies: [] });
        // Indexed, so pruning finds it: a re-run may never come.
        if (state.folded !== undefined) {
          state = { ...state, folded: { ...state.folded, [other]: claim.claimedAt } };
          await writeJson(store, EVENT_CLAIMS.committedKey, state);
        }
      }
    }
    await store.delete([key]);
  }
  if (unsettled !== undefined) return { state, kept: [...unsettled.events], unsettled };
  const mine = await readJson<EventClaim>(store, claimKey(loadId));
  if (mine !== undefined)
    return { state, kept: mine.events.map((e) => ({ ...e, fresh: false })), claimedBefore: true };
  // No claim: a first run, or a re-run of a load whose claim was pruned (its rows tell).
  const refs = await committedEventsOf(store, loadId, reader);
  const { events } = await readEvents(store, refs);
  return {
    state,
    claimedBefore: refs.length > 0,
    kept: events.map((e) => claimedOf(e, false)),
  };
}

/**
 * Claims this load's events and stages their rows (see the file comment). Returns undefined,
 * having written nothing, when there is nothing to claim and nothing to settle. The caller
 * holds the returned lock until after its commit point, then calls `finishClaim` (or, on
 * failure, `releaseClaim`).
 */
export async function claimEvents(plan: PlanDoc, deps: EventsDeps): Promise<ClaimedBatch | undefined> {
  const { store } = deps;
  const loadId = plan.loadId;
  const today = deps.clock().toISOString().slice(0, 10);
  // Without the lock first: a lake with nothing new pays its LISTs and a GET, and writes nothing.
  const peek = (await readCommittedEvents(store)) ?? NOTHING_TAKEN;
  const [listedEarly, pending, mine] = await Promise.all([
    listEvents(store, peek.from, today),
    store.list(EVENT_CLAIMS.pendingPrefix),
    store.get(claimKey(loadId)),
  ]);
  // A re-run of a load whose claim was pruned still holds events (its report counts them).
  const committedBefore = async () =>
    ((await readJson<{ events?: MarkerEvents }>(store, loadMarkerKey(loadId)))?.events?.count ?? 0) > 0;
  // Every listed event already recorded at its own partition (none new, no new copy): the
  // window's partitions stay listed for weeks, and an idle lake must not take the lock each
  // time. Events set aside in a closed partition are not listed: read again all the same.
  const recorded = new Set(Object.entries(peek.dts).flatMap(([dt, keys]) => keys.map((k) => `${dt}/${k}`)));
  if (
    listedEarly.every((r) => recorded.has(`${r.dt}/${r.key}`)) &&
    asideRefs(peek).length === 0 &&
    deps.tasks === undefined &&
    pending.length === 0 &&
    mine === undefined &&
    !(await committedBefore())
  )
    return undefined;

  const lock = await takeLock(loadId, deps);
  try {
    const now = deps.clock();
    const settled = await settlePending(store, loadId, now, deps.reader);
    const { state } = settled;
    // A load id's events are fixed by its first claim: a re-run of a committed load, or an
    // attempt after one that died past its claim, commits exactly the events that load holds,
    // never events received since (they would be committed under an older load id than loads
    // already committed, where a reader that follows load ids misses them). They wait for the
    // next load. A load that has a report but never claimed (it committed no event) takes none.
    const final =
      settled.unsettled !== undefined ||
      settled.claimedBefore === true ||
      (await store.get(loadMarkerKey(loadId))) !== undefined;
    const { claim, staged, aside, unreadableKept } = final
      ? await finalClaim(store, loadId, now, today, settled)
      : await newClaim(store, loadId, now, today, settled, deps.claimUsers);
    const withTasks: EventClaim = deps.tasks === undefined ? claim : { ...claim, tasks: deps.tasks };
    // Nothing to commit, and the set-aside events unchanged (none before, none now): no claim.
    if (
      withTasks.tasks === undefined &&
      withTasks.events.length === 0 &&
      withTasks.copies.length === 0 &&
      aside.length === 0 &&
      asideRefs(state).length === 0
    ) {
      await store.delete([claimKey(loadId), pendingKey(loadId)]);
      await lock.release();
      return undefined;
    }
    await writeJson(store, claimKey(loadId), withTasks);
    await store.put(pendingKey(loadId), '');
    const manifest = staged.length === 0 ? undefined : await stageEvents(plan, staged, deps);
    await lock.renew();
    const unreadable = [...aside, ...unreadableKept].map((u) => ({
      key: eventObjectKeyOf(u),
      problem: u.problem,
    }));
    // Counted from the rows staged, so the report says what `webhook_events` holds.
    const taskIdProblemEvents = staged.filter((e) => e.taskIdProblem !== null).length;
    return { claim: withTasks, lock, manifest, unreadable, taskIdProblemEvents };
  } catch (error) {
    await lock.release().catch(() => undefined);
    throw error;
  }
}

/** A claim as `claimEvents` writes it, the events to stage, and what could not be read. */
interface ClaimDraft {
  readonly claim: EventClaim;
  /** The claimed events read back, in receipt order: the rows of `webhook_events`. */
  readonly staged: readonly LoadedEvent[];
  /** Stored events set aside by this claim (reported). */
  readonly aside: readonly UnreadableEvent[];
  /** Events this load claimed before that cannot be read now (damaged since): reported, not staged. */
  readonly unreadableKept: readonly UnreadableEvent[];
}

const claimedOf = (e: LoadedEvent, fresh: boolean): ClaimedEvent => ({
  dt: e.dt,
  key: e.key,
  identifier: e.identifier,
  taskId: e.taskId,
  eventTime: e.eventTime,
  receivedAt: e.receivedAt,
  fresh,
});

/** A load's first claim: every event no load committed (it holds none yet: see `claimEvents`). */
async function newClaim(
  store: ObjectStore,
  loadId: string,
  now: Date,
  today: string,
  { state }: Settled,
  claimUsers: ReadonlySet<string> | undefined,
): Promise<ClaimDraft> {
  const listed = await listEvents(store, state.from, today);
  const committed = takenKeys(state);
  // The listed events no load committed, and those set aside before (read again: repaired?).
  const candidates = toRead(listed, state);
  const read = await readEvents(store, candidates);
  // A capped changed load takes its own users' events; the rest wait, their partitions open.
  const events =
    claimUsers === undefined ? read.events : read.events.filter((e) => claimUsers.has(e.identifier));
  const left = claimUsers === undefined ? [] : read.events.filter((e) => !claimUsers.has(e.identifier));
  const keepOpenFrom = left.reduce<string | undefined>(
    (a, e) => (a === undefined || e.dt < a ? e.dt : a),
    undefined,
  );
  const leftKeys = new Set(left.map((e) => e.key));
  const aside = read.unreadable.filter((u) => !u.gone);
  const freshKeys = new Set(events.map((e) => e.key));
  const inState = new Set(Object.entries(state.dts).flatMap(([dt, keys]) => keys.map((k) => `${dt}/${k}`)));
  const copies = listed.filter(
    (r) =>
      !freshKeys.has(r.key) &&
      !leftKeys.has(r.key) &&
      !inState.has(`${r.dt}/${r.key}`) &&
      committed.has(r.key),
  );
  return {
    claim: {
      formatVersion: 1,
      loadId,
      claimedAt: now.toISOString(),
      today,
      events: events.map((e) => claimedOf(e, true)),
      copies,
      aside: aside.map(({ dt, key }) => ({ dt, key })),
      ...(keepOpenFrom === undefined ? {} : { keepOpenFrom }),
    },
    staged: [...events].sort(byReceipt),
    aside,
    unreadableKept: [],
  };
}

/**
 * The claim of a load id that claimed before (see `claimEvents`): the same events, and nothing
 * listed since. It closes no partition (`final`: it did not take all it could list), and keeps
 * the lake's set-aside events aside (one readable now is taken by the next load, not this one).
 */
async function finalClaim(
  store: ObjectStore,
  loadId: string,
  now: Date,
  today: string,
  { state, kept, unsettled }: Settled,
): Promise<ClaimDraft> {
  const again = await readEvents(store, kept);
  // A pending event of its own that cannot be read now is not committed: set aside with the others.
  const ownAside = again.unreadable.filter((u) => !u.gone && kept.some((e) => e.fresh && e.key === u.key));
  const lost = new Set(again.unreadable.map((u) => u.key));
  const events = kept.filter((e) => !(e.fresh && lost.has(e.key)));
  // Set aside by the lake's earlier loads, and by this load's own pending claim (not folded yet).
  const asideBefore = [
    ...new Map([...asideRefs(state), ...(unsettled?.aside ?? [])].map((r) => [r.key, r])).values(),
  ];
  const earlier = await readEvents(store, asideBefore);
  const gone = new Set(earlier.unreadable.filter((u) => u.gone).map((u) => u.key));
  const aside = [...earlier.unreadable.filter((u) => !u.gone), ...ownAside];
  return {
    claim: {
      formatVersion: 1,
      loadId,
      claimedAt: now.toISOString(),
      today,
      final: true,
      events,
      copies: unsettled?.copies ?? [],
      aside: [
        ...asideBefore.filter((r) => !gone.has(r.key)),
        ...ownAside.map(({ dt, key }) => ({ dt, key })),
      ],
    },
    staged: again.events.sort(byReceipt),
    aside,
    unreadableKept: again.unreadable.filter((u) => !ownAside.includes(u)),
  };
}

/**
 * The stored events no load could commit because they cannot be read (event-log.ts): those not
 * committed yet (the open partitions' events a load would claim now) and those set aside. What
 * `verify` and `status` report; reads every uncommitted event once. Objects that are not named as
 * stored events are not among them: no load reads or sets them aside (`strayEventObjects`).
 */
export async function unreadableEvents(store: ObjectStore, today: string): Promise<UnreadableEventReport[]> {
  return (await unreadableEventsWithin(store, today, Number.POSITIVE_INFINITY)).found;
}

/** What `unreadableEventsWithin` found, and how much of the uncommitted events it read to find it. */
export interface UnreadableCheck {
  readonly found: UnreadableEventReport[];
  /** Event objects read (at most the limit). */
  readonly checked: number;
  /** Events not committed yet, and those set aside: what a full check reads. */
  readonly uncommitted: number;
}

/**
 * `unreadableEvents` reading at most `limit` objects (`status`: a backlog of 100k uncommitted
 * events would be 100k GETs on every call): the events set aside before first (the ones most
 * likely still unreadable), then the uncommitted ones in partition order. `verify` reads all.
 */
export async function unreadableEventsWithin(
  store: ObjectStore,
  today: string,
  limit: number,
): Promise<UnreadableCheck> {
  const state = (await readCommittedEvents(store)) ?? NOTHING_TAKEN;
  const listed = await listEvents(store, state.from, today);
  const refs = toRead(listed, state);
  const asideKeys = new Set(asideRefs(state).map((r) => r.key));
  const ordered = [...refs.filter((r) => asideKeys.has(r.key)), ...refs.filter((r) => !asideKeys.has(r.key))];
  const checked = ordered.slice(0, Math.max(0, limit));
  const { unreadable } = await readEvents(store, checked);
  return {
    found: unreadable
      .filter((u) => !u.gone)
      .map((u) => ({ key: eventObjectKeyOf(u), problem: u.problem }))
      .sort((a, b) => (a.key < b.key ? -1 : 1)),
    checked: checked.length,
    uncommitted: refs.length,
  };
}

/**
 * The objects of the open `_events/` partitions (every partition before the first load) that are
 * not named as the receiver names a stored event (`_events/dt=YYYY-MM-DD/<64 hex>.json`: its
 * digest), sorted: no load reads them, so they are not events set aside, only objects in the way,
 * put there by hand or renamed. What `verify` and `status` name, apart from the unreadable events.
 */
export async function strayEventObjects(store: ObjectStore, today: string): Promise<UnreadableEventReport[]> {
  const state = (await readCommittedEvents(store)) ?? NOTHING_TAKEN;
  return (await listStrayEventObjects(store, state.from, today)).sort().map((key) => ({
    key,
    problem: `lake ${key}: not named _events/dt=YYYY-MM-DD/<64 hex>.json as the receiver names a stored event (its digest), so no load reads it`,
  }));
}

/**
 * The `_events/` partitions dated past what loads list (event-log.ts `heldBackEventPartitions`),
 * once loads list by partition: before the first load committed events (no `from` yet) a load
 * lists all of `_events/` and takes them, so none is held back. What `verify` and `status` name.
 */
export async function heldBackEvents(store: ObjectStore, today: string): Promise<HeldBackPartition[]> {
  const state = await readCommittedEvents(store);
  if (state?.from === undefined || state.from > today) return [];
  return heldBackEventPartitions(store, today, takenKeys(state));
}

/**
 * Event objects no load will ever list: in a partition before `committed.json`'s `from` (closed:
 * loads list from there on, 35 days before the last fold; EVENT_LOG.keepDays) and held by no
 * committed load's `webhook_events` rows. Put there after the partition closed: restored from a
 * backup, moved back after a repair, a receiver clock more than 35 days behind. What `verify`
 * reports (it lists the whole lake anyway): `keys` is that listing. Reads the `event_key` of every
 * committed `webhook_events` row once the lake has a closed partition (older than the window),
 * about as much as the table holds (tens of MB a year at 1,000 events a day): a full check's cost,
 * never a load's.
 * Set-aside events are not here (loads read them again wherever they are).
 */
export async function eventsOutsideWindow(
  store: ObjectStore,
  keys: readonly string[],
  committedLoads: Iterable<string>,
  reader: PartReader,
  today: string,
): Promise<UnreadableEventReport[]> {
  const state = (await readCommittedEvents(store)) ?? NOTHING_TAKEN;
  const from = state.from;
  if (from === undefined) return [];
  const aside = new Set(asideRefs(state).map((r) => r.key));
  const closedDt = (key: string) => /^_events\/dt=(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1];
  const closed = keys.filter((key) => {
    const dt = closedDt(key);
    return dt !== undefined && dt < from;
  });
  if (closed.length === 0) return [];
  const held = new Set(takenKeys(state));
  let unread = 0;
  for (const loadId of committedLoads) {
    const marker = await readJson<{ files?: readonly { key: string; table: string }[] }>(
      store,
      loadMarkerKey(loadId),
    ).catch(() => undefined);
    for (const file of (marker?.files ?? []).filter((f) => f.table === EVENTS_TABLE)) {
      const rows = await reader.readRows(store, file.key).catch(() => undefined);
      if (rows === undefined) unread++;
      for (const row of rows ?? []) if (typeof row.event_key === 'string') held.add(row.event_key);
    }
  }
  const caveat =
    unread === 0 ? '' : ` (${unread} webhook_events part(s) could not be read to check: see unreadable_part)`;
  const out: UnreadableEventReport[] = [];
  for (const key of closed) {
    const ref = parseEventObjectKey(key);
    if (ref !== undefined && (held.has(ref.key) || aside.has(ref.key))) continue;
    const name = key.slice(key.lastIndexOf('/') + 1);
    out.push({
      key,
      problem:
        ref === undefined
          ? `lake ${key}: not named as a stored event, in a partition before ${from} that loads no longer list`
          : `lake ${key}: in a partition before ${from} (loads list the ${EVENT_LOG.keepDays} days before their last commit, and later), and no committed load holds it in webhook_events${caveat}: no load will take it; move it to _events/dt=${today}/${name} and the next load commits it`,
    });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

/**
 * `event_time` and `event_time_raw` of an event. An ISO-8601 time with digits below the
 * millisecond (`...:03.123456789Z`) is an instant all the same, but a Parquet millisecond
 * timestamp cannot hold it exactly, so the general rule (type-inference.ts) would leave
 * `event_time` null and put the text in `event_time__v_text`: the event would drop out of every
 * query ordered or filtered by time. Here `event_time` is that instant truncated to the
 * millisecond (never rounded: it never moves into the next millisecond), and the time as sent is
 * kept as JSON text in `event_time_raw`. Only the column changes: which events a load takes is
 * decided by receipt (event-log.ts), and the registry compares the parsed instants.
 */
function eventTimeCells(event: LoadedEvent): { eventTime: string; eventTimeRaw: string | null } {
  if (event.eventTimeDefaulted) return { eventTime: event.eventTime, eventTimeRaw: event.eventTimeRaw };
  const instant = parseIsoTimestamp(event.eventTime);
  if (instant === undefined || inferType(event.eventTime) === 'timestamp')
    return { eventTime: event.eventTime, eventTimeRaw: event.eventTimeRaw };
  return { eventTime: instant.toISOString(), eventTimeRaw: JSON.stringify(event.eventTime) };
}

/** A stored event as a record of `webhook_events`: its known fields, and `data` flattened like any record. */
export function eventRecord(event: LoadedEvent): JsonObject {
  return {
    eventKey: event.key,
    eventType: event.eventType,
    ...eventTimeCells(event),
    eventTimeDefaulted: event.eventTimeDefaulted,
    userId: event.userId,
    taskId: event.taskId,
    taskIdProblem: event.taskIdProblem,
    status: event.status,
    failReason: event.failReason,
    receivedAt: event.receivedAt,
    ceId: event.ceId,
    data: event.data,
  };
}

/**
 * How `webhook_events` rows are normalized: from the event alone, never from what the lake
 * remembers (README, "Webhook events' data"). API tables follow the lake's memory: a path once
 * kept as JSON stays JSON, so a map keyed by data does not grow a column per key again. Events
 * are not one resource's records but facts of many kinds, each its own: one event whose `data`
 * is keyed by ids (or has over 256 keys) would otherwise make every later event's `data` one
 * JSON text column, and `data__status` would stay null for all of them. So each event's objects
 * are flattened or kept as JSON by their own keys and depth (`WIDE_OBJECT_KEYS`, data-like keys,
 * `MAX_NESTING_DEPTH`), and a wide object in a list keeps none of its fields in columns (it
 * cannot know the lake's): the same bytes always give the same rows.
 */
const EVENT_ROUTING: NormalizeRouting = { isJsonPath: () => false, hasField: () => false };

/** The events' rows, typed from the committed registry and staged as batch `EVENT_CLAIMS.batch`. */
async function stageEvents(
  plan: PlanDoc,
  events: readonly LoadedEvent[],
  deps: EventsDeps,
): Promise<BatchManifest> {
  const registry = await readCommittedSchema(deps.store);
  registry.declareResource(EVENTS_TABLE, EVENT_COLUMNS);
  const routing = EVENT_ROUTING;
  const batch = EVENT_CLAIMS.batch;
  const sinks = new TableSinks(
    { store: deps.store, parts: deps.parts, registry },
    { loadId: plan.loadId, batch },
  );
  const rowsByTable: Record<string, number> = {};
  try {
    for (const event of events) {
      const rows = normalizeRecord(eventRecord(event), {
        table: EVENTS_TABLE,
        loadId: plan.loadId,
        userIdentifier: event.identifier,
        rootKey: event.key,
        routing,
      }).map(({ table: key, row: raw }) => {
        const { table, row } = registry.typeRow(key, raw);
        rowsByTable[table] = (rowsByTable[table] ?? 0) + 1;
        return { table, dt: plan.dt, row };
      });
      await sinks.write(rows);
    }
    await sinks.seal();
    const files = await sinks.close();
    return {
      formatVersion: 1,
      loadId: plan.loadId,
      batch,
      dt: plan.dt,
      users: 0,
      failedUsers: [],
      deadlineSkipped: 0,
      files,
      rowsByTable,
      requests: 0,
      schema: registry.toJSON(),
      endpointFindings: [],
    };
  } catch (error) {
    await sinks.abort();
    throw error;
  }
}

/** After the commit point: the claim joins `committed.json` and the registry; the lock is released. */
export async function finishClaim(claimed: ClaimedBatch, deps: EventsDeps): Promise<void> {
  const { store } = deps;
  const state: CommittedEvents = (await readCommittedEvents(store)) ?? NOTHING_TAKEN;
  await fold(store, state, claimed.claim, deps.clock());
  await store.delete([pendingKey(claimed.claim.loadId)]);
  // Still under the lock: no other commit folds or settles meanwhile. Pruning is housekeeping:
  // a failure leaves the claims for the next commit.
  await pruneClaims(store, deps.clock()).catch(() => undefined);
  await claimed.lock.release();
}

/**
 * A commit that failed before its commit point gives the lock up at once (the next holder
 * settles its pending claim as abandoned) instead of blocking other commits until the ttl.
 */
export async function releaseClaim(claimed: ClaimedBatch): Promise<void> {
  await claimed.lock.release().catch(() => undefined);
}

/** For the load report and `_dlt_loads`: which claim the load commits with. */
export function markerEvents(claimed: ClaimedBatch | undefined): MarkerEvents | undefined {
  return claimed === undefined
    ? undefined
    : {
        claimedAt: claimed.claim.claimedAt,
        count: claimed.claim.events.length,
        taskIdProblemEvents: claimed.taskIdProblemEvents,
        ...(claimed.unreadable.length === 0 ? {} : { unreadable: claimed.unreadable }),
      };
}
