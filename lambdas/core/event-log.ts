/**
 * The stored webhook events (`_events/dt=<received UTC date>/<event key>.json`, written by the
 * receiver, lambdas/core/webhook.ts) read back: which exist, what each says, and sets of event
 * keys that a consumer (the `webhook_events` table, a `changed` schedule) has taken.
 *
 * Why sets of keys and not a time cursor: an event's object becomes visible when its PUT
 * completes, which can be after an event received later was already listed. A cursor on
 * receipt time would skip it; a set difference ("listed now" minus "taken") cannot.
 *
 * Why the sets cover `EVENT_LOG.keepDays` (35) days and not only the day in progress:
 *  - a replay (Atomic replays by date range) or any re-delivery on a later day is stored again,
 *    in that day's partition, under the same key (the body's digest): its key is still in the
 *    set, so it counts as taken (a copy) and is not committed or loaded a second time;
 *  - an object can land in a partition whose day is over (a receiver clock behind the loader's,
 *    a PUT in flight at midnight, an object restored from a backup): every partition of the
 *    window is listed again by every consumer run, so it is taken then, not skipped for good.
 * Partitions older than the window are closed (`from` moves past them) and their keys dropped:
 * a replay of an event received more than 35 days before is taken again, and an object put
 * into a closed partition is not listed by any load (`verify` reports it when no committed load
 * holds it: event-claims.ts `eventsOutsideWindow`). The window runs from the consumer's last
 * fold, not from today: a long gap between runs lists every partition since, none is skipped. Cost: one LIST
 * per partition of the window per run (in parallel), and about 70 bytes of state per event kept.
 *
 * An object under `_events/` that is not one of our events (not JSON, truncated, another shape,
 * a user identifier or task id the receiver refuses, a name that is not the event key stored in
 * it: edited, damaged or copied by hand) is set aside, never a reason to fail: it is not taken (a repaired
 * object is loaded later), its key is kept in `aside` (so it is read again even after its
 * partition closes), loads report it, and `verify` / `status` name it. The object stays.
 */
import { stringify } from 'lossless-json';
import { LakeStateError } from './errors.ts';
import { nestedDeeperThan, parseJsonBody } from './json-body.ts';
import { NumberLiteral } from './number-literal.ts';
import { isSafePathSegment } from './path-segment.ts';
import { forEachConcurrent } from './pool.ts';
import { listAfter, type ObjectStore } from './ports.ts';
import type { JsonObject } from './types.ts';
import { isLoadableEventIdentifier, taskOf, WEBHOOK } from './webhook.ts';

/** One stored event object. */
export interface EventRef {
  /** The received date partition, `YYYY-MM-DD`. */
  readonly dt: string;
  /** The event key (64 hex, webhook.ts `eventKey`): its identity. */
  readonly key: string;
}

/** An event as the loader uses it: who, what, when, and the raw `data`. */
export interface LoadedEvent extends EventRef {
  readonly receivedAt: string;
  readonly eventType: string;
  /** Atomic's `eventTime` when it is non-empty text; otherwise `receivedAt` (`eventTimeDefaulted`). */
  readonly eventTime: string;
  /** `eventTime` is `receivedAt` because the event's own was missing or not non-empty text. */
  readonly eventTimeDefaulted: boolean;
  /**
   * The event's own `eventTime` as JSON text when it was sent but not non-empty text (`12345`,
   * `{"at":...}`, `""`, `null`): kept, not lost to the default. Null when it was text or absent.
   */
  readonly eventTimeRaw: string | null;
  readonly identifier: string;
  /** Atomic's user `_id`, when the event carries it. */
  readonly userId: string | null;
  /** The task the event is about (task-* events), when it names one. */
  readonly taskId: string | null;
  /** `data.status`, or the task object's `status` when the task id came from one (`taskOf`). */
  readonly status: string | null;
  /** Why a task field named no task id (`taskOf`): the event is loaded, this says what was odd. */
  readonly taskIdProblem: string | null;
  /** Read where `status` was (`taskOf`): the task object's `failReason`, else `data.failReason`. */
  readonly failReason: string | null;
  readonly ceId: string | null;
  readonly data: JsonObject;
}

