/**
 * A lease per load id: at most one run writes a load id at a time. Two runs of one id would
 * otherwise interleave their staged parts and publish each other's half (one claiming users the
 * lake does not hold, or rows twice).
 *
 * Layout: `_leases/<load_id>/<seq>.json`, one object per generation, each created with a
 * create-only write (`ObjectStore.putIfAbsent`: `If-None-Match: *` on S3, an exclusive create
 * on disk). The newest generation is the lease. Taking it:
 *  - no generation, or the newest released (deleted) → create generation 1 (or next);
 *  - the newest held by someone else and not expired → refused with `LeaseHeldError`, naming
 *    the holder (owner, host, pid, command, since, last heartbeat, expiry);
 *  - the newest expired (its holder stopped renewing: crashed, killed, lost its machine), or
 *    known abandoned (`isAbandoned`: a CLI on this host whose process is gone) → create the
 *    next generation. Two runs taking over at once race on that one create: one wins.
 *  - held by the same owner id (a Step Functions execution redriven, the same id on every
 *    Lambda of one execution) → joined, not refused.
 * The holder renews (`renew`, a heartbeat) before `ttlMs` runs out; `renew` first checks the
 * newest generation is still its own, so a holder that stalled past its expiry and was taken
 * over finds out at its next renewal (`LeaseLostError`) and stops before publishing. The commit
 * renews right before it publishes and right before its commit point: a stall longer than the
 * ttl between those checks and the write is the window a lease without fencing tokens leaves.
 * Releasing deletes the generation: a lake at rest has no `_leases/` objects.
 */
import { LeaseHeldError, LeaseLostError } from './errors.ts';
import { leaseKey, leasePrefix, parseLeaseKey } from './layout.ts';
import type { ObjectStore } from './ports.ts';
import { readJson, writeJson } from './store-json.ts';
import type { Clock } from './types.ts';

/** Who writes: enough for an operator to find the process or execution. */
export interface LeaseOwner {
  /** Unique per run: a random id for a CLI run, the execution ARN for Step Functions. */
  readonly id: string;
  /** `cli` or `step-functions`. */
  readonly kind: string;
  readonly host?: string;
  readonly pid?: number;
  /** What was run (`paylink-loader load ...` without secrets, or the state machine). */
  readonly command?: string;
}

export interface LeaseDoc {
  readonly formatVersion: 1;
  readonly loadId: string;
  readonly seq: number;
  readonly owner: LeaseOwner;
  readonly acquiredAt: string;
  readonly renewedAt: string;
  readonly expiresAt: string;
}

export interface LeaseOptions {
  readonly owner: LeaseOwner;
  /** How long the lease lives without a renewal, ms. Renew at least every ttlMs / 3. */
  readonly ttlMs: number;
  readonly clock: Clock;
  /** True when the holder is known dead before its lease expires (a CLI process gone on this host). */
  readonly isAbandoned?: (owner: LeaseOwner) => boolean;
}

/** Create races lost before giving up: each loss means another run just took the lease. */
const ACQUIRE_ATTEMPTS = 5;

export class Lease {
  #lost: string | undefined;
  #doc: LeaseDoc;
  readonly #store: ObjectStore;
  readonly #options: LeaseOptions;

  constructor(store: ObjectStore, doc: LeaseDoc, options: LeaseOptions) {
    this.#store = store;
    this.#doc = doc;
    this.#options = options;
  }

  get loadId(): string {
    return this.#doc.loadId;
  }
  get doc(): LeaseDoc {
    return this.#doc;
  }

  /**
   * Extends the lease by `ttlMs` from now. Throws `LeaseLostError` when another run holds the
   * load id now (this run's lease expired and was taken over), or when the lease was released.
   */
  async renew(): Promise<void> {
    await this.assertHeld();
    const now = this.#options.clock();
    this.#doc = {
      ...this.#doc,
      renewedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.#options.ttlMs).toISOString(),
    };
    await writeJson(this.#store, leaseKey(this.#doc.loadId, this.#doc.seq), this.#doc);
  }

