/**
 * `query` as a person and a script use it (read-only, whole values, CSV and JSON, SQL from a
 * file or stdin, several statements), the demo's query of its own load, and what a digit
 * `--load-id` does to the partition date: in-process through main() on lakes of real loads.
 */
import { existsSync } from 'node:fs';
import { cp, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTable } from '#cli/duckdb-lake.ts';
import type { Io } from '#cli/io.ts';
import { main } from '#cli/main.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  captureIo,
  credentialsEnv,
  listFiles,
  loadArgv,
  queryObjects,
  readAllFiles,
  runCli,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';

const SEED = 'query';
const ENV = credentialsEnv('query-key', 'query-secret');

/** Runs a command with stdin: a stream of `text`, or a terminal (`tty`). */
async function runWithStdin(argv: readonly string[], stdin: { text?: string; tty?: boolean }) {
  const captured = captureIo();
  const stream = Object.assign(Readable.from(stdin.text === undefined ? [] : [Buffer.from(stdin.text)]), {
    isTTY: stdin.tty === true ? true : undefined,
  });
  const io: Io = { ...captured.io, stdin: stream };
  const code = await main(argv, io);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}

describe('paylink-loader query', () => {
  let scratch: Scratch;
  let sim: Simulator;
  let dest: string;

  beforeAll(async () => {
    scratch = await Scratch.create('query');
    sim = await startSimulator({
      seed: SEED,
      apiKey: 'query-key',
      apiSecret: 'query-secret',
      faults: { failUsers: generateIdentifiers(SEED, 4).slice(0, 1) },
    });
    dest = scratch.path('lake');
    const users = await scratch.users('users.txt', generateIdentifiers(SEED, 4));
    const run = await runCli(
      loadArgv({ users, dest, baseUrl: sim.url, loadId: 'q1', resources: ['accounts'] }),
      ENV,
    );
    expect(run.code, run.stderr).toBe(3);
  }, 60_000);
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it('refuses COPY ... TO and writes no file, and reading still works', async () => {
    const outside = scratch.path('x.csv');
    const copy = await runCli(['query', '--dest', dest, `COPY (SELECT 1) TO '${outside}'`]);
    expect(copy.code).toBe(1);
    expect(copy.stderr).toMatch(/^error: sql: .*read-only/);
    expect(existsSync(outside)).toBe(false);
    // Inside the lake folder too, where the views may read.
    const inside = `${dest}/x.csv`;
    const copyIn = await runCli(['query', '--dest', dest, `COPY (SELECT 1) TO '${inside}'`]);
    expect(copyIn.code).toBe(1);
    expect(copyIn.stderr).toContain('is COPY: query is read-only');
    expect(existsSync(inside)).toBe(false);

    // DuckDB's own guard, beneath the statement check: a plain SELECT cannot reach files outside the lake.
    const secret = await scratch.text('outside.csv', 'a\n1\n');
    const outsideRead = await runCli(['query', '--dest', dest, `SELECT * FROM read_csv('${secret}')`]);
    expect(outsideRead.code).toBe(1);
    expect(outsideRead.stderr).toContain('reads only the lake folder');

    const read = await runCli(['query', '--dest', dest, '--json', 'SELECT count(*) AS n FROM user_loads']);
    expect(read.code, read.stderr).toBe(0);
    expect(JSON.parse(read.stdout)).toEqual({ columns: ['n'], rows: [[4]] });
  });

  it('refuses every kind of write, and a write in any statement refuses the whole SQL', async () => {
    const lakeBefore = await readAllFiles(dest);
    const readOnly = /read-only/;
    for (const [sql, reason] of [
      ['CREATE TABLE t AS SELECT 1', readOnly],
      // Every table is a view, which DuckDB's binder refuses to write first: still named a write.
      [
        'INSERT INTO user_loads SELECT * FROM user_loads',
        /^error: sql: the statement is INSERT: query is read-only/,
      ],
      ["UPDATE accounts SET id = 'x'", /^error: sql: the statement is UPDATE: query is read-only/],
      [`ATTACH '${scratch.path('other.duckdb')}' AS other`, readOnly],
      // DuckDB types INSTALL as LOAD: the message names what was written.
      ['INSTALL httpfs', /^error: sql: the statement is INSTALL: query is read-only/],
      ['LOAD httpfs', /^error: sql: the statement is LOAD: query is read-only/],
      [`EXPORT DATABASE '${scratch.path('export')}'`, readOnly],
      ['SET enable_external_access = true', /locked|read-only/],
      [`SET allowed_directories = ['/']`, /locked|read-only/],
      ['PRAGMA enable_profiling', readOnly],
    ] as const) {
      const run = await runCli(['query', '--dest', dest, sql]);
      expect(run.code, sql).toBe(1);
      expect(run.stderr, sql).toMatch(reason);
    }
    const marker = scratch.path('first.csv');
    const mixed = await runCli([
      'query',
      '--dest',
      dest,
      `SELECT 1 AS a; COPY (SELECT 2) TO '${marker}'; SELECT 3 AS c`,
    ]);
    expect(mixed.code).toBe(1);
    expect(mixed.stdout, 'no statement ran, so nothing printed').toBe('');
    expect(mixed.stderr).toContain('statement 2');
    expect(existsSync(marker)).toBe(false);
    expect(await listFiles(scratch.path('export'))).toEqual([]);
    expect(existsSync(scratch.path('other.duckdb'))).toBe(false);
    expect(await readAllFiles(dest)).toEqual(lakeBefore);
  });

  it('says that no statement was given when the SQL holds only comments', async () => {
    for (const sql of ['-- just a comment', '/* nothing */ ;\n-- still nothing\n']) {
      const run = await runCli(['query', '--dest', dest, sql]);
      expect(run.code, sql).toBe(1);
      expect(run.stderr, sql).toBe('error: sql: no statement was given (the SQL holds only comments).\n');
    }
    // Semicolons and comment marks inside quoted text do not split or hide a statement.
    const quoted = await runCli(['query', '--dest', dest, "-- c\nSELECT ';--' AS a; SELECT '/*' AS b"]);
    expect(quoted.code, quoted.stderr).toBe(0);
    expect(quoted.stdout).toContain(';--');
  });

  it('names an unreadable part of the lake in one line and points at verify', async () => {
    const damaged = scratch.path('damaged-lake');
    await cp(dest, damaged, { recursive: true });
    const part = (await listFiles(join(damaged, '_dlt_loads'))).find((f) => f.endsWith('.parquet'))!;
    await writeFile(join(damaged, '_dlt_loads', part), 'not parquet at all\n');
    const run = await runCli(['query', '--dest', damaged, 'SELECT 1']);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')).toHaveLength(2);
    expect(run.stderr).toContain(join(damaged, '_dlt_loads', part));
    expect(run.stderr).toContain(`'paylink-loader verify --dest ${damaged}' checks every part of the lake`);
    expect(run.stderr).not.toMatch(/DESCRIBE|read_parquet/);
  });

  it('runs every statement and prints each result in order', async () => {
    const table = await runCli([
      'query',
      '--dest',
      dest,
      'SELECT count(*) AS users FROM user_loads; SELECT DISTINCT status FROM user_loads ORDER BY 1',
    ]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toBe(
      `${formatTable({ columns: ['users'], rows: [[4]] })}\n\n${formatTable({ columns: ['status'], rows: [['failed'], ['ok']] })}\n`,
    );
    const json = await runCli(['query', '--dest', dest, '--json', 'SELECT 1 AS a; SELECT 2 AS b']);
    expect(json.stdout).toBe('{"columns":["a"],"rows":[[1]]}\n{"columns":["b"],"rows":[[2]]}\n');
  });

  it('cuts long values in the table unless --wide; --format csv and json carry them whole', async () => {
    const sql = `SELECT user_identifier, error_message FROM user_loads WHERE status = 'failed'`;
    const [failure] = await withLake(dest, (lake) => queryObjects(lake, sql));
    const message = String(failure!.error_message);
    expect(message.length).toBeGreaterThan(40);

    const cut = await runCli(['query', '--dest', dest, sql]);
    expect(cut.code).toBe(0);
    expect(cut.stdout).not.toContain(message);
    expect(cut.stdout).toContain('…');
    expect(cut.stderr).toContain('--wide');
    const wide = await runCli(['query', '--dest', dest, '--wide', sql]);
    expect(wide.stdout).toContain(message);
    expect(wide.stderr).toBe('');

    const csv = await runCli(['query', '--dest', dest, '--format', 'csv', sql]);
    expect(csv.stdout).toBe(
      `user_identifier,error_message\r\n${failure!.user_identifier},${message.includes(',') ? `"${message}"` : message}\r\n`,
    );
    const json = await runCli(['query', '--dest', dest, '--format', 'json', sql]);
    expect(json.stdout).toBe(
      `${JSON.stringify({ user_identifier: failure!.user_identifier, error_message: message })}\n`,
    );
  });

  it('quotes CSV per RFC 4180 and keeps NULL apart from an empty string', async () => {
    const run = await runCli([
      'query',
      '--dest',
      dest,
      '--format',
      'csv',
      `SELECT 'a,b' AS "x,y", 'say "hi"' AS q, NULL AS n, '' AS e, 'two' || chr(10) || 'lines' AS l, 42 AS i, [1, 2] AS list`,
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('"x,y",q,n,e,l,i,list\r\n"a,b","say ""hi""",,"","two\nlines",42,"[1,2]"\r\n');
    const lines = await runCli([
      'query',
      '--dest',
      dest,
      '--format',
      'json',
      "SELECT * FROM (VALUES (1, NULL), (2, 'z')) t(a, b)",
    ]);
    expect(lines.stdout).toBe('{"a":1,"b":null}\n{"a":2,"b":"z"}\n');
    const bad = await runCli(['query', '--dest', dest, '--format', 'xml', 'SELECT 1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--format: must be one of table, csv, json');
  });

  it('reads the SQL from --file, from stdin with -, and from stdin when it is not a terminal', async () => {
    const sql = 'SELECT count(*) AS n FROM user_loads';
    const expected = `${JSON.stringify({ n: 4 })}\n`;
    const file = await scratch.text('q.sql', `-- a comment first, as in the README\n${sql};\n`);
    const fromFile = await runCli(['query', '--dest', dest, '--format', 'json', '--file', file]);
    expect(fromFile).toMatchObject({ code: 0, stdout: expected });
    const dash = await runWithStdin(['query', '--dest', dest, '--format', 'json', '-'], { text: sql });
    expect(dash).toMatchObject({ code: 0, stdout: expected });
    const piped = await runWithStdin(['query', '--dest', dest, '--format', 'json'], { text: sql });
    expect(piped).toMatchObject({ code: 0, stdout: expected });
    const terminal = await runWithStdin(['query', '--dest', dest], { tty: true });
    expect(terminal.code).toBe(1);
    expect(terminal.stderr).toContain('give the SQL to run');
    const twice = await runCli(['query', '--dest', dest, '--file', file, sql]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('give the SQL once');
  });
});

describe('the partition date of a digit --load-id', () => {
  let scratch: Scratch;
  let sim: Simulator;
  let users: string;

  beforeAll(async () => {
    scratch = await Scratch.create('load-date');
    sim = await startSimulator({ seed: SEED, apiKey: 'query-key', apiSecret: 'query-secret' });
    users = await scratch.users('users.txt', generateIdentifiers(SEED, 2));
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  const partitions = async (dest: string) => readdir(`${dest}/accounts`);

  it('refuses an id that would partition the load in year 5138, and writes nothing', async () => {
    const dest = scratch.path('absurd');
    const run = await runCli(
      loadArgv({ users, dest, baseUrl: sim.url, loadId: '99999999999', resources: ['accounts'] }),
      ENV,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("--load-id: '99999999999' is read as dlt's <unix seconds>[.micros] format");
    expect(run.stderr).toContain('dt=5138-11-16');
    expect(existsSync(dest)).toBe(false);
    const early = await runCli(
      loadArgv({ users, dest, baseUrl: sim.url, loadId: '123456789', resources: ['accounts'] }),
      ENV,
    );
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('dt=1973-11-29');
  });

  it("partitions a sensible dlt id under its own date, and any other id under the load's start date", async () => {
    const dest = scratch.path('sensible');
    const dlt = await runCli(
      loadArgv({ users, dest, baseUrl: sim.url, loadId: '1764064800.123456', resources: ['accounts'] }),
      ENV,
    );
    expect(dlt.code, dlt.stderr).toBe(0);
    expect(await partitions(dest)).toEqual(['dt=2025-11-25']);
    const named = await runCli(
      loadArgv({ users, dest, baseUrl: sim.url, loadId: '2025', resources: ['accounts'] }),
      ENV,
    );
    expect(named.code, named.stderr).toBe(0);
    const today = new Date().toISOString().slice(0, 10);
    expect((await partitions(dest)).sort()).toEqual(['dt=2025-11-25', `dt=${today}`].sort());
  });

  it('still re-runs a load the lake already holds under such a date, and the lake stays readable', async () => {
    const dest = scratch.path('far-future');
    // A load made when its clock said 5138 (as an older version allowed any digits).
    const captured = captureIo(ENV, { now: () => new Date('5138-11-16T10:00:00Z') });
    const argv = loadArgv({ users, dest, baseUrl: sim.url, loadId: '99999999999', resources: ['accounts'] });
    expect(await main(argv, captured.io), captured.stderr()).toBe(0);
    expect(await partitions(dest)).toEqual(['dt=5138-11-16']);
    const again = await runCli(argv, ENV);
    expect(again.code, again.stderr).toBe(0);
    expect(await partitions(dest)).toEqual(['dt=5138-11-16']);
    const query = await runCli(['query', '--dest', dest, '--json', 'SELECT DISTINCT dt FROM accounts']);
    expect(JSON.parse(query.stdout)).toEqual({ columns: ['dt'], rows: [['5138-11-16']] });
  });
});

describe('paylink-loader demo', () => {
  let scratch: Scratch;

  beforeAll(async () => {
    scratch = await Scratch.create('demo');
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  it('queries the load it just ran, by id, even when a custom load id sorts after it', async () => {
    const dest = scratch.path('lake');
    // The demo's world (seed, keys), loaded first with an id that sorts after any dlt-style id.
    const sim = await startSimulator({ seed: 'demo', apiKey: 'demo-key', apiSecret: 'demo-secret' });
    try {
      const users = await scratch.users('custom.txt', ['custom-user-a', 'custom-user-b', 'custom-user-c']);
      const custom = await runCli(
        loadArgv({ users, dest, baseUrl: sim.url, loadId: 'zzz-custom', resources: ['accounts'] }),
        credentialsEnv('demo-key', 'demo-secret'),
      );
      expect(custom.code, custom.stderr).toBe(0);
    } finally {
      await sim.close();
    }
    const demo = await runCli(['demo', '--users', '12', '--dest', dest]);
    expect(demo.code, demo.stderr).toBe(0);
    const loads = (await listFiles(`${dest}/_dlt_loads`)).map((f) => f.replace(/\.parquet$/, ''));
    // The custom load, the demo's load, and its incremental load of the users that changed.
    expect(loads).toHaveLength(3);
    const demoIds = loads.filter((id) => id !== 'zzz-custom').sort();
    const [demoId, incrementalId] = demoIds as [string, string];
    expect(demo.stdout).toContain(`WHERE _dlt_load_id = '${incrementalId}'`);
    // Its closing lines point at the latest load; the failed users at the first one.
    expect(demo.stdout).toContain(`More on the latest load (${incrementalId}):`);
    // Its hints say what each query shows: the users it loaded, and the events new at its commit.
    expect(demo.stdout).toContain(
      `The users it loaded:\n  npx paylink-loader query --dest ${dest} "SELECT DISTINCT user_identifier FROM user_loads WHERE _dlt_load_id = '${incrementalId}' ORDER BY 1"\n`,
    );
    expect(demo.stdout).toContain('The webhook events it committed (every event new at its commit');
    expect(demo.stdout).toContain(`npx paylink-loader status --dest ${dest} --load-id ${incrementalId}\n`);
    expect(demo.stdout).toContain(`npx paylink-loader failed --dest ${dest} --load-id ${demoId}\n`);
    expect(demo.stdout).not.toContain(`status --dest ${dest} --load-id ${demoId}`);
    const incremental = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        `SELECT (SELECT count(DISTINCT user_identifier)::INT FROM user_loads WHERE _dlt_load_id = '${incrementalId}') AS users,
                (SELECT count(*)::INT FROM webhook_events WHERE _dlt_load_id = '${incrementalId}') AS events`,
      ),
    );
    // 3 of the 12 users changed (two of them twice): only they were loaded, their events committed.
    expect(incremental[0]).toEqual({ users: 3, events: 5 });
    expect(demoId < 'zzz-custom', 'as text, the custom id is the max').toBe(true);
    expect(demo.stdout).toContain(`WHERE _dlt_load_id = '${demoId}'`);
    const expected = await withLake(dest, async (lake) => {
      const all = await queryObjects(
        lake,
        "SELECT count(*)::INT AS n FROM accounts WHERE _dlt_load_id = 'zzz-custom'",
      );
      expect(all[0]!.n, 'the custom load has accounts the old query would have shown').toBeGreaterThan(0);
      return lake.query(
        `SELECT company__name AS company, count(*) AS accounts, count(DISTINCT user_identifier) AS users
         FROM accounts WHERE _dlt_load_id = '${demoId}' GROUP BY 1 ORDER BY accounts DESC, company LIMIT 12`,
      );
    });
    expect(expected.rows.length).toBeGreaterThan(0);
    expect(demo.stdout).toContain(formatTable(expected));
  });
});
