/**
 * The lake across many loads: three loads of the same users with the source changing between
 * them (accounts unlinked, bills ended, one user failing in the last load). The history layer
 * must hold every committed load's rows exactly once, the current layer each user's last good
 * state, and every SQL example of the README must return what the simulator's truth says.
 */
import { readFile } from 'node:fs/promises';
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { LakeQuery } from '#cli/duckdb-lake.ts';
import { openLakeQuery } from '#cli/duckdb-lake.ts';
import { lakeDatabases, lakeViews } from '#core/glue-view.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { rootTableOf } from '#core/lake-views.ts';
import type { JsonObject } from '#core/types.ts';
import { startSimulator } from '#simulator/server.ts';
import { generateIdentifiers, type UserData, userData } from '#simulator/world.ts';
import { addCounts, billsOf, DEFAULT_RESOURCES, expectedTableCounts } from '#test/helpers/expected-rows.ts';
import { credentialsEnv, runLoad, Scratch, tableCounts } from '#test/helpers/lake-harness.ts';

const SEED = 'layers';
const API_KEY = 'layers-key';
const API_SECRET = 'layers-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const USERS = generateIdentifiers(SEED, 30);
/** Load ids that sort as text in the opposite order of their loads: order comes from start times. */
const LOADS = ['c-first', 'b-second', 'a-third'] as const;

/** Every ```sql block and every `paylink-loader query ... "<sql>"` line of the README, by name. */
async function readmeQueries(): Promise<Map<string, string>> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const queries = new Map<string, string>();
  for (const [, body] of readme.matchAll(/```sql\n([\s\S]*?)```/g)) {
    const name = /^-- name: (\S+)/m.exec(body!)?.[1];
    if (name === undefined) throw new Error(`README SQL block without a "-- name:" line:\n${body}`);
    queries.set(name, body!);
  }
  for (const [index, [, sql]] of [
    ...readme.matchAll(/paylink-loader query --dest \S+ "([^"]+)"/g),
  ].entries()) {
    queries.set(`cli-${index}`, sql!);
  }
  return queries;
}

const sortRows = (rows: unknown[][]) => rows.map((r) => JSON.stringify(r)).sort();

