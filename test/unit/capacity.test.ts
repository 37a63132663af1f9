import { describe, expect, it } from 'vitest';
import {
  BATCH_OVERHEAD_SECONDS,
  BATCH_SAFETY,
  DEFAULT_REQUESTS_PER_USER,
  formatDuration,
  measuredRequestsPerUser,
  planCapacity,
} from '#core/capacity.ts';
import { ConfigError } from '#core/errors.ts';

/** The example stack: 20 request/s, MaxConcurrency 4, batches <= 500, 15-min load-batch, daily. */
const EXAMPLE = {
  requestRate: 20,
  maxConcurrency: 4,
  requestsPerUser: DEFAULT_REQUESTS_PER_USER,
  maxBatchSize: 500,
  batchTimeoutSeconds: 900,
  batchMarginSeconds: 120,
  runDeadlineSeconds: Math.floor(0.9 * 86_400),
  guardSeconds: 10,
  commitSeconds: 120,
};

/** Step Functions' cap on a state's input or output (Step Functions quotas). */
const PAYLOAD_LIMIT = 256 * 1024;

describe('planCapacity', () => {
  it('cuts 100k users into batches that fit the Lambda deadline with margin, and the run into the day', () => {
    const plan = planCapacity({ ...EXAMPLE, users: 100_000 });
    // 5 request/s per batch; (900 - 120) * 0.8 - 30 = 594 s of requests: 371 users of 8 requests.
    expect(plan.batchRequestRate).toBe(5);
    expect(plan.batchSize).toBeLessThanOrEqual(
      Math.floor((((900 - 120) * BATCH_SAFETY - BATCH_OVERHEAD_SECONDS) * 5) / 8),
    );
    expect(plan.batchSeconds).toBeLessThanOrEqual(plan.batchBudgetSeconds);
    expect(plan.batches * plan.batchSize).toBeGreaterThanOrEqual(100_000);
    expect(plan.waves).toBe(Math.ceil(plan.batches / 4));
    expect(plan.requests).toBe(800_000);
    expect(plan.fits).toBe(true);
    expect(plan.expectedSeconds).toBeLessThan(EXAMPLE.runDeadlineSeconds);
    // Rate-bound: never faster than all requests at the full rate.
    expect(plan.expectedSeconds).toBeGreaterThan(800_000 / 20);
  });

  it('says when a run cannot finish before the next one, with the numbers, and still plans every user', () => {
    const plan = planCapacity({ ...EXAMPLE, users: 300_000 });
    expect(plan.fits).toBe(false);
    expect(plan.problem).toContain('300000 users x 8 requests at 20 request/s');
    expect(plan.problem).toContain(formatDuration(EXAMPLE.runDeadlineSeconds));
    expect(plan.batches * plan.batchSize).toBeGreaterThanOrEqual(300_000);
  });

  it('balances batches instead of leaving a runt', () => {
    const plan = planCapacity({ ...EXAMPLE, requestRate: 2000, users: 1001 });
    expect(plan.batches).toBe(3);
    expect(plan.batchSize).toBe(334);
  });

  it('refuses a rate at which not even one user fits a batch deadline', () => {
    expect(() => planCapacity({ ...EXAMPLE, requestRate: 0.01, users: 1 })).toThrow(ConfigError);
    expect(() => planCapacity({ ...EXAMPLE, requestRate: 0.01, users: 1 })).toThrow(/per batch: one user/);
  });

  it('keeps 5M users under the payload limit: the plan output is constant, the Map gathers {} per batch', () => {
    const plan = planCapacity({ ...EXAMPLE, users: 5_000_000 });
    // The Map's result is an array of one empty object per batch (ResultSelector {}).
    const mapResult = JSON.stringify(Array.from({ length: plan.batches }, () => ({})));
    expect(mapResult.length).toBeLessThan(PAYLOAD_LIMIT);
    // The plan's output names the item file; its size does not depend on the user count.
    const output = {
      loadId: '1796094000.000000',
      users: plan.users,
      batches: plan.batches,
      itemsBucket: 'a'.repeat(63),
      itemsKey: `${'p'.repeat(100)}/_staging/1796094000.000000/items.json`,
      capacity: { ...plan, problem: plan.problem ?? '' },
    };
    expect(JSON.stringify(output).length).toBeLessThan(2048);
  });
});

describe('measuredRequestsPerUser', () => {
  it('reads requests / users from the previous marker, the documented default before the first', () => {
    expect(measuredRequestsPerUser(undefined)).toBe(DEFAULT_REQUESTS_PER_USER);
    expect(measuredRequestsPerUser({ users: 0, requests: 0 })).toBe(DEFAULT_REQUESTS_PER_USER);
    expect(measuredRequestsPerUser({ users: 500, requests: 3950 })).toBe(7.9);
  });
});
