/**
 * Adaptive concurrency's guards (adaptive-concurrency.ts header): on a fake clock, against
 * scripted worlds and the queueing model (test/helpers/queueing-model.ts), with fast-check
 * where a contract can be stated.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ADAPTIVE_CONCURRENCY, adaptiveConcurrency } from '#core/adaptive-concurrency.ts';
import { fixedConcurrency } from '#core/pool.ts';
import { runModel, type Stolen } from '#test/helpers/queueing-model.ts';

/**
 * A world stepped every `stepMs`: the users in flight follow the limit, and `world(users)` says
 * what they did in a step: requests answered per second, and the share of the users' time the
 * limiter reports as waiting. Returns the limit and the goodput, step by step.
 */
function scripted(options: {
  rate: number;
  seconds: number;
  stepMs?: number;
  world: (users: number, t: number) => { perSecond: number; waitedShare: number; latencyMs?: number };
}) {
  const stepMs = options.stepMs ?? 50;
  let now = 0;
  let counters = { acquired: 0, released: 0, waitedMs: 0 };
  const control = adaptiveConcurrency({
    ratePerSecond: options.rate,
    limiter: () => counters,
    now: () => now,
  });
  const steps: { t: number; limit: number; perSecond: number }[] = [];
  let carry = 0;
  for (let t = stepMs; t <= options.seconds * 1000; t += stepMs) {
    const users = control.limit();
    control.inFlight?.(users);
    const { perSecond, waitedShare } = options.world(users, t);
    carry += (perSecond * stepMs) / 1000;
    const whole = Math.floor(carry);
    carry -= whole;
    now = t;
    counters = {
      acquired: counters.acquired + whole,
      released: counters.released + whole,
      waitedMs: counters.waitedMs + users * stepMs * waitedShare,
    };
    steps.push({ t, limit: control.limit(), perSecond });
  }
  return { control, steps };
}

const goodputOver = (steps: { t: number; perSecond: number }[], fromMs: number) => {
  const kept = steps.filter((s) => s.t > fromMs);
  return kept.reduce((sum, s) => sum + s.perSecond, 0) / kept.length;
};

describe('stuck at the floor on a busy machine (users bind, the limiter reports their time as waiting)', () => {
  // The review's figures at 200 req/s: each user takes ~22 ms a cycle (4 users: 182 req/s,
  // 0.91x), of which ~5 ms is its request and own work; the rest it spends "at the limiter",
  // whose turns come late on a busy machine. Busy time less waits over requests: 5 ms, so
  // Little's law asked for 200 x 5 ms x 1.5 = 2 users, the floor of 4. The limiter passes at
  // most 0.99x (its one-second log).
  const RATE = 200;
  const world = (users: number) => {
    const perSecond = Math.min(0.99 * RATE, users / 0.022);
    return { perSecond, waitedShare: 1 - (perSecond * 5) / (users * 1000) };
  };

  it('scales the users in flight by rate / goodput when the pool is full and the rate is not reached', () => {
    const { steps, control } = scripted({ rate: RATE, seconds: 60, world });
    // The measured latency is still the 5 ms that misled: the fix is not in it.
    expect(control.state().latencyMs).toBeCloseTo(5, 0);
    // Over the last 40 s: the rate, with the occasional judged probe of a smaller pool.
    expect(goodputOver(steps, 20_000) / RATE).toBeGreaterThanOrEqual(0.98);
    expect(Math.min(...steps.filter((s) => s.t > 20_000).map((s) => s.limit))).toBeGreaterThanOrEqual(
      ADAPTIVE_CONCURRENCY.min,
    );
    expect(control.decisions().undone).toBeGreaterThan(0); // a shrink back to 4 lost the rate: undone
  });
});

