import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { parseQualityFlags, QUALITY_OPTION_DEFAULTS, qualityReport } from '#cli/quality-report.ts';
import { ConfigError } from '#core/errors.ts';
import {
  batchMetrics,
  commitFigures,
  commitMetrics,
  countByMinute,
  DIM,
  METRIC,
} from '#core/load-metrics.ts';
import {
  earlierLoads,
  type LoadFigures,
  loadSignals,
  median,
  QUALITY_DEFAULTS,
  readEarlierLoads,
  seriesOf,
  tableTrends,
} from '#core/quality.ts';
import { Scratch } from '#test/helpers/lake-harness.ts';

const load = (day: number, rows: Record<string, number>, extra: Partial<LoadFigures> = {}): LoadFigures => ({
  loadId: `17960000${String(day).padStart(2, '0')}.000000`,
  startedAt: `2026-12-${String(day).padStart(2, '0')}T03:00:00.000Z`,
  committedAt: `2026-12-${String(day).padStart(2, '0')}T03:20:00.000Z`,
  resources: ['accounts', 'orders'],
  users: 100,
  failedUserCount: 0,
  rowsByTable: { user_loads: 200, ...rows },
  endpointFindings: [],
  ...extra,
});

describe('median', () => {
  it('is the middle value, or the mean of the middle two', () => {
    expect(median([5])).toBe(5);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });

  it('lies between the smallest and largest value and ignores order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: 1, maxLength: 30 }), (values) => {
        const m = median(values);
        expect(m).toBeGreaterThanOrEqual(Math.min(...values));
        expect(m).toBeLessThanOrEqual(Math.max(...values));
        expect(median([...values].reverse())).toBe(m);
      }),
    );
  });
});

