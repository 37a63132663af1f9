import type { ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPayLinkClient,
  type PayLinkClientOptions,
  type PayLinkEvent,
} from '#adapters/paylink-client.ts';
import {
  AccessTokenRejectedError,
  ApiKeyRejectedError,
  CredentialsError,
  MalformedResponseError,
  PayLinkHttpError,
  PayLinkNetworkError,
} from '#core/errors.ts';
import type { PayLinkRequest } from '#core/ports.ts';
import { createRateLimiter, type RateLimiter, rateLimiterStats } from '#core/rate-limiter.ts';
import {
  type HttpTestServer,
  type RecordedRequest,
  startHttpTestServer,
} from '#test/helpers/http-test-server.ts';

// Sentinels: none of these may ever appear in an error.
const API_KEY = 'sentinel-api-key-3f9a';
const API_SECRET = 'sentinel-api-secret-77c1';
const IDENTIFIER = 'sentinel-identifier-jane.doe@example.com';
const TOKEN = 'sentinel-public-token-0001';
const FRESH_TOKEN = 'sentinel-public-token-0002';

const ACCOUNTS: PayLinkRequest = { path: '/pay-link/accounts', endpoint: '/pay-link/accounts' };
const ACCOUNT: PayLinkRequest = { path: '/pay-link/accounts/account-1', endpoint: '/pay-link/accounts/{id}' };
const BODY = { accounts: [{ _id: 'account-1', company: { name: 'Netflix' } }] };

type DataHandler = (request: RecordedRequest, response: ServerResponse, index: number) => void;

