/**
 * The seven silent faults of issue 8, replayed with small PayLink-shaped bodies through the
 * whole loader (HTTP body parse, normalizer, registry, Parquet, commit) and read back with
 * DuckDB, each with the value that must come out.
 */
import { readFile } from 'node:fs/promises';
import { GlueClient } from '@aws-sdk/client-glue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGlueCatalog } from '#adapters/glue-catalog.ts';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { commitLoad, type LoadMarker } from '#core/commit.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { parseJsonBody } from '#core/json-body.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { loadBatch } from '#core/load-batch.ts';
import { NumberLiteral } from '#core/number-literal.ts';
import { planLoad, readBatchUsers, readPlan } from '#core/plan.ts';
import type { PayLinkApi } from '#core/ports.ts';
import { MAX_TABLE_COLUMNS } from '#core/schema-registry.ts';
import type { JsonValue } from '#core/types.ts';
import { type FakeGlue, startFakeGlue } from '#test/helpers/fake-glue.ts';
import { type FixedPayLink, startFixedPayLink } from '#test/helpers/fixed-paylink.ts';
import {
  credentialsEnv,
  queryObjects,
  runCli,
  runLoad,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';

const env = credentialsEnv('k', 's');
let api: FixedPayLink;
let scratch: Scratch;
let lakes = 0;

beforeAll(async () => {
  api = await startFixedPayLink();
  scratch = await Scratch.create('normalization-faults');
});
afterAll(async () => {
  await api?.close();
  await scratch?.dispose();
});

/** Serves `bodies` (user -> accounts body text), loads those users in order into a new lake. */
async function load(bodies: Record<string, string>, options: { dest?: string; loadId?: string } = {}) {
  for (const [user, body] of Object.entries(bodies)) api.accounts.set(user, body);
  const dest = options.dest ?? scratch.path(`lake-${++lakes}`);
  const users = await scratch.users(`users-${lakes}-${options.loadId ?? 'l'}.txt`, Object.keys(bodies));
  const run = await runLoad(
    {
      users,
      dest,
      baseUrl: api.url,
      resources: ['accounts'],
      concurrency: 1,
      json: true,
      ...(options.loadId === undefined ? {} : { loadId: options.loadId }),
    },
    env,
  );
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return { dest, summary: JSON.parse(run.stdout) as Record<string, unknown> };
}

async function marker(dest: string, loadId: string): Promise<LoadMarker> {
  return JSON.parse(await readFile(`${dest}/_loads/${loadId}.json`, 'utf8')) as LoadMarker;
}

describe('issue 8 faults', () => {
  it('one column per source key whatever the record order (accountId / account_id, Status / status)', async () => {
    const u1 = '{"accounts": [{"_id": "a1", "accountId": "camel-1", "Status": "Open"}]}';
    const u2 =
      '{"accounts": [{"_id": "a2", "accountId": "camel-2", "account_id": "snake-2", "status": "open", "Status": "X"}]}';
    for (const order of [
      { u1, u2 },
      { u2, u1 },
    ]) {
      const { dest } = await load(order);
      const rows = await withLake(dest, (lake) => queryObjects(lake, 'SELECT * FROM accounts'));
      // For every column, the source keys whose values it holds: exactly one each.
      const sources: Record<string, string> = {
        'camel-1': 'accountId',
        'camel-2': 'accountId',
        'snake-2': 'account_id',
        Open: 'Status',
        X: 'Status',
        open: 'status',
      };
      const byColumn = new Map<string, Set<string>>();
      for (const row of rows)
        for (const [column, value] of Object.entries(row)) {
          const source = typeof value === 'string' ? sources[value] : undefined;
          if (source === undefined) continue;
          byColumn.set(column, (byColumn.get(column) ?? new Set()).add(source));
        }
      expect([...byColumn.values()].map((s) => [...s])).toEqual(
        expect.arrayContaining([['accountId'], ['account_id'], ['Status'], ['status']]),
      );
      expect(byColumn.size).toBe(4);
      // Every value is there, each in its source's column.
      const values = rows
        .flatMap((r) => Object.values(r))
        .filter((v) => typeof v === 'string' && v in sources);
      expect(values.sort()).toEqual(['Open', 'X', 'camel-1', 'camel-2', 'open', 'snake-2']);
      // The declared `status` keeps its column; `Status` is the one renamed.
      expect(rows.find((r) => r._id === 'a2')?.status).toBe('open');
    }
  });

  it('keeps a declared field its name when an undeclared key collides with it (closedAt vs closed_at)', async () => {
    const { dest } = await load({ u1: '{"accounts": [{"_id": "a1", "closed_at": "soon"}]}' });
    const fields = (await readCommittedSchema(createLocalStore(dest))).toJSON().tables.accounts!.fields!;
    expect(fields).toContainEqual({ path: ['closedAt'], column: 'closed_at', declared: true });
    const snake = fields.find((f) => f.path.length === 1 && f.path[0] === 'closed_at');
    expect(snake !== undefined && 'column' in snake ? snake.column : undefined).toMatch(
      /^closed_at_[a-z0-9]{6}$/,
    );
    const [row] = await withLake(dest, (lake) => queryObjects(lake, 'SELECT * FROM accounts'));
    expect(row?.closed_at).toBeNull();
    expect(Object.entries(row!).find(([, v]) => v === 'soon')?.[0]).toMatch(/^closed_at_[a-z0-9]{6}$/);
  });

  it('sums money typed by its first whole value right: 12 then 12.5 is 24.5', async () => {
    const { dest } = await load({
      u1: '{"accounts": [{"_id": "a1", "lateFee": 12, "bills": [{"dueAmount": 12}]}]}',
      u2: '{"accounts": [{"_id": "a2", "lateFee": 12.5, "bills": [{"dueAmount": 12.5}]}]}',
    });
    const [sums] = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        'SELECT (SELECT sum(due_amount) FROM accounts__bills) AS declared, (SELECT sum(late_fee) FROM accounts) AS inferred',
      ),
    );
    expect(sums).toEqual({ declared: 24.5, inferred: 24.5 });
  });

  it('keeps integers beyond 2^53 exact: 6150769120280496265 and ...266 stay two values', async () => {
    const { dest, summary } = await load({
      u1: '{"accounts": [{"_id": "a1", "externalRef": 6150769120280496265}, {"_id": "a2", "externalRef": 6150769120280496266}, {"_id": "a3", "externalRef": 9007199254740993}, {"_id": "a4", "externalRef": 42}]}',
    });
    const rows = await withLake(dest, (lake) =>
      queryObjects(lake, 'SELECT _id, external_ref, external_ref__v_text FROM accounts ORDER BY _id'),
    );
    expect(rows).toEqual([
      { _id: 'a1', external_ref: null, external_ref__v_text: '6150769120280496265' },
      { _id: 'a2', external_ref: null, external_ref__v_text: '6150769120280496266' },
      { _id: 'a3', external_ref: null, external_ref__v_text: '9007199254740993' },
      { _id: 'a4', external_ref: 42, external_ref__v_text: null },
    ]);
    expect(summary.nonFiniteValues).toBe(0);
  });

  it('loads a key with a non-ASCII digit locally, and later loads still commit', async () => {
    const body = '{"accounts": [{"_id": "a1", "ref١": "r", "total１": 5}]}';
    const { dest } = await load({ u1: body }, { loadId: 'odd-1' });
    await load({ u1: body, u2: '{"accounts": [{"_id": "a2", "ref1": "plain"}]}' }, { dest, loadId: 'odd-2' });
    const rows = await withLake(dest, (lake) =>
      queryObjects(lake, 'SELECT _dlt_load_id, _id, ref1, total1, * FROM accounts ORDER BY 1, 2'),
    );
    expect(rows.map((r) => [r._dlt_load_id, r._id, r.ref1, r.total1])).toEqual([
      ['odd-1', 'a1', 'r', 5],
      ['odd-2', 'a1', 'r', 5],
      ['odd-2', 'a2', null, null],
    ]);
    // `ref1` spelled in ASCII is another source key: its own column, never `ref1`.
    const plain = Object.entries(rows[2]!).find(([, v]) => v === 'plain');
    expect(plain?.[0]).toMatch(/^ref1_[a-z0-9]{6}$/);
  });

  it('SELECT closed_at works on a fresh lake where closedAt is always null, and the declared tables are registered', async () => {
    const { dest } = await load({
      u1: '{"accounts": [{"_id": "a1", "closedAt": null, "bills": []}]}',
    });
    const rows = await withLake(dest, (lake) => queryObjects(lake, 'SELECT _id, closed_at FROM accounts'));
    expect(rows).toEqual([{ _id: 'a1', closed_at: null }]);
    // Tables no value reached are declared in the committed schema (the query layer and Glue build on it).
    const schema = await readCommittedSchema(createLocalStore(dest));
    expect(schema.columns('accounts__bills').map((c) => [c.name, c.type])).toEqual(
      expect.arrayContaining([
        ['_dlt_parent_id', 'text'],
        ['due_amount', 'double'],
        ['due_date', 'timestamp'],
      ]),
    );
    expect(schema.columns('accounts').find((c) => c.name === 'closed_at')?.type).toBe('timestamp');
    // The README's bills join binds on that fresh lake: the declared, empty table is a typed view.
    const joined = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        'SELECT a._id, b.name, b.due_amount FROM current.accounts a JOIN current.accounts__bills b ON b._dlt_parent_id = a._dlt_id',
      ),
    );
    expect(joined).toEqual([]);
  });

  it('a NaN costs one cell: its siblings and the other records load, the token is kept and counted', async () => {
    const { dest, summary } = await load({
      u1: '{"accounts": [{"_id": "a1", "balance": NaN, "name": "first"}, {"_id": "a2", "balance": 1.5, "score": -Infinity}]}',
    });
    const rows = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        'SELECT _id, name, balance, balance__v_text, score__v_text FROM accounts ORDER BY _id',
      ),
    );
    expect(rows).toEqual([
      { _id: 'a1', name: 'first', balance: null, balance__v_text: 'NaN', score__v_text: null },
      { _id: 'a2', name: null, balance: 1.5, balance__v_text: null, score__v_text: '-Infinity' },
    ]);
    expect(summary.nonFiniteValues).toBe(2);
    expect(summary.failedUserCount).toBe(0);
  });

  it('reports a field that changes shape, with table and column, and keeps every value', async () => {
    const { dest, summary } = await load({
      u1: '{"accounts": [{"_id": "a1", "tags": ["autopay"], "company": {"name": "Netflix"}}]}',
      u2: '{"accounts": [{"_id": "a2", "tags": "autopay", "company": "Netflix"}]}',
    });
    const shapes = [
      expect.objectContaining({
        kind: 'shape_change',
        table: 'accounts',
        field: 'tags',
        was: 'list',
        now: 'scalar',
      }),
      expect.objectContaining({
        kind: 'shape_change',
        table: 'accounts',
        field: 'company',
        was: 'object',
        now: 'scalar',
      }),
    ];
    expect(summary.schemaChanges).toEqual(expect.arrayContaining(shapes));
    const loadId = summary.loadId as string;
    expect((await marker(dest, loadId)).schemaChanges).toEqual(expect.arrayContaining(shapes));
    const [values] = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        `SELECT (SELECT list(value) FROM accounts__tags) AS tag_rows,
                (SELECT list(tags ORDER BY _id) FROM accounts) AS tag_cells,
                (SELECT list(company__name ORDER BY _id) FROM accounts) AS company_names,
                (SELECT list(company ORDER BY _id) FROM accounts) AS company_cells`,
      ),
    );
    expect(values).toEqual({
      tag_rows: ['autopay'],
      tag_cells: [null, 'autopay'],
      company_names: ['Netflix', null],
      company_cells: [null, 'Netflix'],
    });
    const text = await runCli(['status', '--dest', dest]);
    expect(text.code).toBe(0);
  });
});

