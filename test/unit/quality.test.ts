import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import {
  formatQuality,
  parseQualityFlags,
  QUALITY_OPTION_DEFAULTS,
  qualityReport,
  sidedRound,
} from '#cli/quality-report.ts';
import { ConfigError } from '#core/errors.ts';
import { claimSchemaVersion } from '#core/lake-schema.ts';
import { loadIdFromTime } from '#core/layout.ts';
import {
  batchMetrics,
  commitFigures,
  commitMetrics,
  DIM,
  METRIC,
  requestMetrics,
} from '#core/load-metrics.ts';
import {
  DEAD_FEED_LOADS,
  earlierLoads,
  type LoadFigures,
  loadSignals,
  MIN_EXPECTED_ROWS,
  median,
  QUALITY_DEFAULTS,
  qualityRecord,
  REPORTS_SCANNED,
  readEarlierLoads,
  seriesOf,
  tableTrends,
} from '#core/quality.ts';
import { RequestMinutes } from '#core/request-minutes.ts';
import { SchemaRegistry } from '#core/schema-registry.ts';
import { countingGets } from '#test/helpers/counting-store.ts';
import { Scratch } from '#test/helpers/lake-harness.ts';
import { decemberLoadFigures } from '#test/helpers/load-figures.ts';

const load = decemberLoadFigures;

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
        notJudged: { code: 'too_few_loads', trailingLoads: 1, minTrailingLoads: 2 },
      },
    ]);
  });

  it('flags a table below quietFraction x the median of its last N loads, a missing table counting 0', () => {
    const earlier = [
      load(3, { orders: 40, accounts: 100 }),
      load(2, { orders: 60, accounts: 100 }),
      load(1, { orders: 50 }),
    ];
    const trends = tableTrends(load(4, { accounts: 100 }), earlier, settings);
    expect(trends.map((t) => [t.table, t.rows, t.trailingMedian, t.ratio, t.quiet])).toEqual([
      ['accounts', 100, 100, 1, false],
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

  it('judges a table only when at least MIN_EXPECTED_ROWS rows were expected of the load', () => {
    // 1.55 orders per user: users vary, so 2 users with no order (3.1 expected) is noise.
    const earlier = [3, 2, 1].map((d) => load(d, { orders: 155, accounts: 100 }));
    const small = tableTrends(load(4, { accounts: 2 }, { users: 2 }), earlier, settings);
    expect(small.find((t) => t.table === 'orders')).toMatchObject({
      rows: 0,
      trailingMedian: 3.1,
      ratio: undefined,
      quiet: false,
    });
    expect(loadSignals(load(4, { accounts: 2 }, { users: 2 }), earlier, settings)).toMatchObject({
      quietTables: [],
      lowestRatio: undefined,
    });
    // Just enough users for MIN_EXPECTED_ROWS expected rows: judged, and quiet.
    const users = Math.ceil(MIN_EXPECTED_ROWS / 1.55);
    const edge = tableTrends(load(4, { accounts: 2 }, { users }), earlier, settings);
    expect(edge.find((t) => t.table === 'orders')).toMatchObject({ rows: 0, ratio: 0, quiet: true });
    // 0 when 310 were expected is a quiet feed.
    const full = loadSignals(load(4, { accounts: 100 }, { users: 200 }), earlier, settings);
    expect(full.quietTables).toEqual(['orders']);
    expect(full.tables.find((t) => t.table === 'orders')?.trailingMedian).toBe(310);
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
      expect(found.loads.map((l) => l.rowsByTable.orders)).toEqual([1]);
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
    expect(logged.tables.find((t) => t.table === 'orders')).toMatchObject({ rows: 0, trailingMedian: 37.2 });
  });

  it('count the requests a batch sent, retried and had refused per wall-clock minute, each datapoint timestamped at its minute', () => {
    const minutes = new RequestMinutes();
    const at = (kind: 'sent' | 'retries' | 'rateLimited', iso: string) =>
      minutes.count(kind, Date.parse(iso));
    at('sent', '2026-12-01T03:00:00.000Z');
    at('rateLimited', '2026-12-01T03:00:00.000Z');
    at('retries', '2026-12-01T03:00:00.001Z');
    at('sent', '2026-12-01T03:00:59.999Z');
    at('sent', '2026-12-01T03:02:10.000Z');
    expect(minutes.sentByMinute()).toEqual({ '2026-12-01T03:00:00.000Z': 2, '2026-12-01T03:02:00.000Z': 1 });
    expect(minutes.totals()).toEqual({ sent: 3, retries: 1, rateLimited: 1 });
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
    });
    expect(batch.map((g) => g.dimensions)).toEqual([
      {},
      { [DIM.errorCode]: 'http_500' },
      { [DIM.errorCode]: 'timeout' },
    ]);
    expect(batch[0]!.points.some((p) => p.name === METRIC.deadlineHeadroomSeconds)).toBe(false);
    // Retries and 429s are per minute: a total at the batch's end would be one spike there.
    expect(batch[0]!.points.map((p) => p.name)).not.toContain(METRIC.retries);
    expect(batch[0]!.points.map((p) => p.name)).not.toContain(METRIC.rateLimited);
    expect(batch[0]!.timestamp).toBeUndefined();
    const counts = (sent: number, retries: number, rateLimited: number) => [
      { name: METRIC.requestsSent, unit: 'Count', value: sent },
      { name: METRIC.retries, unit: 'Count', value: retries },
      { name: METRIC.rateLimited, unit: 'Count', value: rateLimited },
    ];
    // At 03:02:30 only 03:00 has ended (and 03:01 had nothing); the rest once, at the end.
    expect(
      requestMetrics(minutes.takeEnded(Date.parse('2026-12-01T03:02:30.000Z'))).map((g) => [
        g.timestamp,
        g.points,
      ]),
    ).toEqual([[Date.parse('2026-12-01T03:00:00.000Z'), counts(2, 1, 1)]]);
    expect(minutes.takeEnded(Date.parse('2026-12-01T03:02:40.000Z'))).toEqual({});
    expect(requestMetrics(minutes.takeRest()).map((g) => [g.timestamp, g.points])).toEqual([
      [Date.parse('2026-12-01T03:02:00.000Z'), counts(1, 0, 0)],
    ]);
    expect(minutes.takeRest()).toEqual({});
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
      // 0.5 rows per loaded user before, times the 80 users this load loaded.
      { kind: 'quiet_feed', table: 'orders', rows: 0, trailingMedian: 40, since: reports[2]!.loadId },
    ]);
  });

  it('validates its flags, naming the flag', () => {
    expect(parseQualityFlags({})).toEqual(QUALITY_OPTION_DEFAULTS);
    expect(parseQualityFlags({ 'min-expected-rows': '0' }).minExpectedRows).toBe(0);
    expect(() => parseQualityFlags({ 'min-expected-rows': '-1' })).toThrow(/^--min-expected-rows: /);
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

describe('review of the quiet-feed rule', () => {
  const settings = QUALITY_DEFAULTS;
  /** A day's load of the daily schedule (hours apart when `hour` is given). */
  const daily = (day: number, orders: number, extra: Partial<LoadFigures> = {}) =>
    load(day, { orders, accounts: 1000 }, { schedule: 'daily', ...extra });

  it('keeps flagging a feed that stays dead, load after load', () => {
    const reports = [1, 2, 3, 4, 5, 6, 7].map((d) => daily(d, 1000));
    for (let d = 8; d <= 30; d += 1) reports.push(daily(d, 0));
    for (const current of reports.slice(7)) {
      const signals = loadSignals(current, earlierLoads(current, reports, settings), settings);
      expect(signals.quietTables, current.loadId).toEqual(['orders']);
      expect(signals.lowestRatio).toBe(0);
    }
    const last = reports.at(-1)!;
    const orders = tableTrends(last, earlierLoads(last, reports, settings), settings).find(
      (t) => t.table === 'orders',
    );
    expect(orders).toMatchObject({ trailingMedian: 1000, emptySince: reports[7]!.loadId, quiet: true });
  });

  it('keeps flagging a feed that dies again after coming back for one load (even with one row)', () => {
    for (const blip of [1000, 1]) {
      const reports = [1, 2, 3, 4, 5, 6, 7].map((d) => daily(d, 1000));
      for (let d = 8; d <= 11; d += 1) reports.push(daily(d, 0));
      reports.push(daily(12, blip));
      for (let d = 13; d <= 30; d += 1) reports.push(daily(d, 0));
      for (const current of reports.slice(12)) {
        const signals = loadSignals(current, earlierLoads(current, reports, settings), settings);
        expect(signals.quietTables, `${blip}: ${current.loadId}`).toEqual(['orders']);
      }
      const last = reports.at(-1)!;
      const orders = tableTrends(last, earlierLoads(last, reports, settings), settings).find(
        (t) => t.table === 'orders',
      );
      // Compared with the loads that were fed; the outage in progress began after the blip when
      // the blip was a fed load, and with the first empty load when one row was no feed.
      expect(orders).toMatchObject({
        trailingMedian: 1000,
        quiet: true,
        emptySince: (blip === 1000 ? reports[12] : reports[7])!.loadId,
      });
    }
  });

  it('flags a feed back at a fraction of its level after an outage, and clears once it is back in full', () => {
    const reports = [1, 2, 3, 4, 5, 6, 7].map((d) => daily(d, 1000));
    for (let d = 8; d <= 12; d += 1) reports.push(daily(d, 0));
    reports.push(daily(13, 200), daily(14, 0), daily(15, 60), daily(16, 1000));
    const judged = reports.slice(12).map((current) => {
      const t = loadSignals(current, earlierLoads(current, reports, settings), settings).tables.find(
        (x) => x.table === 'orders',
      )!;
      return [t.rows, t.trailingMedian, t.quiet, t.emptySince !== undefined];
    });
    // Against the loads before the outage (1000), not the outage's median of 0 (unjudged, so the
    // alarm went back to OK while the feed ran at 20%).
    expect(judged).toEqual([
      [200, 1000, true, true],
      [0, 1000, true, true],
      [60, 1000, true, true],
      [1000, 1000, false, false],
    ]);
  });

  it('keeps flagging a feed down to a trickle (under minExpectedRows), not only one gone to zero', () => {
    const reports = [1, 2, 3, 4, 5, 6, 7].map((d) => daily(d, 1000));
    for (let d = 8; d <= 30; d += 1) reports.push(daily(d, 2));
    for (const current of reports.slice(7)) {
      const signals = loadSignals(current, earlierLoads(current, reports, settings), settings);
      expect(signals.quietTables, current.loadId).toEqual(['orders']);
    }
    // A feed that was always that small is never judged.
    const small = [1, 2, 3, 4, 5, 6, 7, 8].map((d) => daily(d, 2));
    const last = small.at(-1)!;
    expect(loadSignals(last, earlierLoads(last, small, settings), settings).quietTables).toEqual([]);
  });

  it('never gives a ratio of 0/0 or n/0 with minExpectedRows 0 (no NaN or Infinity in a metric)', () => {
    const zero = { ...settings, minExpectedRows: 0 };
    const reports = [1, 2, 3, 4, 5, 6, 7].map((d) => daily(d, 0));
    reports.push(daily(8, 51));
    for (const current of [reports[6]!, reports[7]!]) {
      const signals = loadSignals(current, earlierLoads(current, reports, zero), zero);
      const orders = signals.tables.find((t) => t.table === 'orders');
      expect(orders?.ratio).toBeUndefined();
      expect(signals.lowestRatio === undefined || Number.isFinite(signals.lowestRatio)).toBe(true);
    }
  });

  it('keeps a dead feed flagged even when the table no longer appears in recent reports', () => {
    const reports = [1, 2, 3].map((d) => daily(d, 500));
    // A load that writes no row of a table names no such table in rowsByTable.
    for (let d = 4; d <= 20; d += 1) reports.push(load(d, { accounts: 1000 }, { schedule: 'daily' }));
    const current = reports.at(-1)!;
    expect(loadSignals(current, earlierLoads(current, reports, settings), settings).quietTables).toEqual([
      'orders',
    ]);
  });

  it('keeps flagging a dead child table, which no recent report names, load after load', () => {
    // Child tables are not resources: only the reports that wrote rows to them name them.
    const reports = [1, 2, 3].map((d) =>
      load(d, { accounts: 1000, accounts__bills: 2000 }, { schedule: 'daily', resources: ['accounts'] }),
    );
    for (let d = 4; d <= 20; d += 1)
      reports.push(load(d, { accounts: 1000 }, { schedule: 'daily', resources: ['accounts'] }));
    for (const current of reports.slice(3)) {
      const signals = loadSignals(current, earlierLoads(current, reports, settings), settings);
      expect(signals.quietTables, current.loadId).toEqual(['accounts__bills']);
      expect(signals.lowestRatio).toBe(0);
    }
    const last = reports.at(-1)!;
    const bills = tableTrends(last, earlierLoads(last, reports, settings), settings).find(
      (t) => t.table === 'accounts__bills',
    );
    expect(bills).toMatchObject({ trailingMedian: 2000, emptySince: reports[3]!.loadId, quiet: true });
  });

  it('has the commit follow a dead child table the lake registry names back past the window', async () => {
    const reports = [1, 2, 3].map((d) =>
      load(d, { accounts: 1000, accounts__bills: 2000 }, { schedule: 'daily', resources: ['accounts'] }),
    );
    for (let d = 4; d <= 20; d += 1)
      reports.push(load(d, { accounts: 1000 }, { schedule: 'daily', resources: ['accounts'] }));
    const current = reports.at(-1)!;
    const scratch = await Scratch.create('quality-child');
    try {
      const store = createLocalStore(scratch.dir);
      for (const r of reports) await store.put(`_loads/${r.loadId}.json`, JSON.stringify(r));
      const registry = SchemaRegistry.empty();
      registry.declareResource('accounts');
      registry.declareTable('accounts__bills', []);
      registry.setVersion(registry.nextVersion());
      expect(await claimSchemaVersion(store, registry)).toBe(true);
      const scan = await readEarlierLoads(store, current, settings);
      expect(scan.loads).toEqual(earlierLoads(current, reports, settings));
      expect(loadSignals(current, scan.loads, settings).quietTables).toEqual(['accounts__bills']);
    } finally {
      await scratch.dispose();
    }
  });

  it('compares a load with the latest loads by start time, whatever their load ids', async () => {
    // Seven old loads with custom ids (orders at 3,000), then loads with dlt ids at a new
    // level (1,000): a letter id sorts after every numeric one, but it started earlier.
    const at = (day: number, orders: number, loadId?: string) => {
      const startedAt = `2026-12-${String(day).padStart(2, '0')}T03:00:00.000Z`;
      return daily(day, orders, { loadId: loadId ?? loadIdFromTime(new Date(startedAt)), startedAt });
    };
    const reports = [1, 2, 3, 4, 5, 6, 7].map((d) => at(d, 3000, `backfill-${d}`));
    for (let d = 8; d <= 16; d += 1) reports.push(at(d, 1000));
    for (const current of reports.slice(8)) {
      const earlier = earlierLoads(current, reports, settings);
      const started = reports
        .filter((r) => r.startedAt < current.startedAt)
        .reverse()
        .slice(0, 7);
      expect(earlier.map((l) => l.loadId)).toEqual(started.map((l) => l.loadId));
    }
    const last = reports.at(-1)!;
    const earlier = earlierLoads(last, reports, settings);
    expect(earlier.every((l) => !l.loadId.startsWith('backfill'))).toBe(true);
    expect(loadSignals(last, earlier, settings).tables.find((t) => t.table === 'orders')).toMatchObject({
      trailingMedian: 1000,
      quiet: false,
    });
    // The commit reads the lake in the same order.
    const scratch = await Scratch.create('quality-custom-ids');
    try {
      const store = createLocalStore(scratch.dir);
      for (const r of reports) await store.put(`_loads/${r.loadId}.json`, JSON.stringify(r));
      for (const current of reports.slice(8))
        expect((await readEarlierLoads(store, current, settings)).loads).toEqual(
          earlierLoads(current, reports, settings),
        );
    } finally {
      await scratch.dispose();
    }
  });

  it('does not flag a feed that was never fed, nor a sparse one at its usual level', () => {
    const never = [1, 2, 3, 4, 5, 6, 7, 8].map((d) => daily(d, 0));
    const current = never.at(-1)!;
    expect(loadSignals(current, earlierLoads(current, never, settings), settings).quietTables).toEqual([]);
    const sparse = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((d) => daily(d, d % 3 === 0 ? 5 : 0));
    const last = sparse.at(-1)!;
    expect(loadSignals(last, earlierLoads(last, sparse, settings), settings).quietTables).toEqual([]);
  });

  it("reads a daily series' loads from behind many loads of a frequent schedule", async () => {
    const reports: LoadFigures[] = [];
    for (let d = 1; d <= 8; d += 1) {
      reports.push(daily(d, d === 8 ? 0 : 1000));
      // 60 loads of another schedule between two daily loads: more than the 50 reports the
      // commit used to read, whatever their series.
      if (d < 8)
        for (let i = 1; i <= 60; i += 1)
          reports.push(
            load(
              d,
              { orders: 10 },
              {
                schedule: 'frequent',
                usersSelection: 'changed',
                loadId: `17960000${String(d).padStart(2, '0')}.${String(i).padStart(6, '0')}`,
                startedAt: `2026-12-${String(d).padStart(2, '0')}T04:${String(i % 60).padStart(2, '0')}:00.000Z`,
              },
            ),
          );
    }
    const current = reports.at(-1)!;
    const scratch = await Scratch.create('quality-frequent');
    try {
      const store = createLocalStore(scratch.dir);
      for (const r of reports) await store.put(`_loads/${r.loadId}.json`, JSON.stringify(r));
      const scan = await readEarlierLoads(store, current, settings);
      expect(scan.loads).toHaveLength(7);
      expect(scan.loads).toEqual(earlierLoads(current, reports, settings));
      expect(loadSignals(current, scan.loads, settings).quietTables).toEqual(['orders']);
    } finally {
      await scratch.dispose();
    }
  });

  it('compares rows per loaded user: a load of fewer users is not a quiet feed', () => {
    const changed = (day: number, users: number, orders: number, failed = 0) =>
      load(
        day,
        { orders, accounts: users * 2 },
        {
          schedule: 'hourly',
          usersSelection: 'changed',
          users,
          failedUserCount: failed,
        },
      );
    const reports = [changed(1, 6, 60), changed(2, 6, 66), changed(3, 6, 54), changed(4, 2, 20)];
    const current = reports[3]!;
    const signals = loadSignals(current, earlierLoads(current, reports, settings), settings);
    expect(signals.quietTables).toEqual([]);
    expect(signals.tables.find((t) => t.table === 'orders')).toMatchObject({ trailingMedian: 20, ratio: 1 });
    // Half of a load's users failing is the failed-user share's to report, not a quiet feed.
    const halfFailed = changed(5, 6, 30, 3);
    expect(
      loadSignals(halfFailed, earlierLoads(halfFailed, [...reports, halfFailed], settings), settings)
        .quietTables,
    ).toEqual([]);
    // Fewer rows per user is still quiet.
    const quiet = changed(6, 6, 10);
    expect(
      loadSignals(quiet, earlierLoads(quiet, [...reports, quiet], settings), settings).quietTables,
    ).toEqual(['orders']);
  });

  it('puts a re-run of failed users in a series of its own', () => {
    expect(seriesOf({ schedule: 'local', usersSelection: 'failed', resources: ['orders'] })).not.toBe(
      seriesOf({ schedule: 'local', usersSelection: 'all', resources: ['orders'] }),
    );
  });

  it('compares committed loads only: a report without its _dlt_loads row is no load', async () => {
    const scratch = await Scratch.create('quality-committed');
    try {
      const store = createLocalStore(scratch.dir);
      const reports = [daily(1, 1000), daily(2, 1000), daily(3, 10), daily(4, 500)];
      for (const r of reports) await store.put(`_loads/${r.loadId}.json`, JSON.stringify(r));
      for (const r of [reports[0]!, reports[1]!, reports[3]!])
        await store.put(`_dlt_loads/${r.loadId}.parquet`, new Uint8Array([1]));
      const scan = await readEarlierLoads(store, reports[3]!, settings);
      expect(scan.loads.map((l) => l.loadId)).toEqual([reports[1]!.loadId, reports[0]!.loadId]);
      expect(loadSignals(reports[3]!, scan.loads, settings).quietTables).toEqual([]);
    } finally {
      await scratch.dispose();
    }
  });

  it('compares loads by start time whatever their ids (load --load-id first)', async () => {
    const reports = [
      daily(1, 1000, { loadId: 'first' }),
      daily(2, 1000, { loadId: 'zz-second' }),
      daily(3, 0),
    ];
    const current = reports[2]!;
    expect(earlierLoads(current, reports, settings).map((l) => l.loadId)).toEqual(['zz-second', 'first']);
    const scratch = await Scratch.create('quality-ids');
    try {
      const store = createLocalStore(scratch.dir);
      for (const r of reports) await store.put(`_loads/${r.loadId}.json`, JSON.stringify(r));
      const scan = await readEarlierLoads(store, current, settings);
      expect(scan.loads.map((l) => l.loadId)).toEqual(['zz-second', 'first']);
      expect(loadSignals(current, scan.loads, settings).quietTables).toEqual(['orders']);
    } finally {
      await scratch.dispose();
    }
  });

  it('reads at most REPORTS_SCANNED reports, in the commit as in status', () => {
    const reports: LoadFigures[] = [daily(1, 1000), daily(2, 1000), daily(3, 1000)];
    for (let i = 0; i < REPORTS_SCANNED; i += 1)
      reports.push(
        load(4, { orders: 10 }, { schedule: 'frequent', loadId: `1796000004.${String(i).padStart(6, '0')}` }),
      );
    const current = daily(5, 0);
    expect(earlierLoads(current, [...reports, current], settings)).toEqual([]);
    const newer = reports.filter((r) => r.schedule === 'daily');
    expect(earlierLoads(current, [...newer, current], settings)).toHaveLength(3);
  });
});

describe('status ratios', () => {
  it('never print a ratio on the other side of the quiet threshold than it is', () => {
    expect(sidedRound(0.499, 0.5)).toBe(0.499);
    expect(sidedRound(0.4999999, 0.5)).toBe(0.4999999);
    expect(sidedRound(0.501, 0.5)).toBe(0.5);
    expect(sidedRound(0.6789, 0.5)).toBe(0.68);
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 10, noNaN: true }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (r, t) => {
          expect(sidedRound(r, t) < t).toBe(r < t);
        },
      ),
    );
    // 499 rows against a median of 1000: quiet, and printed so.
    const reports = [load(1, { orders: 1000 }), load(2, { orders: 1000 }), load(3, { orders: 499 })];
    const report = qualityReport(reports, { ...QUALITY_OPTION_DEFAULTS, last: 1 });
    expect(report.loads[0]!.tables.find((t) => t.table === 'orders')).toMatchObject({
      ratio: 0.499,
      quiet: true,
    });
    expect(formatQuality(report).join('\n')).toMatch(/orders\s+499\s+1000\s+0\.499\s+QUIET/);
  });

  it('never print a failed share at the threshold it is above', () => {
    expect(sidedRound(5.004, 5, 'above')).toBe(5.004);
    expect(sidedRound(4.999, 5, 'above')).toBe(5);
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 99, noNaN: true }),
        (p, t) => {
          expect(sidedRound(p, t, 'above') > t).toBe(p > t);
        },
      ),
    );
    // 1,001 failed of 20,001 users is 5.005%: above 5%, and printed above it.
    const report = qualityReport([load(1, { orders: 10 }, { users: 20_001, failedUserCount: 1_001 })], {
      ...QUALITY_OPTION_DEFAULTS,
      last: 1,
    });
    expect(report.loads[0]!.failedUserSharePercent).toBeGreaterThan(5);
    expect(report.loads[0]!.flags).toContainEqual({
      kind: 'failed_user_share',
      percent: report.loads[0]!.failedUserSharePercent,
    });
    expect(formatQuality(report).join('\n')).not.toMatch(/failed users 5%/);
  });
});

