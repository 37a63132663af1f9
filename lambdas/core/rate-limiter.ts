/**
 * A client-side rate limiter shared by every concurrent user of a run, so the whole load stays
 * under the configured request rate. Pure: the monotonic clock and the sleep are injected.
 *
 * Two rules, both checked when the limiter actually runs: a token bucket at the full rate, which
 * paces and makes up an ordinary late wake-up, and a log of the last S releases, which keeps any
 * S + 1 of them more than a second apart (by RATE_LIMITER.marginMs) whatever happened to the
 * event loop. Before, reserving slots ahead (token debt, one timer per caller) released every
 * slot whose time had passed at once after a stall, and a strict server answered 429s we caused;
 * then a bucket that made up only 2 ms and paced 0.5% slow lost a long event-loop turn's tokens
 * (0.916x at 500 req/s) and still let arrival jitter put S + 1 in a strict server's second.
 * Neither rule learns: a server whose limit is below ours, or arrivals bunched by a CPU-starved
 * machine beyond the margin, drew 429s at the same pace all run long. So a 429 now lowers the
 * bucket's rate for a while (`signalThrottled`) and widens the log's margin for the rest of the
 * run (a strict server's 429s at our own rate are arrivals bunched beyond the margin); the log
 * still caps any window at S.
 */
import { ConfigError } from './errors.ts';
import { createWaitMeter } from './wait-meter.ts';

export const RATE_LIMITER = {
  /**
   * Lateness the bucket makes up while callers wait, ms of tokens beyond `burst`: a wake-up this
   * much later than due (a long event-loop turn, a machine that deschedules the loader, a GC)
   * still releases every request whose turn passed meanwhile, as far as the log below allows.
   * Lateness beyond it is lost: with 2 ms, 0.968x at 200 req/s and 0.916x at 500 on a loaded
   * loop; with 30 ms, 0.900x in the queueing model of a machine that deschedules the loader 35 ms
   * of every 50 (test/unit/rate-limiter-model.test.ts), 0.975x with 100 ms. Not more, because
   * what it lets go at once (1 + S / 10 at 100 ms) goes out as one bunch whose arrivals spread, and
   * a second later the log lets the same bunch go again: against a strict one-second server (the
   * simulator's sliding window on its own thread, a 300 ms stall at 100 req/s, load 13-14) 200 ms
   * drew 429s in 3 runs of 3 (8-18 each), a make-up of the whole second the log allows 16-26 in 3
   * of 3; 100 ms and 60 ms one run in 7 each, 30 ms one in 3 (that load's noise).
   */
  makeUpMs: 100,
  /**
   * Tokens (ms of them, beyond `burst`) the bucket keeps while no caller waits: what may go at
   * once when callers come after an idle spell. An idle spell owes nothing, so it stays what the
   * make-up was before it grew (30 ms).
   */
  idleMs: 30,
  /**
   * The log's window is 1000 + this, ms: at most S releases in any such window, so S + 1 arrivals
   * land in one second of the server's only if their delays (network, scheduling, the server's
   * own thread) differ by more than this. It caps the pace at 1000 / (1000 + marginMs) of the
   * rate. Measured at 50 req/s against a strict window: with every release exactly an interval
   * apart, arrivals up to 12 ms late made the server count 51 (2 429s).
   */
  marginMs: 10,
  /**
   * Each decrease on a 429 (`signalThrottled`) also doubles the log's margin, up to this (ms), for
   * the rest of the run. A strict per-second server saw S + 1 because arrivals bunched by more than
   * the margin (idle, at 500 req/s: 30 429s in a run with 10 ms); a token-bucket server never
   * answers 429 at our rate, so the margin stays 10 ms there. 80 ms caps the pace at 0.926x.
   */
  maxMarginMs: 80,
  /**
   * A wake-up this much later than due means the event loop was held (a major GC, a synchronous
   * encode): the requests released just before it may only now be going out, so they are logged
   * as sent now. Shorter delays (a busy machine's scheduling) are only made up.
   */
  stallMs: 50,
  /** Releases within this of the last one before a stall count as that turn's (ms). */
  turnMs: 2,
  /**
   * Throttling (a 429 from the server, `signalThrottled`) multiplies the effective rate by this.
   * The server's limit is lower than ours (a misconfigured --rate-limit) or arrivals bunch more
   * than the log's margin allows (a CPU-starved machine): either way pacing the same keeps the
   * 429s coming; 0.9 gives up 10% at once, and 50 -> 36.5 req/s in three steps.
   */
  throttleFactor: 0.9,
  /** The effective rate never goes below this fraction of the configured rate, however many 429s. */
  floorFraction: 0.25,
  /**
   * At most one decrease per this many ms: the limiter's own reaction time. 429s keep coming for
   * the requests released at the old pace until they and the server's one-second window have
   * passed (a second, plus a round trip), so a burst of them is one signal, not many.
   */
  reactionMs: 1200,
  /** After a decrease, the rate holds this long without another before it recovers (ms). */
  holdMs: 10_000,
  /**
   * Then it climbs linearly back to the configured rate over this long (ms). A server whose limit
   * is below ours therefore sees a few 429s each hold + ramp (15 s), not a stream; the hold is
   * what a 1-in-15 s probe costs a transient slow-down (a CPU-starved spell): ~10% for 10 s.
   */
  rampMs: 5000,
} as const;

