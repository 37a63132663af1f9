/**
 * A 401/403 on POST /access-token: one identifier refused while the key works is that user's
 * failure (exit 3, the rest committed); a key refused for everybody stops the load (exit 1,
 * nothing committed), quickly.
 */
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const SEED = 'token-rejections-seed';
const API_KEY = 'token-rejections-key';
const API_SECRET = 'token-rejections-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const sql = (text: string) => `'${text.replaceAll("'", "''")}'`;

let scratch: Scratch;
let identifiers: string[];
let usersFile: string;

beforeAll(async () => {
  scratch = await Scratch.create('token-rejections');
  identifiers = generateIdentifiers(SEED, 12);
  usersFile = await scratch.users('users.txt', identifiers);
});
afterAll(async () => {
  await scratch?.dispose();
});

describe('one identifier refused by access-token while the key works', () => {
  let sim: Simulator;
  // The first user: with 8 users minting at once, its 403 can arrive before any success.
  let odd: string;

  beforeAll(async () => {
    odd = identifiers[0]!;
    sim = await startSimulator({
      seed: SEED,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      faults: { rejectTokenUsers: [odd] },
    });
  });
  afterAll(async () => {
    await sim?.close();
  });

  for (const concurrency of [8, 1]) {
    it(`exits 3, records access_token_rejected with HTTP 403 for that user and loads everyone else (concurrency ${concurrency})`, async () => {
      const dest = scratch.path(`odd-${concurrency}`);
      // Concurrency 1 puts a success first: the odd user is second in this file.
      const users =
        concurrency === 1
          ? await scratch.users('odd-second.txt', [identifiers[1]!, odd, ...identifiers.slice(2)])
          : usersFile;
      const run = await runLoad(
        { users, dest, baseUrl: sim.url, loadId: `odd-${concurrency}`, concurrency },
        ENV,
      );

      expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(3);
      expect(run.stdout).toContain(`committed with 1 of ${identifiers.length} users failed`);
      expect(run.stdout).toContain(JSON.stringify(odd));
      await withLake(dest, async (lake) => {
        const outcomes = await queryObjects(
          lake,
          `SELECT resource, status, error_code, http_status FROM user_loads
           WHERE user_identifier = ${sql(odd)} ORDER BY resource`,
        );
        expect(outcomes).toEqual(
          [...DEFAULT_RESOURCES].sort().map((resource) => ({
            resource,
            status: 'failed',
            error_code: 'access_token_rejected',
            http_status: 403,
          })),
        );
        const others = await queryObjects(
          lake,
          `SELECT status, count(*) AS n FROM user_loads WHERE user_identifier <> ${sql(odd)} GROUP BY status`,
        );
        expect(others).toEqual([{ status: 'ok', n: (identifiers.length - 1) * DEFAULT_RESOURCES.length }]);
        const { user_loads: _ignored, ...counts } = await tableCounts(lake);
        expect(counts).toEqual(
          expectedTableCounts(identifiers.filter((id) => id !== odd).map((id) => sim.served(id))),
        );
      });
    });
  }
});

describe('an API key refused for everybody', () => {
  let sim: Simulator;

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
  });
  afterAll(async () => {
    await sim?.close();
  });

  for (const concurrency of [8, 1]) {
    it(`exits 1 fast with nothing committed (concurrency ${concurrency})`, async () => {
      const dest = scratch.path(`bad-key-${concurrency}`);
      const before = sim.stats().byStatus[401] ?? 0;
      const startedAt = Date.now();
      const run = await runLoad(
        { users: usersFile, dest, baseUrl: sim.url, concurrency },
        credentialsEnv('not-the-key', API_SECRET),
      );
      const elapsedMs = Date.now() - startedAt;

      expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(1);
      expect(run.stderr).toContain('rejected the API key');
      expect(run.stderr).toContain('Nothing was committed.');
      expect(await listFiles(dest), 'files in the lake').toEqual([]);
      expect(existsSync(dest) ? readdirSync(dest) : []).toEqual([]);
      // Decided by the first answers (3 at most, or the only one in flight), not by every user.
      const tried = (sim.stats().byStatus[401] ?? 0) - before;
      expect(tried).toBeGreaterThan(0);
      expect(tried).toBeLessThanOrEqual(concurrency);
      expect(elapsedMs).toBeLessThan(10_000);
    });
  }
});