describe('a resource the load did not fetch (endpoint unavailable)', () => {
  const settings = QUALITY_DEFAULTS;
  const day = (d: number, rows: Record<string, number>, extra: Partial<LoadFigures> = {}) =>
    load(d, rows, { schedule: 'daily', resources: ['accounts', 'action_history', 'orders'], ...extra });
  const normal = (d: number) =>
    day(d, { accounts: 1000, accounts__bills: 2000, action_history: 500, orders: 800, orders__items: 1600 });

  it('is not judged quiet in that load, its child tables and the resources under it neither', () => {
    const earlier = [3, 2, 1].map(normal);
    // orders disabled: its tables are empty. accounts disabled: action_history is not fetched.
    const current = day(
      4,
      { accounts: 0 },
      {
        endpointFindings: [{ resource: 'accounts', notFetched: ['action_history'] }, { resource: 'orders' }],
      },
    );
    const signals = loadSignals(current, earlier, settings);
    expect(signals.quietTables).toEqual([]);
    expect(signals.endpointUnavailable).toEqual(['accounts', 'orders']);
    expect(signals.lowestRatio).toBeUndefined();
    for (const t of signals.tables)
      expect(t, t.table).toMatchObject({ disabled: true, quiet: false, ratio: undefined });
    expect(signals.tables.map((t) => t.table)).toEqual([
      'accounts',
      'accounts__bills',
      'action_history',
      'orders',
      'orders__items',
    ]);
    // So the commit writes no ratio for them: EndpointUnavailable fires, QuietFeed cannot.
    const metrics = commitMetrics(
      commitFigures({ ...current, requests: 0, files: [], schemaChanges: [], missingBatches: [] }, signals, {
        commitSeconds: 1,
        trailingLoads: 3,
      }),
    );
    const names = metrics.flatMap((g) => g.points.map((p) => p.name));
    expect(names).not.toContain(METRIC.rowsToTrailingMedian);
    expect(names).not.toContain(METRIC.lowestRowsToTrailingMedian);
    expect(metrics[0]!.points.find((p) => p.name === METRIC.endpointUnavailable)?.value).toBe(2);
  });

  it('still flags a table that went to zero with its endpoint answering, next to a disabled one', () => {
    const earlier = [3, 2, 1].map(normal);
    const current = day(
      4,
      { accounts: 1000, accounts__bills: 2000, action_history: 500 },
      { endpointFindings: [{ resource: 'action_history' }] },
    );
    // orders answered, empty: quiet. action_history was disabled: not.
    expect(loadSignals(current, earlier, settings).quietTables).toEqual(['orders', 'orders__items']);
  });

  it('shows the table as disabled in status, not QUIET', () => {
    const reports = [1, 2, 3].map(normal);
    reports.push(
      day(
        4,
        { accounts: 1000, accounts__bills: 2000, action_history: 500 },
        { endpointFindings: [{ resource: 'orders' }] },
      ),
    );
    const report = qualityReport(reports, { ...QUALITY_OPTION_DEFAULTS, last: 1 });
    const [latest] = report.loads;
    expect(latest!.flags).toEqual([{ kind: 'endpoint_unavailable', resource: 'orders' }]);
    expect(latest!.tables.find((t) => t.table === 'orders')).toMatchObject({ disabled: true, quiet: false });
    const text = formatQuality(report).join('\n');
    const row = text.split('\n').find((line) => line.startsWith('orders '))!;
    expect(row).toContain('disabled (endpoint unavailable)');
    expect(text).not.toContain('QUIET');
  });
});