export interface RateLimiterOptions {
  /** Requests per second; undefined or Infinity means unlimited. */
  readonly ratePerSecond?: number | undefined;
  /**
   * Tokens the bucket holds beyond its idle allowance (RATE_LIMITER.idleMs): requests that may go
   * at once after an idle spell. Default 1. Any one-second window still sees at most the rate (the
   * log), so a larger burst only bunches requests, which a server with a token bucket of its own
   * may not like; at steady state it buys no throughput.
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
  /**
   * `acquire` calls that have been let through (those still queued left out): what went out.
   * Absent for a stand-in; adaptive concurrency then takes `acquired`.
   */
  readonly released?: number;
  /** Milliseconds callers have waited so far, summed over every call (waits still going up to now). */
  readonly waitedMs: number;
  /** Requests per second the limiter paces at now (below the configured rate after 429s); absent when unlimited. */
  readonly effectiveRate?: number;
  /** Times the limiter lowered its rate on a 429 (`signalThrottled`); absent for a stand-in. */
  readonly decreases?: number;
}

/** What the limiter's rate control reports: the rate it paces at now and the decreases so far. */
interface Throttle {
  /** The server refused a request as over its rate (a 429): lower the rate. */
  readonly throttled: () => void;
  readonly effectiveRate: () => number | undefined;
  readonly decreases: () => number;
}

/** The stats and throttle of the limiters built here, kept aside so the class stays `{ acquire }`. */
const statsOf = new WeakMap<RateLimiter, () => RateLimiterStats>();
const throttleOf = new WeakMap<RateLimiter, () => void>();

/**
 * `new RateLimiter({ ratePerSecond, now, sleep })`. Its only member is `acquire`, so anything
 * with an `acquire(): Promise<void>` (a test double) can stand in for it.
 */
export class RateLimiter {
  /** Resolves when the caller may send one request. Callers are served first come, first served. */
  readonly acquire: () => Promise<void>;
  constructor(options: RateLimiterOptions) {
    const meter = createWaitMeter(options.now);
    const { take, throttle, waiting } = bucketAndLog(options);
    let acquired = 0;
    statsOf.set(this, () => {
      const effectiveRate = throttle.effectiveRate();
      return {
        acquired,
        released: acquired - waiting(),
        waitedMs: meter.totalMs(),
        ...(effectiveRate === undefined ? {} : { effectiveRate }),
        decreases: throttle.decreases(),
      };
    });
    throttleOf.set(this, throttle.throttled);
    this.acquire = () => {
      acquired++;
      const admitted = take();
      // Admitted at once, it still resumes after the waiters released before it in this turn
      // (one promise step behind their release, as theirs are): first come, first served holds
      // for what callers do next, not only for the limiter's order.
      if (admitted === undefined) return Promise.resolve().then(noop);
      return admitted.then(meter.begin());
    };
  }
}

/** What `limiter` has admitted and made wait so far (zeros for a stand-in not built here). */
export function rateLimiterStats(limiter: RateLimiter): RateLimiterStats {
  return statsOf.get(limiter)?.() ?? { acquired: 0, waitedMs: 0 };
}

