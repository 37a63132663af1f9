/**
 * A feed down to a trickle that is still judged (at or above `minExpectedRows`) stays flagged
 * while it stays down: the loads whose own report flagged the table quiet are no part of its
 * baseline, so the trickle does not become its own median after about half the window. A load
 * back at or above the fraction clears the flag; a level kept for DEAD_FEED_LOADS flagged loads
 * in a row is taken as the new normal (a real step down), recorded in the report. Reports built
 * by hand (test/helpers/daily-report.ts), each judged and recorded as the commit does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { formatQuality, QUALITY_OPTION_DEFAULTS, qualityReport } from '#cli/quality-report.ts';
import {
  DEAD_FEED_LOADS,
  earlierLoads,
  type LoadFigures,
  loadSignals,
  QUALITY_DEFAULTS,
  qualityRecord,
  readEarlierLoads,
} from '#core/quality.ts';
import { countingGets } from '#test/helpers/counting-store.ts';
import { dailyReport, putCommitted } from '#test/helpers/daily-report.ts';
import { Scratch } from '#test/helpers/lake-harness.ts';

const settings = QUALITY_DEFAULTS;
type Report = ReturnType<typeof dailyReport> &
  Pick<LoadFigures, 'quietFeeds' | 'judgedFeeds' | 'newLevelFeeds'>;

/** Load `i` (a day each, from 1 November 2026) with the orders given; none: absent, as a commit writes it. */
function report(i: number, orders: number): Report {
  const r = dailyReport(i + 1, orders);
  if (orders > 0) return r;
  const { orders: _none, ...rows } = r.rowsByTable;
  return { ...r, rowsByTable: rows as typeof r.rowsByTable };
}

/** Judges each load over the loads before it and records the judgement in its report, as each commit does. */
function commitInOrder(orders: readonly number[]): Report[] {
  const recorded: Report[] = [];
  for (const [i, rows] of orders.entries()) {
    const r = report(i, rows);
    const signals = loadSignals(r, earlierLoads(r, recorded, settings), settings);
    recorded.push({ ...r, ...qualityRecord(signals.tables) });
  }
  return recorded;
}

const orders = (all: readonly Report[], i: number) => {
  const r = all[i]!;
  const t = loadSignals(r, earlierLoads(r, all.slice(0, i), settings), settings).tables;
  return t.find((x) => x.table === 'orders')!;
};

const quietAt = (all: readonly Report[]) =>
  all.map((r) => (r.quietFeeds ?? []).some((q) => q.table === 'orders'));

describe('a feed down to a trickle above minExpectedRows', () => {
  // 500 orders a load, then 40 (of 100 users: 40 >= 20 expected rows, so still judged).
  const fed = 7;
  const trickle = 20;
  const all = commitInOrder([...Array(fed).fill(500), ...Array(trickle).fill(40)]);
  const first = all[fed]!.loadId;

  it('stays flagged on every trickle load, against its level before the drop, since the first', () => {
    for (let i = fed; i < fed + trickle; i += 1) {
      const t = orders(all, i);
      expect({ i, quiet: t.quiet, median: t.trailingMedian, since: t.quietSince }).toEqual({
        i,
        quiet: true,
        median: 500,
        since: first,
      });
    }
    expect(quietAt(all)).toEqual([...Array(fed).fill(false), ...Array(trickle).fill(true)]);
  });

  it('clears on a load back at its level; one such load does not make the trickle normal again', () => {
    const back = commitInOrder([...Array(fed).fill(500), ...Array(trickle).fill(40), 260, 40, 40]);
    const i = fed + trickle;
    // 260 of 500 is above the fraction (0.5): recovered.
    expect(orders(back, i)).toMatchObject({ quiet: false, trailingMedian: 500 });
    expect(back[i]!.judgedFeeds).toEqual(['accounts', 'orders']);
    expect(back[i]!.quietFeeds).toEqual([]);
    // Down again: flagged at once, a new quiet run.
    expect(orders(back, i + 1)).toMatchObject({ quiet: true, quietSince: back[i + 1]!.loadId });
    expect(orders(back, i + 2)).toMatchObject({ quiet: true, quietSince: back[i + 1]!.loadId });
  });

  it('is judged the same by the commit reading the reports from a lake', async () => {
    const scratch = await Scratch.create('quiet-feed-trickle');
    try {
      const store = createLocalStore(scratch.dir);
      const i = fed + trickle - 1;
      await putCommitted(store, all.slice(0, i + 1));
      const scan = await readEarlierLoads(store, all[i]!, settings);
      expect(loadSignals(all[i]!, scan.loads, settings).quietTables).toEqual(['orders']);
    } finally {
      await scratch.dispose();
    }
  });
});

