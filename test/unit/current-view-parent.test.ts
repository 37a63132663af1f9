/**
 * The current view of a resource fanned out over another's records (`action_history` over
 * `accounts`), across any sequence of loads: per user, each load may have loaded the parent, the
 * child, both or neither, each `ok` or failed, with any parent keys and any child rows. The
 * contract (lake-views.ts `currentViewSql`): the child's current rows are those of the user's
 * latest committed load with the child `ok`, except, when the user's latest committed load with
 * the parent `ok` is later, the rows whose parent key that load's parent rows do not have; the
 * child's own child tables follow their root row. Checked against a model in DuckDB on raw
 * tables built from the generated loads, and the SQL against Trino's grammar (Athena).
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { TrinoSQL } from 'dt-sql-parser';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentViewSql, type ParentKeyLink } from '#core/lake-views.ts';
import type { ColumnDef } from '#core/types.ts';

const RAW = 'raw';
const USERS = ['u1', 'u2'] as const;
const KEYS = ['a1', 'a2', 'a3', '4'] as const;
const LINK: ParentKeyLink = {
  parentTable: 'accounts',
  parentColumns: ['_id', '_id__v_bigint'],
  childColumn: '_accounts__id',
};
const text = (name: string): ColumnDef => ({ name, type: 'text' });
const ROOT_COLUMNS = ['_dlt_load_id', '_dlt_id', 'user_identifier'].map(text);
const CHILD_COLUMNS: ColumnDef[] = [...ROOT_COLUMNS, text('_accounts__id'), text('kind')];
const GRANDCHILD_COLUMNS: ColumnDef[] = [
  text('_dlt_parent_id'),
  { name: '_dlt_list_idx', type: 'bigint' },
  text('_dlt_id'),
  text('_dlt_load_id'),
  text('_dlt_root_id'),
  text('user_identifier'),
  text('step'),
];

type Unit = 'absent' | 'ok' | 'failed';
interface UserLoad {
  readonly parent: Unit;
  /** Parent keys listed (written only when the parent unit is ok). */
  readonly parentKeys: readonly string[];
  /** A numeric key (`4`) sent as a number: in the parent's bigint variant column. */
  readonly numericKey: boolean;
  readonly child: Unit;
  /** Child records by the parent key they were fetched for, each with its steps (a child table). */
  readonly childRows: readonly { key: string; steps: number }[];
}
interface Load {
  readonly id: string;
  /** Seconds: ties happen (then load id orders them, as in LOAD_ORDER). */
  readonly startedAt: number;
  readonly committed: boolean;
  readonly users: readonly UserLoad[];
}

const unit = fc.constantFrom<Unit>('absent', 'ok', 'ok', 'failed');
const userLoad: fc.Arbitrary<UserLoad> = fc.record({
  parent: unit,
  parentKeys: fc.subarray([...KEYS]),
  numericKey: fc.boolean(),
  child: unit,
  childRows: fc.array(fc.record({ key: fc.constantFrom(...KEYS), steps: fc.nat(2) }), { maxLength: 4 }),
});
const loads: fc.Arbitrary<Load[]> = fc
  .array(
    fc.record({
      startedAt: fc.nat(3),
      // A load with no `_dlt_loads` row (crashed before its commit): its rows are never current.
      uncommitted: fc.boolean(),
      users: fc.tuple(userLoad, userLoad),
    }),
    { minLength: 1, maxLength: 5 },
  )
  .map((drafts) => {
    let at = 0;
    return drafts.map((d, i) => {
      at += d.startedAt === 0 ? 0 : 1;
      // Load ids that sort against their order: ties of started_at are ordered by load id.
      return {
        id: `${String.fromCharCode(122 - i)}-${i}`,
        startedAt: at,
        committed: !d.uncommitted,
        users: d.users,
      };
    });
  });

/** What the contract says is current: child root rows as `user|load|key|index`, steps as `...|step`. */
function expected(all: readonly Load[]): { roots: string[]; steps: string[] } {
  const committed = all.filter((l) => l.committed);
  const later = (a: Load, b: Load) =>
    a.startedAt > b.startedAt || (a.startedAt === b.startedAt && a.id > b.id);
  const roots: string[] = [];
  const steps: string[] = [];
  USERS.forEach((user, u) => {
    const latest = (pick: (x: UserLoad) => Unit) =>
      committed
        .filter((l) => pick(l.users[u]!) === 'ok')
        .reduce<Load | undefined>((best, l) => (best === undefined || later(l, best) ? l : best), undefined);
    const g = latest((x) => x.child);
    if (g === undefined) return;
    const q = latest((x) => x.parent);
    const parentKeys = new Set(q === undefined ? [] : q.users[u]!.parentKeys);
    g.users[u]!.childRows.forEach((row, index) => {
      if (q !== undefined && later(q, g) && !parentKeys.has(row.key)) return;
      roots.push(`${user}|${g.id}|${row.key}|${index}`);
      for (let s = 0; s < row.steps; s++) steps.push(`${user}|${g.id}|${row.key}|${index}|${s}`);
    });
  });
  return { roots: roots.sort(), steps: steps.sort() };
}

