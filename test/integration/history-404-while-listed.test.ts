/**
 * PayLink answers 404 for an account's history while it goes on listing the account (the
 * simulator's `historyNotFoundWhileListed`: no history yet, or a transient miss). That 404 is no
 * proof the account left: the loader fetches the user's account list again, finds the account
 * still on it, and fails the user's `action_history` unit (`child_not_found`), so the history
 * committed before stays in the current state and the next load tries again. Taking the 404 as
 * the account's leaving (`parent_not_found`, as before) dropped that history from the current
 * state: the comparison of the current state before and after the load below shows it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '#simulator/server.ts';
import { AccountWorld, accountLake } from '#test/helpers/account-world.ts';
import { runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const RESOURCES = ['accounts', 'action_history'];

describe('an account whose history answers 404 while the account is still listed', () => {
  let clean: Simulator;
  let sim: Simulator;
  let scratch: Scratch;
  let dest: string;
  let usersFile: string;
  let world: AccountWorld;
  /** Several accounts, the first with history: the others' history answers. */
  let some: string;
  /** One account, with history: every request of the unit 404s. */
  let only: string;

  beforeAll(async () => {
    world = await AccountWorld.create('history-404-listed-seed', 16);
    clean = await world.simulator();
    some = world.several()[0]!;
    only = world.single()[0]!;
    sim = await world.simulator({ historyNotFoundWhileListed: [some, only] });
    scratch = await Scratch.create('history-404-listed');
    dest = scratch.path('lake');
    // `only` first: its unit is judged before the endpoint has answered anybody, settled after.
    usersFile = await scratch.users('users.txt', [only, ...world.identifiers.filter((id) => id !== only)]);
  });
  afterAll(async () => {
    await clean?.close();
    await sim?.close();
    await scratch?.dispose();
  });

  /** Runs a load; its exit code and the simulator's requests it took. */
  const load = async (server: Simulator, loadId: string) => {
    const before = server.stats().requests;
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: server.url, resources: RESOURCES, concurrency: 1, loadId },
      world.env,
    );
    return { code: run.code, stderr: run.stderr, requests: server.stats().requests - before };
  };
  const query = (sql: string) => accountLake(dest).query(sql);
  /** `[user, account id, entry id]` of each history row of the current state, sorted. */
  const currentHistory = () => accountLake(dest).history();
  const currentAccounts = () => accountLake(dest).accounts();
  const expectedHistory = () =>
    world.identifiers
      .flatMap((id) =>
        world
          .truth(id)
          .accounts.flatMap((a) =>
            (world.truth(id).actionHistory[a._id] ?? []).map((h) => JSON.stringify([id, a._id, h._id])),
          ),
      )
      .sort();

  it('keeps the committed history in the current state, fails the two users child_not_found, and costs one request per user', async () => {
    expect(some, 'a user with two or more accounts in the sample').toBeDefined();
    expect(only, 'a user with one account in the sample').toBeDefined();
    const first = (id: string) => world.firstAccount(id);

    // Load 0: PayLink serves every account's history.
    const l0 = await load(clean, 'l0');
    expect(l0.code, l0.stderr).toBe(0);
    const historyBefore = await currentHistory();
    const accountsBefore = await currentAccounts();
    expect(historyBefore).toEqual(expectedHistory());
    for (const id of [some, only])
      expect(historyBefore.some((row) => row.startsWith(JSON.stringify([id, first(id)]).slice(0, -1)))).toBe(
        true,
      );

    // Load 1: the two first accounts' history answers 404, the accounts still listed.
    const l1 = await load(sim, 'l1');
    // The current state is as before: nothing committed left it.
    expect(await currentHistory()).toEqual(historyBefore);
    expect(await currentAccounts()).toEqual(accountsBefore);
    expect(l1.code, `exit 3: two users failed (stderr: ${l1.stderr})`).toBe(3);
    const units = await query(
      `SELECT user_identifier, resource, status, rows, error_code, http_status, error_message FROM user_loads WHERE _dlt_load_id = 'l1' ORDER BY ALL`,
    );
    expect(
      units
        .filter((u) => u.status !== 'ok' || u.error_code !== null)
        .map((u) => [u.user_identifier, u.resource]),
    ).toEqual([only, some].sort().map((id) => [id, 'action_history']));
    for (const id of [some, only]) {
      const unit = units.find((u) => u.user_identifier === id && u.resource === 'action_history')!;
      expect(unit).toMatchObject({
        status: 'failed',
        rows: 0,
        error_code: 'child_not_found',
        http_status: 404,
      });
      expect(unit.error_message).toContain(
        `at /pay-link/action-history for 1 accounts record(s) (_id ${first(id)})`,
      );
    }
    // The same load without the 404s (load 0) made one request fewer per affected user: the
    // account list fetched again.
    expect(l1.requests - l0.requests).toBe(2);

    // Load 2: PayLink serves the history again; the users load as anybody else.
    const l2 = await load(clean, 'l2');
    expect(l2.code, l2.stderr).toBe(0);
    expect(l2.requests).toBe(l0.requests);
    expect(await currentHistory()).toEqual(expectedHistory());
  });
});
