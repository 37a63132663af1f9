/**
 * Where a quiet run starts ("quiet since", "empty since"): at the first load of the low run whose
 * zero rows said something of the feed (it judged the table, or enough rows were expected of it),
 * never at a small load shown "-" (quality.ts `tableTrends`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatQuality, QUALITY_OPTION_DEFAULTS, qualityReport } from '#cli/quality-report.ts';
import {
  earlierLoads,
  type LoadFigures,
  MIN_EXPECTED_ROWS,
  QUALITY_DEFAULTS,
  qualityRecord,
  type TableTrend,
  tableTrends,
} from '#core/quality.ts';

const load = (n: number, users: number, failed: number, orders: number): LoadFigures => ({
  loadId: `17960000${String(n).padStart(2, '0')}.000000`,
  startedAt: `2026-12-${String(n).padStart(2, '0')}T03:00:00.000Z`,
  committedAt: `2026-12-${String(n).padStart(2, '0')}T03:20:00.000Z`,
  resources: ['accounts', 'orders'],
  schedule: 'local',
  users,
  failedUserCount: failed,
  rowsByTable: { user_loads: users, accounts: (users - failed) * 3, orders },
  endpointFindings: [],
});

/** Commits the loads in order, each report recording its judgement as the commit does. */
function commitChain(loads: readonly LoadFigures[]): { reports: LoadFigures[]; orders: TableTrend[] } {
  const reports: LoadFigures[] = [];
  const orders = loads.map((current) => {
    const tables = tableTrends(current, earlierLoads(current, reports, QUALITY_DEFAULTS), QUALITY_DEFAULTS);
    reports.push({ ...current, ...qualityRecord(tables) });
    return tables.find((t) => t.table === 'orders')!;
  });
  return { reports, orders };
}

describe('a quiet run after a load that did not judge the table', () => {
  it('starts at the first load judged low, not at the small load whose zero rows were not judged', () => {
    // 40 users with 58 orders; 6 users of whom 5 failed, no order (1.45 expected: not judged);
    // 40 users, orders emptied upstream.
    const { reports, orders } = commitChain([load(1, 40, 0, 58), load(2, 6, 5, 0), load(3, 40, 0, 0)]);
    expect(orders[1]!.ratio).toBeUndefined();
    expect(orders[2]!.quiet).toBe(true);
    expect(orders[2]!.quietSince).toBe(reports[2]!.loadId);
    expect(orders[2]!.emptySince).toBeUndefined();
    const text = formatQuality(qualityReport(reports, { ...QUALITY_OPTION_DEFAULTS, last: 3 })).join('\n');
    expect(text).not.toContain(`since load ${reports[1]!.loadId}`);
    expect(text).toContain('quiet feed orders (0 rows');
  });

  it('never names a load that did not judge the table as the start of a quiet run', () => {
    // A feed of 2 orders a user; loads of few or many users, fed or emptied.
    const step = fc.record({ users: fc.integer({ min: 1, max: 60 }), empty: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { minLength: 3, maxLength: 10 }), (steps) => {
        const loads = steps.map((s, i) => load(i + 1, s.users, 0, s.empty ? 0 : s.users * 2));
        const { reports, orders } = commitChain(loads);
        const byId = new Map(reports.map((r) => [r.loadId, r]));
        for (const t of orders)
          for (const since of [t.quietSince, t.emptySince]) {
            if (since === undefined) continue;
            const start = byId.get(since)!;
            // The start of a quiet run judged the table, or was a load of which enough rows were
            // expected at the feed's level (2 a user) to be judged: its own zero said something.
            expect(start.judgedFeeds!.includes('orders') || start.users * 2 >= MIN_EXPECTED_ROWS).toBe(true);
          }
      }),
      { numRuns: 200 },
    );
  });
});