/** How the event readers go, as data. */
export const EVENT_LOG = {
  /** Event objects read at once (S3 GETs are latency-bound). */
  readConcurrency: 16,
  /**
   * Days a partition stays open (listed again, its taken keys kept) after its own day: a
   * re-delivery within them is recognised by its key, and an object that lands late in a
   * partition is still taken (see the file comment). Five weeks covers a replay of "last month".
   */
  keepDays: 35,
  /** Partitions listed at once (one LIST each). */
  listConcurrency: 8,
} as const;

const EVENT_KEY = /^_events\/dt=(\d{4}-\d{2}-\d{2})\/([0-9a-f]{64})\.json$/;

export function parseEventObjectKey(key: string): EventRef | undefined {
  const m = EVENT_KEY.exec(key);
  return m ? { dt: m[1]!, key: m[2]! } : undefined;
}

export function eventObjectKeyOf(ref: EventRef): string {
  return `${WEBHOOK.eventsPrefix}dt=${ref.dt}/${ref.key}.json`;
}

/** `YYYY-MM-DD` plus `days` (negative: before). */
export function addDays(dt: string, days: number): string {
  const at = new Date(`${dt}T00:00:00.000Z`);
  at.setUTCDate(at.getUTCDate() + days);
  return at.toISOString().slice(0, 10);
}

/**
 * Every stored event in partitions `from` .. `today` (all partitions when `from` is undefined),
 * in partition then key order. One LIST per partition day: the cost follows the open days, not
 * the lake's age. A partition dated after `today` (a receiver clock ahead) is listed too.
 */
export async function listEvents(
  store: ObjectStore,
  from: string | undefined,
  today: string,
): Promise<EventRef[]> {
  const refs: EventRef[] = [];
  for (const key of await listEventKeys(store, from, today)) {
    const ref = parseEventObjectKey(key);
    if (ref !== undefined && (from === undefined || ref.dt >= from)) refs.push(ref);
  }
  return refs;
}

/**
 * The objects under `_events/` listed as `listEvents` lists them that are not named as the
 * receiver names a stored event (`_events/dt=YYYY-MM-DD/<64 hex>.json`): no load reads them, so
 * they are reported (`verify`, `status`) instead of being passed over in silence. Put there by
 * hand, or renamed: a stored event's name is its digest.
 */
export async function listStrayEventObjects(
  store: ObjectStore,
  from: string | undefined,
  today: string,
): Promise<string[]> {
  return (await listEventKeys(store, from, today)).filter((key) => parseEventObjectKey(key) === undefined);
}

/**
 * Days past today that loads list (`listEventKeys`): an event received just after midnight by a
 * receiver whose clock runs a little ahead is in tomorrow's partition, and is taken. A partition
 * dated later is not listed (listing every future day would cost a LIST each): its objects wait.
 */
export const LISTED_DAYS_AHEAD = 1;

/** A partition dated beyond what loads list (`LISTED_DAYS_AHEAD`): its objects are held back. */
export interface HeldBackPartition {
  /** The partition's date, `YYYY-MM-DD`. */
  readonly dt: string;
  /** Objects in it (every object, event or not). */
  readonly objects: number;
  /** The first day (UTC) a load lists it: `LISTED_DAYS_AHEAD` days before `dt`. */
  readonly listedFrom: string;
}

const PARTITION_OF = /^_events\/dt=(\d{4}-\d{2}-\d{2})\//;