  /** Throws `LeaseLostError` unless this run's generation is still the newest and its own. */
  async assertHeld(): Promise<void> {
    if (this.#lost !== undefined) throw new LeaseLostError(this.#doc.loadId, this.#lost);
    const newest = await newestGeneration(this.#store, this.#doc.loadId);
    if (newest === undefined) this.#lost = 'its lease object is gone';
    else if (newest.seq !== this.#doc.seq || newest.doc?.owner.id !== this.#doc.owner.id)
      this.#lost = `taken over by ${describeHolder(newest.doc, this.#options.clock())}`;
    if (this.#lost !== undefined) throw new LeaseLostError(this.#doc.loadId, this.#lost);
  }

  /** Gives the load id up (deletes this generation if it is still ours). Never throws on a lost lease. */
  async release(): Promise<void> {
    if (this.#lost !== undefined) return;
    const newest = await newestGeneration(this.#store, this.#doc.loadId);
    if (newest?.seq === this.#doc.seq && newest.doc?.owner.id === this.#doc.owner.id) {
      await this.#store.delete([leaseKey(this.#doc.loadId, this.#doc.seq)]);
    }
    this.#lost = 'released';
  }
}

/**
 * Takes the lease of `loadId`, or joins it when `options.owner.id` already holds it.
 * Throws `LeaseHeldError` naming the holder when another live run holds it.
 */
export async function acquireLease(
  store: ObjectStore,
  loadId: string,
  options: LeaseOptions,
): Promise<Lease> {
  let lastHolder: LeaseDoc | undefined;
  for (let attempt = 1; attempt <= ACQUIRE_ATTEMPTS; attempt++) {
    const now = options.clock();
    const newest = await newestGeneration(store, loadId);
    const held = newest?.doc;
    if (held !== undefined && held.owner.id === options.owner.id) {
      const lease = new Lease(store, held, options);
      await lease.renew();
      return lease;
    }
    if (held !== undefined && isLive(held, now) && !(options.isAbandoned?.(held.owner) ?? false)) {
      throw new LeaseHeldError(loadId, describeHolder(held, now));
    }
    lastHolder = held;
    const doc: LeaseDoc = {
      formatVersion: 1,
      loadId,
      seq: (newest?.seq ?? 0) + 1,
      owner: options.owner,
      acquiredAt: now.toISOString(),
      renewedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + options.ttlMs).toISOString(),
    };
    if (await store.putIfAbsent(leaseKey(loadId, doc.seq), `${JSON.stringify(doc, null, 2)}\n`)) {
      // Older generations only ever point at dead holders: drop them.
      const older = (await store.list(leasePrefix(loadId))).filter((k) => {
        const parsed = parseLeaseKey(k);
        return parsed !== undefined && parsed.seq < doc.seq;
      });
      if (older.length > 0) await store.delete(older);
      return new Lease(store, doc, options);
    }
  }
  throw new LeaseHeldError(
    loadId,
    `${describeHolder(lastHolder, options.clock())} (another run took it ${ACQUIRE_ATTEMPTS} times while this one tried)`,
  );
}

/**
 * Throws unless `ownerId` holds the load id's lease (any generation that is the newest): for a
 * worker of a run whose lease another step took (a Step Functions batch: the plan took it for
 * the execution). `LeaseLostError` names the holder, or says there is none.
 */
export async function assertLeaseOwner(
  store: ObjectStore,
  loadId: string,
  ownerId: string,
  clock: Clock,
): Promise<void> {
  const newest = await newestGeneration(store, loadId);
  if (newest?.doc?.owner.id === ownerId) return;
  throw new LeaseLostError(
    loadId,
    newest === undefined ? 'no run holds it' : `it is held by ${describeHolder(newest.doc, clock())}`,
  );
}

/** The current lease of a load id, if any holder has not released it (live or expired). */
export async function readLease(store: ObjectStore, loadId: string): Promise<LeaseDoc | undefined> {
  return (await newestGeneration(store, loadId))?.doc;
}

/**
 * Longest a lease is believed: no run of ours holds one longer without renewing (a deployed run
 * is bounded by its state machine's timeout, days). An expiry further ahead comes from a wrong
 * clock or a hand-made file, and would block the load id for that long.
 */
export const MAX_LEASE_MS = 7 * 24 * 3600 * 1000;

/** Whether the lease is still within its expiry at `now` (and that expiry is believable). */
export function isLive(doc: LeaseDoc, now: Date): boolean {
  const expires = Date.parse(doc.expiresAt);
  return expires > now.getTime() && expires - now.getTime() <= MAX_LEASE_MS;
}

/** `cli run 3f2a… on host-a (pid 123, paylink-loader load …), since …, renewed …, expires in 95 s`. */
export function describeHolder(doc: LeaseDoc | undefined, now: Date): string {
  if (doc === undefined) return 'another run (its lease could not be read)';
  const { owner } = doc;
  const where = [
    owner.host === undefined ? undefined : `on ${owner.host}`,
    owner.pid === undefined ? undefined : `pid ${owner.pid}`,
  ].filter((s) => s !== undefined);
  const left = Math.round((Date.parse(doc.expiresAt) - now.getTime()) / 1000);
  const expiry = left > 0 ? `expires in ${left} s unless renewed` : `expired ${-left} s ago`;
  return (
    `${owner.kind} ${owner.id}${where.length > 0 ? ` ${where.join(', ')}` : ''}` +
    `${owner.command === undefined ? '' : ` (${owner.command})`}, since ${doc.acquiredAt}, ` +
    `last renewed ${doc.renewedAt}, ${expiry}`
  );
}

async function newestGeneration(
  store: ObjectStore,
  loadId: string,
): Promise<{ seq: number; doc: LeaseDoc | undefined } | undefined> {
  const keys = (await store.list(leasePrefix(loadId)))
    .map((k) => ({ key: k, parsed: parseLeaseKey(k) }))
    .filter((k) => k.parsed?.loadId === loadId);
  const newest = keys.at(-1);
  if (newest === undefined) return undefined;
  return { seq: newest.parsed!.seq, doc: await readJson<LeaseDoc>(store, newest.key) };
}
