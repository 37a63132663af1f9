import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { PARQUET_TYPES, parquetTypeOf } from '#adapters/parquet-schema.ts';
import { createWorkerPartWriterFactory } from '#adapters/parquet-worker-writer.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { createS3Store } from '#adapters/s3-store.ts';
import { StoreError } from '#core/errors.ts';
import type { ObjectStore, PartWriterFactory } from '#core/ports.ts';
import type { ColumnDef, Row } from '#core/types.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const COLUMNS: readonly ColumnDef[] = [
  { name: 'name', type: 'text' },
  { name: 'count', type: 'bigint' },
  { name: 'amount', type: 'double' },
  { name: 'active', type: 'bool' },
  { name: 'seen_at', type: 'timestamp' },
];

const ROWS: Row[] = [
  {
    name: 'Ünïcödé café 🦆 \uFFFF',
    count: 9_007_199_254_740_991,
    amount: -1234.5678,
    active: true,
    seen_at: new Date('2024-03-05T06:07:08.009Z'),
  },
  { name: null, count: null, amount: null, active: null, seen_at: null },
  { name: '', count: -42, amount: 0.1, active: false, seen_at: new Date('1969-07-20T20:17:40.123Z') },
  // Absent columns are nulls too.
  { name: '😀 only' },
];

/** Both writers behind the port: parquetjs-lite on this thread, and in a worker thread. */
const WRITERS = [
  ['in-thread', createParquetPartWriterFactory],
  ['worker', createWorkerPartWriterFactory],
] as const;
type CreateFactory = (options?: { rowGroupRows?: number; rowGroupBytes?: number }) => PartWriterFactory;

async function writePart(
  createFactory: CreateFactory,
  store: ObjectStore,
  key: string,
  rows: readonly Row[],
  rowGroupRows?: number,
) {
  const factory = createFactory(rowGroupRows === undefined ? {} : { rowGroupRows });
  const part = await factory.open(store, key, COLUMNS);
  for (const row of rows) await part.append(row);
  return part.close();
}

describe('parquet type mapping', () => {
  it('maps each column type to exactly one Parquet type', () => {
    expect(PARQUET_TYPES).toEqual({
      text: 'UTF8',
      bigint: 'INT64',
      double: 'DOUBLE',
      bool: 'BOOLEAN',
      timestamp: 'TIMESTAMP_MILLIS',
    });
    expect(parquetTypeOf('timestamp')).toBe('TIMESTAMP_MILLIS');
  });
});