describe('quiet feeds', () => {
  const settings = QUALITY_DEFAULTS;

  it('judges nothing before minTrailingLoads earlier loads', () => {
    const trends = tableTrends(load(2, { orders: 0 }), [load(1, { orders: 50 })], settings);
    expect(trends).toEqual([
      {
        table: 'orders',
        rows: 0,
        trailingMedian: undefined,
        trailingLoads: 1,
        ratio: undefined,
        quiet: false,
      },
    ]);
  });

  it('flags a table below quietFraction x the median of its last N loads, a missing table counting 0', () => {
    const earlier = [
      load(3, { orders: 40, accounts: 10 }),
      load(2, { orders: 60, accounts: 10 }),
      load(1, { orders: 50 }),
    ];
    const trends = tableTrends(load(4, { accounts: 10 }), earlier, settings);
    expect(trends.map((t) => [t.table, t.rows, t.trailingMedian, t.ratio, t.quiet])).toEqual([
      ['accounts', 10, 10, 1, false],
      ['orders', 0, 50, 0, true],
    ]);
    // user_loads is ours, not a feed.
    expect(trends.some((t) => t.table === 'user_loads')).toBe(false);
    // Only the last trailingLoads count: with N = 2, loads 3 and 2 (40 and 60), not load 1.
    expect(
      tableTrends(load(4, { orders: 25 }), earlier, {
        ...settings,
        trailingLoads: 2,
        minTrailingLoads: 1,
      })[1],
    ).toMatchObject({ trailingMedian: 50, ratio: 0.5, quiet: false });
  });

  it('does not call a feed that was always empty quiet', () => {
    const trends = tableTrends(
      load(3, { orders: 0 }),
      [load(2, { orders: 0 }), load(1, { orders: 0 })],
      settings,
    );
    expect(trends[0]).toMatchObject({ trailingMedian: 0, ratio: undefined, quiet: false });
  });

  it('compares a load with earlier loads of its schedule, or of the same tables, newest first', () => {
    const current = load(5, {});
    const reports = [
      load(1, {}),
      load(2, {}, { resources: ['orders'] }),
      load(3, {}),
      load(4, {}, { schedule: 'hourly' }),
      current,
      load(6, {}),
    ];
    expect(earlierLoads(current, reports, settings).map((l) => l.loadId)).toEqual([
      reports[2]!.loadId,
      reports[0]!.loadId,
    ]);
    expect(seriesOf({ resources: ['orders', 'accounts'] })).toBe(
      seriesOf({ resources: ['accounts', 'orders'] }),
    );
  });

  it('compares a `changed` load only with `changed` loads of its schedule and tables, never with full loads', () => {
    const full = (day: number) => load(day, { orders: 4000, accounts: 1000 }, { schedule: 'hourly' });
    const changed = (day: number, orders: number) =>
      load(day, { orders, accounts: orders / 4 }, { schedule: 'hourly', usersSelection: 'changed' });
    const reports = [full(1), full(2), changed(3, 40), full(4), changed(5, 36), changed(6, 44)];
    const current = reports[5]!;
    const earlier = earlierLoads(current, reports, QUALITY_DEFAULTS);
    expect(earlier.map((l) => l.loadId)).toEqual([reports[4]!.loadId, reports[2]!.loadId]);
    const signals = loadSignals(current, earlier, QUALITY_DEFAULTS);
    expect(signals.quietTables).toEqual([]);
    expect(signals.tables.find((t) => t.table === 'orders')).toMatchObject({
      trailingMedian: 38,
      quiet: false,
    });
    // Against the full loads it would have been called quiet (the bug this rules out).
    expect(loadSignals(current, [reports[3]!, reports[1]!], QUALITY_DEFAULTS).quietTables).toEqual([
      'accounts',
      'orders',
    ]);
    // A full load is compared with full loads only; another schedule, or other tables, are other series.
    expect(earlierLoads(reports[3]!, reports, QUALITY_DEFAULTS).map((l) => l.loadId)).toEqual([
      reports[1]!.loadId,
      reports[0]!.loadId,
    ]);
    expect(seriesOf({ schedule: 'hourly', resources: ['orders'] })).not.toBe(
      seriesOf({ schedule: 'daily', resources: ['orders'] }),
    );
    expect(seriesOf({ schedule: 'hourly', resources: ['orders'] })).not.toBe(
      seriesOf({ schedule: 'hourly', resources: ['orders', 'tasks'] }),
    );
    // A report that does not name its selection is a full load's (markers before they named it).
    expect(seriesOf({ schedule: 'hourly', resources: ['orders'] })).toBe(
      seriesOf({ schedule: 'hourly', usersSelection: 'all', resources: ['orders'] }),
    );
  });

  it('reads the earlier loads from the lake reports, skipping later loads and other series', async () => {
    const scratch = await Scratch.create('quality');
    try {
      const store = createLocalStore(scratch.dir);
      const reports = [
        load(1, { orders: 1 }),
        load(2, { orders: 2 }, { resources: ['orders'] }),
        load(3, { orders: 3 }),
        load(4, { orders: 4 }),
      ];
      for (const r of reports) await store.put(`_loads/${r.loadId}.json`, JSON.stringify(r));
      await store.put('_loads/garbage.json', '{not json');
      const found = await readEarlierLoads(store, reports[2]!, settings);
      expect(found.map((l) => l.rowsByTable.orders)).toEqual([1]);
    } finally {
      await scratch.dispose();
    }
  });
});

