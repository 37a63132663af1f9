/**
 * Server-side rate limits, both answering 429 with a Retry-After above the rate:
 * - `TokenBucket` (the default): refilled at `ratePerSecond` and holding at most one second's
 *   worth, so a burst of up to S requests after a quiet second is accepted. Lenient: a client
 *   that bunches a third of a second's requests after a stall goes unnoticed.
 * - `SlidingWindow` (`rateLimitWindow: 'sliding'`): at most S requests accepted in any one-second
 *   window, counted when each request is handled. Strict, as an API gateway with a per-second
 *   quota may be: any bunching at the rate shows as 429s.
 */
export interface ServerRateLimit {
  /** Takes a slot; when there is none, the whole seconds until there will be one (at least 1). */
  take(): { ok: true } | { ok: false; retryAfterSeconds: number };
}

export class TokenBucket implements ServerRateLimit {
  readonly #rate: number;
  readonly #capacity: number;
  readonly #now: () => number;
  #tokens: number;
  #updatedAt: number;

  /** `now` in milliseconds (monotonic); injectable so tests need not sleep. */
  constructor(ratePerSecond: number, now: () => number = () => performance.now()) {
    this.#rate = ratePerSecond;
    this.#capacity = Math.max(1, ratePerSecond);
    this.#now = now;
    this.#tokens = this.#capacity;
    this.#updatedAt = now();
  }

  take(): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#updatedAt) / 1000) * this.#rate);
    this.#updatedAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - this.#tokens) / this.#rate)) };
  }
}

/** The window's length: a quota per second. */
const WINDOW_MS = 1000;

export class SlidingWindow implements ServerRateLimit {
  /** When each of the last `capacity` accepted requests was handled, oldest at `#next`. */
  readonly #accepted: number[];
  readonly #now: () => number;
  #next = 0;

  /** At most floor(S) (and at least 1) requests in any window of one second. */
  constructor(ratePerSecond: number, now: () => number = () => performance.now()) {
    this.#accepted = new Array<number>(Math.max(1, Math.floor(ratePerSecond))).fill(Number.NEGATIVE_INFINITY);
    this.#now = now;
  }

  take(): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.#now();
    // The ring holds the last `capacity` accepted requests: this one fits only if the oldest of
    // them has left the window (one second ago or more).
    const oldest = this.#accepted[this.#next]!;
    if (now - oldest < WINDOW_MS) {
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000)) };
    }
    this.#accepted[this.#next] = now;
    this.#next = (this.#next + 1) % this.#accepted.length;
    return { ok: true };
  }
}
