/**
 * The rate limiter's guarantees over random schedules, on a fake clock: callers arriving at random
 * times, timers firing late (and up to a millisecond early when the wait is a millisecond or
 * more, as Node's whole-millisecond timers do), and event-loop stalls after which every timer that came due fires at once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRateLimiter, RATE_LIMITER } from '#core/rate-limiter.ts';

/** Lets every promise callback queued so far run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Schedule {
  readonly rate: number;
  /** When each caller asks (ms from the start), in call order. */
  readonly arrivals: readonly number[];
  /** Each timer's lateness in turn (ms; cycled); negative is early, never before half its wait. */
  readonly lateness: readonly number[];
  /** Event-loop stalls: the loop is blocked `ms` from the first event at or after `at`. */
  readonly stalls: readonly { at: number; ms: number }[];
  /** The run lasts this long (ms). */
  readonly untilMs: number;
}

/** Runs `schedule` on one limiter; each caller's release time, by caller. */
async function run(schedule: Schedule): Promise<{ order: number[]; at: number[] }> {
  let now = 0;
  let timerCount = 0;
  const timers: { at: number; fire: () => void }[] = [];
  const limiter = createRateLimiter({
    ratePerSecond: schedule.rate,
    now: () => now,
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        const late = schedule.lateness[timerCount++ % schedule.lateness.length]!;
        // Early only by whole milliseconds' rounding: a wait under 1 ms is never cut short.
        timers.push({
          at: now + (ms >= 1 ? Math.max(ms / 2, ms + late) : ms + Math.max(0, late)),
          fire: resolve,
        });
      }),
  });
  const order: number[] = [];
  const at: number[] = [];
  const pending: Promise<void>[] = [];
  const stalls = [...schedule.stalls].sort((a, b) => a.at - b.at);
  let nextCaller = 0;
  const earliestTimer = () => timers.reduce((a, b) => Math.min(a, b.at), Number.POSITIVE_INFINITY);
  const fireDue = async () => {
    const due = timers.filter((t) => t.at <= now).sort((a, b) => a.at - b.at);
    for (const timer of due) timers.splice(timers.indexOf(timer), 1);
    for (const timer of due) timer.fire();
    await settle();
  };
  for (;;) {
    const arrival = schedule.arrivals[nextCaller] ?? Number.POSITIVE_INFINITY;
    const t = Math.min(arrival, earliestTimer());
    if (t > schedule.untilMs) break;
    now = Math.max(now, t);
    if (arrival <= now) {
      // Every caller due by now asks in this turn.
      while ((schedule.arrivals[nextCaller] ?? Number.POSITIVE_INFINITY) <= now) {
        const caller = nextCaller++;
        pending.push(
          limiter.acquire().then(() => {
            order.push(caller);
            at[caller] = now;
          }),
        );
      }
      await settle();
    } else await fireDue();
    // A stall begins right after this event: what it released may only go out when it ends.
    while (stalls.length > 0 && stalls[0]!.at <= now) {
      now += stalls.shift()!.ms;
      await fireDue();
    }
  }
  return { order, at };
}

/** Any `limit + 1` of `times` (sorted) span at least `windowMs`. */
function shortestSpan(times: readonly number[], limit: number): number {
  let shortest = Number.POSITIVE_INFINITY;
  for (let i = limit; i < times.length; i++) shortest = Math.min(shortest, times[i]! - times[i - limit]!);
  return shortest;
}

const WINDOW_MS = 1000 + RATE_LIMITER.marginMs;

const schedules = (options: { stalls: boolean; maxLateMs: number }) =>
  fc
    .record({
      rate: fc.integer({ min: 1, max: 300 }),
      untilMs: fc.integer({ min: 1000, max: 6000 }),
      lateness: fc.array(fc.double({ min: -1, max: options.maxLateMs, noNaN: true }), {
        minLength: 1,
        maxLength: 20,
      }),
      stalls: options.stalls
        ? fc.array(
            fc.record({ at: fc.integer({ min: 0, max: 6000 }), ms: fc.integer({ min: 1, max: 600 }) }),
            { maxLength: 5 },
          )
        : fc.constant([]),
      gaps: fc.array(fc.double({ min: 0, max: 40, noNaN: true }), { minLength: 1, maxLength: 400 }),
    })
    .map(({ gaps, ...rest }): Schedule => {
      let t = 0;
      return { ...rest, arrivals: gaps.map((gap) => (t += gap)) };
    });

describe('the rate limiter over random schedules', () => {
  it('never releases S + 1 in any window of 1000 + marginMs ms, whatever the arrivals, timer lateness and stalls', async () => {
    await fc.assert(
      fc.asyncProperty(schedules({ stalls: true, maxLateMs: 80 }), async (schedule) => {
        const { at } = await run(schedule);
        const times = at.filter((t) => t !== undefined).sort((a, b) => a - b);
        expect(shortestSpan(times, Math.floor(schedule.rate))).toBeGreaterThanOrEqual(WINDOW_MS - 1e-6);
      }),
      { numRuns: 60 },
    );
  });

  it('releases first come, first served', async () => {
    await fc.assert(
      fc.asyncProperty(schedules({ stalls: true, maxLateMs: 80 }), async (schedule) => {
        const { order } = await run(schedule);
        expect(order).toEqual(order.map((_, i) => i));
      }),
      { numRuns: 60 },
    );
  });

  it('with callers always waiting and no stall, sustains at least 1000 / (1000 + marginMs + timer lateness) of the rate', async () => {
    const maxLateMs = 4;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 20, max: 300 }),
        fc.array(fc.double({ min: -1, max: maxLateMs, noNaN: true }), { minLength: 1, maxLength: 20 }),
        async (rate, lateness) => {
          const seconds = 6;
          const { at } = await run({
            rate,
            // More callers than the run can release, all asking at once: the limiter is always the bound.
            arrivals: Array.from({ length: rate * (seconds + 1) }, () => 0),
            lateness,
            stalls: [],
            untilMs: seconds * 1000,
          });
          const released = at.filter((t) => t !== undefined && t <= seconds * 1000).length;
          // Each log slot comes round once per window, late by at most one timer's lateness.
          const floor = 1000 / (1000 + RATE_LIMITER.marginMs + maxLateMs);
          expect(released / (rate * seconds)).toBeGreaterThanOrEqual(floor);
          expect(floor).toBeGreaterThanOrEqual(0.985);
        },
      ),
      { numRuns: 12 },
    );
  });
});
