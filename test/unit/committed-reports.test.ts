/**
 * The one reader of committed load reports (`status` and `status --load-id`): which reports
 * count, in what order, and how damaged and missing ones are named.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { readCommittedReports } from '#cli/committed-reports.ts';
import { judgeOneLoad } from '#cli/load-quality.ts';
import { QUALITY_OPTION_DEFAULTS } from '#cli/quality-report.ts';
import { lakeStatus } from '#cli/status-command.ts';
import type { ObjectStore } from '#core/ports.ts';
import { dailyReport, putCommitted } from '#test/helpers/daily-report.ts';

let dir: string;
let store: ObjectStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'committed-reports-test-'));
  store = createLocalStore(dir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A `_dlt_loads` row with its commit time, as commit.ts writes it. */
const dltLoadsRow = (loadId: string, insertedAt: string) =>
  new Uint8Array(
    parquetWriteBuffer({
      columnData: [
        { name: 'load_id', data: [loadId], type: 'STRING' },
        { name: 'inserted_at', data: [new Date(insertedAt)], type: 'TIMESTAMP' },
      ],
    }),
  );

describe('readCommittedReports', () => {
  it('returns the committed loads’ reports by start time, whatever order they are listed in', async () => {
    const [a, b, c] = [dailyReport(3, 30), dailyReport(1, 30), dailyReport(2, 30)];
    await putCommitted(store, [a, b, c]);
    const read = await readCommittedReports(store);
    expect(read.reports.map((r) => r.loadId)).toEqual([b.loadId, c.loadId, a.loadId]);
    expect([...read.committed].sort()).toEqual([b.loadId, c.loadId, a.loadId]);
    expect(read.commitKeys).toHaveLength(3);
    expect(read).toMatchObject({ withoutReport: [], uncommitted: [], damaged: [], unreadable: [] });
  });

  it('lists a report without a commit point as uncommitted, and a commit point without a report', async () => {
    const [committed, reportOnly, rowOnly] = [dailyReport(1, 30), dailyReport(2, 30), dailyReport(3, 30)];
    await putCommitted(store, [committed]);
    await store.put(`_loads/${reportOnly.loadId}.json`, JSON.stringify(reportOnly));
    await store.put(`_dlt_loads/${rowOnly.loadId}.parquet`, new Uint8Array([1]));
    const read = await readCommittedReports(store);
    expect(read.reports.map((r) => r.loadId)).toEqual([committed.loadId]);
    expect(read.uncommitted).toEqual([reportOnly.loadId]);
    expect(read.withoutReport).toEqual([rowOnly.loadId]);
  });

  it('names every damaged report, and gives the committed ones their commit time from _dlt_loads', async () => {
    const ok = dailyReport(1, 30);
    const bad = dailyReport(2, 30);
    const badUncommitted = dailyReport(3, 30);
    const badNoTime = dailyReport(4, 30);
    await putCommitted(store, [ok, bad, badNoTime]);
    await store.put(`_dlt_loads/${bad.loadId}.parquet`, dltLoadsRow(bad.loadId, '2026-11-02T03:20:00.000Z'));
    await store.put(`_loads/${bad.loadId}.json`, 'not json');
    await store.put(`_loads/${badUncommitted.loadId}.json`, '{"loadId": ');
    await store.put(`_loads/${badNoTime.loadId}.json`, 'null');
    const read = await readCommittedReports(store);
    expect(read.reports.map((r) => r.loadId)).toEqual([ok.loadId]);
    expect(read.damaged.map((d) => [d.loadId, d.committed])).toEqual([
      [bad.loadId, true],
      [badUncommitted.loadId, false],
      [badNoTime.loadId, true],
    ]);
    expect(read.damaged[0]!.message).toBe(
      `lake _loads/${bad.loadId}.json: not valid JSON (was it edited by hand?)`,
    );
    expect(read.damaged[2]!.message).toBe(
      `lake _loads/${badNoTime.loadId}.json: not a load report (was it edited by hand?)`,
    );
    // The damaged ones of committed loads only; a row that is no Parquet gives no commit time.
    expect(read.unreadable).toEqual([
      { loadId: bad.loadId, committedAt: '2026-11-02T03:20:00.000Z' },
      { loadId: badNoTime.loadId, committedAt: undefined },
    ]);
    // Their rows are in the views, their counts are not: listed without a report too.
    expect(read.withoutReport).toEqual([bad.loadId, badNoTime.loadId]);
    expect(read.uncommitted).toEqual([]);
  });

  it('takes the load from the key: a report whose body names another load is damaged, not that load', async () => {
    const [a, b] = [dailyReport(1, 30), dailyReport(2, 30)];
    await putCommitted(store, [a, b]);
    // b's report replaced by a copy of a's.
    await store.put(`_loads/${b.loadId}.json`, JSON.stringify(a));
    const read = await readCommittedReports(store);
    expect(read.reports.map((r) => r.loadId)).toEqual([a.loadId]);
    expect(read.damaged).toEqual([
      {
        key: `_loads/${b.loadId}.json`,
        loadId: b.loadId,
        committed: true,
        message: `lake _loads/${b.loadId}.json: the report names load "${a.loadId}", not ${b.loadId} (was it edited or copied by hand?)`,
      },
    ]);
    expect(read.unreadable.map((u) => u.loadId)).toEqual([b.loadId]);
  });
});

