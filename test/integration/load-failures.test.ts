/**
 * Exit codes of `paylink-loader load` when things go wrong: 3 when a user failed but the rest
 * was committed (and user_loads says why), 1 when nothing was committed at all.
 */
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadSummary } from '#cli/summary.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { DEFAULT_RESOURCES, expectedTableCounts } from '#test/helpers/expected-rows.ts';
import {
  credentialsEnv,
  listFiles,
  queryObjects,
  runLoad,
  Scratch,
  tableCounts,
  withLake,
} from '#test/helpers/lake-harness.ts';

const SEED = 'failures-seed';
const API_KEY = 'failures-key';
const API_SECRET = 'failures-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);

describe('a load where one user fails', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let identifiers: string[];
  let failing: string;
  let usersFile: string;

  beforeAll(async () => {
    identifiers = generateIdentifiers(SEED, 10);
    // Index 3 is always one of the unusual identifiers (spaces, non-ASCII).
    failing = identifiers[3]!;
    sim = await startSimulator({
      seed: SEED,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      faults: { failUsers: [failing] },
    });
    scratch = await Scratch.create('failures');
    usersFile = await scratch.users('users.txt', identifiers);
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it('exits 3, names the user, records why in user_loads and commits everyone else', async () => {
    expect(failing, 'the failing identifier is an unusual one').toMatch(/ /);
    const dest = scratch.path('lake');
    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, loadId: 'with-failure' }, ENV);

    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(3);
    expect(run.stdout).toContain(`committed with 1 of ${identifiers.length} users failed`);
    expect(run.stdout).toContain(`Failed users (1;`);
    expect(run.stdout).toContain(JSON.stringify(failing));
    // Why, grouped by code, from the committed user_loads rows (as the query below finds them).
    expect(run.stdout).toContain(
      [
        '  reason         users  resources  meaning',
        '  -------------  -----  ---------  ------------------------------------------------------',
        '  http_404           1          5  PayLink answered HTTP 404',
        '  parent_failed      1          1  its parent resource failed, so it could not be fetched',
      ].join('\n'),
    );
    expect(existsSync(scratch.path('lake', '_loads', 'with-failure.json')), 'load marker').toBe(true);

    await withLake(dest, async (lake) => {
      const outcomes = await queryObjects(
        lake,
        `SELECT resource, status, error_code, http_status, rows FROM user_loads
         WHERE user_identifier = '${failing.replaceAll("'", "''")}' ORDER BY resource`,
      );
      expect(outcomes).toEqual(
        [...DEFAULT_RESOURCES].sort().map((resource) =>
          // action_history is never requested: its parent (accounts) failed first.
          resource === 'action_history'
            ? { resource, status: 'failed', error_code: 'parent_failed', http_status: null, rows: 0 }
            : { resource, status: 'failed', error_code: 'http_404', http_status: 404, rows: 0 },
        ),
      );
      const others = await queryObjects(
        lake,
        `SELECT status, count(*) AS n FROM user_loads WHERE user_identifier <> '${failing.replaceAll("'", "''")}'
         GROUP BY status`,
      );
      expect(others, 'everyone else is ok').toEqual([
        { status: 'ok', n: (identifiers.length - 1) * DEFAULT_RESOURCES.length },
      ]);

      const { user_loads: _ignored, ...counts } = await tableCounts(lake);
      const expected = expectedTableCounts(
        identifiers.filter((id) => id !== failing).map((id) => sim.served(id)),
      );
      expect(counts, "every other user's rows, and none of the failed user's").toEqual(expected);
      const [leaked] = await queryObjects(
        lake,
        `SELECT count(*) AS n FROM accounts WHERE user_identifier = '${failing.replaceAll("'", "''")}'`,
      );
      expect(leaked!.n, "failed user's accounts").toBe(0);
    });
  });

  it('prints the same facts as JSON with --json', async () => {
    const run = await runLoad(
      {
        users: usersFile,
        dest: scratch.path('lake-json'),
        baseUrl: sim.url,
        loadId: 'json-failure',
        json: true,
      },
      ENV,
    );
    expect(run.code).toBe(3);
    const summary = JSON.parse(run.stdout) as LoadSummary;
    expect(summary).toMatchObject({
      loadId: 'json-failure',
      users: identifiers.length,
      failedUserCount: 1,
      failedUsers: [failing],
      failureReasons: [
        { code: 'http_404', users: 1, units: 5 },
        { code: 'parent_failed', users: 1, units: 1 },
      ],
      exitCode: 3,
    });
    expect(summary.tables.map((t) => t.table)).toContain('user_loads');
  });
});

describe('a load that commits nothing (exit 1)', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let usersFile: string;

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    scratch = await Scratch.create('exit1');
    usersFile = await scratch.users('users.txt', generateIdentifiers(SEED, 4));
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  /** Runs a load expected to fail; returns stderr after checking nothing reached the lake. */
  async function failedLoad(
    name: string,
    overrides: { users?: string; resources?: string[]; config?: string },
    env = ENV,
  ) {
    const dest = scratch.path(name);
    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, ...overrides }, env);
    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(1);
    expect(run.stdout, 'no summary').toBe('');
    expect(run.stderr).toMatch(/^error: .*Nothing was committed\.\n$/);
    expect(await listFiles(dest), 'files in the lake').toEqual([]);
    expect(
      existsSync(dest) ? readdirSync(dest) : [],
      'folders in the lake (tables, _loads, _staging)',
    ).toEqual([]);
    return run.stderr;
  }

  it('when PayLink rejects the API secret: says so and writes no marker, no table', async () => {
    const stderr = await failedLoad('wrong-secret', {}, credentialsEnv(API_KEY, 'not-the-secret'));
    expect(stderr).toContain('rejected the API key');
    expect(sim.stats().byStatus[401] ?? 0, 'the key was tried').toBeGreaterThan(0);
  });

  it('when the users file does not exist: names --users', async () => {
    const stderr = await failedLoad('no-users', { users: scratch.path('missing.txt') });
    expect(stderr).toContain('--users: file not found');
  });

  it('when --resources names an unknown resource: lists the known ones', async () => {
    const stderr = await failedLoad('bad-resource', { resources: ['accounts', 'invoices'] });
    expect(stderr).toContain("unknown resource 'invoices'");
    for (const known of DEFAULT_RESOURCES) expect(stderr).toContain(known);
  });

  it('when --load-id could escape the lake: names --load-id', async () => {
    const dest = scratch.path('bad-load-id');
    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, loadId: '../escape' }, ENV);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: --load-id: must be 1-64 characters/);
    expect(existsSync(dest) || existsSync(scratch.path('escape')), 'anything written').toBe(false);
  });

  it('when --config has a value of the wrong type: names the key, not the value', async () => {
    const config = await scratch.json('bad-type.json', { http: { timeoutMs: 'fast-please' } });
    const stderr = await failedLoad('bad-config-type', { config });
    expect(stderr).toContain(
      `--config ${config}: http.timeoutMs: must be a whole number above 0 and at most 900000 (got a string).`,
    );
    expect(stderr).not.toContain('fast-please');
  });

  it('when --config is not JSON: names --config', async () => {
    const config = await scratch.text('not-json.json', '{"http": {"timeoutMs": 300,');
    const stderr = await failedLoad('bad-config-json', { config });
    expect(stderr).toContain('--config');
    expect(stderr).toContain('not valid JSON');
  });
});