/**
 * The `_events/` partitions dated after `today` + `LISTED_DAYS_AHEAD`, with their object counts:
 * no load lists them until then, so their events wait in silence unless reported (`verify`,
 * `status`). One LIST on S3 whatever the lake holds: it starts after the last partition loads
 * list (`StartAfter`), so it returns only the objects past it (none, normally). The start key
 * is that partition's prefix with `0` for its `/`: `0` sorts just after `/`, so every key of
 * that day is before it and every later day's after it. Events already taken (`taken`) are not
 * counted: a load that listed all of `_events/` (the first) committed them, and none loads them again.
 */
export async function heldBackEventPartitions(
  store: ObjectStore,
  today: string,
  /** Event keys a consumer has taken already (a load before loads listed by partition): not waiting. */
  taken: ReadonlySet<string> = new Set(),
): Promise<HeldBackPartition[]> {
  const lastListed = addDays(today, LISTED_DAYS_AHEAD);
  const keys = await listAfter(store, WEBHOOK.eventsPrefix, `${WEBHOOK.eventsPrefix}dt=${lastListed}0`);
  const counts = new Map<string, number>();
  for (const key of keys) {
    const dt = PARTITION_OF.exec(key)?.[1];
    const event = parseEventObjectKey(key);
    if (dt === undefined || dt <= lastListed || (event !== undefined && taken.has(event.key))) continue;
    counts.set(dt, (counts.get(dt) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([dt, objects]) => ({ dt, objects, listedFrom: addDays(dt, -LISTED_DAYS_AHEAD) }));
}

/** One line on held-back partitions, with what to do (`status`' warning, `verify`'s finding). */
export function heldBackWords(partitions: readonly HeldBackPartition[], today: string): string {
  const objects = partitions.reduce((n, p) => n + p.objects, 0);
  const listed = partitions
    .slice(0, 10)
    .map((p) => `dt=${p.dt} (${p.objects}, held back until ${p.listedFrom})`)
    .join(', ');
  return (
    `${objects} object(s) under _events/ are in partitions dated more than a day after today (${today}, UTC): ` +
    `${listed}${partitions.length > 10 ? `, ... and ${partitions.length - 10} more partition(s)` : ''}. ` +
    `Loads list partitions up to tomorrow only, so no load takes them before the day before their date. ` +
    `A partition's date is the receiver's UTC date of receipt: if the receiver's clock is ahead, correct it; ` +
    `an object copied there by hand can be moved, under the same name, to _events/dt=${today}/ for the next load to take`
  );
}

/** Every object key of partitions `from` .. `today` + 1 (everything under `_events/` when `from` is undefined or later). */
async function listEventKeys(store: ObjectStore, from: string | undefined, today: string): Promise<string[]> {
  if (from === undefined || from > today) return store.list(WEBHOOK.eventsPrefix);
  const days: string[] = [];
  for (let dt = from; dt <= addDays(today, LISTED_DAYS_AHEAD); dt = addDays(dt, 1)) days.push(dt);
  const listings: string[][] = new Array(days.length);
  await forEachConcurrent(days, EVENT_LOG.listConcurrency, async (dt, index) => {
    listings[index] = await store.list(`${WEBHOOK.eventsPrefix}dt=${dt}/`);
  });
  return listings.flat();
}

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
// A NumberLiteral (json-body.ts) is a class instance, not an object of the event.
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof NumberLiteral);

/** A value for a message: JSON-quoted (control characters escaped), at most 64 characters of it. */
const quoted = (value: string) => JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);

/**
 * A value as JSON text: a bigint or a NumberLiteral as the body spelled it (lossless-json), a
 * NaN / Infinity token (not JSON; only an object edited by hand has one) as its string.
 */
function rawJson(value: unknown): string | null {
  const tokens = (_key: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);
  return stringify(value, tokens) ?? null;
}

/**
 * The stored document as a LoadedEvent; throws LakeStateError naming the key when it is not one
 * of ours. Parsed like an API body (json-body.ts), so the README's number policy holds for
 * `webhook_events` too: `12345678901234567890123` in `data` keeps its digits (a bigint, stored
 * in a `__v_text` variant or as spelled in JSON text), never a rounded double.
 */
