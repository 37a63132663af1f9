/**
 * One offline deployment of the stack for tests: synthesize with a config, bundle the
 * handlers, start the loopback world (s3rver, Secrets Manager and Glue fakes, the gateway that
 * applies IAM and S3 semantics in front of them, the PayLink simulator) and wire an OfflineAws.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { inject } from 'vitest';
import { createS3Store } from '#adapters/s3-store.ts';
import type { ObjectStore } from '#core/ports.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { buildApp, exampleConfig } from '#test/infra/app-fixture.ts';
import { type AwsGateway, startAwsGateway } from './aws-gateway.ts';
import { bundleHandlerFile, bundleHandlers, type HandlerName } from './bundle-handlers.ts';
import { ResolvedTemplate } from './cfn-template.ts';
import { type FakeGlue, startFakeGlue } from './fake-glue.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from './fake-secrets-manager.ts';
import { IamGate } from './iam-gate.ts';
import { FAST_HTTP } from './lake-harness.ts';
import { ACCOUNT, type ExecutionOutcome, OfflineAws, REGION } from './offline-aws.ts';
import { sharedBuild } from './offline-bundle-cache.ts';
import { record, timed } from './offline-profile.ts';
import { readParquet } from './read-parquet.ts';
import { type RunningS3rver, startS3rver, withS3Env } from './s3rver.ts';

export const OFFLINE_BUCKET = 'paylink-offline-lake';
export const STACK_ID_UUID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
export const API_KEY = 'offline-api-key-3Xk9';
export const API_SECRET = 'offline-api-secret-Qw7p';

/** The example config's daily schedule: every user, at 03:00 UTC. */
export const DAILY_ALL = {
  name: 'daily',
  expression: 'cron(0 3 * * ? *)',
  timezone: 'UTC',
  expectedPeriodHours: 24,
  users: 'all',
} as const;

/** An hourly schedule of the users named by webhook events since its last load. */
export const HOURLY_CHANGED = { name: 'hourly', expression: 'rate(1 hour)', users: 'changed' } as const;

/**
 * The example config with `overrides`, deployed to run fast: HTTP retries that do not wait
 * (FAST_HTTP) and a request rate (2,000 a second) no offline run waits on.
 */
export function offlineConfig(overrides: Record<string, unknown>): Record<string, unknown> {
  return exampleConfig({ requestRate: 2000, loaderConfig: { http: FAST_HTTP }, ...overrides });
}

/** The functions an offline deployment runs: the state machine's three and the webhook receiver. */
export type OfflineHandlerName = HandlerName | 'webhook';

async function bundleOfflineHandlers(outdir: string): Promise<Record<OfflineHandlerName, string>> {
  const [steps, webhook] = await Promise.all([
    bundleHandlers(outdir),
    bundleHandlerFile('webhook.ts', path.join(outdir, 'webhook')),
  ]);
  return { ...steps, webhook };
}

/**
 * The bundles, built once per test run for every file (offline-bundle-cache.ts); in `scratch`
 * when run without the suite's global setup.
 */
export function offlineBundles(scratch: string): Promise<Record<OfflineHandlerName, string>> {
  const root = inject('offlineBundleRoot');
  return root ? sharedBuild(root, bundleOfflineHandlers) : bundleOfflineHandlers(scratch);
}

export interface OfflineWorld {
  readonly aws: OfflineAws;
  readonly gate: IamGate;
  readonly gateway: AwsGateway;
  readonly template: ResolvedTemplate;
  readonly s3rver: RunningS3rver;
  readonly glue: FakeGlue;
  readonly secrets: FakeSecretsManager;
  /** Secret values by ARN (mutable: the operator's put-secret-value). */
  readonly secretValues: Record<string, string>;
  readonly secretArn: string;
  readonly sim: Simulator;
  /** The bucket as the operator sees it (s3rver's own credentials, not a role). */
  readonly bucket: ObjectStore;
  readonly prefix: string;
  readonly usersKey: string;
  readonly databaseName: string;
  /** The handler bundles (another world may reuse them). */
  readonly bundles: Record<OfflineHandlerName, string>;
  close(): Promise<void>;
}

export interface OfflineWorldOptions {
  readonly config: Record<string, unknown>;
  readonly simulator: Parameters<typeof startSimulator>[0];
  /** Reuse bundles (a folder with plan/, loadBatch/, commit/, webhook/); default: the run's shared ones. */
  readonly bundles?: Record<OfflineHandlerName, string>;
  /** The PayLink credentials in the secret and the simulator (default API_KEY / API_SECRET). */
  readonly credentials?: { readonly apiKey: string; readonly apiSecret: string };
}

export async function startOfflineWorld(options: OfflineWorldOptions): Promise<OfflineWorld> {
  return timed('world', () => startWorld(options));
}

