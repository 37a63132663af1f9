/**
 * Requests never dip at a batch boundary of a local run: while a batch's last users finish (its
 * pool has nothing left to start), the slots they free start the next batch's first users, in
 * batch order. Their results wait here until the next batch takes them (`take`), so that batch
 * still types and writes its users in its own order (the registry infers the same types whatever
 * the timing) and counts them as its own.
 *
 * Measured before (bench/rate-limit.ts at 500 req/s, 50 ms latency, 5 batches of 500 users):
 * every boundary lost 100 to 140 requests (0.2-0.3 s at the limit) while the last users of a
 * batch finished one request after another, the largest part of the 2.9% missing from 0.971x.
 *
 * Bounded: prefetched users in flight share the run's concurrency with the batch's own (the
 * pool's limit and the adaptive control's in-flight count both see them), and at most `limit()`
 * prefetched results wait at once. Only the batch right after the current one is prefetched.
 */
import type { BatchUser } from './load-batch.ts';
import type { UserResult } from './load-user.ts';
import { type ConcurrencyControl, fixedConcurrency } from './pool.ts';

interface Entry {
  readonly result: Promise<UserResult>;
  running: boolean;
  taken: boolean;
}

interface Target {
  readonly batch: number;
  readonly users: readonly BatchUser[];
  readonly load: (user: BatchUser) => Promise<UserResult>;
  readonly entries: Entry[];
}

export class UserPrefetch {
  readonly #base: ConcurrencyControl;
  readonly #stop: () => boolean;
  #current = -1;
  #poolActive = 0;
  #poolDrained = false;
  /** The current batch's prefetched users (being taken) and the next batch's (being started). */
  readonly #targets = new Map<number, Target>();
  #closed = false;

  /**
   * `base`: the run's concurrency (a number or an adaptive control); `stop`: true once the run
   * was asked to stop (nothing more is prefetched).
   */
  constructor(base: number | ConcurrencyControl, stop: () => boolean) {
    this.#base = typeof base === 'number' ? fixedConcurrency(base) : base;
    this.#stop = stop;
  }

  /**
   * The control for batch `batch`'s pool: its limit leaves room for the next batch's prefetched
   * users still running, and the base control sees both in flight.
   */
  poolFor(batch: number): ConcurrencyControl {
    this.#current = batch;
    this.#poolActive = 0;
    this.#poolDrained = false;
    for (const earlier of this.#targets.keys()) if (earlier < batch) this.#targets.delete(earlier);
    return {
      max: this.#base.max,
      limit: () => Math.max(1, this.#base.limit() - this.#othersRunning()),
      inFlight: (count) => {
        this.#poolActive = count;
        this.#report();
        this.#fill();
      },
      allStarted: () => {
        this.#poolDrained = true;
        this.#fill();
      },
    };
  }

  /**
   * The users of batch `batch` (the one after the current), and how to load one: they start as
   * the current batch's pool frees slots it no longer needs.
   */
  offer(batch: number, users: readonly BatchUser[], load: (user: BatchUser) => Promise<UserResult>): void {
    if (this.#closed || batch !== this.#current + 1) return;
    this.#targets.set(batch, { batch, users, load, entries: [] });
    this.#fill();
  }

  /** The prefetched result of user `index` of `batch`, if it was started; the caller owns it from here. */
  take(batch: number, index: number): Promise<UserResult> | undefined {
    const entry = this.#targets.get(batch)?.entries[index];
    if (entry === undefined || entry.taken) return undefined;
    entry.taken = true;
    return entry.result;
  }

  /** Prefetches nothing more and waits for those in flight (their results and failures dropped). */
  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#targets.values()].flatMap((t) => t.entries);
    this.#targets.clear();
    await Promise.allSettled(entries.map((e) => e.result));
  }

  /** Prefetched users of a later batch still running and not yet taken by their pool. */
  #othersRunning(): number {
    const next = this.#targets.get(this.#current + 1);
    return next === undefined ? 0 : next.entries.filter((e) => e.running && !e.taken).length;
  }

  #report(): void {
    this.#base.inFlight?.(this.#poolActive + this.#othersRunning());
  }

  #fill(): void {
    const target = this.#targets.get(this.#current + 1);
    if (this.#closed || !this.#poolDrained || target === undefined) return;
    const waiting = () => target.entries.filter((e) => !e.taken).length;
    while (
      target.entries.length < target.users.length &&
      !this.#stop() &&
      this.#poolActive + this.#othersRunning() < this.#base.limit() &&
      waiting() < this.#base.limit()
    ) {
      const user = target.users[target.entries.length]!;
      const entry: Entry = {
        result: Promise.resolve().then(() => target.load(user)),
        running: true,
        taken: false,
      };
      target.entries.push(entry);
      // Settled here or by its taker: a prefetch no batch takes must not be an unhandled rejection.
      entry.result
        .catch(() => undefined)
        .finally(() => {
          entry.running = false;
          this.#report();
          this.#fill();
        });
      this.#report();
    }
  }
}
