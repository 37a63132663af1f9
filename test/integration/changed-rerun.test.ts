/**
 * Re-running `changed` loads from the CLI, against the simulator:
 *  - a committed changed load re-run with its `--load-id` loads the users it was planned with
 *    (it replaces that load), not the users new at re-run time, and does not mark those new
 *    users' events seen;
 *  - `--users-from-failed` of a changed load that fetched tasks finds its users' task ids in
 *    the lake (the events named them) instead of asking for a --task-ids file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { LoadMarker } from '#core/commit.ts';
import { loadMarkerKey } from '#core/layout.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  type CliRun,
  changedLoadArgv,
  changedScheduleOf,
  credentialsEnv,
  runCli,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';
import { receiveSimulatedEvent } from '#test/helpers/signed-webhook.ts';

const SEED = 'changed-rerun';
const API_KEY = 'rerun-key';
const API_SECRET = 'rerun-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const USERS = generateIdentifiers(SEED, 6);

let scratch: Scratch;
let sim: Simulator;

beforeAll(async () => {
  scratch = await Scratch.create('changed-rerun');
  sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
});
afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

/** Stores a signed event for `identifier` as the receiver would; its data from the simulator's next change. */
async function receive(store: ObjectStore, identifier: string, at: Date, data?: Record<string, unknown>) {
  const outcome = await receiveSimulatedEvent({ store, secret: API_SECRET }, identifier, at, {
    ...(data === undefined ? {} : { data }),
  });
  expect(outcome.kind).toBe('accepted');
}

/**
 * The next task completion for `identifier` (changes alternate kinds), made in each of `worlds`
 * (simulators of one seed change alike): the data of the first.
 */
function taskChange(identifier: string, worlds: readonly Simulator[]): Record<string, unknown> {
  for (let i = 0; i < 10; i++) {
    const [change] = worlds.map((w) => w.change(identifier));
    if (change!.eventType === 'task-status-updated') return { ...change!.data };
  }
  throw new Error(`no task change for ${identifier}`);
}

function load(argv: readonly string[], baseUrl = sim.url): Promise<CliRun> {
  return runCli(['load', ...argv, '--base-url', baseUrl, '--quiet', '--json', '--rate-limit', '10000'], ENV);
}

async function usersOfLoad(lake: string, loadId: string): Promise<string[]> {
  return withLake(lake, async (q) => {
    const { rows } = await q.query(
      `SELECT DISTINCT user_identifier FROM user_loads WHERE _dlt_load_id = '${loadId}' ORDER BY 1`,
    );
    return rows.map(([u]) => String(u));
  });
}

