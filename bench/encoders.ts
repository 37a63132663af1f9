/**
 * The encoder question (issue 11, item 3), answered by measurement on every run: the same
 * normalized, typed rows written by parquetjs-lite (the product's writer,
 * `createParquetPartWriterFactory`), @dsnp/parquetjs and hyparquet-writer, each through the
 * loader's writer port (`PartWriterFactory`; the other two's adapters are bench/lib/part-writers.ts),
 * then read back by DuckDB and compared value for value against the parquetjs-lite files.
 *
 *   node --import tsx bench/encoders.ts [--users 2000] [--quick] [--no-save]
 *
 * Rows: the simulated world's users through `loadUser` and `SchemaRegistry.typeRow` (the default
 * resources, ~44 rows a user over ~19 tables), generated before any timing. Each writer writes
 * every table to one file in a temp dir, SNAPPY, row groups of 10,000 rows, every column
 * optional, as a load's part: open, append row by row, close; its time covers everything it needs
 * to do so (each row's type check, and hyparquet-writer's column transposition, included). The
 * writers run one after another in this process, in a different order on each of `--repeat`
 * passes, and the best pass of each is kept (the machine is shared).
 *
 * @dsnp/parquetjs and hyparquet-writer are devDependencies, used here and in
 * test/integration/encoder-port.test.ts only: parquetjs-lite stays the product's writer behind the
 * port (lambdas/adapters/parquet-writer.ts) unless these figures show the request path or the
 * merge step cannot meet their targets with it.
 * Results are appended to bench/results/encoders.md.
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { loaderSettings, selectResources } from '#core/config.ts';
import { loadDate } from '#core/layout.ts';
import { loadUser } from '#core/load-user.ts';
import type { PartWriterFactory } from '#core/ports.ts';
import { SchemaRegistry } from '#core/schema-registry.ts';
import type { ColumnDef, Row } from '#core/types.ts';
import { markdownTable } from './lib/format.ts';
import { describeMachine, recordRun } from './lib/history.ts';
import { createInProcessApi } from './lib/in-process-api.ts';
import { createDsnpPartWriterFactory, createHyparquetPartWriterFactory } from './lib/part-writers.ts';
import { userIdentifiers } from './lib/user-identifiers.ts';

const LOAD_ID = '1764064800.000000';
const DT = loadDate(LOAD_ID, new Date(0));
const ROW_GROUP_ROWS = 10_000;

interface Table {
  readonly name: string;
  readonly columns: readonly ColumnDef[];
  readonly rows: Row[];
}

type WriterName = 'parquetjs-lite' | '@dsnp/parquetjs' | 'hyparquet-writer';
const WRITERS: readonly WriterName[] = ['parquetjs-lite', '@dsnp/parquetjs', 'hyparquet-writer'];

async function normalizedTables(users: number): Promise<Table[]> {
  const { steps } = selectResources(loaderSettings().catalog);
  const api = createInProcessApi('paylink');
  const registry = SchemaRegistry.empty();
  const byTable = new Map<string, Row[]>();
  for (const identifier of userIdentifiers('paylink', users)) {
    const result = await loadUser({ identifier, steps, loadId: LOAD_ID, dt: DT }, api);
    for (const { table: key, row: raw } of result.rows) {
      const { table, row } = registry.typeRow(key, raw);
      const rows = byTable.get(table) ?? [];
      if (rows.length === 0) byTable.set(table, rows);
      rows.push(row);
    }
  }
  return [...byTable].map(([name, rows]) => ({ name, columns: [...registry.columns(name)], rows }));
}

/** Each writer behind the loader's port, as a load would use it (bench/lib/part-writers.ts). */
const FACTORIES: Record<WriterName, PartWriterFactory> = {
  'parquetjs-lite': createParquetPartWriterFactory({ rowGroupRows: ROW_GROUP_ROWS }),
  '@dsnp/parquetjs': await createDsnpPartWriterFactory({ rowGroupRows: ROW_GROUP_ROWS }),
  'hyparquet-writer': createHyparquetPartWriterFactory({ rowGroupRows: ROW_GROUP_ROWS }),
};

/** One table's rows into one file, through the port: open, append each row, close. */
async function write(writer: WriterName, table: Table, file: string, dir: string): Promise<void> {
  const part = await FACTORIES[writer].open(createLocalStore(dir), path.relative(dir, file), table.columns);
  for (const row of table.rows) await part.append(row);
  await part.close();
}

