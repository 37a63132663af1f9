/**
 * The client rate limiter against a server with a strict per-second quota, with real timers and
 * an event loop blocked while requests wait: what a long synchronous encode or a GC pause does
 * to a load. The simulator runs on its own thread, so it counts each request when it arrives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { type SimulatorThread, startSimulatorThread } from '#test/helpers/simulator-thread.ts';

const RATE = 100;

let simulator: SimulatorThread;
beforeAll(async () => {
  // At most RATE requests in any one-second window, counted on arrival (simulator/rate-limit.ts).
  simulator = await startSimulatorThread({ rateLimit: RATE, rateLimitWindow: 'sliding' });
});
afterAll(async () => {
  await simulator?.close();
});

/** Blocks this thread's event loop for `ms`, as a synchronous encode would. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: no timer, no socket is served meanwhile
  }
}

describe('the client rate limiter after an event-loop stall', () => {
  it('sends no burst the server refuses: zero 429s at --rate-limit S against a strict S-per-second server', async () => {
    const before = await simulator.stats();
    const limiter = createSystemRateLimiter(RATE);
    // 2.4 seconds of requests waiting at the limiter; the loop is blocked 300 ms in the middle.
    const requests = Array.from({ length: Math.round(RATE * 2.4) }, async () => {
      await limiter.acquire();
      // Any endpoint: the server counts the request against its quota before it routes it.
      const response = await fetch(`${simulator.url}/pay-link/accounts`);
      await response.arrayBuffer();
      return response.status;
    });
    await new Promise((resolve) => setTimeout(resolve, 700));
    blockEventLoop(300);
    const statuses = await Promise.all(requests);
    const after = await simulator.stats();
    expect(statuses.filter((status) => status === 429)).toEqual([]);
    expect(after.rateLimited - before.rateLimited).toBe(0);
  });
});