describe('the order of loads: as they committed', () => {
  const settings = QUALITY_DEFAULTS;
  const at = (id: string, startedAt: string, committedAt: string, orders: number): LoadFigures =>
    load(1, { orders, accounts: 1000 }, { loadId: id, startedAt, committedAt, schedule: 'daily' });
  // Two overlapping loads: A started first and committed last (a re-run, a slow run); B
  // started while A ran and committed before it.
  const reports = [
    at('1796000001.000000', '2026-12-01T03:00:00.000Z', '2026-12-01T03:20:00.000Z', 1000),
    at('1796000002.000000', '2026-12-02T03:00:00.000Z', '2026-12-02T03:20:00.000Z', 1000),
    at('1796000003.000000', '2026-12-03T03:00:00.000Z', '2026-12-03T05:00:00.000Z', 1000),
    at('1796000003.500000', '2026-12-03T03:30:00.000Z', '2026-12-03T03:50:00.000Z', 0),
  ];
  const [, , a, b] = reports;

  it('compares a load with the loads committed before it, and lists the last loads in commit order', () => {
    // B's commit could not see A (not committed yet): B is compared with the two before.
    expect(earlierLoads(b!, reports, settings).map((l) => l.loadId)).toEqual([
      reports[1]!.loadId,
      reports[0]!.loadId,
    ]);
    // A's commit saw B: the newest commit first.
    expect(earlierLoads(a!, reports, settings).map((l) => l.loadId)).toEqual([
      b!.loadId,
      reports[1]!.loadId,
      reports[0]!.loadId,
    ]);
    const report = qualityReport(reports, { ...QUALITY_OPTION_DEFAULTS, last: 2 });
    expect(report.loads.map((l) => [l.loadId, l.trailingLoads])).toEqual([
      [b!.loadId, 2],
      [a!.loadId, 3],
    ]);
    expect(report.loads[0]!.flags).toEqual([
      { kind: 'quiet_feed', table: 'orders', rows: 0, trailingMedian: 1000, since: b!.loadId },
    ]);
  });

  it('is what the commit reads from the lake', async () => {
    const scratch = await Scratch.create('quality-commit-order');
    try {
      const store = createLocalStore(scratch.dir);
      // At A's commit every other load is committed and in the lake.
      for (const r of reports) await store.put(`_loads/${r.loadId}.json`, JSON.stringify(r));
      expect((await readEarlierLoads(store, a!, settings)).loads).toEqual(
        earlierLoads(a!, reports, settings),
      );
    } finally {
      await scratch.dispose();
    }
  });
});