describe('issue 8 leftovers: numbers and times keep what the body said', () => {
  it('keeps 1e400 and 9007199254740993.0 as text (not Infinity, not rounded, not counted as NaN)', async () => {
    const { dest, summary } = await load({
      u1: '{"accounts": [{"_id": "a1", "limit": 1e400}, {"_id": "a2", "limit": 9007199254740993.0}, {"_id": "a3", "limit": 1e-400}, {"_id": "a4", "limit": 2.5}]}',
    });
    const rows = await withLake(dest, (lake) =>
      queryObjects(lake, 'SELECT _id, "limit", limit__v_text FROM accounts ORDER BY _id'),
    );
    expect(rows).toEqual([
      { _id: 'a1', limit: null, limit__v_text: '1e400' },
      { _id: 'a2', limit: null, limit__v_text: '9007199254740993.0' },
      { _id: 'a3', limit: null, limit__v_text: '1e-400' },
      { _id: 'a4', limit: 2.5, limit__v_text: null },
    ]);
    expect(summary.nonFiniteValues).toBe(0);
  });

  it('keeps a number as spelled in a declared text column: 1.10 stays 1.10', async () => {
    const { dest } = await load({
      u1: '{"accounts": [{"_id": "a1", "status": 1.10}, {"_id": "a2", "status": 1e5}, {"_id": "a3", "status": 7}]}',
    });
    const rows = await withLake(dest, (lake) =>
      queryObjects(lake, 'SELECT _id, status FROM accounts ORDER BY _id'),
    );
    expect(rows).toEqual([
      { _id: 'a1', status: '1.10' },
      { _id: 'a2', status: '1e5' },
      { _id: 'a3', status: '7' },
    ]);
  });

  it('tolerates -NaN, +NaN and +Infinity like NaN and Infinity: one cell each, siblings load', async () => {
    const { dest, summary } = await load({
      u1: '{"accounts": [{"_id": "a1", "score": -NaN}, {"_id": "a2", "score": +Infinity}, {"_id": "a3", "score": +NaN}, {"_id": "a4", "score": 3}]}',
    });
    const rows = await withLake(dest, (lake) =>
      queryObjects(lake, 'SELECT _id, score, score__v_text FROM accounts ORDER BY _id'),
    );
    expect(rows).toEqual([
      { _id: 'a1', score: null, score__v_text: 'NaN' },
      { _id: 'a2', score: null, score__v_text: 'Infinity' },
      { _id: 'a3', score: null, score__v_text: 'NaN' },
      { _id: 'a4', score: 3, score__v_text: null },
    ]);
    expect(summary.nonFiniteValues).toBe(3);
    expect(summary.failedUserCount).toBe(0);
  });

  it('keeps a timestamp with digits below the millisecond as its text; millisecond ones stay timestamps', async () => {
    const { dest } = await load({
      u1: '{"accounts": [{"_id": "a1", "lastSyncedAt": "2024-01-31T10:20:30.123456Z"}, {"_id": "a2", "lastSyncedAt": "2024-01-31T10:20:30.123+01:00"}, {"_id": "a3", "lastSyncedAt": "2024-01-31T10:20:30"}]}',
    });
    const rows = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        "SELECT _id, strftime(last_synced_at, '%Y-%m-%dT%H:%M:%S.%g') AS at, last_synced_at__v_text AS text FROM accounts ORDER BY _id",
      ),
    );
    expect(rows).toEqual([
      { _id: 'a1', at: null, text: '2024-01-31T10:20:30.123456Z' },
      { _id: 'a2', at: '2024-01-31T09:20:30.123', text: null },
      // No zone: read as UTC (README, "Numbers, text and time").
      { _id: 'a3', at: '2024-01-31T10:20:30.000', text: null },
    ]);
  });
});