describe('re-running a changed load', () => {
  it('loads the users it was planned with, and leaves the new ones to the next changed load', async () => {
    const lake = scratch.path('rerun-lake');
    const store = createLocalStore(lake);
    const [a, b, c] = USERS as [string, string, string];
    await receive(store, a, new Date('2026-12-01T08:00:00.000Z'));
    await receive(store, b, new Date('2026-12-01T08:01:00.000Z'));
    const first = await load([
      '--users',
      'changed',
      '--dest',
      lake,
      '--load-id',
      'first',
      '--resources',
      'accounts',
    ]);
    expect(first.code, first.stderr).toBe(0);
    expect(await usersOfLoad(lake, 'first')).toEqual([a, b].sort());

    // c changes after that load; then `first` is run again.
    await receive(store, c, new Date('2026-12-01T09:00:00.000Z'));
    // Not --quiet: the re-run says the load id is committed, and what it replaces.
    const again = await runCli(
      changedLoadArgv({ dest: lake, baseUrl: sim.url, resources: ['accounts'], loadId: 'first' }, [
        '--rate-limit',
        '10000',
      ]),
      ENV,
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(
      `load first is already committed in ${lake}: this run replaces it, with the webhook events it committed (events received since are left for the next load)`,
    );
    // The same users, still in the current state through `first`; c not loaded under that id.
    expect(await usersOfLoad(lake, 'first')).toEqual([a, b].sort());
    const marker = await readJson<LoadMarker>(store, loadMarkerKey('first'));
    expect(marker?.changed?.users.map((u) => u.identifier).sort()).toEqual([a, b].sort());
    // Where its users came from is the replaced load's record, not "2 users of 0 new events".
    const sources = {
      usersWithEvents: 2,
      eventsSelected: 2,
      eventsCommittedEarlier: 0,
      retriedUsers: 0,
      usersOnlyWithEventsCommittedEarlier: 0,
    };
    expect(JSON.parse(first.stdout).changedUsers).toEqual({ ...sources, eventsCommitted: 2 });
    expect(marker?.changed?.sources).toEqual(sources);
    const current = await withLake(lake, async (q) => {
      const { rows } = await q.query('SELECT DISTINCT user_identifier FROM current.accounts ORDER BY 1');
      return rows.map(([u]) => String(u));
    });
    expect(current).toEqual([a, b].sort());

    // c's event is still new to the schedule: the next changed load takes c, and only c.
    const next = await load([
      '--users',
      'changed',
      '--dest',
      lake,
      '--load-id',
      'second',
      '--resources',
      'accounts',
    ]);
    expect(next.code, next.stderr).toBe(0);
    expect(await usersOfLoad(lake, 'second')).toEqual([c]);
    // Each event committed once, by the load that first claimed it: c's event received after
    // `first` committed is not committed under `first` by its re-run, but by `second`.
    const events = await withLake(lake, async (q) => {
      const { rows } = await q.query(
        'SELECT _dlt_load_id, user_identifier FROM webhook_events ORDER BY 1, 2',
      );
      return rows.map(([load, user]) => [String(load), String(user)]);
    });
    expect(events).toEqual([...[a, b].sort().map((u) => ['first', u]), ['second', c]]);
  }, 60_000);

  it('refuses a users-list re-run of a committed changed load, leaving its users and their state alone', async () => {
    const lake = scratch.path('changed-then-list');
    const store = createLocalStore(lake);
    const [a, , , , , f] = USERS as string[];
    await receive(store, a!, new Date('2026-12-01T08:00:00.000Z'));
    const changed = await load([
      '--users',
      'changed',
      '--dest',
      lake,
      '--load-id',
      'evening',
      '--resources',
      'accounts',
    ]);
    expect(changed.code, changed.stderr).toBe(0);
    const before = await readJson<LoadMarker>(store, loadMarkerKey('evening'));
    const usersFile = await scratch.users('other.txt', [f!]);
    for (const flag of ['--load-id', '--resume']) {
      const run = await load([
        '--users',
        usersFile,
        '--dest',
        lake,
        flag,
        'evening',
        '--resources',
        'accounts',
      ]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `${flag}: load evening is a '${changedScheduleOf(['accounts'])}' changed load (1 user from webhook events)`,
      );
      expect(run.stderr).toContain('re-run it with --users changed');
    }
    expect(await readJson<LoadMarker>(store, loadMarkerKey('evening'))).toEqual(before);
    expect(await usersOfLoad(lake, 'evening')).toEqual([a]);
  }, 60_000);

  it('refuses a changed re-run of a load of a users list, which it cannot reproduce', async () => {
    const lake = scratch.path('list-lake');
    const store = createLocalStore(lake);
    const usersFile = await scratch.users('list.txt', [USERS[3]!]);
    const listed = await load([
      '--users',
      usersFile,
      '--dest',
      lake,
      '--load-id',
      'listed',
      '--resources',
      'accounts',
    ]);
    expect(listed.code, listed.stderr).toBe(0);
    await receive(store, USERS[4]!, new Date('2026-12-01T10:00:00.000Z'));
    const run = await load([
      '--users',
      'changed',
      '--dest',
      lake,
      '--load-id',
      'listed',
      '--resources',
      'accounts',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("--load-id: load listed was committed without a record of 'changed' users");
    expect(await usersOfLoad(lake, 'listed')).toEqual([USERS[3]!]);
  }, 60_000);

  it('a users-file load of a lake holding a damaged event object commits, naming it in its --json summary', async () => {
    const lake = scratch.path('damaged-lake');
    const store = createLocalStore(lake);
    await receive(store, USERS[1]!, new Date('2026-12-01T12:00:00.000Z'));
    const damaged = `_events/dt=2026-12-01/${'d'.repeat(64)}.json`;
    await store.put(damaged, '{"formatVersion":1,"event":');
    const usersFile = await scratch.users('damaged.txt', [USERS[0]!]);
    const run = await load([
      '--users',
      usersFile,
      '--dest',
      lake,
      '--load-id',
      'plain',
      '--resources',
      'accounts',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { unreadableEvents?: { key: string; problem: string }[] };
    expect(summary.unreadableEvents?.map((u) => u.key)).toEqual([damaged]);
    // The readable event's user was learned and loaded; the damaged object is still there.
    expect(await usersOfLoad(lake, 'plain')).toEqual([USERS[0]!, USERS[1]!].sort());
    expect(await store.get(damaged)).toBeDefined();
  }, 60_000);

  it('--users-from-failed of a changed load that fetched tasks uses the task ids its events named', async () => {
    const lake = scratch.path('failed-lake');
    const store = createLocalStore(lake);
    const [, , , , d, e] = USERS as [string, string, string, string, string, string];
    const failing = await startSimulator({
      seed: SEED,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      faults: { failUsers: [e] },
    });
    try {
      // The same changes in both worlds: `failing` answers 404 for e, `sim` (the retry's) does not.
      await receive(store, d, new Date('2026-12-01T11:00:00.000Z'), taskChange(d, [failing, sim]));
      await receive(store, e, new Date('2026-12-01T11:01:00.000Z'), taskChange(e, [failing, sim]));
      const run = await load(['--users', 'changed', '--dest', lake, '--load-id', 'tasks-run'], failing.url);
      expect(run.code, run.stderr).not.toBe(1);
      const marker = await readJson<LoadMarker>(store, loadMarkerKey('tasks-run'));
      expect(marker?.resources).toContain('tasks');
      expect(marker?.failedUsers).toEqual([e]);
    } finally {
      await failing.close();
    }
    const retry = await load(['--users-from-failed', 'tasks-run', '--dest', lake, '--load-id', 'retry']);
    expect(retry.code, retry.stderr).toBe(0);
    expect(await usersOfLoad(lake, 'retry')).toEqual([e]);
    const tasks = await withLake(lake, async (q) => {
      const { rows } = await q.query(
        `SELECT count(*) FROM user_loads WHERE _dlt_load_id = 'retry' AND resource = 'tasks' AND status = 'ok'`,
      );
      return Number(rows[0]![0]);
    });
    expect(tasks).toBeGreaterThan(0);
  }, 60_000);
});