describe('how far back the commit reads', () => {
  const settings = QUALITY_DEFAULTS;
  const counting = (dir: string) => countingGets(createLocalStore(dir), '_loads/');

  it('reads what the judgement needs when a table of the load never had a row, not every report', async () => {
    // 200 daily loads; `suggestions` is one of their resources and never had a row.
    const reports: LoadFigures[] = [];
    for (let i = 0; i < 200; i += 1) {
      const startedAt = new Date(Date.UTC(2026, 0, 1) + i * 86_400_000).toISOString();
      reports.push(
        load(
          1,
          { orders: 100, accounts: 100 },
          {
            loadId: loadIdFromTime(new Date(startedAt)),
            startedAt,
            committedAt: startedAt.replace('T00:00', 'T00:20'),
            schedule: 'daily',
            resources: ['accounts', 'orders', 'suggestions'],
          },
        ),
      );
    }
    const current = reports.at(-1)!;
    const scratch = await Scratch.create('quality-never-fed');
    try {
      const { store, reads } = counting(scratch.dir);
      for (const r of reports) {
        await store.put(`_loads/${r.loadId}.json`, JSON.stringify(r));
        await store.put(`_dlt_loads/${r.loadId}.parquet`, new Uint8Array([1]));
      }
      const scan = await readEarlierLoads(store, current, settings);
      // The window, and as far back as a dead feed is followed (DEAD_FEED_LOADS), in chunks of 16.
      expect(scan.reportsRead).toBe(DEAD_FEED_LOADS + 1);
      expect(reads()).toBeLessThanOrEqual(DEAD_FEED_LOADS + 1 + 16);
      expect(reads()).toBeLessThan(reports.length - 1);
      expect(loadSignals(current, scan.loads, settings).quietTables).toEqual([]);
      // status, from every report, judges over the same loads.
      expect(scan.loads).toEqual(earlierLoads(current, reports, settings));
    } finally {
      await scratch.dispose();
    }
  });

  it('without recorded quiet feeds (reports written before commits recorded them), keeps a dead feed flagged for DEAD_FEED_LOADS loads, then no longer judges it', () => {
    const reports: LoadFigures[] = [];
    const days = 7 + DEAD_FEED_LOADS + 2;
    for (let i = 0; i < days; i += 1) {
      const startedAt = new Date(Date.UTC(2026, 0, 1) + i * 86_400_000).toISOString();
      reports.push(
        load(
          1,
          { orders: i < 7 ? 1000 : 0, accounts: 1000 },
          {
            loadId: loadIdFromTime(new Date(startedAt)),
            startedAt,
            committedAt: startedAt.replace('T00:00', 'T00:20'),
            schedule: 'daily',
          },
        ),
      );
    }
    const quiet = (i: number) =>
      loadSignals(reports[i]!, earlierLoads(reports[i]!, reports, settings), settings).quietTables;
    // Empty from load 7: the load with DEAD_FEED_LOADS empty loads before it is still flagged.
    expect(quiet(7 + DEAD_FEED_LOADS)).toEqual(['orders']);
    expect(quiet(7 + DEAD_FEED_LOADS + 1)).toEqual([]);
  });
});

