/**
 * An account unlinked while a load runs: the user's account list names it, then its
 * `/pay-link/action-history?accountId=<id>` answers 404 "Account not found" (the simulator's
 * `unlinkMidLoad`, which models exactly that moment). Seen in `simulate --webhooks-to` as one
 * failed user in a load and exit 3 from a scheduled run with no real fault. The loader fetches
 * the user's account list again, which no longer names the account: the user is not failed,
 * their `action_history` unit is ok / `parent_not_found`, their other accounts' history is
 * loaded, and the current state drops the vanished account and its history at once (the load
 * leaves it out of its accounts rows too), while keeping everything else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '#simulator/server.ts';
import type { UserData } from '#simulator/world.ts';
import { AccountWorld, accountLake } from '#test/helpers/account-world.ts';
import { runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const RESOURCES = ['accounts', 'action_history'];

describe('an account unlinked between the account list and its action history', () => {
  let before: Simulator;
  let sim: Simulator;
  let scratch: Scratch;
  let dest: string;
  let usersFile: string;
  let world: AccountWorld;
  let identifiers: readonly string[];
  /** Unlinks one of several accounts: the others' history still loads. */
  let some: string;
  /** Unlinks their only account: the unit has nothing to load. */
  let only: string;

  beforeAll(async () => {
    world = await AccountWorld.create('unlinked-mid-load-seed', 12);
    identifiers = world.identifiers;
    // The same world twice: as it was before (load 0), and with the two users unlinking mid-load.
    before = await world.simulator();
    some = world.several()[0]!;
    only = world.single(false)[0]!;
    sim = await world.simulator({ unlinkMidLoad: [some, only] });
    scratch = await Scratch.create('unlinked-mid-load');
    dest = scratch.path('lake');
    // `only` first: their unit is judged before the endpoint has answered anybody, and settled after.
    usersFile = await scratch.users('users.txt', [only, ...identifiers.filter((id) => id !== only)]);
  });
  afterAll(async () => {
    await before?.close();
    await sim?.close();
    await scratch?.dispose();
  });

  /** Runs a load that must exit 0; the simulator's requests it took. */
  const load = async (server: Simulator, loadId: string) => {
    const before = server.stats().requests;
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: server.url, resources: RESOURCES, concurrency: 1, loadId },
      world.env,
    );
    expect(run.code, `load ${loadId} exit code (stderr: ${run.stderr})`).toBe(0);
    return server.stats().requests - before;
  };
  const query = (sql: string) => accountLake(dest).query(sql);
  /** `[user, account id]` of each action-history row, sorted. */
  const historyRows = async (from: string, where = 'true') =>
    (await accountLake(dest).history(from, where)).map((row) => JSON.stringify(JSON.parse(row).slice(0, 2)));
  const accountRows = (from: string, where = 'true') => accountLake(dest).accounts(from, where);
  /** The truth's rows, for users as `data` gives them. */
  const expectedHistory = (data: (id: string) => UserData) =>
    identifiers
      .flatMap((id) =>
        data(id).accounts.flatMap((a) =>
          (data(id).actionHistory[a._id] ?? []).map(() => JSON.stringify([id, a._id])),
        ),
      )
      .sort();
  const expectedAccounts = (data: (id: string) => UserData) =>
    identifiers.flatMap((id) => data(id).accounts.map((a) => JSON.stringify([id, a._id]))).sort();

  it('loads with exit 0, the users ok with parent_not_found, and the current state right before and after', async () => {
    expect(some, 'a user with two or more accounts in the sample').toBeDefined();
    expect(only, 'a user with one account in the sample').toBeDefined();
    const gone = new Map([some, only].map((id) => [id, world.truth(id).accounts[0]!._id]));

    // Load 0, before anything is unlinked: every account's history.
    const l0 = await load(before, 'l0');
    expect(await historyRows('current.action_history')).toEqual(expectedHistory((id) => world.truth(id)));

    // Load 1: the two accounts go right after their lists are served.
    const l1 = await load(sim, 'l1');
    // The same requests as load 0 (the gone accounts' history is asked for, and 404s), and one
    // more per affected user: the account list fetched again.
    expect(l1 - l0).toBe(2);
    const units = await query(
      `SELECT user_identifier, resource, status, rows, error_code, http_status, error_message FROM user_loads WHERE _dlt_load_id = 'l1' ORDER BY ALL`,
    );
    expect(
      units.filter((u) => u.status !== 'ok'),
      'no unit failed',
    ).toEqual([]);
    const history = (id: string) =>
      units.find((u) => u.user_identifier === id && u.resource === 'action_history')!;
    const kept = (id: string) => world.truth(id).accounts.filter((a) => a._id !== gone.get(id));
    expect(history(some)).toMatchObject({
      status: 'ok',
      error_code: 'parent_not_found',
      http_status: 404,
      rows: kept(some).reduce((n, a) => n + (world.truth(some).actionHistory[a._id] ?? []).length, 0),
    });
    expect(history(some).error_message).toContain(`(_id ${gone.get(some)})`);
    expect(history(only)).toMatchObject({
      status: 'ok',
      error_code: 'parent_not_found',
      http_status: 404,
      rows: 0,
    });
    expect(
      units.filter((u) => u.error_code !== null).map((u) => u.user_identifier),
      'nobody else has a code',
    ).toEqual([only, some].sort());

    // Load 1's rows: the accounts as the lists fetched again name them (the gone ones left out),
    // history without the gone ones.
    const served = (id: string) => sim.served(id);
    expect(await accountRows('accounts', "_dlt_load_id = 'l1'")).toEqual(expectedAccounts(served));
    expect(await historyRows('action_history', "_dlt_load_id = 'l1'")).toEqual(expectedHistory(served));
    // Current state: the gone accounts and their history are gone together (their units
    // succeeded, with nothing for them); everybody else's is load 1's.
    expect(await historyRows('current.action_history')).toEqual(expectedHistory(served));
    expect(await accountRows('current.accounts')).toEqual(expectedAccounts(served));

    // Load 2: the accounts are no longer listed; nothing changes in the current state.
    const l2 = await load(sim, 'l2');
    expect(l2, 'no 404 left, nothing fetched again').toBe(l1 - 2 - 2);
    expect(
      await query(
        `SELECT count(*) AS n FROM user_loads WHERE _dlt_load_id = 'l2' AND (status <> 'ok' OR error_code IS NOT NULL)`,
      ),
    ).toEqual([{ n: 0 }]);
    expect(await accountRows('current.accounts')).toEqual(expectedAccounts(served));
    expect(await historyRows('current.action_history')).toEqual(expectedHistory(served));
    for (const [id, account] of gone)
      expect(
        served(id).accounts.some((a) => a._id === account),
        `${id}'s account stays unlinked`,
      ).toBe(false);
  });
});
