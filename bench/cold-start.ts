/**
 * Cold start of the Lambda bundles: how long loading each bundled handler (`import()` of its ES
 * module entry, the runtime's `require` of a CommonJS bundle before) takes in a fresh Node process,
 * against an empty handler bundled the same way in the same run, how long a cold invocation takes
 * to reach its first S3 request, and how long loading every module of the asset takes (the upper
 * bound of what an invocation that needs every lazily loaded client pays on its first call).
 *
 *   node --import tsx bench/cold-start.ts [--runs 9] [--no-save]
 *
 * The bundles are built like the deployed ones (test/helpers/bundle-handlers.ts: LoaderFunction's
 * esbuild options) into a temp dir with a `{}` package.json, as /var/task. Every sample is a fresh
 * `node --enable-source-maps` process (the flag the stack sets in NODE_OPTIONS) with only PATH and
 * the handler's variables in its environment; bundles are sampled round-robin so a burst of load
 * on this shared machine hits them alike. Figures: the median over the runs (min-max beside it).
 *
 * - require: `require(bundle)` alone, timed inside the child (process start-up excluded): wall
 *   time (the target's measure) and the CPU time it used (user + system), which moves less with
 *   the machine's load than the wall time does.
 * - to first S3 call: `require` + `handler(event)` until it fails on its first S3 request, sent to
 *   a closed loopback port with AWS_MAX_ATTEMPTS=1 (ECONNREFUSED comes back at once): module
 *   evaluation, configuration parsing, the lazily imported clients and the SDK's first request
 *   set-up, without any network time. The error is checked to be that S3 failure.
 *
 * Results are appended to bench/results/cold-start.md (target: require <= 120 ms per bundle).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import {
  assetFiles,
  bundleHandlerFile,
  bundleHandlers,
  eagerModules,
  type HandlerName,
} from '#test/helpers/bundle-handlers.ts';
import { markdownTable } from './lib/format.ts';
import { describeMachine, median, recordRun } from './lib/history.ts';

const run = promisify(execFile);

/** Target of issue 11: require() of each bundle, on this machine. */
export const REQUIRE_TARGET_MS = 120;

/**
 * The child: argv = [entry, event JSON or '', JSON list of every module of the asset or ''].
 * With an event, the handler is called after the import; with the module list, every module of
 * the asset is imported after the entry (what the heaviest invocation could load).
 */
const CHILD = `
const [bundle, eventJson, modulesJson] = process.argv.slice(1);
const { pathToFileURL } = require('node:url');
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const ms = (t) => Number(t - t0) / 1e6;
const cpu = () => { const c = process.cpuUsage(c0); return (c.user + c.system) / 1000; };
import(pathToFileURL(bundle).href).then(async (m) => {
const requireMs = ms(process.hrtime.bigint());
const requireCpuMs = cpu();
const done = (extra) => { process.stdout.write(JSON.stringify({ requireMs, requireCpuMs, ...extra })); process.exit(0); };
if (modulesJson) {
  for (const file of JSON.parse(modulesJson)) await import(pathToFileURL(file).href);
  return done({ allMs: ms(process.hrtime.bigint()) });
}
if (!eventJson) return done({});
return Promise.resolve()
  .then(() => m.handler(JSON.parse(eventJson), { getRemainingTimeInMillis: () => 900000 }))
  .then(
    () => done({ firstCallMs: ms(process.hrtime.bigint()), error: null }),
    (e) => done({ firstCallMs: ms(process.hrtime.bigint()), error: String(e && e.name) + ': ' + String(e && e.message).slice(0, 160) }),
  );
});
`;

