/**
 * The rate limiter on a busy machine, in the queueing model (test/helpers/queueing-model.ts):
 * the real limiter and pool on a fake clock, one event loop, and a CPU taken away 35 ms of every
 * 50 (other processes). A limiter wake-up then runs up to 35 ms late, whatever the users waiting.
 */
import { describe, expect, it } from 'vitest';
import { fixedConcurrency } from '#core/pool.ts';
import { runModel } from '#test/helpers/queueing-model.ts';

describe('the rate limiter on a machine that deschedules the loader 35 ms of every 50', () => {
  for (const users of [4, 22]) {
    it(`sustains at least 0.97x of 200 req/s with ${users} users`, async () => {
      const result = await runModel(
        {
          rate: 200,
          seconds: 20,
          users: 2000,
          serverMs: () => 3,
          cpuMs: 0.5,
          stolen: { periodMs: 50, ms: 35 },
        },
        () => fixedConcurrency(users),
      );
      // The model gives 0.975x (the log's 1,010 ms and the turns the stolen CPU still delays);
      // a fixed 30 ms make-up gave 0.900x, with any number of users: the tokens of every
      // wake-up later than 30 ms were lost.
      expect(result.reached).toBeGreaterThanOrEqual(0.97);
    });
  }
});
