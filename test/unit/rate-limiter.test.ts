import { describe, expect, it } from 'vitest';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { ConfigError } from '#core/errors.ts';
import { createRateLimiter, RateLimiter, rateLimiterStats } from '#core/rate-limiter.ts';

/** A clock that only moves when told, and a sleep that records its waits instead of waiting. */
function fakeTime() {
  let now = 0;
  const waits: number[] = [];
  return {
    waits,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
    /** Records the wait and lets the clock run to its end, as a real timer would. */
    sleepAdvancing: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
    sleepRecording: async (ms: number) => {
      waits.push(ms);
    },
  };
}

const round = (values: number[]) => values.map((v) => Math.round(v * 1000) / 1000);

describe('createRateLimiter', () => {
  it('lets the first request through at once and spaces simultaneous ones one interval apart', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ ratePerSecond: 10, now: time.now, sleep: time.sleepRecording });
    await Promise.all([limiter.acquire(), limiter.acquire(), limiter.acquire(), limiter.acquire()]);
    expect(round(time.waits)).toEqual([100, 200, 300]);
  });

  it('serves waiters first come, first served: each deadline is later than the previous one', async () => {
    const time = fakeTime();
    const timers: { ms: number; release: () => void }[] = [];
    const limiter = createRateLimiter({
      ratePerSecond: 5,
      now: time.now,
      sleep: (ms) => new Promise<void>((release) => timers.push({ ms, release })),
    });
    const order: number[] = [];
    const calls = [0, 1, 2, 3, 4].map((i) => {
      if (i === 3) time.advance(50);
      return limiter.acquire().then(() => order.push(i));
    });
    // Fire the fake timers by deadline, as the event loop would.
    for (const timer of [...timers].sort((a, b) => a.ms - b.ms)) timer.release();
    await Promise.all(calls);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(round(timers.map((t) => t.ms))).toEqual([200, 400, 550, 750]);
  });

  it('sleeps once per waiting caller and never for a caller it admits', async () => {
    const time = fakeTime();
    let sleeps = 0;
    const limiter = createRateLimiter({
      ratePerSecond: 2,
      now: time.now,
      sleep: async () => {
        sleeps++;
      },
    });
    await limiter.acquire();
    time.advance(500);
    await limiter.acquire();
    expect(sleeps).toBe(0);
    await limiter.acquire();
    expect(sleeps).toBe(1);
  });

  it('shortens the wait by the time already passed', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ ratePerSecond: 10, now: time.now, sleep: time.sleepRecording });
    await limiter.acquire();
    time.advance(30);
    await limiter.acquire();
    expect(round(time.waits)).toEqual([70]);
  });

  it('does not save up more than the burst during an idle spell', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ ratePerSecond: 10, now: time.now, sleep: time.sleepRecording });
    time.advance(60_000);
    await Promise.all([limiter.acquire(), limiter.acquire()]);
    expect(round(time.waits)).toEqual([100]);
  });

  it('admits a configured burst at once, then paces at the rate', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({
      ratePerSecond: 10,
      burst: 3,
      now: time.now,
      sleep: time.sleepRecording,
    });
    await Promise.all([1, 2, 3, 4, 5].map(() => limiter.acquire()));
    expect(round(time.waits)).toEqual([100, 200]);
  });

  it('holds a sequential caller to the rate over many requests', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ ratePerSecond: 20, now: time.now, sleep: time.sleepAdvancing });
    for (let i = 0; i < 101; i++) await limiter.acquire();
    // 101 requests at 20/s: the first is free, the other 100 take 5 seconds.
    expect(time.now()).toBeCloseTo(5_000, 6);
  });

  it('never waits when the rate is undefined or Infinity', async () => {
    for (const ratePerSecond of [undefined, Number.POSITIVE_INFINITY]) {
      const time = fakeTime();
      const limiter = createRateLimiter({ ratePerSecond, now: time.now, sleep: time.sleepRecording });
      await Promise.all(Array.from({ length: 50 }, () => limiter.acquire()));
      expect(time.waits).toEqual([]);
    }
  });

  it('rejects a rate that is not a positive number, naming the setting', () => {
    const time = fakeTime();
    for (const ratePerSecond of [0, -1, Number.NaN]) {
      expect(() => createRateLimiter({ ratePerSecond, now: time.now, sleep: time.sleepRecording })).toThrow(
        ConfigError,
      );
    }
    expect(() =>
      createRateLimiter({ ratePerSecond: 1, burst: 0, now: time.now, sleep: time.sleepRecording }),
    ).toThrow(/^rateLimit\.burst:/);
  });
});

describe('createSystemRateLimiter', () => {
  it('paces real acquires on the monotonic clock', async () => {
    const limiter = createSystemRateLimiter(20);
    expect(limiter).toBeInstanceOf(RateLimiter);
    const started = performance.now();
    await Promise.all([limiter.acquire(), limiter.acquire(), limiter.acquire()]);
    // Two intervals of 50 ms; timers may fire a millisecond early.
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
  });
});

describe('rateLimiterStats', () => {
  it('counts the requests admitted and the waits handed out', async () => {
    const time = fakeTime();
    const limiter = createRateLimiter({ ratePerSecond: 10, now: time.now, sleep: time.sleepRecording });
    await Promise.all([limiter.acquire(), limiter.acquire(), limiter.acquire()]);
    expect(rateLimiterStats(limiter)).toEqual({ acquired: 3, waitedMs: 300 });
    expect(rateLimiterStats({ acquire: async () => undefined } as RateLimiter)).toEqual({
      acquired: 0,
      waitedMs: 0,
    });
  });
});
