/**
 * Users in flight sized by Little's law, so the client-side rate limit is used to the last
 * request whatever PayLink's latency: to sustain `rate` requests/s when each request keeps a
 * user busy `latency` seconds (its response time, plus the user's own work between requests),
 * `rate x latency` users must be in flight. Fewer leave the limiter idle (the rate is lost for
 * good: it keeps at most a few tens of ms of tokens); more only queue at the limiter, or, when
 * this process is the bottleneck, make it slower.
 *
 * The latency is measured, not configured: over each window, the users' busy time (the integral
 * of users in flight) less the time they spent waiting at the limiter and sleeping out a retry's
 * back-off (a 429's Retry-After, a 5xx's back-off), divided by the requests admitted, is what one
 * request really costs: its HTTP exchanges and the user's own work between requests. Waiting at
 * the limiter is taken out, or more users would mean more waiting and yet more users; back-off
 * is taken out, or a few 429s with `Retry-After: 2` would read as 2-second requests and drive
 * the pool to `max` while PayLink asks us to slow down. The limit follows `rate x latency x headroom`
 * (rounded up), between `min` and `max`: at most doubled, or cut by a quarter, per step.
 *
 * Two ways that estimate fails, both measured (bench/results/issue-11.md, section (k)), and what
 * guards against each. The rules follow Netflix's concurrency-limits Gradient2Limit (no growth
 * while the users in flight do not fill the limit, "app limited"; a bounded multiplicative
 * decrease when the latency signal rises), judged on goodput as TCP Vegas judges a window on
 * throughput:
 * - Runaway on a CPU-bound machine. This process's own CPU (event-loop lag, normalizing,
 *   encoding) is part of the measured latency: as the machine slows, the latency rises, Little's
 *   law adds users, and their work slows it more (512 users at 1.1-12 s a request, client
 *   timeouts). So every growth is judged: over the `judgeMs` after the users have filled it,
 *   the requests that went out less those retried, per second, must rise by a share of what the
 *   added users could bring, or reach the rate. A growth that did not pay is undone, and the
 *   limit it started from is a ceiling for `holdMs` (then it may probe again). Nothing grows
 *   before one judging period was measured. Client timeouts (over 1% of a window's
 *   requests) or an event loop late by `overloadLagMs` on average and twice its slow average
 *   (lateness that rose) with our users in flight risen a quarter over theirs (lateness that rose
 *   while as many users stayed is the machine's other work, and cutting on it ratcheted the limit
 *   to `min`), while short of the rate, shrink the limit by a quarter, at most once per `judgeMs`
 *   and not while the users of the last cut still drain; during a growth's judging they undo it.
 *   Without these, a machine whose other work came and went swung the limit between 4 and 512
 *   (bench/results/issue-11.md, section (o)). Where this process's CPU is measured (the
 *   adapters read process.cpuUsage), lateness is ours only when our CPU over that second is
 *   `cpuSaturated` of a core: users rise with a busy machine's lateness too (Little's law on
 *   requests its work made slower), and cutting them there held a slow API's load at 0.56-0.65x
 *   on a busy machine (section (p); the queueing model: 0.53x, where a fixed count gives 0.93x).
 *   And while the loop is that late with our CPU below it, nothing grows: the users added would
 *   only wait for the CPU the machine took (section (q)).
 * - Stuck at the floor on a busy machine. Time at the limiter is not all pacing: on a busy
 *   machine a waiter's turn comes late (its timer waits for the event loop), and users arriving
 *   together after one event-loop turn wait for each other's tokens. That time keeps a user from
 *   its next request as surely as its own work does, yet it was taken out: 3-9 ms a request
 *   measured while a user took ~22 ms a cycle, so the limit stayed at 4 and 200 req/s reached
 *   0.86-0.90x. The integral of users in flight over the requests answered is the cycle a
 *   request really costs, waits included. When the pool is full (the users, not the limiter,
 *   bound the rate) and the rate is not reached, the users in flight are scaled by rate /
 *   goodput (with headroom, at most doubled per step), up to 4 times what the lowest recent
 *   latency asks, and not while the loop is late by `overloadLagMs` (then the loop, not the
 *   users, holds the requests back); and a shrink is judged as a growth is: one that loses the
 *   rate is undone and its limit is a floor for `holdMs`.
 * Pure: the monotonic clock, this process's CPU clock, the limiter's counters and the client's
 * are injected.
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
  /** Goodput at or above this share of the rate reaches it (the issue's target is 0.98x). */
  reach: 0.98,
  /**
   * A change of the limit is judged on the goodput of at least this long after it (ms) and at
   * least `judgeRequests` answered, against as much before it: a 250 ms window at 50 req/s holds
   * 12 requests, where one more or fewer reads as 8% over or short; over 50 it is 2%, and a
   * verdict asks for a gain of 3 requests over the judged time besides.
   */
  judgeMs: 1000,
  judgeRequests: 50,
  /** A growth the users have not filled within this long (ms) is left unjudged: nothing to judge. */
  fillMs: 5000,
  /**
   * A growth must bring at least this share of the goodput it could: the users added times the
   * goodput a user gave, or the gap to the rate if that is smaller.
   */
  minGain: 0.25,
  /**
   * The bound a rejected change leaves (a ceiling, or a floor) holds this long (ms), doubled for
   * each rejection of the same kind in a row up to 8 times as long: a probe costs a judged
   * second at the wrong limit, so one that keeps failing is tried less often.
   */
  holdMs: 10_000,
  /** Overload: the limit times this (Gradient2 never cuts below half at once; a quarter here). */
  decrease: 0.75,
  /** Client timeouts above this share of a window's requests are overload. */
  timeoutShare: 0.01,
  /**
   * The event loop's timers late by this much on average (ms), and twice their slow average,
   * while short of the rate: the loop, not PayLink, is the bottleneck, and it got worse
   * (RATE_LIMITER.stallMs: a wake-up this late means it was held).
   */
  overloadLagMs: 50,
  /**
   * ... and only while the users in flight over the last judging period are this many times their
   * slow average: lateness that rose with as many users is the machine's, not ours.
   */
  overloadUsersRise: 1.25,
  /** A full pool short of the rate grows to at most this many times what the latency asks. */
  usersBound: 4,
  /**
   * This process's CPU over the last judging period at or above this share of one core: our own
   * work is what saturates (the event loop is one thread). Below it, a late loop is other
   * processes' doing: it neither cuts users (nor the growth waiting for its verdict) nor grows them.
   */
  cpuSaturated: 0.8,
} as const;