describe('no runaway on a CPU-bound machine (the queueing model)', () => {
  // 500 req/s asked; this process's event loop spends 4 ms on each answer, so it answers at most
  // 250 a second whatever the users; PayLink answers in 50 ms plus 0.1 ms per request it holds.
  // The measured latency is mostly the answers' wait for the loop: it rises with the users.
  const options = {
    rate: 500,
    seconds: 30,
    users: 20_000,
    serverMs: (n: number) => 50 + 0.1 * n,
    cpuMs: 4,
    timeoutMs: 10_000,
  };

  for (const cpuClock of [false, true])
    it(`keeps the users in flight near what the loop can serve, and goodput no lower than at max${cpuClock ? ' (with our CPU clock: saturated, so its lateness is ours)' : ''}`, async () => {
      const runaway = await runModel(options, (clock) =>
        // Little's law alone, as before the guards: latency only, nothing judged.
        adaptiveConcurrency({
          ratePerSecond: 500,
          limiter: clock.limiter,
          now: clock.now,
          min: 512,
          max: 512,
        }),
      );
      let guarded: ReturnType<typeof adaptiveConcurrency> | undefined;
      const result = await runModel(options, (clock) => {
        guarded = adaptiveConcurrency({
          ratePerSecond: 500,
          limiter: clock.limiter,
          client: clock.client,
          loopDelayMs: clock.loopDelayMs,
          ...(cpuClock ? { cpuMs: clock.cpuMs } : {}),
          now: clock.now,
        });
        return guarded;
      });
      const late = result.limits.slice(result.limits.length / 2);
      // The start's 75 users, and a judged probe to twice that, undone: never the runaway's 512.
      // (The loop is late from the first window, with as many users as ever: the lateness rule
      // cannot tell that from a machine gone busy, so the growths' verdicts bound it.)
      expect(Math.max(...late)).toBeLessThanOrEqual(160);
      expect(result.reached).toBeGreaterThanOrEqual(0.95 * runaway.reached);
      expect(result.reached).toBeGreaterThan(0.45); // the loop's 250 req/s of 500
      expect(guarded?.decisions().overloads).toBeGreaterThan(0);
    });

  it('without the loop-lateness signal, undoes every growth that brings no goodput', async () => {
    let control: ReturnType<typeof adaptiveConcurrency> | undefined;
    const result = await runModel(options, (clock) => {
      control = adaptiveConcurrency({
        ratePerSecond: 500,
        limiter: clock.limiter,
        client: clock.client,
        now: clock.now,
      });
      return control;
    });
    // Probes (at most a doubling, judged over a second or so) and back: never the runaway's 512.
    const late = result.limits.slice(result.limits.length / 2).sort((a, b) => a - b);
    expect(late[Math.floor(late.length / 2)]).toBeLessThanOrEqual(160);
    expect(Math.max(...late)).toBeLessThan(ADAPTIVE_CONCURRENCY.max);
    expect(control?.decisions().undone).toBeGreaterThan(0);
    expect(result.reached).toBeGreaterThan(0.45);
  });
});