describe('issue 6: one wide record never wedges the lake', () => {
  it('loads a 10,000-key record into one JSON column, and the next load stays small', async () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `k${i.toString(36)}z${i}`);
    // `_id` and `status` are declared for accounts: known fields keep their columns.
    const wide: Record<string, unknown> = { _id: 'w1', status: 'wide' };
    keys.forEach((k, i) => {
      wide[k] = i % 3 === 0 ? `v${i}` : i;
    });
    // A nested map keyed by dates goes to its own JSON column; big integers stay exact in it.
    const body = `{"accounts": [${JSON.stringify(wide).slice(0, -1)}, "byDay": {"2024-01-31": 6150769120280496265, "2024-02-29": 1.10}}]}`;
    const first = await load({ u1: body }, { loadId: 'wide-1' });
    const changes = (await marker(first.dest, 'wide-1')).schemaChanges;
    expect(changes).toContainEqual({
      kind: 'json_column',
      table: 'accounts',
      column: '_overflow',
      reason: 'wide_object',
    });
    const schema = await readCommittedSchema(createLocalStore(first.dest));
    const width = schema.columns('accounts').length;
    expect(width).toBeLessThan(60);

    // The JSON text DuckDB reads back parses to the record's fields (numbers as spelled).
    const [row] = await withLake(first.dest, (lake) =>
      queryObjects(lake, "SELECT _id, status, _overflow FROM accounts WHERE _id = 'w1'"),
    );
    expect(row?.status).toBe('wide');
    const overflow = parseJsonBody(String(row?._overflow)) as Record<string, unknown>;
    const { _id, status, ...rest } = wide;
    expect(overflow).toEqual({
      ...rest,
      byDay: { '2024-01-31': 6150769120280496265n, '2024-02-29': new NumberLiteral('1.10', 1.1) },
    });
    expect(Object.keys(overflow)).toHaveLength(10_001);

    // The next, normal load: same registry width and small parts (the wide record's 10,000 keys
    // are not carried into its schema or files). Speed belongs to the benchmarks, not here.
    await load(
      { u2: '{"accounts": [{"_id": "n1", "status": "normal"}]}' },
      { dest: first.dest, loadId: 'wide-2' },
    );
    expect((await readCommittedSchema(createLocalStore(first.dest))).columns('accounts')).toHaveLength(width);
    const parts = (await marker(first.dest, 'wide-2')).files.filter((f) => f.table === 'accounts');
    expect(parts.length).toBeGreaterThan(0);
    for (const part of parts) expect(part.bytes).toBeLessThan(16_000);
  }, 60_000);

  it('keeps a map keyed by ids in one JSON column, remembered for later loads', async () => {
    const { dest } = await load(
      { u1: '{"accounts": [{"_id": "a1", "limits": {"acct_000123456": 5, "acct_000654321": 7}}]}' },
      { loadId: 'map-1' },
    );
    expect((await marker(dest, 'map-1')).schemaChanges).toContainEqual({
      kind: 'json_column',
      table: 'accounts',
      column: 'limits',
      field: 'limits',
      reason: 'data_keys',
    });
    await load({ u2: '{"accounts": [{"_id": "a2", "limits": {"daily": 9}}]}' }, { dest, loadId: 'map-2' });
    const rows = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        "SELECT _id, json_extract(limits, '$') AS limits FROM accounts ORDER BY _dlt_load_id, _id",
      ),
    );
    expect(rows.map((r) => [r._id, JSON.parse(String(r.limits))])).toEqual([
      ['a1', { acct_000123456: 5, acct_000654321: 7 }],
      ['a2', { daily: 9 }],
    ]);
    const schema = await readCommittedSchema(createLocalStore(dest));
    expect(schema.columns('accounts').map((c) => c.name)).not.toContain('limits__daily');
  });
});

