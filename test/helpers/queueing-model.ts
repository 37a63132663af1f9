/**
 * A load on a fake clock, event by event, for adaptive concurrency's tests: the real rate
 * limiter, the real pool and the control under test, against a model of the two things that
 * make a request cost time.
 * - PayLink: answers after `serverMs(inServer)`, a latency that may rise with the requests it
 *   holds at once (a server that queues).
 * - This process: one event loop. Each answer costs `cpuMs` of its CPU (parse, normalize,
 *   encode), answers are handled one at a time in arrival order, and a limiter wake-up runs only
 *   when the loop is free, as a Node timer does. `stolen` takes the CPU away for part of every
 *   period (other processes on a busy machine): nothing of ours runs then. `cpuMs()` is this
 *   process's CPU clock (process.cpuUsage's stand-in): the CPU its events cost, never the time
 *   taken away, so a busy machine reads as a late loop on little CPU of ours.
 * Deterministic: no randomness, no real timers.
 */

import type { ConcurrencyControl } from '#core/pool.ts';
import { forEachConcurrent } from '#core/pool.ts';
import type { RateLimiterStats } from '#core/rate-limiter.ts';
import { createRateLimiter, type RateLimiter, rateLimiterStats } from '#core/rate-limiter.ts';

export interface ModelOptions {
  readonly rate: number;
  readonly seconds: number;
  readonly users: number;
  readonly requestsPerUser?: number;
  /** PayLink's answer time (ms) for a request when `inServer` requests (this one included) are held. */
  readonly serverMs: (inServer: number) => number;
  /** CPU (ms) this process spends on each answer. */
  readonly cpuMs: number;
  /**
   * The CPU is taken away for `ms` at the start of every `periodMs` (a busy machine); a function
   * of the time (ms) gives the pattern in force then: a machine whose other work comes and goes.
   */
  readonly stolen?: Stolen | ((now: number) => Stolen | undefined);
  /** A request the client waits on longer than this is a timeout (counted, then retried). */
  readonly timeoutMs?: number;
}

export interface Stolen {
  readonly periodMs: number;
  readonly ms: number;
}

export interface ModelClock {
  readonly now: () => number;
  readonly limiter: () => RateLimiterStats;
  readonly client: () => { retries: number; timeouts: number; requests: number };
  /** Mean lateness (ms) of the loop's work since the previous call: the event-loop-delay stand-in. */
  readonly loopDelayMs: () => number;
  /** CPU (ms) this process has used so far: the process.cpuUsage stand-in. */
  readonly cpuMs: () => number;
}

export interface ModelResult {
  /** Requests answered per second over the run's second half, over the rate. */
  readonly reached: number;
  /** The concurrency limit sampled every 100 ms. */
  readonly limits: number[];
  readonly timeouts: number;
  readonly answered: number;
  /** Requests answered in each second of the run, over the rate. */
  readonly perSecond: number[];
}

interface Event {
  readonly at: number;
  readonly seq: number;
  /** CPU the event's callback costs (ms); 0 for a timer. */
  readonly cost: number;
  readonly fire: () => void;
}

export async function runModel(
  options: ModelOptions,
  makeControl: (clock: ModelClock) => ConcurrencyControl,
): Promise<ModelResult> {
  let now = 0;
  let seq = 0;
  const events: Event[] = [];
  const schedule = (at: number, cost: number, fire: () => void) =>
    events.push({ at, seq: seq++, cost, fire });
  const limiter: RateLimiter = createRateLimiter({
    ratePerSecond: options.rate,
    now: () => now,
    sleep: (ms) => new Promise<void>((resolve) => schedule(now + ms, 0, resolve)),
  });
  /** When each request PayLink holds will be answered. */
  let answering: number[] = [];
  let retries = 0;
  let timeouts = 0;
  let requests = 0;
  const answeredAt: number[] = [];
  let lateSum = 0;
  let lateCount = 0;
  let cpuUsed = 0;
  const clock: ModelClock = {
    now: () => now,
    limiter: () => rateLimiterStats(limiter),
    client: () => ({ retries, timeouts, requests }),
    loopDelayMs: () => {
      const mean = lateCount === 0 ? 0 : lateSum / lateCount;
      lateSum = 0;
      lateCount = 0;
      return mean;
    },
    // The events run whole (the clock jumps past their cost), so what has run is what was used.
    cpuMs: () => cpuUsed,
  };
  const control = makeControl(clock);
  const request = async (): Promise<void> => {
    for (;;) {
      await limiter.acquire();
      requests++;
      answering = answering.filter((t) => t > now);
      const answerAt = now + options.serverMs(answering.length + 1);
      answering.push(answerAt);
      const sentAt = now;
      // The answer is read when the loop gets to it; reading it costs this process's CPU.
      await new Promise<void>((resolve) => schedule(answerAt, options.cpuMs, resolve));
      // Read later than the client's timeout (the loop was busy): the client gave up on it.
      if (options.timeoutMs !== undefined && now - options.cpuMs - sentAt >= options.timeoutMs) {
        timeouts++;
        retries++;
        continue;
      }
      answeredAt.push(now);
      return;
    }
  };
  const users = Array.from({ length: options.users }, (_, i) => i);
  let done = false;
  const run = forEachConcurrent(users, control, async () => {
    for (let r = 0; r < (options.requestsPerUser ?? 8); r++) await request();
  }).then(() => {
    done = true;
  });
  const limits: number[] = [];
  let nextSample = 0;
  let cpuFree = 0;
  const endMs = options.seconds * 1000;
  const settle = async () => {
    for (let k = 0; k < 50; k++) await Promise.resolve();
  };
  await settle();
  while (!done && now < endMs && events.length > 0) {
    // The earliest event; FIFO among equals (arrival order).
    let best = 0;
    for (let i = 1; i < events.length; i++) {
      const e = events[i]!;
      const b = events[best]!;
      if (e.at < b.at || (e.at === b.at && e.seq < b.seq)) best = i;
    }
    const event = events.splice(best, 1)[0]!;
    let start = Math.max(event.at, cpuFree);
    const stolen = typeof options.stolen === 'function' ? options.stolen(start) : options.stolen;
    if (stolen !== undefined) {
      const { periodMs, ms } = stolen;
      const into = start % periodMs;
      if (into < ms) start += ms - into;
    }
    while (nextSample <= start && nextSample <= endMs) {
      limits.push(control.limit());
      nextSample += 100;
    }
    lateSum += start - event.at;
    lateCount++;
    now = start + event.cost;
    cpuUsed += event.cost;
    cpuFree = now;
    event.fire();
    await settle();
  }
  void run;
  const from = endMs / 2;
  const late = answeredAt.filter((t) => t >= from && t < endMs).length;
  const perSecond = Array.from({ length: options.seconds }, () => 0);
  for (const t of answeredAt) if (t < endMs) perSecond[Math.floor(t / 1000)]! += 1 / options.rate;
  return {
    reached: late / ((endMs - from) / 1000) / options.rate,
    perSecond,
    limits,
    timeouts,
    answered: answeredAt.length,
  };
}