/** The PayLink client's running counters that adaptive concurrency reads (`api.stats()`). */
export interface ClientCounters {
  /** Failed attempts that were retried (not goodput). */
  readonly retries: number;
  /** Attempts that got no answer within the client's timeout. */
  readonly timeouts?: number;
}

export interface AdaptiveConcurrencyOptions {
  /** The client-side rate limit, requests/second (Infinity: no limit, then `max` users). */
  readonly ratePerSecond: number;
  /** The limiter's running counters (rate-limiter.ts `rateLimiterStats`). */
  readonly limiter: () => RateLimiterStats;
  /** Milliseconds users have slept in retry back-off so far (the PayLink client's `backoff` WaitMeter). */
  readonly backoffMs?: () => number;
  /** The client's retries and timeouts so far (`api.stats()`); without it every request admitted is goodput. */
  readonly client?: () => ClientCounters;
  /**
   * How late the event loop's timers ran on average since the previous call (ms; the
   * event-loop-delay adapter). Called once per window. Without it no lag is seen.
   */
  readonly loopDelayMs?: () => number;
  /**
   * CPU this process has used so far (ms, user and system: process.cpuUsage in the adapters).
   * Called once per window. Without it, a late loop is judged ours when our users rose with it.
   */
  readonly cpuMs?: () => number;
  /** Monotonic milliseconds (performance.now in production). */
  readonly now: () => number;
  readonly min?: number;
  readonly max?: number;
  readonly headroom?: number;
}

/** Why the limit last changed: what the batch log and the bench show beside the number. */
export type LimitReason = 'initial' | 'latency' | 'users-bound' | 'overload' | 'undone';

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
  /** What the guards did so far: growths undone, overload decreases, and the last reason. */
  decisions(): { undone: number; overloads: number; reason: LimitReason };
}

/** A change of the limit waiting for its verdict. */
interface Pending {
  readonly kind: 'grow' | 'shrink';
  readonly from: number;
  readonly to: number;
  readonly at: number;
  /** Goodput (answered requests/s) over the `judgeMs` before the change. */
  readonly before: number;
  /** Users in flight on average over the same time. */
  readonly usersBefore: number;
  /**
   * When the users in flight first reached the new limit (a growth: the pool starts users only
   * as others finish, so a doubled limit fills over a user's lifetime); judged from there.
   */
  filledAt?: number;
}

