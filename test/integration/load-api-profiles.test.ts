/**
 * A PayLink that disagrees with the catalog: each simulator API profile is loaded, and a wrong
 * guess costs one endpoint-level finding (exit 4, users not failed), never N failed users.
 * Shapes the selectors can recover load every row.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadMarker } from '#core/commit.ts';
import type { ApiProfile } from '#simulator/api-profiles.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { DEFAULT_RESOURCES, expectedTableCounts } from '#test/helpers/expected-rows.ts';
import {
  credentialsEnv,
  FAST_HTTP,
  queryObjects,
  runCli,
  runLoad,
  Scratch,
  tableCounts,
  withLake,
} from '#test/helpers/lake-harness.ts';

const SEED = 'profiles-seed';
const API_KEY = 'profiles-key';
const API_SECRET = 'profiles-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const USERS = 12;

let scratch: Scratch;
let identifiers: string[];
let usersFile: string;
let fastConfig: string;
const sims: Simulator[] = [];

beforeAll(async () => {
  scratch = await Scratch.create('profiles');
  identifiers = generateIdentifiers(SEED, USERS);
  usersFile = await scratch.users('users.txt', identifiers);
  fastConfig = await scratch.json('fast.json', { http: FAST_HTTP });
});
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  await scratch?.dispose();
});

/** A simulator for one profile, counting requests per path template. */
async function simulator(profile: ApiProfile) {
  const paths: string[] = [];
  const sim = await startSimulator({
    seed: SEED,
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    profile,
    log: (line) => paths.push(line.split(' ')[1] ?? ''),
  });
  sims.push(sim);
  return { sim, requestsTo: (prefix: string) => paths.filter((p) => p.startsWith(prefix)).length };
}

function marker(dest: string, loadId: string): LoadMarker {
  return JSON.parse(readFileSync(`${dest}/_loads/${loadId}.json`, 'utf8')) as LoadMarker;
}

async function statuses(dest: string) {
  return withLake(dest, (lake) =>
    queryObjects(
      lake,
      'SELECT resource, status, error_code, count(*) AS users FROM user_loads GROUP BY ALL ORDER BY ALL',
    ),
  );
}

describe('a PayLink without the orders endpoint, and tasks behind the server key', () => {
  it('commits with exit 4, one finding naming orders and the fix, no failed user, tasks loaded', async () => {
    const { sim, requestsTo } = await simulator('missing-orders');
    const dest = scratch.path('missing-orders');
    const taskLines = identifiers.flatMap((identifier) =>
      sim.served(identifier).taskIds.map((taskId) => JSON.stringify({ identifier, taskId })),
    );
    expect(taskLines.length, 'the world has tasks to load').toBeGreaterThan(3);
    const taskIds = await scratch.text('task-ids.jsonl', `${taskLines.join('\n')}\n`);
    const run = await runLoad(
      {
        users: usersFile,
        dest,
        baseUrl: sim.url,
        loadId: 'missing-orders',
        config: fastConfig,
        resources: [...DEFAULT_RESOURCES, 'tasks'],
        taskIds,
        // Three batches judged by one run: the finding is made once and later batches skip orders.
        batchSize: 5,
        concurrency: 4,
      },
      ENV,
    );

    expect(run.code, run.stderr).toBe(4);
    expect(run.stdout).toContain('committed with 1 resource disabled');
    expect(run.stdout).not.toContain('Failed users');
    expect(run.stdout).toMatch(
      /orders: GET \/pay-link\/orders answered HTTP 404 .*--resources.*"orders": \{"path"/,
    );
    const findings = marker(dest, 'missing-orders').endpointFindings;
    expect(findings.map((f) => [f.resource, f.code, f.httpStatus])).toEqual([['orders', 'http_404', 404]]);
    expect(marker(dest, 'missing-orders').failedUserCount).toBe(0);
    expect(requestsTo('/pay-link/orders'), 'orders is not called once found missing').toBeLessThan(USERS);
    expect(requestsTo('/task/'), 'every task fetched at /task/{id}/details').toBe(taskLines.length);
    const status = JSON.parse((await runCli(['status', '--dest', dest, '--json'])).stdout) as {
      loads: { disabledResources: string[] }[];
    };
    expect(status.loads.map((l) => l.disabledResources)).toEqual([['orders']]);

    const rows = await statuses(dest);
    expect(rows.filter((r) => r.status === 'failed')).toEqual([]);
    expect(rows.find((r) => r.resource === 'orders')).toEqual({
      resource: 'orders',
      status: 'endpoint_unavailable',
      error_code: 'http_404',
      users: USERS,
    });
    await withLake(dest, async (lake) => {
      const tasks = await queryObjects(lake, 'SELECT user_identifier, _id, status FROM tasks ORDER BY ALL');
      const expected = identifiers
        .flatMap((id) =>
          Object.values(sim.served(id).tasks).map((t) => ({
            user_identifier: id,
            _id: t._id,
            status: t.status,
          })),
        )
        .sort((a, b) => (JSON.stringify(Object.values(a)) < JSON.stringify(Object.values(b)) ? -1 : 1));
      expect(tasks).toEqual(expected);
      // Declared in the catalog, so the table exists (typed, empty): nothing was loaded into it.
      expect((await tableCounts(lake)).orders ?? 0).toBe(0);
      // The latest attempt says why orders is missing; it is not an 'ok' load, so users keep older data.
      const current = await queryObjects(
        lake,
        "SELECT DISTINCT status FROM current.user_loads WHERE resource = 'orders'",
      );
      expect(current).toEqual([{ status: 'endpoint_unavailable' }]);
    });
  });

  it('reads a 404 as "no data for this user" when the catalog says so: zero rows, exit 0', async () => {
    const { sim } = await simulator('missing-orders');
    const dest = scratch.path('orders-empty');
    const config = await scratch.json('orders-empty.json', {
      http: FAST_HTTP,
      resources: { orders: { notFound: 'empty' } },
    });
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, config, resources: ['orders'] },
      ENV,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(await statuses(dest)).toEqual([
      { resource: 'orders', status: 'ok', error_code: null, users: USERS },
    ]);
  });

  it('discovers task ids from /user/{identifier}/tasks when user_tasks is selected', async () => {
    const { sim } = await simulator('missing-orders');
    const dest = scratch.path('user-tasks');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, config: fastConfig, resources: ['tasks', 'user_tasks'] },
      ENV,
    );
    expect(run.code, run.stderr).toBe(0);
    const served = identifiers.reduce((n, id) => n + sim.served(id).taskIds.length, 0);
    await withLake(dest, async (lake) => {
      expect(await tableCounts(lake)).toMatchObject({ tasks: served, user_tasks: served });
    });
  });
});

