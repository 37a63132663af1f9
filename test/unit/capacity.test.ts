import { describe, expect, it } from 'vitest';
import {
  BATCH_OVERHEAD_SECONDS,
  BATCH_SAFETY,
  DEFAULT_MERGE_VOLUME,
  DEFAULT_REQUESTS_PER_USER,
  formatDuration,
  MERGE_ITEM_OVERHEAD_SECONDS,
  measuredMergeVolume,
  measuredRequestsPerUser,
  planCapacity,
  STACK_DEFAULTS,
} from '#core/capacity.ts';
import { ConfigError } from '#core/errors.ts';
import { MERGE_BUDGET, MERGE_SLICING, MERGE_THROUGHPUT } from '#core/merge-fan-out.ts';

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

  it("takes the webhook receiver's reserved concurrency out of the account's pool the batches draw from", () => {
    // 1,000 executions, 100 kept as headroom: 900 batches at once fit an account without the receiver.
    const many = { ...EXAMPLE, users: 100_000, requestRate: 900, maxConcurrency: 900 };
    expect(planCapacity(many).fits).toBe(true);
    // The receiver reserves 25 (webhooks.reservedConcurrency): only 875 are left for the batches.
    const withWebhooks = planCapacity({
      ...many,
      webhookReservedConcurrency: STACK_DEFAULTS.webhookReservedConcurrency,
    });
    expect(withWebhooks.fits).toBe(false);
    expect(withWebhooks.problem).toContain(
      "900 batches at once would take 900 of the account's 1000 concurrent Lambda executions (25 of them reserved by the webhook receiver)",
    );
    expect(withWebhooks.problem).toContain('lower maxConcurrency to 875 or less');
    expect(planCapacity({ ...many, maxConcurrency: 875, webhookReservedConcurrency: 25 }).fits).toBe(true);
    expect(() => planCapacity({ ...many, webhookReservedConcurrency: -1 })).toThrow(
      /^webhookReservedConcurrency:/,
    );
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

describe('planCapacity: the commit and its merge', () => {
  const volume = DEFAULT_MERGE_VOLUME;
  const mergeSecondsOf = (users: number) =>
    Math.max(
      (users * volume.rowsPerUser) / MERGE_THROUGHPUT.rowsPerSecond,
      (users * volume.bytesPerUser) / MERGE_THROUGHPUT.bytesPerSecond,
    );
  /** The same run with a commit that merges nothing: what the plan counted before the merge. */
  const withoutMerge = (users: number, extra: Partial<Parameters<typeof planCapacity>[0]> = {}) =>
    planCapacity({
      ...EXAMPLE,
      ...extra,
      users,
      mergeVolume: {
        rowsPerUser: 0,
        bytesPerUser: 0,
        largest: { rowsPerUser: 0, bytesPerUser: 0 },
        partitions: 0,
      },
    });

  it('adds the merge the commit does itself to the commit and the run', () => {
    const plan = planCapacity({ ...EXAMPLE, users: 10_000 });
    // The commit's own estimate of 10,000 users' staged rows and bytes, within a fresh invocation's budget.
    expect(plan.merge.rows).toBe(10_000 * volume.rowsPerUser);
    expect(plan.merge.seconds).toBe(Math.ceil(mergeSecondsOf(10_000)));
    expect(plan.merge.budgetSeconds).toBe(
      (STACK_DEFAULTS.commitTimeoutSeconds - MERGE_BUDGET.reserveSeconds) * MERGE_BUDGET.share,
    );
    expect(plan.merge.handOff).toBe(false);
    expect(plan.merge.mapSeconds).toBe(0);
    expect(plan.commitSeconds).toBe(EXAMPLE.commitSeconds + plan.merge.seconds);
    expect(plan.expectedSeconds - withoutMerge(10_000).expectedSeconds).toBe(plan.merge.seconds);
  });

  it('counts a merge over the budget as the commit that hands off, the merge Map and the commit after it', () => {
    const plan = planCapacity({ ...EXAMPLE, users: 100_000 });
    expect(plan.merge.seconds).toBeGreaterThan(plan.merge.budgetSeconds);
    expect(plan.merge.handOff).toBe(true);
    // The largest partition is one item; the others run 10 at once beside it, in 2 waves of items.
    const largest = Math.max(
      (100_000 * volume.largest.rowsPerUser) / MERGE_THROUGHPUT.rowsPerSecond,
      (100_000 * volume.largest.bytesPerUser) / MERGE_THROUGHPUT.bytesPerSecond,
    );
    const waves = Math.ceil(volume.partitions / STACK_DEFAULTS.mergeConcurrency);
    expect(plan.merge.mapSeconds).toBe(
      Math.ceil(
        Math.max(largest, mergeSecondsOf(100_000) / STACK_DEFAULTS.mergeConcurrency) +
          waves * MERGE_ITEM_OVERHEAD_SECONDS,
      ),
    );
    expect(plan.commitSeconds).toBe(2 * EXAMPLE.commitSeconds + plan.merge.mapSeconds);
    // Faster than merging in one invocation, which could not finish in time anyway.
    expect(plan.merge.mapSeconds).toBeLessThan(plan.merge.seconds);
    expect(plan.expectedSeconds - withoutMerge(100_000).expectedSeconds).toBe(
      EXAMPLE.commitSeconds + plan.merge.mapSeconds,
    );
  });

  it("follows the stack's commitMergeSeconds, and hands nothing off for an empty load", () => {
    const always = planCapacity({ ...EXAMPLE, users: 100, commitMergeSeconds: 0 });
    expect(always.merge).toMatchObject({ budgetSeconds: 0, handOff: true });
    expect(planCapacity({ ...EXAMPLE, users: 100 }).merge.handOff).toBe(false);
    expect(planCapacity({ ...EXAMPLE, users: 0, commitMergeSeconds: 0 }).merge).toMatchObject({
      rows: 0,
      handOff: false,
      seconds: 0,
    });
    // A cap above the deadline's share changes nothing: the deadline still bounds the budget.
    expect(planCapacity({ ...EXAMPLE, users: 100, commitMergeSeconds: 900 }).merge.budgetSeconds).toBe(
      planCapacity({ ...EXAMPLE, users: 100 }).merge.budgetSeconds,
    );
  });

  it('does not call a run a fit when only its merge makes it miss the deadline, and says so', () => {
    const users = 50_000;
    const bare = withoutMerge(users);
    const plan = planCapacity({ ...EXAMPLE, users, runDeadlineSeconds: bare.expectedSeconds + 1 });
    expect(withoutMerge(users, { runDeadlineSeconds: bare.expectedSeconds + 1 }).fits).toBe(true);
    expect(plan.fits).toBe(false);
    expect(plan.problem).toContain(
      `then a commit of ${formatDuration(plan.commitSeconds)} with the merge Map`,
    );
  });

  it('slices a table partition too large for one merge Map item: such a load fits, its Map counted by items', () => {
    // Data 10x denser than the simulator's: 100,000 users' largest partition is ~21 min of merging.
    const dense = {
      rowsPerUser: volume.rowsPerUser * 10,
      bytesPerUser: volume.bytesPerUser * 10,
      largest: {
        rowsPerUser: volume.largest.rowsPerUser * 10,
        bytesPerUser: volume.largest.bytesPerUser * 10,
      },
      partitions: volume.partitions,
    };
    const users = 100_000;
    const plan = planCapacity({
      ...EXAMPLE,
      requestRate: 2000,
      maxConcurrency: 100,
      users,
      mergeVolume: dense,
    });
    expect(plan.merge.largestPartitionSeconds).toBeGreaterThan(STACK_DEFAULTS.commitTimeoutSeconds);
    expect(plan.merge.itemSeconds).toBe(MERGE_SLICING.maxSeconds);
    expect(plan.fits, plan.problem).toBe(true);
    // The largest partition in 4 slices of ~310 s; 27 items in all (the total's 10,200 s / 390 s).
    const largest = Math.max(
      (users * dense.largest.rowsPerUser) / MERGE_THROUGHPUT.rowsPerSecond,
      (users * dense.largest.bytesPerUser) / MERGE_THROUGHPUT.bytesPerSecond,
    );
    const slices = Math.ceil(largest / MERGE_SLICING.maxSeconds);
    expect(slices).toBe(4);
    const total = Math.max(
      (users * dense.rowsPerUser) / MERGE_THROUGHPUT.rowsPerSecond,
      (users * dense.bytesPerUser) / MERGE_THROUGHPUT.bytesPerSecond,
    );
    const items = Math.max(dense.partitions - 1 + slices, Math.ceil(total / MERGE_SLICING.maxSeconds));
    expect(plan.merge.items).toBe(items);
    expect(plan.merge.mapSeconds).toBe(
      Math.ceil(
        Math.max(largest / slices, total / STACK_DEFAULTS.mergeConcurrency) +
          Math.ceil(items / STACK_DEFAULTS.mergeConcurrency) * MERGE_ITEM_OVERHEAD_SECONDS,
      ),
    );
  });
});

describe('measuredMergeVolume', () => {
  it("reads rows and bytes per user, and the slowest partition's, from the previous load's files", () => {
    const volume = measuredMergeVolume({
      users: 100,
      files: [
        { key: 'orders/dt=2026-11-25/L.00000.0000.parquet', table: 'orders', rows: 3000, bytes: 200_000 },
        { key: 'orders/dt=2026-11-25/L.00000.0001.parquet', table: 'orders', rows: 1000, bytes: 50_000 },
        { key: 'accounts/dt=2026-11-25/L.00000.0000.parquet', table: 'accounts', rows: 500, bytes: 900_000 },
        {
          key: 'user_loads/dt=2026-11-25/L.00000.0000.parquet',
          table: 'user_loads',
          rows: 800,
          bytes: 40_000,
        },
      ],
    });
    expect(volume.rowsPerUser).toBe(53);
    expect(volume.bytesPerUser).toBe(11_900);
    expect(volume.partitions).toBe(3);
    // accounts: 900 KB at 0.4 MB/s (2.25 s) is slower than orders' 4,000 rows at 5,000/s (0.8 s).
    expect(volume.largest).toEqual({ rowsPerUser: 5, bytesPerUser: 9_000 });
  });

  it('is the documented default before the first load, or for a load that wrote nothing', () => {
    expect(measuredMergeVolume(undefined)).toBe(DEFAULT_MERGE_VOLUME);
    expect(measuredMergeVolume({ users: 0, files: [] })).toBe(DEFAULT_MERGE_VOLUME);
    expect(measuredMergeVolume({ users: 10, files: [] })).toBe(DEFAULT_MERGE_VOLUME);
    expect(measuredMergeVolume({ users: 10 })).toBe(DEFAULT_MERGE_VOLUME);
  });
});
