import { describe, expect, it } from 'vitest';
import {
  ADAPTIVE_CONCURRENCY,
  adaptiveConcurrency,
  cappedConcurrencyNote,
  formatUserConcurrency,
  userConcurrencyNow,
} from '#core/adaptive-concurrency.ts';
import { createRateLimiter, rateLimiterStats } from '#core/rate-limiter.ts';

/**
 * The real token bucket and the control on a fake clock; the limiter's sleeps are timers the
 * test fires as it moves the clock 1 ms at a time.
 */
function simulate(options: { rate: number }) {
  let now = 0;
  const timers: { at: number; fire: () => void }[] = [];
  const limiter = createRateLimiter({
    ratePerSecond: options.rate,
    now: () => now,
    sleep: (ms) => new Promise<void>((resolve) => timers.push({ at: now + ms, fire: resolve })),
  });
  const control = adaptiveConcurrency({
    ratePerSecond: options.rate,
    limiter: () => rateLimiterStats(limiter),
    now: () => now,
  });
  return { control, limiter, timers, clock: { get: () => now, set: (t: number) => (now = t) } };
}

describe('userConcurrencyNow', () => {
  it('names a set concurrency as set, and an adaptive one by its limit and measured latency', () => {
    expect(userConcurrencyNow(8)).toEqual({ mode: 'set', users: 8 });
    const adaptive = adaptiveConcurrency({
      ratePerSecond: 50,
      limiter: () => ({ acquired: 0, waitedMs: 0 }),
      now: () => 0,
    });
    expect(userConcurrencyNow(adaptive)).toEqual({ mode: 'adaptive', users: adaptive.limit() });
    expect(formatUserConcurrency({ mode: 'adaptive', users: 37, latencyMs: 120 })).toBe(
      'concurrency 37 (adaptive, 120 ms a request)',
    );
    expect(formatUserConcurrency({ mode: 'set', users: 8 })).toBe('concurrency 8 (set)');
  });
});

