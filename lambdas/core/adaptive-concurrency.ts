/**
 * Users in flight sized by Little's law, so the client-side rate limit is used to the last
 * request whatever PayLink's latency: to sustain `rate` requests/s when each request keeps a
 * user busy `latency` seconds (its response time, plus the user's own work between requests),
 * `rate x latency` users must be in flight. Fewer leave the limiter idle (the rate is lost for
 * good: it keeps at most a few tens of ms of tokens); more only queue at the limiter.
 *
 * The latency is measured, not configured: over each window, the users' busy time (the integral
 * of users in flight) less the time they spent waiting at the limiter and sleeping out a retry's
 * back-off (a 429's Retry-After, a 5xx's back-off), divided by the requests admitted, is what one
 * request really costs: its HTTP exchanges and the user's own work between requests. Waiting at
 * the limiter is taken out, or more users would mean more waiting and yet more users; back-off
 * is taken out, or a few 429s with `Retry-After: 2` would read as 2-second requests and drive
 * the pool to `max` while PayLink asks us to slow down. The limit follows `rate x latency x headroom`
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
   * (load-batch's reorder window is 4 per worker). 512 users sustain 500 req/s up to ~680 ms per
   * request with the headroom below (200 req/s up to ~1.7 s); at 128, 500 req/s was out of reach
   * from ~250 ms. When even this is too few, `state().cappedMs` says for how long.
   */
  max: 512,
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
  /** Milliseconds users have slept in retry back-off so far (the PayLink client's `backoff` WaitMeter). */
  readonly backoffMs?: () => number;
  /** Monotonic milliseconds (performance.now in production). */
  readonly now: () => number;
  readonly min?: number;
  readonly max?: number;
  readonly headroom?: number;
}

export interface AdaptiveConcurrency extends ConcurrencyControl {
  /**
   * The measured cost of one request (ms; undefined before the first window), the limit, and
   * `cappedMs`: how long (ms, summed over windows) the rate needed more users than `max`, so
   * the client-side rate limit could not be reached by adapting.
   */
  state(): {
    latencyMs: number | undefined;
    limit: number;
    max: number;
    cappedMs: number;
    /** The highest latency (ms) measured while capped: what the note's reachable rate uses. */
    cappedLatencyMs: number | undefined;
  };
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
  const unclamped = (latencyMs: number) => Math.ceil((rate * latencyMs * headroom) / 1000);
  const need = (latencyMs: number) => (Number.isFinite(rate) ? clamp(unclamped(latencyMs)) : max);

  let limit = need(settings.initialLatencyMs);
  let latencyMs: number | undefined;
  let cappedMs = 0;
  let cappedLatencyMs: number | undefined;
  let active = 0;
  let busyMs = 0;
  let at = options.now();
  const backoffMs = options.backoffMs ?? (() => 0);
  let window = { start: at, busyMs: 0, backoffMs: backoffMs(), ...options.limiter() };

  const advance = () => {
    const now = options.now();
    busyMs += active * Math.max(0, now - at);
    at = now;
    const counters = { ...options.limiter(), backoffMs: backoffMs() };
    const requests = counters.acquired - window.acquired;
    if (now - window.start < settings.windowMs || requests < settings.windowRequests) return;
    const waitedMs = counters.waitedMs - window.waitedMs + (counters.backoffMs - window.backoffMs);
    const perRequest = Math.max(0, busyMs - window.busyMs - waitedMs) / requests;
    latencyMs = latencyMs === undefined ? perRequest : (latencyMs + perRequest) / 2;
    if (Number.isFinite(rate) && unclamped(latencyMs) > max) {
      cappedMs += now - window.start;
      cappedLatencyMs = Math.max(cappedLatencyMs ?? 0, latencyMs);
    }
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
    state: () => ({ latencyMs, limit, max, cappedMs, cappedLatencyMs }),
  };
}

/**
 * The advice when adapting could not reach the rate limit for at least `minCappedMs` (2 s): the
 * measured latency needed more users in flight than `max`. Undefined otherwise. Numbers only.
 */
export function cappedConcurrencyNote(
  state: ReturnType<AdaptiveConcurrency['state']>,
  ratePerSecond: number,
  minCappedMs = 2000,
): string | undefined {
  const latency = state.cappedLatencyMs;
  if (state.cappedMs < minCappedMs || latency === undefined || latency <= 0) return undefined;
  // Only when it really held the rate back (a note saying 6,382 req/s is "below" 500 misleads).
  // The worst latency decides whether to speak, never a rate to quote: max / worst latency is
  // far below what the load reached (a reviewer saw "about 42 req/s" beside 140-283 req/s).
  if (Math.floor((state.max * 1000) / latency) >= ratePerSecond) return undefined;
  return (
    `users in flight stayed at the adaptive maximum of ${state.max} for ${Math.round(state.cappedMs / 1000)} s: ` +
    `at up to ${Math.round(latency)} ms a request (PayLink's answers and this process's own work) ` +
    `that many cannot keep the rate limit of ${ratePerSecond} req/s (the summary gives the rate reached); a higher --concurrency ` +
    `uses more of it when PayLink is slow, not when this machine is busy`
  );
}

/**
 * The users in flight a load uses, as the progress line, the summary and the batch log show it:
 * whether it adapts or was set, and the number now. With the measured latency beside it, "the
 * adapted count is too low" (a low number at a high latency) can be told from "this machine is
 * CPU-bound" (a number that would reach the rate, yet the rate is not reached).
 */
export interface UserConcurrency {
  readonly mode: 'adaptive' | 'set';
  /** Users allowed in flight now: the adapted limit, or the set value. */
  readonly users: number;
  /** Adaptive only: the measured cost of one request (ms), once a window was measured. */
  readonly latencyMs?: number;
}

export function userConcurrencyNow(concurrency: number | AdaptiveConcurrency): UserConcurrency {
  if (typeof concurrency === 'number') return { mode: 'set', users: concurrency };
  const { limit, latencyMs } = concurrency.state();
  return {
    mode: 'adaptive',
    users: limit,
    ...(latencyMs === undefined ? {} : { latencyMs: Math.round(latencyMs) }),
  };
}

/** `concurrency 37 (adaptive, 120 ms a request)`, `concurrency 8 (set)`. */
export function formatUserConcurrency(c: UserConcurrency): string {
  if (c.mode === 'set') return `concurrency ${c.users} (set)`;
  return `concurrency ${c.users} (adaptive${c.latencyMs === undefined ? '' : `, ${c.latencyMs} ms a request`})`;
}
