import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBTimestampValue } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { formatTable, type LakeQuery, openLakeQuery } from '#cli/duckdb-lake.ts';
import { ConfigError } from '#core/errors.ts';
import { DLT_LOADS_COLUMNS } from '#core/lake-views.ts';
import type { ObjectStore } from '#core/ports.ts';
import type { ColumnDef, Row } from '#core/types.ts';

const parts = createParquetPartWriterFactory();

async function writePart(
  store: ObjectStore,
  key: string,
  columns: readonly ColumnDef[],
  rows: readonly Row[],
) {
  const part = await parts.open(store, key, columns);
  for (const row of rows) await part.append(row);
  await part.close();
}

const USERS_V1: ColumnDef[] = [
  { name: '_dlt_load_id', type: 'text' },
  { name: 'user_identifier', type: 'text' },
  { name: 'n', type: 'bigint' },
];
// A later load saw new fields: its parts have more columns, in another order.
const USERS_V2: ColumnDef[] = [
  { name: 'seen_at', type: 'timestamp' },
  { name: 'n', type: 'bigint' },
  { name: '_dlt_load_id', type: 'text' },
  { name: 'user_identifier', type: 'text' },
  { name: 'score', type: 'double' },
];
const ID_ONLY: ColumnDef[] = [
  { name: '_dlt_load_id', type: 'text' },
  { name: 'user_identifier', type: 'text' },
  { name: 'id', type: 'text' },
];

/** Commits a load the way the commit does: its `_dlt_loads` row, written last. */
async function commitLoad(store: ObjectStore, loadId: string, startedAt: string) {
  await writePart(store, `_dlt_loads/${loadId}.parquet`, DLT_LOADS_COLUMNS, [
    {
      load_id: loadId,
      schema_name: 'paylink',
      status: 0,
      inserted_at: new Date(startedAt),
      schema_version: 1,
      started_at: new Date(startedAt),
      load_date: startedAt.slice(0, 10),
      resources: 'users',
      users: 1,
      failed_users: 0,
      requests: 1,
      rows: 1,
    },
  ]);
}

describe('DuckDB over a local lake', () => {
  let parent: string;
  let lakeDir: string;
  let store: ObjectStore;
  let lake: LakeQuery;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'duckdb-lake-'));
    // A quote in the path checks the SQL string escaping of the glob.
    lakeDir = join(parent, "lake 'quoted'");
    store = createLocalStore(lakeDir);
    await writePart(store, 'users/dt=2024-01-01/l1.00000.0000.parquet', USERS_V1, [
      { _dlt_load_id: 'l1', user_identifier: 'u-1', n: 1 },
      { _dlt_load_id: 'l1', user_identifier: 'u-2', n: 2 },
    ]);
    await writePart(store, 'users/dt=2024-01-02/l2.00000.0000.parquet', USERS_V2, [
      {
        _dlt_load_id: 'l2',
        user_identifier: 'u-1',
        n: 3,
        score: 0.5,
        seen_at: new Date('2024-01-02T03:04:05.678Z'),
      },
    ]);
    await writePart(store, 'accounts/dt=2024-01-02/l2.00000.0000.parquet', ID_ONLY, [
      { _dlt_load_id: 'l2', id: 'a-1' },
    ]);
    await writePart(store, 'odd"name/dt=2024-01-02/l2.00000.0000.parquet', ID_ONLY, [
      { _dlt_load_id: 'l2', id: 'x' },
    ]);
    await commitLoad(store, 'l1', '2024-01-01T00:00:00.000Z');
    await commitLoad(store, 'l2', '2024-01-02T00:00:00.000Z');
    // Published by a load that never reached its commit point: in raw only.
    await writePart(store, 'users/dt=2024-01-03/l3.00000.0000.parquet', USERS_V1, [
      { _dlt_load_id: 'l3', user_identifier: 'u-3', n: 30 },
    ]);
    // Not tables: staging, metadata, a folder without parts, a half-written part.
    await writePart(store, '_staging/l4/parts/users/dt=2024-01-03/l4.00000.0000.parquet', USERS_V1, [
      { _dlt_load_id: 'l4', user_identifier: 'u-9', n: 9 },
    ]);
    await store.put('_loads/l2.json', '{}');
    await mkdir(join(lakeDir, 'empty_table', 'dt=2024-01-01'), { recursive: true });
    await writeFile(join(lakeDir, 'users', 'dt=2024-01-02', '.l3.parquet.tmp-0123456789abcdef'), 'partial');

    lake = await openLakeQuery(lakeDir);
  });
  afterAll(async () => {
    lake?.close();
    await rm(parent, { recursive: true, force: true });
  });

  it('creates one view per table folder, skipping _ folders and folders without parts', () => {
    expect(lake.tables()).toEqual(['accounts', 'odd"name', 'users']);
  });

  it('unions parts by column name, with dt as text and missing columns as nulls', async () => {
    const result = await lake.query('SELECT dt, user_identifier, n, score, seen_at FROM users ORDER BY n');

    expect(result).toEqual({
      columns: ['dt', 'user_identifier', 'n', 'score', 'seen_at'],
      rows: [
        ['2024-01-01', 'u-1', 1, null, null],
        ['2024-01-01', 'u-2', 2, null, null],
        ['2024-01-02', 'u-1', 3, 0.5, '2024-01-02T03:04:05.678Z'],
      ],
    });
  });

  it('shows a load without a _dlt_loads row in raw only, never in the history view', async () => {
    expect((await lake.query('SELECT n FROM raw.users ORDER BY n')).rows).toEqual([[1], [2], [3], [30]]);
    expect((await lake.query('SELECT n FROM users ORDER BY n')).rows).toEqual([[1], [2], [3]]);
    expect((await lake.query('SELECT load_id FROM _dlt_loads ORDER BY 1')).rows).toEqual([['l1'], ['l2']]);
  });

  it('types the columns as the Parquet files say, and dt as VARCHAR', async () => {
    const result = await lake.query(
      "SELECT column_name, column_type FROM (DESCRIBE users) WHERE column_name IN ('dt', 'n', 'score', 'seen_at') ORDER BY column_name",
    );

    expect(result.rows).toEqual([
      ['dt', 'VARCHAR'],
      ['n', 'BIGINT'],
      ['score', 'DOUBLE'],
      ['seen_at', 'TIMESTAMP'],
    ]);
  });

  it('quotes view names', async () => {
    expect((await lake.query('SELECT id FROM "odd""name"')).rows).toEqual([['x']]);
  });

  it('keeps raw DuckDB values available for callers that need them', async () => {
    const raw = await lake.queryRaw('SELECT n, seen_at FROM users WHERE seen_at IS NOT NULL');

    expect(raw.columnTypes).toEqual(['BIGINT', 'TIMESTAMP']);
    expect(raw.rows[0]?.[0]).toBe(3n);
    expect(raw.rows[0]?.[1]).toBeInstanceOf(DuckDBTimestampValue);
  });

  it('prints big integers as strings and other timestamp types as ISO strings, JSON-safe', async () => {
    const result = await lake.query(
      "SELECT 9007199254740993::BIGINT AS big, -5::BIGINT AS small, TIMESTAMP '2024-01-02 03:04:05.123456' AS micros, " +
        "TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tz, DATE '2024-01-02' AS d, 'infinity'::TIMESTAMP AS inf",
    );

    expect(result.rows).toEqual([
      [
        '9007199254740993',
        -5,
        '2024-01-02T03:04:05.123456Z',
        '2024-01-02T03:04:05.000Z',
        '2024-01-02',
        'infinity',
      ],
    ]);
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });

  it('sees parts committed after it was opened, once their load commits', async () => {
    await writePart(store, 'accounts/dt=2024-01-03/l5.00000.0000.parquet', ID_ONLY, [
      { _dlt_load_id: 'l5', user_identifier: 'u-1', id: 'a-2' },
    ]);
    expect((await lake.query('SELECT id FROM accounts ORDER BY id')).rows).toEqual([['a-1']]);
    await commitLoad(store, 'l5', '2024-01-03T00:00:00.000Z');

    expect((await lake.query('SELECT id, dt FROM accounts ORDER BY id')).rows).toEqual([
      ['a-1', '2024-01-02'],
      ['a-2', '2024-01-03'],
    ]);
  });

  it("reports a bad query as a ConfigError carrying DuckDB's message", async () => {
    const error = await lake.query('SELECT * FROM no_such_table').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(
      /^sql: Catalog Error: Table with name no_such_table does not exist/,
    );
  });
});

