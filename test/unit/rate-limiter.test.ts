import { describe, expect, it } from 'vitest';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { ConfigError } from '#core/errors.ts';
import { createRateLimiter, RATE_LIMITER, RateLimiter, rateLimiterStats } from '#core/rate-limiter.ts';

/** The interval between two releases at `rate` while the bucket paces (the log does not bind yet). */
const intervalAt = (rate: number) => 1000 / rate;
/** The log's window: at most S releases in any window this long (RATE_LIMITER). */
const WINDOW_MS = 1000 + RATE_LIMITER.marginMs;

/** Lets every promise callback queued so far run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A clock that only moves when told, and timers that fire as an event loop fires them: `runTo`
 * fires each one at its time (an idle loop); `stall` moves the clock with the loop blocked,
 * then fires every timer that came due during it together, as Node does after a long GC or a
 * synchronous encode. `skewMs` makes each timer fire that much late (negative: early, never
 * before half its wait), as Node's whole-millisecond timers do.
 */
function fakeTimers(skewMs = 0) {
  let now = 0;
  let sleeps = 0;
  const timers: { at: number; fire: () => void }[] = [];
  const next = () =>
    timers.reduce<(typeof timers)[number] | undefined>((a, b) => (a && a.at <= b.at ? a : b), undefined);
  const fire = (timer: (typeof timers)[number]) => {
    timers.splice(timers.indexOf(timer), 1);
    timer.fire();
  };
  return {
    now: () => now,
    sleeps: () => sleeps,
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        sleeps++;
        timers.push({ at: now + Math.max(ms / 2, ms + skewMs), fire: resolve });
      }),
    advance(ms: number) {
      now += ms;
    },
    async runTo(to: number) {
      await settle();
      for (let timer = next(); timer !== undefined && timer.at <= to; timer = next()) {
        now = Math.max(now, timer.at);
        fire(timer);
        await settle();
      }
      now = Math.max(now, to);
    },
    async stall(ms: number) {
      now += ms;
      const due = timers.filter((t) => t.at <= now).sort((a, b) => a.at - b.at);
      for (const timer of due) fire(timer);
      await settle();
    },
  };
}

/** `n` callers asking at once; each release's time (on the fake clock) in the order released. */
function callers(limiter: RateLimiter, time: { now: () => number }, n: number) {
  const released: { caller: number; at: number }[] = [];
  const all = Promise.all(
    Array.from({ length: n }, (_, caller) =>
      limiter.acquire().then(() => released.push({ caller, at: time.now() })),
    ),
  );
  return { released, all };
}

/** The most releases in any one-second window [t, t + 1000): what a server with a strict per-second quota counts. */
function busiestSecond(times: readonly number[]): number {
  let most = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j]! - times[i]! >= 1000) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

const round = (values: number[]) => values.map((v) => Math.round(v * 1000) / 1000);

