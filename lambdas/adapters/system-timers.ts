/**
 * The real clock and timers for the pure pieces of core/ that take them injected.
 */
import { performance } from 'node:perf_hooks';
import { createRateLimiter, type RateLimiter } from '#core/rate-limiter.ts';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A rate limiter on the monotonic clock (immune to wall-clock jumps); undefined rate: unlimited. */
export function createSystemRateLimiter(ratePerSecond: number | undefined, burst?: number): RateLimiter {
  return createRateLimiter({
    ratePerSecond,
    ...(burst === undefined ? {} : { burst }),
    now: () => performance.now(),
    sleep,
  });
}
