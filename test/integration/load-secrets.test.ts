/**
 * The API key, the API secret and the public tokens never reach stdout, stderr or the lake:
 * not on success, not with faults and failing users, not when the secret is wrong, not with
 * PAYLINK_DEBUG=1 stack traces. Sentinel values make any leak findable by a byte search.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { TokenStore } from '#simulator/tokens.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from '#test/helpers/fake-secrets-manager.ts';
import {
  type CliRun,
  credentialsEnv,
  type Env,
  FAST_HTTP,
  filesContaining,
  listFiles,
  runLoad,
  Scratch,
  withProcessEnv,
} from '#test/helpers/lake-harness.ts';

const SEED = 'secrets-seed';
const API_KEY = 'S3NT1NEL-key-7f3a9c0e5d';
const API_SECRET = 'S3NT1NEL-secret-4b8e21d0aa';
const WRONG_SECRET = 'S3NT1NEL-wrong-9c1d77b3ee';
const DEBUG: Env = { PAYLINK_DEBUG: '1' };

const secretJson = (apiSecret: string) => JSON.stringify({ api_key: API_KEY, api_secret: apiSecret });

describe('secrets never leak from a load', () => {
  let sim: Simulator;
  let secrets: FakeSecretsManager;
  let scratch: Scratch;
  let usersFile: string;
  let config: string;
  let restoreEnv: () => void;

  beforeAll(async () => {
    const identifiers = generateIdentifiers(SEED, 8);
    sim = await startSimulator({
      seed: SEED,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      faults: {
        status429Rate: 0.08,
        status5xxRate: 0.08,
        malformedRate: 0.05,
        retryAfterSeconds: 0,
        failUsers: [identifiers[2]!],
      },
    });
    secrets = await startFakeSecretsManager({
      'paylink/good': secretJson(API_SECRET),
      'paylink/wrong': secretJson(WRONG_SECRET),
    });
    // The AWS SDK reads its endpoint and credentials from process.env, not from Io.env.
    restoreEnv = withProcessEnv({
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'test-aws-secret',
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
    });
    scratch = await Scratch.create('secrets');
    usersFile = await scratch.users('users.txt', identifiers);
    config = await scratch.json('config.json', { http: FAST_HTTP });
  });
  afterAll(async () => {
    restoreEnv?.();
    await sim?.close();
    await secrets?.close();
    await scratch?.dispose();
  });

  /** Every token the simulator has minted so far (it derives them from the seed and a counter). */
  function mintedTokens(): string[] {
    const replica = new TokenStore(SEED, undefined);
    return Array.from({ length: sim.stats().tokensMinted }, () => Object.values(replica.mint('x'))).flat();
  }

  async function expectNoLeak(run: CliRun, dest: string): Promise<void> {
    const needles = [API_KEY, API_SECRET, WRONG_SECRET, 'S3NT1NEL', ...mintedTokens()];
    for (const needle of needles) {
      expect(run.stdout.includes(needle), `stdout contains ${needle}`).toBe(false);
      expect(run.stderr.includes(needle), `stderr contains ${needle}`).toBe(false);
    }
    expect(await filesContaining(dest, needles), 'lake files holding a secret or a token').toEqual([]);
  }

  it('from Secrets Manager, with faults and a failing user: exit 3 and no secret or token anywhere', async () => {
    const dest = scratch.path('sm-ok');
    const calls = secrets.calls();
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, config, secretId: 'paylink/good' },
      DEBUG,
    );
    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(3);
    expect(secrets.calls(), 'GetSecretValue calls').toBe(calls + 1);
    expect(mintedTokens().length, 'tokens to look for').toBeGreaterThan(0);
    // The replica really yields the simulator's tokens: mint one more and compare.
    const minted = await fetch(`${sim.url}/access-token`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'x-api-secret': API_SECRET, 'content-type': 'application/json' },
      body: JSON.stringify({ identifier: 'replica-check' }),
    }).then((r) => r.json() as Promise<{ data?: { publicToken?: string } }>);
    expect(mintedTokens(), 'replica tokens').toContain(minted.data?.publicToken);
    expect((await listFiles(dest)).length, 'files written').toBeGreaterThan(10);
    await expectNoLeak(run, dest);
  });

  it('from the environment, with faults and a failing user: exit 3 and no secret or token anywhere', async () => {
    const dest = scratch.path('env-ok');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, config, json: true },
      { ...credentialsEnv(API_KEY, API_SECRET), ...DEBUG },
    );
    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(3);
    await expectNoLeak(run, dest);
  });

  it('a wrong secret from Secrets Manager: exit 1 naming the problem, debug stack included, no secret', async () => {
    const dest = scratch.path('sm-wrong');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, config, secretId: 'paylink/wrong' },
      DEBUG,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('rejected the API key');
    expect(run.stderr, 'PAYLINK_DEBUG=1 prints a stack').toMatch(/\n\s+at /);
    await expectNoLeak(run, dest);
  });

  it('a wrong secret from the environment: exit 1 naming the problem, no secret', async () => {
    const dest = scratch.path('env-wrong');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, config },
      { ...credentialsEnv(API_KEY, WRONG_SECRET), ...DEBUG },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('rejected the API key');
    await expectNoLeak(run, dest);
  });

  it('a secret id that does not exist: exit 1 naming the secret, nothing written', async () => {
    const dest = scratch.path('sm-missing');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, config, secretId: 'paylink/missing' },
      {},
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: --secret-id paylink/missing: not found in Secrets Manager (ResourceNotFoundException, HTTP 400): Secrets Manager can't find the specified secret. at ${secrets.url} (region us-east-1); check the name or ARN and the region. Nothing was committed.\n`,
    );
    expect(existsSync(dest), 'lake folder created').toBe(false);
    await expectNoLeak(run, dest);
  });

  it('no credentials at all: exit 1 saying how to provide them, nothing written', async () => {
    const dest = scratch.path('none');
    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, config }, {});
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('set PAYLINK_API_KEY and PAYLINK_API_SECRET or pass --secret-id');
    expect(existsSync(dest), 'lake folder created').toBe(false);
  });
});

