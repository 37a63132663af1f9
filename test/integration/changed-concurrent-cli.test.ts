/**
 * Two `load --users changed` processes on one lake at once: the second is refused, naming the
 * first (its pid), and fetches nothing, instead of selecting and fetching the same users. The
 * first holds the lock from its selection until after its commit; once it is done, a changed
 * load runs again (and has nothing left to load).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { changedLoadArgv, credentialsEnv, runCli, Scratch, withLake } from '#test/helpers/lake-harness.ts';
import { receiveNumberedEvent } from '#test/helpers/signed-webhook.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/paylink-loader.mjs', import.meta.url));
const SEED = 'changed-concurrent';
const API_KEY = 'concurrent-key';
const API_SECRET = 'concurrent-secret';
const USERS = generateIdentifiers(SEED, 4);

/** A loopback proxy to the simulator that holds every request until `open()`, and counts them. */
interface Gate {
  readonly url: string;
  readonly firstRequest: Promise<void>;
  requests(): number;
  open(): void;
  close(): Promise<void>;
}

async function gate(target: string, held: boolean): Promise<Gate> {
  let opened = !held;
  const waiting: (() => void)[] = [];
  let count = 0;
  let first: () => void = () => undefined;
  const firstRequest = new Promise<void>((resolve) => {
    first = resolve;
  });
  const forward = (req: IncomingMessage, res: import('node:http').ServerResponse) => {
    const upstream = httpRequest(
      `${target}${req.url ?? '/'}`,
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };
  const server: Server = createServer((req, res) => {
    count++;
    first();
    if (opened) forward(req, res);
    else waiting.push(() => forward(req, res));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    firstRequest,
    requests: () => count,
    open() {
      opened = true;
      for (const go of waiting.splice(0)) go();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

function start(argv: readonly string[]): Run {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!/^(AWS_|PAYLINK_)/.test(name)) env[name] = value;
  const child = spawn(process.execPath, [BIN, ...argv], {
    cwd: REPO,
    env: { ...env, PAYLINK_API_KEY: API_KEY, PAYLINK_API_SECRET: API_SECRET },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const exited = once(child, 'close').then(([code]) => code as number | null);
  return { child, exited, stderr: () => stderr };
}

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref(),
    ),
  ]);

let scratch: Scratch;
let sim: Simulator;
beforeAll(async () => {
  scratch = await Scratch.create('changed-concurrent');
  sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
});
afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

describe('two changed loads of one lake at once', () => {
  it('refuses the second, naming the first, and fetches each changed user once', async () => {
    const lake = scratch.path('lake');
    const store = createLocalStore(lake);
    for (const [n, identifier] of USERS.entries()) {
      await receiveNumberedEvent({ store, secret: API_SECRET, receivedAt: new Date() }, identifier, n);
    }
    const held = await gate(sim.url, true);
    const free = await gate(sim.url, false);
    const argv = (baseUrl: string) =>
      changedLoadArgv({ dest: lake, baseUrl, resources: ['accounts'] }, ['--rate-limit', '10000', '--quiet']);
    try {
      const first = start(argv(held.url));
      // The first has selected its users and asks PayLink (held): the second starts now.
      await within(held.firstRequest, 60_000, 'the first load reaching PayLink');
      const second = start(argv(free.url));
      const secondCode = await within(second.exited, 60_000, 'the second load');
      held.open();
      const firstCode = await within(first.exited, 60_000, 'the first load');

      expect(firstCode, first.stderr()).toBe(0);
      expect(secondCode, second.stderr()).toBe(1);
      expect(second.stderr()).toContain(`another 'changed' load of ${lake} is running`);
      expect(second.stderr()).toContain(`pid ${first.child.pid}`);
      expect(second.stderr()).not.toMatch(/\n\s+at /);
      expect(free.requests()).toBe(0);
      const loaded = await withLake(lake, async (q) => {
        const { rows } = await q.query(
          'SELECT user_identifier, count(DISTINCT _dlt_load_id) FROM user_loads GROUP BY 1 ORDER BY 1',
        );
        return rows.map(([u, loads]) => [String(u), Number(loads)]);
      });
      expect(loaded).toEqual([...USERS].sort().map((u) => [u, 1]));

      // The lock is gone with the first: a changed load of the same resources runs again, with
      // nothing new to load.
      const again = await runCli(argv(free.url), credentialsEnv(API_KEY, API_SECRET));
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain('nothing to load');
      expect(await store.list('_leases/')).toEqual([]);
    } finally {
      held.open();
      await held.close();
      await free.close();
    }
  }, 180_000);
});
