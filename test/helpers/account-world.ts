/**
 * A seeded simulator world of users with accounts and their action history, for the tests of
 * accounts that leave or 404 while a load runs: what the world serves (the truth), the users of
 * the shapes those tests pick, simulators of that world with options, and readers of a local
 * lake's current accounts and history.
 */
import type { SimulatorOptions } from '#simulator/options.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers, type UserData } from '#simulator/world.ts';
import { credentialsEnv, type Env, queryObjects, withLake } from './lake-harness.ts';

export class AccountWorld {
  /** The credentials every simulator of this world takes (`runLoad`'s env). */
  readonly env: Env;
  readonly #truth: ReadonlyMap<string, UserData>;

  private constructor(
    readonly seed: string,
    readonly identifiers: readonly string[],
    truth: ReadonlyMap<string, UserData>,
  ) {
    this.env = credentialsEnv(`${seed}-key`, `${seed}-secret`);
    this.#truth = truth;
  }

  /** `count` users of the world `seed`, as a simulator of it serves them before any option. */
  static async create(seed: string, count: number): Promise<AccountWorld> {
    const identifiers = generateIdentifiers(seed, count);
    const world = new AccountWorld(seed, identifiers, new Map());
    const sim = await world.simulator();
    try {
      return new AccountWorld(seed, identifiers, new Map(identifiers.map((id) => [id, sim.served(id)])));
    } finally {
      await sim.close();
    }
  }

  /** A simulator of this world (each its own: options such as `unlinkMidLoad` hold per instance). */
  simulator(options: Omit<SimulatorOptions, 'seed' | 'apiKey' | 'apiSecret'> = {}): Promise<Simulator> {
    return startSimulator({
      ...options,
      seed: this.seed,
      apiKey: `${this.seed}-key`,
      apiSecret: `${this.seed}-secret`,
    });
  }

  /** What the world served `identifier` before any option changed it. */
  truth(identifier: string): UserData {
    const data = this.#truth.get(identifier);
    if (data === undefined) throw new Error(`${identifier} is not a user of world ${this.seed}`);
    return data;
  }

  /** The user's first account's `_id`: the one `unlinkMidLoad` and `historyNotFoundWhileListed` act on. */
  firstAccount(identifier: string): string {
    return this.truth(identifier).accounts[0]!._id;
  }

  /** Users of two or more accounts whose first has history (the others' history still loads). */
  several(): string[] {
    return this.identifiers.filter((id) => this.truth(id).accounts.length >= 2 && this.#firstHasHistory(id));
  }

  /** Users of exactly one account (`withHistory`: which has history). */
  single(withHistory = true): string[] {
    return this.identifiers.filter(
      (id) => this.truth(id).accounts.length === 1 && (!withHistory || this.#firstHasHistory(id)),
    );
  }

  #firstHasHistory(identifier: string): boolean {
    return (this.truth(identifier).actionHistory[this.firstAccount(identifier)] ?? []).length > 0;
  }
}

/** Readers of a local lake's accounts and history (each opens the lake, reads, closes it). */
export function accountLake(dest: string) {
  const query = (sql: string) => withLake(dest, (lake) => queryObjects(lake, sql));
  return {
    query,
    /** `[user, _id]` of each row of `from` (`current.accounts`, `accounts`), sorted, as JSON. */
    accounts: async (from = 'current.accounts', where = 'true') =>
      (await query(`SELECT user_identifier, _id FROM ${from} WHERE ${where} ORDER BY ALL`)).map((r) =>
        JSON.stringify([r.user_identifier, r._id]),
      ),
    /** `[user, account _id, entry _id]` of each row of `from`, sorted, as JSON. */
    history: async (from = 'current.action_history', where = 'true') =>
      (await query(`SELECT user_identifier, _accounts_id, _id FROM ${from} WHERE ${where} ORDER BY ALL`)).map(
        (r) => JSON.stringify([r.user_identifier, r._accounts_id, r._id]),
      ),
    /** Rows of a child's current view (`action_history`, `account`) whose account is not current. */
    orphans: async (table = 'action_history') =>
      (
        await query(
          `SELECT count(*) AS n FROM current.${table} h
           WHERE NOT EXISTS (SELECT 1 FROM current.accounts a
                             WHERE a.user_identifier = h.user_identifier AND a._id = h._accounts_id)`,
        )
      )[0]!.n,
  };
}