describe('earlier loads that did not fetch a table', () => {
  const settings = QUALITY_DEFAULTS;
  const day = (d: number, orders: number, extra: Partial<LoadFigures> = {}) =>
    load(d, { accounts: 1000, orders }, { schedule: 'daily', ...extra });
  const disabled = { endpointFindings: [{ resource: 'orders' }] };

  it('are no datapoint of its median: a feed low after its endpoint came back is still quiet', () => {
    // Three fed loads, four with orders disabled (0 rows), then orders answering at 40%.
    const reports = [1, 2, 3].map((d) => day(d, 1000));
    for (let d = 4; d <= 7; d += 1) reports.push(day(d, 0, disabled));
    reports.push(day(8, 400));
    const current = reports.at(-1)!;
    const signals = loadSignals(current, earlierLoads(current, reports, settings), settings);
    // Counted as 0s, the disabled loads made the median 0 and the table went unjudged.
    expect(signals.tables.find((t) => t.table === 'orders')).toMatchObject({
      trailingMedian: 1000,
      trailingLoads: 3,
      ratio: 0.4,
      quiet: true,
    });
    expect(signals.quietTables).toEqual(['orders']);
  });

  it('are passed over when a dead feed is followed back to the loads before its empty run', () => {
    const reports = [1, 2, 3, 4].map((d) => day(d, 1000));
    reports.push(day(5, 0, disabled), day(6, 0, disabled));
    for (let d = 7; d <= 12; d += 1) reports.push(day(d, 0));
    const current = reports.at(-1)!;
    const trend = loadSignals(current, earlierLoads(current, reports, settings), settings).tables.find(
      (t) => t.table === 'orders',
    );
    // Its empty run began with the first load that fetched it and found nothing.
    expect(trend).toMatchObject({ quiet: true, trailingMedian: 1000, emptySince: reports[6]!.loadId });
  });
});

