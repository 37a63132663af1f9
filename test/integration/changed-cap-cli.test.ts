/**
 * `load --users changed --max-users-per-run`: a backlog larger than the cap is loaded over
 * several runs, each committing. 50 users change at once; with a cap of 20 three runs load 20, 20
 * and 10 users, the users whose events came first first; each says how many users and events it
 * left for the next; every event is committed exactly once in `webhook_events`; `verify` finds
 * nothing wrong between runs (the left events are pending, not lost); and the current state is
 * what a full load of the 50 users gives.
 */
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { credentialsEnv, runCli, Scratch } from '#test/helpers/lake-harness.ts';
import { receiveSimulatedChange } from '#test/helpers/signed-webhook.ts';

const ENV = credentialsEnv('k', 's');
const USERS = Array.from({ length: 50 }, (_, i) => `capped-${String(i).padStart(2, '0')}`);
/** The order the events arrive in: not the identifiers' order, so FIFO is not alphabetical. */
const ARRIVAL = [...USERS].reverse();
const START = new Date('2026-12-01T08:00:00.000Z');

let scratch: Scratch;
let sim: Simulator;
beforeAll(async () => {
  scratch = await Scratch.create('changed-cap-cli');
  sim = await startSimulator({ seed: 'changed-cap', apiKey: 'k', apiSecret: 's' });
});
afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

async function query(lake: string, sql: string): Promise<Record<string, unknown>[]> {
  const run = await runCli(['query', '--dest', lake, '--format', 'json', sql]);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('load --users changed --max-users-per-run', () => {
  it('loads a backlog of 50 users 20, 20 and 10 at a time, oldest events first, each event committed once', async () => {
    const lake = scratch.path('lake');
    await mkdir(lake);
    const store = createLocalStore(lake);
    for (const [i, identifier] of ARRIVAL.entries()) {
      const at = new Date(START.getTime() + i * 1000);
      const stored = await receiveSimulatedChange(sim, identifier, at, { store, secret: 's' });
      expect(stored.kind).toBe('accepted');
    }
    const base = ['--dest', lake, '--base-url', sim.url, '--resources', 'accounts', '--rate-limit', '2000'];
    const capped = ['load', '--users', 'changed', ...base, '--max-users-per-run', '20', '--json'];

    const runs: { users: number; deferred: unknown; loadId: string; stderr: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await runCli(capped, ENV);
      expect(run.code, run.stderr).toBe(0);
      const summary = JSON.parse(run.stdout);
      runs.push({
        users: summary.users,
        deferred: summary.changedUsersDeferred,
        loadId: summary.loadId,
        stderr: run.stderr,
      });
      // The events left for the next run are pending, not a problem: verify and status agree.
      const verify = await runCli(['verify', '--dest', lake]);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      const status = await runCli(['status', '--dest', lake, '--fail-on-signals']);
      expect(status.code, status.stdout + status.stderr).toBe(0);
      expect(status.stderr).not.toMatch(/event/i);
    }
    expect(runs.map((r) => [r.users, r.deferred])).toEqual([
      [20, { users: 30, events: 30 }],
      [20, { users: 10, events: 10 }],
      [10, undefined],
    ]);
    expect(runs[0]!.stderr).toContain(
      '--max-users-per-run 20: 30 more user(s) with 30 new webhook event(s) left for the next changed load',
    );
    // Nothing left: the next run has nothing to load.
    const idle = await runCli(capped, ENV);
    expect(idle.code, idle.stderr).toBe(0);
    expect(idle.stderr).toContain('nothing to load');

    // First in, first out: each run took the next 20 users by their event's arrival.
    for (const [i, run] of runs.entries()) {
      const loaded = await query(
        lake,
        `SELECT DISTINCT user_identifier FROM user_loads WHERE _dlt_load_id = '${run.loadId}' ORDER BY 1`,
      );
      expect(loaded.map((r) => r.user_identifier)).toEqual(ARRIVAL.slice(i * 20, i * 20 + 20).sort());
    }
    // Every event committed exactly once, with the load that loaded its user.
    const events = await query(
      lake,
      'SELECT w.event_key, count(*) AS n, min(w._dlt_load_id) AS load, min(w.user_identifier) AS who FROM webhook_events w GROUP BY 1 ORDER BY 1',
    );
    expect(events).toHaveLength(50);
    expect(events.every((e) => Number(e.n) === 1)).toBe(true);
    const loadOf = new Map(
      runs.flatMap((r, i) => ARRIVAL.slice(i * 20, i * 20 + 20).map((u) => [u, r.loadId])),
    );
    for (const e of events) expect(e.load).toBe(loadOf.get(String(e.who)));

    // The current state is what a full load of the 50 users gives.
    const state = `SELECT * EXCLUDE (_dlt_load_id, _dlt_id) FROM current.accounts ORDER BY ALL`;
    const afterCapped = await query(lake, state);
    // Most of the 50 have linked accounts (a change can unlink a user's last one).
    expect(new Set(afterCapped.map((r) => r.user_identifier)).size).toBeGreaterThan(40);
    const usersFile = await scratch.users('users.txt', USERS);
    const full = await runCli(['load', '--users', usersFile, ...base, '--json'], ENV);
    expect(full.code, full.stderr).toBe(0);
    expect(JSON.parse(full.stdout).users).toBe(50);
    expect(await query(lake, state)).toEqual(afterCapped);
  }, 180_000);

  it('refuses the flag without --users changed, and a value out of range, naming it', async () => {
    const usersFile = await scratch.users('one.txt', ['a']);
    const args = ['load', '--dest', scratch.path('lake2'), '--base-url', 'http://127.0.0.1:9'];
    const list = await runCli([...args, '--users', usersFile, '--max-users-per-run', '5'], ENV);
    expect(list.code).toBe(1);
    expect(list.stderr).toContain('--max-users-per-run: only applies to --users changed');
    const zero = await runCli([...args, '--users', 'changed', '--max-users-per-run', '0'], ENV);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain('--max-users-per-run');
    expect(zero.stderr).toContain('a whole number of users from 1 to 10000000');
  });
});