describe('a Secrets Manager that cannot answer', () => {
  let scratch: Scratch;
  let usersFile: string;
  let restoreEnv: (() => void) | undefined;
  beforeAll(async () => {
    scratch = await Scratch.create('secrets-unreachable');
    usersFile = await scratch.users('users.txt', ['user-a']);
  });
  afterEach(() => {
    restoreEnv?.();
    restoreEnv = undefined;
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  /** A load with --secret-id against `endpoint`, in a shell with no AWS profile. */
  async function load(endpoint: string, region: string | undefined): Promise<CliRun> {
    restoreEnv = withProcessEnv({
      AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: undefined,
      AWS_PROFILE: undefined,
      AWS_CONFIG_FILE: scratch.path('no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: scratch.path('no-aws-credentials'),
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'test-aws-secret',
      AWS_SESSION_TOKEN: undefined,
      AWS_MAX_ATTEMPTS: '1',
    });
    const dest = scratch.path('never');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: 'http://127.0.0.1:9', secretId: 'paylink/api' },
      {},
    );
    expect(run.code).toBe(1);
    expect(existsSync(dest)).toBe(false);
    return run;
  }

  it('a refused connection names --secret-id, the cause, the endpoint and the region', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const run = await load(`http://127.0.0.1:${port}`, 'eu-west-3');
    expect(run.stderr).toBe(
      `error: --secret-id paylink/api: could not be read from Secrets Manager (ECONNREFUSED): connection refused at http://127.0.0.1:${port} (region eu-west-3). Nothing was committed.\n`,
    );
  });

  it('no region says to set one', async () => {
    const run = await load('http://127.0.0.1:9', undefined);
    expect(run.stderr).toBe(
      'error: --secret-id paylink/api: could not be read from Secrets Manager (no AWS region): set AWS_REGION, or a region in your AWS profile. Nothing was committed.\n',
    );
  });

  it('an endpoint that is not Secrets Manager says so, without quoting its answer', async () => {
    const notAws = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>captive portal</html>');
    }).listen(0, '127.0.0.1');
    await once(notAws, 'listening');
    const url = `http://127.0.0.1:${(notAws.address() as AddressInfo).port}`;
    try {
      const run = await load(url, 'us-east-1');
      expect(run.stderr).toBe(
        `error: --secret-id paylink/api: could not be read from Secrets Manager (not an answer of the AWS service, HTTP 200: is the endpoint right?) at ${url} (region us-east-1). Nothing was committed.\n`,
      );
    } finally {
      notAws.close();
    }
  });
});
