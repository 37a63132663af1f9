/**
 * `status --load-id <id>` judges that one load as plain `status` does: against the committed
 * loads of its series before it, with the same settings. Two clean loads, then a load whose
 * orders list answers empty (a proxy in front of the simulator): looking at that load shows the
 * quiet feed plain status flags, in the text and in --json; looking at the first load says its
 * tables were not judged, and why. And a lake whose very first load has an endpoint switched off
 * lists that resource's table as disabled, as later loads of the outage do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadQuality } from '#cli/quality-report.ts';
import type { LakeStatus } from '#cli/status-command.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { type FeedProxy, startFeedProxy } from '#test/helpers/feed-proxy.ts';
import { credentialsEnv, runCli, runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const SEED = 'load-id-quality';
const API_KEY = 'lq-key';
const API_SECRET = 'lq-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const RESOURCES = ['accounts', 'orders'];

let scratch: Scratch;
let sim: Simulator;
let proxy: FeedProxy;
let lake: string;
let firstDisabledLake: string;
let users: string;
const loadIds: string[] = [];

async function load(dest: string, exit = 0): Promise<string> {
  const run = await runLoad({ users, dest, baseUrl: proxy.url, resources: RESOURCES, json: true }, ENV);
  expect(run.code, run.stderr).toBe(exit);
  return (JSON.parse(run.stdout) as { loadId: string }).loadId;
}

beforeAll(async () => {
  scratch = await Scratch.create('load-id-quality');
  sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
  proxy = await startFeedProxy(sim.url);
  lake = scratch.path('lake');
  firstDisabledLake = scratch.path('first-disabled');
  users = await scratch.users('users.txt', generateIdentifiers(SEED, 32));
  loadIds.push(await load(lake));
  loadIds.push(await load(lake));
  proxy.emptyPaths.add('/pay-link/orders');
  loadIds.push(await load(lake));
  proxy.emptyPaths.clear();
  // A lake whose first load finds the orders endpoint missing (4: committed with it disabled).
  proxy.missingPaths.add('/pay-link/orders');
  await load(firstDisabledLake, 4);
  await load(firstDisabledLake, 4);
  proxy.missingPaths.clear();
}, 180_000);

afterAll(async () => {
  await proxy?.close();
  await sim?.close();
  await scratch?.dispose();
});

async function oneLoad(loadId: string): Promise<LoadQuality | null> {
  const run = await runCli(['status', '--dest', lake, '--load-id', loadId, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as { quality: LoadQuality | null }).quality;
}

describe('status --load-id judges the load against the loads before it', () => {
  it('shows the quiet feed plain status flags for the same load, in --json', async () => {
    const plain = await runCli(['status', '--dest', lake, '--json', '--last', '3']);
    expect(plain.code, plain.stderr).toBe(0);
    const judged = (JSON.parse(plain.stdout) as LakeStatus).quality.loads;
    const quiet = await oneLoad(loadIds[2]!);
    expect(quiet!.flags.filter((f) => f.kind === 'quiet_feed').map((f) => f.table)).toContain('orders');
    expect(quiet!.tables.find((t) => t.table === 'orders')).toMatchObject({ quiet: true, judged: true });
    // The same judgement as plain status gives each of these loads.
    for (const [i, id] of loadIds.entries()) expect(await oneLoad(id), id).toEqual(judged[i]);
  });

  it('says the first loads were not judged, and why', async () => {
    const first = await oneLoad(loadIds[0]!);
    expect(first!.trailingLoads).toBe(0);
    const orders = first!.tables.find((t) => t.table === 'orders')!;
    expect(orders).toMatchObject({
      judged: false,
      notJudgedReason: { code: 'too_few_loads', trailingLoads: 0, minTrailingLoads: 2 },
    });
  });

  it('prints the flags and the rows per table in the text', async () => {
    const quiet = await runCli(['status', '--dest', lake, '--load-id', loadIds[2]!]);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toContain('Data quality (against 2 earlier loads of its series committed before it');
    expect(quiet.stdout).toMatch(/flag: quiet feed orders \(0 rows, trailing median \d/);
    const row = (stdout: string, table: string) =>
      stdout
        .slice(stdout.indexOf('Rows per table in'))
        .split('\n')
        .find((line) => line.startsWith(`${table} `));
    expect(row(quiet.stdout, 'orders')).toContain('QUIET since this load');
    const first = await runCli(['status', '--dest', lake, '--load-id', loadIds[0]!]);
    expect(first.stdout).toContain('flags: none');
    expect(row(first.stdout, 'orders')).toContain('not judged (0 earlier loads, fewer than 2)');
  });

  it('judges with the settings given, as plain status takes them', async () => {
    const status = async (...flags: string[]) => {
      const run = await runCli(['status', '--dest', lake, '--load-id', loadIds[1]!, '--json', ...flags]);
      expect(run.code, run.stderr).toBe(0);
      const { quality } = JSON.parse(run.stdout) as { quality: LoadQuality };
      return quality.tables.find((t) => t.table === 'orders');
    };
    expect(await status()).toMatchObject({ judged: false, notJudgedReason: { code: 'too_few_loads' } });
    expect(await status('--min-trailing-loads', '1')).toMatchObject({ judged: true, quiet: false });
  });
});

describe('an endpoint switched off from the first load on', () => {
  it('lists its table as disabled on the first load, as on the next', async () => {
    const run = await runCli(['status', '--dest', firstDisabledLake, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const loads = (JSON.parse(run.stdout) as LakeStatus).quality.loads;
    expect(loads).toHaveLength(2);
    for (const l of loads) {
      expect(l.flags, l.loadId).toContainEqual({ kind: 'endpoint_unavailable', resource: 'orders' });
      expect(
        l.tables.find((t) => t.table === 'orders'),
        l.loadId,
      ).toMatchObject({
        disabled: true,
        judged: false,
        notJudgedReason: { code: 'endpoint_unavailable' },
      });
    }
  });
});