describe('openLakeQuery edge cases', () => {
  let parent: string;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'duckdb-lake-edge-'));
  });
  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('reads a lake whose path has glob characters file by file', async () => {
    const lakeDir = join(parent, 'lake [1] {a,b} *');
    const store = createLocalStore(lakeDir);
    await writePart(
      store,
      't/dt=2024-01-01/p.parquet',
      [
        { name: '_dlt_load_id', type: 'text' },
        { name: 'user_identifier', type: 'text' },
        { name: 'v', type: 'bigint' },
      ],
      [{ _dlt_load_id: 'p', user_identifier: 'u', v: 7 }],
    );
    await commitLoad(store, 'p', '2024-01-01T00:00:00.000Z');

    const lake = await openLakeQuery(lakeDir);
    try {
      expect((await lake.query('SELECT v, dt FROM t')).rows).toEqual([[7, '2024-01-01']]);
    } finally {
      lake.close();
    }
  });

  it('opens an empty lake with no tables', async () => {
    const lake = await openLakeQuery(await mkdtemp(join(parent, 'empty-')));
    try {
      expect(lake.tables()).toEqual([]);
      expect((await lake.query('SELECT 1 AS one')).rows).toEqual([[1]]);
    } finally {
      lake.close();
    }
  });

  it('refuses a folder that does not exist', async () => {
    await expect(openLakeQuery(join(parent, 'missing'))).rejects.toThrow(ConfigError);
    await expect(openLakeQuery(join(parent, 'missing'))).rejects.toThrow('dest: no lake folder at');
  });
});

describe('formatTable', () => {
  it('aligns columns, right-aligns numbers, shows NULL and counts rows', () => {
    const text = formatTable({
      columns: ['user', 'n', 'note'],
      rows: [
        ['u-1', 1, null],
        ['u-22', 1234, 'line one\nline two'],
      ],
    });

    expect(text).toBe(
      [
        'user | n    | note',
        '-----+------+------------------',
        'u-1  |    1 | NULL',
        'u-22 | 1234 | line one line two',
        '(2 rows)',
      ].join('\n'),
    );
  });

  it('cuts long cells with an ellipsis without splitting characters', () => {
    const text = formatTable({ columns: ['v'], rows: [['🦆🦆🦆🦆🦆🦆']] }, { maxCellWidth: 4 });

    // Cut by characters; the rule is as wide as the cell on screen (each duck takes two columns).
    expect(text.split('\n')).toEqual(['v', '-------', '🦆🦆🦆…', '(1 row)']);
  });

  it('prints only the count for a result without columns', () => {
    expect(formatTable({ columns: [], rows: [] })).toBe('(0 rows)');
  });
});
