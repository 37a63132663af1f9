import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** Repository root: entries, the lock file and tsconfig.lambda.json are resolved from here, not the cwd. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * How every loader Lambda is bundled (see LoaderFunction). Exported so the end-to-end test can
 * build the very same bundles with esbuild directly instead of running a second CDK synth.
 */
export const LOADER_BUNDLING: Readonly<BundlingOptions> = Object.freeze({
  format: OutputFormat.CJS,
  target: 'node22',
  bundleAwsSDK: true,
  externalModules: [],
  tsconfig: path.join(REPO_ROOT, 'tsconfig.lambda.json'),
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  logLevel: LogLevel.WARNING,
  // The packages' ES module builds (the AWS SDK's dist-es) let esbuild drop what is never imported
  // (unused commands and shapes); their CommonJS builds are kept whole. Less code to compile at
  // every cold start (bench/cold-start.ts).
  mainFields: ['module', 'main'],
});

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
 * A loader Lambda with every default owned here, so the three handlers cannot drift apart:
 * - Node.js 22 on arm64 (cheaper per GB-second; Node 20 is end of life upstream).
 * - Its own log group with retention (RETAIN on stack deletion: audit trail), JSON log format.
 * - Its own role with no managed policy: only writing to its log group, plus what the stack grants.
 * - esbuild, no Docker: one CommonJS file with the AWS SDK bundled (lib-storage is not in the
 *   runtime, and bundling pins the SDK we tested), no externals, minified, with a source map,
 *   from the packages' ES module builds where they have one (tree-shaken: a smaller bundle to load).
 * - `tsconfig.lambda.json`: parquetjs-lite's generated thrift code assigns undeclared globals and
 *   crashes at load under the "use strict" esbuild emits for a strict tsconfig.
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
      entry: path.join(REPO_ROOT, 'lambdas', 'handlers', props.handlerFile),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memoryMiB,
      timeout: props.timeout,
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      tracing: props.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      environment: {
        ...props.environment,
        ...powertoolsEnvironment(props),
        NODE_OPTIONS: '--enable-source-maps',
      },
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      bundling: { ...LOADER_BUNDLING },
    });
    logGroup.grantWrite(role);
  }
}
