/**
 * What an operator reaches for after a load: `--version`, `status --load-id`, `failed` (and its
 * round trip through `load --users`), `load --users-from-failed` and `load --dry-run`, run
 * in-process through main() against lakes written by real loads on the built-in simulator.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { DryRunReport } from '#cli/dry-run.ts';
import type { Io } from '#cli/io.ts';
import type { LoadDetail } from '#cli/load-report.ts';
import { main } from '#cli/main.ts';
import type { LakeStatus } from '#cli/status-command.ts';
import { acquireLease } from '#core/lease.ts';
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
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const SEED = 'inspect';
const ENV = credentialsEnv('inspect-key', 'inspect-secret');
const BIN = fileURLToPath(new URL('../../bin/paylink-loader.mjs', import.meta.url));
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** A resource the simulator does not serve: disabled for the load (endpoint_unavailable), no user failed for it. */
const IDENTITIES_CONFIG = {
  resources: {
    identities: {
      path: '/pay-link/identities',
      kind: 'list',
      selectors: ['identities'],
      defaultEnabled: true,
    },
  },
};

describe('paylink-loader --version', () => {
  it('prints the package version with --version and -V, in-process and through the bin script', async () => {
    expect(PACKAGE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
    for (const flag of ['--version', '-V']) {
      const run = await runCli([flag]);
      expect(run).toEqual({ code: 0, stdout: `paylink-loader ${PACKAGE_VERSION}\n`, stderr: '' });
      const json = await runCli([flag, '--json']);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual({ version: PACKAGE_VERSION });
    }
    // From another working directory: the version comes from the package, not the cwd.
    const spawned = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, '-V'], {
        cwd: tmpdir(),
        env: { PATH: process.env.PATH ?? '' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout }));
    });
    expect(spawned).toEqual({ code: 0, stdout: `paylink-loader ${PACKAGE_VERSION}\n` });
  });
});

