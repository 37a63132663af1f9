/**
 * A load's quality figures written by hand (the numbers chosen, not loaded), for the pure
 * data-quality tests (lambdas/core/quality.ts, cli/quality-report.ts).
 */
import type { LoadFigures } from '#core/quality.ts';

/**
 * A load started on day `day` of December 2026 at 03:00 and committed at 03:20 (its dlt-style id
 * from that start), 100 users, accounts and orders fetched, 200 `user_loads` rows and `rows`.
 */
export const decemberLoadFigures = (
  day: number,
  rows: Record<string, number>,
  extra: Partial<LoadFigures> = {},
): LoadFigures => ({
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
