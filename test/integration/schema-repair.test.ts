/**
 * The schema registry deleted or damaged by hand next to committed data: loads stop before
 * writing anything, naming the repair; `repair-schema` rebuilds the registry from the committed
 * Parquet footers; the next load then keeps every column at one Parquet type.
 */
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  credentialsEnv,
  parquetTypesByColumn,
  runCli,
  runLoad,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';

const API_KEY = 'repair-key';
const API_SECRET = 'repair-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const SEED = 'repair';

describe('a lake whose schema registry was lost', () => {
  let scratch: Scratch;
  let sim: Simulator;
  let usersFile: string;
  let healthy: string;

  beforeAll(async () => {
    scratch = await Scratch.create('repair');
    // Drifting types across users: re-inferring from new data would pick other types.
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    usersFile = await scratch.users('users.txt', generateIdentifiers(SEED, 30));
    healthy = scratch.path('healthy');
    const first = await runLoad({ users: usersFile, dest: healthy, baseUrl: sim.url, loadId: 'first' }, ENV);
    expect(first.code, first.stderr).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  const copyOfLake = async (name: string) => {
    const dest = scratch.path(name);
    await cp(healthy, dest, { recursive: true });
    return dest;
  };
  const files = async (dir: string) => (await readdir(dir, { recursive: true })).map(String).sort();

  it('stops a load before it writes anything when _schema is gone, and names the repair', async () => {
    const dest = await copyOfLake('no-schema');
    await rm(`${dest}/_schema`, { recursive: true });
    const before = await files(dest);

    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, loadId: 'second' }, ENV);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('schema registry');
    expect(run.stderr).toContain(`paylink-loader repair-schema --dest ${dest}`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(await files(dest)).toEqual(before);
  });

  it('stops a load when the newest version file is gone (current.json is ahead of it)', async () => {
    const dest = await copyOfLake('lost-version');
    // A later commit claimed version 2 (and copied it to current.json); then version 2's file was lost.
    const v1 = JSON.parse(await readFile(`${dest}/_schema/versions/000001.json`, 'utf8'));
    await writeFile(`${dest}/_schema/current.json`, JSON.stringify({ ...v1, version: 2 }));

    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, loadId: 'after' }, ENV);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/current\.json is at version \d+ but the newest version file is \d+/);
  });

  it('stops a load when current.json is left without any version file', async () => {
    const dest = await copyOfLake('only-current');
    await rm(`${dest}/_schema/versions`, { recursive: true });
    await writeFile(`${dest}/_schema/current.json`, '{"formatVersion": 1, "version": 1, "tables": {}}');
    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, loadId: 'x' }, ENV);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no version file does');
  });

  it('rebuilds the registry from the committed footers; the next load keeps one Parquet type per column', async () => {
    const dest = await copyOfLake('repaired');
    const expected = JSON.parse(await readFile(`${dest}/_schema/current.json`, 'utf8')) as {
      tables: Record<string, { columns: { name: string; type: string }[] }>;
    };
    await rm(`${dest}/_schema`, { recursive: true });

    const repair = await runCli(['repair-schema', '--dest', dest, '--json']);
    expect(repair.code, repair.stderr).toBe(0);
    const result = JSON.parse(repair.stdout) as { version: number; tables: number };
    expect(result.version).toBe(1);
    expect(result.tables).toBe(Object.keys(expected.tables).length);

    const rebuilt = JSON.parse(await readFile(`${dest}/_schema/current.json`, 'utf8')) as typeof expected;
    for (const [table, { columns }] of Object.entries(expected.tables)) {
      const types = (list: { name: string; type: string }[]) =>
        Object.fromEntries(list.map((c) => [c.name, c.type]));
      expect(types(rebuilt.tables[table]?.columns ?? []), table).toEqual(types(columns));
    }

    const next = await runLoad({ users: usersFile, dest, baseUrl: sim.url, loadId: 'second' }, ENV);
    expect(next.code, next.stderr).toBe(0);
    for (const [table, columns] of await parquetTypesByColumn(dest)) {
      for (const [column, types] of columns) expect([...types], `${table}.${column}`).toHaveLength(1);
    }
    const rows = await withLake(dest, (lake) =>
      lake.query('SELECT count(DISTINCT _dlt_load_id) FROM accounts'),
    );
    expect(rows.rows).toEqual([[2]]);
  });

  it('restores the source field -> column mapping from a readable registry document, and says so', async () => {
    const dest = await copyOfLake('fields-from-current');
    const expected = JSON.parse(await readFile(`${dest}/_schema/current.json`, 'utf8')) as {
      tables: Record<string, { fields?: unknown[] }>;
    };
    // The version files are gone; current.json (a copy of the newest) survived.
    await rm(`${dest}/_schema/versions`, { recursive: true });
    const repair = await runCli(['repair-schema', '--dest', dest, '--json']);
    expect(repair.code, repair.stderr).toBe(0);
    const result = JSON.parse(repair.stdout) as {
      fieldsRestored: number;
      fieldsFrom: number[];
      unmappedColumns: string[];
      unmappedTables: string[];
    };
    const count = Object.values(expected.tables).reduce((n, t) => n + (t.fields?.length ?? 0), 0);
    expect(count).toBeGreaterThan(10);
    expect(result).toMatchObject({
      fieldsRestored: count,
      fieldsFrom: [1],
      unmappedColumns: [],
      unmappedTables: [],
    });
    const rebuilt = JSON.parse(await readFile(`${dest}/_schema/current.json`, 'utf8')) as typeof expected;
    const sorted = (fields: unknown[] | undefined) => (fields ?? []).map((f) => JSON.stringify(f)).sort();
    for (const [table, { fields }] of Object.entries(expected.tables))
      expect(sorted(rebuilt.tables[table]?.fields), table).toEqual(sorted(fields));
  });

  it('says which columns it could not map when no registry document is left', async () => {
    const dest = await copyOfLake('fields-lost');
    await rm(`${dest}/_schema`, { recursive: true });
    const repair = await runCli(['repair-schema', '--dest', dest]);
    expect(repair.code, repair.stderr).toBe(0);
    expect(repair.stdout).toContain('no source field -> column mapping could be restored');
    expect(repair.stdout).toMatch(
      /Could not restore which source field \d+ column\(s\)\/table\(s\) hold: accounts\./,
    );
    // Unmapped columns are adopted by the next load's fields of the same name: no duplicate column.
    const next = await runLoad({ users: usersFile, dest, baseUrl: sim.url, loadId: 'after-repair' }, ENV);
    expect(next.code, next.stderr).toBe(0);
    const schema = JSON.parse(await readFile(`${dest}/_schema/current.json`, 'utf8')) as {
      tables: Record<string, { columns: { name: string }[] }>;
    };
    const names = schema.tables.accounts!.columns.map((c) => c.name);
    expect(names.filter((n) => /_[a-z0-9]{6}$/.test(n) && names.includes(n.slice(0, -7)))).toEqual([]);
  });

  it('ignores the files of a load that never committed', async () => {
    const dest = await copyOfLake('orphans');
    // Killed after its report, before its commit point: neither is a committed load.
    await rm(`${dest}/_dlt_loads/first.parquet`);
    await rm(`${dest}/_loads/first.json`);
    await rm(`${dest}/_schema`, { recursive: true });
    const repair = await runCli(['repair-schema', '--dest', dest, '--json']);
    expect(repair.code, repair.stderr).toBe(0);
    const result = JSON.parse(repair.stdout) as { files: number; uncommittedFiles: number };
    expect(result.files).toBe(0);
    expect(result.uncommittedFiles).toBeGreaterThan(0);
  });
});