describe('a machine whose other work comes and goes (the queueing model)', () => {
  // Other processes take the CPU 700-800 ms of every second for 5-10 s at a time, then leave it
  // (nearly) free as long: the review's swings at load 10-12. PayLink answers in 50 ms and each
  // answer costs 1 ms of this process's CPU. Main's lateness rule read every busy spell as
  // overload and cut a quarter each second, a ceiling held: 4 users at the end (0.10x and 0.27x,
  // where a fixed 38 and 15 users get 0.67x and 0.50x). And an overload while a growth waited
  // for its verdict cut a quarter off the doubled limit and dropped the verdict: 30, 60, 45, 90,
  // 67, 134, 100, 200 users, never judged.
  // Busy spells every 2 s: a full pool short of the rate in every spell, its growths judged in
  // the quiet ones, grew spell after spell (users-bound, x1.8 each) to 512 users at 50 req/s.
  const cases: {
    rate: number;
    phaseMs: number;
    busy: Stolen;
    quiet?: Stolen;
    serverMs?: number;
    cpuMs?: number;
  }[] = [
    { rate: 500, phaseMs: 5000, busy: { periodMs: 1000, ms: 700 } },
    { rate: 200, phaseMs: 10_000, busy: { periodMs: 1000, ms: 800 }, quiet: { periodMs: 50, ms: 20 } },
    { rate: 50, phaseMs: 2000, busy: { periodMs: 1000, ms: 307 }, serverMs: 100, cpuMs: 2 },
  ];
  for (const { rate, phaseMs, busy, quiet, serverMs = 50, cpuMs = 1 } of cases)
    for (const cpuClock of [false, true])
      it(`at ${rate} req/s, spells of ${phaseMs} ms${cpuClock ? ', our CPU clock read' : ''}: no swing to min or max, and at least the goodput of Little's law's fixed users`, async () => {
        const options = {
          rate,
          seconds: 60,
          users: 10 * rate,
          serverMs: () => serverMs,
          cpuMs,
          stolen: (t: number) => (Math.floor(t / phaseMs) % 2 === 1 ? busy : quiet),
          timeoutMs: 15_000,
        };
        const littles = Math.ceil((rate * serverMs * ADAPTIVE_CONCURRENCY.headroom) / 1000);
        const fixed = await runModel(options, () => fixedConcurrency(littles));
        const result = await runModel(options, (clock) =>
          adaptiveConcurrency({
            ratePerSecond: rate,
            limiter: clock.limiter,
            client: clock.client,
            loopDelayMs: clock.loopDelayMs,
            ...(cpuClock ? { cpuMs: clock.cpuMs } : {}),
            now: clock.now,
          }),
        );
        const late = result.limits.slice(result.limits.length / 2);
        expect(Math.min(...late)).toBeGreaterThan(ADAPTIVE_CONCURRENCY.min);
        expect(Math.max(...late)).toBeLessThan(ADAPTIVE_CONCURRENCY.max);
        expect(Math.max(...late) / Math.min(...late)).toBeLessThanOrEqual(4);
        expect(result.reached).toBeGreaterThanOrEqual(fixed.reached);
        expect(result.timeouts).toBe(0);
      });

  // A sweep of 30 random such worlds (bench/results/issue-11.md (q)): these swung main's limit
  // more than 4x over the second half, the CPU-bound busy spells read as users short of the rate
  // (users-bound) and Little's law on the wait for the CPU. Our CPU clock is read, as the
  // adapters do.
  const swings: {
    rate: number;
    phaseMs: number;
    stolenMs: number;
    serverMs: number;
    cpuMs: number;
  }[] = [
    { rate: 200, phaseMs: 5000, stolenMs: 634, serverMs: 100, cpuMs: 1 }, // main 31-140 users
    { rate: 200, phaseMs: 5000, stolenMs: 645, serverMs: 100, cpuMs: 0.5 }, // 29-170
    { rate: 50, phaseMs: 2000, stolenMs: 708, serverMs: 50, cpuMs: 2 }, // 5-24
    { rate: 200, phaseMs: 10_000, stolenMs: 339, serverMs: 50, cpuMs: 2 }, // 16-104
    { rate: 50, phaseMs: 5000, stolenMs: 830, serverMs: 50, cpuMs: 0.5 }, // 4-24
  ];
  for (const { rate, phaseMs, stolenMs, serverMs, cpuMs } of swings)
    it(`at ${rate} req/s, ${stolenMs} ms of every second taken in spells of ${phaseMs} ms, ${cpuMs} ms of CPU an answer: at most 4x between the lowest and highest limit`, async () => {
      const options = {
        rate,
        seconds: 60,
        users: 10 * rate,
        serverMs: () => serverMs,
        cpuMs,
        stolen: (t: number) =>
          Math.floor(t / phaseMs) % 2 === 1 ? { periodMs: 1000, ms: stolenMs } : undefined,
        timeoutMs: 15_000,
      };
      const littles = Math.ceil((rate * serverMs * ADAPTIVE_CONCURRENCY.headroom) / 1000);
      const fixed = await runModel(options, () => fixedConcurrency(littles));
      const result = await runModel(options, (clock) =>
        adaptiveConcurrency({
          ratePerSecond: rate,
          limiter: clock.limiter,
          client: clock.client,
          loopDelayMs: clock.loopDelayMs,
          cpuMs: clock.cpuMs,
          now: clock.now,
        }),
      );
      const late = result.limits.slice(result.limits.length / 2);
      expect(Math.max(...late) / Math.min(...late)).toBeLessThanOrEqual(4);
      expect(result.reached).toBeGreaterThanOrEqual(fixed.reached);
      expect(result.timeouts).toBe(0);
    });
});

