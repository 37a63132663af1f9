/**
 * An account that leaves while its history does not get loaded: a load of `--resources accounts`
 * after an unlink (what the disabled-endpoint message advises), a load in which the history
 * endpoint is found missing, and a load in which `account` (by id) is. Current state is per user
 * and resource, so each kept the account's committed history current while the account left
 * `current.accounts` (history without its account), or kept the account proven gone because a
 * sibling unit failed. Now parents proven gone always leave the load's parent rows, and the
 * current view shows a child row only while its parent is current (lake-views.ts): no history
 * row without its account, whatever the loads left out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '#simulator/server.ts';
import { AccountWorld, accountLake } from '#test/helpers/account-world.ts';
import { runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const BOTH = ['accounts', 'action_history'];

describe('child rows leave the current state with their parent', () => {
  let scratch: Scratch;
  let world: AccountWorld;

  beforeAll(async () => {
    world = await AccountWorld.create('parent-left-seed', 30);
    scratch = await Scratch.create('parent-left');
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  const load = async (server: Simulator, dest: string, loadId: string, resources: readonly string[]) => {
    const file = await scratch.users(`${loadId}-users.txt`, world.identifiers);
    return runLoad({ users: file, dest, baseUrl: server.url, resources, loadId }, world.env);
  };
  /** `user/_id` of each current account. */
  const accountIds = async (dest: string) =>
    (await accountLake(dest).accounts()).map((row) => (JSON.parse(row) as string[]).join('/'));
  /** `user/account` of each account the current history names. */
  const historyAccounts = async (dest: string) => [
    ...new Set(
      (await accountLake(dest).history()).map((row) => (JSON.parse(row) as string[]).slice(0, 2).join('/')),
    ),
  ];
  /** Every history row of load `l0` whose account is still among `accounts`. */
  const l0HistoryOf = async (dest: string, accounts: readonly string[]) => {
    const keep = new Set(accounts);
    return (await accountLake(dest).history('action_history', "_dlt_load_id = 'l0'")).filter((row) =>
      keep.has((JSON.parse(row) as string[]).slice(0, 2).join('/')),
    );
  };
  const currentHistory = (dest: string) => accountLake(dest).history();
  const orphans = (dest: string, table: string) => accountLake(dest).orphans(table);

  it('a --resources accounts load after an unlink: the account and its history leave together', async () => {
    const dest = scratch.path('accounts-only');
    const before = await world.simulator();
    try {
      const l0 = await load(before, dest, 'l0', BOTH);
      expect(l0.code, l0.stderr).toBe(0);
    } finally {
      await before.close();
    }
    const l0Accounts = await accountIds(dest);
    // Generation 1: accounts unlinked since (the world's own drift).
    const after = await world.simulator({ generation: 1 });
    try {
      const l1 = await load(after, dest, 'l1', ['accounts']);
      expect(l1.code, l1.stderr).toBe(0);
      const now = await accountIds(dest);
      const gone = l0Accounts.filter((a) => !now.includes(a));
      expect(gone.length, 'accounts unlinked between the generations').toBeGreaterThan(0);
      expect(await orphans(dest, 'action_history')).toBe(0);
      // The history kept current is load 0's, for the accounts still linked: none lost, none left over.
      expect(await currentHistory(dest)).toEqual(await l0HistoryOf(dest, now));
      for (const account of gone) expect(await historyAccounts(dest)).not.toContain(account);
      // A later full load agrees with a full reload into a lake of its own.
      const l2 = await load(after, dest, 'l2', BOTH);
      expect(l2.code, l2.stderr).toBe(0);
      const fresh = scratch.path('accounts-only-fresh');
      const full = await load(after, fresh, 'full', BOTH);
      expect(full.code, full.stderr).toBe(0);
      expect(await accountIds(dest)).toEqual(await accountIds(fresh));
      expect(await historyAccounts(dest)).toEqual(await historyAccounts(fresh));
    } finally {
      await after.close();
    }
  });

  /**
   * Load 0 of everybody, then load 1 of everybody from a world where `unlinking` users unlink
   * their first account right after its list is served and `route` answers 404 for everybody.
   */
  const missingRouteLoad = async (
    label: string,
    route: '/pay-link/action-history' | '/pay-link/accounts/{id}',
    resources: readonly string[],
  ) => {
    const dest = scratch.path(label);
    const before = await world.simulator();
    try {
      const l0 = await load(before, dest, 'l0', resources);
      expect(l0.code, l0.stderr).toBe(0);
    } finally {
      await before.close();
    }
    const unlinking = world.several().slice(0, 2);
    const gone = unlinking.map((id) => `${id}/${world.firstAccount(id)}`);
    const sim = await world.simulator({ unlinkMidLoad: unlinking, api: { missingRoutes: [route] } });
    try {
      const l1 = await load(sim, dest, 'l1', resources);
      return { dest, l1, unlinking, gone };
    } finally {
      await sim.close();
    }
  };

  it('the history endpoint found missing: the unlinked accounts leave with their committed history', async () => {
    expect(
      world.several().length,
      'two users of several accounts, the first with history',
    ).toBeGreaterThanOrEqual(2);
    const { dest, l1, unlinking, gone } = await missingRouteLoad(
      'history-missing',
      '/pay-link/action-history',
      BOTH,
    );
    // The endpoint finding (exit 4), every history unit endpoint_unavailable, nobody failed.
    expect(l1.code, l1.stderr).toBe(4);
    const units = await accountLake(dest).query(
      `SELECT user_identifier, status FROM user_loads WHERE _dlt_load_id = 'l1' AND resource = 'action_history' AND user_identifier IN (${unlinking.map((u) => `'${u}'`).join(', ')})`,
    );
    expect(units.map((u) => u.status)).toEqual(['endpoint_unavailable', 'endpoint_unavailable']);
    const now = await accountIds(dest);
    for (const account of gone) {
      expect(now).not.toContain(account);
      expect(await historyAccounts(dest)).not.toContain(account);
    }
    expect(await orphans(dest, 'action_history')).toBe(0);
    expect(await currentHistory(dest)).toEqual(await l0HistoryOf(dest, now));
  });

  it('account (by id) found missing: the unlinked accounts leave, accounts, account and history agree', async () => {
    const resources = ['accounts', 'account', 'action_history'];
    const { dest, l1, gone } = await missingRouteLoad(
      'account-missing',
      '/pay-link/accounts/{id}',
      resources,
    );
    expect(l1.code, l1.stderr).toBe(4);
    const now = await accountIds(dest);
    for (const account of gone) {
      expect(now).not.toContain(account);
      expect(await historyAccounts(dest)).not.toContain(account);
    }
    expect(await orphans(dest, 'action_history')).toBe(0);
    expect(await orphans(dest, 'account')).toBe(0);
    // History was loaded in load 1 (its endpoint works) for every account still linked.
    expect((await historyAccounts(dest)).every((a) => now.includes(a))).toBe(true);
  });
});
