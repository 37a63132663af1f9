import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulatorOptions } from '#simulator/options.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';

const SEED = 'api-test';
const SERVER_HEADERS = {
  'x-api-key': 'sim-key',
  'x-api-secret': 'sim-secret',
  'content-type': 'application/json',
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the tests read from bodies; the rest is compared whole. */
interface Body {
  data?: { publicToken: string; token: string };
  code?: number;
  message?: string;
  [key: string]: unknown;
}

const started: Simulator[] = [];
async function simulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator({ seed: SEED, ...options });
  started.push(sim);
  return sim;
}
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

async function mint(sim: Simulator, body: unknown, headers: Record<string, string> = SERVER_HEADERS) {
  const res = await fetch(`${sim.url}/access-token`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Body };
}
async function tokenFor(sim: Simulator, identifier: string): Promise<string> {
  const { status, body } = await mint(sim, { identifier });
  expect(status).toBe(200);
  return body.data!.publicToken;
}
async function get(sim: Simulator, token: string | undefined, path: string) {
  const headers: Record<string, string> = { 'x-api-version': 'v2' };
  if (token !== undefined) headers['x-public-token'] = token;
  const res = await fetch(`${sim.url}${path}`, { headers });
  return { status: res.status, body: (await res.json()) as Body };
}

describe('simulator auth', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await simulator();
  });

  it('mints uuid-like public tokens for good server credentials', async () => {
    const { status, body } = await mint(sim, { identifier: 'user-000001' });
    expect(status).toBe(200);
    expect(Object.keys(body)).toEqual(['data']);
    expect(body.data?.publicToken).toMatch(UUID);
    expect(body.data?.token).toMatch(UUID);
  });

  it('refuses a wrong key or secret with 401 code 40100', async () => {
    for (const headers of [
      { ...SERVER_HEADERS, 'x-api-key': 'wrong' },
      { ...SERVER_HEADERS, 'x-api-secret': 'wrong' },
      { 'content-type': 'application/json' },
    ]) {
      const { status, body } = await mint(sim, { identifier: 'user-000001' }, headers);
      expect(status).toBe(401);
      expect(body.code).toBe(40100);
      expect(typeof body.message).toBe('string');
    }
  });

  it('answers 400 when the identifier is missing, empty or not a string', async () => {
    for (const body of [{}, { identifier: '' }, { identifier: 42 }, null]) {
      const res = await mint(sim, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe(40000);
    }
    const res = await fetch(`${sim.url}/access-token`, {
      method: 'POST',
      headers: SERVER_HEADERS,
      body: '{not json',
    });
    expect(res.status).toBe(400);
  });

  it('refuses an unknown or missing public token with 401 code 40104', async () => {
    for (const token of ['00000000-0000-4000-8000-000000000000', undefined]) {
      const { status, body } = await get(sim, token, '/pay-link/accounts');
      expect(status).toBe(401);
      expect(body.code).toBe(40104);
    }
  });

  it('scopes data to the token: each token sees its own user', async () => {
    const [a, b] = ['user-000001', 'user-000002'];
    const [ta, tb] = [await tokenFor(sim, a!), await tokenFor(sim, b!)];
    expect((await get(sim, ta, '/pay-link/accounts')).body.accounts).toEqual(sim.served(a!).accounts);
    expect((await get(sim, tb, '/pay-link/orders')).body.orders).toEqual(sim.served(b!).orders);
  });

  it('expires a token after tokenMaxUses data calls, and a re-minted one works', async () => {
    const limited = await simulator({ tokenMaxUses: 2 });
    const token = await tokenFor(limited, 'user-000003');
    expect((await get(limited, token, '/pay-link/accounts')).status).toBe(200);
    expect((await get(limited, token, '/pay-link/orders')).status).toBe(200);
    const expired = await get(limited, token, '/pay-link/orders');
    expect(expired.status).toBe(401);
    expect(expired.body.code).toBe(40104);
    const fresh = await tokenFor(limited, 'user-000003');
    expect((await get(limited, fresh, '/pay-link/orders')).status).toBe(200);
    expect(limited.stats().tokensMinted).toBe(2);
  });
});

