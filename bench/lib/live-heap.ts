/**
 * Live heap: what a run really holds as it goes, as opposed to the sampled peaks
 * (memory-sampler.ts), which mostly show how lazily V8 collects garbage. At evenly spaced
 * checkpoints (every 1/n of the users) a full GC runs and `heapUsed` is read: data still
 * reachable then is the loader's state (buffered rows, open parts, registry) plus whatever the
 * harness keeps, so the harness keeps nothing per user (user-identifiers.ts).
 *
 * The forced GCs are timed: callers run checkpoints outside their timed sections, and the
 * end-to-end case subtracts `gcMs` from its wall time.
 */
import { performance } from 'node:perf_hooks';
import { collectGarbage } from './memory-sampler.ts';

export interface LiveHeapPoint {
  /** Users done when the checkpoint ran. */
  readonly users: number;
  readonly heapUsedBytes: number;
  /** Buffers and other memory outside the V8 heap (encoded pages waiting for the store). */
  readonly externalBytes: number;
}

export interface LiveHeapReport {
  /** heapUsed after a full GC before the case: Node, tsx and our modules. */
  readonly baselineBytes: number;
  readonly maxBytes: number;
  readonly maxAtUsers: number;
  readonly maxExternalBytes: number;
  readonly points: readonly LiveHeapPoint[];
  /** Time spent in the checkpoints' forced GCs (and memory reads). */
  readonly gcMs: number;
}

export class LiveHeapProbe {
  readonly #baselineBytes: number;
  readonly #points: LiveHeapPoint[] = [];
  #checkpoint = 1;
  #gcMs = 0;

  /**
   * `gc()` must be exposed (node --expose-gc); `start` returns undefined otherwise, or when no
   * checkpoint is asked for. Collects garbage now: the current heap is the baseline.
   */
  static start(users: number, checkpoints: number): LiveHeapProbe | undefined {
    if (checkpoints < 1 || !collectGarbage()) return undefined;
    return new LiveHeapProbe(users, checkpoints);
  }

  private constructor(
    private readonly users: number,
    private readonly checkpoints: number,
  ) {
    this.#baselineBytes = process.memoryUsage().heapUsed;
  }

  /** Users after which checkpoint k (1-based) is due; the last one is due after every user. */
  #dueAt(k: number): number {
    return Math.ceil((k * this.users) / this.checkpoints);
  }

  /**
   * Called with the number of users done; runs a checkpoint if one is due. A caller that can
   * only measure at some points (encode-only: between chunks) calls it there: the checkpoints
   * passed meanwhile collapse into one.
   */
  atUsers(done: number): void {
    if (this.#checkpoint > this.checkpoints || done < this.#dueAt(this.#checkpoint)) return;
    while (this.#checkpoint <= this.checkpoints && done >= this.#dueAt(this.#checkpoint)) this.#checkpoint++;
    const started = performance.now();
    collectGarbage();
    const { heapUsed, external } = process.memoryUsage();
    this.#gcMs += performance.now() - started;
    this.#points.push({ users: done, heapUsedBytes: heapUsed, externalBytes: external });
  }

  /** GC time so far: the end-to-end case subtracts it from its wall time. */
  gcMs(): number {
    return this.#gcMs;
  }

  report(): LiveHeapReport {
    let max: LiveHeapPoint | undefined;
    for (const point of this.#points)
      if (max === undefined || point.heapUsedBytes > max.heapUsedBytes) max = point;
    return {
      baselineBytes: this.#baselineBytes,
      maxBytes: max?.heapUsedBytes ?? this.#baselineBytes,
      maxAtUsers: max?.users ?? 0,
      maxExternalBytes: Math.max(0, ...this.#points.map((p) => p.externalBytes)),
      points: this.#points,
      gcMs: this.#gcMs,
    };
  }
}