/** Requests answered per second over `ms`, `good` of them. */
interface Goodput {
  readonly perSecond: number;
  readonly good: number;
  readonly ms: number;
  /** Users in flight on average over the same time. */
  readonly users: number;
}

/** One closed window: when it ended, how long it lasted, requests answered in it. */
interface Closed {
  readonly end: number;
  readonly ms: number;
  readonly good: number;
  readonly busyMs: number;
  /** The event loop's mean lateness over the window (ms). */
  readonly lagMs: number;
  /** CPU this process used in the window (ms; undefined without a CPU clock). */
  readonly cpuMs: number | undefined;
  /** The measured cost of a request when the window closed (ms, averaged as `state()` gives it). */
  readonly latencyMs: number;
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
  const limited = Number.isFinite(rate);
  const clamp = (n: number) => Math.min(max, Math.max(min, n));
  const unclamped = (latencyMs: number) => Math.ceil((rate * latencyMs * headroom) / 1000);
  const need = (latencyMs: number) => (limited ? clamp(unclamped(latencyMs)) : max);

  let limit = need(settings.initialLatencyMs);
  let latencyMs: number | undefined;
  let cappedMs = 0;
  let cappedLatencyMs: number | undefined;
  let active = 0;
  let busyMs = 0;
  let at = options.now();
  const backoffMs = options.backoffMs ?? (() => 0);
  const client = options.client ?? (() => ({ retries: 0, timeouts: 0 }));
  const read = () => {
    const c = client();
    return {
      ...options.limiter(),
      backoffMs: backoffMs(),
      retries: c.retries,
      timeouts: c.timeouts ?? 0,
      cpuMs: options.cpuMs?.(),
    };
  };
  let window = { start: at, busyMs: 0, ...read() };
  /** Closed windows of the last few judging periods, oldest first. */
  const closed: Closed[] = [];
  let pending: Pending | undefined;
  /** No growth above `limit` until `until` (a growth that did not pay, or overload). */
  let ceiling: { limit: number; until: number } | undefined;
  /** No shrink below `limit` until `until` (a shrink that lost the rate). */
  let floor: { limit: number; until: number } | undefined;
  let overloadAt = Number.NEGATIVE_INFINITY;
  /** The event loop's lateness, averaged slowly over windows (ms): what "rose" is measured against. */
  let lagBaseMs: number | undefined;
  /** Users in flight, averaged as slowly: lateness is ours only if they rose with it. */
  let usersBase: number | undefined;
  let undone = 0;
  /** Rejections in a row, of growths and of shrinks: each doubles the next hold. */
  const strikes = { grow: 0, shrink: 0 };
  const holdFor = (kind: 'grow' | 'shrink') => settings.holdMs * 2 ** Math.min(3, strikes[kind]++);
  let overloads = 0;
  let reason: LimitReason = 'initial';

  /** Answered requests per second over the closed windows ending after `since`. */
  const goodputSince = (since: number): Goodput => {
    let good = 0;
    let ms = 0;
    let busy = 0;
    for (const w of closed)
      if (w.end > since) {
        good += w.good;
        busy += w.busyMs;
        ms += w.ms;
      }
    return { perSecond: ms > 0 ? (good * 1000) / ms : 0, good, ms, users: ms > 0 ? busy / ms : 0 };
  };
  /**
   * This process's CPU over wall time in the closed windows ending after `since` (a share of one
   * core; undefined without a CPU clock).
   */
  const cpuSince = (since: number): number | undefined => {
    let cpu = 0;
    let ms = 0;
    for (const w of closed)
      if (w.end > since) {
        if (w.cpuMs === undefined) return undefined;
        cpu += w.cpuMs;
        ms += w.ms;
      }
    return ms > 0 ? cpu / ms : undefined;
  };
  /** The same over the latest windows holding at least `judgeMs` and `judgeRequests` (or all kept). */
  const goodputRecent = (): Goodput => {
    let good = 0;
    let ms = 0;
    let busy = 0;
    for (let i = closed.length - 1; i >= 0; i--) {
      good += closed[i]!.good;
      busy += closed[i]!.busyMs;
      ms += closed[i]!.ms;
      if (ms >= settings.judgeMs && good >= settings.judgeRequests) break;
    }
    return { perSecond: ms > 0 ? (good * 1000) / ms : 0, good, ms, users: ms > 0 ? busy / ms : 0 };
  };

