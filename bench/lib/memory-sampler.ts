/**
 * Peak memory of a run: process.memoryUsage() sampled on a timer. A timer only fires when the
 * event loop turns, so the code under measurement must yield now and then (`yieldToTimers`);
 * `sample()` may also be called at points where a peak is likely (after a flush, at the end).
 */
import { setImmediate as turn } from 'node:timers/promises';

export const SAMPLE_INTERVAL_MS = 20;

export interface MemoryFigures {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
}

export interface MemoryReport {
  /** After a GC, before the run started: what the process holds anyway (Node, tsx, modules). */
  readonly baseline: MemoryFigures;
  readonly peak: MemoryFigures;
  readonly samples: number;
}

/** Full GC when node runs with --expose-gc; returns whether it could. */
export function collectGarbage(): boolean {
  if (globalThis.gc === undefined) return false;
  globalThis.gc();
  return true;
}

/** Lets due timers (the sampler's) run; costs a few microseconds. */
export function yieldToTimers(): Promise<void> {
  return turn();
}

export class MemorySampler {
  readonly #baseline: MemoryFigures;
  #peakRss: number;
  #peakHeap: number;
  #samples = 0;
  readonly #timer: NodeJS.Timeout;

  /** Starts sampling now; the current usage is the baseline. */
  constructor(intervalMs = SAMPLE_INTERVAL_MS) {
    const now = process.memoryUsage();
    this.#baseline = { rssBytes: now.rss, heapUsedBytes: now.heapUsed };
    this.#peakRss = now.rss;
    this.#peakHeap = now.heapUsed;
    this.#timer = setInterval(() => this.sample(), intervalMs);
    // Never the reason the process stays alive.
    this.#timer.unref();
  }

  sample(): void {
    const { rss, heapUsed } = process.memoryUsage();
    this.#samples++;
    if (rss > this.#peakRss) this.#peakRss = rss;
    if (heapUsed > this.#peakHeap) this.#peakHeap = heapUsed;
  }

  stop(): MemoryReport {
    clearInterval(this.#timer);
    this.sample();
    return {
      baseline: this.#baseline,
      peak: { rssBytes: this.#peakRss, heapUsedBytes: this.#peakHeap },
      samples: this.#samples,
    };
  }
}