/**
 * The server answered 429 (over its rate limit): the limiter lowers its rate, as the AWS SDKs'
 * "adaptive" retry mode does (a client-side rate limiter that a throttling response slows down
 * and that recovers afterwards; https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html,
 * the JS SDK's DefaultRateLimiter in @smithy/util-retry, CUBIC after RFC 8312). Simpler here: one
 * multiplicative decrease per reaction time, a hold, then a linear climb back (RATE_LIMITER).
 * Only 429s: a 5xx says the server failed, not that we were too fast. A no-op for a stand-in.
 */
export function signalThrottled(limiter: RateLimiter): void {
  throttleOf.get(limiter)?.();
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  return new RateLimiter(options);
}

/** Undefined: go now. A promise: wait for it (it resolves when the caller's turn has come). */
type Take = () => Promise<void> | undefined;

/**
 * The effective rate after 429s, a function of the clock only (no timer of its own): the
 * configured rate S until a 429; each decrease (at most one per `reactionMs`) sets it to
 * `throttleFactor` x what it was then, never below `floorFraction` x S; it holds there `holdMs`
 * after the last decrease, then climbs linearly to S over `rampMs`. Never above S.
 */
function rateControl(
  rate: number,
  now: () => number,
): Omit<Throttle, 'throttled'> & { readonly at: (t: number) => number; readonly throttled: () => boolean } {
  const { throttleFactor, floorFraction, reactionMs, holdMs, rampMs } = RATE_LIMITER;
  const floor = rate * floorFraction;
  let decreases = 0;
  /** The last decrease: when, and the rate it set. */
  let decreasedAt = Number.NEGATIVE_INFINITY;
  let lowered = rate;
  const at = (t: number): number => {
    const since = t - decreasedAt - holdMs;
    if (since <= 0) return lowered;
    // Never a decrease yet (since is Infinity) or the ramp done: the configured rate exactly.
    if (since >= rampMs) return rate;
    return lowered + ((rate - lowered) * since) / rampMs;
  };
  return {
    at,
    throttled: () => {
      const t = now();
      if (t - decreasedAt < reactionMs) return false;
      lowered = Math.max(floor, at(t) * throttleFactor);
      decreasedAt = t;
      decreases++;
      return true;
    },
    effectiveRate: () => at(now()),
    decreases: () => decreases,
  };
}

const unlimited: Throttle = {
  throttled: () => undefined,
  effectiveRate: () => undefined,
  decreases: () => 0,
};

/** Tokens a float sum may miss 1 by and still be a whole token (1/3 + 1/3 + 1/3). */
const EPSILON = 1e-9;
/** Milliseconds a float difference may miss the window by (a timer set for the rest wakes there). */
const EPSILON_MS = 1e-6;

/**
 * Waiters queue in call order; one timer at a time sleeps until the head may go. A waiter goes
 * when both hold at the moment the limiter really runs (the clock is read again on waking, so a
 * timer that fired early sleeps again for the rest):
 * - the bucket, refilled at the effective rate (the configured one, lower for a while after 429s:
 *   `rateControl`), holds a token. While callers wait it keeps up to `makeUpMs` of tokens, so a
 *   wake-up later than due (a long event-loop turn, a machine that deschedules the loader)
 *   releases the requests whose turn passed meanwhile instead of losing them, as far as the log
 *   allows; while none waits it keeps `burst` + `idleMs` of tokens, so an idle spell is no licence
 *   for a bigger burst than before;
 * - the log of the last S releases holds fewer than S within the last `1000 + marginMs` ms (the
 *   margin doubles with each decrease on a 429, up to `maxMarginMs`). This
 *   is what a strict server relies on: any S + 1 releases span more than a second by the margin,
 *   so arrival jitter below the margin never puts S + 1 in one of its one-second windows,
 *   whatever the bucket let through (after an idle spell, after a late wake-up).
 * A wake-up more than `stallMs` late means the event loop was held: the requests released just
 * before it (within `turnMs` of the last release) may only be going out now, so they are logged
 * as sent now, and the next S in any window count them there.
 */
