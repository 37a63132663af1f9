/**
 * A whole load against the simulator, checked against exactly what the simulator served:
 * row counts per table, values of a sample, lineage columns and the user_loads table.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LakeQuery } from '#cli/duckdb-lake.ts';
import { openLakeQuery } from '#cli/duckdb-lake.ts';
import type { LoadMarker } from '#core/commit.ts';
import type { JsonObject, JsonValue } from '#core/types.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers, type UserData } from '#simulator/world.ts';
import {
  billsOf,
  DEFAULT_RESOURCES,
  expectedTableCounts,
  recordsOf,
  rootRowsOf,
} from '#test/helpers/expected-rows.ts';
import {
  type CliRun,
  columnTypes,
  credentialsEnv,
  listFiles,
  queryObjects,
  runLoad,
  Scratch,
  tableCounts,
} from '#test/helpers/lake-harness.ts';

const SEED = 'values-seed';
const API_KEY = 'values-key';
const API_SECRET = 'values-secret';
const LOAD_ID = 'values-load-1';
const USERS = 40;

const sum = (ns: readonly number[]) => ns.reduce((a, b) => a + b, 0);
const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where a served value must land given the base column's DuckDB type (dlt's coercion rules). */
function landing(
  value: JsonValue | undefined,
  column: string,
  baseType: string,
): { column: string; value: unknown } | undefined {
  if (value === null || value === undefined) return undefined;
  const decimal = typeof value === 'string' && /^-?(?:0|[1-9]\d*)(?:\.\d+)?$/.test(value);
  const integral = typeof value === 'string' && /^-?(?:0|[1-9]\d{0,15})$/.test(value);
  switch (baseType) {
    case 'VARCHAR':
      return { column, value: String(value) };
    case 'DOUBLE':
      if (typeof value === 'number') return { column, value };
      if (decimal) return { column, value: Number(value) };
      return { column: `${column}__v_text`, value };
    case 'BIGINT':
      if (typeof value === 'number')
        return Number.isSafeInteger(value) ? { column, value } : { column: `${column}__v_double`, value };
      if (integral) return { column, value: Number(value) };
      return { column: `${column}__v_text`, value };
    default:
      throw new Error(`unexpected base type ${baseType} for ${column}`);
  }
}