export function parseStoredEvent(ref: EventRef, bytes: Uint8Array): LoadedEvent {
  const where = eventObjectKeyOf(ref);
  let doc: unknown;
  const raw = new TextDecoder().decode(bytes);
  // The stored document holds the body one level down (webhook.ts storedDocument).
  if (nestedDeeperThan(raw, WEBHOOK.maxNestingDepth + 1))
    throw new LakeStateError(
      `lake ${where}: nested deeper than the ${WEBHOOK.maxNestingDepth} levels the receiver accepts: its values could not be encoded`,
    );
  try {
    doc = parseJsonBody(raw);
  } catch (error) {
    throw new LakeStateError(`lake ${where}: not valid JSON (was it edited by hand?)`, error);
  }
  const event = isObject(doc) && isObject(doc.event) ? doc.event : undefined;
  const user = event !== undefined && isObject(event.user) ? event.user : undefined;
  const identifier = text(user?.identifier);
  if (!isObject(doc) || event === undefined || identifier === null || text(doc.receivedAt) === null)
    throw new LakeStateError(
      `lake ${where}: not a stored webhook event (no event.user.identifier or receivedAt)`,
    );
  // What the receiver refuses (webhook.ts) is not one of its events: an object put here by
  // hand (or stored before the receiver checked) whose user or task could never be loaded is
  // set aside and reported, not committed with its user silently left out.
  if (!isLoadableEventIdentifier(identifier))
    throw new LakeStateError(
      `lake ${where}: event.user.identifier ${quoted(identifier)} is one the receiver refuses (blank, a control character, over 1,024 characters, or '.' / '..'): its user cannot be loaded`,
    );
  const { taskId, status, problem: taskIdProblem, failReason } = taskOf(event);
  if (taskId !== null && !isSafePathSegment(taskId))
    throw new LakeStateError(
      `lake ${where}: the event's task id ${quoted(taskId)} is one the receiver refuses ('.' or '..': it would not stay one path segment of /task/{id}/details)`,
    );
  // The name is the event's identity (taken sets, copies across days): an object whose name is
  // not the key stored in it (an event copied under another name by hand) would be committed a
  // second time under that name. Set aside like any other hand edit; `verify` / `status` name it.
  if (doc.eventKey !== ref.key)
    throw new LakeStateError(
      `lake ${where}: its name is not the event key stored in it (eventKey ${typeof doc.eventKey === 'string' ? quoted(doc.eventKey) : 'missing'}): a copy of an event under another name, or edited by hand: not loaded (an event is loaded from the object its eventKey names)`,
    );
  const data = isObject(event.data) ? (event.data as JsonObject) : {};
  const cloudEvent = isObject(doc.cloudEvent) ? doc.cloudEvent : {};
  const sentTime = text(event.eventTime);
  return {
    ...ref,
    receivedAt: doc.receivedAt as string,
    eventType: text(event.eventType) ?? 'unknown',
    eventTime: sentTime ?? (doc.receivedAt as string),
    eventTimeDefaulted: sentTime === null,
    eventTimeRaw: sentTime === null && 'eventTime' in event ? rawJson(event.eventTime) : null,
    identifier,
    userId: text(user?._id),
    taskId,
    status,
    taskIdProblem,
    failReason,
    ceId: text(cloudEvent.id),
    data,
  };
}

/** A stored event that could not be read as one: set aside (kept, reported), never loaded as is. */
export interface UnreadableEvent extends EventRef {
  /** What is wrong, naming the object's key (`lake _events/dt=.../<key>.json: not valid JSON ...`). */
  readonly problem: string;
  /** The object was gone when read (removed by hand, say): nothing left to set aside. */
  readonly gone: boolean;
}

/** Events read back: the readable ones in `refs`' order, and the ones set aside. */
export interface ReadEvents {
  readonly events: LoadedEvent[];
  readonly unreadable: UnreadableEvent[];
}