  /**
   * Whether the judged change keeps: a growth that paid, a shrink that kept the rate. One request
   * over the judged time is slack: where a window's edge falls moves one in or out (at 50 req/s
   * over 1 s that is 2%, the whole margin between the limiter's 0.99x and the 0.98x reached).
   */
  const verdict = (change: Pending, after: Goodput, rateNow: number): boolean => {
    const slack = 1000 / after.ms;
    const target = settings.reach * rateNow;
    const reached = after.perSecond + slack >= target;
    if (change.kind === 'shrink') return reached || after.perSecond + slack >= change.before * settings.reach;
    // Reached the rate: the growth paid, whatever it started from. Held the rate while the
    // latency rose: at the rate, more users cannot show a gain. Short of it and then at it: the
    // gap closed may be smaller than any gain asked below (at 50 req/s, 16 users at 339 ms gave
    // 48.3 req/s, 25 gave 49.6: 1.2 more, where 3 requests over the judged second were asked),
    // and undoing it left the limit 3% short for the whole hold.
    if (reached) return true;
    // The users really added (in flight on average, not the limit: users finishing together can
    // leave it unfilled for a while). None added: nothing to judge, the growth stands.
    const added = after.users - change.usersBefore;
    if (change.usersBefore <= 0 || added <= 0.05 * change.usersBefore) return true;
    // What they could bring: as much each as the users gave before, up to the rate.
    const could = Math.min((change.before * added) / change.usersBefore, rateNow - change.before);
    // At least 1% of the rate and 3 requests of the judged time too: less is noise (where the
    // windows' edges fell, the limiter's own 0.99x), not the users' doing.
    return after.perSecond - change.before >= Math.max(settings.minGain * could, 0.01 * rateNow, 3 * slack);
  };

  const setLimit = (next: number, why: LimitReason, now: number, before: Goodput) => {
    if (next === limit) return;
    // Judged against a goodput measured over a judging period; the first changes of a run (its
    // first windows: users starting, the limiter's first burst) have none to compare with.
    const judged = before.ms >= settings.judgeMs && before.good >= settings.judgeRequests;
    // Any change ends the judging of an earlier one (a shrink replaces a growth not yet filled).
    pending =
      why !== 'overload' && why !== 'undone' && judged
        ? {
            kind: next > limit ? 'grow' : 'shrink',
            from: limit,
            to: next,
            at: now,
            before: before.perSecond,
            usersBefore: before.users,
          }
        : undefined;
    limit = next;
    reason = why;
  };