describe("a busy machine and a slow API: our CPU tells the machine's lateness from ours (the queueing model)", () => {
  // Section (p): 200 req/s with PayLink at 300 ms on a machine at load ~10, default flags reached
  // 0.56-0.65x where a fixed 135 users reached 0.9-0.95x. Here other processes take 20 (or 10) ms
  // and then 38 (or 40) of every 50, in spells of 3 s; each answer costs 1.5 ms of our CPU (0.3 of
  // a core at the rate, more than the busy spells leave: we use 0.14-0.3 of a core). Each growth
  // raised our users and, with the busy spells, the loop's lateness: main read that as our
  // overload, cut the growth and held it (30 users, 0.74-0.79x, 5 s at 0.48x). Our CPU was never
  // near saturated: the lateness was the machine's.
  const cases = [
    { quietMs: 20, busyMs: 38 },
    { quietMs: 10, busyMs: 38 },
    { quietMs: 20, busyMs: 40 },
  ];
  for (const { quietMs, busyMs } of cases)
    it(`${quietMs} then ${busyMs} ms of every 50 taken: at least the goodput of Little's law's fixed users, and no 5 s far short of it`, async () => {
      const options = {
        rate: 200,
        seconds: 60,
        users: 2000,
        serverMs: () => 300,
        cpuMs: 1.5,
        stolen: (t: number) => ({ periodMs: 50, ms: Math.floor(t / 3000) % 2 === 1 ? busyMs : quietMs }),
        timeoutMs: 15_000,
      };
      // 200 x 300 ms x 1.5 = 90 users.
      const fixed = await runModel(options, () =>
        fixedConcurrency(Math.ceil(200 * 0.3 * ADAPTIVE_CONCURRENCY.headroom)),
      );
      let control: ReturnType<typeof adaptiveConcurrency> | undefined;
      const result = await runModel(options, (clock) => {
        control = adaptiveConcurrency({
          ratePerSecond: 200,
          limiter: clock.limiter,
          client: clock.client,
          loopDelayMs: clock.loopDelayMs,
          cpuMs: clock.cpuMs,
          now: clock.now,
        });
        return control;
      });
      expect(result.reached).toBeGreaterThanOrEqual(fixed.reached);
      // No long stay short: every 5 s of the second half at 0.9 of the fixed users' goodput.
      const half = result.perSecond.slice(options.seconds / 2);
      for (let i = 0; i + 5 <= half.length; i++)
        expect(half.slice(i, i + 5).reduce((a, b) => a + b, 0) / 5).toBeGreaterThanOrEqual(
          0.9 * fixed.reached,
        );
      expect(control?.decisions().overloads).toBe(0);
      expect(result.timeouts).toBe(0);
    });
});