function json(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** A PayLink stand-in: access-token answers from a list of tokens (the last one repeats), data from `data`. */
function payLink(data: DataHandler, tokens: readonly string[] = [TOKEN]) {
  let minted = 0;
  let dataCalls = 0;
  return (request: RecordedRequest, response: ServerResponse): void => {
    if (request.path === '/access-token') {
      json(response, 200, { data: { publicToken: tokens[Math.min(minted++, tokens.length - 1)] } });
      return;
    }
    data(request, response, dataCalls++);
  };
}

const ok: DataHandler = (_request, response) => json(response, 200, BODY);

let server: HttpTestServer;
let deadServerUrl: string;

beforeAll(async () => {
  server = await startHttpTestServer();
  const dead = await startHttpTestServer();
  deadServerUrl = dead.url;
  await dead.close();
});

afterAll(async () => {
  await server.close();
});

/** A client on the loopback server whose sleeps are recorded, not slept. */
function setup(overrides: Partial<PayLinkClientOptions> = {}) {
  const delays: number[] = [];
  const events: PayLinkEvent[] = [];
  const client = createPayLinkClient({
    baseUrl: server.url,
    credentials: { apiKey: API_KEY, apiSecret: API_SECRET },
    rateLimiter: { acquire: async () => {} },
    random: () => 0.5,
    sleep: async (ms) => {
      delays.push(ms);
    },
    onEvent: (event) => events.push(event),
    http: { timeoutMs: 2_000 },
    ...overrides,
  });
  return { client, delays, events };
}

const dataRequests = () => server.requests.filter((r) => r.path !== '/access-token');
const tokenRequests = () => server.requests.filter((r) => r.path === '/access-token');

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('openSession', () => {
  it('mints a token with the API key, secret, API version and the identifier in a JSON body', async () => {
    server.reset(payLink(ok));
    const { client } = setup();
    await client.openSession(IDENTIFIER);
    const [mint] = server.requests;
    expect(server.requests).toHaveLength(1);
    expect(mint?.method).toBe('POST');
    expect(mint?.headers).toMatchObject({
      'x-api-key': API_KEY,
      'x-api-secret': API_SECRET,
      'x-api-version': 'v2',
      'content-type': 'application/json',
    });
    expect(JSON.parse(mint?.body ?? '')).toEqual({ identifier: IDENTIFIER });
  });

  it('accepts the legacy data.token when data.publicToken is absent', async () => {
    server.reset((request, response) =>
      request.path === '/access-token'
        ? json(response, 200, { data: { token: TOKEN } })
        : ok(request, response, 0),
    );
    const { client } = setup();
    await (await client.openSession(IDENTIFIER)).getJson(ACCOUNTS);
    expect(dataRequests()[0]?.headers['x-public-token']).toBe(TOKEN);
  });

  it('throws ApiKeyRejectedError when access-token answers 401 or 403, without retrying', async () => {
    for (const status of [401, 403]) {
      server.reset((_request, response) => json(response, status, { message: 'bad key', code: 40100 }));
      const { client } = setup();
      const error = await failureOf(client.openSession(IDENTIFIER));
      expect(error).toBeInstanceOf(ApiKeyRejectedError);
      expect(error).toMatchObject({ status, endpoint: 'POST /access-token' });
      expect(server.requests).toHaveLength(1);
    }
  });

  it("fails one identifier's 401/403 on access-token alone once the key has minted for another user", async () => {
    for (const status of [401, 403]) {
      server.reset((request, response) =>
        JSON.parse(request.body).identifier === IDENTIFIER
          ? json(response, status, { message: 'not allowed', code: 40300 })
          : json(response, 200, { data: { publicToken: TOKEN } }),
      );
      const { client } = setup();
      await client.openSession('someone-else');
      const error = await failureOf(client.openSession(IDENTIFIER));
      expect(error).toBeInstanceOf(AccessTokenRejectedError);
      expect(error).not.toBeInstanceOf(ApiKeyRejectedError);
      expect(error).toMatchObject({
        code: 'access_token_rejected',
        status,
        apiCode: 40300,
        retryable: false,
      });
      expect(String(error)).not.toContain(IDENTIFIER);
      expect(tokenRequests()).toHaveLength(2);
    }
  });

  it('throws a plain PayLinkHttpError for another 4xx on access-token', async () => {
    server.reset((_request, response) => json(response, 422, { message: 'bad identifier', code: 42200 }));
    const { client } = setup();
    const error = await failureOf(client.openSession(IDENTIFIER));
    expect(error).toBeInstanceOf(PayLinkHttpError);
    expect(error).not.toBeInstanceOf(ApiKeyRejectedError);
    expect(error).toMatchObject({ status: 422, apiCode: 42200 });
  });

  it('retries access-token on 503 (it is idempotent by identifier)', async () => {
    let calls = 0;
    server.reset((_request, response) =>
      calls++ === 0
        ? json(response, 503, { message: 'busy' })
        : json(response, 200, { data: { publicToken: TOKEN } }),
    );
    const { client, delays } = setup();
    await client.openSession(IDENTIFIER);
    expect(server.requests).toHaveLength(2);
    expect(delays).toEqual([125]);
  });

  it('throws MalformedResponseError at once for a 2xx without a token', async () => {
    server.reset((_request, response) => json(response, 200, { data: {} }));
    const { client } = setup();
    await expect(client.openSession(IDENTIFIER)).rejects.toBeInstanceOf(MalformedResponseError);
    expect(server.requests).toHaveLength(1);
  });

  it('fails with PayLinkNetworkError after retries when nothing listens', async () => {
    const { client, delays } = setup({ baseUrl: deadServerUrl, http: { attempts: 3 } });
    const error = await failureOf(client.openSession(IDENTIFIER));
    expect(error).toBeInstanceOf(PayLinkNetworkError);
    expect(error).toMatchObject({ code: 'network', endpoint: 'POST /access-token' });
    // The cause keeps the system error code for diagnosis, and nothing else.
    expect((error as Error).cause).toEqual(new Error('TypeError (ECONNREFUSED)'));
    expect(delays).toHaveLength(2);
  });
});

describe('session getJson', () => {
  it('sends the public token and API version, never the API key or secret, and parses the JSON', async () => {
    server.reset(payLink(ok));
    const { client } = setup();
    const session = await client.openSession(IDENTIFIER);
    const body = await session.getJson({ ...ACCOUNTS, query: { accountId: 'account 1&x' } });
    expect(body).toEqual(BODY);
    const [data] = dataRequests();
    expect(data?.method).toBe('GET');
    expect(data?.path).toBe('/pay-link/accounts');
    expect(data?.query.get('accountId')).toBe('account 1&x');
    expect(data?.headers['x-public-token']).toBe(TOKEN);
    expect(data?.headers['x-api-version']).toBe('v2');
    expect(data?.headers).not.toHaveProperty('x-api-key');
    expect(data?.headers).not.toHaveProperty('x-api-secret');
  });

  it('re-mints the token once on 401 code 40104 and retries with the fresh token', async () => {
    server.reset(
      payLink(
        (request, response) =>
          request.headers['x-public-token'] === TOKEN
            ? json(response, 401, { message: 'expired', code: 40104 })
            : ok(request, response, 0),
        [TOKEN, FRESH_TOKEN],
      ),
    );
    const { client, events } = setup();
    const session = await client.openSession(IDENTIFIER);
    expect(await session.getJson(ACCOUNTS)).toEqual(BODY);
    expect(await session.getJson(ACCOUNT)).toEqual(BODY);
    expect(tokenRequests()).toHaveLength(2);
    expect(dataRequests().map((r) => r.headers['x-public-token'])).toEqual([TOKEN, FRESH_TOKEN, FRESH_TOKEN]);
    expect(events.filter((e) => e.type === 'remint')).toEqual([
      { type: 'remint', endpoint: '/pay-link/accounts', status: 401, attempt: 1 },
    ]);
  });

  it('fails with PayLinkHttpError 401 when the re-minted token is refused too', async () => {
    server.reset(
      payLink(
        (_request, response) => json(response, 401, { message: 'expired', code: 40104 }),
        [TOKEN, FRESH_TOKEN],
      ),
    );
    const { client } = setup();
    const session = await client.openSession(IDENTIFIER);
    const error = await failureOf(session.getJson(ACCOUNTS));
    expect(error).toBeInstanceOf(PayLinkHttpError);
    expect(error).toMatchObject({ status: 401, apiCode: 40104, endpoint: '/pay-link/accounts' });
    expect(tokenRequests()).toHaveLength(2);
    expect(dataRequests()).toHaveLength(2);
    // The session spent its one re-mint: a later request does not mint again.
    await expect(session.getJson(ACCOUNTS)).rejects.toMatchObject({ status: 401 });
    expect(tokenRequests()).toHaveLength(2);
  });

  it('shares one re-mint between concurrent requests that hit the expiry', async () => {
    server.reset(
      payLink(
        (request, response) =>
          request.headers['x-public-token'] === TOKEN
            ? json(response, 401, { message: 'expired', code: 40104 })
            : ok(request, response, 0),
        [TOKEN, FRESH_TOKEN],
      ),
    );
    const { client } = setup();
    const session = await client.openSession(IDENTIFIER);
    await Promise.all([session.getJson(ACCOUNTS), session.getJson(ACCOUNT), session.getJson(ACCOUNTS)]);
    expect(tokenRequests()).toHaveLength(2);
    expect(dataRequests()).toHaveLength(6);
  });

  it('does not re-mint on a 401 without code 40104', async () => {
    server.reset(payLink((_request, response) => json(response, 401, { message: 'nope', code: 40100 })));
    const { client } = setup();
    const session = await client.openSession(IDENTIFIER);
    await expect(session.getJson(ACCOUNTS)).rejects.toMatchObject({ status: 401, apiCode: 40100 });
    expect(server.requests).toHaveLength(2);
  });

  it('honours Retry-After in seconds on 429', async () => {
    server.reset(
      payLink((request, response, i) =>
        i === 0
          ? json(response, 429, { message: 'slow down' }, { 'retry-after': '2' })
          : ok(request, response, i),
      ),
    );
    const { client, delays, events } = setup();
    const session = await client.openSession(IDENTIFIER);
    expect(await session.getJson(ACCOUNTS)).toEqual(BODY);
    expect(delays).toEqual([2_000]);
    expect(events.filter((e) => e.type === 'retry')).toEqual([
      { type: 'retry', endpoint: '/pay-link/accounts', status: 429, attempt: 1, delayMs: 2_000 },
    ]);
  });

  it('honours Retry-After as an HTTP date, relative to the injected clock', async () => {
    const now = new Date('2025-03-01T12:00:00.000Z');
    const retryAt = new Date(now.getTime() + 7_000).toUTCString();
    server.reset(
      payLink((request, response, i) =>
        i === 0
          ? json(response, 429, { message: 'slow down' }, { 'retry-after': retryAt })
          : ok(request, response, i),
      ),
    );
    const { client, delays } = setup({ now: () => now });
    await (await client.openSession(IDENTIFIER)).getJson(ACCOUNTS);
    expect(delays).toEqual([7_000]);
  });

  it('caps a long Retry-After at retryAfterMaxMs', async () => {
    server.reset(
      payLink((request, response, i) =>
        i === 0
          ? json(response, 429, { message: 'slow down' }, { 'retry-after': '3600' })
          : ok(request, response, i),
      ),
    );
    const { client, delays } = setup({ http: { retryAfterMaxMs: 4_000 } });
    await (await client.openSession(IDENTIFIER)).getJson(ACCOUNTS);
    expect(delays).toEqual([4_000]);
  });

  it('retries 503 with exponential backoff and full jitter, then succeeds', async () => {
    server.reset(
      payLink((request, response, i) => (i < 2 ? json(response, 503, {}) : ok(request, response, i))),
    );
    const { client, delays } = setup({ http: { backoffBaseMs: 100 } });
    const session = await client.openSession(IDENTIFIER);
    expect(await session.getJson(ACCOUNTS)).toEqual(BODY);
    // random() = 0.5 of 100 * 2^(n-1)
    expect(delays).toEqual([50, 100]);
    expect(dataRequests()).toHaveLength(3);
    expect(client.stats()).toEqual({ requests: 4, retries: 2, timeouts: 0 });
  });

  it('fails at once on 404 with the endpoint template, after one request', async () => {
    server.reset(payLink((_request, response) => json(response, 404, { message: 'no such account' })));
    const { client, delays } = setup();
    const session = await client.openSession(IDENTIFIER);
    const error = await failureOf(session.getJson(ACCOUNT));
    expect(error).toBeInstanceOf(PayLinkHttpError);
    expect(error).toMatchObject({ status: 404, endpoint: '/pay-link/accounts/{id}', retryable: false });
    expect((error as Error).message).not.toContain('account-1');
    expect(dataRequests()).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('does not follow redirects (they would carry the token elsewhere)', async () => {
    server.reset(
      payLink((request, response) =>
        request.path === '/elsewhere'
          ? ok(request, response, 0)
          : response.writeHead(302, { location: `${server.url}/elsewhere` }).end(),
      ),
    );
    const { client } = setup();
    const session = await client.openSession(IDENTIFIER);
    await expect(session.getJson(ACCOUNTS)).rejects.toMatchObject({ status: 302 });
    expect(dataRequests().map((r) => r.path)).toEqual(['/pay-link/accounts']);
  });

  it('retries an attempt that timed out waiting for headers, then succeeds', async () => {
    server.reset(payLink((request, response, i) => (i === 0 ? undefined : ok(request, response, i))));
    const { client, delays } = setup({ http: { timeoutMs: 400 } });
    const session = await client.openSession(IDENTIFIER);
    expect(await session.getJson(ACCOUNTS)).toEqual(BODY);
    expect(dataRequests()).toHaveLength(2);
    expect(delays).toHaveLength(1);
    // Counted apart from other retries: adaptive concurrency shrinks when timeouts rise.
    expect(client.stats()).toMatchObject({ retries: 1, timeouts: 1 });
  });

  it('treats a body that stalls mid-transfer as a timeout and retries', async () => {
    server.reset(
      payLink((request, response, i) => {
        if (i === 0) {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.write('{"accounts": [');
          return;
        }
        ok(request, response, i);
      }),
    );
    const { client } = setup({ http: { timeoutMs: 400 } });
    const session = await client.openSession(IDENTIFIER);
    expect(await session.getJson(ACCOUNTS)).toEqual(BODY);
    expect(dataRequests()).toHaveLength(2);
  });

  it('gives up with PayLinkNetworkError timeout when every attempt times out', async () => {
    server.reset(payLink(() => undefined));
    const { client } = setup({ http: { timeoutMs: 300, attempts: 2 } });
    const session = await client.openSession(IDENTIFIER);
    const error = await failureOf(session.getJson(ACCOUNTS));
    expect(error).toBeInstanceOf(PayLinkNetworkError);
    expect(error).toMatchObject({ code: 'timeout', endpoint: '/pay-link/accounts' });
    expect(dataRequests()).toHaveLength(2);
    expect(client.stats().timeouts).toBe(2);
  });

  it('retries a 2xx body that is not valid JSON', async () => {
    server.reset(
      payLink((request, response, i) =>
        i === 0
          ? response.writeHead(200, { 'content-type': 'application/json' }).end('{"accounts": [')
          : ok(request, response, i),
      ),
    );
    const { client } = setup();
    const session = await client.openSession(IDENTIFIER);
    expect(await session.getJson(ACCOUNTS)).toEqual(BODY);
    expect(dataRequests()).toHaveLength(2);
  });

  it('gives up after the configured attempts with the last status', async () => {
    server.reset(payLink((_request, response) => json(response, 502, {})));
    const { client, delays } = setup({ http: { attempts: 3 } });
    const session = await client.openSession(IDENTIFIER);
    const error = await failureOf(session.getJson(ACCOUNTS));
    expect(error).toBeInstanceOf(PayLinkHttpError);
    expect(error).toMatchObject({ status: 502, retryable: true });
    expect(dataRequests()).toHaveLength(3);
    expect(delays).toHaveLength(2);
  });

  it('gives up with MalformedResponseError when every body is broken', async () => {
    server.reset(payLink((_request, response) => response.writeHead(200).end('<html>oops</html>')));
    const { client } = setup({ http: { attempts: 2 } });
    const session = await client.openSession(IDENTIFIER);
    await expect(session.getJson(ACCOUNTS)).rejects.toBeInstanceOf(MalformedResponseError);
    expect(dataRequests()).toHaveLength(2);
  });

  it('stops retrying when the wait would overrun the request budget', async () => {
    let clock = Date.parse('2025-03-01T12:00:00.000Z');
    server.reset(payLink((_request, response) => json(response, 503, {}, { 'retry-after': '4' })));
    const { client, delays } = setup({
      http: { requestBudgetMs: 10_000, attempts: 10 },
      now: () => new Date(clock),
      sleep: async (ms) => {
        delays.push(ms);
        clock += ms;
      },
    });
    const session = await client.openSession(IDENTIFIER);
    await expect(session.getJson(ACCOUNTS)).rejects.toMatchObject({ status: 503 });
    // 0 s, 4 s, 8 s: a third wait would end at 12 s, past the 10 s budget.
    expect(delays).toEqual([4_000, 4_000]);
    expect(dataRequests()).toHaveLength(3);
  });

  it('makes every attempt, retries and re-mints included, wait for the rate limiter first', async () => {
    server.reset(
      payLink(
        (request, response, i) => {
          if (i === 0) return json(response, 503, {});
          if (request.headers['x-public-token'] === TOKEN) return json(response, 401, { code: 40104 });
          return ok(request, response, i);
        },
        [TOKEN, FRESH_TOKEN],
      ),
    );
    const seenAtAcquire: number[] = [];
    const rateLimiter: RateLimiter = {
      acquire: async () => {
        seenAtAcquire.push(server.requests.length);
      },
    };
    const { client } = setup({ rateLimiter });
    const session = await client.openSession(IDENTIFIER);
    await session.getJson(ACCOUNTS);
    // mint, data 503, data 401 (retry), re-mint, data 200: five requests, each after its own grant.
    expect(server.requests).toHaveLength(5);
    expect(seenAtAcquire).toEqual([0, 1, 2, 3, 4]);
    expect(client.stats()).toEqual({ requests: 5, retries: 1, timeouts: 0 });
  });

  it('sends nothing until the rate limiter grants the attempt', async () => {
    server.reset(payLink(ok));
    let grant: () => void = () => {};
    const rateLimiter: RateLimiter = { acquire: () => new Promise<void>((resolve) => (grant = resolve)) };
    const { client } = setup({ rateLimiter });
    const opening = client.openSession(IDENTIFIER);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.requests).toHaveLength(0);
    grant();
    await opening;
    expect(server.requests).toHaveLength(1);
  });

  it('tells the shared rate limiter of each 429, which slows it down; a 5xx does not', async () => {
    server.reset(
      payLink((request, response, i) => {
        if (i === 0) return json(response, 503, {});
        if (i === 1) {
          // Beyond the limiter's reaction time: were the 503 a signal too, this would be a second decrease.
          now += 5000;
          return json(response, 429, { code: 42900 }, { 'retry-after': '0' });
        }
        return ok(request, response, i);
      }),
    );
    let now = 0;
    const rateLimiter = createRateLimiter({
      ratePerSecond: 50,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    const { client } = setup({ rateLimiter });
    const session = await client.openSession(IDENTIFIER);
    await session.getJson(ACCOUNTS);
    // Only the 429 counts: 50 -> 45 req/s.
    expect(rateLimiterStats(rateLimiter)).toMatchObject({ decreases: 1, effectiveRate: 45 });
  });
});

describe('errors', () => {
  it('refuses credentials no HTTP header could carry, without quoting them', () => {
    const create = () =>
      createPayLinkClient({
        baseUrl: server.url,
        credentials: { apiKey: API_KEY, apiSecret: `${API_SECRET}\n` },
        rateLimiter: { acquire: async () => {} },
      });
    expect(create).toThrow(CredentialsError);
    expect(create).not.toThrow(API_SECRET);
  });

  /** Every way a call can fail, with a server that echoes the secrets back in its bodies. */
  async function collectErrors(): Promise<unknown[]> {
    const echo = { message: `${API_KEY} ${API_SECRET} ${IDENTIFIER} ${TOKEN}`, code: 40104 };
    const scenarios: { handler: DataHandler; mintStatus?: number; http?: PayLinkClientOptions['http'] }[] = [
      { handler: ok, mintStatus: 401 },
      { handler: ok, mintStatus: 400 },
      { handler: ok, mintStatus: 503, http: { attempts: 2 } },
      { handler: (_q, r) => json(r, 401, echo) },
      { handler: (_q, r) => json(r, 404, echo) },
      { handler: (_q, r) => json(r, 429, echo), http: { attempts: 2 } },
      { handler: (_q, r) => r.writeHead(200).end(`{"broken": "${API_SECRET}`), http: { attempts: 2 } },
      { handler: () => undefined, http: { attempts: 2, timeoutMs: 300 } },
    ];
    const errors: unknown[] = [];
    for (const { handler, mintStatus, http } of scenarios) {
      server.reset((request, response) => {
        if (request.path !== '/access-token') return handler(request, response, 0);
        if (mintStatus === undefined) return json(response, 200, { data: { publicToken: TOKEN } });
        return json(response, mintStatus, echo);
      });
      const { client } = setup(http === undefined ? {} : { http });
      errors.push(await failureOf(client.openSession(IDENTIFIER).then((s) => s.getJson(ACCOUNTS))));
    }
    const { client } = setup({ baseUrl: deadServerUrl, http: { attempts: 1 } });
    errors.push(await failureOf(client.openSession(IDENTIFIER)));
    // A fetch failure that holds the Request (as ky's TimeoutError does): its headers carry the
    // secret on access-token and the token on data calls, so the client must not keep it.
    for (const failOn of ['/access-token', '/pay-link/accounts']) {
      server.reset((_request, response) => json(response, 200, { data: { publicToken: TOKEN } }));
      const fetch: typeof globalThis.fetch = async (input, init) => {
        const request = new Request(input, init);
        if (new URL(request.url).pathname !== failOn) return globalThis.fetch(request);
        throw Object.assign(new TypeError('fetch failed'), { request, cause: { code: 'ECONNRESET' } });
      };
      const { client: failing } = setup({ fetch, http: { attempts: 1 } });
      errors.push(await failureOf(failing.openSession(IDENTIFIER).then((s) => s.getJson(ACCOUNTS))));
    }
    return errors;
  }

  it('never carry the API key, secret, public token or identifier, however they are printed', async () => {
    const errors = await collectErrors();
    expect(errors).toHaveLength(11);
    for (const error of errors) {
      expect(error).toBeInstanceOf(Error);
      const renderings = [
        (error as Error).message,
        String(error),
        JSON.stringify(error),
        inspect(error, { depth: 10 }),
        String((error as Error).stack),
      ];
      for (const text of renderings) {
        for (const sentinel of [API_KEY, API_SECRET, TOKEN, IDENTIFIER]) expect(text).not.toContain(sentinel);
      }
    }
  });
});
