/**
 * Load reports written by hand for `status`'s quality section (the numbers chosen, not loaded):
 * a committed load of the `daily` series, and the two objects that make it committed.
 */
import { loadIdFromTime } from '#core/layout.ts';
import type { ObjectStore } from '#core/ports.ts';

/**
 * A committed load's report: day `day` of November 2026 (past 30: the days after it), 100 users,
 * 100 accounts, the orders given.
 */
export function dailyReport(day: number, orders: number) {
  const startedAt = new Date(Date.UTC(2026, 10, day, 3)).toISOString();
  const loadId = loadIdFromTime(new Date(startedAt));
  return {
    formatVersion: 1,
    loadId,
    dt: startedAt.slice(0, 10),
    startedAt,
    committedAt: startedAt.replace('T03:00', 'T03:20'),
    resources: ['accounts', 'orders'],
    users: 100,
    failedUserCount: 0,
    failedUsers: [],
    missingBatches: [],
    requests: 300,
    rowsByTable: { accounts: 100, orders, user_loads: 200 },
    files: [],
    schemaVersion: 1,
    schemaChanges: [],
    nonFiniteValues: 0,
    endpointFindings: [],
    schedule: 'daily',
    usersSelection: 'all',
  };
}

/** Writes each report and its `_dlt_loads` row (any bytes: status only asks whether it exists). */
export async function putCommitted(
  store: ObjectStore,
  reports: readonly { loadId: string }[],
): Promise<void> {
  for (const r of reports) {
    await store.put(`_loads/${r.loadId}.json`, JSON.stringify(r));
    await store.put(`_dlt_loads/${r.loadId}.parquet`, new Uint8Array([1]));
  }
}