describe('status and status --load-id read reports by the same rules', () => {
  it('a copied report counts once, and both name the load it replaced as unreadable', async () => {
    const reports = [1, 2, 3, 4].map((d) => dailyReport(d, 30));
    await putCommitted(store, reports);
    await store.put(`_loads/${reports[1]!.loadId}.json`, JSON.stringify(reports[0]));
    const status = await lakeStatus(dir);
    expect(status.loads.map((l) => l.loadId)).toEqual([
      reports[0]!.loadId,
      reports[2]!.loadId,
      reports[3]!.loadId,
    ]);
    expect(status.damagedReports).toEqual([`_loads/${reports[1]!.loadId}.json`]);
    expect(status.quality.loads.at(-1)!.unreadableEarlier).toEqual([reports[1]!.loadId]);
    const one = await judgeOneLoad(store, reports[3]!.loadId, QUALITY_OPTION_DEFAULTS);
    expect(one?.unreadableEarlier).toEqual([reports[1]!.loadId]);
    expect(await judgeOneLoad(store, reports[1]!.loadId, QUALITY_OPTION_DEFAULTS)).toBeNull();
  });

  it('status names a report that is JSON null as damaged instead of passing over it', async () => {
    const r = dailyReport(1, 30);
    await putCommitted(store, [r]);
    await store.put(`_loads/${r.loadId}.json`, 'null');
    const status = await lakeStatus(dir);
    expect(status.damagedReports).toEqual([`_loads/${r.loadId}.json`]);
    expect(status.warnings[0]).toContain('not a load report');
    expect(status.withoutReport).toEqual([r.loadId]);
  });
});

describe('a JSON object that lacks what a load report has', () => {
  it('is damaged and named with the fields it lacks, and status lists the other loads', async () => {
    const [a, b] = [dailyReport(1, 30), dailyReport(2, 30)];
    await putCommitted(store, [a, b]);
    const { files: _files, users: _users, ...rest } = b;
    await store.put(`_loads/${b.loadId}.json`, JSON.stringify({ ...rest, users: '12' }));
    const read = await readCommittedReports(store);
    expect(read.reports.map((r) => r.loadId)).toEqual([a.loadId]);
    expect(read.damaged.map((d) => d.message)).toEqual([
      `lake _loads/${b.loadId}.json: not a load report: users is not a number, files is missing (was it edited by hand?)`,
    ]);
    // Before, status read `files` of it and failed with a TypeError.
    const status = await lakeStatus(dir);
    expect(status.loads.map((l) => l.loadId)).toEqual([a.loadId]);
    expect(status.damagedReports).toEqual([`_loads/${b.loadId}.json`]);
    expect(status.withoutReport).toEqual([b.loadId]);
  });
});
