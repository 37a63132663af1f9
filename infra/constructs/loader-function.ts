import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage, type Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  Code,
  LoggingFormat,
  Runtime,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { type BuildOptions, buildSync } from 'esbuild';
import { heapLimits, heapNodeOptions } from '#core/heap-budget.ts';
import { parseLogLevel } from '#core/log-level.ts';

/** Repository root: entries, the lock file and tsconfig.lambda.json are resolved from here, not the cwd. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The file of a Lambda asset that exports `handler` (an ES module: `.mjs`, whatever package.json says). */
export const LAMBDA_ENTRY_FILE = 'index.mjs';

/**
 * The undeclared globals parquetjs-lite's generated thrift code assigns (`Statistics = module.exports.Statistics = ...`),
 * read from the installed file so a new version cannot silently add one. ES modules are strict, where such an
 * assignment throws `ReferenceError: Statistics is not defined` at load; declaring them with `var` at the top of
 * each output file makes the assignments bind to a module-scoped variable instead of a global.
 */
function parquetThriftGlobals(): string[] {
  const file = createRequire(path.join(REPO_ROOT, 'package.json')).resolve(
    'parquetjs-lite/gen-nodejs/parquet_types.js',
  );
  const names = [...readFileSync(file, 'utf8').matchAll(/^([A-Za-z_$][\w$]*) = module\.exports\./gm)].map(
    (m) => m[1]!,
  );
  return [...new Set(names)];
}

/** Worker thread entries, bundled as `<name>.mjs` beside `index.mjs` in the assets that start them. */
const WORKER_ENTRIES = {
  'parquet-encode-worker': 'lambdas/adapters/parquet-encode-worker.ts',
} as const;

/** The handlers whose code starts a worker thread (parts are encoded off the main thread). */
const HANDLER_WORKERS: Readonly<Record<string, readonly (keyof typeof WORKER_ENTRIES)[]>> = {
  'load-batch.ts': ['parquet-encode-worker'],
  'commit.ts': ['parquet-encode-worker'],
};

/** V8 isolates a handler's process runs: its main thread, plus one per worker it starts. */
export function handlerIsolates(handlerFile: string): 1 | 2 {
  return (HANDLER_WORKERS[handlerFile] ?? []).length === 0 ? 1 : 2;
}

/**
 * NODE_OPTIONS of a loader Lambda: `nodeOptions` (source maps, parquetjs-lite's warning off), and
 * V8 heap limits sized from its memory for the isolates it runs (lambdas/core/heap-budget.ts:
 * without them the runtime gives each isolate 90% of the memory).
 */
export function lambdaNodeOptions(handlerFile: string, memoryMiB: number): string {
  return [
    nodeOptions(handlerFile),
    ...heapNodeOptions(heapLimits(memoryMiB, handlerIsolates(handlerFile))),
  ].join(' ');
}

/**
 * The handlers whose bundle writes Parquet with parquetjs-lite (in the worker and, for small
 * parts, on the main thread), which calls the deprecated `new Buffer()`.
 */
const PARQUETJS_HANDLERS: ReadonlySet<string> = new Set(['load-batch.ts', 'commit.ts']);

/**
 * NODE_OPTIONS of a loader Lambda: source maps for stack traces and, where parquetjs-lite is
 * loaded, its DEP0005 `Buffer()` warning turned off (only that code, only there). Node prints a
 * warning to stderr as plain text: in a function whose log is one JSON object per line it is
 * the one line no Logs Insights query parses, once per cold start. The CLI keeps Node's
 * default; the code calling `Buffer()` is parquetjs-lite's, not ours to change.
 */
export function nodeOptions(handlerFile: string): string {
  return PARQUETJS_HANDLERS.has(handlerFile)
    ? '--enable-source-maps --disable-warning=DEP0005'
    : '--enable-source-maps';
}

/**
 * How every loader Lambda is bundled: esbuild's options for one handler file (under
 * lambdas/handlers, or an absolute path) into `outdir`
 * (`index.mjs` and its chunks). Exported so tests and benchmarks build the very same bundles.
 *
 * - ES modules with code splitting: what a handler imports lazily (`import()`: the Glue, Step
 *   Functions and Secrets Manager clients, parquetjs-lite, hyparquet, the PayLink client...) goes
 *   to its own chunk file, loaded on the first call that needs it. V8 compiles only the files a
 *   process loads, and compiling the bundle's text was most of a cold start once nothing heavy
 *   was evaluated at load any more (bench/results/issue-11.md). esbuild splits only ES modules.
 * - Worker threads' entries (HANDLER_WORKERS) as further entry points, sharing chunks with the handler.
 * - The AWS SDK bundled, no externals (lib-storage is not in the runtime; bundling pins the SDK
 *   we tested); minified, with source maps (NODE_OPTIONS has --enable-source-maps).
 * - The packages' ES module builds (mainFields) let esbuild drop what is never imported.
 * - A banner: `require` for the CommonJS packages inside the bundle (esbuild's ES module output
 *   has none, and they `require` Node's built-ins), and parquetjs-lite's thrift globals (above).
 */
