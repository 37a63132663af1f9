/**
 * One cause, one signal: a load in which PayLink's accounts endpoint answers 404 for everyone
 * (a proxy in front of the simulator) disables `accounts`, and `action_history` under it is not
 * fetched either. `status` flags the load endpoint-unavailable and shows those tables as
 * disabled, not as quiet feeds (the stack would otherwise raise QuietFeed next to
 * EndpointUnavailable for the same cause), while `orders`, answered empty the same load with its
 * endpoint working, is still a quiet feed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { LakeStatus } from '#cli/status-command.ts';
import type { LoadMarker } from '#core/commit.ts';
import { readJson } from '#core/store-json.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { type FeedProxy, startFeedProxy } from '#test/helpers/feed-proxy.ts';
import { credentialsEnv, runCli, runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const SEED = 'endpoint-quality';
const API_KEY = 'eq-key';
const API_SECRET = 'eq-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const RESOURCES = ['accounts', 'action_history', 'orders'];

let scratch: Scratch;
let sim: Simulator;
let proxy: FeedProxy;
let lake: string;
let users: string;
const loadIds: string[] = [];

/** `exit`: 0, or 4 for a load committed with a resource found unusable and disabled. */
async function load(exit = 0): Promise<void> {
  const run = await runLoad({ users, dest: lake, baseUrl: proxy.url, resources: RESOURCES, json: true }, ENV);
  expect(run.code, run.stderr).toBe(exit);
  loadIds.push((JSON.parse(run.stdout) as { loadId: string }).loadId);
}

beforeAll(async () => {
  scratch = await Scratch.create('endpoint-quality');
  sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
  proxy = await startFeedProxy(sim.url);
  lake = scratch.path('lake');
  users = await scratch.users('users.txt', generateIdentifiers(SEED, 32));
  await load();
  await load();
  proxy.missingPaths.add('/pay-link/accounts');
  proxy.emptyPaths.add('/pay-link/orders');
  await load(4);
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await sim?.close();
  await scratch?.dispose();
});

describe('a resource disabled by an endpoint finding', () => {
  it('names the resources under it in the load report: not fetched either', async () => {
    const marker = await readJson<LoadMarker>(createLocalStore(lake), `_loads/${loadIds[2]}.json`);
    expect(marker!.endpointFindings.map((f) => [f.resource, f.notFetched])).toEqual([
      ['accounts', ['action_history']],
    ]);
  });

  it('is flagged endpoint-unavailable, its tables disabled, not quiet; an empty feed that answered still is', async () => {
    const run = await runCli(['status', '--dest', lake, '--json', '--last', '1']);
    expect(run.code, run.stderr).toBe(0);
    const [latest] = (JSON.parse(run.stdout) as LakeStatus).quality.loads;
    expect(latest!.loadId).toBe(loadIds[2]);
    const quiet = latest!.flags.flatMap((f) => (f.kind === 'quiet_feed' ? [f.table] : []));
    expect(quiet.filter((t) => !t.startsWith('orders'))).toEqual([]);
    expect(quiet).toContain('orders');
    expect(latest!.flags).toContainEqual({ kind: 'endpoint_unavailable', resource: 'accounts' });
    const disabled = latest!.tables.filter((t) => t.disabled === true).map((t) => t.table);
    expect(disabled).toContain('accounts');
    expect(disabled).toContain('action_history');
    expect(disabled.every((t) => t.startsWith('accounts') || t === 'action_history')).toBe(true);
    for (const t of latest!.tables.filter((x) => x.disabled === true))
      expect(t, t.table).toMatchObject({ quiet: false, ratio: null });

    const text = await runCli(['status', '--dest', lake, '--last', '1']);
    // The latest load's rows against the trailing median: the last section of the output.
    const section = text.stdout.slice(text.stdout.indexOf('Rows per table in'));
    const row = (table: string) => section.split('\n').find((line) => line.startsWith(`${table} `))!;
    expect(row('accounts')).toContain('disabled (endpoint unavailable)');
    expect(row('action_history')).toContain('disabled (endpoint unavailable)');
    expect(row('orders')).toContain('QUIET');
  });
});