const quote = (v: string | number | null) =>
  v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${v}'`;
const insert = (table: string, rows: (string | number | null)[][]) =>
  rows.length === 0
    ? []
    : [`INSERT INTO ${RAW}."${table}" VALUES ${rows.map((r) => `(${r.map(quote).join(', ')})`).join(', ')}`];

function rawInserts(all: readonly Load[]): string[] {
  const loadRows: (string | number | null)[][] = [];
  const outcomes: (string | number | null)[][] = [];
  const parents: (string | number | null)[][] = [];
  const children: (string | number | null)[][] = [];
  const steps: (string | number | null)[][] = [];
  for (const load of all) {
    if (load.committed) loadRows.push([load.id, `2026-01-01 00:00:0${load.startedAt}`]);
    USERS.forEach((user, u) => {
      const x = load.users[u]!;
      if (x.parent !== 'absent') outcomes.push([load.id, user, 'accounts', x.parent]);
      if (x.child !== 'absent') outcomes.push([load.id, user, 'action_history', x.child]);
      if (x.parent === 'ok')
        for (const key of x.parentKeys) {
          const numeric = key === '4' && x.numericKey;
          parents.push([
            load.id,
            `p-${load.id}-${user}-${key}`,
            user,
            numeric ? null : key,
            numeric ? 4 : null,
          ]);
        }
      if (x.child === 'ok')
        x.childRows.forEach((row, index) => {
          const id = `c-${load.id}-${user}-${index}`;
          children.push([load.id, id, user, row.key, `${user}|${load.id}|${row.key}|${index}`, null]);
          for (let s = 0; s < row.steps; s++)
            steps.push([
              id,
              s,
              `${id}-${s}`,
              load.id,
              id,
              user,
              `${user}|${load.id}|${row.key}|${index}|${s}`,
              null,
            ]);
        });
    });
  }
  return [
    ...insert('_dlt_loads', loadRows),
    ...insert('user_loads', outcomes),
    ...insert('accounts', parents),
    ...insert('action_history', children),
    ...insert('action_history__steps', steps),
  ];
}

describe('the current view of a fan-out child across loads', () => {
  let instance: DuckDBInstance;
  const names = { rawSchema: RAW };
  const childSql = currentViewSql(names, 'action_history', CHILD_COLUMNS, LINK)!;
  const stepsSql = currentViewSql(names, 'action_history__steps', GRANDCHILD_COLUMNS, LINK)!;

  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
  });
  afterAll(() => instance?.closeSync());

  it('parses as Trino SQL (Athena engine 3)', () => {
    const trino = new TrinoSQL();
    expect(trino.validate(childSql)).toEqual([]);
    expect(trino.validate(stepsSql)).toEqual([]);
  });

  it('keeps the rows of the latest ok child load, less those whose parent left a later parent load', async () => {
    const connection = await instance.connect();
    try {
      await fc.assert(
        fc.asyncProperty(loads, async (all) => {
          await connection.run(`DROP SCHEMA IF EXISTS ${RAW} CASCADE`);
          await connection.run(`CREATE SCHEMA ${RAW}`);
          await connection.run(`CREATE TABLE ${RAW}."_dlt_loads" (load_id VARCHAR, started_at TIMESTAMP)`);
          await connection.run(
            `CREATE TABLE ${RAW}.user_loads (_dlt_load_id VARCHAR, user_identifier VARCHAR, resource VARCHAR, status VARCHAR)`,
          );
          await connection.run(
            `CREATE TABLE ${RAW}.accounts (_dlt_load_id VARCHAR, _dlt_id VARCHAR, user_identifier VARCHAR, _id VARCHAR, _id__v_bigint BIGINT)`,
          );
          await connection.run(
            `CREATE TABLE ${RAW}.action_history (_dlt_load_id VARCHAR, _dlt_id VARCHAR, user_identifier VARCHAR, _accounts__id VARCHAR, kind VARCHAR, dt VARCHAR)`,
          );
          await connection.run(
            `CREATE TABLE ${RAW}.action_history__steps (_dlt_parent_id VARCHAR, _dlt_list_idx BIGINT, _dlt_id VARCHAR, _dlt_load_id VARCHAR, _dlt_root_id VARCHAR, user_identifier VARCHAR, step VARCHAR, dt VARCHAR)`,
          );
          for (const sql of rawInserts(all)) await connection.run(sql);
          const read = async (sql: string, column: string) =>
            (await connection.runAndReadAll(`SELECT "${column}" FROM (${sql}) ORDER BY 1`))
              .getRows()
              .map((r) => String(r[0]));
          const want = expected(all);
          expect(await read(childSql, 'kind')).toEqual(want.roots);
          expect(await read(stepsSql, 'step')).toEqual(want.steps);
        }),
        { seed: 20261202, numRuns: 200 },
      );
    } finally {
      connection.closeSync();
    }
  });
});
