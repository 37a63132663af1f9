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
    // Orders' child table is not declared: on this fresh lake it does not exist, and both the
    // summary and status say so instead of leaving a query to find out.
    const note =
      "This load wrote no rows to orders or its child tables; rows of earlier loads stay, and each user's current state of orders is their last good load's; in a lake without them, orders exists (empty), but a child table the catalog does not declare (orders__<list>) appears only once its records have been loaded";
    expect(run.stdout).toContain(note);
    expect((await runCli(['status', '--dest', dest])).stdout).toContain(
      `Disabled in the latest load (missing-orders): orders.\n  ${note}.`,
    );

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

describe('what counts as evidence against an endpoint', () => {
  for (const batchSize of [1, 2]) {
    it(`judges a missing endpoint the same with batches of ${batchSize}: evidence users are not failed`, async () => {
      const { sim } = await simulator('missing-orders');
      const dest = scratch.path(`small-batches-${batchSize}`);
      const run = await runLoad(
        { users: usersFile, dest, baseUrl: sim.url, config: fastConfig, batchSize, concurrency: 2 },
        ENV,
      );
      expect(run.code, run.stdout + run.stderr).toBe(4);
      expect(marker(dest, readLoadId(dest)).failedUserCount).toBe(0);
      await withLake(dest, async (lake) => {
        const orders = await queryObjects(
          lake,
          "SELECT user_identifier, status, batch FROM user_loads WHERE resource = 'orders' ORDER BY ALL",
        );
        expect(orders.map((r) => r.status)).toEqual(new Array(USERS).fill('endpoint_unavailable'));
        // Each row keeps the batch its user belongs to, even when a later batch settled it
        // (the plan cuts batches from the users in code-unit order).
        const sorted = [...identifiers].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const batchOf = new Map(sorted.map((id, i) => [id, Math.floor(i / batchSize)]));
        for (const r of orders) expect(Number(r.batch)).toBe(batchOf.get(r.user_identifier as string));
      });
    });
  }

  it('still fails, once, a user of an early small batch whose endpoints later work for others', async () => {
    const first = [...identifiers].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[0]!;
    const sim = await startSimulator({
      seed: SEED,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      faults: { failUsers: [first] },
    });
    sims.push(sim);
    const dest = scratch.path('late-failed');
    const run = await runLoad(
      {
        users: usersFile,
        dest,
        baseUrl: sim.url,
        config: fastConfig,
        batchSize: 1,
        concurrency: 1,
        json: true,
      },
      ENV,
    );
    expect(run.code, run.stderr).toBe(3);
    const summary = JSON.parse(run.stdout) as { failedUserCount: number; endpointFindings: unknown[] };
    expect(summary).toMatchObject({ failedUserCount: 1, endpointFindings: [] });
    await withLake(dest, async (lake) => {
      const rows = await queryObjects(
        lake,
        "SELECT DISTINCT user_identifier, status, batch FROM user_loads WHERE status <> 'ok'",
      );
      expect(rows).toEqual([{ user_identifier: first, status: 'failed', batch: 0 }]);
    });
  });

  it('with one resource selected, a user PayLink serves elsewhere is evidence (asked once at /pay-link/accounts)', async () => {
    const { sim, requestsTo } = await simulator('missing-orders');
    const dest = scratch.path('only-orders');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, config: fastConfig, resources: ['orders'], concurrency: 1 },
      ENV,
    );
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(marker(dest, readLoadId(dest)).endpointFindings.map((f) => f.resource)).toEqual(['orders']);
    expect(requestsTo('/pay-link/accounts'), 'a witness call per evidence user, no more').toBe(3);
  });

  it('with one resource selected, users PayLink does not know fail: a token is no evidence against the endpoint', async () => {
    const unknown = await startSimulator({
      seed: SEED,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      faults: { failUsers: identifiers },
    });
    sims.push(unknown);
    const dest = scratch.path('unknown-users');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: unknown.url, config: fastConfig, resources: ['orders'], json: true },
      ENV,
    );
    expect(run.code, run.stderr).toBe(3);
    const summary = JSON.parse(run.stdout) as { failedUserCount: number; endpointFindings: unknown[] };
    expect(summary.endpointFindings).toEqual([]);
    expect(summary.failedUserCount).toBe(USERS);
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
  it('bare arrays and bare objects: every row loaded, a bare object read as the record', async () => {
    const { sim } = await simulator('bare');
    const dest = scratch.path('bare');
    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, config: fastConfig }, ENV);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(marker(dest, readLoadId(dest)).endpointFindings).toEqual([]);
    const served = identifiers.map((id) => sim.served(id));
    expect(
      served.filter((d) => d.mostRecentFinancialTransaction !== null).length,
      'some users have a most recent transaction (a bare object), some have none (a bare null)',
    ).toBeGreaterThan(0);
    const expected = expectedTableCounts(served);
    await withLake(dest, async (lake) => {
      const { user_loads: _, ...counts } = await tableCounts(lake);
      expect(counts).toEqual(expected);
      const ids = await queryObjects(lake, 'SELECT _id FROM financial_transactions_most_recent ORDER BY _id');
      expect(ids.map((r) => r._id)).toEqual(
        served
          .map((d) => (d.mostRecentFinancialTransaction as { _id?: string } | null)?._id)
          .filter((id) => id !== undefined)
          .sort(),
      );
    });
  });

  it('an endpoint that wants the server key: one auth finding, not N failed users', async () => {
    const { sim } = await simulator('server-key-suggestions');
    const dest = scratch.path('server-key');
    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, config: fastConfig }, ENV);
    expect(run.code, run.stderr).toBe(4);
    // With the server key no token names the user: the advice shows the {identifier} path form.
    expect(run.stdout).toContain(
      '{"resources": {"suggestions": {"auth": "server", "path": "/.../{identifier}/..."}}}',
    );
    expect(run.stdout).toMatch(/suggestions: .*HTTP 401.*the path must carry \{identifier\}/);
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
