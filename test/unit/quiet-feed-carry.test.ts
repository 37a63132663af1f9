/**
 * A dead feed stays flagged until it recovers, however long it stays dead, with bounded reads:
 * each load's report records its quiet feeds (the median it judged by, and since which load), and
 * the next load of the series carries the flag forward while the table stays low. Reports built
 * by hand (test/helpers/daily-report.ts), each judged as the commit judges it, oldest first.
 */
import { describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { formatQuality, QUALITY_OPTION_DEFAULTS, qualityReport } from '#cli/quality-report.ts';
import { commitFigures, commitMetrics, METRIC } from '#core/load-metrics.ts';
import {
  DEAD_FEED_LOADS,
  earlierLoads,
  type LoadFigures,
  loadSignals,
  QUALITY_DEFAULTS,
  qualityRecord,
  quietFeedRecords,
  readEarlierLoads,
} from '#core/quality.ts';
import { countingGets } from '#test/helpers/counting-store.ts';
import { dailyReport, putCommitted } from '#test/helpers/daily-report.ts';
import { Scratch } from '#test/helpers/lake-harness.ts';

const settings = QUALITY_DEFAULTS;
type Report = ReturnType<typeof dailyReport> & Pick<LoadFigures, 'quietFeeds' | 'judgedFeeds'>;

/**
 * Day `day`'s report with the orders given; a table with no rows is absent from `rowsByTable`,
 * as a commit writes it (a report lists the tables it wrote rows to).
 */
function report(day: number, orders: number): Report {
  const r = dailyReport(day, orders);
  if (orders > 0) return r;
  const { orders: _none, ...rows } = r.rowsByTable;
  return { ...r, rowsByTable: rows as typeof r.rowsByTable };
}

/** Judges each report over the ones before it and records its quiet feeds, as each commit does. */
function commitInOrder(reports: readonly Report[]): Report[] {
  const recorded: Report[] = [];
  for (const r of reports) {
    const signals = loadSignals(r, earlierLoads(r, recorded, settings), settings);
    recorded.push({ ...r, quietFeeds: quietFeedRecords(signals.tables) });
  }
  return recorded;
}

const signalsOf = (all: readonly Report[], i: number) =>
  loadSignals(all[i]!, earlierLoads(all[i]!, all.slice(0, i), settings), settings);

describe('a dead feed', () => {
  // 7 fed loads, then orders empty for DEAD_FEED_LOADS + 20 loads, at 30% for one, then back.
  const fed = 7;
  const dead = DEAD_FEED_LOADS + 20;
  const days = [
    ...Array.from({ length: fed }, (_, i) => report(i + 1, 100)),
    ...Array.from({ length: dead }, (_, i) => report(fed + i + 1, 0)),
    report(fed + dead + 1, 30),
    report(fed + dead + 2, 100),
  ];
  const all = commitInOrder(days);
  const firstEmpty = all[fed]!.loadId;

  it('stays flagged past DEAD_FEED_LOADS empty loads, since the load it went empty', () => {
    for (let i = fed; i < fed + dead; i += 1) {
      const orders = signalsOf(all, i).tables.find((t) => t.table === 'orders');
      expect({ i, quiet: orders?.quiet, since: orders?.quietSince, median: orders?.trailingMedian }).toEqual({
        i,
        quiet: true,
        since: firstEmpty,
        median: 100,
      });
      expect(all[i]!.quietFeeds).toEqual([
        {
          table: 'orders',
          rows: 0,
          trailingMedian: 100,
          trailingLoads: expect.any(Number),
          since: firstEmpty,
        },
      ]);
    }
    // Past what the scan follows, the flag is the one the load before recorded, carried forward.
    const late = signalsOf(all, fed + dead - 1).tables.find((t) => t.table === 'orders')!;
    expect(late.carriedFrom).toBe(all[fed + dead - 2]!.loadId);
    expect(late.emptySince).toBe(firstEmpty);
  });

  it('keeps the quiet-feed alarm in ALARM: its metric stays 0 while the feed is dead', () => {
    const i = fed + DEAD_FEED_LOADS + 10;
    const figures = commitFigures({ ...all[i]!, files: [] }, signalsOf(all, i), {
      commitSeconds: 1,
      trailingLoads: settings.trailingLoads,
    });
    expect(figures.quietTables).toEqual(['orders']);
    const points = commitMetrics(figures).flatMap((g) => g.points);
    expect(points.find((p) => p.name === METRIC.lowestRowsToTrailingMedian)?.value).toBe(0);
  });

  it('is still quiet when back at a fraction of its level, and no longer once it recovers', () => {
    const partial = signalsOf(all, fed + dead);
    expect(partial.quietTables).toEqual(['orders']);
    expect(partial.lowestRatio).toBeCloseTo(0.3);
    expect(signalsOf(all, fed + dead + 1).quietTables).toEqual([]);
    expect(all[fed + dead + 1]!.quietFeeds).toEqual([]);
  });

  it('is judged by the commit from a bounded read of the reports', async () => {
    const scratch = await Scratch.create('quiet-feed-carry');
    try {
      const store = createLocalStore(scratch.dir);
      const i = fed + dead - 1;
      await putCommitted(store, all.slice(0, i + 1));
      const { store: counted, reads } = countingGets(store, '_loads/');
      const scan = await readEarlierLoads(counted, all[i]!, settings);
      expect(loadSignals(all[i]!, scan.loads, settings).quietTables).toEqual(['orders']);
      // The window and as far back as a dead feed is followed, in chunks of 16: not every report.
      expect(reads()).toBeLessThanOrEqual(DEAD_FEED_LOADS + settings.trailingLoads + 16);
      expect(reads()).toBeLessThan(i);
    } finally {
      await scratch.dispose();
    }
  });

  it('is not carried from a report whose record is damaged: judged as before records', () => {
    const i = fed + DEAD_FEED_LOADS + 5;
    const damaged = all.map((r, j) =>
      j === i - 1 ? { ...r, quietFeeds: [{ table: 'orders', trailingMedian: 'x' }] as never } : r,
    );
    expect(signalsOf(damaged, i).quietTables).toEqual([]);
  });
});

/**
 * As each commit records its judgement now: its quiet feeds and the tables it judged. `noRecord`:
 * the load whose commit recorded nothing (its judgement failed: `commit.ts` records nothing then).
 */
function commitRecording(reports: readonly Report[], noRecord?: number): Report[] {
  const recorded: Report[] = [];
  for (const [i, r] of reports.entries()) {
    const signals = loadSignals(r, earlierLoads(r, recorded, settings), settings);
    recorded.push(i === noRecord ? r : { ...r, ...qualityRecord(signals.tables) });
  }
  return recorded;
}

describe('a dead feed past DEAD_FEED_LOADS and a load that did not judge it', () => {
  const fed = 7;
  const dead = DEAD_FEED_LOADS + 20;
  // Past what the scan follows back to the fed loads: only the carried flag keeps it quiet.
  const gap = fed + DEAD_FEED_LOADS + 5;
  const withFailed = (i: number, r: Report): Report =>
    // 85 of 100 users failed: 15 loaded users are expected 15 orders, too few to judge.
    i === gap ? { ...r, failedUserCount: 85 } : r;
  const build = (tail: readonly Report[] = []) => [
    ...Array.from({ length: fed }, (_, i) => report(i + 1, 100)),
    ...Array.from({ length: dead }, (_, i) => withFailed(fed + i, report(fed + i + 1, 0))),
    ...tail,
  ];
  const quietAt = (all: readonly Report[], i: number) => signalsOf(all, i).quietTables;

  it('a load whose table was not judged (most users failed) neither clears nor breaks the flag', () => {
    const all = commitRecording(build());
    expect(quietAt(all, gap - 1)).toEqual(['orders']);
    // Not judged: too few rows expected of 15 loaded users; its report says so.
    expect(signalsOf(all, gap).tables.find((t) => t.table === 'orders')?.ratio).toBeUndefined();
    expect(all[gap]!.judgedFeeds).not.toContain('orders');
    for (const i of [gap + 1, gap + 2, gap + 10, fed + dead - 1]) {
      const orders = signalsOf(all, i).tables.find((t) => t.table === 'orders')!;
      expect({ i, quiet: orders.quiet, since: orders.quietSince }).toEqual({
        i,
        quiet: true,
        since: all[fed]!.loadId,
      });
    }
    // Carried from the newest load that judged it: the one before the failed load.
    expect(signalsOf(all, gap + 1).tables.find((t) => t.table === 'orders')?.carriedFrom).toBe(
      all[gap - 1]!.loadId,
    );
  });

  it('a commit that recorded no judgement (it failed) neither clears nor breaks the flag', () => {
    const days = build().map((r, i) => (i === gap ? { ...r, failedUserCount: 0 } : r));
    const all = commitRecording(days, gap);
    expect(all[gap]!.quietFeeds).toBeUndefined();
    for (const i of [gap + 1, gap + 2, gap + 10, fed + dead - 1])
      expect({ i, quiet: quietAt(all, i) }).toEqual({ i, quiet: ['orders'] });
  });

  it('still clears once a load judges the table not quiet (recovery)', () => {
    const all = commitRecording(build([report(fed + dead + 1, 100)]));
    expect(quietAt(all, fed + dead - 1)).toEqual(['orders']);
    expect(quietAt(all, fed + dead)).toEqual([]);
    expect(all[fed + dead]!.judgedFeeds).toContain('orders');
    expect(all[fed + dead]!.quietFeeds).toEqual([]);
  });
});

describe('a table quiet while its feed is down', () => {
  it("is shown and judged against the median of the loads that had rows, not one the outage's own empty loads pulled down", () => {
    // Three loads at 58, then empty: on the fourth empty load the window holds 3 fed and 3 empty
    // loads, whose median is 29.
    const days = [...[1, 2, 3].map((d) => report(d, 58)), ...[4, 5, 6, 7].map((d) => report(d, 0))];
    const all = commitRecording(days);
    for (const i of [3, 4, 5, 6]) {
      const orders = signalsOf(all, i).tables.find((t) => t.table === 'orders')!;
      expect({
        i,
        median: Math.round(orders.trailingMedian!),
        quiet: orders.quiet,
        since: orders.quietSince,
      }).toEqual({
        i,
        median: 58,
        quiet: true,
        since: all[3]!.loadId,
      });
    }
    // A partial return (20 of 58) is quiet against the level, not 0.69 of a median halved by the outage.
    const partial = commitRecording([...days.slice(0, 6), report(7, 20)]);
    const back = signalsOf(partial, 6).tables.find((t) => t.table === 'orders')!;
    expect({ median: Math.round(back.trailingMedian!), quiet: back.quiet }).toEqual({
      median: 58,
      quiet: true,
    });
  });

  it('says "since this load" in status for the first load of a quiet run', () => {
    const all = commitRecording([...[1, 2, 3].map((d) => report(d, 58)), report(4, 0)]);
    const q = qualityReport(all, { ...QUALITY_OPTION_DEFAULTS, last: 1 });
    expect(q.loads[0]!.tables.find((t) => t.table === 'orders')).toMatchObject({
      quiet: true,
      since: all[3]!.loadId,
    });
    const row = formatQuality(q)
      .join('\n')
      .split('\n')
      .find((l) => l.startsWith('orders '));
    expect(row).toMatch(/QUIET since this load$/);
  });

  it('says since which load in status (text and json)', () => {
    const all = commitRecording([...[1, 2, 3].map((d) => report(d, 58)), report(4, 0), report(5, 0)]);
    const q = qualityReport(all, { ...QUALITY_OPTION_DEFAULTS, last: 1 });
    expect(q.loads[0]!.tables.find((t) => t.table === 'orders')).toMatchObject({
      quiet: true,
      since: all[3]!.loadId,
    });
    expect(q.loads[0]!.flags).toContainEqual(
      expect.objectContaining({ kind: 'quiet_feed', since: all[3]!.loadId }),
    );
    // Empty since the first load of its quiet run: one "since", the run's first load.
    expect(formatQuality(q).join('\n')).toContain(`QUIET, empty since ${all[3]!.loadId}`);
    expect(formatQuality(q).join('\n')).toContain(`empty since load ${all[3]!.loadId})`);
  });
});