export function lambdaBuildOptions(handlerFile: string, outdir: string): BuildOptions {
  const globals = parquetThriftGlobals();
  const workers = Object.fromEntries(
    (HANDLER_WORKERS[handlerFile] ?? []).map((name) => [name, path.join(REPO_ROOT, WORKER_ENTRIES[name])]),
  );
  return {
    entryPoints: { index: path.resolve(REPO_ROOT, 'lambdas', 'handlers', handlerFile), ...workers },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    absWorkingDir: REPO_ROOT,
    outExtension: { '.js': '.mjs' },
    // Flat: a chunk finds a worker entry beside itself (parquet-worker-writer.ts).
    chunkNames: '[name]-[hash]',
    external: [],
    mainFields: ['module', 'main'],
    tsconfig: path.join(REPO_ROOT, 'tsconfig.lambda.json'),
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    logLevel: 'warning',
    banner: {
      js: [
        "import { createRequire as __paylinkCreateRequire } from 'node:module';",
        'const require = __paylinkCreateRequire(import.meta.url);',
        `var ${globals.join(', ')};`,
      ].join(' '),
    },
  };
}

/**
 * Where bundles are built before they are copied to their folder: a fresh folder under the system's
 * temp dir, always at the same depth. The source maps name the sources relative to the output, and
 * esbuild's chunk names hash the maps too: built in place, the same code in another folder (the CDK
 * asset, a test's scratch dir) would get other chunk names.
 */
const BUILD_DIR = 'out';

/**
 * Bundles one handler into `outdir` synchronously (CDK's local bundling is synchronous), with a
 * `package.json` of `{}` beside it: the asset needs none (`.mjs` is an ES module anywhere), it
 * keeps a bundle copied elsewhere from inheriting a `"type"` from above.
 */
export function bundleLambdaSync(handlerFile: string, outdir: string): void {
  const scratch = mkdtempSync(path.join(tmpdir(), 'paylink-lambda-'));
  try {
    buildSync(lambdaBuildOptions(handlerFile, path.join(scratch, BUILD_DIR)));
    cpSync(path.join(scratch, BUILD_DIR), outdir, { recursive: true });
    writeFileSync(path.join(outdir, 'package.json'), '{}\n');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export interface LoaderFunctionProps {
  /** File under lambdas/handlers exporting `handler`, e.g. `plan.ts`. */
  readonly handlerFile: string;
  readonly description: string;
  readonly memoryMiB: number;
  readonly timeout: Duration;
  readonly environment: Readonly<Record<string, string>>;
  readonly logRetention: RetentionDays;
  readonly tracing: boolean;
  /** Powertools Logger level (POWERTOOLS_LOG_LEVEL); default INFO. */
  readonly logLevel?: string;
}

/**
 * The Powertools settings every loader Lambda gets (lambdas/handlers/observability.ts): the
 * service name of its log lines, the log level, and the tracer switched on only with X-Ray
 * (its module is not even loaded otherwise), never recording HTTP calls or handler results.
 */
export function powertoolsEnvironment(props: {
  tracing: boolean;
  logLevel?: string;
}): Record<string, string> {
  return {
    POWERTOOLS_SERVICE_NAME: 'paylink-loader',
    POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
    POWERTOOLS_TRACE_ENABLED: String(props.tracing),
    POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS: 'false',
    POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
  };
}

/**
 * A loader Lambda with every default owned here, so the handlers cannot drift apart:
 * - Node.js 22 on arm64 (cheaper per GB-second; Node 20 is end of life upstream).
 * - V8 heap limits sized from its memory (lambdaNodeOptions).
 * - Its own log group with retention (RETAIN on stack deletion: audit trail), JSON log format.
 * - Its own role with no managed policy: only writing to its log group, plus what the stack grants.
 * - esbuild, no Docker, as lambdaBuildOptions says: an ES module entry with lazily loaded chunks.
 *   NodejsFunction's own bundling writes one file (`--outfile`), so the code is bundled here and
 *   handed over as `code`; the asset is hashed by its output, like NodejsFunction's.
 */
export class LoaderFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: LoaderFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (execution role)`,
    });
    super(scope, id, {
      code: Code.fromAsset(REPO_ROOT, {
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          // CDK caches staged assets by source path and bundling options, which a function-valued
          // local bundler does not distinguish: without the handler's name among the options,
          // every handler would get the first one's bundle.
          environment: { PAYLINK_HANDLER_FILE: props.handlerFile },
          // Never used: local bundling always succeeds or throws (esbuild is a devDependency).
          image: DockerImage.fromRegistry('dummy'),
          local: {
            tryBundle(outputDir) {
              bundleLambdaSync(props.handlerFile, outputDir);
              return true;
            },
          },
        },
      }),
      handler: `${path.basename(LAMBDA_ENTRY_FILE, '.mjs')}.handler`,
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memoryMiB,
      timeout: props.timeout,
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      // With the JSON log format Lambda filters application logs at its own level (INFO unless
      // set) and sets AWS_LAMBDA_LOG_LEVEL, which Powertools' Logger obeys over
      // POWERTOOLS_LOG_LEVEL (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html):
      // the stack's logLevel must set both, or `WARN` would still log INFO and `DEBUG` nothing.
      applicationLogLevelV2: ApplicationLogLevel[parseLogLevel(props.logLevel) ?? 'INFO'],
      tracing: props.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      environment: {
        ...props.environment,
        ...powertoolsEnvironment(props),
        NODE_OPTIONS: lambdaNodeOptions(props.handlerFile, props.memoryMiB),
      },
    });
    logGroup.grantWrite(role);
  }
}
