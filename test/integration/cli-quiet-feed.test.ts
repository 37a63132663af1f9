/**
 * A feed that goes quiet and stays quiet, end to end on the CLI: loads from the simulator, then
 * loads from the same world with `/pay-link/orders` answered empty (`simulate --empty orders`).
 * `status` flags every empty load (the trailing median of a dead feed falls to 0 after a few
 * loads; the table is then judged against the loads before it went empty), `--fail-on-signals`
 * makes that an exit code, and the quality flags take plain decimal numbers only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyRoutes, parseSimulateArgs } from '#cli/simulate-command.ts';
import type { LakeStatus } from '#cli/status-command.ts';
import { ConfigError } from '#core/errors.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { captureIo, credentialsEnv, runCli, runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const SEED = 'quiet-feed';
const API_KEY = 'qf-key';
const API_SECRET = 'qf-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const RESOURCES = ['accounts', 'orders'];

let scratch: Scratch;
let fed: Simulator;
let quiet: Simulator;
let lake: string;
let users: string;
const loadIds: string[] = [];
const summaries: {
  loadId: string;
  tables: { table: string; rows: number; files: number }[];
  quietFeeds?: { table: string; rows: number; trailingMedian: number; since?: string }[];
  judgedFeeds?: string[];
}[] = [];

async function load(sim: Simulator): Promise<void> {
  const run = await runLoad({ users, dest: lake, baseUrl: sim.url, resources: RESOURCES, json: true }, ENV);
  expect(run.code, run.stderr).toBe(0);
  summaries.push(JSON.parse(run.stdout) as (typeof summaries)[number]);
  loadIds.push(summaries.at(-1)!.loadId);
}

beforeAll(async () => {
  scratch = await Scratch.create('quiet-feed');
  const options = { seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET };
  fed = await startSimulator(options);
  quiet = await startSimulator({
    ...options,
    faults: { emptyRoutes: emptyRoutes('orders') },
  });
  lake = scratch.path('lake');
  users = await scratch.users('users.txt', generateIdentifiers(SEED, 32));
  await load(fed);
  await load(fed);
  // Four empty loads: the median of the last loads is 0 from the fourth on.
  for (let i = 0; i < 4; i += 1) await load(quiet);
}, 120_000);

afterAll(async () => {
  await fed?.close();
  await quiet?.close();
  await scratch?.dispose();
});

describe('a feed that goes quiet and stays quiet', () => {
  it("is named by each empty load's own summary, not by the fed ones (status is not needed to notice)", () => {
    // Judged and nothing quiet is [] (not left out), so a script can tell it from "not judged";
    // with fewer earlier loads than minTrailingLoads no table was judged.
    expect(summaries.slice(0, 2).map((s) => s.quietFeeds)).toEqual([[], []]);
    expect(summaries.slice(0, 2).map((s) => s.judgedFeeds)).toEqual([[], []]);
    for (const s of summaries.slice(2)) {
      expect(
        s.quietFeeds?.map((q) => q.table),
        s.loadId,
      ).toEqual(['orders', 'orders__items']);
      expect(s.quietFeeds?.every((q) => q.rows === 0 && q.trailingMedian > 0)).toBe(true);
      expect(s.judgedFeeds, s.loadId).toEqual(
        expect.arrayContaining(['accounts', 'orders', 'orders__items']),
      );
    }
  });

  it("is in each empty load's table of rows with 0 rows, not left out of it", () => {
    for (const s of summaries.slice(2)) {
      const rows = Object.fromEntries(s.tables.map((t) => [t.table, [t.rows, t.files]]));
      expect({ load: s.loadId, orders: rows.orders, items: rows.orders__items }).toEqual({
        load: s.loadId,
        orders: [0, 0],
        items: [0, 0],
      });
    }
  });

  it('is flagged on every empty load, the last against the loads before it went empty', async () => {
    const run = await runCli(['status', '--dest', lake, '--json', '--last', '6']);
    expect(run.code, run.stderr).toBe(0);
    const status = JSON.parse(run.stdout) as LakeStatus;
    const quietTables = status.quality.loads.map((l) =>
      l.flags.filter((f) => f.kind === 'quiet_feed').map((f) => (f as { table: string }).table),
    );
    // orders__items (each order's items) goes quiet with its parent.
    const both = ['orders', 'orders__items'];
    expect(quietTables).toEqual([[], [], both, both, both, both]);
    const last = status.quality.loads.at(-1)!;
    const orders = last.tables.find((t) => t.table === 'orders')!;
    expect(orders).toMatchObject({ rows: 0, ratio: 0, quiet: true, emptySince: loadIds[2] });
    expect(orders.trailingMedian).toBeGreaterThan(0);
    // Each empty load's own `load --json` summary says what status says of it: the same median
    // (not rounded to an integer) and the same since.
    for (const [i, s] of summaries.entries()) {
      const judged = status.quality.loads[i]!.tables.filter((t) => t.quiet);
      expect(s.quietFeeds ?? [], s.loadId).toEqual(
        judged.map((t) => ({
          table: t.table,
          rows: t.rows,
          trailingMedian: t.trailingMedian,
          since: t.since,
        })),
      );
    }
    expect(summaries[5]!.quietFeeds?.find((q) => q.table === 'orders')?.since).toBe(loadIds[2]);
    // The first load had nothing to compare with: null, not left out.
    const first = status.quality.loads[0]!.tables.find((t) => t.table === 'orders')!;
    expect(first).toMatchObject({ trailingMedian: null, ratio: null, trailingLoads: 0, quiet: false });
  });

  it('prints the flags as a list under the loads, and titles every column', async () => {
    const run = await runCli(['status', '--dest', lake]);
    expect(run.code, run.stderr).toBe(0);
    const out = run.stdout;
    expect(out).toContain('\nFlags:\n');
    expect(out).toContain(`  ${loadIds[5]}  quiet feed orders (0 rows, trailing median `);
    expect(out).toContain(`empty since load ${loadIds[2]})`);
    expect(out).toMatch(/table\s+rows\s+trailing_median\s+ratio\s+flag/);
    expect(out).toMatch(/orders\s+0\s+[\d.]+\s+0\s+QUIET, empty since/);
    // The loads table counts flags; each flag's words are in the list.
    const row = out.split('\n').find((l) => l.startsWith(loadIds[5]!) && l.includes('local,'))!;
    expect(row).toMatch(/2 flags$/);
  });

  it('exits 9 with --fail-on-signals when the newest load has a flag, and only with it', async () => {
    expect((await runCli(['status', '--dest', lake, '--fail-on-signals'])).code).toBe(9);
    expect((await runCli(['status', '--dest', lake, '--json', '--fail-on-signals'])).code).toBe(9);
    expect((await runCli(['status', '--dest', lake])).code).toBe(0);
    const refused = await runCli(['status', '--dest', lake, '--load-id', loadIds[0]!, '--fail-on-signals']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: --fail-on-signals: /);
  });

  it('refuses numbers a person would not type: hex, exponents, integers past the bound', async () => {
    for (const [flag, value] of [
      ['--last', '0x10'],
      ['--last', '1e1'],
      ['--last', '99999999999999999999'],
      ['--last', '10001'],
      ['--trailing-loads', '0x7'],
      ['--quiet-fraction', '5e-1'],
      ['--failed-share', 'Infinity'],
    ] as const) {
      const run = await runCli(['status', '--dest', lake, flag, value]);
      expect(run.code, `${flag} ${value}`).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(new RegExp(`^error: ${flag}: `));
    }
    expect((await runCli(['status', '--dest', lake, '--last', '10000', '--quiet-fraction', '.5'])).code).toBe(
      0,
    );
  });
});

describe('simulate --empty', () => {
  it('takes a list resource or its path, and refuses anything else naming the flag', () => {
    const io = captureIo({}).io;
    expect(parseSimulateArgs(['--empty', 'orders,/pay-link/accounts'], io).options.faults).toMatchObject({
      emptyRoutes: ['/pay-link/orders', '/pay-link/accounts'],
    });
    expect(parseSimulateArgs(['--empty', 'orders', '--empty-after', '30'], io).options.faults).toMatchObject({
      emptyAfterMs: 30_000,
    });
    expect(() => parseSimulateArgs(['--empty', 'ordrs'], io)).toThrow(ConfigError);
    expect(() => parseSimulateArgs(['--empty', 'ordrs'], io)).toThrow(
      /^--empty: 'ordrs' is not a list resource/,
    );
    expect(() => parseSimulateArgs(['--empty-after', '30'], io)).toThrow(/^--empty-after: needs --empty/);
    // A script's empty list is refused, not a simulator that empties nothing.
    expect(() => parseSimulateArgs(['--empty', ','], io)).toThrow(/^--empty: names no list/);
  });
});