describe('shapes the selectors recover', () => {
  for (const profile of ['data-arrays', 'data-key'] as const) {
    it(`loads every row when bodies come as ${profile}`, async () => {
      const { sim } = await simulator(profile);
      const dest = scratch.path(profile);
      const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, config: fastConfig }, ENV);
      expect(run.code, run.stderr).toBe(0);
      const expected = expectedTableCounts(identifiers.map((id) => sim.served(id)));
      await withLake(dest, async (lake) => {
        const { user_loads: _, ...counts } = await tableCounts(lake);
        expect(counts).toEqual(expected);
      });
    });
  }
});

describe('shapes and endpoints the catalog cannot guess', () => {
  it('bare objects: one selector finding for the single-record resource, fixed by its snippet', async () => {
    const { sim } = await simulator('bare');
    const dest = scratch.path('bare');
    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, config: fastConfig }, ENV);
    expect(run.code, run.stderr).toBe(4);
    const findings = marker(dest, readLoadId(dest)).endpointFindings;
    expect(findings.map((f) => [f.resource, f.code])).toEqual([
      ['financial_transactions_most_recent', 'selector_not_found'],
    ]);
    expect(findings[0]!.message).toContain('"selectors": ["<key>"]');
    // Bare lists are recovered (the body is the list): those resources loaded.
    const rows = await statuses(dest);
    expect(rows.filter((r) => r.status === 'failed')).toEqual([]);
    expect(rows.filter((r) => r.resource === 'orders').map((r) => r.status)).toEqual(['ok']);

    const fixed = await scratch.json('bare-fix.json', {
      http: FAST_HTTP,
      resources: { financial_transactions_most_recent: { selectors: ['$'] } },
    });
    const dest2 = scratch.path('bare-fixed');
    const rerun = await runLoad({ users: usersFile, dest: dest2, baseUrl: sim.url, config: fixed }, ENV);
    expect(rerun.code, rerun.stderr).toBe(0);
    const expected = expectedTableCounts(identifiers.map((id) => sim.served(id)));
    await withLake(dest2, async (lake) => {
      const { user_loads: _, ...counts } = await tableCounts(lake);
      expect(counts).toEqual(expected);
    });
  });

  it('an endpoint that wants the server key: one auth finding, not N failed users', async () => {
    const { sim } = await simulator('server-key-suggestions');
    const dest = scratch.path('server-key');
    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, config: fastConfig }, ENV);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stdout).toMatch(/suggestions: .*HTTP 401.*"suggestions": \{"auth": "server"\}/);
    const rows = await statuses(dest);
    expect(rows.filter((r) => r.status === 'failed')).toEqual([]);
    expect(rows.find((r) => r.resource === 'suggestions')?.status).toBe('endpoint_unavailable');
  });

  it('an HTML 404 page for a missing route: one finding for that resource', async () => {
    const { sim } = await simulator('html-errors');
    const dest = scratch.path('html');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, config: fastConfig, json: true },
      ENV,
    );
    expect(run.code, run.stderr).toBe(4);
    const summary = JSON.parse(run.stdout) as {
      failedUserCount: number;
      endpointFindings: { resource: string }[];
    };
    expect(summary.failedUserCount).toBe(0);
    expect(summary.endpointFindings.map((f) => f.resource)).toEqual(['recurring_financial_transactions']);
  });
});

/** The one load id committed to a lake. */
function readLoadId(dest: string): string {
  const files = readdirSync(`${dest}/_loads`);
  expect(files).toHaveLength(1);
  return files[0]!.replace(/\.json$/, '');
}