describe.each(WRITERS)('parquet part writer (%s)', (_, createFactory) => {
  let dir: string;
  let store: ObjectStore;
  let instance: DuckDBInstance;
  let duck: DuckDBConnection;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parquet-writer-'));
    store = createLocalStore(dir);
    instance = await DuckDBInstance.create(':memory:');
    duck = await instance.connect();
  });
  afterAll(async () => {
    duck?.closeSync();
    instance?.closeSync();
    await rm(dir, { recursive: true, force: true });
  });

  const duckRows = async (sql: string) => (await duck.runAndReadAll(sql)).getRowsJS();

  it('writes all five types with nulls that hyparquet reads back exactly, with the right Parquet types', async () => {
    const result = await writePart(createFactory, store, 'types/dt=2024-01-02/a.parquet', ROWS);
    const file = await readParquet((await store.get('types/dt=2024-01-02/a.parquet'))!);

    expect(result).toEqual({ rows: 4, bytes: (await stat(join(dir, 'types/dt=2024-01-02/a.parquet'))).size });
    expect(file.numRows).toBe(4);
    expect(file.columns).toEqual([
      { name: 'name', physicalType: 'BYTE_ARRAY', convertedType: 'UTF8', optional: true },
      { name: 'count', physicalType: 'INT64', convertedType: undefined, optional: true },
      { name: 'amount', physicalType: 'DOUBLE', convertedType: undefined, optional: true },
      { name: 'active', physicalType: 'BOOLEAN', convertedType: undefined, optional: true },
      { name: 'seen_at', physicalType: 'INT64', convertedType: 'TIMESTAMP_MILLIS', optional: true },
    ]);
    expect(file.rows).toEqual([
      {
        name: 'Ünïcödé café 🦆 \uFFFF',
        count: 9_007_199_254_740_991n,
        amount: -1234.5678,
        active: true,
        seen_at: new Date('2024-03-05T06:07:08.009Z'),
      },
      { name: null, count: null, amount: null, active: null, seen_at: null },
      { name: '', count: -42n, amount: 0.1, active: false, seen_at: new Date('1969-07-20T20:17:40.123Z') },
      { name: '😀 only', count: null, amount: null, active: null, seen_at: null },
    ]);
  });

  it('is read by DuckDB as VARCHAR, BIGINT, DOUBLE, BOOLEAN and TIMESTAMP with the same values', async () => {
    await writePart(createFactory, store, 'duck/dt=2024-01-02/a.parquet', ROWS);
    const path = join(dir, 'duck/dt=2024-01-02/a.parquet');

    // hive_partitioning off: this checks the file's own types, not DuckDB's reading of the dt= folder.
    const source = `read_parquet('${path}', hive_partitioning = false)`;
    const types = await duckRows(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${source})`);
    const rows = await duckRows(
      `SELECT name, count, amount, active, strftime(seen_at, '%Y-%m-%dT%H:%M:%S.%g') FROM ${source}`,
    );

    expect(types).toEqual([
      ['name', 'VARCHAR'],
      ['count', 'BIGINT'],
      ['amount', 'DOUBLE'],
      ['active', 'BOOLEAN'],
      ['seen_at', 'TIMESTAMP'],
    ]);
    expect(rows).toEqual([
      ['Ünïcödé café 🦆 \uFFFF', 9_007_199_254_740_991n, -1234.5678, true, '2024-03-05T06:07:08.009'],
      [null, null, null, null, null],
      ['', -42n, 0.1, false, '1969-07-20T20:17:40.123'],
      ['😀 only', null, null, null, null],
    ]);
  });

  it('lets DuckDB filter text mixing half-width katakana and emoji (no wrong min/max statistics)', async () => {
    // UTF-16 order puts the emoji (a surrogate pair) before U+FF76; UTF-8 byte order, after.
    await writePart(createFactory, store, 'stats/dt=2024-01-02/a.parquet', [
      { name: 'ｶﾀｶﾅ' },
      { name: '😀 only' },
    ]);
    const source = `read_parquet('${join(dir, 'stats/dt=2024-01-02/a.parquet')}', hive_partitioning = false)`;

    expect(await duckRows(`SELECT name FROM ${source} WHERE name = '😀 only'`)).toEqual([['😀 only']]);
    expect(await duckRows(`SELECT name FROM ${source} WHERE name > 'ｶﾀｶﾅ'`)).toEqual([['😀 only']]);
  });

  it('keeps every row when appends are not awaited one by one', async () => {
    const part = await createFactory({ rowGroupRows: 10 }).open(
      store,
      'concurrent/dt=2024-01-02/a.parquet',
      COLUMNS,
    );
    await Promise.all(Array.from({ length: 95 }, (_, i) => part.append({ count: i })));
    await part.close();

    const file = await readParquet((await store.get('concurrent/dt=2024-01-02/a.parquet'))!);
    expect(file.rows.map((row) => row['count'])).toEqual(Array.from({ length: 95 }, (_, i) => BigInt(i)));
  });

  it('writes an empty part as a valid file with the columns and 0 rows', async () => {
    const result = await writePart(createFactory, store, 'empty/dt=2024-01-02/a.parquet', []);
    const path = join(dir, 'empty/dt=2024-01-02/a.parquet');

    const file = await readParquet((await store.get('empty/dt=2024-01-02/a.parquet'))!);
    expect(result.rows).toBe(0);
    expect(file.numRows).toBe(0);
    expect(file.columns.map((column) => column.name)).toEqual([
      'name',
      'count',
      'amount',
      'active',
      'seen_at',
    ]);
    expect(await duckRows(`SELECT count(*) FROM '${path}'`)).toEqual([[0n]]);
  });

  it('rejects a row with a column the part does not have, and stays usable', async () => {
    const part = await createFactory().open(store, 'unknown/dt=2024-01-02/a.parquet', COLUMNS);

    await expect(part.append({ name: 'a', surprise: 'x' })).rejects.toThrow(
      new TypeError(
        "part unknown/dt=2024-01-02/a.parquet: column 'surprise' is not one of the part's columns",
      ),
    );
    await part.append({ name: 'b' });
    await part.close();

    const file = await readParquet((await store.get('unknown/dt=2024-01-02/a.parquet'))!);
    expect(file.rows.map((row) => row['name'])).toEqual(['b']);
  });

  it.each([
    ['seen_at', '2024-01-02T03:04:05Z', 'timestamp', 'a string'],
    ['seen_at', new Date('not a date'), 'timestamp', 'an invalid Date'],
    ['count', 1.5, 'bigint', 'a number that is not an integer'],
    ['count', 1e21, 'bigint', 'an integer outside the INT64 range'],
    ['count', '12', 'bigint', 'a string'],
    ['amount', Number.NaN, 'double', 'NaN'],
    ['active', 'false', 'bool', 'a string'],
    ['name', 12, 'text', 'a number'],
  ] as const)(
    'refuses %s = %s instead of letting the encoder coerce it',
    async (column, value, type, kind) => {
      const part = await createFactory().open(store, 'mismatch/x.parquet', COLUMNS);

      const error = await part.append({ [column]: value } as Row).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toBe(
        `part mismatch/x.parquet: column '${column}' (${type}) cannot hold ${kind}`,
      );
      await part.abort();
    },
  );

  it('writes null, not inherited properties, for columns named like Object members', async () => {
    const columns: ColumnDef[] = [
      { name: 'constructor', type: 'text' },
      { name: 'toString', type: 'text' },
      { name: 'id', type: 'bigint' },
    ];
    const part = await createFactory().open(store, 'proto/dt=2024-01-02/a.parquet', columns);
    await part.append({ id: 1 });
    await part.append({ id: 2, constructor: 'set' });
    await part.close();

    const file = await readParquet((await store.get('proto/dt=2024-01-02/a.parquet'))!);
    expect(file.rows).toEqual([
      { constructor: null, toString: null, id: 1n },
      { constructor: 'set', toString: null, id: 2n },
    ]);
  });

  it('leaves nothing in the store when a part is aborted', async () => {
    const part = await createFactory({ rowGroupRows: 10 }).open(
      store,
      'aborted/dt=2024-01-02/a.parquet',
      COLUMNS,
    );
    for (let i = 0; i < 25; i += 1) await part.append({ count: i });
    await part.abort();

    expect(await store.list('aborted/')).toEqual([]);
    await expect(part.append({ count: 1 })).rejects.toThrow('append after abort');
  });

  it('closes a row group once its rows reach the byte budget, before the row cap; narrow rows at the row cap', async () => {
    // 1,000 estimated bytes a row (992 characters and a bigint): the 10,000-byte budget closes
    // each row group at its 10th row, far under the 1,000-row cap.
    const factory = createFactory({ rowGroupRows: 1_000, rowGroupBytes: 10_000 });
    const wide = await factory.open(store, 'bytes/wide.parquet', COLUMNS);
    for (let i = 0; i < 100; i++) await wide.append({ name: `${i}`.padEnd(992, 'w'), count: i });
    expect(await wide.close()).toMatchObject({ rows: 100 });
    const wideFile = await readParquet((await store.get('bytes/wide.parquet'))!);
    expect(wideFile.rowGroups).toBe(10);
    expect(wideFile.rows.map((r) => Number(r.count))).toEqual(Array.from({ length: 100 }, (_, i) => i));

    // 8 bytes a row: 3,000 rows are 24,000 bytes, but the row cap closes each group first.
    const narrow = await factory.open(store, 'bytes/narrow.parquet', COLUMNS);
    for (let i = 0; i < 3_000; i++) await narrow.append({ count: i });
    await narrow.close();
    expect((await readParquet((await store.get('bytes/narrow.parquet'))!)).rowGroups).toBe(3);
  });

  it('takes a byte budget set on an open part at its next append', async () => {
    const part = await createFactory({ rowGroupRows: 1_000 }).open(store, 'bytes/set.parquet', COLUMNS);
    for (let i = 0; i < 10; i++) await part.append({ name: 'x'.repeat(1_000) });
    // The 10 rows buffered (10,000 bytes) already reach 5,000: the next row closes the group.
    part.setRowGroupBytes(5_000);
    for (let i = 0; i < 10; i++) await part.append({ name: 'x'.repeat(1_000) });
    await part.close();
    // 11 rows, then groups of 5, 4 rows left for the last.
    expect((await readParquet((await store.get('bytes/set.parquet'))!)).rowGroups).toBe(3);
    expect(() => part.setRowGroupBytes(0)).toThrow(RangeError);
  });

  it('refuses duplicate, empty and __proto__ column names', async () => {
    const factory = createFactory();
    for (const columns of [
      [
        { name: 'a', type: 'text' },
        { name: 'a', type: 'bigint' },
      ],
      [{ name: '', type: 'text' }],
      [{ name: '__proto__', type: 'text' }],
      [],
    ] as ColumnDef[][]) {
      await expect(factory.open(store, 'bad/x.parquet', columns)).rejects.toThrow(TypeError);
    }
    expect(await store.list('bad/')).toEqual([]);
  });
});

/** What differs in time with a worker: when bytes reach the store, when a store failure shows. */
describe('parquet part writer (in-thread)', () => {
  let dir: string;
  let store: ObjectStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parquet-writer-'));
    store = createLocalStore(dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('flushes full row groups to the store as it goes and writes the rest on close', async () => {
    const part = await createParquetPartWriterFactory({ rowGroupRows: 100 }).open(
      store,
      'groups/dt=2024-01-02/a.parquet',
      COLUMNS,
    );
    for (let i = 0; i < 99; i += 1) await part.append({ count: i });
    const beforeFirstGroup = part.bytesWritten();
    await part.append({ count: 99 });
    const afterFirstGroup = part.bytesWritten();
    for (let i = 100; i < 250; i += 1) await part.append({ count: i, name: `row ${i}` });
    const result = await part.close();

    const file = await readParquet((await store.get('groups/dt=2024-01-02/a.parquet'))!);
    // Before the first row group is full, at most the 4-byte 'PAR1' magic has reached the store.
    expect(beforeFirstGroup).toBeLessThanOrEqual(4);
    expect(afterFirstGroup).toBeGreaterThan(100);
    expect(result).toEqual({ rows: 250, bytes: part.bytesWritten() });
    expect(part.rowsWritten()).toBe(250);
    expect(file.rowGroups).toBe(3);
    expect(file.rows.map((row) => row['count'])).toEqual(Array.from({ length: 250 }, (_, i) => BigInt(i)));
  });

  it('surfaces a store failure on append and close, and aborts the object', async () => {
    const aborted: string[] = [];
    const failing: ObjectStore = {
      ...store,
      async openWrite(key) {
        const inner = await store.openWrite(key);
        let calls = 0;
        return {
          async write(chunk) {
            calls += 1;
            // The header goes through; the first row group does not.
            if (calls > 1) throw new StoreError(key, 'disk full (simulated)');
            await inner.write(chunk);
          },
          close: () => inner.close(),
          async abort() {
            aborted.push(key);
            await inner.abort();
          },
        };
      },
    };
    const part = await createParquetPartWriterFactory({ rowGroupRows: 2 }).open(
      failing,
      'failing/a.parquet',
      COLUMNS,
    );

    await part.append({ count: 1 });
    await expect(part.append({ count: 2 })).rejects.toThrow('lake failing/a.parquet: disk full (simulated)');
    await expect(part.append({ count: 3 })).rejects.toThrow('disk full (simulated)');
    await expect(part.close()).rejects.toThrow('disk full (simulated)');
    expect(aborted).toEqual(['failing/a.parquet']);
    expect(await store.list('failing/')).toEqual([]);
  });
});

describe.each(WRITERS)('parquet part writer into S3 (%s)', (_, createFactory) => {
  let s3rver: RunningS3rver;
  let restoreEnv: () => void;

  beforeAll(async () => {
    s3rver = await startS3rver({ buckets: ['lake'] });
    restoreEnv = withS3Env(s3rver.endpoint);
  });
  afterAll(async () => {
    restoreEnv?.();
    await s3rver?.close();
  });

  it('streams parts through the S3 store that read back identically', async () => {
    const store = createS3Store({ bucket: 'lake', prefix: 'paylink' });
    const rows = Array.from({ length: 1000 }, (_, i) => ({ ...ROWS[i % ROWS.length], count: i }));

    const result = await writePart(
      createFactory,
      store,
      'users/dt=2024-01-02/l.00000.0000.parquet',
      rows,
      300,
    );
    const bytes = await store.get('users/dt=2024-01-02/l.00000.0000.parquet');
    const file = await readParquet(bytes!);

    expect(result).toEqual({ rows: 1000, bytes: bytes?.length });
    expect(file.rowGroups).toBe(4);
    expect(file.rows[0]).toEqual({
      name: 'Ünïcödé café 🦆 \uFFFF',
      count: 0n,
      amount: -1234.5678,
      active: true,
      seen_at: new Date('2024-03-05T06:07:08.009Z'),
    });
    expect(file.rows.map((row) => row['count'])).toEqual(rows.map((row) => BigInt(row.count)));
    expect(file.rows[2]).toEqual({
      name: '',
      count: 2n,
      amount: 0.1,
      active: false,
      seen_at: new Date('1969-07-20T20:17:40.123Z'),
    });
  });

  it('writes an empty part to S3 as a valid file', async () => {
    const store = createS3Store({ bucket: 'lake', prefix: 'paylink' });

    await writePart(createFactory, store, 'empty/dt=2024-01-02/e.parquet', []);

    expect((await readParquet((await store.get('empty/dt=2024-01-02/e.parquet'))!)).numRows).toBe(0);
  });
});
