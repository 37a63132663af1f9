/**
 * `load` judges its quiet feeds with the settings `status` reads: the stack's `dataQuality` from
 * `--stack-config`, else ./cdk.json in the working folder, else the defaults. A lake whose earlier
 * loads (the first real, three more written by hand from its report) had ten times the orders, so
 * the next load's orders are quiet by the defaults and not when the stack's settings say otherwise.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { LoadMarker } from '#core/commit.ts';
import { loadIdFromTime } from '#core/layout.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { putCommitted } from '#test/helpers/daily-report.ts';
import { credentialsEnv, loadArgv, runCli, runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const SEED = 'load-quality-settings';
const ENV = credentialsEnv('lq-key', 'lq-secret');
const RESOURCES = ['accounts', 'orders'];

let scratch: Scratch;
let sim: Simulator;
let users: string;
/** A CDK app's folder: its cdk.json sets a minExpectedRows no load of this size reaches. */
let app: string;

/** A lake with the first real load and three hand-written ones of ten times its orders before it. */
async function lakeWithBusyPast(name: string): Promise<string> {
  const lake = scratch.path(name);
  const first = await runLoad({ users, dest: lake, baseUrl: sim.url, resources: RESOURCES, json: true }, ENV);
  expect(first.code, first.stderr).toBe(0);
  const { loadId } = JSON.parse(first.stdout) as { loadId: string };
  const report = JSON.parse(await readFile(join(lake, '_loads', `${loadId}.json`), 'utf8')) as LoadMarker;
  const busy = [1, 2, 3].map((daysBefore) => {
    const at = (iso: string) => new Date(Date.parse(iso) - daysBefore * 86_400_000).toISOString();
    const rows = Object.fromEntries(
      Object.entries(report.rowsByTable).map(([t, n]) => [t, t.startsWith('orders') ? n * 10 : n]),
    );
    return {
      ...report,
      loadId: loadIdFromTime(new Date(at(report.startedAt))),
      startedAt: at(report.startedAt),
      committedAt: at(report.committedAt),
      rowsByTable: rows,
      files: [],
    };
  });
  await putCommitted(createLocalStore(lake), busy);
  return lake;
}

async function loadIn(cwd: string, lake: string, ...extra: string[]) {
  const argv = [
    ...loadArgv({ users, dest: lake, baseUrl: sim.url, resources: RESOURCES, json: true }),
    ...extra,
  ];
  const run = await runCli(argv, ENV, { cwd });
  expect(run.code, run.stderr).toBe(0);
  const summary = JSON.parse(run.stdout) as { quietFeeds?: { table: string }[] };
  return summary.quietFeeds?.map((q) => q.table) ?? [];
}

beforeAll(async () => {
  scratch = await Scratch.create('load-quality-settings');
  sim = await startSimulator({ seed: SEED, apiKey: 'lq-key', apiSecret: 'lq-secret' });
  users = await scratch.users('users.txt', generateIdentifiers(SEED, 24));
  app = scratch.path('app');
  await mkdir(app, { recursive: true });
  await writeFile(
    join(app, 'cdk.json'),
    JSON.stringify({
      context: { paylink: { stackName: 'Lake', dataQuality: { minExpectedRows: 1_000_000 } } },
    }),
  );
}, 60_000);

afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

describe("load's quiet feeds", () => {
  it('are judged with the defaults where no stack config is found', async () => {
    const lake = await lakeWithBusyPast('plain');
    expect(await loadIn(scratch.path(), lake)).toContain('orders');
  }, 60_000);

  it("are judged with the stack's dataQuality from ./cdk.json in the working folder, as status does", async () => {
    const lake = await lakeWithBusyPast('in-app');
    expect(await loadIn(app, lake)).toEqual([]);
  }, 60_000);

  it('are judged with the dataQuality of --stack-config, and the report records what was judged', async () => {
    const lake = await lakeWithBusyPast('flag');
    expect(await loadIn(scratch.path(), lake, '--stack-config', join(app, 'cdk.json'))).toEqual([]);
    const plain = await lakeWithBusyPast('recorded');
    expect(await loadIn(scratch.path(), plain)).toContain('orders');
    const store = createLocalStore(plain);
    const reports = (await store.list('_loads/')).filter((k) => k.endsWith('.json')).sort();
    const last = JSON.parse(new TextDecoder().decode(await store.get(reports.at(-1)!))) as LoadMarker;
    expect(last.quietFeeds?.map((q) => q.table)).toContain('orders');
    expect(last.quietFeeds?.find((q) => q.table === 'orders')?.since).toBe(last.loadId);
  }, 60_000);
});
