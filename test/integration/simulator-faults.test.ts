import { afterAll, describe, expect, it } from 'vitest';
import type { SimulatorOptions } from '#simulator/options.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';

const SEED = 'fault-test';
const SERVER_HEADERS = {
  'x-api-key': 'sim-key',
  'x-api-secret': 'sim-secret',
  'content-type': 'application/json',
};

const started: Simulator[] = [];
async function simulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator({ seed: SEED, ...options });
  started.push(sim);
  return sim;
}
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

interface Answer {
  status: number;
  text: string;
  retryAfter: string | null;
}
async function mint(sim: Simulator, identifier: string): Promise<Answer> {
  const res = await fetch(`${sim.url}/access-token`, {
    method: 'POST',
    headers: SERVER_HEADERS,
    body: JSON.stringify({ identifier }),
  });
  return { status: res.status, text: await res.text(), retryAfter: res.headers.get('retry-after') };
}
/** Mints until it succeeds: token calls meet 429/5xx faults too. */
async function tokenFor(sim: Simulator, identifier: string): Promise<string> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const answer = await mint(sim, identifier);
    if (answer.status === 200) return JSON.parse(answer.text).data.publicToken;
  }
  throw new Error('no token after 10 attempts');
}
async function get(sim: Simulator, token: string, path: string, signal?: AbortSignal): Promise<Answer> {
  const res = await fetch(`${sim.url}${path}`, { headers: { 'x-public-token': token }, signal });
  return { status: res.status, text: await res.text(), retryAfter: res.headers.get('retry-after') };
}
const isJson = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};
/** Retries like a careful client: 429, 5xx and unparseable 200s, up to `attempts`. */
async function getRetrying(sim: Simulator, token: string, path: string, attempts: number): Promise<unknown> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const answer = await get(sim, token, path);
    if (answer.status === 200 && isJson(answer.text)) return JSON.parse(answer.text);
    if (answer.status !== 429 && answer.status < 500 && answer.status !== 200)
      throw new Error(`HTTP ${answer.status}`);
  }
  throw new Error(`${path}: no good answer after ${attempts} attempts`);
}