describe('earlier loads whose report cannot be read', () => {
  const settings = QUALITY_DEFAULTS;
  // Daily loads with dlt ids (their start time), orders at 1,000 per load.
  const at = (day: number, orders: number) => {
    const startedAt = `2026-12-${String(day).padStart(2, '0')}T03:00:00.000Z`;
    return load(
      day,
      { orders },
      { loadId: loadIdFromTime(new Date(startedAt)), startedAt, schedule: 'daily', resources: ['orders'] },
    );
  };
  /** A lake of committed loads 1..n (a `_dlt_loads` row each), reports as given. */
  async function lakeOf(dir: string, reports: readonly LoadFigures[]) {
    const store = createLocalStore(dir);
    for (const r of reports) {
      await store.put(`_loads/${r.loadId}.json`, JSON.stringify(r));
      await store.put(`_dlt_loads/${r.loadId}.parquet`, new Uint8Array([1]));
    }
    return store;
  }

  it('are named by the commit, which judges with the readable ones', async () => {
    const reports = [1, 2, 3, 4, 5].map((d) => at(d, 1000));
    const current = at(6, 100);
    const scratch = await Scratch.create('quality-unreadable');
    try {
      const store = await lakeOf(scratch.dir, [...reports, current]);
      await store.put(`_loads/${reports[3]!.loadId}.json`, '{"loadId": "damaged');
      await store.put(`_loads/${reports[1]!.loadId}.json`, '{"note": "not a report"}');
      const scan = await readEarlierLoads(store, current, settings);
      expect(scan.loads.map((l) => l.loadId)).toEqual(
        [reports[4]!, reports[2]!, reports[0]!].map((r) => r.loadId),
      );
      expect(scan.unreadable.map((u) => u.loadId)).toEqual([reports[3]!.loadId, reports[1]!.loadId]);
      expect(scan.unreadable[0]!.reason).toMatch(/not valid JSON/);
      expect(scan.unreadable[1]!.reason).toBe('not a load report');
      // Still judged: three readable loads are enough.
      expect(loadSignals(current, scan.loads, settings).quietTables).toEqual(['orders']);
    } finally {
      await scratch.dispose();
    }
  });

  it('count only when the scan passed them: one older than the loads compared with is not needed', async () => {
    const reports = Array.from({ length: 12 }, (_, i) => at(i + 1, 1000));
    const current = reports.at(-1)!;
    const scratch = await Scratch.create('quality-unreadable-old');
    try {
      const store = await lakeOf(scratch.dir, reports);
      await store.put(`_loads/${reports[0]!.loadId}.json`, '{');
      const scan = await readEarlierLoads(store, current, settings);
      expect(scan.loads).toHaveLength(settings.trailingLoads);
      expect(scan.unreadable).toEqual([]);
    } finally {
      await scratch.dispose();
    }
  });

  it("make the commit's TrailingLoadsUnreadable 1 with a WARN naming them (damaged JSON, an S3 error)", async () => {
    const { trailingLoadsOf } = await import('#handlers/commit.ts');
    const reports = [1, 2, 3, 4].map((d) => at(d, 1000));
    const current = at(5, 100);
    const scratch = await Scratch.create('quality-unreadable-commit');
    try {
      const local = await lakeOf(scratch.dir, [...reports, current]);
      await local.put(`_loads/${reports[1]!.loadId}.json`, 'not json');
      const denied = `_loads/${reports[2]!.loadId}.json`;
      // An S3 GET that still fails after the client's retries.
      const store = Object.assign(Object.create(local) as typeof local, {
        get: async (key: string) => {
          if (key === denied) throw new Error('AccessDenied: s3:GetObject');
          return local.get(key);
        },
      });
      const warnings: [string, unknown][] = [];
      const log = {
        warn: (message: string, extra: unknown) => void warnings.push([message, extra]),
      } as never;
      const read = await trailingLoadsOf(store, current, settings, log);
      expect(read.unreadable).toBe(true);
      expect(read.loads.map((l) => l.loadId)).toEqual([reports[3]!.loadId, reports[0]!.loadId]);
      expect(warnings).toEqual([
        [
          'trailing_loads_unreadable',
          {
            unreadableReports: 2,
            reports: [
              { loadId: reports[2]!.loadId, reason: 'AccessDenied: s3:GetObject' },
              { loadId: reports[1]!.loadId, reason: expect.stringMatching(/not valid JSON/) },
            ],
          },
        ],
      ]);
      const signals = loadSignals(current, read.loads, settings);
      expect(signals.quietTables).toEqual(['orders']);
      const marker = { ...current, requests: 10, files: [], schemaChanges: [], missingBatches: [] };
      const figures = commitFigures(marker, signals, {
        commitSeconds: 1,
        trailingLoads: 2,
        trailingLoadsUnreadable: read.unreadable,
      });
      const points = commitMetrics(figures)[0]!.points;
      expect(points.find((p) => p.name === METRIC.trailingLoadsUnreadable)?.value).toBe(1);
      // All readable: 0, no WARN.
      const fine = await trailingLoadsOf(local, reports[1]!, settings, log);
      expect(fine.unreadable).toBe(false);
      expect(warnings).toHaveLength(1);
    } finally {
      await scratch.dispose();
    }
  });
});