describe('createRateLimiter', () => {
  it('lets the first request through at once and releases simultaneous ones one interval apart, first come first served', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 10, now: time.now, sleep: time.sleep });
    const { released, all } = callers(limiter, time, 4);
    await time.runTo(1000);
    await all;
    const interval = intervalAt(10);
    expect(released.map((r) => r.caller)).toEqual([0, 1, 2, 3]);
    expect(round(released.map((r) => r.at))).toEqual(round([0, interval, 2 * interval, 3 * interval]));
  });

  it('after an event-loop stall releases the make-up, and counts the requests released just before it as sent when the loop runs again', async () => {
    const time = fakeTimers();
    const rate = 100;
    const limiter = createRateLimiter({ ratePerSecond: rate, now: time.now, sleep: time.sleep });
    const { released, all } = callers(limiter, time, 300);
    await time.runTo(250);
    expect(released).toHaveLength(26);
    // The loop is blocked 300 ms right after the release at 250: 30 turns pass while callers
    // wait, and reserved timers would all fire at 550. The bucket holds its token and its
    // make-up (100 ms: 10; it was 30 ms: 3), no more: one bunch a strict server still takes.
    await time.stall(300);
    const makeUp = 1 + RATE_LIMITER.makeUpMs / intervalAt(rate);
    expect(makeUp).toBe(11);
    expect(released.filter((r) => r.at === 550)).toHaveLength(makeUp);
    await time.runTo(10_000);
    await all;
    expect(released.map((r) => r.caller)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    // The request released at 250 may only have gone out at 550, with those the stall held: a
    // server counting 100 per one-second window never sees a 101st, even then.
    const sent = released.map((r) => (r.at === 250 ? 550 : r.at)).sort((a, b) => a - b);
    expect(busiestSecond(sent)).toBeLessThanOrEqual(rate);
    for (let i = rate; i < sent.length; i++)
      expect(sent[i]! - sent[i - rate]!).toBeGreaterThanOrEqual(WINDOW_MS);
  });

  it('after a stall shorter than the make-up in a full window, fills the window again at once', async () => {
    const time = fakeTimers();
    const rate = 100;
    const limiter = createRateLimiter({ ratePerSecond: rate, now: time.now, sleep: time.sleep });
    const { released, all } = callers(limiter, time, 600);
    // Past the first window the log binds: S releases in every 1000 + marginMs ms.
    await time.runTo(1500);
    const before = released.length;
    // 80 ms: over the 30 ms the make-up was, under its 100.
    await time.stall(80);
    const at = time.now();
    const atWake = released.length - before;
    // The releases within the last turn before the stall count as sent at the wake.
    const lastBefore = released[before - 1]!.at;
    const sent = released.map((r) => (r.at >= lastBefore - RATE_LIMITER.turnMs && r.at < at ? at : r.at));
    const inWindow = sent.filter((t) => t > at - WINDOW_MS && t <= at).length;
    // The window is full again at the wake: what the 80 ms owed (a 30 ms make-up released 4
    // here and left the window short, the rest lost).
    expect(inWindow).toBe(rate);
    expect(atWake).toBeGreaterThanOrEqual(80 / intervalAt(rate) - 1);
    await time.runTo(20_000);
    await all;
    const final = released.map((r) => (r.at >= lastBefore - RATE_LIMITER.turnMs && r.at < at ? at : r.at));
    final.sort((a, b) => a - b);
    for (let i = rate; i < final.length; i++)
      expect(final[i]! - final[i - rate]!).toBeGreaterThanOrEqual(WINDOW_MS - 1e-6);
  });

  it('lets a caller admitted at once resume after the waiters released before it in the same turn', async () => {
    let now = 0;
    // A timer that never fires by itself: the callers' own turns run the limiter.
    const limiter = createRateLimiter({
      ratePerSecond: 75,
      now: () => now,
      sleep: () => new Promise(() => {}),
    });
    const order: number[] = [];
    const ask = (caller: number) => limiter.acquire().then(() => order.push(caller));
    const first = [ask(0), ask(1)];
    await settle();
    now = 40;
    // One turn: caller 2 queues behind 1 and its refill releases both (3 tokens by now); caller 3
    // finds the queue empty and a token left, so it goes at once, yet resumes after them.
    const later = [ask(2), ask(3)];
    await Promise.all([...first, ...later]);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('treats a stall seen by a new caller before the timer fires the same way', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 10, now: time.now, sleep: time.sleep });
    const { released, all } = callers(limiter, time, 20);
    await time.runTo(900);
    expect(released).toHaveLength(10);
    // Blocked 300 ms; the first code to run afterwards is another caller, not the timer. The
    // release at 900 counts as sent at 1200, so the 10th after it waits until 1200 + the window
    // (a log of release times alone would let it go at 900 + the window, then at the bucket's 2100).
    time.advance(300);
    const late = limiter.acquire().then(() => released.push({ caller: 20, at: time.now() }));
    await time.runTo(10_000);
    await Promise.all([all, late]);
    expect(released.map((r) => r.caller)).toEqual(Array.from({ length: 21 }, (_, i) => i));
    expect(released[10]!.at).toBe(1200);
    expect(released[19]!.at).toBeCloseTo(1200 + WINDOW_MS, 6);
  });

  it('keeps any one-second window at or under the rate through repeated stalls', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 50, now: time.now, sleep: time.sleep });
    const { released, all } = callers(limiter, time, 400);
    await time.runTo(500);
    for (const stallMs of [180, 40, 300, 90]) {
      await time.stall(stallMs);
      await time.runTo(time.now() + 1500);
    }
    await time.runTo(time.now() + 60_000);
    await all;
    expect(busiestSecond(released.map((r) => r.at))).toBeLessThanOrEqual(50);
  });

  it('sleeps again when a timer fires early, releasing no waiter before its token', async () => {
    const time = fakeTimers(-1);
    const limiter = createRateLimiter({ ratePerSecond: 20, now: time.now, sleep: time.sleep });
    const { released, all } = callers(limiter, time, 10);
    await time.runTo(10_000);
    await all;
    const at = released.map((r) => r.at);
    for (let i = 1; i < at.length; i++)
      expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(intervalAt(20) - 1e-6);
    expect(time.sleeps()).toBeGreaterThan(9);
  });

  it('makes up a timer lateness within its make-up, so late timers do not lower the rate', async () => {
    const time = fakeTimers(RATE_LIMITER.makeUpMs * 0.75);
    const limiter = createRateLimiter({ ratePerSecond: 20, now: time.now, sleep: time.sleep });
    const { released, all } = callers(limiter, time, 20);
    await time.runTo(60_000);
    await all;
    // 19 intervals, plus one lateness (not one per release).
    expect(released.at(-1)!.at).toBeCloseTo(19 * intervalAt(20) + RATE_LIMITER.makeUpMs * 0.75, 6);
  });

  it('uses one timer at a time however many callers wait', async () => {
    const time = fakeTimers();
    let pending = 0;
    let most = 0;
    const limiter = createRateLimiter({
      ratePerSecond: 100,
      now: time.now,
      sleep: async (ms) => {
        most = Math.max(most, ++pending);
        await time.sleep(ms);
        pending--;
      },
    });
    const { all } = callers(limiter, time, 200);
    await time.runTo(5_000);
    await all;
    expect(most).toBe(1);
  });

  it('never sleeps for a caller it admits', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 2, now: time.now, sleep: time.sleep });
    await limiter.acquire();
    time.advance(intervalAt(2));
    await limiter.acquire();
    expect(time.sleeps()).toBe(0);
    const third = limiter.acquire();
    await time.runTo(10_000);
    await third;
    expect(time.sleeps()).toBe(1);
  });

  it('shortens the wait by the time already passed', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 10, now: time.now, sleep: time.sleep });
    await limiter.acquire();
    time.advance(30);
    const second = limiter.acquire().then(() => time.now());
    await time.runTo(10_000);
    expect(await second).toBeCloseTo(intervalAt(10), 6);
  });

  it('does not save up more than the burst during an idle spell', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 10, now: time.now, sleep: time.sleep });
    time.advance(60_000);
    const { released, all } = callers(limiter, time, 3);
    await time.runTo(70_000);
    await all;
    expect(released.filter((r) => r.at === 60_000)).toHaveLength(1);
  });

  it('admits a configured burst at once, then paces at the rate', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 10, burst: 3, now: time.now, sleep: time.sleep });
    const { released, all } = callers(limiter, time, 5);
    await time.runTo(10_000);
    await all;
    expect(round(released.map((r) => r.at))).toEqual(round([0, 0, 0, intervalAt(10), 2 * intervalAt(10)]));
  });

  it('holds a sequential caller to the rate over many requests', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 20, now: time.now, sleep: time.sleep });
    const done = (async () => {
      for (let i = 0; i < 101; i++) await limiter.acquire();
      return time.now();
    })();
    await time.runTo(60_000);
    // 101 requests at 20/s: 20 in each window of 1000 + marginMs, the 101st opens the sixth.
    expect(await done).toBeCloseTo(5 * WINDOW_MS, 6);
    expect(rateLimiterStats(limiter).waitedMs).toBeCloseTo(5 * WINDOW_MS, 6);
  });

  it('never waits when the rate is undefined or Infinity', async () => {
    for (const ratePerSecond of [undefined, Number.POSITIVE_INFINITY]) {
      const time = fakeTimers();
      const limiter = createRateLimiter({ ratePerSecond, now: time.now, sleep: time.sleep });
      await Promise.all(Array.from({ length: 50 }, () => limiter.acquire()));
      expect(time.sleeps()).toBe(0);
    }
  });

  it('rejects a rate that is not a positive number, naming the setting', () => {
    const time = fakeTimers();
    for (const ratePerSecond of [0, -1, Number.NaN]) {
      expect(() => createRateLimiter({ ratePerSecond, now: time.now, sleep: time.sleep })).toThrow(
        ConfigError,
      );
    }
    expect(() => createRateLimiter({ ratePerSecond: 1, burst: 0, now: time.now, sleep: time.sleep })).toThrow(
      /^rateLimit\.burst:/,
    );
  });
});