async function startWorld(options: OfflineWorldOptions): Promise<OfflineWorld> {
  const synthStarted = performance.now();
  const scratch = await mkdtemp(path.join(tmpdir(), 'paylink-offline-aws-'));
  const { stack } = buildApp(options.config);
  const json = Template.fromStack(stack).toJSON();
  const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const template = new ResolvedTemplate(json, {
    account: ACCOUNT,
    region: REGION,
    stackName: stack.stackName,
    stackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${stack.stackName}/${STACK_ID_UUID}`,
    names: { [logicalId(stack.lake.bucket as never)]: OFFLINE_BUCKET },
  });
  const labels = new Map<string, OfflineHandlerName>([
    [logicalId(stack.functions.plan), 'plan'],
    [logicalId(stack.functions.loadBatch), 'loadBatch'],
    [logicalId(stack.functions.commit), 'commit'],
    [logicalId(stack.webhooks.function), 'webhook'],
  ]);
  const { apiKey, apiSecret } = options.credentials ?? { apiKey: API_KEY, apiSecret: API_SECRET };
  const secretArn = template.resolve(stack.resolve(stack.credentials.secretArn)) as string;
  const databaseName = template.resolve(stack.resolve(stack.analytics.databaseName)) as string;
  const secretValues: Record<string, string> = {
    [secretArn]: JSON.stringify({ api_key: apiKey, api_secret: apiSecret }),
  };
  record('world.synth', performance.now() - synthStarted);
  const [bundles, s3rver, secrets, glue, sim] = await Promise.all([
    options.bundles ?? offlineBundles(path.join(scratch, 'bundles')),
    startS3rver({ buckets: [OFFLINE_BUCKET] }),
    startFakeSecretsManager(secretValues),
    startFakeGlue({
      // Every database the template creates: the history one and its _raw and _current siblings.
      databases: [
        stack.analytics.databaseName,
        stack.analytics.rawDatabaseName,
        stack.analytics.currentDatabaseName,
      ].map((name) => template.resolve(stack.resolve(name)) as string),
    }),
    startSimulator({ apiKey, apiSecret, ...options.simulator }),
  ]);
  const gate = new IamGate(ACCOUNT);
  const bucketPolicy = template
    .idsOfType('AWS::S3::BucketPolicy')
    .map((id) => template.resolve(template.resources[id].Properties))
    .find((p) => p.Bucket === OFFLINE_BUCKET)?.PolicyDocument;
  const gateway = await startAwsGateway({
    gate,
    region: REGION,
    account: ACCOUNT,
    s3: s3rver.endpoint,
    secretsManager: secrets.url,
    glue: glue.url,
    ...(bucketPolicy ? { bucketPolicies: { [OFFLINE_BUCKET]: bucketPolicy } } : {}),
  });
  const aws = new OfflineAws(template, gateway, gate, {
    bundles,
    baseUrl: sim.url,
    handlerFileOf: (id) => labels.get(id) ?? '',
  });
  const restoreEnv = withS3Env(s3rver.endpoint);
  // Bound to this world's s3rver, not to the environment: two worlds can run side by side.
  const operator = new S3Client({
    region: REGION,
    endpoint: s3rver.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const prefix = aws.functions.get('plan')!.environment.LAKE_PREFIX ?? '';
  return {
    aws,
    gate,
    gateway,
    template,
    s3rver,
    glue,
    secrets,
    secretValues,
    secretArn,
    sim,
    bucket: createS3Store({ bucket: OFFLINE_BUCKET, prefix: '', client: operator }),
    prefix,
    usersKey: aws.functions.get('plan')!.environment.USERS_KEY!,
    databaseName,
    bundles,
    async close() {
      aws.close();
      await Promise.all([gateway.close(), sim.close(), secrets.close(), glue.close()]);
      operator.destroy();
      restoreEnv();
      await s3rver.close();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

/** Rows of `table` written by `loadId` (every part of the table, read back with hyparquet). */
export async function rowsOfLoad(
  world: Pick<OfflineWorld, 'bucket' | 'prefix'>,
  table: string,
  loadId: string,
): Promise<Record<string, unknown>[]> {
  const keys = (await world.bucket.list(`${world.prefix}/${table}/`)).filter((k) => k.endsWith('.parquet'));
  const rows: Record<string, unknown>[] = [];
  for (const key of keys) rows.push(...(await readParquet((await world.bucket.get(key))!)).rows);
  return rows.filter((r) => r._dlt_load_id === loadId);
}

/** Every denied call, one line each (action, resource, principal): what a failing test prints. */
export function describeDenials(gate: IamGate): string[] {
  return gate.denied().map((d) => `${d.principal}: ${d.action} on ${d.resource}`);
}

/**
 * Why a run did not go as a test expected: its status and cause, every denied call, and the end of
 * each failed invocation's log (the assertion message of an offline run).
 */
export function explainOutcome(world: Pick<OfflineWorld, 'gate'>, outcome: ExecutionOutcome): string {
  const failed = outcome.invocations.filter((i) => !i.ok);
  return [
    `${outcome.status} ${outcome.error ?? ''}: ${outcome.cause ?? ''}`,
    ...describeDenials(world.gate),
    ...failed.map((i) => `${i.state} ${i.errorType}\n${i.logs.slice(-2000)}`),
  ].join('\n');
}