describe('the failed-user share of a load of few users', () => {
  const two = load(1, { orders: 40 }, { users: 2, failedUserCount: 1 });
  const many = load(2, { orders: 40 }, { users: 40, failedUserCount: 20 });

  it('is not judged below minUsersForFailedShare: no flag in status, no datapoint for the alarm', () => {
    const small = loadSignals(two, [], QUALITY_DEFAULTS);
    expect(small).toMatchObject({
      failedUserSharePercent: 50,
      failedUserShareHigh: false,
      failedUserShareJudged: false,
    });
    const figures = commitFigures(
      { ...two, files: [], requests: 0, schemaChanges: [], missingBatches: [] } as never,
      small,
      {
        commitSeconds: 1,
        trailingLoads: 0,
      },
    );
    const points = commitMetrics(figures).flatMap((g) => g.points);
    expect(points.find((p) => p.name === METRIC.failedUserShare)).toBeUndefined();
    // The counts themselves are still written (the dashboard's failed users by code).
    expect(points.find((p) => p.name === METRIC.loadFailedUsers)?.value).toBe(1);
    expect(qualityReport([two], { ...QUALITY_OPTION_DEFAULTS, last: 1 }).loads[0]!.flags).toEqual([]);
  });

  it('is judged from minUsersForFailedShare users, in status and the metric alike', () => {
    const judged = loadSignals(many, [], QUALITY_DEFAULTS);
    expect(judged).toMatchObject({ failedUserShareHigh: true, failedUserShareJudged: true });
    const figures = commitFigures(
      { ...many, files: [], requests: 0, schemaChanges: [], missingBatches: [] } as never,
      judged,
      {
        commitSeconds: 1,
        trailingLoads: 0,
      },
    );
    expect(commitMetrics(figures)[0]!.points.find((p) => p.name === METRIC.failedUserShare)?.value).toBe(50);
    expect(qualityReport([many], { ...QUALITY_OPTION_DEFAULTS, last: 1 }).loads[0]!.flags).toEqual([
      { kind: 'failed_user_share', percent: 50 },
    ]);
    // Lowered to 2 (cdk.json dataQuality.minUsersForFailedShare): the 2-user load is judged too.
    const settings = { ...QUALITY_OPTION_DEFAULTS, minUsersForFailedShare: 2, last: 1 };
    expect(loadSignals(two, [], settings).failedUserShareHigh).toBe(true);
    expect(qualityReport([two], settings).loads[0]!.flags).toEqual([
      { kind: 'failed_user_share', percent: 50 },
    ]);
  });
});