function bucketAndLog(options: RateLimiterOptions): {
  take: Take;
  throttle: Throttle;
  waiting: () => number;
} {
  const rate = options.ratePerSecond;
  if (rate === undefined || rate === Number.POSITIVE_INFINITY)
    return { take: () => undefined, throttle: unlimited, waiting: () => 0 };
  if (!Number.isFinite(rate) || rate <= 0) {
    throw new ConfigError('rateLimit', 'must be a positive number of requests per second');
  }
  const burst = options.burst ?? 1;
  if (!Number.isInteger(burst) || burst < 1)
    throw new ConfigError('rateLimit.burst', 'must be a positive integer');

  const { makeUpMs, idleMs, marginMs, maxMarginMs, stallMs, turnMs } = RATE_LIMITER;
  const control = rateControl(rate, options.now);
  /** 1000 ms + the margin: wider after 429s (`maxMarginMs`), for the rest of the run. */
  let windowMs = 1000 + marginMs;
  const throttle: Throttle = {
    throttled: () => {
      if (!control.throttled()) return;
      windowMs = 1000 + Math.min(maxMarginMs, (windowMs - 1000) * 2);
      // Tokens saved while callers waited would keep the old pace until spent: the decrease
      // applies now, with what an idle spell leaves.
      tokens = Math.min(tokens, idleCap(control.at(options.now()) / 1000));
    },
    effectiveRate: control.effectiveRate,
    decreases: control.decreases,
  };
  /** When each of the last `log.length` releases went (or is taken to have gone), oldest at `next`. */
  const log = new Float64Array(Math.max(1, Math.floor(rate))).fill(Number.NEGATIVE_INFINITY);
  let next = 0;
  let tokens = burst;
  let updatedAt = options.now();
  const queue: (() => void)[] = [];
  let head = 0;
  let sleeping = false;
  /** When the timer's waiter is due; undefined when no timer sleeps or its stall was seen. */
  let dueAt: number | undefined;

  const newest = (): number => log[(next + log.length - 1) % log.length]!;
  /** The requests released just before a stall: logged at `now`, when they may really go out. */
  const restampLastTurn = (now: number): void => {
    const from = newest() - turnMs;
    for (let i = 1; i <= log.length; i++) {
      const at = (next + log.length - i) % log.length;
      if (!(log[at]! >= from)) break;
      log[at] = now;
    }
  };
  /** The tokens kept while no caller waits: `burst` and `idleMs` of them at `perMs`. */
  const idleCap = (perMs: number): number => burst + idleMs * perMs;
  /**
   * While callers wait, `makeUpMs` of tokens: a late wake-up owes them. The queue is non-empty at
   * a refill only if it was since the last one (a caller that finds it empty refills before
   * queueing), so those tokens were earned while callers waited.
   */
  const capAt = (perMs: number): number =>
    head < queue.length ? Math.max(idleCap(perMs), burst + makeUpMs * perMs) : idleCap(perMs);
  const refill = (now: number): void => {
    if (dueAt !== undefined && now - dueAt > stallMs) {
      restampLastTurn(now);
      dueAt = undefined;
    }
    // At the rate in force now: it climbs over seconds, so a refill's interval barely sees it move,
    // and a decrease applies at once to the tokens not yet earned.
    const perMs = control.at(now) / 1000;
    tokens = Math.min(capAt(perMs), tokens + Math.max(0, now - updatedAt) * perMs);
    updatedAt = now;
  };
  /** Whether one more may go at `now`: a token, and fewer than S releases in the last window. */
  const mayGo = (now: number): boolean => tokens >= 1 - EPSILON && now - log[next]! >= windowMs - EPSILON_MS;
  const take = (now: number): void => {
    tokens -= 1;
    log[next] = now;
    next = (next + 1) % log.length;
  };
  const release = (): void => {
    const now = options.now();
    refill(now);
    // No timer pending: its due time has been judged (by this refill) and means nothing now.
    if (!sleeping) dueAt = undefined;
    while (head < queue.length && mayGo(now)) {
      take(now);
      const resolve = queue[head]!;
      queue[head++] = noop;
      resolve();
    }
    // Drop the released prefix now and then, so the queue's memory follows the waiters.
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    if (head < queue.length && !sleeping) {
      sleeping = true;
      const waitMs = Math.max(0, ((1 - tokens) * 1000) / control.at(now), log[next]! + windowMs - now);
      dueAt = now + waitMs;
      void options.sleep(waitMs).then(() => {
        sleeping = false;
        release();
      });
    }
  };

  const acquire = (): Promise<void> | undefined => {
    if (head === queue.length) {
      const now = options.now();
      refill(now);
      if (mayGo(now)) {
        take(now);
        return undefined;
      }
    }
    return new Promise<void>((resolve) => {
      queue.push(resolve);
      release();
    });
  };
  return { take: acquire, throttle, waiting: () => queue.length - head };
}

const noop = (): void => undefined;