describe('inspecting one load of a lake', () => {
  let scratch: Scratch;
  let failing: Simulator;
  let healthy: Simulator;
  let dest: string;
  let users: string;
  let config: string;
  let identifiers: string[];
  /** The users the simulator fails: two whose data endpoints answer 404, one whose token is refused. */
  let failedExpected: string[];

  beforeAll(async () => {
    scratch = await Scratch.create('inspect');
    identifiers = generateIdentifiers(SEED, 8).sort();
    // The first sorted identifier has spaces and non-ASCII letters: the round trip through --users keeps it.
    const notFound = [identifiers[0]!, identifiers[4]!];
    expect(notFound[0]).toMatch(/ /);
    const tokenRefused = identifiers[7]!;
    failedExpected = [...notFound, tokenRefused].sort();
    const keys = { apiKey: 'inspect-key', apiSecret: 'inspect-secret' };
    failing = await startSimulator({
      seed: SEED,
      ...keys,
      faults: { failUsers: notFound, rejectTokenUsers: [tokenRefused] },
    });
    healthy = await startSimulator({ seed: SEED, ...keys });
    users = await scratch.users('users.txt', identifiers);
    config = await scratch.json('config.json', IDENTITIES_CONFIG);
    dest = scratch.path('lake');
    const first = await runCli(
      loadArgv({ users, dest, baseUrl: failing.url, loadId: 'first', config, concurrency: 2, batchSize: 3 }),
      ENV,
    );
    expect(first.code, first.stderr).toBe(5);
  }, 60_000);
  afterAll(async () => {
    await failing?.close();
    await healthy?.close();
    await scratch?.dispose();
  });

  const status = async (loadId: string): Promise<LoadDetail> => {
    const run = await runCli(['status', '--dest', dest, '--load-id', loadId, '--json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as LoadDetail;
  };

  it('status --load-id: users, failures by error code, requests, rows, files and bytes per table, times', async () => {
    const detail = await status('first');
    expect(detail).toMatchObject({
      loadId: 'first',
      committed: true,
      state: 'committed',
      users: 8,
      failedUsers: 3,
      disabledResources: ['identities'],
      endpointUnavailableUsers: 5,
    });
    expect(Date.parse(detail.committedAt!)).toBeGreaterThanOrEqual(Date.parse(detail.startedAt!));
    // The simulator counted every request this lake's only load made.
    expect(detail.requests).toBe(failing.stats().requests);

    // Failures by reason, against DuckDB's reading of user_loads (another reader of the same parts).
    const byCode = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        `SELECT error_code AS code, count(DISTINCT user_identifier)::INT AS users, count(*)::INT AS units
         FROM user_loads WHERE _dlt_load_id = 'first' AND status = 'failed' GROUP BY 1`,
      ),
    );
    expect([...detail.failuresByCode].sort((a, b) => (a.code < b.code ? -1 : 1))).toEqual(
      byCode.sort((a, b) => (String(a.code) < String(b.code) ? -1 : 1)),
    );
    expect(detail.failuresByCode.map((f) => f.code)).toEqual(
      expect.arrayContaining(['http_404', 'access_token_rejected']),
    );

    // Rows per table as the history views count them; files and bytes as they are on disk.
    const rows = await withLake(dest, async (lake) => {
      const out: Record<string, number> = {};
      for (const t of detail.tables) {
        const [row] = await queryObjects(
          lake,
          `SELECT count(*)::INT AS n FROM "${t.table}" WHERE _dlt_load_id = 'first'`,
        );
        out[t.table] = row!.n as number;
      }
      return out;
    });
    expect(Object.fromEntries(detail.tables.map((t) => [t.table, t.rows]))).toEqual(rows);
    expect(rows.accounts).toBeGreaterThan(0);
    const parts = (await listFiles(dest)).filter((p) => /\/dt=[^/]+\/first\.\d{5}\.\d{4}\.parquet$/.test(p));
    for (const t of detail.tables) {
      const mine = parts.filter((p) => p.startsWith(`${t.table}/`));
      expect(t.files, `${t.table} files`).toBe(mine.length);
      const sizes = await Promise.all(mine.map(async (p) => (await stat(`${dest}/${p}`)).size));
      expect(t.bytes, `${t.table} bytes`).toBe(sizes.reduce((a, b) => a + b, 0));
    }
  });

  it('status --load-id: the schema changes the load made, version before and after', async () => {
    const detail = await status('first');
    // The first load of a lake creates the registry: every table of version 1 is new.
    expect(detail.schema).toMatchObject({ versionBefore: 0, versionAfter: 1 });
    const v1 = JSON.parse(readFileSync(`${dest}/_schema/versions/000001.json`, 'utf8')) as {
      tables: Record<string, { columns: { name: string }[] }>;
    };
    expect([...detail.schema.addedTables].sort()).toEqual(Object.keys(v1.tables).sort());
    const accountsColumns = detail.schema.addedColumns
      .filter((c) => c.table === 'accounts')
      .map((c) => c.column);
    expect(accountsColumns.sort()).toEqual(v1.tables.accounts!.columns.map((c) => c.name).sort());

    const text = await runCli(['status', '--dest', dest, '--load-id', 'first']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Load first in');
    expect(text.stdout).toContain(': committed');
    expect(text.stdout).toMatch(/users\s+8 \(3 failed\)/);
    expect(text.stdout).toMatch(/access_token_rejected\s+1\s+\d+/);
    expect(text.stdout).toContain(
      'Disabled for this load (endpoint findings, not user failures): identities',
    );
    expect(text.stdout).toContain('Schema: version 0 -> 1');
  });

  it('status --load-id of an id the lake does not hold: exit 8, naming the id, in text and JSON', async () => {
    const run = await runCli(['status', '--dest', dest, '--load-id', 'no-such-load']);
    expect(run.code).toBe(8);
    expect(run.stderr).toMatch(/^error: --load-id: no load 'no-such-load' in .*lake/);
    expect(run.stdout).toBe('');
    const json = await runCli(['status', '--dest', dest, '--load-id', 'no-such-load', '--json']);
    expect(json.code).toBe(8);
    expect(JSON.parse(json.stdout).error).toMatchObject({
      command: 'status',
      exitCode: 8,
      code: 'load_not_found',
      loadId: 'no-such-load',
    });
    const failed = await runCli(['failed', '--dest', dest, '--load-id', 'no-such-load']);
    expect(failed.code).toBe(8);
  });

  it('status of a whole lake with one damaged load report lists the other loads and names the damaged report (exit 1)', async () => {
    const damaged = scratch.path('damaged-report-lake');
    await cp(dest, damaged, { recursive: true });
    const second = await runCli(
      loadArgv({ users, dest: damaged, baseUrl: healthy.url, loadId: 'second', resources: ['accounts'] }),
      ENV,
    );
    expect(second.code, second.stderr).toBe(0);
    await writeFile(join(damaged, '_loads', 'first.json'), '{"loadId": "first", "files": [');
    const run = await runCli(['status', '--dest', damaged]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      "warning: lake _loads/first.json: not valid JSON (was it edited by hand?); its load is listed without it ('paylink-loader verify' checks the lake)\n",
    );
    expect(run.stdout).toMatch(/^Loads \(1\):$/m);
    expect(run.stdout).toMatch(/^\s*second\s/m);
    expect(run.stdout).toContain('report (_loads/<id>.json) is missing, not counted above: first');
    const json = await runCli(['status', '--dest', damaged, '--json']);
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.stdout) as LakeStatus;
    expect(parsed.loads.map((l) => l.loadId)).toEqual(['second']);
    expect(parsed.withoutReport).toEqual(['first']);
    expect(parsed.damagedReports).toEqual(['_loads/first.json']);
  });

  it('failed lists exactly the failed users, not those of a resource disabled for everybody', async () => {
    const run = await runCli(['failed', '--dest', dest, '--load-id', 'first']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${failedExpected.join('\n')}\n`);
    const json = await runCli(['failed', '--dest', dest, '--load-id', 'first', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ loadId: 'first', users: failedExpected });
    // The five healthy users have endpoint_unavailable outcomes (identities) and are not listed.
    const unavailable = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        `SELECT DISTINCT user_identifier AS u FROM user_loads
         WHERE _dlt_load_id = 'first' AND status = 'endpoint_unavailable' ORDER BY 1`,
      ),
    );
    const healthyUsers = identifiers.filter((id) => !failedExpected.includes(id));
    expect(unavailable.map((r) => r.u)).toEqual(expect.arrayContaining(healthyUsers));
  });

  it('failed > file, then load --users file: the failed users load, and only they', async () => {
    const listed = await runCli(['failed', '--dest', dest, '--load-id', 'first']);
    const retryFile = await scratch.text('retry.txt', listed.stdout);
    const retry = await runCli(
      loadArgv({
        users: retryFile,
        dest,
        baseUrl: healthy.url,
        loadId: 'retry-file',
        resources: ['accounts'],
      }),
      ENV,
    );
    expect(retry.code, retry.stderr).toBe(0);
    const detail = await status('retry-file');
    expect(detail).toMatchObject({ users: 3, failedUsers: 0, resources: ['accounts'] });
    const loaded = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        `SELECT DISTINCT user_identifier AS u FROM user_loads WHERE _dlt_load_id = 'retry-file'`,
      ),
    );
    expect(loaded.map((r) => r.u).sort()).toEqual(failedExpected);
    // No user failed: nothing to list, exit 0; and nothing to re-run.
    const none = await runCli(['failed', '--dest', dest, '--load-id', 'retry-file']);
    expect(none).toEqual({ code: 0, stdout: '', stderr: 'load retry-file: no failed users\n' });
    const noneJson = await runCli(['failed', '--dest', dest, '--load-id', 'retry-file', '--json']);
    expect(noneJson.code).toBe(0);
    expect(JSON.parse(noneJson.stdout)).toEqual({ loadId: 'retry-file', users: [] });
    const refused = await runCli(
      ['load', '--users-from-failed', 'retry-file', '--dest', dest, '--base-url', healthy.url, '--quiet'],
      ENV,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--users-from-failed: load retry-file has no failed users');
  });

  it("load --users-from-failed re-runs exactly those users into a new load, with the failed load's resources", async () => {
    const before = await listFiles(`${dest}/_dlt_loads`);
    const run = await runCli(
      ['load', '--users-from-failed', 'first', '--dest', dest, '--base-url', healthy.url, '--config', config],
      ENV,
    );
    // identities is still unusable: disabled again (exit 4), but no user failed.
    expect(run.code, run.stderr).toBe(4);
    const added = (await listFiles(`${dest}/_dlt_loads`)).filter((f) => !before.includes(f));
    expect(added).toHaveLength(1);
    const newId = added[0]!.replace(/\.parquet$/, '');
    expect(newId).not.toBe('first');
    const detail = await status(newId);
    const original = await status('first');
    expect(detail).toMatchObject({ users: 3, failedUsers: 0, committed: true });
    expect(detail.resources).toEqual(original.resources);
    const loaded = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        `SELECT DISTINCT user_identifier AS u FROM user_loads WHERE _dlt_load_id = '${newId}'`,
      ),
    );
    expect(loaded.map((r) => r.u).sort()).toEqual(failedExpected);
    // A re-run of a few failed users is a quality series of its own: never judged against
    // (nor counted in the medians of) the loads of every user.
    const report = JSON.parse(await readFile(`${dest}/_loads/${newId}.json`, 'utf8')) as {
      usersSelection?: string;
    };
    expect(report.usersSelection).toBe('failed');
  });

  it('load --users-from-failed refuses a load that is not committed, and the same id as the re-run', async () => {
    const second = await runCli(
      loadArgv({ users, dest, baseUrl: failing.url, loadId: 'uncommitted', resources: ['accounts'] }),
      ENV,
    );
    expect(second.code, second.stderr).toBe(3);
    // Its commit point removed: the load is reported but not committed (as after a commit that stopped).
    await rm(`${dest}/_dlt_loads/uncommitted.parquet`);
    const detail = await status('uncommitted');
    expect(detail).toMatchObject({ committed: false, state: 'reported', committedAt: null });
    const failed = await runCli(['failed', '--dest', dest, '--load-id', 'uncommitted']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('load uncommitted');
    expect(failed.stderr).toContain('is not committed');
    const rerun = await runCli(
      ['load', '--users-from-failed', 'uncommitted', '--dest', dest, '--base-url', healthy.url, '--quiet'],
      ENV,
    );
    expect(rerun.code).toBe(1);
    expect(rerun.stderr).toMatch(/^error: --users-from-failed: load uncommitted .* is not committed/);
    const same = await runCli(
      [
        'load',
        '--users-from-failed',
        'first',
        '--load-id',
        'first',
        '--dest',
        dest,
        '--base-url',
        healthy.url,
      ],
      ENV,
    );
    expect(same.code).toBe(1);
    expect(same.stderr).toContain('--load-id: would replace load first');
    const both = await runCli(
      ['load', '--users-from-failed', 'first', '--users', users, '--dest', dest, '--base-url', healthy.url],
      ENV,
    );
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('give it or --users, not both');
    const missing = await runCli(
      ['load', '--users-from-failed', 'never', '--dest', dest, '--base-url', healthy.url],
      ENV,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("--users-from-failed: no load 'never'");
  });

  it('an interrupted --users-from-failed load: status shows it staged, failed refuses it, its resume command finishes it', async () => {
    const captured = captureIo(ENV);
    // Ctrl-C as soon as the load subscribes: it stages its plan and stops before any user.
    const io: Io = {
      ...captured.io,
      onInterrupt: (handler) => {
        setImmediate(() => handler('SIGINT'));
        return () => undefined;
      },
    };
    const argv = [
      'load',
      '--users-from-failed',
      'first',
      '--dest',
      dest,
      '--base-url',
      healthy.url,
      '--resources',
      'accounts',
      '--batch-size',
      '1',
      '--load-id',
      'cut',
    ];
    expect(await main(argv, io), captured.stderr()).toBe(130);
    const detail = await status('cut');
    expect(detail).toMatchObject({
      committed: false,
      state: 'staged',
      users: 3,
      failedUsers: null,
      batches: { planned: 3, staged: 0 },
    });
    const text = await runCli(['status', '--dest', dest, '--load-id', 'cut']);
    expect(text.stdout).toContain('Load cut in');
    expect(text.stdout).toContain('NOT committed (staged only');
    expect(text.stdout).toContain('batches     0 of 3 staged');
    const failed = await runCli(['failed', '--dest', dest, '--load-id', 'cut']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('is not committed');

    const resume = /Resume with:\n\s+paylink-loader (.+)\n/.exec(captured.stderr())?.[1];
    expect(resume).toContain('--users-from-failed first');
    const resumed = await runCli(resume!.split(' '), ENV);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await status('cut')).toMatchObject({ committed: true, users: 3, failedUsers: 0 });
  });

  it('load --dry-run checks credentials and the lake, prints the plan, and leaves the lake byte-identical', async () => {
    const before = await readAllFiles(dest);
    const requestsBefore = healthy.stats().requests;
    const run = await runCli(
      [
        'load',
        '--users',
        users,
        '--dest',
        dest,
        '--base-url',
        healthy.url,
        '--config',
        config,
        '--batch-size',
        '3',
        '--dry-run',
        '--json',
      ],
      ENV,
    );
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as DryRunReport;
    expect(report.plan).toMatchObject({ users: 8, batches: 3, batchSize: 3, loadIdState: 'new' });
    expect(report.plan.resources).toContain('identities');
    expect(report.checks.join('\n')).toMatch(/schema registry: readable, version \d+/);
    expect(report.checks.join('\n')).toContain('minted a public token');
    // One request: the token. Nothing loaded.
    expect(healthy.stats().requests - requestsBefore).toBe(1);
    expect(healthy.stats().tokensMinted).toBeGreaterThan(0);
    expect(await readAllFiles(dest)).toEqual(before);

    const text = await runCli(
      [
        'load',
        '--users',
        users,
        '--dest',
        dest,
        '--base-url',
        healthy.url,
        '--load-id',
        'first',
        '--dry-run',
      ],
      ENV,
    );
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('Dry run: nothing was loaded or written.');
    expect(text.stdout).toContain('load id      first (replaces the committed load of this id)');
    expect(await readAllFiles(dest)).toEqual(before);
  });

  it('load --dry-run refuses a load id a live run holds, and notes other runs on the lake', async () => {
    // A run elsewhere holding two load ids (as a load on another machine does while it runs).
    const lakeStore = createLocalStore(dest);
    const options = {
      owner: {
        id: 'other-run',
        kind: 'cli',
        host: 'another-host',
        pid: 4242,
        command: 'paylink-loader load',
      },
      ttlMs: 60_000,
      clock: () => new Date(),
    };
    const held = [
      await acquireLease(lakeStore, 'held', options),
      await acquireLease(lakeStore, 'busy', options),
    ];
    try {
      const refused = await runCli(
        [
          'load',
          '--users',
          users,
          '--dest',
          dest,
          '--base-url',
          healthy.url,
          '--load-id',
          'held',
          '--dry-run',
        ],
        ENV,
      );
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('load held is being written by cli other-run on another-host');
      const noted = await runCli(
        ['load', '--users', users, '--dest', dest, '--base-url', healthy.url, '--dry-run', '--json'],
        ENV,
      );
      expect(noted.code, noted.stderr).toBe(0);
      const report = JSON.parse(noted.stdout) as DryRunReport;
      expect(report.notes.join('\n')).toContain('load busy is running on this lake');
      expect(report.notes.join('\n')).toContain('load held is running on this lake');
    } finally {
      for (const lease of held) await lease.release();
    }
  });

  it('load --dry-run fails as the load would on bad credentials, and creates no lake folder', async () => {
    const fresh = scratch.path('dry-run-new', 'lake');
    const bad = await runCli(
      ['load', '--users', users, '--dest', fresh, '--base-url', healthy.url, '--dry-run'],
      credentialsEnv('inspect-key', 'wrong-secret'),
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('rejected the API key/secret');
    const good = await runCli(
      ['load', '--users', users, '--dest', fresh, '--base-url', healthy.url, '--dry-run'],
      ENV,
    );
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain('schema registry: none yet (a new lake)');
    // No folder was there: the plan says it would be created, not that a probe file was written in it.
    expect(good.stdout).toContain(
      `lake ${fresh}: does not exist yet, a load would create it (its nearest existing parent ${scratch.dir} is writable: a probe folder was created and removed)`,
    );
    expect(good.stdout).not.toContain('probe file');
    await expect(stat(scratch.path('dry-run-new'))).rejects.toThrow(/ENOENT/);
  });
});

describe('status --load-id and failed on an S3 lake', () => {
  let s3rver: RunningS3rver;
  let restoreEnv: () => void;
  let sim: Simulator;
  let scratch: Scratch;
  const dest = 's3://inspect-lake/lakes/one';

  beforeAll(async () => {
    s3rver = await startS3rver({ buckets: ['inspect-lake'] });
    restoreEnv = withS3Env(s3rver.endpoint);
    scratch = await Scratch.create('inspect-s3');
    const ids = generateIdentifiers(SEED, 4).sort();
    sim = await startSimulator({
      seed: SEED,
      apiKey: 'inspect-key',
      apiSecret: 'inspect-secret',
      faults: { failUsers: [ids[1]!] },
    });
    const users = await scratch.users('users.txt', ids);
    const run = await runCli(
      loadArgv({ users, dest, baseUrl: sim.url, loadId: 's3-one', resources: ['accounts'] }),
      ENV,
    );
    expect(run.code, run.stderr).toBe(3);
  }, 60_000);
  afterAll(async () => {
    await sim?.close();
    restoreEnv?.();
    await s3rver?.close();
    await scratch?.dispose();
  });

  it('reads the load from S3 as from a folder', async () => {
    const status = await runCli(['status', '--dest', dest, '--load-id', 's3-one', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const detail = JSON.parse(status.stdout) as LoadDetail;
    expect(detail).toMatchObject({
      dest,
      committed: true,
      users: 4,
      failedUsers: 1,
      resources: ['accounts'],
    });
    expect(detail.failuresByCode).toEqual([{ code: 'http_404', users: 1, units: 1 }]);
    const failed = await runCli(['failed', '--dest', dest, '--load-id', 's3-one']);
    expect(failed).toMatchObject({ code: 0, stdout: `${generateIdentifiers(SEED, 4).sort()[1]}\n` });
    const missing = await runCli(['status', '--dest', dest, '--load-id', 'other']);
    expect(missing.code).toBe(8);
  });
});
