/**
 * Every network read has a hard deadline and a size cap.
 *
 * The stalled-body cases run in a child `node --expose-gc` process (test/helpers/
 * stalled-body-probe.ts) that forces a collection every 50 ms: the hang they guard against only
 * shows once the signal objects ky and undici hold weakly have been collected, which a vitest
 * worker without `--expose-gc` cannot force.
 */
import { execFile } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPayLinkClient, type PayLinkClientOptions } from '#adapters/paylink-client.ts';
import { resolveCatalog } from '#core/config.ts';
import { ResponseTooLargeError } from '#core/errors.ts';
import { loadUser } from '#core/load-user.ts';
import { type HttpTestServer, startHttpTestServer } from '#test/helpers/http-test-server.ts';

const PROBE = fileURLToPath(new URL('../helpers/stalled-body-probe.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

interface ProbeReport {
  readonly outcome: string;
  readonly elapsedMs: number;
  readonly requests: number;
  readonly closedConnections: number;
}

function runProbe(scenario: string): Promise<ProbeReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', PROBE, scenario],
      { cwd: REPO, timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`probe ${scenario} failed: ${error.message}\n${stderr}`));
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ProbeReport);
      },
    );
  });
}

describe('deadline under forced garbage collection', () => {
  // The three children run at once: each needs about a second after tsx starts.
  const reports = beforeAllProbes(['body', 'headers', 'retry']);

  it('ends an attempt whose body trickles at its timeout and closes the connection', () => {
    const report = reports.get('body');
    expect(report?.outcome).toBe('timeout');
    // Timeout 600 ms; the slack covers a loaded 2-core machine, not a hang (watchdog: 10 s).
    expect(report?.elapsedMs).toBeGreaterThanOrEqual(590);
    expect(report?.elapsedMs).toBeLessThan(5_000);
    expect(report?.closedConnections).toBe(1);
  });

  it('ends an attempt that never gets headers at its timeout and closes the connection', () => {
    const report = reports.get('headers');
    expect(report?.outcome).toBe('timeout');
    expect(report?.elapsedMs).toBeLessThan(5_000);
    expect(report?.closedConnections).toBe(1);
  });

  it('retries a trickling body, then fails with the timeout code within the attempts budget', () => {
    const report = reports.get('retry');
    // Three attempts of 500 ms each and two short backoffs.
    expect(report?.outcome).toBe('error:timeout');
    expect(report?.requests).toBe(3);
    expect(report?.closedConnections).toBe(3);
    expect(report?.elapsedMs).toBeGreaterThanOrEqual(1_490);
    expect(report?.elapsedMs).toBeLessThan(8_000);
  });
});

function beforeAllProbes(scenarios: readonly string[]): Map<string, ProbeReport> {
  const reports = new Map<string, ProbeReport>();
  beforeAll(async () => {
    const results = await Promise.all(scenarios.map(runProbe));
    for (const [i, scenario] of scenarios.entries()) reports.set(scenario, results[i]!);
  });
  return reports;
}

describe('response size cap', () => {
  const CAP = 64 * 1024;
  let server: HttpTestServer;
  beforeAll(async () => {
    server = await startHttpTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  const mint = (response: ServerResponse): void => {
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ data: { publicToken: 'cap-token' } }));
  };

  /** A body of exactly `bytes` bytes of valid JSON: `{"accounts":[],"pad":"xxx..."}`. */
  const jsonOfSize = (bytes: number): string => {
    const head = '{"accounts":[],"pad":"';
    return `${head}${'x'.repeat(bytes - head.length - 2)}"}`;
  };

  /** Serves `bytes` bytes in 8 KiB chunks, with or without Content-Length. */
  function serveData(bytes: number, withLength: boolean) {
    server.reset((request, response) => {
      if (request.path === '/access-token') return mint(response);
      const body = Buffer.from(jsonOfSize(bytes));
      response.writeHead(200, {
        'content-type': 'application/json',
        ...(withLength ? { 'content-length': String(body.length) } : {}),
      });
      for (let at = 0; at < body.length; at += 8192) response.write(body.subarray(at, at + 8192));
      response.end();
    });
  }

  function client(overrides: Partial<PayLinkClientOptions> = {}) {
    return createPayLinkClient({
      baseUrl: server.url,
      credentials: { apiKey: 'cap-key', apiSecret: 'cap-secret' },
      rateLimiter: { acquire: async () => {} },
      sleep: async () => {},
      http: { maxResponseBytes: CAP, timeoutMs: 5_000 },
      ...overrides,
    });
  }
  const ACCOUNTS = { path: '/pay-link/accounts', endpoint: '/pay-link/accounts' };
  const dataRequests = () => server.requests.filter((r) => r.path !== '/access-token');

  for (const withLength of [true, false]) {
    const how = withLength ? 'announced by Content-Length' : 'streamed without Content-Length';
    it(`fails a body one byte over the cap (${how}) with ResponseTooLargeError, not retried`, async () => {
      serveData(CAP + 1, withLength);
      const session = await client().openSession('cap-user');
      const error = await session.getJson(ACCOUNTS).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ResponseTooLargeError);
      expect(error).toMatchObject({
        code: 'response_too_large',
        retryable: false,
        endpoint: '/pay-link/accounts',
        status: 200,
        limitBytes: CAP,
      });
      expect((error as Error).message).toContain('http.maxResponseBytes');
      expect(dataRequests()).toHaveLength(1);
    });

    it(`accepts a body of exactly the cap (${how})`, async () => {
      serveData(CAP, withLength);
      const session = await client().openSession('cap-user');
      expect(await session.getJson(ACCOUNTS)).toMatchObject({ accounts: [] });
    });
  }

  it('records an oversized response as that user resource failure with its code and status', async () => {
    server.reset((request, response) => {
      if (request.path === '/access-token') return mint(response);
      const body = request.path === '/pay-link/accounts' ? jsonOfSize(CAP * 2) : '{"suggestions": []}';
      response.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    const catalog = resolveCatalog();
    const steps = ['accounts', 'suggestions'].map((table) => ({
      resource: catalog.find((r) => r.table === table)!,
      emit: true,
    }));
    const result = await loadUser(
      { identifier: 'cap-user', steps, loadId: '1700000000.1', dt: '2025-03-01' },
      client({ http: { maxResponseBytes: CAP, attempts: 3 } }),
    );
    expect(result.failed).toBe(true);
    expect(result.outcomes).toEqual([
      expect.objectContaining({
        resource: 'accounts',
        status: 'failed',
        errorCode: 'response_too_large',
        httpStatus: 200,
      }),
      expect.objectContaining({ resource: 'suggestions', status: 'ok' }),
    ]);
  });

  it('refuses a cap that is not a positive integer, naming the key', () => {
    expect(() => client({ http: { maxResponseBytes: 0 } })).toThrow(/^http\.maxResponseBytes:/);
  });
});
