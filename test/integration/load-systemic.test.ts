/**
 * When nothing works, a load stops early, commits nothing and says why in one line (exit 1):
 * a base URL where nothing listens, or a server that is not PayLink (HTML pages).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiProfile } from '#simulator/api-profiles.ts';
import { startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { credentialsEnv, FAST_HTTP, listFiles, runLoad, Scratch } from '#test/helpers/lake-harness.ts';

const ENV = credentialsEnv('systemic-key', 'systemic-secret');

let scratch: Scratch;
let usersFile: string;
beforeAll(async () => {
  scratch = await Scratch.create('systemic');
  usersFile = await scratch.users('users.txt', generateIdentifiers('systemic', 200));
});
afterAll(async () => {
  await scratch?.dispose();
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('a load that cannot work', () => {
  it('exits 1 within seconds at a closed port, commits nothing and names the cause', async () => {
    // A port that was just free: nothing listens there now.
    const probe = createServer();
    const port = await listen(probe);
    await new Promise((resolve) => probe.close(resolve));
    const dest = scratch.path('closed');

    const started = Date.now();
    // The default HTTP policy (5 attempts, backoff from 250 ms): what a user would get.
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: `http://127.0.0.1:${port}`, rateLimit: 20 },
      ENV,
    );
    const seconds = (Date.now() - started) / 1000;

    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([
      `error: cannot reach http://127.0.0.1:${port}: connection refused (the first 3 users all failed this way). Nothing was committed.`,
    ]);
    // Its own retries take about 4 s (backoff 250 ms doubling, 5 attempts); a loaded 2-core
    // machine took 4.1-7.0 s (load 15-24). Not stopping, the 200 users of retries outlast the
    // test's 60 s.
    expect(seconds, 'stops after the first users, not after 200 users of retries').toBeLessThan(20);
    expect(await listFiles(dest), 'no data, marker, _dlt_loads row or staging left').toEqual([]);
  });

  it('exits 1 when the server answers HTML pages instead of PayLink JSON', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><html><body><h1>Welcome to our web site</h1></body></html>');
    });
    const port = await listen(server);
    try {
      const dest = scratch.path('html');
      const config = await scratch.json('fast.json', {
        http: { attempts: 2, backoffBaseMs: 5, backoffMaxMs: 10 },
      });
      const run = await runLoad({ users: usersFile, dest, baseUrl: `http://127.0.0.1:${port}`, config }, ENV);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `error: http://127.0.0.1:${port} is not answering as PayLink: POST /access-token sent an HTML page, not JSON; check --base-url`,
      );
      expect(await listFiles(dest)).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  const cases: [ApiProfile, (origin: string) => string][] = [
    [
      'redirect',
      (origin) =>
        `error: ${origin} answered POST /access-token with a redirect (HTTP 302), which the loader does not follow (it would carry the credentials elsewhere); check --base-url`,
    ],
    [
      'down',
      (origin) =>
        `error: ${origin} answered POST /access-token with HTTP 503 even after retries: PayLink is failing (or --base-url is not PayLink); nothing useful could be loaded`,
    ],
    [
      'not-paylink',
      () =>
        "error: the server at --base-url is not answering as PayLink: POST /access-token sent JSON that is not PayLink's (no usable data.publicToken); check --base-url",
    ],
    [
      'not-json',
      (origin) =>
        `error: ${origin} is not answering as PayLink: POST /access-token sent a body that is not JSON; check --base-url`,
    ],
  ];
  for (const [profile, message] of cases) {
    it(`exits 1 and names the cause when the base URL answers as the ${profile} profile`, async () => {
      const sim = await startSimulator({ apiKey: 'systemic-key', apiSecret: 'systemic-secret', profile });
      try {
        const dest = scratch.path(`profile-${profile}`);
        const config = await scratch.json(`fast-${profile}.json`, { http: FAST_HTTP });
        const started = Date.now();
        const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, config }, ENV);
        expect(run.code, run.stdout).toBe(1);
        expect(run.stderr).toContain(message(sim.url));
        expect(run.stderr).toContain('Nothing was committed.');
        expect(Date.now() - started, 'stops after the first users').toBeLessThan(10_000);
        expect(await listFiles(dest)).toEqual([]);
      } finally {
        await sim.close();
      }
    });
  }

  it('exits 1 when the base URL has no access-token endpoint (a wrong path prefix)', async () => {
    const sim = await startSimulator({ apiKey: 'systemic-key', apiSecret: 'systemic-secret' });
    try {
      const dest = scratch.path('wrong-prefix');
      const config = await scratch.json('fast-prefix.json', { http: FAST_HTTP });
      const run = await runLoad({ users: usersFile, dest, baseUrl: `${sim.url}/api/v9`, config }, ENV);
      expect(run.code, run.stdout).toBe(1);
      expect(run.stderr).toContain(
        `error: ${sim.url} answered POST /access-token with HTTP 404: --base-url is not the PayLink API root`,
      );
      expect(await listFiles(dest)).toEqual([]);
    } finally {
      await sim.close();
    }
  });
});