describe('adaptiveConcurrency', () => {
  it('starts from the assumed latency: rate x 100 ms x headroom, within min and max', () => {
    const at = (rate: number) =>
      adaptiveConcurrency({
        ratePerSecond: rate,
        limiter: () => ({ acquired: 0, waitedMs: 0 }),
        now: () => 0,
      }).limit();
    expect(at(20)).toBe(ADAPTIVE_CONCURRENCY.min);
    expect(at(200)).toBe(30);
    expect(at(10_000)).toBe(ADAPTIVE_CONCURRENCY.max);
    expect(at(Number.POSITIVE_INFINITY)).toBe(ADAPTIVE_CONCURRENCY.max);
  });

  it('sizes the pool by Little law from the busy time less the time spent waiting at the limiter', () => {
    let now = 0;
    let counters = { acquired: 0, waitedMs: 0 };
    const control = adaptiveConcurrency({ ratePerSecond: 200, limiter: () => counters, now: () => now });
    control.inFlight?.(10);
    // 10 users busy for 1 s = 10,000 ms of busy time; 200 requests admitted, 2,000 ms of it waiting.
    now = 1000;
    counters = { acquired: 200, waitedMs: 2000 };
    // (10,000 - 2,000) / 200 = 40 ms a request; 200 req/s x 40 ms x 1.5 = 12, reached from the
    // initial 30 (100 ms assumed) a quarter at a time.
    const limits = [control.limit()];
    for (let second = 2; second <= 4; second++) {
      now = second * 1000;
      counters = { acquired: 200 * second, waitedMs: 2000 * second };
      limits.push(control.limit());
    }
    expect(control.state().latencyMs).toBeCloseTo(40);
    expect(limits).toEqual([22, 16, 12, 12]);
  });

  it('takes the retries back-off sleeps out of the busy time, as it does the limiter waits', () => {
    let now = 0;
    let backoffMs = 0;
    let counters = { acquired: 0, waitedMs: 0 };
    const control = adaptiveConcurrency({
      ratePerSecond: 200,
      limiter: () => counters,
      backoffMs: () => backoffMs,
      now: () => now,
    });
    control.inFlight?.(20);
    // 20 users busy 1 s = 20,000 ms; 100 requests, 2,000 ms at the limiter and 16,000 ms asleep
    // in 429 Retry-After back-off: (20,000 - 2,000 - 16,000) / 100 = 20 ms a request.
    now = 1000;
    counters = { acquired: 100, waitedMs: 2000 };
    backoffMs = 16_000;
    control.limit();
    expect(control.state().latencyMs).toBeCloseTo(20);
  });

  it('counts the time the rate needed more users than max (the limit cannot be reached by adapting)', () => {
    let now = 0;
    let acquired = 0;
    const control = adaptiveConcurrency({
      ratePerSecond: 500,
      limiter: () => ({ acquired, waitedMs: 0 }),
      now: () => now,
    });
    // Each request keeps a user 1,280 ms: 500 x 1.28 s x 1.5 = 960 users needed. Users follow the
    // limit; it at most doubles per step, each growth judged once the users have filled it.
    const limits: number[] = [];
    for (let second = 1; second <= 6; second++) {
      const users = control.limit();
      control.inFlight?.(users);
      now = second * 1000;
      acquired += users / 1.28;
      limits.push(control.limit());
    }
    expect(limits).toEqual([150, 150, 300, 300, 512, 512]);
    expect(control.state().cappedMs).toBe(6000);
    // PayLink answers fast again: the need falls under max and the capped time stops growing.
    control.inFlight?.(50);
    for (let second = 7; second <= 10; second++) {
      now = second * 1000;
      acquired += 500;
      control.limit();
    }
    expect(control.state().latencyMs).toBeLessThan(ADAPTIVE_CONCURRENCY.max / 1.5 / 0.5);
    expect(control.state().cappedMs).toBeLessThan(10_000);
    const before = control.state().cappedMs;
    now = 11_000;
    acquired += 500;
    control.limit();
    expect(control.state().cappedMs).toBe(before);
  });

  it('advises a higher --concurrency only when the cap held the rate below the limit for 2 s or more', () => {
    const state = { latencyMs: 80, limit: 512, max: 512, cappedMs: 3000, cappedLatencyMs: 1280 };
    expect(cappedConcurrencyNote(state, 500)).toBe(
      'users in flight stayed at the adaptive maximum of 512 for 3 s: at up to 1280 ms a request ' +
        "(PayLink's answers and this process's own work) that many cannot keep the rate limit of 500 req/s " +
        '(the summary gives the rate reached); a higher --concurrency uses more of it when PayLink is slow, not when this machine is busy',
    );
    expect(cappedConcurrencyNote({ ...state, cappedMs: 1999 }, 500)).toBeUndefined();
    expect(cappedConcurrencyNote({ ...state, cappedLatencyMs: undefined }, 500)).toBeUndefined();
    // Reachable above the limit (the latency of the capped windows was short): no note, whatever
    // the final average says (it printed "6382 req/s, below the rate limit of 500").
    expect(cappedConcurrencyNote({ ...state, cappedLatencyMs: 80 }, 500)).toBeUndefined();
  });

  it('sustains 500 req/s at 600 ms a request (128 users could not: ~250 ms was their ceiling)', () => {
    let now = 0;
    let counters = { acquired: 0, waitedMs: 0 };
    const control = adaptiveConcurrency({ ratePerSecond: 500, limiter: () => counters, now: () => now });
    // Users follow the limit; each request keeps one 600 ms, so N users answer N / 0.6 a second
    // (at most the rate: the rest wait at the limiter).
    const limits: number[] = [];
    for (let second = 1; second <= 6; second++) {
      const users = control.limit();
      control.inFlight?.(users);
      now = second * 1000;
      const answered = Math.min(500, users / 0.6);
      counters = {
        acquired: counters.acquired + answered,
        waitedMs: counters.waitedMs + Math.max(0, users * 1000 - answered * 600),
      };
      limits.push(control.limit());
    }
    // 500 x 0.6 s x 1.5 = 450, reached doubling from the assumed 100 ms (75 users), each growth
    // judged a second after the users filled it.
    expect(limits).toEqual([150, 150, 300, 300, 450, 450]);
    expect(control.state().cappedMs).toBe(0);
  });

  it('grows at most twofold per window when requests take longer, and shrinks by at most a quarter', () => {
    let now = 0;
    let counters = { acquired: 0, waitedMs: 0 };
    const control = adaptiveConcurrency({ ratePerSecond: 100, limiter: () => counters, now: () => now });
    control.inFlight?.(40);
    now = 1000;
    counters = { acquired: 100, waitedMs: 0 }; // 400 ms a request: needs 60, from 15
    expect(control.limit()).toBe(30);
    now = 2000;
    counters = { acquired: 200, waitedMs: 0 }; // filled (40 users in flight for a limit of 30)
    expect(control.limit()).toBe(30);
    now = 3000;
    counters = { acquired: 300, waitedMs: 0 }; // the growth held the rate: judged and kept
    expect(control.limit()).toBe(60);
    // Requests now wait at the limiter most of the time: the need drops, the limit follows gently.
    now = 4000;
    counters = { acquired: 400, waitedMs: 39_000 }; // (40,000 - 39,000) / 100 = 10 ms; average 205 ms
    expect(control.limit()).toBe(45);
    expect(control.limit()).toBe(45); // nothing new measured within the window
  });

  it('keeps the limiter busy: a simulated run at 200 req/s with 50 ms requests reaches the rate', async () => {
    const run = simulate({ rate: 200 });
    const { control, limiter, timers, clock } = run;
    let admitted = 0;
    let active = 0;
    const sleeps: { at: number; fire: () => void }[] = [];
    const user = async () => {
      active++;
      control.inFlight?.(active);
      for (let r = 0; r < 8; r++) {
        await limiter.acquire();
        admitted++;
        await new Promise<void>((resolve) => sleeps.push({ at: clock.get() + 50, fire: resolve }));
      }
      active--;
      control.inFlight?.(active);
    };
    const running: Promise<void>[] = [];
    for (let t = 0; t < 5000; t++) {
      clock.set(t);
      for (const list of [timers, sleeps])
        for (let i = list.length - 1; i >= 0; i--)
          if (list[i]!.at <= t) {
            list[i]!.fire();
            list.splice(i, 1);
          }
      while (active < control.limit()) running.push(user());
      // Let promise chains run before the clock moves on.
      for (let k = 0; k < 20; k++) await Promise.resolve();
    }
    // Little law: 200 req/s x 50 ms = 10 users; with headroom 15.
    expect(control.limit()).toBeGreaterThanOrEqual(10);
    expect(control.limit()).toBeLessThanOrEqual(20);
    // The last 4 s ran at the rate (the first second starts from the assumed latency).
    expect(admitted).toBeGreaterThan(0.97 * 200 * 5);
  });
});