describe('simulator endpoints', () => {
  let sim: Simulator;
  const ids = generateIdentifiers(SEED, 300);
  beforeAll(async () => {
    sim = await simulator();
  });
  const find = (predicate: (id: string) => boolean) => {
    const id = ids.find(predicate);
    if (id === undefined) throw new Error('no such user in the test population');
    return id;
  };

  it('serves every list endpoint at the top level, exactly as served()', async () => {
    for (const id of ids.slice(0, 12)) {
      const token = await tokenFor(sim, id);
      const data = sim.served(id);
      expect((await get(sim, token, '/pay-link/accounts')).body).toEqual({ accounts: data.accounts });
      expect((await get(sim, token, '/pay-link/orders')).body).toEqual({ orders: data.orders });
      expect((await get(sim, token, '/pay-link/suggestions')).body).toEqual({
        suggestions: data.suggestions,
      });
      expect((await get(sim, token, '/pay-link/recurring-financial-transactions')).body).toEqual({
        recurringFinancialTransactions: data.recurringFinancialTransactions,
      });
    }
  });

  it('serves the most recent transaction as an object, or null', async () => {
    for (const id of [
      find((i) => sim.served(i).mostRecentFinancialTransaction === null),
      find((i) => sim.served(i).mostRecentFinancialTransaction !== null),
    ]) {
      const { status, body } = await get(
        sim,
        await tokenFor(sim, id),
        '/pay-link/financial-transactions/most-recent',
      );
      expect(status).toBe(200);
      expect(body).toEqual({ financialTransaction: sim.served(id).mostRecentFinancialTransaction });
    }
  });

  it('serves one account by id and 404 code 40400 for an id that is not the user’s', async () => {
    const id = find((i) => sim.served(i).accounts.length >= 2);
    const other = find((i) => i !== id && sim.served(i).accounts.length > 0);
    const token = await tokenFor(sim, id);
    for (const account of sim.served(id).accounts) {
      const { status, body } = await get(sim, token, `/pay-link/accounts/${encodeURIComponent(account._id)}`);
      expect(status).toBe(200);
      expect(body).toEqual({ account });
    }
    const foreign = await get(sim, token, `/pay-link/accounts/${sim.served(other).accounts[0]!._id}`);
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual({ message: expect.any(String), code: 40400 });
  });

  it('serves action history per account and refuses a missing or foreign accountId', async () => {
    const id = find((i) => Object.values(sim.served(i).actionHistory).some((h) => h.length > 0));
    const token = await tokenFor(sim, id);
    for (const [accountId, history] of Object.entries(sim.served(id).actionHistory)) {
      const { body } = await get(
        sim,
        token,
        `/pay-link/action-history?accountId=${encodeURIComponent(accountId)}`,
      );
      expect(body).toEqual({ actionHistory: history });
    }
    expect((await get(sim, token, '/pay-link/action-history')).status).toBe(400);
    expect((await get(sim, token, '/pay-link/action-history?accountId=nope')).status).toBe(404);
  });

  it('serves a task at /task/{id}/details under data, to the server key only', async () => {
    const id = find((i) => sim.served(i).taskIds.length > 0);
    const token = await tokenFor(sim, id);
    const serverKey = { 'x-api-key': 'sim-key', 'x-api-secret': 'sim-secret' };
    for (const taskId of sim.served(id).taskIds) {
      const res = await fetch(`${sim.url}/task/${encodeURIComponent(taskId)}/details`, {
        headers: serverKey,
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { data: { status: string } };
      expect(body).toEqual({ data: sim.served(id).tasks[taskId] });
      expect(['queued', 'processing', 'completed', 'failed']).toContain(body.data.status);
    }
    const withToken = await get(sim, token, `/task/${sim.served(id).taskIds[0]}/details`);
    expect(withToken.status, 'a public token is not enough').toBe(401);
    expect(withToken.body.code, 'and the 401 carries no PayLink code').toBeUndefined();
    const unknown = await fetch(`${sim.url}/task/no-such-task/details`, { headers: serverKey });
    expect(unknown.status).toBe(404);
    expect((await get(sim, token, `/pay-link/tasks/${sim.served(id).taskIds[0]}`)).status).toBe(404);
  });

  it('lists a user’s tasks at /user/{identifier}/tasks under data, filtered by status', async () => {
    const id = find((i) => sim.served(i).taskIds.length > 1);
    const serverKey = { 'x-api-key': 'sim-key', 'x-api-secret': 'sim-secret' };
    const res = await fetch(`${sim.url}/user/${encodeURIComponent(id)}/tasks`, { headers: serverKey });
    expect(res.status).toBe(200);
    const served = sim.served(id);
    expect(await res.json()).toEqual({ data: served.taskIds.map((t) => served.tasks[t]) });
    const status = served.tasks[served.taskIds[0]!]!.status;
    const filtered = await fetch(`${sim.url}/user/${encodeURIComponent(id)}/tasks?status=${status}`, {
      headers: serverKey,
    });
    const body = (await filtered.json()) as { data: { status: string }[] };
    expect(body.data.length).toBeGreaterThan(0);
    expect(body.data.every((t) => t.status === status)).toBe(true);
  });

  it('answers 404 for unknown paths and methods', async () => {
    const token = await tokenFor(sim, 'user-000001');
    for (const path of ['/pay-link/unknown', '/accounts', '/pay-link/accounts/a/b', '/']) {
      const { status, body } = await get(sim, token, path);
      expect(status).toBe(404);
      expect(body.code).toBe(40400);
    }
    const post = await fetch(`${sim.url}/pay-link/accounts`, {
      method: 'POST',
      headers: { 'x-public-token': token },
    });
    expect(post.status).toBe(404);
    const getToken = await fetch(`${sim.url}/access-token`, { headers: SERVER_HEADERS });
    expect(getToken.status).toBe(404);
  });

  it('accepts requests with or without x-api-version', async () => {
    const token = await tokenFor(sim, 'user-000004');
    const without = await fetch(`${sim.url}/pay-link/accounts`, { headers: { 'x-public-token': token } });
    const withV1 = await fetch(`${sim.url}/pay-link/accounts`, {
      headers: { 'x-public-token': token, 'x-api-version': 'v1' },
    });
    expect([without.status, withV1.status]).toEqual([200, 200]);
  });

  it('serves Unicode and emoji identifiers like any other', async () => {
    for (const id of ['Zoë Ångström 7', '山田 太郎 12', '🚀 launch user 3', 'jane.doe+bank@example.com 9']) {
      const { body } = await get(sim, await tokenFor(sim, id), '/pay-link/accounts');
      expect(body.accounts).toEqual(sim.served(id).accounts);
    }
  });

  it('counts requests, statuses and minted tokens', async () => {
    const fresh = await simulator();
    const token = await tokenFor(fresh, 'user-000001');
    await get(fresh, token, '/pay-link/accounts');
    await get(fresh, token, '/pay-link/nope');
    expect(fresh.stats()).toEqual({
      requests: 3,
      byStatus: { 200: 2, 404: 1 },
      faultsInjected: {},
      tokensMinted: 1,
      rateLimited: 0,
    });
  });

  it('hands served() callers a copy, so mutating it changes nothing served', async () => {
    const id = find((i) => sim.served(i).accounts.length > 0);
    const copy = sim.served(id);
    copy.accounts.length = 0;
    expect(sim.served(id).accounts.length).toBeGreaterThan(0);
  });

  it('logs one line per request, without tokens or query values, only when asked', async () => {
    const lines: string[] = [];
    const logged = await simulator({ log: (line) => lines.push(line) });
    const token = await tokenFor(logged, 'user-000005');
    await get(logged, token, '/pay-link/action-history?accountId=secret-ish');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^POST \/access-token 200 \d+ms$/);
    expect(lines.join('\n')).not.toContain(token);
    expect(lines.join('\n')).not.toContain('secret-ish');
  });
});

describe('simulator envelopes', () => {
  it("wraps list bodies as {data: {...}} in 'data' mode and leaves object bodies alone", async () => {
    const sim = await simulator({ faults: { envelope: 'data' } });
    const id = generateIdentifiers(SEED, 50).find((i) => sim.served(i).accounts.length > 0)!;
    const token = await tokenFor(sim, id);
    expect((await get(sim, token, '/pay-link/accounts')).body).toEqual({
      data: { accounts: sim.served(id).accounts },
    });
    expect((await get(sim, token, '/pay-link/orders')).body).toEqual({
      data: { orders: sim.served(id).orders },
    });
    const accountId = sim.served(id).accounts[0]!._id;
    expect((await get(sim, token, `/pay-link/accounts/${accountId}`)).body).toEqual({
      account: sim.served(id).accounts[0],
    });
  });

  it("wraps for some users and not others in 'mixed' mode, the same way on every call", async () => {
    const sim = await simulator({ faults: { envelope: 'mixed' } });
    const shapes = new Map<string, string>();
    for (const id of generateIdentifiers(SEED, 16)) {
      const token = await tokenFor(sim, id);
      const first = Object.keys((await get(sim, token, '/pay-link/accounts')).body).join();
      const second = Object.keys((await get(sim, token, '/pay-link/accounts')).body).join();
      expect(second).toBe(first);
      shapes.set(id, first);
    }
    expect(new Set(shapes.values())).toEqual(new Set(['accounts', 'data']));
  });
});

describe('simulator pagination', () => {
  const many = (sim: Simulator) =>
    generateIdentifiers(SEED, 300).find((i) =>
      Object.values(sim.served(i).actionHistory).some((h) => h.length >= 5),
    )!;

  it('serves everything unpaged when pageSize is not set, whatever the query', async () => {
    const sim = await simulator();
    const id = many(sim);
    const [accountId, history] = Object.entries(sim.served(id).actionHistory).find(([, h]) => h.length >= 5)!;
    const { body } = await get(
      sim,
      await tokenFor(sim, id),
      `/pay-link/action-history?accountId=${accountId}&limit=1`,
    );
    expect(body.actionHistory).toEqual(history);
  });

  it('gives a single-page client only the first page and an offset paginator everything', async () => {
    const sim = await simulator({ pageSize: 2 });
    const id = many(sim);
    const token = await tokenFor(sim, id);
    const [accountId, history] = Object.entries(sim.served(id).actionHistory).find(([, h]) => h.length >= 5)!;
    const path = `/pay-link/action-history?accountId=${accountId}`;
    expect((await get(sim, token, path)).body.actionHistory).toEqual(history.slice(0, 2));

    const collected: unknown[] = [];
    for (let skip = 0; ; skip += 3) {
      const page = (await get(sim, token, `${path}&limit=3&skip=${skip}`)).body.actionHistory as unknown[];
      collected.push(...page);
      if (page.length < 3) break;
    }
    expect(collected).toEqual(history);
  });

  it('answers an empty page past the end and 400 for a malformed limit or skip', async () => {
    const sim = await simulator({ pageSize: 2 });
    const token = await tokenFor(sim, 'user-000001');
    expect((await get(sim, token, '/pay-link/orders?skip=1000')).body).toEqual({ orders: [] });
    for (const query of ['limit=-1', 'limit=abc', 'skip=1.5']) {
      const { status, body } = await get(sim, token, `/pay-link/orders?${query}`);
      expect(status).toBe(400);
      expect(body.code).toBe(40000);
    }
  });
});

describe('simulator failing users', () => {
  it('answers 403 code 40300 on access-token for rejectTokenUsers, with the right key', async () => {
    const sim = await simulator({ faults: { rejectTokenUsers: ['Zoë Ångström 7'] } });
    const refused = await mint(sim, { identifier: 'Zoë Ångström 7' });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe(40300);
    expect(refused.body.data).toBeUndefined();
    expect((await mint(sim, { identifier: 'user-000001' })).status).toBe(200);
    expect(sim.stats().faultsInjected.tokenRejected).toBe(1);
    expect(sim.stats().tokensMinted).toBe(1);
  });

  it('answers 404 code 40400 on data endpoints for listed users, while minting their tokens', async () => {
    const sim = await simulator({ faults: { failUsers: ['Zoë Ångström 7'] } });
    const token = await tokenFor(sim, 'Zoë Ångström 7');
    for (const path of [
      '/pay-link/accounts',
      '/pay-link/orders',
      '/pay-link/financial-transactions/most-recent',
    ]) {
      const { status, body } = await get(sim, token, path);
      expect(status).toBe(404);
      expect(body.code).toBe(40400);
    }
    expect(sim.userFails('Zoë Ångström 7')).toBe(true);
    expect((await get(sim, await tokenFor(sim, 'user-000001'), '/pay-link/accounts')).status).toBe(200);
    expect(sim.stats().faultsInjected.failUser).toBe(3);
  });

  it('fails a deterministic share of users with failUserRate', async () => {
    const sim = await simulator({ faults: { failUserRate: 0.5 } });
    const ids = generateIdentifiers(SEED, 12);
    for (const id of ids) {
      const { status } = await get(sim, await tokenFor(sim, id), '/pay-link/accounts');
      expect(status).toBe(sim.userFails(id) ? 404 : 200);
    }
    const failing = ids.filter((id) => sim.userFails(id)).length;
    expect(failing).toBeGreaterThan(0);
    expect(failing).toBeLessThan(ids.length);
  });
});

describe('startSimulator', () => {
  it('refuses invalid options with an error naming the option', async () => {
    await expect(startSimulator({ faults: { hangRate: 2 } })).rejects.toMatchObject({
      key: 'faults.hangRate',
    });
  });

  it('listens on the requested port on 127.0.0.1 and closes idempotently', async () => {
    const probe = await simulator();
    const port = probe.port;
    await probe.close();
    const sim = await simulator({ port });
    expect(sim.url).toBe(`http://127.0.0.1:${port}`);
    await sim.close();
    await sim.close();
    await expect(fetch(`${sim.url}/pay-link/accounts`)).rejects.toThrow();
  });
});

describe('simulator API profiles', () => {
  const SERVER = { 'x-api-key': 'sim-key', 'x-api-secret': 'sim-secret' };
  async function tokenAt(sim: Simulator, identifier: string) {
    const res = await fetch(`${sim.url}/access-token`, {
      method: 'POST',
      headers: { ...SERVER, 'content-type': 'application/json' },
      body: JSON.stringify({ identifier }),
    });
    return ((await res.json()) as { data: { publicToken: string } }).data.publicToken;
  }
  async function text(sim: Simulator, token: string, path: string) {
    const res = await fetch(`${sim.url}${path}`, { headers: { 'x-public-token': token } });
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  }

  it('serves the alternative shapes: {data: [...]}, data.<key>, bare arrays and objects', async () => {
    const id = 'user-000007';
    for (const [profile, expected] of [
      ['data-arrays', (accounts: unknown) => ({ data: accounts })],
      ['data-key', (accounts: unknown) => ({ data: { accounts } })],
      ['bare', (accounts: unknown) => accounts],
    ] as const) {
      const sim = await simulator({ profile });
      const { status, body } = await text(sim, await tokenAt(sim, id), '/pay-link/accounts');
      expect(status).toBe(200);
      expect(JSON.parse(body), profile).toEqual(expected(sim.served(id).accounts));
    }
  });

  it('answers a missing route 404, as JSON or as an HTML page', async () => {
    const json = await simulator({ profile: 'missing-orders' });
    const a = await text(json, await tokenAt(json, 'u'), '/pay-link/orders');
    expect([a.status, JSON.parse(a.body).code]).toEqual([404, 40400]);
    const html = await simulator({ profile: 'html-errors' });
    const b = await text(html, await tokenAt(html, 'u'), '/pay-link/recurring-financial-transactions');
    expect(b.status).toBe(404);
    expect(b.type).toContain('text/html');
    expect(b.body).toMatch(/^<!DOCTYPE html>/);
  });

  it('answers a public token 401 without a code on a server-key route', async () => {
    const sim = await simulator({ profile: 'server-key-suggestions' });
    const res = await text(sim, await tokenAt(sim, 'u'), '/pay-link/suggestions');
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toEqual({ message: 'Unauthorized' });
  });

  it('serves money amounts as bare NaN tokens in the nan profile', async () => {
    const sim = await simulator({ profile: 'nan' });
    const id = find(sim, (i) =>
      sim.served(i).accounts.some((a) => JSON.stringify(a).includes('"dueAmount":')),
    );
    const { status, body } = await text(sim, await tokenAt(sim, id), '/pay-link/accounts');
    expect(status).toBe(200);
    expect(body).toMatch(/"dueAmount":NaN/);
    expect(() => JSON.parse(body)).toThrow();
  });
});

function find(sim: Simulator, predicate: (id: string) => boolean): string {
  const id = generateIdentifiers(SEED, 200).find(predicate);
  if (id === undefined) throw new Error('no such user in the world');
  expect(sim.served(id)).toBeDefined();
  return id;
}