describe('issue 8 faults across parallel batches', () => {
  /** Loads one suggestion per user, one user per batch, the batches in parallel; returns the lake's rows and child tables. */
  async function parallelLoad(name: string, records: readonly (readonly JsonValue[])[]) {
    const dir = scratch.path(name);
    const store = createLocalStore(dir);
    const steps = selectResources(resolveCatalog(), ['suggestions']).steps;
    const fake: PayLinkApi = {
      async openSession(identifier) {
        return { getJson: async () => ({ suggestions: [...records[Number(identifier.slice(1))]!] }) };
      },
      stats: () => ({ requests: 0, retries: 0 }),
    };
    const parts = createParquetPartWriterFactory();
    const clock = () => new Date('2026-11-30T12:00:00Z');
    const users = records.map((_, i) => ({ identifier: `u${i}` }));
    await planLoad(
      { loadId: 'P', startedAt: clock(), users, batchSize: 1, resources: ['suggestions'] },
      store,
    );
    const plan = await readPlan(store, 'P');
    await Promise.all(
      users.map(async (_, batch) =>
        loadBatch(
          {
            loadId: 'P',
            batch,
            dt: plan.dt,
            startedAt: plan.startedAt,
            users: await readBatchUsers(store, 'P', batch),
            steps,
            registry: await readCommittedSchema(store),
            concurrency: 1,
          },
          { api: fake, store, parts, clock },
        ),
      ),
    );
    await commitLoad('P', { store, parts, reader: createParquetPartReader(), clock });
    const rows = await withLake(dir, (lake) => queryObjects(lake, 'SELECT * FROM suggestions ORDER BY _id'));
    const tables = await withLake(dir, async (lake) => {
      const out: Record<string, unknown[]> = {};
      for (const table of lake.tables().filter((t) => t.startsWith('suggestions__')))
        out[table] = (await queryObjects(lake, `SELECT value FROM ${table}`)).map((r) => r.value);
      return out;
    });
    const columnOf = (value: string) =>
      Object.entries(rows.find((r) => Object.values(r).includes(value))!).find(([, v]) => v === value)![0];
    return { columnOf, tables, rows, dir };
  }

  it('gives colliding keys the same columns and child tables whichever batch saw which key first', async () => {
    // Each batch sees one spelling only, so each names its own `account_id` and `items`; the
    // commit decides by a total order over the colliding keys (already snake_case first).
    const camel = { _id: 'a', accountId: 'camel', Items: ['camel-item'] };
    const snake = { _id: 'b', account_id: 'snake', items: ['snake-item'] };
    const outcomes = [];
    for (const [name, records] of [
      ['parallel-camel-first', [[camel], [snake]]],
      ['parallel-snake-first', [[snake], [camel]]],
    ] as const) {
      const { columnOf, tables } = await parallelLoad(name, records);
      expect(columnOf('snake')).toBe('account_id');
      expect(columnOf('camel')).toMatch(/^account_id_[a-z0-9]{6}$/);
      expect(Object.values(tables).sort()).toEqual([['camel-item'], ['snake-item']]);
      expect(tables.suggestions__items).toEqual(['snake-item']);
      outcomes.push({ camel: columnOf('camel'), tables: Object.keys(tables).sort() });
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
  });

  it(`holds the ${MAX_TABLE_COLUMNS}-column cap across parallel batches, keeping every value`, async () => {
    // Each batch brings 600 new fields (six narrow records of 100): under the cap alone, over it together.
    const user = (prefix: string) =>
      Array.from({ length: 6 }, (_, r) => ({
        _id: `${prefix}${r}`,
        ...Object.fromEntries(
          Array.from({ length: 100 }, (_, i) => [`${prefix}${r}f${i}`, `${prefix}${r}.${i}`]),
        ),
      }));
    const outcomes = [];
    for (const [name, records] of [
      ['cap-ab', [user('a'), user('b')]],
      ['cap-ba', [user('b'), user('a')]],
    ] as const) {
      const { rows, dir } = await parallelLoad(name, records);
      const schema = await readCommittedSchema(createLocalStore(dir));
      const columns = schema.columns('suggestions').map((c) => c.name);
      expect(columns.length).toBeLessThanOrEqual(MAX_TABLE_COLUMNS + 1);
      expect(rows).toHaveLength(12);
      for (const row of rows) {
        const overflow =
          row._overflow === null ? {} : (JSON.parse(String(row._overflow)) as Record<string, unknown>);
        const id = String(row._id);
        for (let i = 0; i < 100; i++) {
          const key = `${id}f${i}`;
          const column = schema
            .toJSON()
            .tables.suggestions!.fields!.find((f) => 'column' in f && f.path[0] === key);
          const value = column !== undefined && 'column' in column ? row[column.column] : overflow[key];
          expect(value, key).toBe(`${id}.${i}`);
        }
      }
      outcomes.push(columns.sort());
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
  }, 60_000);
});

describe('issue 8 faults in AWS: the Glue name check', () => {
  let glue: FakeGlue;
  beforeAll(async () => {
    glue = await startFakeGlue();
  });
  afterAll(async () => {
    await glue?.close();
  });

  it('syncs a key with a non-ASCII digit to Glue, and the next load commits too', async () => {
    const dir = scratch.path('aws-lake');
    const store = createLocalStore(dir);
    const client = new GlueClient({
      endpoint: glue.url,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    const glueCatalog = createGlueCatalog({ database: 'paylink', client });
    const catalog = {
      async syncTables(
        tables: readonly { table: string; columns: readonly { name: string; type: 'text' }[] }[],
      ) {
        await glueCatalog.syncTables(tables as never, (table) => `s3://lake/${table}/`);
      },
    };
    const steps = selectResources(resolveCatalog(), ['accounts']).steps;
    const accounts = (user: string): JsonValue[] => [{ _id: `${user}-1`, ref١: 'r', total１: 5 }];
    const fake: PayLinkApi = {
      async openSession(identifier) {
        return { getJson: async () => ({ accounts: accounts(identifier) }) };
      },
      stats: () => ({ requests: 0, retries: 0 }),
    };
    const parts = createParquetPartWriterFactory();
    const clock = () => new Date('2026-11-30T12:00:00Z');
    for (const loadId of ['aws-1', 'aws-2']) {
      await planLoad(
        { loadId, startedAt: clock(), users: [{ identifier: 'u1' }], batchSize: 1, resources: ['accounts'] },
        store,
      );
      const plan = await readPlan(store, loadId);
      await loadBatch(
        {
          loadId,
          batch: 0,
          dt: plan.dt,
          startedAt: plan.startedAt,
          users: await readBatchUsers(store, loadId, 0),
          steps,
          registry: await readCommittedSchema(store),
          concurrency: 1,
        },
        { api: fake, store, parts, clock },
      );
      const committed = await commitLoad(loadId, {
        store,
        parts,
        reader: createParquetPartReader(),
        clock,
        catalog,
      });
      expect(committed.loadId).toBe(loadId);
    }
    const columns = (
      glue.tables.get('paylink.accounts')!.input.StorageDescriptor.Columns as { Name: string }[]
    ).map((c) => c.Name);
    expect(columns).toEqual(expect.arrayContaining(['ref1', 'total1', 'closed_at']));
    // The declared child table exists in the catalog though no account had bills.
    expect(glue.tables.has('paylink.accounts__bills')).toBe(true);
  });
});