describe('a load of 40 generated users into a local lake', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let lakeDir: string;
  let identifiers: string[];
  let served: UserData[];
  let run: CliRun;
  let lake: LakeQuery;

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    scratch = await Scratch.create('values');
    lakeDir = scratch.path('lake');
    identifiers = generateIdentifiers(SEED, USERS);
    // As an integrator's export may look: a BOM, CRLF line ends, a blank line, a duplicate.
    const users = await scratch.text(
      'users.txt',
      `\uFEFF${identifiers.join('\r\n')}\r\n\r\n${identifiers[0]}\r\n`,
    );
    // Batches of 7: six batches share one registry and one commit.
    run = await runLoad(
      { users, dest: lakeDir, baseUrl: sim.url, loadId: LOAD_ID, batchSize: 7, concurrency: 6 },
      credentialsEnv(API_KEY, API_SECRET),
    );
    served = identifiers.map((id) => sim.served(id));
    lake = await openLakeQuery(lakeDir);
  });
  afterAll(async () => {
    lake?.close();
    await sim?.close();
    await scratch?.dispose();
  });

  it('exits 0 and reports the load committed for every user', () => {
    expect(run.stderr, 'stderr of a clean load').toBe('');
    expect(run.code, 'exit code').toBe(0);
    expect(run.stdout).toContain(`Load ${LOAD_ID} committed to ${lakeDir}`);
    expect(run.stdout).toContain(`${USERS} users`);
    expect(
      identifiers.some((id) => /[^\x20-\x7e]/.test(id) && id.includes(' ')),
      'unusual ids',
    ).toBe(true);
  });

  it('writes, per table, exactly as many rows as the simulator served', async () => {
    const counts = await tableCounts(lake);
    const { user_loads: userLoads, ...dataCounts } = counts;
    expect(userLoads, 'user_loads rows').toBe(USERS * DEFAULT_RESOURCES.length);
    expect(dataCounts, 'rows per table: lake vs an independent walk of the served data').toEqual(
      expectedTableCounts(served),
    );

    // The main tables, spelled out.
    const accounts = served.flatMap((d) => d.accounts);
    const bills = accounts.flatMap(billsOf);
    const named: Record<string, number> = {
      accounts: accounts.length,
      accounts__bills: bills.length,
      accounts__bills__actions: sum(
        bills.map((b) => (isObject(b) && Array.isArray(b.actions) ? b.actions.length : 0)),
      ),
      accounts__actions: sum(accounts.map((a) => (Array.isArray(a.actions) ? a.actions.length : 0))),
      action_history: sum(served.map((d) => sum(d.accounts.map((a) => d.actionHistory[a._id]?.length ?? 0)))),
      orders: sum(served.map((d) => d.orders.length)),
      suggestions: sum(served.map((d) => d.suggestions.length)),
      recurring_financial_transactions: sum(served.map((d) => d.recurringFinancialTransactions.length)),
      financial_transactions_most_recent: served.filter((d) => d.mostRecentFinancialTransaction !== null)
        .length,
    };
    for (const [table, expected] of Object.entries(named)) {
      expect(expected, `served ${table} (the sample must exercise it)`).toBeGreaterThan(0);
      expect(counts[table], `rows in ${table}`).toBe(expected);
    }
    // `expenses` is read as `bills`: no separate table.
    expect(counts['accounts__expenses'], 'accounts__expenses must not exist').toBeUndefined();
    expect(
      accounts.some((a) => 'expenses' in a),
      'some account uses the legacy expenses key',
    ).toBe(true);
  });

  it("keeps each account's _id, company__name and user_identifier, Unicode identifiers included", async () => {
    const rows = await queryObjects(lake, 'SELECT user_identifier, _id, company__name FROM accounts');
    const actual = rows.map((r) => JSON.stringify([r.user_identifier, r._id, r.company__name])).sort();
    const expected = identifiers
      .flatMap((id, i) =>
        served[i]!.accounts.map((a) => JSON.stringify([id, a._id, (a.company as JsonObject).name])),
      )
      .sort();
    expect(actual).toEqual(expected);
    const loaded = new Set(
      (await queryObjects(lake, 'SELECT DISTINCT user_identifier FROM user_loads')).map(
        (r) => r.user_identifier,
      ),
    );
    expect([...loaded].sort(), 'every identifier, byte for byte').toEqual([...identifiers].sort());
  });

  it('puts every due amount in exactly one of due_amount and its variant columns', async () => {
    const types = await columnTypes(lake, 'accounts__bills');
    const dueColumns = Object.keys(types).filter((c) => c === 'due_amount' || c.startsWith('due_amount__v_'));
    expect(dueColumns, 'due_amount exists').toContain('due_amount');
    const select = dueColumns.map((c) => `b."${c}"`).join(', ');
    const rows = await queryObjects(
      lake,
      `SELECT a._id AS account, b._dlt_list_idx AS idx, ${select}
       FROM accounts__bills b JOIN accounts a ON b._dlt_parent_id = a._dlt_id`,
    );
    const byBill = new Map(rows.map((r) => [`${r.account}#${r.idx}`, r]));
    let checked = 0;
    for (const account of served.flatMap((d) => d.accounts)) {
      billsOf(account).forEach((bill, idx) => {
        const row = byBill.get(`${account._id}#${idx}`);
        expect(row, `bill ${idx} of account ${account._id}`).toBeDefined();
        const want = landing(isObject(bill) ? bill.dueAmount : undefined, 'due_amount', types.due_amount!);
        for (const column of dueColumns) {
          const expected = want?.column === column ? want.value : null;
          expect(row![column], `${column} of bill ${idx} of account ${account._id}`).toEqual(expected);
        }
        if (want) expect(dueColumns, `variant ${want.column} exists`).toContain(want.column);
        checked++;
      });
    }
    expect(checked, 'bills checked').toBe(rows.length);
  });

  it('stores timestamps as the same UTC instants the API sent', async () => {
    const billTypes = await columnTypes(lake, 'accounts__bills');
    expect(billTypes.due_date, 'due_date column type').toMatch(/^TIMESTAMP/);
    const dueDates = await queryObjects(
      lake,
      `SELECT a._id AS account, b._dlt_list_idx AS idx, b.due_date
       FROM accounts__bills b JOIN accounts a ON b._dlt_parent_id = a._dlt_id`,
    );
    const byBill = new Map(dueDates.map((r) => [`${r.account}#${r.idx}`, r.due_date]));
    let nonNull = 0;
    for (const account of served.flatMap((d) => d.accounts)) {
      billsOf(account).forEach((bill, idx) => {
        const sent = isObject(bill) ? bill.dueDate : null;
        const stored = byBill.get(`${account._id}#${idx}`);
        if (typeof sent === 'string') {
          nonNull++;
          expect(Date.parse(String(stored)), `due_date of bill ${idx} of ${account._id}`).toBe(
            Date.parse(sent),
          );
        } else {
          expect(stored, `null due_date of bill ${idx} of ${account._id}`).toBeNull();
        }
      });
    }
    expect(nonNull).toBeGreaterThan(0);

    const history = await queryObjects(lake, 'SELECT _id, requested_at FROM action_history');
    const requested = new Map(history.map((r) => [r._id, r.requested_at]));
    for (const entry of served.flatMap((d) => recordsOf(d).action_history)) {
      expect(Date.parse(String(requested.get(entry._id))), `requested_at of ${entry._id}`).toBe(
        Date.parse(String(entry.requestedAt)),
      );
    }
  });

  it('links every child row to its parent row by _dlt_parent_id, with unique _dlt_ids everywhere', async () => {
    for (const table of lake.tables()) {
      const [ids] = await queryObjects(
        lake,
        `SELECT count(*) AS n, count(DISTINCT _dlt_id) AS distinct_ids FROM "${table}"`,
      );
      expect(ids!.distinct_ids, `unique _dlt_id in ${table}`).toBe(ids!.n);
      if (!table.includes('__')) continue;
      const parent = table.slice(0, table.lastIndexOf('__'));
      const [orphans] = await queryObjects(
        lake,
        `SELECT count(*) AS n FROM "${table}" c LEFT JOIN "${parent}" p ON c._dlt_parent_id = p._dlt_id
         WHERE p._dlt_id IS NULL`,
      );
      expect(orphans!.n, `rows of ${table} without a parent in ${parent}`).toBe(0);
    }
    // And to the right parent: bills and actions per account match what was served.
    const perAccount = await queryObjects(
      lake,
      `SELECT a._id AS account,
              (SELECT count(*) FROM accounts__bills b WHERE b._dlt_parent_id = a._dlt_id) AS bills,
              (SELECT count(*) FROM accounts__actions x WHERE x._dlt_parent_id = a._dlt_id) AS actions
       FROM accounts a`,
    );
    const byAccount = new Map(perAccount.map((r) => [r.account, r]));
    for (const account of served.flatMap((d) => d.accounts)) {
      const row = byAccount.get(account._id);
      expect(row?.bills, `bills of ${account._id}`).toBe(billsOf(account).length);
      expect(row?.actions, `actions of ${account._id}`).toBe(
        Array.isArray(account.actions) ? account.actions.length : 0,
      );
    }
  });

  it('stamps every row, child rows included, with the load id', async () => {
    for (const table of lake.tables()) {
      const rows = await queryObjects(lake, `SELECT DISTINCT _dlt_load_id FROM "${table}"`);
      expect(
        rows.map((r) => r._dlt_load_id),
        `_dlt_load_id in ${table}`,
      ).toEqual([LOAD_ID]);
    }
  });

  it("records each action-history row's account in _accounts_id", async () => {
    const rows = await queryObjects(
      lake,
      'SELECT _id, account_id, _accounts_id, user_identifier FROM action_history',
    );
    const actual = rows.map((r) => JSON.stringify([r.user_identifier, r._accounts_id, r._id])).sort();
    const expected = identifiers
      .flatMap((id, i) =>
        served[i]!.accounts.flatMap((a) =>
          (served[i]!.actionHistory[a._id] ?? []).map((e) => JSON.stringify([id, a._id, e._id])),
        ),
      )
      .sort();
    expect(actual).toEqual(expected);
    for (const r of rows) expect(r._accounts_id, `_accounts_id of ${r._id}`).toBe(r.account_id);
  });

  it('has one ok user_loads row per user and resource, with the served root row count', async () => {
    const rows = await queryObjects(
      lake,
      'SELECT user_identifier, resource, status, rows, error_code FROM user_loads',
    );
    const actual = rows
      .map((r) => JSON.stringify([r.user_identifier, r.resource, r.status, r.rows, r.error_code]))
      .sort();
    const expected = identifiers
      .flatMap((id, i) => {
        const rootRows = rootRowsOf(served[i]!);
        return DEFAULT_RESOURCES.map((res) => JSON.stringify([id, res, 'ok', rootRows[res], null]));
      })
      .sort();
    expect(actual).toEqual(expected);
  });

  it('writes a load marker whose row counts are the rows in the lake', async () => {
    const marker = JSON.parse(
      await readFile(join(lakeDir, '_loads', `${LOAD_ID}.json`), 'utf8'),
    ) as LoadMarker;
    expect(marker).toMatchObject({ loadId: LOAD_ID, users: USERS, failedUserCount: 0, missingBatches: [] });
    expect(marker.rowsByTable).toEqual(await tableCounts(lake));
    expect(marker.resources).toEqual([...DEFAULT_RESOURCES]);
  });

  it('leaves only table parts, the schema and the load marker behind', async () => {
    const files = await listFiles(lakeDir);
    const other = files.filter(
      (f) =>
        !/^[a-z_]+\/dt=\d{4}-\d{2}-\d{2}\/values-load-1\.\d{5}\.\d{4}\.parquet$/.test(f) &&
        !f.startsWith('_schema/'),
    );
    expect(other, 'files besides parts and schema').toEqual([
      `_dlt_loads/${LOAD_ID}.parquet`,
      `_loads/${LOAD_ID}.json`,
    ]);
  });
});
