/**
 * A client-side token bucket shared by every concurrent user of a run, so the whole load stays
 * under the configured request rate. Pure: the monotonic clock and the sleep are injected.
 */
import { ConfigError } from './errors.ts';

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
  /** Milliseconds callers were told to wait, summed over every call. */
  readonly waitedMs: number;
}

/** Counters of the limiters built here, kept aside so the class stays `{ acquire }`. */
const counters = new WeakMap<RateLimiter, { acquired: number; waitedMs: number }>();

/**
 * `new RateLimiter({ ratePerSecond, now, sleep })`. Its only member is `acquire`, so anything
 * with an `acquire(): Promise<void>` (a test double) can stand in for it.
 */
export class RateLimiter {
  /** Resolves when the caller may send one request. Callers are served first come, first served. */
  readonly acquire: () => Promise<void>;
  constructor(options: RateLimiterOptions) {
    const take = tokenBucket(options);
    const counted = { acquired: 0, waitedMs: 0 };
    counters.set(this, counted);
    this.acquire = () => {
      const { wait, admitted } = take();
      counted.acquired++;
      counted.waitedMs += wait;
      return admitted;
    };
  }
}

/** What `limiter` has admitted and made wait so far (zeros for a stand-in not built here). */
export function rateLimiterStats(limiter: RateLimiter): RateLimiterStats {
  const counted = counters.get(limiter);
  return { acquired: counted?.acquired ?? 0, waitedMs: counted?.waitedMs ?? 0 };
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  return new RateLimiter(options);
}

type Take = () => { wait: number; admitted: Promise<void> };

const admit: Take = () => ({ wait: 0, admitted: Promise.resolve() });

/**
 * Each call reserves its slot synchronously by taking a token, going into debt when the bucket
 * is empty, then sleeps exactly until its debt is repaid. Reservations are made in call order
 * and each deadline is one interval after the previous one, so waiters are released in FIFO
 * order with one timer each and no polling.
 */
function tokenBucket(options: RateLimiterOptions): Take {
  const rate = options.ratePerSecond;
  if (rate === undefined || rate === Number.POSITIVE_INFINITY) return admit;
  if (!Number.isFinite(rate) || rate <= 0) {
    throw new ConfigError('rateLimit', 'must be a positive number of requests per second');
  }
  const burst = options.burst ?? 1;
  if (!Number.isInteger(burst) || burst < 1)
    throw new ConfigError('rateLimit.burst', 'must be a positive integer');

  const intervalMs = 1000 / rate;
  let tokens = burst;
  let updatedAt = options.now();
  return () => {
    const now = options.now();
    tokens = Math.min(burst, tokens + Math.max(0, now - updatedAt) / intervalMs);
    updatedAt = now;
    tokens -= 1;
    if (tokens >= 0) return { wait: 0, admitted: Promise.resolve() };
    const wait = -tokens * intervalMs;
    return { wait, admitted: options.sleep(wait) };
  };
}
