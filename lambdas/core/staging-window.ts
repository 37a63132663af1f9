/**
 * The batches of a local run that stage at once (run-load.ts). A batch's staging closes its parts
 * and writes its manifest: per part an encode, a write and, on a local lake, an fsync and a
 * rename, one after another. With small batches that takes longer than loading the next batch's
 * users (measured at 200 req/s and batches of 10: about 2 s to stage a batch, 0.4 s of requests
 * to load one, on a busy 2-core machine; bench/results/issue-11.md (k)), so a run that let one batch stage at a time made
 * its requests wait for the lake at every batch boundary. Several batches staging side by side
 * keep the loop loading.
 *
 * Bounded by memory as one batch staging was: a batch joins the window only while the rows and
 * estimated bytes (row-group-budget.ts `rowBytes`) that the batches staging hold, its own
 * included, stay within one batch's buffered budget (DEFAULTS.parquet.bufferedRowsBudget and
 * bufferedBytesBudget); a batch over it stages alone. With the batch loading meanwhile (whose
 * writers share that budget among themselves), the run holds at most two budgets of buffered
 * rows, as before. Large batches therefore stage one at a time, as they always did; small ones
 * (whose staging is the slow part) stage together, at most `batches` at once.
 *
 * Every batch still stages as a whole and writes its manifest last; batches finish in any
 * order, and a resume reloads exactly those without a manifest. The first failure is kept: it
 * stops the run (`failed`), and `admit` or `drain` rethrows it.
 */

/** What a loaded batch holds until it is staged: rows and their estimated bytes not yet in a closed part. */
export interface Held {
  readonly rows: number;
  readonly bytes: number;
}

export interface StagingLimits {
  /** Batches staging at once at most. */
  readonly batches: number;
  /** Rows the batches staging may hold together (a single batch may hold more: it then stages alone). */
  readonly rows: number;
  /** Estimated bytes the batches staging may hold together (as `rows`). */
  readonly bytes: number;
}

interface Staging {
  readonly held: Held;
  readonly done: Promise<void>;
}

export class StagingWindow {
  readonly #staging = new Set<Staging>();
  #failure: { error: unknown } | undefined;

  constructor(private readonly limits: StagingLimits) {
    if (!Number.isInteger(limits.batches) || limits.batches < 1)
      throw new RangeError('staging batches must be a positive integer');
  }

  /** A staging failed: the run stops (no new user starts) and fails with that error. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Batches staging now. */
  get size(): number {
    return this.#staging.size;
  }

  /**
   * Waits until a batch holding `held` may stage beside the batches staging now (fewer than
   * `batches` of them, and the rows and bytes they hold with it within the limits, or none
   * staging), then starts `stage`. Rethrows the first staging failure, then or while waiting:
   * `stage` is not started. `stage` may call `failing` as soon as it fails, before it cleans up
   * (abandoning its parts takes the lake's time): the run stops from that moment, so no user
   * starts in the meantime (`admit` rethrows it at once, `drain` once every staging settled).
   */
  async admit(held: Held, stage: (failing: (error: unknown) => void) => Promise<void>): Promise<void> {
    while (this.#failure === undefined && !this.#fits(held))
      await Promise.race([...this.#staging].map((s) => s.done));
    this.#rethrow();
    const fail = (error: unknown) => {
      this.#failure ??= { error };
    };
    const entry: Staging = {
      held,
      done: Promise.resolve()
        .then(() => stage(fail))
        .then(() => undefined, fail)
        .finally(() => {
          this.#staging.delete(entry);
        }),
    };
    this.#staging.add(entry);
  }

  /** Waits for every batch staging; rethrows the first failure. */
  async drain(): Promise<void> {
    await this.settled();
    this.#rethrow();
  }

  /** Waits for every batch staging to finish, staged or failed (a run failing for another reason). */
  async settled(): Promise<void> {
    while (this.#staging.size > 0) await Promise.all([...this.#staging].map((s) => s.done));
  }

  #fits(held: Held): boolean {
    if (this.#staging.size === 0) return true;
    if (this.#staging.size >= this.limits.batches) return false;
    let rows = held.rows;
    let bytes = held.bytes;
    for (const s of this.#staging) {
      rows += s.held.rows;
      bytes += s.held.bytes;
    }
    return rows <= this.limits.rows && bytes <= this.limits.bytes;
  }

  #rethrow(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}