/**
 * Reads the events, `EVENT_LOG.readConcurrency` at a time. An object that is not one of our
 * events (not JSON, truncated, another shape) or is gone is returned in `unreadable`, not
 * thrown: one damaged object must not fail every load of the lake. A store failure still throws.
 */
export async function readEvents(store: ObjectStore, refs: readonly EventRef[]): Promise<ReadEvents> {
  const out: (LoadedEvent | UnreadableEvent)[] = new Array(refs.length);
  await forEachConcurrent(refs, EVENT_LOG.readConcurrency, async (ref, index) => {
    const bytes = await store.get(eventObjectKeyOf(ref));
    if (bytes === undefined) {
      out[index] = { ...ref, problem: `lake ${eventObjectKeyOf(ref)}: listed but gone`, gone: true };
      return;
    }
    try {
      out[index] = parseStoredEvent(ref, bytes);
    } catch (error) {
      if (!(error instanceof LakeStateError)) throw error;
      out[index] = { ...ref, problem: error.message, gone: false };
    }
  });
  const events: LoadedEvent[] = [];
  const unreadable: UnreadableEvent[] = [];
  for (const item of out) {
    if ('problem' in item) unreadable.push(item);
    else events.push(item);
  }
  return { events, unreadable };
}

/**
 * Receipt order, then the key: the order events are told in (rows, logs). Event time orders the
 * events of one user or task among themselves (Atomic's clock; retries and replays arrive late).
 */
export function byReceipt(a: LoadedEvent, b: LoadedEvent): number {
  if (a.receivedAt !== b.receivedAt) return a.receivedAt < b.receivedAt ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * Event keys a consumer has taken. `from`: partitions before it are closed (every event in them
 * taken); `dts`: the taken keys of each open partition, sorted.
 */
export interface TakenEvents {
  readonly formatVersion: 1;
  readonly from?: string;
  readonly dts: Readonly<Record<string, readonly string[]>>;
  /**
   * Events set aside, per partition: stored but unreadable when last read (readEvents). Not
   * taken, so a repaired object is loaded then; kept here, so closing their partition does not
   * forget them. Read again by every consumer run (a GET each) until readable or removed.
   */
  readonly aside?: Readonly<Record<string, readonly string[]>>;
}

export const NOTHING_TAKEN: TakenEvents = { formatVersion: 1, dts: {} };

const isKeyLists = (value: unknown): boolean =>
  isObject(value) &&
  Object.values(value).every((keys) => Array.isArray(keys) && keys.every((k) => typeof k === 'string'));

/**
 * A state file of taken events (`_state/events/committed.json`, `_state/changed/<schedule>.json`)
 * read back, or undefined when there is none. One that is not JSON (cut short, edited by hand) or
 * not of that shape stops every consumer: a LakeStateError naming the file as the lake's state,
 * `what` it records and `recovery`, what to do about it (README, "Recovering a damaged state
 * file"), so the message does not read as a bad `--dest`.
 */
export async function readTakenState<T extends TakenEvents>(
  store: ObjectStore,
  key: string,
  what: string,
  recovery: string,
): Promise<T | undefined> {
  const bytes = await store.get(key);
  if (bytes === undefined) return undefined;
  let doc: unknown;
  let problem: string | undefined;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    problem = 'not valid JSON (cut short, or edited by hand?)';
  }
  if (
    problem === undefined &&
    !(
      isObject(doc) &&
      doc.formatVersion === 1 &&
      isKeyLists(doc.dts) &&
      (doc.aside === undefined || isKeyLists(doc.aside))
    )
  )
    problem = 'not of its shape ({"formatVersion": 1, "dts": {...}}: edited by hand?)';
  if (problem !== undefined)
    throw new LakeStateError(
      `lake ${key}: the state file ${key} (${what}) is damaged: ${problem}. ${recovery}`,
    );
  return doc as T;
}

