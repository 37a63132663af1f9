/**
 * The rate limiter slows down when the server answers 429 (`signalThrottled`) and recovers after
 * a quiet spell, on a fake clock. Its hard cap (at most S releases in any 1000 + marginMs ms) and
 * its bounds (floorFraction x S to S) hold whatever the sequence of 429s.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRateLimiter, RATE_LIMITER, rateLimiterStats, signalThrottled } from '#core/rate-limiter.ts';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const { throttleFactor, floorFraction, reactionMs, holdMs, rampMs, marginMs, maxMarginMs } = RATE_LIMITER;

/** A clock moved by hand; timers fire at their time when `runTo` passes it. */
function fakeTimers() {
  let now = 0;
  const timers: { at: number; fire: () => void }[] = [];
  return {
    now: () => now,
    sleep: (ms: number) => new Promise<void>((resolve) => timers.push({ at: now + ms, fire: resolve })),
    async runTo(to: number) {
      await settle();
      for (;;) {
        const timer = timers.reduce<(typeof timers)[number] | undefined>(
          (a, b) => (a && a.at <= b.at ? a : b),
          undefined,
        );
        if (timer === undefined || timer.at > to) break;
        timers.splice(timers.indexOf(timer), 1);
        now = Math.max(now, timer.at);
        timer.fire();
        await settle();
      }
      now = Math.max(now, to);
    },
  };
}

/** Releases (fake-clock times) of callers that always wait, from `from` to `to` ms. */
async function releasesBetween(
  limiter: ReturnType<typeof createRateLimiter>,
  time: ReturnType<typeof fakeTimers>,
  count: number,
  to: number,
): Promise<number[]> {
  const at: number[] = [];
  for (let i = 0; i < count; i++) void limiter.acquire().then(() => at.push(time.now()));
  await time.runTo(to);
  return at;
}

