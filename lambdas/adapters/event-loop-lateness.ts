/**
 * How late this process's event loop runs its timers: what tells "this machine (or this
 * process's own work) is slow" from "PayLink is slow" for adaptive concurrency. A request's
 * measured time includes the loop's lateness in reading its answer; lateness that rises as users
 * are added is ours, and more users only add to it.
 *
 * Node's histogram (perf_hooks.monitorEventLoopDelay) samples the loop every `RESOLUTION_MS`; a
 * sample is that interval plus how late it ran, so the interval is taken off. Each reading is
 * the mean of the samples since the previous one, from the histogram's running sum (mean x
 * count): resetting it per reading lost samples (a 200 ms block right after a reset recorded a
 * 14 ms maximum on Node 20.20.2). A loop held since the last sample (none recorded yet) reads
 * as late as it has been held. Started at the first reading (a dry run never starts it),
 * stopped by `stop`.
 */
import { type IntervalHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';

const RESOLUTION_MS = 10;

export interface EventLoopLateness {
  /** Mean lateness (ms) since the previous call (0 on the first, which starts the sampling). */
  readonly sinceLast: () => number;
  readonly stop: () => void;
}

export function eventLoopLateness(): EventLoopLateness {
  let histogram: IntervalHistogram | undefined;
  let count = 0;
  let sumMs = 0;
  let readAt = 0;
  return {
    sinceLast: () => {
      const now = performance.now();
      if (histogram === undefined) {
        histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
        histogram.enable();
        readAt = now;
        return 0;
      }
      const total = histogram.count;
      const totalMs = total === 0 ? 0 : (histogram.mean * total) / 1e6;
      const samples = total - count;
      const meanMs = samples > 0 ? (totalMs - sumMs) / samples : now - readAt;
      count = total;
      sumMs = totalMs;
      readAt = now;
      return Math.max(0, meanMs - RESOLUTION_MS);
    },
    stop: () => histogram?.disable(),
  };
}
