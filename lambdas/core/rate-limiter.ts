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

/**
 * `new RateLimiter({ ratePerSecond, now, sleep })`. Its only member is `acquire`, so anything
 * with an `acquire(): Promise<void>` (a test double) can stand in for it.
 */
export class RateLimiter {
  /** Resolves when the caller may send one request. Callers are served first come, first served. */
  readonly acquire: () => Promise<void>;
  constructor(options: RateLimiterOptions) {
    this.acquire = tokenBucket(options);
  }
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  return new RateLimiter(options);
}

const admit = (): Promise<void> => Promise.resolve();

/**
 * Each call reserves its slot synchronously by taking a token, going into debt when the bucket
 * is empty, then sleeps exactly until its debt is repaid. Reservations are made in call order
 * and each deadline is one interval after the previous one, so waiters are released in FIFO
 * order with one timer each and no polling.
 */
function tokenBucket(options: RateLimiterOptions): () => Promise<void> {
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
    if (tokens >= 0) return Promise.resolve();
    return options.sleep(-tokens * intervalMs);
  };
}