describe('signalThrottled', () => {
  it('slows at once on a 429 even after a long wait saved tokens (the log, not the bucket, paced until then)', async () => {
    const time = fakeTimers();
    const rate = 100;
    const limiter = createRateLimiter({ ratePerSecond: rate, now: time.now, sleep: time.sleep });
    // A minute of callers always waiting: the log (S in 1000 + marginMs ms) binds, and the bucket,
    // refilled at S, saves about 1% of S a second while they wait.
    const at = await releasesBetween(limiter, time, rate * 70, 60_000);
    const before = at.length;
    signalThrottled(limiter);
    await time.runTo(62_000);
    // Two seconds at throttleFactor x S, plus what an idle spell leaves in the bucket: the saved
    // tokens do not keep the old pace.
    const idle = 1 + (RATE_LIMITER.makeUpMs * rate) / 1000;
    expect(at.length - before).toBeLessThanOrEqual(2 * rate * throttleFactor + idle + 1);
  });

  it('lowers the rate on 429s, once per reaction time, holds, then recovers to the configured rate and never above', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 50, now: time.now, sleep: time.sleep });
    expect(rateLimiterStats(limiter)).toMatchObject({ effectiveRate: 50, decreases: 0 });

    // A burst of 429s (the requests in flight all refused at once) is one decrease.
    for (let i = 0; i < 20; i++) signalThrottled(limiter);
    expect(rateLimiterStats(limiter)).toMatchObject({ effectiveRate: 50 * throttleFactor, decreases: 1 });
    await time.runTo(reactionMs - 1);
    signalThrottled(limiter);
    expect(rateLimiterStats(limiter).decreases).toBe(1);
    await time.runTo(reactionMs);
    signalThrottled(limiter);
    const lowered = 50 * throttleFactor * throttleFactor;
    expect(rateLimiterStats(limiter)).toMatchObject({ effectiveRate: lowered, decreases: 2 });

    // The bucket paces at the lowered rate: one release per 1000 / 40.5 ms, not per 20 ms.
    const start = time.now();
    const paced = await releasesBetween(limiter, time, 200, start + 2000);
    const inTwoSeconds = paced.filter((t) => t >= start + 100 && t < start + 2100).length;
    expect(inTwoSeconds).toBeLessThanOrEqual(Math.ceil(lowered * 2) + 2);
    expect(inTwoSeconds).toBeGreaterThanOrEqual(Math.floor(lowered * 1.9) - 2);

    // Held until holdMs after the last decrease, then a linear climb back over rampMs.
    await time.runTo(reactionMs + holdMs - 1);
    expect(rateLimiterStats(limiter).effectiveRate).toBeCloseTo(lowered, 9);
    await time.runTo(reactionMs + holdMs + rampMs / 2);
    expect(rateLimiterStats(limiter).effectiveRate).toBeCloseTo((lowered + 50) / 2, 6);
    await time.runTo(reactionMs + holdMs + rampMs);
    expect(rateLimiterStats(limiter).effectiveRate).toBe(50);
    await time.runTo(reactionMs + holdMs + 10 * rampMs);
    expect(rateLimiterStats(limiter).effectiveRate).toBe(50);
  });

  it("widens the log's margin with each decrease, up to maxMarginMs, and keeps it after the rate recovered", async () => {
    const rate = 50;
    /** The shortest span of S + 1 consecutive releases of callers that always wait, from now for 4 s. */
    const tightestWindow = async (
      limiter: ReturnType<typeof createRateLimiter>,
      time: ReturnType<typeof fakeTimers>,
    ) => {
      const start = time.now();
      const at = await releasesBetween(limiter, time, 4 * rate, start + 4000);
      let tightest = Number.POSITIVE_INFINITY;
      for (let i = rate; i < at.length; i++) tightest = Math.min(tightest, at[i]! - at[i - rate]!);
      return tightest;
    };
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: rate, now: time.now, sleep: time.sleep });
    // Never throttled: the log's window is 1000 + marginMs, and the pace reaches it.
    expect(await tightestWindow(limiter, time)).toBeCloseTo(1000 + marginMs, 6);
    let margin: number = marginMs;
    for (let decrease = 1; decrease <= 5; decrease++) {
      signalThrottled(limiter);
      margin = Math.min(maxMarginMs, margin * 2);
      // Past the hold and the ramp: the bucket is back at S, and only the log paces.
      await time.runTo(time.now() + holdMs + rampMs + 1000);
      expect(rateLimiterStats(limiter)).toMatchObject({ effectiveRate: rate, decreases: decrease });
      expect(await tightestWindow(limiter, time), `after ${decrease} decreases`).toBeCloseTo(
        1000 + margin,
        6,
      );
    }
    expect(margin).toBe(maxMarginMs);
  });

  it('never goes below the floor, however long the 429s last', async () => {
    const time = fakeTimers();
    const limiter = createRateLimiter({ ratePerSecond: 200, now: time.now, sleep: time.sleep });
    for (let t = 0; t < 60_000; t += 100) {
      await time.runTo(t);
      signalThrottled(limiter);
    }
    expect(rateLimiterStats(limiter).effectiveRate).toBe(200 * floorFraction);
    expect(rateLimiterStats(limiter).decreases).toBe(Math.ceil(60_000 / reactionMs));
  });

  it('is a no-op for an unlimited limiter and for a stand-in', () => {
    const unlimited = createRateLimiter({ now: () => 0, sleep: async () => undefined });
    signalThrottled(unlimited);
    expect(rateLimiterStats(unlimited)).toEqual({ acquired: 0, released: 0, waitedMs: 0, decreases: 0 });
    expect(() => signalThrottled({ acquire: async () => undefined })).not.toThrow();
  });

  it('whatever the 429s, releases never exceed S in any 1000 + marginMs ms and the rate stays within [floor, S]', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 60 }),
        fc.array(fc.integer({ min: 0, max: 20_000 }), { maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 300 }),
        async (rate, throttles, arrivals) => {
          const time = fakeTimers();
          const limiter = createRateLimiter({ ratePerSecond: rate, now: time.now, sleep: time.sleep });
          const events = [
            ...throttles.map((at) => ({ at, kind: 'throttle' as const })),
            ...arrivals.map((at) => ({ at, kind: 'arrive' as const })),
          ].sort((a, b) => a.at - b.at);
          const released: number[] = [];
          const rates: number[] = [];
          for (const event of events) {
            await time.runTo(event.at);
            if (event.kind === 'throttle') signalThrottled(limiter);
            else void limiter.acquire().then(() => released.push(time.now()));
            rates.push(rateLimiterStats(limiter).effectiveRate!);
          }
          await time.runTo(40_000);
          expect(released).toHaveLength(arrivals.length);
          for (let i = rate; i < released.length; i++) {
            // Any S + 1 consecutive releases span at least the log's window.
            expect(released[i]! - released[i - rate]!).toBeGreaterThanOrEqual(1000 + marginMs - 1e-6);
          }
          for (const r of rates) {
            expect(r).toBeGreaterThanOrEqual(rate * floorFraction - 1e-9);
            expect(r).toBeLessThanOrEqual(rate);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
