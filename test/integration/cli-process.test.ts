/**
 * The built command (bin/paylink-loader.mjs) in its own process, where what a person sees
 * depends on the process itself: a reader that closes the pipe early (`| head -2`), Ctrl-C
 * before a load has started, and the AWS SDK's Node-version warning on stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Store } from '#adapters/s3-store.ts';
import { startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { Scratch } from '#test/helpers/lake-harness.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/paylink-loader.mjs', import.meta.url));

/** The environment of a person's shell: no AWS or PayLink settings leak in from the outer one. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(AWS_|PAYLINK_)/.test(name)) env[name] = value;
  }
  return { ...env, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', ...extra };
}

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

function start(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = REPO): Run {
  const child = spawn(process.execPath, [BIN, ...argv], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const exited = once(child, 'close').then(([code]) => code as number | null);
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** What never appears on a person's terminal: a Node stack trace or an unhandled error event. */
const STACK_TRACE = /\n\s+at |Unhandled 'error' event|node:internal|EPIPE/;

describe('the command in its own process', () => {
  let scratch: Scratch;
  beforeAll(async () => {
    scratch = await Scratch.create('cli-process');
    // `status` and `query` read the scratch folder as a lake no load committed to yet.
    await mkdir(join(scratch.dir, '_dlt_loads'));
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  it.each([
    ['query', ['query', '--dest', '.', 'SELECT * FROM range(50000)']],
    ['status', ['status', '--dest', '.']],
  ])(
    '%s ends quietly with its own exit code when its reader has gone (| head)',
    async (_name, argv) => {
      const run = start(argv, cleanEnv(), scratch.dir);
      // The reader goes away before the command writes anything: every write meets a closed pipe.
      run.child.stdout?.destroy();
      const code = await run.exited;
      expect(run.stderr()).not.toMatch(STACK_TRACE);
      expect(run.stderr()).toBe('');
      expect(code).toBe(0);
    },
    30_000,
  );

  it('a load whose output and progress nobody reads any more (2>&1 | head -1) still commits', async () => {
    const sim = await startSimulator({ seed: 'closed-pipe', apiKey: 'k', apiSecret: 's' });
    try {
      const users = await scratch.users('closed-users.txt', generateIdentifiers('closed-pipe', 30));
      const dest = scratch.path('closed-lake');
      const run = start(
        [
          'load',
          '--users',
          users,
          '--dest',
          dest,
          '--base-url',
          sim.url,
          '--load-id',
          'unread',
          '--resources',
          'accounts',
          '--rate-limit',
          '10000',
        ],
        cleanEnv({ PAYLINK_API_KEY: 'k', PAYLINK_API_SECRET: 's' }),
      );
      run.child.stdout?.destroy();
      run.child.stderr?.destroy();
      expect(await run.exited).toBe(0);
      expect(existsSync(join(dest, '_dlt_loads', 'unread.parquet'))).toBe(true);
    } finally {
      await sim.close();
    }
    // A hang is what the timeout catches; the run itself took 19 s in a full suite run on a
    // loaded 2-core machine (load 13-20), too close to the 30 s this had.
  }, 60_000);

  it('says that nothing was staged when Ctrl-C comes while a load is still being prepared', async () => {
    // A Secrets Manager that never answers: the load waits in its preparation (credentials).
    let asked!: () => void;
    const requested = new Promise<void>((resolve) => {
      asked = resolve;
    });
    const hanging: Server = createServer(() => asked());
    hanging.listen(0, '127.0.0.1');
    await once(hanging, 'listening');
    try {
      const users = await scratch.users('users.txt', ['u1', 'u2']);
      const endpoint = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
      const run = start(
        [
          'load',
          '--users',
          users,
          '--dest',
          scratch.path('lake'),
          '--secret-id',
          'paylink/api',
          '--load-id',
          'early',
        ],
        cleanEnv({
          AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
        }),
      );
      await Promise.race([requested, run.exited]);
      run.child.kill('SIGINT');
      expect(await run.exited).toBe(130);
      expect(run.stderr()).toBe(
        '\nSIGINT: stopped before load early started: nothing was staged or committed.\n',
      );
    } finally {
      hanging.closeAllConnections();
      hanging.close();
    }
    // 14 s in a full suite run at load 13-20 (was 30 s).
  }, 60_000);

  it('says so when Ctrl-C comes while the command is still starting', async () => {
    // Told by a preloaded hook the moment the command arms its first SIGINT listener (while tsx
    // is still compiling the CLI): a fixed delay would race Node's own start on a busy machine.
    const hook = await scratch.text(
      'sigint-hook.cjs',
      "process.on('newListener', (event) => { if (event === 'SIGINT') process.send?.('armed'); });\n",
    );
    const child = spawn(process.execPath, ['--require', hook, BIN, 'status', '--dest', scratch.dir], {
      cwd: REPO,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const exited = once(child, 'close');
    await Promise.race([once(child, 'message'), exited]);
    child.kill('SIGINT');
    const [code] = await exited;
    expect(code).toBe(130);
    expect(stderr).toBe(
      '\nSIGINT: stopped while paylink-loader was starting: nothing was read or written.\n',
    );
  }, 30_000);

  describe('against S3 (s3rver on loopback)', () => {
    let s3: RunningS3rver;
    beforeAll(async () => {
      s3 = await startS3rver({ buckets: ['cli-lake'] });
    });
    afterAll(async () => {
      await s3?.close();
    });
    const s3Env = () =>
      cleanEnv({
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      });

    it("prints no AWS SDK NodeVersionSupportWarning, and S3's own error with the endpoint and region", async () => {
      // An empty prefix is not an empty lake (a mistyped prefix used to read as one).
      const empty = start(['status', '--dest', 's3://cli-lake/paylink'], s3Env());
      expect(await empty.exited).toBe(1);
      expect(empty.stderr()).toMatch(
        /^error: --dest: no lake at s3:\/\/cli-lake\/paylink \(nothing under _dlt_loads\/, /,
      );
      const restore = withS3Env(s3.endpoint);
      try {
        // A lake with no load yet: only the user registry (an event object not named as the
        // receiver names them would be reported as one no load can take).
        await createS3Store({ bucket: 'cli-lake', prefix: 'paylink' }).put(
          '_state/users/00.json',
          '{"formatVersion": 2, "users": {}}',
        );
      } finally {
        restore();
      }
      const ok = start(['status', '--dest', 's3://cli-lake/paylink'], s3Env());
      expect(await ok.exited, ok.stderr()).toBe(0);
      expect(ok.stdout()).toContain('Lake s3://cli-lake/paylink');
      expect(ok.stderr()).toBe('');

      const missing = start(['status', '--dest', 's3://no-such-lake'], s3Env());
      expect(await missing.exited).toBe(1);
      expect(missing.stderr()).toBe(
        `error: --dest s3://no-such-lake: S3 ListObjectsV2 failed (NoSuchBucket, HTTP 404): The specified bucket does not exist at ${s3.endpoint} (region us-east-1) (key _dlt_loads/).\n`,
      );
      // Three commands started one after another, each a Node with tsx and the AWS SDK to load:
      // 24 s in a full suite run at load 13-20, 20-31 s beside 4 CPU burners (load 8-9), over
      // 60 s once at load 12-13 with them. A hang is what the timeout is for.
    }, 120_000);
  });
});
