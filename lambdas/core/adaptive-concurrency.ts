/**
 * Users in flight sized by Little's law, so the client-side rate limit is used to the last
 * request whatever PayLink's latency: to sustain `rate` requests/s when each request keeps a
 * user busy `latency` seconds (its response time, plus the user's own work between requests),
 * `rate x latency` users must be in flight. Fewer leave the limiter idle (the rate is lost for
 * good: it keeps at most `burst` tokens); more only queue at the limiter.
 *
 * The latency is measured, not configured: over each window, the users' busy time (the integral
 * of users in flight) less the time they spent waiting at the limiter, divided by the requests
 * admitted, is what one request really costs. Waiting at the limiter is taken out, or more users
 * would mean more waiting and yet more users. The limit follows `rate x latency x headroom`
 * (rounded up), at once when it must grow, by at most a quarter per window when it may shrink,
 * between `min` and `max`. Pure: the monotonic clock and the limiter's counters are injected.
 */
import type { ConcurrencyControl } from './pool.ts';
import type { RateLimiterStats } from './rate-limiter.ts';

export const ADAPTIVE_CONCURRENCY = {
  /** Never fewer users in flight (a few slow users must not starve the rate). */
  min: 4,
  /**
   * Never more: bounds the memory of users in flight and of finished users waiting for their turn
   * (load-batch's reorder window is 4 per worker). 128 users sustain 500 req/s up to ~170 ms
   * per request with the headroom below.
   */
  max: 128,
  /** Above the measured need: latency varies, and the event loop stalls while parts encode. */
  headroom: 1.5,
  /** The latency assumed until a window has measured one (ms per request). */
  initialLatencyMs: 100,
  /** A window lasts at least this long and admits at least `windowRequests` requests. */
  windowMs: 250,
  windowRequests: 10,
} as const;

export interface AdaptiveConcurrencyOptions {
  /** The client-side rate limit, requests/second (Infinity: no limit, then `max` users). */
  readonly ratePerSecond: number;
  /** The limiter's running counters (rate-limiter.ts `rateLimiterStats`). */
  readonly limiter: () => RateLimiterStats;
  /** Monotonic milliseconds (performance.now in production). */
  readonly now: () => number;
  readonly min?: number;
  readonly max?: number;
  readonly headroom?: number;
}

export interface AdaptiveConcurrency extends ConcurrencyControl {
  /** The measured cost of one request (ms; undefined before the first window) and the limit. */
  state(): { latencyMs: number | undefined; limit: number };
}

export function adaptiveConcurrency(options: AdaptiveConcurrencyOptions): AdaptiveConcurrency {
  const settings = ADAPTIVE_CONCURRENCY;
  const min = options.min ?? settings.min;
  const max = options.max ?? settings.max;
  const headroom = options.headroom ?? settings.headroom;
  if (!(Number.isInteger(min) && min >= 1 && Number.isInteger(max) && max >= min))
    throw new RangeError('adaptive concurrency: min and max must be integers with 1 <= min <= max');
  if (!(headroom >= 1)) throw new RangeError('adaptive concurrency: headroom must be at least 1');
  const rate = options.ratePerSecond;
  const clamp = (n: number) => Math.min(max, Math.max(min, n));
  const need = (latencyMs: number) =>
    Number.isFinite(rate) ? clamp(Math.ceil((rate * latencyMs * headroom) / 1000)) : max;

  let limit = need(settings.initialLatencyMs);
  let latencyMs: number | undefined;
  let active = 0;
  let busyMs = 0;
  let at = options.now();
  let window = { start: at, busyMs: 0, ...options.limiter() };

  const advance = () => {
    const now = options.now();
    busyMs += active * Math.max(0, now - at);
    at = now;
    const counters = options.limiter();
    const requests = counters.acquired - window.acquired;
    if (now - window.start < settings.windowMs || requests < settings.windowRequests) return;
    const perRequest = Math.max(0, busyMs - window.busyMs - (counters.waitedMs - window.waitedMs)) / requests;
    latencyMs = latencyMs === undefined ? perRequest : (latencyMs + perRequest) / 2;
    const target = need(latencyMs);
    limit = target >= limit ? target : Math.max(target, Math.floor(limit * 0.75));
    window = { start: now, busyMs, ...counters };
  };

  return {
    max,
    limit() {
      advance();
      return limit;
    },
    inFlight(count) {
      advance();
      active = count;
    },
    state: () => ({ latencyMs, limit }),
  };
}
