/**
 * The real command line: `node bin/paylink-loader.mjs load` in a child process against the
 * simulator (the one test that spawns), then `query` and `status` in-process on its lake.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LakeStatus } from '#cli/status-command.ts';
import type { LoadSummary } from '#cli/summary.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { expectedTableCounts } from '#test/helpers/expected-rows.ts';
import { type CliRun, loadArgv, runCli, Scratch } from '#test/helpers/lake-harness.ts';

const SEED = 'cli-seed';
const API_KEY = 'cli-key';
const API_SECRET = 'cli-secret';
const LOAD_ID = 'cli-load-1';
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/paylink-loader.mjs', import.meta.url));

function spawnCli(argv: readonly string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    // Only what the CLI needs: PATH for node itself, the credentials. No AWS or proxy settings.
    const child = spawn(process.execPath, [BIN, ...argv], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 45_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('the paylink-loader command line', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let identifiers: string[];
  let lakeDir: string;
  let run: CliRun;

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    scratch = await Scratch.create('cli');
    identifiers = generateIdentifiers(SEED, 6);
    lakeDir = scratch.path('lake');
    const users = await scratch.users('users.txt', identifiers);
    run = await spawnCli(loadArgv({ users, dest: lakeDir, baseUrl: sim.url, loadId: LOAD_ID, json: true }), {
      PAYLINK_API_KEY: API_KEY,
      PAYLINK_API_SECRET: API_SECRET,
    });
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it('loads from the simulator as a child process: exit 0 and a JSON summary', () => {
    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(0);
    const summary = JSON.parse(run.stdout) as LoadSummary;
    const expected = expectedTableCounts(identifiers.map((id) => sim.served(id)));
    expect(summary).toMatchObject({ loadId: LOAD_ID, dest: lakeDir, users: identifiers.length, exitCode: 0 });
    expect(summary.failedUserCount).toBe(0);
    const { user_loads: userLoads, ...rows } = Object.fromEntries(
      summary.tables.map((t) => [t.table, t.rows]),
    );
    expect(rows, 'rows per table in the summary').toEqual(expected);
    expect(userLoads).toBe(identifiers.length * 6);
    expect(sim.stats().requests, 'requests the simulator saw').toBe(summary.requests);
  });

  it('queries the resulting lake with DuckDB', async () => {
    const accounts = identifiers.reduce((n, id) => n + sim.served(id).accounts.length, 0);
    const json = await runCli(['query', '--dest', lakeDir, '--json', 'SELECT count(*) AS n FROM accounts']);
    expect(json.code, `exit code (stderr: ${json.stderr})`).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ columns: ['n'], rows: [[accounts]] });

    const text = await runCli([
      'query',
      '--dest',
      lakeDir,
      'SELECT status, count(*) AS n FROM user_loads GROUP BY status',
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/status \| n\n/);
    expect(text.stdout).toMatch(/ok\s+\|\s+36\n/);
    expect(text.stdout).toContain('(1 row)');
  });

  it('reports a bad query with exit 1 and DuckDB’s reason', async () => {
    const bad = await runCli(['query', '--dest', lakeDir, 'SELECT nope FROM accounts']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: sql: .*nope/);
  });

  it("resolves relative --users, --config and --dest against the command's working directory", async () => {
    const env = { PAYLINK_API_KEY: API_KEY, PAYLINK_API_SECRET: API_SECRET };
    await scratch.users('relative-users.txt', identifiers.slice(0, 2));
    await scratch.json('relative-config.json', { http: { attempts: 3 } });
    const inScratch = (argv: string[]) => runCli(argv, env, { cwd: scratch.dir });
    const load = await inScratch([
      ...loadArgv({
        users: 'relative-users.txt',
        dest: 'relative-lake',
        baseUrl: sim.url,
        loadId: 'relative',
      }),
      '--config',
      'relative-config.json',
    ]);
    expect(load.code, `exit code (stderr: ${load.stderr})`).toBe(0);
    expect(load.stdout).toContain(`committed to ${scratch.path('relative-lake')}`);
    expect(
      existsSync(scratch.path('relative-lake', '_loads', 'relative.json')),
      'marker in cwd/relative-lake',
    ).toBe(true);
    const status = await inScratch(['status', '--dest', 'relative-lake', '--json']);
    expect(status.code, `status (stderr: ${status.stderr})`).toBe(0);
    expect((JSON.parse(status.stdout) as LakeStatus).dest).toBe(scratch.path('relative-lake'));
    const query = await inScratch([
      'query',
      '--dest',
      'relative-lake',
      '--json',
      'SELECT count(DISTINCT user_identifier) FROM user_loads',
    ]);
    expect(query.code, `query (stderr: ${query.stderr})`).toBe(0);
    expect(JSON.parse(query.stdout).rows).toEqual([[2]]);
  });

  it('shows the load and its tables with status', async () => {
    const json = await runCli(['status', '--dest', lakeDir, '--json']);
    expect(json.code).toBe(0);
    const status = JSON.parse(json.stdout) as LakeStatus;
    expect(status.loads.map((l) => l.loadId)).toEqual([LOAD_ID]);
    expect(status.schemaVersion).toBe(1);
    expect(status.tables.find((t) => t.table === 'accounts')?.rows).toBe(
      identifiers.reduce((n, id) => n + sim.served(id).accounts.length, 0),
    );

    const text = await runCli(['status', '--dest', lakeDir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Lake ${lakeDir} · schema version 1`);
    expect(text.stdout).toContain('Loads (1):');
    expect(text.stdout).toContain(LOAD_ID);
  });
});