/** Rows of `b` not in `a` plus rows of `a` not in `b` (multisets), every column compared by name. */
async function differences(
  connection: Awaited<ReturnType<DuckDBInstance['connect']>>,
  table: Table,
  a: string,
  b: string,
): Promise<number> {
  const cols = table.columns
    .map((c) => {
      const q = `"${c.name.replaceAll('"', '""')}"`;
      return c.type === 'timestamp' ? `CAST(${q} AS TIMESTAMP) AS ${q}` : q;
    })
    .join(', ');
  const from = (f: string) => `SELECT ${cols} FROM read_parquet('${f.replaceAll("'", "''")}')`;
  const sql = `SELECT count(*) FROM ((${from(a)} EXCEPT ALL ${from(b)}) UNION ALL (${from(b)} EXCEPT ALL ${from(a)}))`;
  const reader = await connection.runAndReadAll(sql);
  return Number(reader.getRows()[0]![0]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string' },
      repeat: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-save': { type: 'boolean', default: false },
    },
  });
  const users = Number(values.users ?? (values.quick ? 500 : 2000));
  const repeat = Number(values.repeat ?? (values.quick ? 1 : 3));
  const machine = describeMachine();
  const startedAt = new Date();
  const tables = await normalizedTables(users);
  const rows = tables.reduce((n, t) => n + t.rows.length, 0);
  const dir = await mkdtemp(path.join(tmpdir(), 'paylink-encoders-'));
  const best = new Map<WriterName, number>();
  const bytes = new Map<WriterName, number>();
  const fileOf = (writer: WriterName, table: Table) =>
    path.join(dir, writer.replace(/[@/]/g, '_'), `${table.name}.parquet`);
  try {
    for (let pass = 0; pass < repeat; pass++) {
      const order = WRITERS.map((_, i) => WRITERS[(i + pass) % WRITERS.length]!);
      for (const writer of order) {
        await rm(path.join(dir, writer.replace(/[@/]/g, '_')), { recursive: true, force: true });
        await mkdir(path.join(dir, writer.replace(/[@/]/g, '_')), { recursive: true });
        const started = performance.now();
        for (const table of tables) await write(writer, table, fileOf(writer, table), dir);
        const ms = performance.now() - started;
        best.set(writer, Math.min(best.get(writer) ?? Number.POSITIVE_INFINITY, ms));
      }
    }
    for (const writer of WRITERS) {
      let total = 0;
      for (const table of tables) total += (await stat(fileOf(writer, table))).size;
      bytes.set(writer, total);
    }
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const mismatches = new Map<WriterName, number>();
    for (const writer of WRITERS.slice(1)) {
      let diff = 0;
      for (const table of tables)
        diff += await differences(connection, table, fileOf('parquetjs-lite', table), fileOf(writer, table));
      mismatches.set(writer, diff);
    }
    connection.closeSync();
    instance.closeSync();

    const base = best.get('parquetjs-lite')!;
    const baseBytes = bytes.get('parquetjs-lite')!;
    const table = markdownTable(
      [
        'writer',
        'rows/s',
        'vs parquetjs-lite',
        'bytes',
        'size vs parquetjs-lite',
        'rows differing in DuckDB',
      ],
      WRITERS.map((w) => [
        w,
        Math.round(rows / (best.get(w)! / 1000)).toLocaleString('en-US'),
        `${(base / best.get(w)!).toFixed(2)}x`,
        bytes.get(w)!.toLocaleString('en-US'),
        `${(bytes.get(w)! / baseBytes).toFixed(2)}x`,
        w === 'parquetjs-lite' ? '(reference)' : String(mismatches.get(w)),
      ]),
    );
    const command = `node --import tsx bench/encoders.ts ${process.argv.slice(2).join(' ')}`.trim();
    await recordRun('encoders', {
      machine,
      command,
      startedAt,
      notes: [
        `- ${users.toLocaleString('en-US')} simulated users -> ${rows.toLocaleString('en-US')} rows in ${tables.length} tables; one file per table and writer, SNAPPY, row groups of ${ROW_GROUP_ROWS.toLocaleString('en-US')}; best of ${repeat} pass(es), writers in rotating order`,
        "- each writer through the loader's writer port (PartWriterFactory: open, append row by row, close), the other two by bench/lib/part-writers.ts",
        '- value check: DuckDB reads each file and compares it with the parquetjs-lite file of the same table (EXCEPT ALL both ways, every column by name, timestamps as TIMESTAMP)',
      ],
      table,
      save: !values['no-save'],
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