describe('contracts (fast-check)', () => {
  it('never goes above max or below min, whatever the counters say', () => {
    const step = fc.record({
      dtMs: fc.integer({ min: 0, max: 3000 }),
      users: fc.integer({ min: 0, max: 1000 }),
      requests: fc.integer({ min: 0, max: 2000 }),
      waitedMs: fc.integer({ min: 0, max: 100_000 }),
      retries: fc.integer({ min: 0, max: 50 }),
      timeouts: fc.integer({ min: 0, max: 50 }),
      lagMs: fc.double({ min: 0, max: 5000, noNaN: true }),
      cpuMs: fc.double({ min: 0, max: 6000, noNaN: true }),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(1, 50, 200, 500, 10_000),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 600 }),
        fc.array(step, { maxLength: 120 }),
        (rate, min, extra, steps) => {
          const max = min + extra;
          let now = 0;
          let counters = { acquired: 0, released: 0, waitedMs: 0 };
          let client = { retries: 0, timeouts: 0 };
          let lag = 0;
          let cpu = 0;
          const control = adaptiveConcurrency({
            ratePerSecond: rate,
            limiter: () => counters,
            client: () => client,
            loopDelayMs: () => lag,
            cpuMs: () => cpu,
            now: () => now,
            min,
            max,
          });
          for (const s of steps) {
            control.inFlight?.(s.users);
            now += s.dtMs;
            counters = {
              acquired: counters.acquired + s.requests,
              released: counters.released + s.requests,
              waitedMs: counters.waitedMs + s.waitedMs,
            };
            client = { retries: client.retries + s.retries, timeouts: client.timeouts + s.timeouts };
            lag = s.lagMs;
            cpu += s.cpuMs;
            const limit = control.limit();
            if (limit < min || limit > max || !Number.isInteger(limit)) return false;
          }
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('no growth without goodput gain: when goodput stays flat, every growth is undone at its verdict', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(50, 200, 500),
        fc.double({ min: 0.2, max: 0.9, noNaN: true }),
        (rate, share) => {
          // The users are the only latency: N users answer `share` of the rate whatever N, so each
          // request keeps one N / goodput long, and Little's law asks for more users every time.
          const { steps } = scripted({
            rate,
            seconds: 60,
            world: () => ({ perSecond: share * rate, waitedShare: 0 }),
          });
          // A change is judged once a judging period was measured before it (the first changes of
          // a run are not: users starting, nothing to compare with).
          const perJudge = (ADAPTIVE_CONCURRENCY.judgeRequests / (share * rate)) * 1000;
          const judgedFrom =
            Math.max(ADAPTIVE_CONCURRENCY.judgeMs, perJudge) + 2 * ADAPTIVE_CONCURRENCY.windowMs;
          const changes: number[] = [];
          for (const s of steps) if (s.t > judgedFrom && changes.at(-1) !== s.limit) changes.push(s.limit);
          // After every rise, the next change goes back to where it rose from, or lower.
          for (let i = 1; i + 1 < changes.length; i++)
            if (changes[i]! > changes[i - 1]! && changes[i + 1]! > changes[i - 1]!) return false;
          return true;
        },
      ),
      { numRuns: 40 },
    );
  });

  it('reaches the rate when PayLink latency alone limits it (the queueing model, no CPU cost)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(50, 200, 500),
        fc.integer({ min: 5, max: 400 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        async (rate, baseMs, perHeldMs) => {
          const seconds = 20;
          const result = await runModel(
            {
              rate,
              seconds,
              users: Math.ceil((rate * seconds) / 4),
              serverMs: (n) => baseMs + perHeldMs * n,
              cpuMs: 0,
            },
            (clock) =>
              adaptiveConcurrency({
                ratePerSecond: rate,
                limiter: clock.limiter,
                client: clock.client,
                loopDelayMs: clock.loopDelayMs,
                now: clock.now,
              }),
          );
          return result.reached >= 0.97;
        },
      ),
      // A random seed: 1,200 runs of it (4 seeds) all reached 0.986x or more. The case a random
      // seed once found (0.968x) is always tried.
      { numRuns: 12, examples: [[50, 333, 0]] },
    );
  }, 120_000);

  it('keeps a growth that closes a gap to the rate smaller than the gain a growth is asked for', async () => {
    // 50 req/s at 333 ms: 16 users give 48.3 req/s (0.966x), 25 give 49.6. The 1.2 req/s gained
    // is less than the 3 requests over the judged second a growth must show when short of the
    // rate, so the growth to 25 was undone and the limit held at 16 (0.968x over the second half).
    let control: ReturnType<typeof adaptiveConcurrency> | undefined;
    const result = await runModel(
      { rate: 50, seconds: 20, users: 250, serverMs: () => 333, cpuMs: 0 },
      (clock) => {
        control = adaptiveConcurrency({
          ratePerSecond: 50,
          limiter: clock.limiter,
          client: clock.client,
          loopDelayMs: clock.loopDelayMs,
          now: clock.now,
        });
        return control;
      },
    );
    expect(result.reached).toBeGreaterThanOrEqual(0.98);
    expect(control?.decisions().undone).toBe(0);
    // Little's law: 50 x 0.333 x 1.5 = 25 users, from the second half on.
    expect(Math.min(...result.limits.slice(result.limits.length / 2))).toBeGreaterThanOrEqual(25);
  });
});