describe('load signals and their metrics', () => {
  it('flag the failed-user share, disabled resources and a run outside its window', () => {
    const current = load(
      3,
      { orders: 50 },
      {
        failedUserCount: 10,
        endpointFindings: [{ resource: 'orders' }, { resource: 'orders' }],
        committedAt: '2026-12-03T05:00:00.000Z',
      },
    );
    const signals = loadSignals(current, [], { ...QUALITY_DEFAULTS, runWindowSeconds: 3600 });
    expect(signals).toMatchObject({
      failedUserSharePercent: 10,
      failedUserShareHigh: true,
      endpointUnavailable: ['orders'],
      runSeconds: 7200,
      outsideWindow: true,
      lowestRatio: undefined,
    });
    expect(loadSignals(current, [], QUALITY_DEFAULTS).outsideWindow).toBeUndefined();
    expect(loadSignals(load(1, {}, { users: 0 }), [], QUALITY_DEFAULTS).failedUserSharePercent).toBe(0);
  });

  it('become EMF groups whose only dimensions are table or error code, never a load or a user', () => {
    const current = load(3, { orders: 10, accounts: 40 });
    const signals = loadSignals(
      current,
      [load(2, { orders: 40, accounts: 40 }), load(1, { orders: 40, accounts: 40 })],
      QUALITY_DEFAULTS,
    );
    const figures = commitFigures(
      {
        ...current,
        requests: 300,
        files: [
          { table: 'orders', bytes: 300 },
          { table: 'orders', bytes: 200 },
          { table: 'user_loads', bytes: 499 },
        ],
        schemaChanges: [],
        missingBatches: [],
      },
      signals,
      { commitSeconds: 2, trailingLoads: 2 },
    );
    const groups = commitMetrics(figures);
    expect(groups[0]!.dimensions).toEqual({});
    const lowest = groups[0]!.points.find((p) => p.name === METRIC.lowestRowsToTrailingMedian);
    expect(lowest?.value).toBe(0.25);
    expect(groups.slice(1).map((g) => g.dimensions)).toEqual([
      { [DIM.table]: 'accounts' },
      { [DIM.table]: 'orders' },
      { [DIM.table]: 'user_loads' },
    ]);
    const orders = Object.fromEntries(groups[2]!.points.map((p) => [p.name, p.value]));
    expect(orders).toMatchObject({
      [METRIC.tableRows]: 10,
      [METRIC.tableFiles]: 2,
      [METRIC.tableBytes]: 500,
      [METRIC.rowsToTrailingMedian]: 0.25,
    });
    // The bookkeeping table is counted, never judged against a median.
    const userLoads = groups[3]!.points.map((p) => p.name);
    expect(userLoads).not.toContain(METRIC.rowsToTrailingMedian);
  });

  it('are the same numbers in the log line and the metrics: the metrics are built from the logged figures', () => {
    const current = load(3, { orders: 0, accounts: 40 }, { failedUserCount: 7 });
    const signals = loadSignals(current, [load(2, { orders: 40, accounts: 40 }), load(1, { orders: 40 })], {
      ...QUALITY_DEFAULTS,
      quietFraction: 0.25,
    });
    const figures = commitFigures(
      {
        ...current,
        requests: 300,
        files: [
          { table: 'accounts', bytes: 7 },
          { table: 'user_loads', bytes: 3 },
        ],
        schemaChanges: [{}],
        missingBatches: [4],
      },
      signals,
      { commitSeconds: 2, trailingLoads: 2 },
    );
    // What the handler logs, through JSON as CloudWatch Logs receives it.
    const logged = JSON.parse(JSON.stringify(figures)) as typeof figures;
    const [load0, ...perTable] = commitMetrics(figures);
    const value = (name: string) => load0!.points.find((p) => p.name === name)?.value;
    expect({
      users: value(METRIC.loadUsers),
      failedUsers: value(METRIC.loadFailedUsers),
      failedUserSharePercent: value(METRIC.failedUserShare),
      rows: value(METRIC.loadRows),
      files: value(METRIC.loadFiles),
      bytes: value(METRIC.loadBytes),
      schemaChanges: value(METRIC.schemaChanges),
      missingBatches: value(METRIC.missingBatches),
      endpointUnavailable: value(METRIC.endpointUnavailable),
      runSeconds: value(METRIC.runSeconds),
      commitSeconds: value(METRIC.commitSeconds),
    }).toEqual({
      users: logged.users,
      failedUsers: logged.failedUsers,
      failedUserSharePercent: logged.failedUserSharePercent,
      rows: logged.rows,
      files: logged.files,
      bytes: logged.bytes,
      schemaChanges: logged.schemaChanges,
      missingBatches: logged.missingBatches,
      endpointUnavailable: logged.endpointUnavailable.length,
      runSeconds: logged.runSeconds,
      commitSeconds: logged.commitSeconds,
    });
    // Every row of the load (user_loads included) is in the logged and the metric total, and
    // the per-table metrics add up to it.
    expect(logged.rows).toBe(Object.values(current.rowsByTable).reduce((a, b) => a + b, 0));
    expect(
      perTable.reduce((sum, g) => sum + g.points.find((p) => p.name === METRIC.tableRows)!.value, 0),
    ).toBe(logged.rows);
    expect(logged.quietTables).toEqual(['orders']);
    expect(logged.tables.find((t) => t.table === 'orders')).toMatchObject({ rows: 0, trailingMedian: 40 });
  });

  it('count the requests a batch sent per wall-clock minute, each datapoint timestamped at its minute', () => {
    const counts: Record<string, number> = {};
    const at = (iso: string) => countByMinute(counts, Date.parse(iso));
    at('2026-12-01T03:00:00.000Z');
    at('2026-12-01T03:00:59.999Z');
    at('2026-12-01T03:02:10.000Z');
    expect(counts).toEqual({ '2026-12-01T03:00:00.000Z': 2, '2026-12-01T03:02:00.000Z': 1 });
    const batch = batchMetrics({
      users: 2,
      failedUsers: 1,
      deadlineSkipped: 0,
      rows: 5,
      files: 1,
      bytes: 10,
      requests: 3,
      retries: 1,
      rateLimited: 1,
      seconds: 130,
      headroomSeconds: undefined,
      failedUsersByCode: { http_500: 1, timeout: 1 },
      requestsSentByMinute: counts,
    });
    expect(batch.map((g) => g.dimensions)).toEqual([
      {},
      { [DIM.errorCode]: 'http_500' },
      { [DIM.errorCode]: 'timeout' },
      {},
      {},
    ]);
    expect(batch[0]!.points.some((p) => p.name === METRIC.deadlineHeadroomSeconds)).toBe(false);
    expect(batch[0]!.timestamp).toBeUndefined();
    expect(batch.slice(3).map((g) => [g.timestamp, g.points])).toEqual([
      [Date.parse('2026-12-01T03:00:00.000Z'), [{ name: METRIC.requestsSent, unit: 'Count', value: 2 }]],
      [Date.parse('2026-12-01T03:02:00.000Z'), [{ name: METRIC.requestsSent, unit: 'Count', value: 1 }]],
    ]);
  });
});