interface Sample {
  readonly requireMs: number;
  readonly requireCpuMs: number;
  readonly firstCallMs?: number;
  readonly allMs?: number;
  readonly error?: string | null;
}

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The variables and event that take each handler to its first S3 request. */
function invocations(port: number) {
  const env = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`,
    AWS_MAX_ATTEMPTS: '1',
    LAKE_BUCKET: 'bench-lake',
    PAYLINK_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench',
    USERS_KEY: 'users.txt',
  };
  const capacity = {
    requestRate: 20,
    maxConcurrency: 4,
    maxBatchSize: 500,
    batchTimeoutSeconds: 900,
    batchMarginSeconds: 120,
    commitSeconds: 120,
    guardSeconds: 10,
    runDeadlineSeconds: { daily: 77_760 },
  };
  return {
    plan: {
      env: { ...env, PAYLINK_CAPACITY: JSON.stringify(capacity) },
      event: { schedule: 'daily', scheduledTime: '2026-01-01T00:00:00Z' },
    },
    loadBatch: { env, event: { loadId: '1767225600.000000', batch: 0 } },
    commit: { env, event: { loadId: '1767225600.000000' } },
    empty: { env, event: {} },
  } satisfies Record<HandlerName | 'empty', { env: Record<string, string>; event: unknown }>;
}

async function sample(
  bundle: string,
  env: Record<string, string>,
  event?: unknown,
  modules?: readonly string[],
): Promise<Sample> {
  const args = [
    '--enable-source-maps',
    '-e',
    CHILD,
    bundle,
    event === undefined ? '' : JSON.stringify(event),
    modules === undefined ? '' : JSON.stringify(modules),
  ];
  const { stdout } = await run(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: 60_000,
  });
  return JSON.parse(stdout) as Sample;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '9' },
      quick: { type: 'boolean', default: false },
      'no-save': { type: 'boolean', default: false },
    },
  });
  const runs = values.quick ? 3 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const machine = describeMachine();
  const startedAt = new Date();
  const dir = await mkdtemp(path.join(tmpdir(), 'paylink-cold-start-'));
  try {
    const bundles: Record<string, string> = { ...(await bundleHandlers(dir)) };
    const emptySource = path.join(dir, 'empty-handler.ts');
    await writeFile(emptySource, 'export const handler = async (): Promise<void> => undefined;\n');
    bundles.empty = await bundleHandlerFile(emptySource, path.join(dir, 'empty'));
    const calls = invocations(await closedPort());
    const names = ['empty', 'plan', 'loadBatch', 'commit'] as const;
    const requires = new Map<string, number[]>(names.map((n) => [n, []]));
    const cpus = new Map<string, number[]>(names.map((n) => [n, []]));
    const firsts = new Map<string, number[]>(names.map((n) => [n, []]));
    const alls = new Map<string, number[]>(names.map((n) => [n, []]));
    const modules = new Map<string, string[]>(
      names.map((n) => {
        const dir = path.dirname(bundles[n]!);
        // Not the worker thread's entry: it runs in its own thread (and refuses the main one).
        const files = assetFiles(dir).filter((f) => f.endsWith('.mjs') && f !== 'parquet-encode-worker.mjs');
        return [n, files.map((f) => path.join(dir, f))];
      }),
    );
    const errors = new Map<string, string>();
    for (let i = 0; i < runs; i++) {
      for (const name of names) {
        const { env, event } = calls[name];
        const alone = await sample(bundles[name]!, env);
        requires.get(name)!.push(alone.requireMs);
        cpus.get(name)!.push(alone.requireCpuMs);
        const first = await sample(bundles[name]!, env, event);
        firsts.get(name)!.push(first.firstCallMs!);
        if (first.error) errors.set(name, first.error);
        alls.get(name)!.push((await sample(bundles[name]!, env, undefined, modules.get(name)!)).allMs!);
      }
    }
    const emptyRequire = median(requires.get('empty')!);
    const rows = [];
    for (const name of names) {
      const req = requires.get(name)!;
      const first = firsts.get(name)!;
      const cpu = cpus.get(name)!;
      const all = alls.get(name)!;
      const sizeOf = async (files: readonly string[]) =>
        (await Promise.all(files.map(async (f) => (await stat(f)).size))).reduce((a, b) => a + b, 0);
      const eagerSize = await sizeOf(eagerModules(bundles[name]!));
      const totalSize = await sizeOf(modules.get(name)!);
      const met = name === 'empty' ? '-' : median(req) <= REQUIRE_TARGET_MS ? 'met' : 'NOT met';
      rows.push([
        name,
        `${(eagerSize / 1024).toFixed(0)} / ${(totalSize / 1024).toFixed(0)} KiB`,
        `${median(req).toFixed(0)} (${Math.min(...req).toFixed(0)}-${Math.max(...req).toFixed(0)})`,
        `${(median(req) / emptyRequire).toFixed(0)}x`,
        `${median(cpu).toFixed(0)}`,
        met,
        `${median(first).toFixed(0)} (${Math.min(...first).toFixed(0)}-${Math.max(...first).toFixed(0)})`,
        `${median(all).toFixed(0)} (${Math.min(...all).toFixed(0)}-${Math.max(...all).toFixed(0)})`,
        errors.get(name) ?? 'resolved',
      ]);
    }
    const table = markdownTable(
      [
        'bundle',
        'loaded at import / whole asset',
        'import ms, median (min-max)',
        'vs empty',
        'import CPU ms',
        `<= ${REQUIRE_TARGET_MS} ms`,
        'to first S3 call ms',
        'entry + every module ms',
        'how the invocation ended',
      ],
      rows,
    );
    const command = `node --import tsx bench/cold-start.ts ${process.argv.slice(2).join(' ')}`.trim();
    await recordRun('cold-start', {
      machine,
      command,
      startedAt,
      notes: [
        `- ${runs} fresh \`node --enable-source-maps\` processes per bundle and measure, round-robin; bundles built with LoaderFunction's esbuild options`,
      ],
      table,
      save: !values['no-save'],
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
