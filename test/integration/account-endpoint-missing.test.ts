/**
 * A PayLink without `GET /pay-link/accounts/{id}` (the simulator's `missingRoutes`), loaded with
 * `--resources accounts,account`: `account` is found unusable after its first evidence users, and
 * what the operator reads (the summary, the load report, `user_loads`) says the
 * endpoint looks missing for ids of `accounts` PayLink had just listed. Its ids are no stale task
 * ids, so no word may send the operator to clean a task-id registry or a --task-ids file.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadMarker } from '#core/commit.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  type CliRun,
  credentialsEnv,
  FAST_HTTP,
  queryObjects,
  runLoad,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';

const SEED = 'account-missing-seed';
const API_KEY = 'account-missing-key';
const API_SECRET = 'account-missing-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const LOAD_ID = 'account-missing';
const ADVICE =
  'the endpoint looks missing (the ids given to it are those of the accounts records PayLink had just listed, so they are not stale)';
/** Words that belong to stale known-task ids only. */
const TASK_WORDS = /task id|--task-ids|webhook events|Removing a user or task id/;

let scratch: Scratch;
let sim: Simulator;
let dest: string;
let run: CliRun;

beforeAll(async () => {
  sim = await startSimulator({
    seed: SEED,
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    api: { missingRoutes: ['/pay-link/accounts/{id}'] },
  });
  scratch = await Scratch.create('account-missing');
  dest = scratch.path('lake');
  const usersFile = await scratch.users('users.txt', generateIdentifiers(SEED, 10));
  const config = await scratch.json('fast.json', { http: FAST_HTTP });
  run = await runLoad(
    { users: usersFile, dest, baseUrl: sim.url, config, loadId: LOAD_ID, resources: ['accounts', 'account'] },
    ENV,
  );
}, 60_000);

afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

describe('a load whose account endpoint answers 404 for everybody', () => {
  it('commits with account disabled (exit 4) and the summary names accounts, no task ids', () => {
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(run.stdout).toContain(
      'account: GET /pay-link/accounts/{id} answered HTTP 404 for the first 3 users',
    );
    expect(run.stdout).toContain(ADVICE);
    expect(run.stdout).not.toMatch(TASK_WORDS);
  });

  it('records the same words in the load report and in every user_loads row of account', async () => {
    const marker = JSON.parse(readFileSync(`${dest}/_loads/${LOAD_ID}.json`, 'utf8')) as LoadMarker;
    expect(marker.endpointFindings.map((f) => [f.resource, f.code])).toEqual([['account', 'http_404']]);
    const [finding] = marker.endpointFindings;
    expect(finding!.message).toContain(ADVICE);
    expect(finding!.message).not.toMatch(TASK_WORDS);

    const rows = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        "SELECT status, error_code, error_message FROM user_loads WHERE resource = 'account' AND status <> 'ok'",
      ),
    );
    expect(rows.length, 'users with an account were not loaded for it').toBeGreaterThanOrEqual(3);
    for (const row of rows) {
      expect(row).toMatchObject({ status: 'endpoint_unavailable', error_code: 'http_404' });
      expect(row.error_message).toContain(ADVICE);
      expect(row.error_message).not.toMatch(TASK_WORDS);
    }
  });
});
