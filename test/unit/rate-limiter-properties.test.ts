/**
 * The rate limiter's guarantees over random schedules, on a fake clock: callers arriving at random
 * times, timers firing late (and up to a millisecond early when the wait is a millisecond or
 * more, as Node's whole-millisecond timers do), and event-loop stalls after which every timer that came due fires at once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRateLimiter, RATE_LIMITER } from '#core/rate-limiter.ts';
import { SlidingWindow, TokenBucket } from '#simulator/rate-limit.ts';

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

/**
 * Runs `schedule` on one limiter; each caller's release time, by caller, and each stall's
 * start and end (the loop blocked from `from` to `to`).
 */
async function run(
  schedule: Schedule,
): Promise<{ order: number[]; at: number[]; stalled: { from: number; to: number }[] }> {
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
  const stalled: { from: number; to: number }[] = [];
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
      const from = now;
      now += stalls.shift()!.ms;
      stalled.push({ from, to: now });
      await fireDue();
    }
  }
  return { order, at, stalled };
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

  it("is never refused by the simulator's server-side limits (a token bucket of S, at most S in any second)", async () => {
    await fc.assert(
      fc.asyncProperty(schedules({ stalls: true, maxLateMs: 80 }), async (schedule) => {
        const { at } = await run(schedule);
        const times = at.filter((t) => t !== undefined).sort((a, b) => a - b);
        let clock = 0;
        const servers = [
          new TokenBucket(schedule.rate, () => clock),
          new SlidingWindow(schedule.rate, () => clock),
        ];
        for (const t of times) {
          clock = t;
          for (const server of servers) expect(server.take().ok).toBe(true);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('after a stall with callers waiting, makes up at once what the window and the make-up allow', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 5, max: 300 }),
        fc.array(fc.double({ min: -1, max: 20, noNaN: true }), { minLength: 1, maxLength: 20 }),
        // Stalls a window apart at least, past the first window (the log binds from there).
        fc.array(
          fc.record({ gap: fc.integer({ min: 0, max: 1500 }), ms: fc.integer({ min: 1, max: 1500 }) }),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        async (rate, lateness, spaced) => {
          let end = 400;
          const stalls = spaced.map(({ gap, ms }) => {
            const stall = { at: end + WINDOW_MS + gap, ms };
            end = stall.at + ms;
            return stall;
          });
          const seconds = 9;
          const { at, stalled } = await run({
            rate,
            // More callers than the run can release, all asking at once: the limiter is always the bound.
            arrivals: Array.from({ length: rate * (seconds + 2) }, () => 0),
            lateness,
            stalls,
            untilMs: seconds * 1000,
          });
          const times = at.filter((t) => t !== undefined).sort((a, b) => a - b);
          // A wake-up up to 100 ms late (a machine that deschedules the loader, a GC) loses no
          // turn: with its token, that many go at once.
          const makeUp = 1 + (100 * rate) / 1000;
          for (const { from, to } of stalled) {
            // Only a wake-up at the stall's end owes anything (a timer that came due in it).
            if (!times.includes(to)) continue;
            const atWake = times.filter((t) => t === to).length;
            // Either every turn the stall held, up to the make-up, went at the wake...
            if (atWake >= Math.floor(Math.min(makeUp, ((to - from) * rate) / 1000) + 1e-9)) continue;
            // The requests released in the turn before the stall may only go out at its end: when
            // the wake-up is over RATE_LIMITER.stallMs late, the limiter counts them there.
            const last = times.filter((t) => t <= from).at(-1) ?? Number.NEGATIVE_INFINITY;
            const sent = times.map((t) => (t >= last - RATE_LIMITER.turnMs && t <= from ? to : t));
            const inWindow = (ts: number[]) => ts.filter((t) => t > to - WINDOW_MS && t <= to).length;
            // ...or the window is full: S releases in the last 1000 + marginMs ms.
            expect([inWindow(times), inWindow(sent)]).toContain(Math.floor(rate));
          }
        },
      ),
      { numRuns: 40 },
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