describe('a real step down (the business shrank)', () => {
  const fed = 7;
  const down = DEAD_FEED_LOADS + 10;
  const all = commitInOrder([...Array(fed).fill(500), ...Array(down).fill(40), 40, 500]);

  it('is flagged for DEAD_FEED_LOADS loads, then accepted as the new normal and stays accepted', () => {
    expect(quietAt(all)).toEqual([
      ...Array(fed).fill(false),
      ...Array(DEAD_FEED_LOADS).fill(true),
      ...Array(down - DEAD_FEED_LOADS + 2).fill(false),
    ]);
    // The load that accepted it says so in its report; the ones after it need not.
    const accepting = fed + DEAD_FEED_LOADS;
    expect(orders(all, accepting)).toMatchObject({ quiet: false, newLevel: true, trailingMedian: 40 });
    expect(all[accepting]!.newLevelFeeds).toEqual(['orders']);
    expect(all[accepting + 1]!.newLevelFeeds).toBeUndefined();
    expect(orders(all, accepting + 1)).toMatchObject({ quiet: false, trailingMedian: 40 });
    // Back up at the old level: not quiet (it is above its median).
    expect(orders(all, all.length - 1).quiet).toBe(false);
  });

  it('status shows the load that accepted the new level', () => {
    const accepting = fed + DEAD_FEED_LOADS;
    const report = qualityReport(all.slice(0, accepting + 1), { ...QUALITY_OPTION_DEFAULTS, last: 1 });
    expect(report.loads[0]!.tables.find((t) => t.table === 'orders')).toMatchObject({
      quiet: false,
      newLevel: true,
    });
    expect(report.loads[0]!.flags).toEqual([]);
    expect(formatQuality(report).join('\n')).toMatch(/orders\s+40\s+40\s+1\s+new level accepted/);
  });

  it('the accepting load is judged the same from a lake (the scan reads back far enough, and no further)', async () => {
    const scratch = await Scratch.create('quiet-feed-step-down');
    try {
      const store = createLocalStore(scratch.dir);
      const accepting = fed + DEAD_FEED_LOADS;
      for (const i of [accepting - 1, accepting]) {
        await putCommitted(store, all.slice(0, i + 1));
        const { store: counted, reads } = countingGets(store, '_loads/');
        const scan = await readEarlierLoads(counted, all[i]!, settings);
        expect(loadSignals(all[i]!, scan.loads, settings).quietTables).toEqual(
          i === accepting ? [] : ['orders'],
        );
        expect(reads()).toBeLessThanOrEqual(DEAD_FEED_LOADS + settings.trailingLoads + 16);
      }
    } finally {
      await scratch.dispose();
    }
  });
});

describe('the quiet-feed contract', () => {
  it('a feed below the fraction of its level for N <= DEAD_FEED_LOADS loads is flagged on all N, and clears once back', () => {
    fc.assert(
      fc.property(
        // Its level (orders of 100 users: at least minExpectedRows), the loads at it before.
        fc.integer({ min: 40, max: 5000 }),
        fc.integer({ min: settings.minTrailingLoads, max: 12 }),
        fc.integer({ min: 1, max: DEAD_FEED_LOADS }),
        // Each load down: a share of the fraction of the level (0: empty), and the return.
        fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), {
          minLength: DEAD_FEED_LOADS,
          maxLength: DEAD_FEED_LOADS,
        }),
        fc.double({ min: 1, max: 3, noNaN: true }),
        (level, before, n, shares, back) => {
          const below = (share: number) => Math.floor(share * settings.quietFraction * level);
          const rows = [
            ...Array(before).fill(level),
            ...shares
              .slice(0, n)
              .map((s) => Math.min(below(s), Math.ceil(settings.quietFraction * level) - 1)),
            Math.ceil(settings.quietFraction * level * back),
          ];
          const all = commitInOrder(rows);
          expect(quietAt(all)).toEqual([...Array(before).fill(false), ...Array(n).fill(true), false]);
        },
      ),
      { numRuns: 40 },
    );
  });
});