  const close = (now: number, counters: ReturnType<typeof read>) => {
    const ms = now - window.start;
    const requests = counters.acquired - window.acquired;
    // What went out (the limiter's queue left out) and was not a failed attempt retried.
    const released = (counters.released ?? counters.acquired) - (window.released ?? window.acquired);
    const good = Math.max(0, released - (counters.retries - window.retries));
    const waitedMs = counters.waitedMs - window.waitedMs + (counters.backoffMs - window.backoffMs);
    const windowBusyMs = busyMs - window.busyMs;
    const perRequest = Math.max(0, windowBusyMs - waitedMs) / requests;
    latencyMs = latencyMs === undefined ? perRequest : (latencyMs + perRequest) / 2;
    if (limited && unclamped(latencyMs) > max) {
      cappedMs += now - window.start;
      cappedLatencyMs = Math.max(cappedLatencyMs ?? 0, latencyMs);
    }
    const timeouts = counters.timeouts - window.timeouts;
    const lagMs = options.loopDelayMs?.() ?? 0;
    const cpuMs =
      counters.cpuMs === undefined || window.cpuMs === undefined ? undefined : counters.cpuMs - window.cpuMs;
    window = { start: now, busyMs, ...counters };
    closed.push({ end: now, ms, good, busyMs: windowBusyMs, lagMs, cpuMs, latencyMs });
    // Enough for the judged time after a change and as much before it, at any rate.
    while (closed.length > 64) closed.shift();
    if (!limited) {
      limit = max;
      return;
    }

    // The rate the limiter paces at now: below the configured one for a while after 429s.
    const rateNow = counters.effectiveRate ?? rate;
    // Over the last judging period, not this window alone: 250 ms at 50 req/s is 12 requests,
    // and one more or fewer would read as 8% short or over.
    const history = goodputRecent();
    const recent = history.perSecond;
    const short = recent < settings.reach * rateNow;
    if (ceiling !== undefined && now >= ceiling.until) ceiling = undefined;
    if (floor !== undefined && now >= floor.until) floor = undefined;

    // Overload first, whatever is being judged: timeouts, or a loop too late to keep the pace.
    // Lateness that rose: twice its slow average at least. A machine busy with other work is
    // late whatever our users do, and cutting them there only loses the rate (measured: 0.26x
    // against 0.38x at 500 req/s, load 15).
    // Over the last judging period, not one window: a batch's staging holds the loop for a few
    // hundred ms, a spike that is not overload (cutting on it cost rate at 500 req/s).
    let lagSum = 0;
    let lagSpan = 0;
    let usersSum = 0;
    for (let i = closed.length - 1; i >= 0 && lagSpan < settings.judgeMs; i--) {
      lagSum += closed[i]!.lagMs * closed[i]!.ms;
      usersSum += closed[i]!.busyMs;
      lagSpan += closed[i]!.ms;
    }
    const cpuNow = cpuSince(now - lagSpan);
    const lagNowMs = lagSpan > 0 ? lagSum / lagSpan : lagMs;
    const lagRose = lagNowMs >= settings.overloadLagMs && lagNowMs >= 2 * (lagBaseMs ?? lagNowMs / 2);
    lagBaseMs = lagBaseMs === undefined ? lagMs : lagBaseMs + (lagMs - lagBaseMs) / 10;
    // Ours only if our users rose with it: lateness that rose while as many users stayed in flight
    // is the machine's other work coming (a busy spell of other processes), and cutting our users
    // then ratcheted the limit down to `min`, a quarter at every spell, at a fraction of the
    // goodput they had (the queueing model, test adaptive-concurrency-guards "a machine whose
    // other work comes and goes").
    const usersNow = lagSpan > 0 ? usersSum / lagSpan : windowBusyMs / ms;
    const usersRose = usersNow >= settings.overloadUsersRise * (usersBase ?? usersNow);
    usersBase =
      usersBase === undefined ? windowBusyMs / ms : usersBase + (windowBusyMs / ms - usersBase) / 10;
    // Better, where our CPU is measured: lateness is ours when our own CPU is what saturated. Users
    // rise with the machine's lateness too: a growth on a busy machine (Little's law on requests
    // that others' work made slower) raised both, and was cut and held, 30 users where 90 kept
    // 0.93x of 200 req/s at 300 ms (0.53x; the queueing model, our CPU at 0.14-0.29 of a core:
    // bench/results/issue-11.md (p) and (q)).
    const ours = cpuNow === undefined ? usersRose : cpuNow >= settings.cpuSaturated;
    const overloaded =
      (timeouts > 0 && timeouts >= settings.timeoutShare * requests) || (lagRose && ours && short);
    // Not while the users of a previous cut are still draining (users started stay in flight until
    // they finish): cutting again before the last cut took effect took 150 users to 23 in four
    // seconds on a busy machine, where 32 kept the goodput (the queueing model).
    const draining = windowBusyMs / ms > limit + 0.5;
    if (overloaded && !draining && now - overloadAt >= settings.judgeMs) {
      overloadAt = now;
      overloads++;
      // Overload while a growth waits for its verdict: the growth caused it, and is undone with
      // it, as a growth that did not pay (its start a ceiling, held longer at each rejection).
      // A quarter off the grown limit alone kept half the doubling and dropped the verdict, so a
      // full pool short of the rate doubled again after every hold: 30, 60, 45, 90, 67, 134, 100,
      // 200 users on a busy machine (the queueing model), never judged.
      const grew = pending?.kind === 'grow' ? pending.from : undefined;
      pending = undefined;
      floor = undefined;
      const cut = Math.max(min, Math.floor(limit * settings.decrease));
      setLimit(grew === undefined ? cut : Math.min(cut, grew), 'overload', now, history);
      ceiling = { limit, until: now + (grew === undefined ? settings.holdMs : holdFor('grow')) };
      return;
    }

    if (pending?.filledAt === undefined && pending !== undefined) {
      if (pending.kind === 'shrink' || windowBusyMs / ms >= 0.9 * pending.to) pending.filledAt = now;
      // Never filled (the batch is ending, the users are few): no evidence either way.
      else if (now - pending.at >= settings.fillMs) pending = undefined;
    }
    // A growth the users have not filled yet: judged once they have; a shrink may replace it.
    const unfilled = pending !== undefined && pending.filledAt === undefined;
    if (pending !== undefined && pending.filledAt !== undefined) {
      const from = pending.kind === 'shrink' ? pending.at : pending.filledAt;
      const after = goodputSince(from);
      if (now - from < settings.judgeMs || after.good < settings.judgeRequests) return;
      const change = pending;
      pending = undefined;
      if (!verdict(change, after, rateNow)) {
        undone++;
        setLimit(change.from, 'undone', now, history);
        if (change.kind === 'grow') ceiling = { limit: change.from, until: now + holdFor('grow') };
        else floor = { limit: change.from, until: now + holdFor('shrink') };
        return;
      }
      strikes[change.kind] = 0;
    }

    // Little's law on the latency less every wait: what the rate needs when the limiter binds.
    let target = need(latencyMs);
    let why: LimitReason = 'latency';
    // The users bind instead: the pool was full and the rate not reached. Their whole cycle
    // (busy time over requests answered, waits included) is what a request costs them.
    // Not while the loop is late by `overloadLagMs` on average: then the loop (our work or the
    // machine's) holds the requests back, not the users, and more users only wait for it.
    const inFlight = windowBusyMs / ms;
    if (short && recent > 0 && inFlight >= limit / 2 && lagNowMs < settings.overloadLagMs) {
      // At most `usersBound` times what the latency asks: the waits it leaves out were 3-9 ms a
      // request beside 5 measured (7 users needed, the bound 4 x the floor of 4), while on a
      // machine whose other work comes and goes every busy spell reads as users short of the
      // rate, and the users grew spell after spell to 512 at 50 req/s, where 8 kept the rate (the
      // queueing model). The lowest latency of the windows kept (the last 16 s or more), not the
      // latest: a busy spell's latency, the wait for the CPU in it, moved the bound with it, and
      // the users with the bound (16 to 180 users at 200 req/s, the queueing model).
      const baseLatencyMs = Math.min(...closed.map((w) => w.latencyMs));
      const bound = settings.usersBound * need(baseLatencyMs);
      const cycle = Math.min(bound, Math.ceil(inFlight * Math.min(2, (rateNow / recent) * headroom)));
      if (cycle > target) {
        target = clamp(cycle);
        why = 'users-bound';
      }
    }
    if (target > limit) {
      if (unfilled) return;
      // A loop late by `overloadLagMs` while our CPU has room is late for the machine's other work:
      // Little's law on requests it made slower asks for users that would only wait for the CPU
      // it took (16 to 66 users in every busy spell and back, where 16 kept what could be kept:
      // the queueing model). With our CPU saturated the growth is judged, and lateness cuts.
      if (lagNowMs >= settings.overloadLagMs && cpuNow !== undefined && cpuNow < settings.cpuSaturated)
        return;
      // Gradient2's "app limited": users that do not fill the limit gain nothing from a higher one.
      if (inFlight < limit / 2) return;
      // Nothing to judge a growth against before a judging period was measured: hold the start.
      if (history.ms < settings.judgeMs || history.good < settings.judgeRequests) return;
      // At most doubled per judged step: users started stay in flight until they finish, whatever
      // the verdict (at start-up a 750 ms first window once asked for 226 users at once).
      target = Math.min(target, 2 * limit);
      if (ceiling !== undefined) target = Math.min(target, Math.max(limit, ceiling.limit));
    } else if (target < limit) {
      target = Math.max(target, Math.floor(limit * 0.75));
      if (floor !== undefined) target = Math.max(target, Math.min(limit, floor.limit));
    }
    setLimit(target, why, now, history);
  };

  const advance = () => {
    const now = options.now();
    busyMs += active * Math.max(0, now - at);
    at = now;
    const counters = read();
    const requests = counters.acquired - window.acquired;
    if (now - window.start < settings.windowMs || requests < settings.windowRequests) return;
    close(now, counters);
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
    decisions: () => ({ undone, overloads, reason }),
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
