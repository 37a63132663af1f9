import { describe, expect, it } from 'vitest';
import { ConfigError } from '#core/errors.ts';
import { parseCapacity, parseHandlerConfig } from '#handlers/runtime.ts';

const BASE = { LAKE_BUCKET: 'lake', PAYLINK_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:x' };

describe('the handlers’ users in flight (USER_CONCURRENCY)', () => {
  it('adapt when the variable is absent or says adaptive', () => {
    expect(parseHandlerConfig(BASE).userConcurrency).toBe('adaptive');
    expect(parseHandlerConfig({ ...BASE, USER_CONCURRENCY: 'adaptive' }).userConcurrency).toBe('adaptive');
  });

  it('are fixed when the variable is a positive integer', () => {
    expect(parseHandlerConfig({ ...BASE, USER_CONCURRENCY: '6' }).userConcurrency).toBe(6);
  });

  it('refuse anything else with an error naming the variable', () => {
    for (const value of ['0', '-1', '2.5', 'many']) {
      const error = (() => {
        try {
          parseHandlerConfig({ ...BASE, USER_CONCURRENCY: value });
        } catch (e) {
          return e;
        }
      })();
      expect(error, value).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).key, value).toBe('USER_CONCURRENCY');
    }
  });
});

describe('the handlers’ Parquet writer (PAYLINK_PARQUET_WRITER)', () => {
  it('refuses a value other than worker or in-thread with an error naming the variable', async () => {
    const { partWriters } = await import('#handlers/part-writers.ts');
    const before = process.env.PAYLINK_PARQUET_WRITER;
    process.env.PAYLINK_PARQUET_WRITER = 'fast';
    try {
      expect(() => partWriters()).toThrow(ConfigError);
      expect(() => partWriters()).toThrow('PAYLINK_PARQUET_WRITER');
    } finally {
      if (before === undefined) delete process.env.PAYLINK_PARQUET_WRITER;
      else process.env.PAYLINK_PARQUET_WRITER = before;
    }
  });
});

describe("the commit's quality settings (the stack's dataQuality)", () => {
  it("judge quiet tables with the configured fraction, the quiet-feed alarm's, not the default", async () => {
    const { trailingSettings } = await import('#handlers/commit.ts');
    const settings = trailingSettings({
      PAYLINK_TRAILING_LOADS: '5',
      PAYLINK_MIN_TRAILING_LOADS: '3',
      PAYLINK_QUIET_FRACTION: '0.25',
    });
    expect(settings).toMatchObject({ trailingLoads: 5, minTrailingLoads: 3, quietFraction: 0.25 });
    // A table at 40% of its median: quiet at the default 0.5, not at the configured 0.25.
    const { loadSignals } = await import('#core/quality.ts');
    const at = (day: number, orders: number) => ({
      loadId: `179600000${day}.000000`,
      startedAt: `2026-12-0${day}T03:00:00.000Z`,
      committedAt: `2026-12-0${day}T03:10:00.000Z`,
      users: 10,
      failedUserCount: 0,
      rowsByTable: { orders },
    });
    const earlier = [at(4, 100), at(3, 100), at(2, 100)];
    expect(loadSignals(at(5, 40), earlier, settings).quietTables).toEqual([]);
    expect(loadSignals(at(5, 40), earlier, trailingSettings({})).quietTables).toEqual(['orders']);
  });

  it('report earlier loads it cannot read: a WARN and the TrailingLoadsUnreadable metric, not silence', async () => {
    const { trailingLoadsOf } = await import('#handlers/commit.ts');
    const { commitFigures, commitMetrics, METRIC } = await import('#core/load-metrics.ts');
    const { loadSignals, QUALITY_DEFAULTS } = await import('#core/quality.ts');
    const failing = {
      list: async () => {
        throw new Error('AccessDenied: s3:ListBucket');
      },
    } as never;
    const warnings: string[] = [];
    const log = { warn: (message: string) => void warnings.push(message) } as never;
    const load = {
      loadId: '1796000005.000000',
      startedAt: '2026-12-05T03:00:00.000Z',
      committedAt: '2026-12-05T03:10:00.000Z',
      users: 10,
      failedUserCount: 0,
      rowsByTable: { orders: 0 },
      requests: 10,
      files: [],
      schemaChanges: [],
      missingBatches: [],
    };
    const read = await trailingLoadsOf(failing, load, QUALITY_DEFAULTS, log);
    expect(read).toEqual({ loads: [], unreadable: true });
    expect(warnings).toEqual(['trailing_loads_unreadable']);
    const figures = commitFigures(load, loadSignals(load, read.loads, QUALITY_DEFAULTS), {
      commitSeconds: 1,
      trailingLoads: 0,
      trailingLoadsUnreadable: read.unreadable,
    });
    const points = commitMetrics(figures)[0]!.points;
    expect(points.find((p) => p.name === METRIC.trailingLoadsUnreadable)?.value).toBe(1);
    // A load whose earlier loads were read says 0: the alarm sees every load.
    const fine = commitFigures(load, loadSignals(load, [], QUALITY_DEFAULTS), {
      commitSeconds: 1,
      trailingLoads: 0,
    });
    expect(commitMetrics(fine)[0]!.points.find((p) => p.name === METRIC.trailingLoadsUnreadable)?.value).toBe(
      0,
    );
  });

  it("take the metrics' schedule from the execution's input the state machine passes", async () => {
    const { scheduleOf } = await import('#handlers/commit.ts');
    expect(scheduleOf({ loadId: 'x', runInput: { schedule: 'daily' } })).toBe('daily');
    // A run started by hand without one: the plan's, read by the handler (undefined here).
    expect(scheduleOf({ loadId: 'x', runInput: {} })).toBeUndefined();
    expect(scheduleOf({ loadId: 'x', runInput: { schedule: 7 } })).toBeUndefined();
    expect(scheduleOf({ loadId: 'x' })).toBeUndefined();
  });

  it('take the misses that retire a task id from PAYLINK_RETIRE_TASK_AFTER_MISSES (default 2), refusing what is not 1 to 1000', async () => {
    const { retireTaskAfter } = await import('#handlers/commit.ts');
    expect(retireTaskAfter({})).toBe(2);
    expect(retireTaskAfter({ PAYLINK_RETIRE_TASK_AFTER_MISSES: '5' })).toBe(5);
    for (const value of ['0', '-1', '2.5', 'few', '1001'])
      expect(() => retireTaskAfter({ PAYLINK_RETIRE_TASK_AFTER_MISSES: value }), value).toThrow(
        /^PAYLINK_RETIRE_TASK_AFTER_MISSES: must be a whole number of loads from 1 to 1000/,
      );
  });

  it('take the fewest expected rows a table is judged at from PAYLINK_MIN_EXPECTED_ROWS (default 20), refusing non-integers', async () => {
    const { trailingSettings } = await import('#handlers/commit.ts');
    expect(trailingSettings({}).minExpectedRows).toBe(20);
    expect(trailingSettings({ PAYLINK_MIN_EXPECTED_ROWS: '0' }).minExpectedRows).toBe(0);
    for (const value of ['-1', '2.5', 'few'])
      expect(() => trailingSettings({ PAYLINK_MIN_EXPECTED_ROWS: value }), value).toThrow(
        /^PAYLINK_MIN_EXPECTED_ROWS: /,
      );
    // 3 orders expected, none came: judged (quiet) only when the minimum allows it.
    const { loadSignals } = await import('#core/quality.ts');
    const at = (day: number, orders: number) => ({
      loadId: `179600000${day}.000000`,
      startedAt: `2026-12-0${day}T03:00:00.000Z`,
      committedAt: `2026-12-0${day}T03:10:00.000Z`,
      users: 2,
      failedUserCount: 0,
      rowsByTable: { orders },
    });
    const earlier = [at(3, 3), at(2, 3)];
    expect(loadSignals(at(4, 0), earlier, trailingSettings({})).quietTables).toEqual([]);
    expect(
      loadSignals(at(4, 0), earlier, trailingSettings({ PAYLINK_MIN_EXPECTED_ROWS: '0' })).quietTables,
    ).toEqual(['orders']);
  });

  it('refuse a fraction outside (0, 1], naming the variable', async () => {
    const { trailingSettings } = await import('#handlers/commit.ts');
    for (const value of ['0', '1.5', 'half']) {
      expect(() => trailingSettings({ PAYLINK_QUIET_FRACTION: value }), value).toThrow(
        /^PAYLINK_QUIET_FRACTION: /,
      );
    }
  });
});