describe('createSystemRateLimiter', () => {
  it('paces real acquires on the monotonic clock', async () => {
    const limiter = createSystemRateLimiter(20);
    expect(limiter).toBeInstanceOf(RateLimiter);
    const started = performance.now();
    await Promise.all([limiter.acquire(), limiter.acquire(), limiter.acquire()]);
    // Two intervals of 50 ms (and the margin); the clock is read again at wake-up, so never sooner.
    expect(performance.now() - started).toBeGreaterThanOrEqual(2 * intervalAt(20) - RATE_LIMITER.makeUpMs);
  });
});

describe('rateLimiterStats', () => {
  it('counts the requests admitted and the time waited, waits still going up to now', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 10, now: time.now, sleep: time.sleep });
    const { all } = callers(limiter, time, 3);
    await time.runTo(50);
    // Two callers have waited 50 ms each so far; only the first has been let through.
    expect(rateLimiterStats(limiter)).toEqual({
      acquired: 3,
      released: 1,
      waitedMs: 100,
      effectiveRate: 10,
      decreases: 0,
    });
    await time.runTo(1000);
    await all;
    expect(rateLimiterStats(limiter).waitedMs).toBeCloseTo(3 * intervalAt(10), 6);
    expect(rateLimiterStats(limiter).released).toBe(3);
    expect(rateLimiterStats({ acquire: async () => undefined } as RateLimiter)).toEqual({
      acquired: 0,
      waitedMs: 0,
    });
  });
});