describe('an outage that starts after few fed loads', () => {
  const settings = QUALITY_DEFAULTS;
  /**
   * Commits `rows` (orders per load) in order, each report recording its judgement as the commit
   * does (`qualityRecord`), and returns each load's orders trend.
   */
  function commitChain(rows: readonly number[]) {
    const reports: LoadFigures[] = [];
    const trends = rows.map((orders, i) => {
      const current = load(i + 1, { orders, accounts: 1000 }, { schedule: 'daily' });
      const tables = tableTrends(current, earlierLoads(current, reports, settings), settings);
      reports.push({ ...current, ...qualityRecord(tables) });
      return tables.find((t) => t.table === 'orders')!;
    });
    return { reports, trends };
  }

  it('names the first empty load and judges by the fed load, not a median half of it', () => {
    // Load 1 fed (47 orders), loads 2 to 4 empty: the simulator's `--empty orders` after one load.
    const { reports, trends } = commitChain([47, 0, 0, 0]);
    const firstEmpty = reports[1]!.loadId;
    for (const t of trends.slice(2)) {
      expect(t).toMatchObject({
        quiet: true,
        trailingMedian: 47,
        emptySince: firstEmpty,
        quietSince: firstEmpty,
      });
      expect(t.ratio).toBe(0);
    }
    expect(reports[3]!.quietFeeds).toMatchObject([
      { table: 'orders', since: firstEmpty, trailingMedian: 47 },
    ]);
  });

  it('property: an empty run is judged against the fed level, since its first empty load', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: MIN_EXPECTED_ROWS, max: 5000 }),
        (fedLoads, emptyLoads, level) => {
          const { reports, trends } = commitChain([
            ...Array.from({ length: fedLoads }, () => level),
            ...Array.from({ length: emptyLoads }, () => 0),
          ]);
          const firstEmpty = reports[fedLoads]!.loadId;
          for (const [i, t] of trends.slice(fedLoads).entries()) {
            // Judged once the series has minTrailingLoads earlier loads, then on every empty load.
            if (fedLoads + i < settings.minTrailingLoads) {
              expect(t.ratio).toBeUndefined();
              continue;
            }
            // The median never includes the empty loads it is judging: it is the fed level.
            expect(t.trailingMedian).toBeCloseTo(level, 6);
            expect(t).toMatchObject({ quiet: true, ratio: 0, quietSince: firstEmpty });
            // "empty since": the first empty load (a run of this load alone may say nothing more).
            if (i > 0) expect(t.emptySince).toBe(firstEmpty);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
