/**
 * A client-side rate limiter shared by every concurrent user of a run, so the whole load stays
 * under the configured request rate. Pure: the monotonic clock and the sleep are injected.
 *
 * A waiter is released only when, at the moment the limiter actually wakes, the bucket holds a
 * token. Reserving slots ahead (token debt, one timer per caller) released every slot whose
 * time had passed at once after an event-loop stall (GC, a long encode): the server saw a third
 * of a second's requests in a burst on top of the rate, and answered 429s we caused.
 */
import { ConfigError } from './errors.ts';
import { createWaitMeter } from './wait-meter.ts';

export const RATE_LIMITER = {
  /**
   * Lateness a release may make up, ms. Timers fire on whole milliseconds, up to one early or
   * late: without it each late wake-up would be lost (a strict "one interval since the previous
   * release" paced 500 req/s at about 0.8x). A stall longer than this is not made up.
   */
  toleranceMs: 2,
  /**
   * Kept free in every second, ms: the limiter paces (1000 + toleranceMs + marginMs) / 1000 times
   * slower than the rate, so any S + 1 releases span more than a second by this margin, even when
   * the tolerance was used, and a server counting S per one-second window never sees S + 1 (its
   * clock and the network jitter by less than this). 0.5% of the rate.
   */
  marginMs: 3,
  /**
   * A wake-up this much later than due means the event loop was held (a major GC, a synchronous
   * encode): a request released just before may only now be going out, so the next one waits a
   * whole interval from here (one interval lost per stall), never lands beside it. Shorter delays
   * (a busy machine's scheduling) only lose their lateness: at 10 ms, holding an interval each
   * time cost a loaded 2-core machine a third of the rate at 200 req/s.
   */
  stallMs: 50,
} as const;

export interface RateLimiterOptions {
  /** Requests per second; undefined or Infinity means unlimited. */
  readonly ratePerSecond?: number | undefined;
  /**
   * Requests that may go at once after an idle spell. Default 1: PayLink's limits are not
   * published, and with a burst of b any one-second window may see rate + b requests. At steady
   * state a larger bucket buys no throughput (concurrent callers keep the pipe full anyway).
   */
  readonly burst?: number;
  /** Monotonic milliseconds (performance.now in production). */
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

/** What a limiter has done so far: what adaptive concurrency (Little's law) reads. */
export interface RateLimiterStats {
  /** Requests admitted (`acquire` calls). */
  readonly acquired: number;
  /** Milliseconds callers have waited so far, summed over every call (waits still going up to now). */
  readonly waitedMs: number;
}

/** The stats of the limiters built here, kept aside so the class stays `{ acquire }`. */
const statsOf = new WeakMap<RateLimiter, () => RateLimiterStats>();

/**
 * `new RateLimiter({ ratePerSecond, now, sleep })`. Its only member is `acquire`, so anything
 * with an `acquire(): Promise<void>` (a test double) can stand in for it.
 */
export class RateLimiter {
  /** Resolves when the caller may send one request. Callers are served first come, first served. */
  readonly acquire: () => Promise<void>;
  constructor(options: RateLimiterOptions) {
    const meter = createWaitMeter(options.now);
    const take = tokenBucket(options);
    let acquired = 0;
    statsOf.set(this, () => ({ acquired, waitedMs: meter.totalMs() }));
    this.acquire = () => {
      acquired++;
      const admitted = take();
      if (admitted === undefined) return Promise.resolve();
      return admitted.then(meter.begin());
    };
  }
}

/** What `limiter` has admitted and made wait so far (zeros for a stand-in not built here). */
export function rateLimiterStats(limiter: RateLimiter): RateLimiterStats {
  return statsOf.get(limiter)?.() ?? { acquired: 0, waitedMs: 0 };
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  return new RateLimiter(options);
}

/** Undefined: go now. A promise: wait for it (it resolves when the caller's token is there). */
type Take = () => Promise<void> | undefined;

/** Tokens a float sum may miss 1 by and still be a whole token (1/3 + 1/3 + 1/3). */
const EPSILON = 1e-9;

/**
 * Waiters queue in call order; one timer at a time sleeps until the head's token is due. On
 * waking, the clock is read again: the head goes only if the token is really there (a timer
 * that fired early sleeps again for the rest), and only as many go as there are tokens, so a
 * stall releases no burst: the slots that passed during it are lost, and the next request goes
 * one interval after the loop runs again (RATE_LIMITER.stallMs).
 */
function tokenBucket(options: RateLimiterOptions): Take {
  const rate = options.ratePerSecond;
  if (rate === undefined || rate === Number.POSITIVE_INFINITY) return () => undefined;
  if (!Number.isFinite(rate) || rate <= 0) {
    throw new ConfigError('rateLimit', 'must be a positive number of requests per second');
  }
  const burst = options.burst ?? 1;
  if (!Number.isInteger(burst) || burst < 1)
    throw new ConfigError('rateLimit.burst', 'must be a positive integer');

  const { toleranceMs, marginMs } = RATE_LIMITER;
  const intervalMs = ((1000 + toleranceMs + marginMs) / 1000) * (1000 / rate);
  const capacity = burst + toleranceMs / intervalMs;
  let tokens = burst;
  let updatedAt = options.now();
  const queue: (() => void)[] = [];
  let head = 0;
  let sleeping = false;
  /** When the timer's token is due; undefined when no timer sleeps or its stall was seen. */
  let dueAt: number | undefined;

  const refill = (): void => {
    const now = options.now();
    if (dueAt !== undefined && now - dueAt > RATE_LIMITER.stallMs) {
      tokens = 0;
      dueAt = undefined;
    } else tokens = Math.min(capacity, tokens + Math.max(0, now - updatedAt) / intervalMs);
    updatedAt = now;
  };
  const release = (): void => {
    refill();
    // No timer pending: its due time has been judged (by this refill) and means nothing now.
    if (!sleeping) dueAt = undefined;
    while (head < queue.length && tokens >= 1 - EPSILON) {
      tokens -= 1;
      const next = queue[head]!;
      queue[head++] = noop;
      next();
    }
    // Drop the released prefix now and then, so the queue's memory follows the waiters.
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    if (head < queue.length && !sleeping) {
      sleeping = true;
      const waitMs = Math.max(0, (1 - tokens) * intervalMs);
      dueAt = updatedAt + waitMs;
      void options.sleep(waitMs).then(() => {
        sleeping = false;
        release();
      });
    }
  };

  return () => {
    if (head === queue.length) {
      refill();
      if (tokens >= 1 - EPSILON) {
        tokens -= 1;
        return undefined;
      }
    }
    return new Promise<void>((resolve) => {
      queue.push(resolve);
      release();
    });
  };
}

const noop = (): void => undefined;