describe('three loads with changes at the source between them', () => {
  let scratch: Scratch;
  let lake: LakeQuery;
  let failing: string;
  /** What each load served, per user (the failing user served nothing in the last load). */
  const served: Map<string, UserData>[] = [];
  /** Each user's truth now: the last load in which they succeeded. */
  const current = new Map<string, UserData>();

  beforeAll(async () => {
    scratch = await Scratch.create('layers');
    const generations = [0, 1, 2].map((g) => new Map(USERS.map((u) => [u, userData(SEED, u, g)])));
    // The user failing in the last load: one whose data changed then, so a stale state shows.
    failing =
      USERS.find((u) => JSON.stringify(generations[1]!.get(u)) !== JSON.stringify(generations[2]!.get(u))) ??
      USERS[0]!;
    const usersFile = await scratch.users('users.txt', USERS);
    const dest = scratch.path('lake');
    for (const [g, loadId] of LOADS.entries()) {
      const failUsers = g === 2 ? [failing] : [];
      const sim = await startSimulator({
        seed: SEED,
        apiKey: API_KEY,
        apiSecret: API_SECRET,
        generation: g,
        faults: { failUsers },
      });
      try {
        const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, loadId }, ENV);
        expect(run.code, `load ${loadId} (stderr: ${run.stderr})`).toBe(g === 2 ? 3 : 0);
      } finally {
        await sim.close();
      }
      served.push(new Map([...generations[g]!].filter(([u]) => !failUsers.includes(u))));
      for (const [u, data] of served[g]!) current.set(u, data);
    }
    lake = await openLakeQuery(dest);
  }, 120_000);
  afterAll(async () => {
    lake?.close();
    await scratch?.dispose();
  });

  const rows = async (sql: string) => (await lake.query(sql)).rows;
  const dataTables = () => lake.tables().filter((t) => t !== 'user_loads');

  it('has real changes to check: accounts unlinked and bills ended between loads', () => {
    const accountIds = (d: UserData) => d.accounts.map((a) => a._id);
    const bills = (d: UserData) => d.accounts.reduce((n, a) => n + billsOf(a).length, 0);
    const unlinked = USERS.filter(
      (u) => accountIds(served[1]!.get(u)!).length < accountIds(served[0]!.get(u)!).length,
    );
    const ended = USERS.filter(
      (u) => served[2]!.has(u) && bills(served[2]!.get(u)!) < bills(served[1]!.get(u)!),
    );
    expect(unlinked.length).toBeGreaterThan(0);
    expect(ended.length).toBeGreaterThan(0);
    expect(current.get(failing)).toBe(served[1]!.get(failing));
  });

  it('history holds every committed load, each row once: counts are the sum of the loads', async () => {
    const expected = addCounts(...served.map((s) => expectedTableCounts([...s.values()])));
    const counts = await tableCounts(lake);
    delete counts.user_loads;
    expect(counts).toEqual(expected);
    // 3 loads x 30 users x 6 resources outcomes, each once.
    expect(await rows('SELECT count(*), count(DISTINCT _dlt_id) FROM user_loads')).toEqual([
      [3 * USERS.length * DEFAULT_RESOURCES.length, 3 * USERS.length * DEFAULT_RESOURCES.length],
    ]);
  });

  it('joins children to parents within their own load only: no multiplication across loads', async () => {
    const [[joined]] = (await rows(
      'SELECT count(*) FROM accounts a JOIN accounts__bills b ON b._dlt_parent_id = a._dlt_id',
    )) as [[number]];
    expect(joined).toBe(expectedTableCounts(served.flatMap((s) => [...s.values()])).accounts__bills);
    for (const table of dataTables()) {
      const [[shared]] = (await rows(
        `SELECT count(*) FROM (SELECT _dlt_id FROM "${table}" GROUP BY _dlt_id HAVING count(DISTINCT _dlt_load_id) > 1)`,
      )) as [[number]];
      expect(shared, `${table}: ids shared by two loads`).toBe(0);
    }
  });

  it('current state is each user’s last good load, children following their root', async () => {
    const expected = expectedTableCounts([...current.values()]);
    const counts: Record<string, number> = {};
    for (const table of dataTables()) {
      const [[n]] = (await rows(`SELECT count(*) FROM current."${table}"`)) as [[number]];
      if (n > 0) counts[table] = n;
    }
    expect(counts).toEqual(expected);
    const loadsOf = await rows(
      `SELECT DISTINCT user_identifier, _dlt_load_id FROM current.accounts__bills ORDER BY 1`,
    );
    for (const [user, loadId] of loadsOf) {
      expect(loadId, `${user}'s current bills`).toBe(user === failing ? 'b-second' : 'a-third');
    }
  });

  describe('the Athena views (Glue VIRTUAL_VIEWs the commit keeps)', () => {
    const databases = lakeDatabases('paylink');
    const trino = new TrinoSQL();

    it('parse as Trino SQL (Athena engine 3) and return in DuckDB exactly what the local views return', async () => {
      const registry = await readCommittedSchema(createLocalStore(scratch.path('lake')));
      // The same raw files, under the name the views use in Athena.
      await lake.query(`CREATE SCHEMA IF NOT EXISTS "${databases.raw}"`);
      let checked = 0;
      for (const table of registry.tables()) {
        await lake.query(
          `CREATE OR REPLACE VIEW "${databases.raw}"."${table}" AS SELECT * FROM raw."${table}"`,
        );
      }
      for (const table of registry.tables()) {
        const parent = registry.fanOutParent(rootTableOf(table));
        for (const view of lakeViews(databases, table, registry.columns(table), parent)) {
          expect(trino.validate(view.sql), `${view.database}.${table} in Trino grammar`).toEqual([]);
          const local = view.database === databases.current ? `current."${table}"` : `"${table}"`;
          const athena = await rows(`SELECT * FROM (${view.sql}) ORDER BY ALL`);
          expect(athena, `${view.database}.${table} = ${local}`).toEqual(
            await rows(`SELECT * FROM ${local} ORDER BY ALL`),
          );
          checked++;
        }
      }
      expect(checked).toBe(2 * registry.tables().length - 1);
      // action_history's current view is the one with a parent (its rows name their account).
      expect(registry.fanOutParent('action_history')).toEqual({
        parentTable: 'accounts',
        parentColumns: ['_id'],
        childColumn: '_accounts_id',
      });
    });

    it('record their SQL and typed columns in the Presto view format Athena reads', async () => {
      const registry = await readCommittedSchema(createLocalStore(scratch.path('lake')));
      const [history, current] = lakeViews(databases, 'accounts', registry.columns('accounts'));
      const text = /^\/\* Presto View: (.+) \*\/$/.exec(current!.input.ViewOriginalText)![1]!;
      const presto = JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
      expect(presto.originalSql).toBe(current!.sql);
      expect(presto.schema).toBe('paylink_current');
      expect(presto.columns.at(-1)).toEqual({ name: 'dt', type: 'varchar' });
      expect(current!.input.StorageDescriptor.Columns.map((c) => c.Name)).toEqual(
        presto.columns.map((c: { name: string }) => c.name),
      );
      expect(history!.database).toBe('paylink');
      expect(history!.sql).toContain('FROM "paylink_raw"."_dlt_loads"');
    });
  });

  describe('every SQL example of the README', () => {
    let queries: Map<string, string>;
    beforeAll(async () => {
      queries = await readmeQueries();
    });
    const run = (name: string) => {
      const sql = queries.get(name);
      if (sql === undefined) throw new Error(`README has no query named ${name}`);
      return rows(sql);
    };

    const truthAccounts = () =>
      [...current].flatMap(([user, data]) => data.accounts.map((a) => ({ user, account: a })));
    const companyName = (a: JsonObject) =>
      ((a.company as JsonObject | undefined)?.name ?? null) as string | null;

    const ASSERTIONS: Record<string, () => Promise<void>> = {
      'current-accounts': async () => {
        const expected = truthAccounts().map(({ user, account }) => [
          user,
          account._id,
          companyName(account),
        ]);
        expect(sortRows(await run('current-accounts'))).toEqual(sortRows(expected));
      },
      'current-bills': async () => {
        const result = await run('current-bills');
        const expected = truthAccounts().flatMap(({ user, account }) =>
          billsOf(account).map((b) => [user, account._id, (b as JsonObject).name ?? null]),
        );
        expect(sortRows(result.map((r) => r.slice(0, 3)))).toEqual(sortRows(expected));
      },
      loads: async () => {
        const result = await run('loads');
        expect(result.map((r) => r[0])).toEqual([...LOADS]);
        expect(result.map((r) => [r[2], r[3], r[4]])).toEqual(
          served.map((s, g) => [
            USERS.length,
            g === 2 ? 1 : 0,
            [...s.values()].reduce((n, d) => n + d.accounts.length, 0),
          ]),
        );
      },
      'loads-to-read': async () => {
        // The loads not yet processed (all but the first), in the order they committed.
        const result = await run('loads-to-read');
        expect(result.map((r) => r[0])).toEqual(LOADS.slice(1));
        const committed = result.map((r) => new Date(r[1] as string).getTime());
        expect(committed).toEqual([...committed].sort((a, b) => a - b));
      },
      'account-history': async () => {
        const result = await run('account-history');
        const expected = served.flatMap((s) =>
          [...s].flatMap(([user, data]) => data.accounts.map((a) => [user, a._id, billsOf(a).length])),
        );
        expect(sortRows(result.map((r) => [r[0], r[1], r[3]]))).toEqual(sortRows(expected));
        // One row per (account, load): an unlinked account's rows stop at the load before.
        expect(new Set(result.map((r) => JSON.stringify(r.slice(0, 3)))).size).toBe(result.length);
      },
      'latest-failures': async () => {
        const expected = DEFAULT_RESOURCES.map((resource) => [
          resource,
          resource === 'action_history' ? 'parent_failed' : 'http_404',
          1,
        ]);
        expect(sortRows(await run('latest-failures'))).toEqual(sortRows(expected));
      },
      'stale-users': async () => {
        const result = await run('stale-users');
        expect(result.map((r) => r[0])).toEqual(DEFAULT_RESOURCES.map(() => failing));
        expect(result.map((r) => r[1]).sort()).toEqual([...DEFAULT_RESOURCES].sort());
      },
      'cli-0': async () => {
        const byCompany = new Map<string | null, number>();
        for (const { account } of truthAccounts())
          byCompany.set(companyName(account), (byCompany.get(companyName(account)) ?? 0) + 1);
        expect(sortRows(await run('cli-0'))).toEqual(sortRows([...byCompany]));
      },
    };

    it('are all asserted here (a new README query needs an assertion)', () => {
      expect([...queries.keys()].sort()).toEqual(Object.keys(ASSERTIONS).sort());
    });

    it('parse as Trino SQL too, with current. as the <database>_current database', () => {
      const trino = new TrinoSQL();
      for (const [name, sql] of queries) {
        const athena = sql.replaceAll('current.', 'paylink_current.').replace(/;\s*$/, '');
        expect(trino.validate(athena), name).toEqual([]);
      }
    });

    for (const [name, assert] of Object.entries(ASSERTIONS)) {
      it(`${name} returns the simulator's truth`, assert);
    }
  });
});
