/**
 * s3rver 3.7.1 on loopback with a throwaway directory: the real S3 client talks to it through
 * the standard AWS variables, so the code under test needs no test switches.
 *
 * s3rver runs in a child process started with `--openssl-legacy-provider`: it encrypts
 * ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node >= 17) only offers in its
 * legacy provider. In-process, every truncated listing (more keys than MaxKeys) is a 500
 * InternalError, so pagination could not be tested at all.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunningS3rver {
  /** `http://127.0.0.1:<port>`: an IP host, so the SDK addresses buckets path-style. */
  readonly endpoint: string;
  /** Where s3rver keeps buckets and objects. */
  readonly dir: string;
  close(): Promise<void>;
}

/** The child: starts s3rver, reports its port over IPC, stops on 'close' or when the parent goes away. */
const CHILD_SCRIPT = `
const [modulePath, options] = process.argv.slice(1);
const S3rver = require(modulePath);
const server = new S3rver(JSON.parse(options));
// Silent, s3rver still formats a log line per request (koa-logger) that its logger then drops:
// a few percent of its time in the suites that send it thousands of requests.
if (server.silent) server.middleware = server.middleware.filter((m) => m.name !== 'logger');
server.run().then(
  ({ port }) => process.send({ port }),
  (error) => { process.send({ error: String(error && error.message) }); process.exit(1); },
);
process.on('message', (message) => {
  if (message === 'close') server.close().finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
`;

function waitForPort(child: ChildProcess, stderr: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('message', (message: { port?: number; error?: string }) => {
      if (message.port) resolve(message.port);
      else reject(new Error(`s3rver failed to start: ${message.error ?? 'unknown error'}`));
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code}: ${stderr()}`)));
    child.once('error', reject);
  });
}

export async function startS3rver(options: { buckets: readonly string[] }): Promise<RunningS3rver> {
  const dir = await mkdtemp(join(tmpdir(), 's3rver-'));
  const s3rverOptions = {
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: options.buckets.map((name) => ({ name })),
  };
  const modulePath = createRequire(import.meta.url).resolve('s3rver');
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', '-e', CHILD_SCRIPT, modulePath, JSON.stringify(s3rverOptions)],
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-2000);
  });

  let port: number;
  try {
    port = await waitForPort(child, () => stderr);
  } catch (error) {
    child.kill();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    endpoint: `http://127.0.0.1:${port}`,
    dir,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.send('close');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Points the AWS SDK at `endpoint` with dummy credentials. The checksum settings keep the SDK
 * from sending aws-chunked bodies, which s3rver would store framing and all (toolchain-notes.md).
 * Returns a function that puts the previous values back.
 */
export function withS3Env(endpoint: string): () => void {
  const values: Record<string, string | undefined> = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    // A real session token from the outer environment has no business going anywhere here.
    AWS_SESSION_TOKEN: undefined,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  };
  const previous = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  const apply = (settings: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(settings)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(values);
  return () => apply(previous);
}
