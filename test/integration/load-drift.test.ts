/**
 * Type drift (amounts as numbers, "12.50" or "N/A"; billing days as 15, 15.5 or "15th") must
 * never give a column two Parquet types: a misfit goes to a variant column, within a load and
 * across loads, so every table stays readable as one relation.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadSummary } from '#cli/summary.ts';
import type { SchemaDoc } from '#core/schema-registry.ts';
import type { ColumnType } from '#core/types.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  credentialsEnv,
  type LoadArgs,
  parquetTypesByColumn,
  runLoad,
  Scratch,
  tableCounts,
  withLake,
} from '#test/helpers/lake-harness.ts';

const API_KEY = 'drift-key';
const API_SECRET = 'drift-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const USERS = 40;

/** How each column type is written (parquet-schema.ts), as `physical/converted`. */
const PARQUET_TYPE: Record<ColumnType, string> = {
  text: 'BYTE_ARRAY/UTF8',
  bigint: 'INT64/-',
  double: 'DOUBLE/-',
  bool: 'BOOLEAN/-',
  timestamp: 'INT64/TIMESTAMP_MILLIS',
};

/** Every column has one Parquet type in every file of its table, and it is the registry's. */
async function expectOneTypePerColumn(lakeDir: string, schema: SchemaDoc): Promise<number> {
  const seen = await parquetTypesByColumn(lakeDir);
  let columns = 0;
  for (const [table, byColumn] of seen) {
    const registered = new Map(schema.tables[table]?.columns.map((c) => [c.name, c.type]));
    expect(registered.size, `table ${table} is in the registry`).toBeGreaterThan(0);
    for (const [column, types] of byColumn) {
      expect([...types], `Parquet types of ${table}.${column} across files`).toHaveLength(1);
      const type = registered.get(column);
      expect(type, `${table}.${column} is in the registry`).toBeDefined();
      expect([...types][0], `${table}.${column} is written as its registry type (${type})`).toBe(
        PARQUET_TYPE[type!],
      );
      columns++;
    }
    expect([...byColumn.keys()].sort(), `${table}: every registered column is in some file`).toEqual(
      [...registered.keys()].sort(),
    );
  }
  expect([...seen.keys()].sort(), 'tables with files = tables in the registry').toEqual(
    Object.keys(schema.tables)
      .filter((t) => t !== '_dlt_loads')
      .sort(),
  );
  return columns;
}

describe('type drift across users and loads', () => {
  let scratch: Scratch;
  let lakeDir: string;
  let simA: Simulator;
  let simB: Simulator;
  let firstSchema: SchemaDoc;

  const readSchema = async () =>
    JSON.parse(await readFile(scratch.path('lake', '_schema', 'current.json'), 'utf8')) as SchemaDoc;

  const load = async (sim: Simulator, seed: string, loadId: string, concurrency: number) => {
    const users = await scratch.users(`${seed}.txt`, generateIdentifiers(seed, USERS));
    const args: LoadArgs = { users, dest: lakeDir, baseUrl: sim.url, loadId, concurrency, json: true };
    const run = await runLoad(args, ENV);
    expect(run.code, `exit code of ${loadId} (stderr: ${run.stderr})`).toBe(0);
    return JSON.parse(run.stdout) as LoadSummary;
  };

  beforeAll(async () => {
    scratch = await Scratch.create('drift');
    lakeDir = scratch.path('lake');
    // Two worlds: the second load meets other values (and other drift) for every column.
    simA = await startSimulator({ seed: 'drift-a', apiKey: API_KEY, apiSecret: API_SECRET });
    simB = await startSimulator({ seed: 'drift-b', apiKey: API_KEY, apiSecret: API_SECRET });
    // One user at a time: which value a column first sees (so its type) is the same every run.
    await load(simA, 'drift-a', 'drift-1', 1);
    firstSchema = await readSchema();
  });
  afterAll(async () => {
    await simA?.close();
    await simB?.close();
    await scratch?.dispose();
  });

  it('gives every column of every table exactly one Parquet type, with misfits in variant columns', async () => {
    const columns = await expectOneTypePerColumn(lakeDir, firstSchema);
    expect(columns).toBeGreaterThan(50);

    const variants = Object.entries(firstSchema.tables).flatMap(([table, { columns }]) =>
      columns.filter((c) => c.name.includes('__v_')).map((c) => ({ table, ...c })),
    );
    expect(
      variants.map((v) => `${v.table}.${v.name}`),
      'variant columns of the drifting fields',
    ).toEqual(expect.arrayContaining([expect.stringMatching(/^accounts\.billing_day__v_/)]));
    for (const v of variants) {
      const base = v.name.slice(0, v.name.lastIndexOf('__v_'));
      const baseType = firstSchema.tables[v.table]!.columns.find((c) => c.name === base)?.type;
      expect(baseType, `base column of ${v.table}.${v.name}`).toBeDefined();
      expect(v.name, `a variant is named after its own type`).toBe(`${base}__v_${v.type}`);
      expect(baseType, `${v.table}.${v.name} holds another type than its base`).not.toBe(v.type);
    }
  });

  it('keeps every existing column type in a second load of other data into the same lake', async () => {
    // Eight users at a time: new columns are typed by whichever user comes first, concurrently.
    const second = await load(simB, 'drift-b', 'drift-2', 8);
    const secondSchema = await readSchema();

    // The second world drifts where the first did not: misfits of existing columns become variants.
    const lateVariants = second.schemaChanges.filter(
      (c) =>
        c.kind === 'new_variant' &&
        firstSchema.tables[c.table]?.columns.some((col) => col.name === c.variantOf),
    );
    expect(lateVariants.length, 'variants added to columns of the first load').toBeGreaterThan(0);

    for (const [table, { columns }] of Object.entries(firstSchema.tables)) {
      const after = secondSchema.tables[table]?.columns ?? [];
      expect(after.slice(0, columns.length), `${table}: the first load's columns, in order and type`).toEqual(
        columns,
      );
    }
    expect(secondSchema.version, 'schema version').toBeGreaterThanOrEqual(firstSchema.version);
    await expectOneTypePerColumn(lakeDir, secondSchema);

    await withLake(lakeDir, async (lake) => {
      const counts = await tableCounts(lake);
      for (const table of lake.tables()) {
        // Reading every column of every part, not just counting: a type clash fails here.
        const all = await lake.query(`SELECT * FROM "${table}"`);
        expect(all.rows.length, `SELECT * FROM ${table}`).toBe(counts[table]);
      }
      const loads = await lake.query('SELECT DISTINCT _dlt_load_id FROM accounts ORDER BY 1');
      expect(loads.rows, 'both loads are in accounts').toEqual([['drift-1'], ['drift-2']]);
    });
  });
});
