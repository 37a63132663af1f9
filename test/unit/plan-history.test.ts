import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import {
  DEFAULT_MERGE_VOLUME,
  DEFAULT_REQUESTS_PER_USER,
  measuredMergeVolume,
  measuredRequestsPerUser,
} from '#core/capacity.ts';
import { loadMarkerKey } from '#core/layout.ts';
import type { ObjectStore } from '#core/ports.ts';
import { previousMarker } from '#handlers/plan.ts';

let dir: string;
let store: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'plan-history-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ALL = ['accounts', 'action_history', 'orders', 'suggestions'];
const TRANSACTIONS = ['financial_transactions_most_recent'];

async function committed(loadId: string, resources: string[], users: number, requests: number, extra = {}) {
  await store.put(loadMarkerKey(loadId), JSON.stringify({ loadId, resources, users, requests, ...extra }));
}

describe("the plan sizes from its own schedule's history", () => {
  it('skips newer loads of another schedule on the same lake (another set of tables)', async () => {
    // A daily all-resources load, then hourly transactions-only loads after it.
    await committed('20261201T030000Z', ALL, 1000, 7900);
    await committed('20261201T040000Z', TRANSACTIONS, 1000, 2000);
    await committed('20261201T050000Z', TRANSACTIONS, 1000, 2100);

    const daily = await previousMarker(store, 'daily', [...ALL].reverse());
    expect(measuredRequestsPerUser(daily)).toBe(7.9);
    const hourly = await previousMarker(store, 'hourly', TRANSACTIONS);
    expect(measuredRequestsPerUser(hourly)).toBe(2.1);
  });

  it('matches a marker that names its schedule by that name, and uses the default before the first load', async () => {
    await committed('20261201T030000Z', ALL, 1000, 9000, { schedule: 'daily' });
    await committed('20261201T040000Z', ALL, 1000, 3000, { schedule: 'catch-up' });
    expect(measuredRequestsPerUser(await previousMarker(store, 'daily', ALL))).toBe(9);
    expect(await previousMarker(store, 'weekly', TRANSACTIONS)).toBeUndefined();
    expect(measuredRequestsPerUser(await previousMarker(store, 'weekly', TRANSACTIONS))).toBe(
      DEFAULT_REQUESTS_PER_USER,
    );
  });

  it("measures the rows and bytes to merge from the same load: its report's files", async () => {
    const files = [
      { key: 'accounts/dt=2026-12-01/a.00000.0000.parquet', table: 'accounts', rows: 2000, bytes: 100_000 },
      { key: 'orders/dt=2026-12-01/a.00000.0000.parquet', table: 'orders', rows: 8000, bytes: 300_000 },
    ];
    await committed('20261201T030000Z', ALL, 1000, 7900, { schedule: 'daily', files });
    await committed('20261201T040000Z', TRANSACTIONS, 1000, 2000, { schedule: 'hourly', files: [] });
    const volume = measuredMergeVolume(await previousMarker(store, 'daily', ALL));
    expect(volume).toEqual({
      rowsPerUser: 10,
      bytesPerUser: 400,
      largest: { rowsPerUser: 8, bytesPerUser: 300 },
      partitions: 2,
    });
    expect(measuredMergeVolume(await previousMarker(store, 'weekly', ALL))).toBe(DEFAULT_MERGE_VOLUME);
  });
});
