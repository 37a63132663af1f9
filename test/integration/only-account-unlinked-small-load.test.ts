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
import type { Simulator } from '#simulator/server.ts';
import { AccountWorld, accountLake } from '#test/helpers/account-world.ts';
import { runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const RESOURCES = ['accounts', 'action_history'];

describe('users whose only account is unlinked mid-load, alone in a load', () => {
  let before: Simulator;
  let scratch: Scratch;
  let world: AccountWorld;
  /** Users with one account, which has history. */
  let single: string[];

  beforeAll(async () => {
    world = await AccountWorld.create('only-account-unlinked-seed', 40);
    before = await world.simulator();
    single = world.single();
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
      world.env,
    );
  };
  const query = (dest: string, sql: string) => accountLake(dest).query(sql);
  const orphans = (dest: string) => accountLake(dest).orphans();
  const current = async (dest: string) => ({
    accounts: await accountLake(dest).accounts(),
    history: await accountLake(dest).history(),
  });

  /**
   * Load 0 of every user from the world as it was, then a load of `unlinking` only, each of
   * whom unlinks their only account right after the list is served: the second load's result.
   */
  const scenario = async (label: string, unlinking: readonly string[]) => {
    const dest = scratch.path(`${label}-lake`);
    const sim = await world.simulator({ unlinkMidLoad: [...unlinking] });
    try {
      const l0 = await load(before, dest, world.identifiers, 'l0');
      expect(l0.code, l0.stderr).toBe(0);
      for (const id of unlinking)
        expect((await current(dest)).history.some((row) => row.startsWith(`["${id}",`))).toBe(true);
      const l1 = await load(sim, dest, unlinking, 'l1');
      // A full load of everybody from the world as it is now, into a lake of its own.
      const fresh = scratch.path(`${label}-fresh`);
      const full = await load(sim, fresh, world.identifiers, 'full');
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
