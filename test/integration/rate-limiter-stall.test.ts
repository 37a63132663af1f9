/**
 * The client rate limiter with real timers and real requests while the event loop is blocked in
 * the middle of a run: what a long synchronous encode or a GC pause does to a load.
 *
 * What is asserted is the limiter's own contract, on the times its callers resumed (read with the
 * monotonic clock in the caller's continuation): no bunch after the stall beyond the make-up, and
 * at most S releases in any one-second window. Whether a strict server then answers 429 also
 * depends on how the requests' arrivals spread on their way (the OS scheduling two threads on a
 * loaded 2-core machine compresses them by tens of ms), which no client pacing can bound; the
 * same contract on a fake clock, with the requests released just before a stall counted as sent
 * at the wake, is test/unit/rate-limiter.test.ts.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { RATE_LIMITER } from '#core/rate-limiter.ts';
import { type SimulatorThread, startSimulatorThread } from '#test/helpers/simulator-thread.ts';

const RATE = 100;
const INTERVAL_MS = 1000 / RATE;
const STALL_MS = 300;

let simulator: SimulatorThread;
beforeAll(async () => {
  // The server on its own thread: its sockets stay served while this thread's loop is blocked.
  simulator = await startSimulatorThread({});
});
afterAll(async () => {
  await simulator?.close();
});

/** Blocks this thread's event loop for `ms`, as a synchronous encode would; returns when it ended. */
function blockEventLoop(ms: number): number {
  const until = performance.now() + ms;
  let now = performance.now();
  while (now < until) now = performance.now(); // busy: no timer, no socket is served meanwhile
  return now;
}

/** The most of `times` (ascending, ms) in any window [t, t + windowMs). */
function busiestWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j]! - times[i]! >= windowMs) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

describe('the client rate limiter after an event-loop stall', () => {
  it('releases at most its make-up at the wake, not every turn the stall spanned, and at most S in any second', async () => {
    const limiter = createSystemRateLimiter(RATE);
    const released: number[] = [];
    // 2.4 seconds of requests waiting at the limiter; the loop is blocked 300 ms in the middle.
    const requests = Array.from({ length: Math.round(RATE * 2.4) }, async () => {
      await limiter.acquire();
      released.push(performance.now());
      const response = await fetch(`${simulator.url}/pay-link/accounts`);
      await response.arrayBuffer();
      return response.status;
    });
    const stallEnded = await new Promise<number>((resolve) =>
      setTimeout(() => resolve(blockEventLoop(STALL_MS)), 700),
    );
    const statuses = await Promise.all(requests);
    expect(statuses).toHaveLength(requests.length);
    expect(statuses.every((status) => status !== 429)).toBe(true);

    // The stall spanned 30 turns; the wake may release the token and its make-up (11), no more.
    // The wake's turn releases them at once; the next release is an interval later (held after a stall).
    const makeUp = 1 + RATE_LIMITER.makeUpMs / INTERVAL_MS;
    const atWake = released.filter((at) => at >= stallEnded && at < stallEnded + INTERVAL_MS).length;
    expect(atWake).toBeGreaterThanOrEqual(1);
    expect(atWake).toBeLessThanOrEqual(makeUp);
    // The limiter's log keeps S releases at least 1000 + marginMs apart on its clock; marginMs is
    // what the reading in the continuation may add to one release and not the other.
    expect(busiestWindow(released, 1000)).toBeLessThanOrEqual(RATE);
  });
});