export function takenKeys(taken: TakenEvents): Set<string> {
  return new Set(Object.values(taken.dts).flat());
}

/** The events `taken` set aside, to read again. */
export function asideRefs(taken: TakenEvents): EventRef[] {
  return Object.entries(taken.aside ?? {}).flatMap(([dt, keys]) => keys.map((key) => ({ dt, key })));
}

/**
 * What a consumer reads this run: the listed events not taken, then the ones set aside before
 * (those in a closed partition are not listed), one per key (see `untaken`).
 */
export function toRead(
  listed: readonly EventRef[],
  taken: TakenEvents,
  alsoTaken: Iterable<string> = [],
): EventRef[] {
  return untaken([...listed, ...asideRefs(taken)], new Set([...takenKeys(taken), ...alsoTaken]));
}

/**
 * The events listed that are not taken, one per key: the same event stored twice (a replay on
 * another day) counts once, at its first partition. Keeps `refs`' order.
 */
export function untaken(refs: readonly EventRef[], taken: ReadonlySet<string>): EventRef[] {
  const seen = new Set(taken);
  const out: EventRef[] = [];
  for (const ref of refs) {
    if (seen.has(ref.key)) continue;
    seen.add(ref.key);
    out.push(ref);
  }
  return out;
}

/**
 * `taken` plus `listed`, with the partitions before `today - keepDays` closed. `listed` is
 * everything the consumer listed from `taken.from` (copies of one event included: a later copy
 * must stay known as taken), all of which it took; that is what makes closing them safe.
 */
export function withTaken(
  taken: TakenEvents,
  listed: readonly EventRef[],
  today: string,
  /** The events set aside by this run (it read every earlier one again): replaces `taken.aside`. */
  aside: readonly EventRef[] = asideRefs(taken),
  /**
   * Close the partitions before `today - keepDays` (the default). False for a consumer that did
   * not take everything it could list (a re-run's claim): an event left in such a partition
   * would otherwise never be listed again.
   */
  {
    close = true,
    keepOpenFrom,
  }: {
    close?: boolean;
    /**
     * The oldest partition holding an event the consumer listed but left for its next run (a
     * capped `changed` run's deferred users, changed-users.ts): no partition from it on closes,
     * so the next run lists it again and `verify` never calls it unclaimed.
     */
    keepOpenFrom?: string | undefined;
  } = {},
): TakenEvents {
  const dts = new Map<string, Set<string>>(
    Object.entries(taken.dts).map(([dt, keys]) => [dt, new Set(keys)]),
  );
  for (const ref of listed) {
    if (taken.from !== undefined && ref.dt < taken.from) continue;
    const keys = dts.get(ref.dt) ?? new Set<string>();
    keys.add(ref.key);
    dts.set(ref.dt, keys);
  }
  const closeBefore = addDays(today, -EVENT_LOG.keepDays);
  const from = !close
    ? taken.from
    : keepOpenFrom !== undefined && keepOpenFrom < closeBefore
      ? keepOpenFrom
      : closeBefore;
  const kept: Record<string, string[]> = {};
  for (const [dt, keys] of [...dts].sort(([a], [b]) => (a < b ? -1 : 1)))
    if (from === undefined || dt >= from) kept[dt] = [...keys].sort();
  const next = taken.from !== undefined && (from === undefined || taken.from > from) ? taken.from : from;
  const takenNow = new Set([...Object.values(kept).flat(), ...listed.map((r) => r.key)]);
  const asideByDt: Record<string, string[]> = {};
  for (const ref of aside)
    if (!takenNow.has(ref.key))
      asideByDt[ref.dt] = [...new Set([...(asideByDt[ref.dt] ?? []), ref.key])].sort();
  const sortedAside = Object.fromEntries(Object.entries(asideByDt).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    formatVersion: 1,
    ...(next === undefined ? {} : { from: next }),
    dts: kept,
    ...(Object.keys(sortedAside).length === 0 ? {} : { aside: sortedAside }),
  };
}