describe('the commit’s merge budget (PAYLINK_COMMIT_MERGE_SECONDS)', () => {
  it('is unset when the variable is absent, else its seconds (0: every merge to the Map)', async () => {
    const { commitMergeSeconds } = await import('#handlers/commit.ts');
    expect(commitMergeSeconds({})).toBeUndefined();
    expect(commitMergeSeconds({ PAYLINK_COMMIT_MERGE_SECONDS: '0' })).toBe(0);
    expect(commitMergeSeconds({ PAYLINK_COMMIT_MERGE_SECONDS: '300' })).toBe(300);
  });

  it('refuses a negative or non-numeric value with an error naming the variable', async () => {
    const { commitMergeSeconds } = await import('#handlers/commit.ts');
    for (const value of ['-1', 'soon', 'Infinity']) {
      expect(() => commitMergeSeconds({ PAYLINK_COMMIT_MERGE_SECONDS: value }), value).toThrow(
        expect.objectContaining({ key: 'PAYLINK_COMMIT_MERGE_SECONDS' }),
      );
    }
  });
});

describe("the plan's sizing settings (PAYLINK_CAPACITY)", () => {
  const SETTINGS = {
    requestRate: 20,
    maxConcurrency: 4,
    maxBatchSize: 500,
    batchTimeoutSeconds: 900,
    batchMarginSeconds: 120,
    commitSeconds: 120,
    guardSeconds: 10,
    runDeadlineSeconds: { daily: 77_760 },
  };

  it("take the commit's merge settings, and do without them (a stack from before they were written)", () => {
    expect(parseCapacity(JSON.stringify(SETTINGS))).toEqual(SETTINGS);
    const merge = { commitTimeoutSeconds: 900, commitMergeSeconds: 0, mergeConcurrency: 10 };
    expect(parseCapacity(JSON.stringify({ ...SETTINGS, ...merge }))).toEqual({ ...SETTINGS, ...merge });
  });

  it('refuse a merge setting that is not a number of 0 or more, naming the field', () => {
    for (const field of ['commitTimeoutSeconds', 'commitMergeSeconds', 'mergeConcurrency']) {
      expect(() => parseCapacity(JSON.stringify({ ...SETTINGS, [field]: -1 })), field).toThrow(
        `PAYLINK_CAPACITY.${field}: must be a number >= 0`,
      );
      expect(() => parseCapacity(JSON.stringify({ ...SETTINGS, [field]: 'soon' })), field).toThrow(
        ConfigError,
      );
    }
  });
});