describe('status quality report', () => {
  it('reports the last loads with their flags, oldest first', () => {
    const reports = [
      load(1, { orders: 40 }),
      load(2, { orders: 60 }),
      load(3, { orders: 0 }, { failedUserCount: 20 }),
    ];
    const report = qualityReport(reports, { ...QUALITY_OPTION_DEFAULTS, last: 2 });
    expect(report.loads.map((l) => l.loadId)).toEqual([reports[1]!.loadId, reports[2]!.loadId]);
    expect(report.loads[1]!.flags).toEqual([
      { kind: 'failed_user_share', percent: 20 },
      { kind: 'quiet_feed', table: 'orders', rows: 0, trailingMedian: 50 },
    ]);
  });

  it('validates its flags, naming the flag', () => {
    expect(parseQualityFlags({})).toEqual(QUALITY_OPTION_DEFAULTS);
    expect(
      parseQualityFlags({ 'run-window-minutes': '90', 'trailing-loads': '1', 'min-trailing-loads': '1' }),
    ).toMatchObject({
      runWindowSeconds: 5400,
      trailingLoads: 1,
      minTrailingLoads: 1,
    });
    expect(parseQualityFlags({ 'min-trailing-loads': '5' }).minTrailingLoads).toBe(5);
    // The minimum is never lowered to fit the window: the combination is refused, naming the flag.
    expect(() => parseQualityFlags({ 'trailing-loads': '1' })).toThrow(
      /^--trailing-loads: 1 is fewer than the 2 earlier loads .*--min-trailing-loads 1/,
    );
    expect(() => parseQualityFlags({ 'trailing-loads': '3', 'min-trailing-loads': '4' })).toThrow(
      /^--min-trailing-loads: 4 is more than the 3 earlier loads/,
    );
    for (const [flag, value] of [
      ['quiet-fraction', '0'],
      ['quiet-fraction', 'x'],
      ['trailing-loads', '0'],
      ['trailing-loads', '51'],
      ['min-trailing-loads', '0'],
      ['failed-share', '101'],
      ['last', '1.5'],
      ['run-window-minutes', ''],
    ] as const) {
      expect(() => parseQualityFlags({ [flag]: value }), `${flag}=${value}`).toThrow(ConfigError);
      expect(() => parseQualityFlags({ [flag]: value })).toThrow(`--${flag}`);
    }
  });
});