describe('simulator faults', () => {
  it('answers 429 with Retry-After in seconds, at most twice in a row by default', async () => {
    const sim = await simulator({ faults: { status429Rate: 1, retryAfterSeconds: 3 } });
    const token = await tokenFor(sim, 'user-000001');
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await get(sim, token, '/pay-link/accounts'));
    expect(answers.map((a) => a.status)).toEqual([429, 429, 200]);
    expect(answers[0]!.retryAfter).toBe('3');
    expect(JSON.parse(answers[0]!.text)).toEqual({ message: expect.any(String), code: 42900 });
    // Two more on the token call, which meets 429s as well.
    expect(sim.stats().faultsInjected.status429).toBe(4);
    expect(sim.stats().byStatus[429]).toBe(4);
  });

  it('can send Retry-After as an HTTP date that is not in the past', async () => {
    const sim = await simulator({
      faults: { status429Rate: 1, retryAfterSeconds: 2, retryAfterAsDate: true },
    });
    const answer = await mint(sim, 'user-000001');
    expect(answer.status).toBe(429);
    expect(answer.retryAfter).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const waitMs = Date.parse(answer.retryAfter!) - Date.now();
    expect(waitMs).toBeGreaterThan(0);
    expect(waitMs).toBeLessThanOrEqual(3000);
  });

  it('answers 503, 500 and 502 for server-error faults', async () => {
    const sim = await simulator({ faults: { status5xxRate: 1, maxConsecutiveFaults: 100 } });
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) statuses.add((await mint(sim, `user-${i}`)).status);
    expect([...statuses].sort()).toEqual([500, 502, 503]);
    expect(sim.stats().faultsInjected.status5xx).toBe(20);
  });

  it('answers 200 with a body that is not JSON for malformed faults, but never on the token call', async () => {
    const sim = await simulator({ faults: { malformedRate: 1 } });
    const token = await mint(sim, 'user-000001');
    expect(token.status).toBe(200);
    const publicToken = JSON.parse(token.text).data.publicToken;
    const answer = await get(sim, publicToken, '/pay-link/accounts');
    expect(answer.status).toBe(200);
    expect(isJson(answer.text)).toBe(false);
    expect(sim.stats().faultsInjected.malformed).toBe(1);
  });

  it('holds hang-fault requests past the client timeout', async () => {
    const sim = await simulator({ faults: { hangRate: 1, hangMs: 60_000 } });
    const token = await tokenFor(sim, 'user-000001');
    const started = performance.now();
    await expect(get(sim, token, '/pay-link/orders', AbortSignal.timeout(300))).rejects.toThrow();
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(sim.stats().faultsInjected.hang).toBe(1);
  });

  it('closes at once while a hung request is pending', async () => {
    const sim = await startSimulator({ seed: SEED, faults: { hangRate: 1, hangMs: 60_000 } });
    started.push(sim);
    const token = await tokenFor(sim, 'user-000001');
    const pending = get(sim, token, '/pay-link/orders');
    pending.catch(() => undefined);
    while (!sim.stats().faultsInjected.hang) await new Promise((r) => setTimeout(r, 10));
    const closing = performance.now();
    await sim.close();
    expect(performance.now() - closing).toBeLessThan(1000);
    await expect(pending).rejects.toThrow();
  });

  it('adds latencyMs to every response', async () => {
    const sim = await simulator({ faults: { latencyMs: 120 } });
    const started = performance.now();
    const answer = await mint(sim, 'user-000001');
    expect(answer.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(115);
  });

  it('never faults one request more than maxConsecutiveFaults times in a row, across every kind', async () => {
    const faults = { status429Rate: 0.35, status5xxRate: 0.35, malformedRate: 0.3, maxConsecutiveFaults: 3 };
    const sim = await simulator({ faults });
    const token = await tokenFor(sim, 'user-000001');
    for (const path of [
      '/pay-link/accounts',
      '/pay-link/orders',
      '/pay-link/suggestions',
      '/pay-link/orders?x=1',
    ]) {
      let run = 0;
      let longest = 0;
      for (let attempt = 0; attempt < 16; attempt++) {
        const answer = await get(sim, token, path);
        run = answer.status === 200 && isJson(answer.text) ? 0 : run + 1;
        longest = Math.max(longest, run);
      }
      expect(longest).toBe(3);
    }
  });

  it('loses no data for a client that retries maxConsecutiveFaults + 1 times', async () => {
    const sim = await simulator({
      faults: { status429Rate: 0.2, status5xxRate: 0.2, malformedRate: 0.2, envelope: 'top' },
    });
    for (const id of generateIdentifiers(SEED, 15)) {
      const token = await tokenFor(sim, id);
      const data = sim.served(id);
      expect(await getRetrying(sim, token, '/pay-link/accounts', 3)).toEqual({ accounts: data.accounts });
      expect(await getRetrying(sim, token, '/pay-link/orders', 3)).toEqual({ orders: data.orders });
      for (const account of data.accounts) {
        expect(await getRetrying(sim, token, `/pay-link/action-history?accountId=${account._id}`, 3)).toEqual(
          {
            actionHistory: data.actionHistory[account._id],
          },
        );
      }
    }
    const injected = sim.stats().faultsInjected;
    expect(injected.status429).toBeGreaterThan(0);
    expect(injected.status5xx).toBeGreaterThan(0);
    expect(injected.malformed).toBeGreaterThan(0);
  });

  it('injects the same faults on the same requests in two runs with one seed', async () => {
    const run = async () => {
      const sim = await simulator({ faults: { status429Rate: 0.3, status5xxRate: 0.3 } });
      const statuses: number[] = [];
      for (const id of generateIdentifiers(SEED, 6)) {
        const token = await tokenFor(sim, id);
        for (let i = 0; i < 4; i++) statuses.push((await get(sim, token, '/pay-link/accounts')).status);
      }
      return statuses;
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(new Set(first).size).toBeGreaterThan(1);
  });
});

describe('simulator rate limit', () => {
  it('answers 429 with Retry-After above rateLimit requests per second', async () => {
    const sim = await simulator({ rateLimit: 5 });
    const token = await tokenFor(sim, 'user-000001');
    const answers = await Promise.all(Array.from({ length: 30 }, () => get(sim, token, '/pay-link/orders')));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(15);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);
    for (const answer of limited) expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(sim.stats().rateLimited).toBe(limited.length);
    expect(sim.stats().faultsInjected).toEqual({});
  });

  it('serves again once the bucket has refilled', async () => {
    const sim = await simulator({ rateLimit: 20 });
    const token = await tokenFor(sim, 'user-000001');
    await Promise.all(Array.from({ length: 40 }, () => get(sim, token, '/pay-link/orders')));
    await new Promise((r) => setTimeout(r, 250));
    expect((await get(sim, token, '/pay-link/orders')).status).toBe(200);
  });
});
