/**
 * `status`'s quality section on lakes of load reports written here (the numbers chosen, not
 * loaded): the earlier loads counted are the ones the medians used, and a load that may have
 * been compared with a damaged report says its judgement is incomplete, as the commit's
 * TrailingLoadsUnreadable does.
 */
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { LakeStatus } from '#cli/status-command.ts';
import { dailyReport, putCommitted } from '#test/helpers/daily-report.ts';
import { runCli, Scratch } from '#test/helpers/lake-harness.ts';

let scratch: Scratch;

async function lakeOf(name: string, orders: readonly number[]): Promise<{ lake: string; ids: string[] }> {
  const lake = scratch.path(name);
  const store = createLocalStore(lake);
  const ids: string[] = [];
  for (const [i, n] of orders.entries()) {
    const r = dailyReport(i + 1, n);
    await putCommitted(store, [r]);
    ids.push(r.loadId);
  }
  return { lake, ids };
}

beforeAll(async () => {
  scratch = await Scratch.create('status-unreadable');
});

afterAll(async () => {
  await scratch?.dispose();
});

const quality = (stdout: string) => (JSON.parse(stdout) as LakeStatus).quality;

describe('status counts the earlier loads the medians used', () => {
  it('not the loads read only to look back past an empty run', async () => {
    // Orders at 30 for six loads, then empty for four: the last load's orders are judged
    // against loads 4 to 6 (before the empty run), its accounts against loads 7 to 9; six
    // loads were read, three used by each table.
    const { lake, ids } = await lakeOf('empty-run', [30, 30, 30, 30, 30, 30, 0, 0, 0, 0]);
    const json = await runCli(['status', '--dest', lake, '--json', '--trailing-loads', '3']);
    expect(json.code, json.stderr).toBe(0);
    const last = quality(json.stdout).loads.at(-1)!;
    expect(last.tables.map((t) => [t.table, t.trailingLoads])).toEqual(
      expect.arrayContaining([
        ['accounts', 3],
        ['orders', 3],
      ]),
    );
    expect(last.tables.find((t) => t.table === 'orders')).toMatchObject({ quiet: true, emptySince: ids[6] });
    expect(last.trailingLoads).toBe(3);
    const text = await runCli(['status', '--dest', lake, '--trailing-loads', '3']);
    expect(text.code, text.stderr).toBe(0);
    const row = text.stdout.split('\n').find((l) => l.startsWith(ids[9]!) && l.includes('daily,'))!;
    expect(row).toMatch(/\s3 loads\s/);
    expect(text.stdout).toContain(
      `Rows per table in ${ids[9]} against the trailing median of 3 earlier loads`,
    );
  });
});

describe('status with a damaged earlier report', () => {
  let lake: string;
  let ids: string[];
  beforeAll(async () => {
    ({ lake, ids } = await lakeOf(
      'damaged',
      Array.from({ length: 12 }, () => 30),
    ));
    const store = createLocalStore(lake);
    // The reports of loads 2 and 10 are damaged.
    await store.put(`_loads/${ids[1]}.json`, '{"loadId": ');
    await store.put(`_loads/${ids[9]}.json`, 'not json');
  });

  it('names, per load, the unreadable reports it may have been compared with, judging with the rest', async () => {
    const run = await runCli(['status', '--dest', lake, '--json']);
    // A damaged report is damage: exit 1, the rest listed.
    expect(run.code).toBe(1);
    const q = quality(run.stdout);
    // Loads 7, 8, 9 scan back past load 2 (fewer than 7 readable loads after it); 11 and 12
    // find their 7 loads before reaching it, but pass load 10.
    expect(q.loads.map((l) => [l.loadId, l.unreadableEarlier, l.trailingLoads])).toEqual([
      [ids[6], [ids[1]], 5],
      [ids[7], [ids[1]], 6],
      [ids[8], [ids[1]], 7],
      [ids[10], [ids[9]], 7],
      [ids[11], [ids[9]], 7],
    ]);
  });

  it('says so in the text under the loads', async () => {
    const run = await runCli(['status', '--dest', lake]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      '\nJudgement incomplete (earlier load reports that could not be read; judged with the readable ones):\n',
    );
    expect(run.stdout).toContain(`  ${ids[11]}  without 1 earlier load: ${ids[9]}\n`);
    expect(run.stdout).toContain(`  ${ids[6]}  without 1 earlier load: ${ids[1]}\n`);
  });

  it('says nothing of it for loads that found their earlier loads before reaching it', async () => {
    const run = await runCli(['status', '--dest', lake, '--json', '--trailing-loads', '2']);
    const q = quality(run.stdout);
    // Two loads back: loads 7 to 9 stop long before load 2; 11 and 12 still pass load 10.
    expect(q.loads.map((l) => [l.loadId, l.unreadableEarlier ?? []])).toEqual([
      [ids[6], []],
      [ids[7], []],
      [ids[8], []],
      [ids[10], [ids[9]]],
      [ids[11], [ids[9]]],
    ]);
    expect(q.loads[0]).not.toHaveProperty('unreadableEarlier');
  });
});

describe('status with a damaged report of a custom load id', () => {
  it('counts it as earlier by its commit (_dlt_loads inserted_at), not by its id', async () => {
    const { lake, ids } = await lakeOf('custom-id', [30, 30, 30, 30]);
    const store = createLocalStore(lake);
    // `--load-id backfill-N`: no start time in the id; each committed (its _dlt_loads row, with
    // its commit time), its report damaged. backfill-0 committed between days 2 and 3, backfill-1
    // after the last daily load.
    const committed = async (loadId: string, insertedAt: string) => {
      await store.put(`_loads/${loadId}.json`, 'not json');
      await store.put(
        `_dlt_loads/${loadId}.parquet`,
        new Uint8Array(
          parquetWriteBuffer({
            columnData: [
              { name: 'load_id', data: [loadId], type: 'STRING' },
              { name: 'inserted_at', data: [new Date(insertedAt)], type: 'TIMESTAMP' },
            ],
          }),
        ),
      );
    };
    await committed('backfill-0', '2026-11-02T12:00:00.000Z');
    await committed('backfill-1', '2026-11-05T12:00:00.000Z');
    const run = await runCli(['status', '--dest', lake, '--json']);
    expect(run.code).toBe(1);
    expect(quality(run.stdout).loads.map((l) => [l.loadId, l.unreadableEarlier ?? []])).toEqual([
      [ids[0], []],
      [ids[1], []],
      [ids[2], ['backfill-0']],
      [ids[3], ['backfill-0']],
    ]);
    const text = await runCli(['status', '--dest', lake]);
    expect(text.stdout).toContain(`  ${ids[3]}  without 1 earlier load: backfill-0\n`);
    expect(text.stdout).not.toMatch(/without[^\n]*backfill-1/);
  });
});
