/**
 * A small load (a `changed` load of a few users, say) in which users whose only account is
 * unlinked mid-load (the simulator's `unlinkMidLoad`) are the only ones asked for their
 * `action_history`: the history endpoint answers nobody in the load, as every request of it is a
 * 404 for an account gone since its list was served. Those 404s are explained by the account
 * list fetched again, so they are no evidence about the endpoint: each user's unit is ok /
 * `parent_not_found` at once. Before, the unit failed `http_404` (exit 3) while the account was
 * already left out of the load's accounts rows, so the current state held history rows of an
 * account it no longer had; with three such users the endpoint was reported missing (exit 4).
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers, type UserData } from '#simulator/world.ts';
import { credentialsEnv, queryObjects, runLoad, Scratch, withLake } from '#test/helpers/lake-harness.ts';

const SEED = 'only-account-unlinked-seed';
const API_KEY = 'only-unlinked-key';
const API_SECRET = 'only-unlinked-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const RESOURCES = ['accounts', 'action_history'];

describe('users whose only account is unlinked mid-load, alone in a load', () => {
  let before: Simulator;
  let scratch: Scratch;
  let identifiers: string[];
  /** Users with one account, which has history. */
  let single: string[];
  const truth = new Map<string, UserData>();

  beforeAll(async () => {
    identifiers = generateIdentifiers(SEED, 40);
    before = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    for (const id of identifiers) truth.set(id, before.served(id));
    single = identifiers.filter((id) => {
      const accounts = truth.get(id)!.accounts;
      return accounts.length === 1 && (truth.get(id)!.actionHistory[accounts[0]!._id] ?? []).length > 0;
    });
    scratch = await Scratch.create('only-account-unlinked');
  });
  afterAll(async () => {
    await before?.close();
    await scratch?.dispose();
  });

  const load = async (server: Simulator, dest: string, users: readonly string[], loadId: string) => {
    const file = await scratch.users(`${loadId}-users.txt`, users);
    return runLoad(
      { users: file, dest, baseUrl: server.url, resources: RESOURCES, concurrency: 1, loadId },
      ENV,
    );
  };
  const query = (dest: string, sql: string) => withLake(dest, (lake) => queryObjects(lake, sql));
  /** History rows of the current state whose account the current state does not have. */
  const orphans = async (dest: string) =>
    (
      await query(
        dest,
        `SELECT count(*) AS n FROM current.action_history h
         WHERE NOT EXISTS (SELECT 1 FROM current.accounts a
                           WHERE a.user_identifier = h.user_identifier AND a._id = h._accounts_id)`,
      )
    )[0]!.n;
  const current = async (dest: string) => ({
    accounts: (await query(dest, 'SELECT user_identifier, _id FROM current.accounts ORDER BY ALL')).map((r) =>
      JSON.stringify([r.user_identifier, r._id]),
    ),
    history: (
      await query(dest, 'SELECT user_identifier, _accounts_id, _id FROM current.action_history ORDER BY ALL')
    ).map((r) => JSON.stringify([r.user_identifier, r._accounts_id, r._id])),
  });

  /**
   * Load 0 of every user from the world as it was, then a load of `unlinking` only, each of
   * whom unlinks their only account right after the list is served: the second load's result.
   */
  const scenario = async (label: string, unlinking: readonly string[]) => {
    const dest = scratch.path(`${label}-lake`);
    const sim = await startSimulator({
      seed: SEED,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      unlinkMidLoad: [...unlinking],
    });
    try {
      const l0 = await load(before, dest, identifiers, 'l0');
      expect(l0.code, l0.stderr).toBe(0);
      for (const id of unlinking)
        expect((await current(dest)).history.some((row) => row.startsWith(`["${id}",`))).toBe(true);
      const l1 = await load(sim, dest, unlinking, 'l1');
      // A full load of everybody from the world as it is now, into a lake of its own.
      const fresh = scratch.path(`${label}-fresh`);
      const full = await load(sim, fresh, identifiers, 'full');
      expect(full.code, full.stderr).toBe(0);
      return { dest, l1, fresh };
    } finally {
      await sim.close();
    }
  };

  const expectLoaded = async (
    result: { dest: string; l1: { code: number; stderr: string }; fresh: string },
    unlinking: readonly string[],
  ) => {
    const { dest, l1, fresh } = result;
    expect(l1.code, `exit code (stderr: ${l1.stderr})`).toBe(0);
    const units = await query(
      dest,
      `SELECT user_identifier, resource, status, rows, error_code, http_status FROM user_loads WHERE _dlt_load_id = 'l1' ORDER BY ALL`,
    );
    expect(units.filter((u) => u.resource === 'action_history')).toEqual(
      [...unlinking].sort().map((id) => ({
        user_identifier: id,
        resource: 'action_history',
        status: 'ok',
        rows: 0,
        error_code: 'parent_not_found',
        http_status: 404,
      })),
    );
    expect(units.filter((u) => u.status !== 'ok')).toEqual([]);
    const report = JSON.parse(await readFile(`${dest}/_loads/l1.json`, 'utf8')) as {
      endpointFindings?: unknown[];
    };
    expect(report.endpointFindings ?? []).toEqual([]);
    expect(await orphans(dest)).toBe(0);
    // The current state is what a full load of the world as it is now gives.
    expect(await current(dest)).toEqual(await current(fresh));
    for (const id of unlinking)
      expect((await current(dest)).accounts.some((a) => a.startsWith(`["${id}",`))).toBe(false);
  };

  it('one user: exit 0, ok / parent_not_found, and no history left without its account', async () => {
    expect(single.length, 'a user with one account with history in the sample').toBeGreaterThanOrEqual(1);
    const one = single.slice(0, 1);
    await expectLoaded(await scenario('one', one), one);
  });

  it('three users: no endpoint finding (exit 0, not 4), every 404 explained by a parent gone', async () => {
    expect(single.length, 'three users with one account with history in the sample').toBeGreaterThanOrEqual(
      3,
    );
    const three = single.slice(0, 3);
    await expectLoaded(await scenario('three', three), three);
  });
});
