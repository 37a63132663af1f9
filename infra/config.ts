/**
 * The stack's typed config, read once from the CDK context key `paylink` (cdk.json holds a
 * working example; `-c paylink='{...}'` overrides it). Every error is a ConfigError naming the
 * key (`paylink.schedules.0.expression`) and the accepted range; a number, boolean or null value
 * is named too, never a string: a synth log must not leak ARNs or e-mail addresses into CI output.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { ADAPTIVE_CONCURRENCY } from '#core/adaptive-concurrency.ts';
import { STACK_DEFAULTS } from '#core/capacity.ts';
import { configFileSchema, parseOrThrow } from '#core/config.ts';
import { DEFAULTS, LIMITS } from '#core/constants.ts';
import { ConfigError } from '#core/errors.ts';
import { badLogLevel, type LogLevel, parseLogLevel } from '#core/log-level.ts';
import { MERGE_BUDGET, mergeBudgetSeconds } from '#core/merge-fan-out.ts';
import { dataQualitySchema } from '#core/quality-config.ts';
import { knownResourcesOf, scheduleListIssues, schedulesSchema } from '#core/schedule-config.ts';
import { TASK_RETIREMENT } from '#core/task-retirement.ts';
import { CONTEXT_KEY, DEFAULT_STACK_NAME, FUNCTION_DEFAULTS, WEBHOOK_DEFAULTS } from './constants.ts';

const BUCKET_NAME = /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const LAKE_PREFIX = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
const OBJECT_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
/**
 * Glue allows 255 characters; the stack appends `_<8 hex>` (deploy-unique part) and `_current`
 * or `_raw` to the configured name, 17 more at most.
 */
const GLUE_DATABASE = /^[a-z][a-z0-9_]{0,237}$/;
const WORKGROUP = /^[A-Za-z0-9._-]{1,128}$/;
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,39}$/;
/** Lambda's environment is capped at 4 KB in total; leave room for the other variables. */
const MAX_LOADER_CONFIG_BYTES = 2048;

/** The commit Lambda's timeout: its merge budget can never exceed what this deadline leaves. */
const COMMIT_TIMEOUT_SECONDS = FUNCTION_DEFAULTS.commit.timeoutMinutes * 60;
/**
 * The most seconds of merging a commit can ever do in its own invocation: its budget at the very
 * start of one (merge-fan-out.ts `mergeBudgetSeconds`), 390 s for a 15-minute commit. A larger
 * commitMergeSeconds would change nothing, so synth refuses it rather than let it promise more.
 */
export const MAX_COMMIT_MERGE_SECONDS = mergeBudgetSeconds({
  remainingSeconds: () => COMMIT_TIMEOUT_SECONDS,
});
const COMMIT_MERGE_SECONDS_MESSAGE =
  `must be a number of seconds from 0 to ${MAX_COMMIT_MERGE_SECONDS}: the commit merges at most ` +
  `(its ${COMMIT_TIMEOUT_SECONDS} s Lambda timeout - ${MERGE_BUDGET.reserveSeconds} s reserved for the publish) x ` +
  `${MERGE_BUDGET.share} = ${MAX_COMMIT_MERGE_SECONDS} s itself, so a larger value would change nothing`;

const RETENTION_DAYS = new Set<number>(Object.values(RetentionDays).filter((v) => typeof v === 'number'));

/** `{ create: true }` or an import, exactly one; a KMS key only with an import. */
function exactlyOne(importKey: string) {
  return (value: { create?: true | undefined; kmsKeyArn?: string | undefined }, ctx: z.RefinementCtx) => {
    const imported = (value as Record<string, unknown>)[importKey] !== undefined;
    if ((value.create === true) === imported) {
      ctx.addIssue({ code: 'custom', message: `set exactly one of create: true or ${importKey}` });
    } else if (value.create === true && value.kmsKeyArn !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['kmsKeyArn'], message: `only applies with ${importKey}` });
    }
  };
}

const kmsKeyArn = z.string().regex(KMS_KEY_ARN, 'must be a KMS key ARN').optional();

const bucketSchema = z
  .object({
    create: z.literal(true).optional(),
    importName: z.string().regex(BUCKET_NAME, 'must be an S3 bucket name').optional(),
    /** The imported bucket's SSE-KMS key, if it has one: the Lambdas need to use it. */
    kmsKeyArn,
  })
  .strict()
  .superRefine(exactlyOne('importName'));

const secretSchema = z
  .object({
    create: z.literal(true).optional(),
    importArn: z.string().regex(SECRET_ARN, 'must be a complete Secrets Manager secret ARN').optional(),
    /** The imported secret's customer-managed KMS key, if it has one. */
    kmsKeyArn,
  })
  .strict()
  .superRefine(exactlyOne('importArn'));

export const stackConfigSchema = z
  .object({
    stackName: z.string().regex(STACK_NAME, 'must be 1-40 letters, digits or dashes, starting with a letter'),
    bucket: bucketSchema,
    prefix: z
      .string()
      .regex(LAKE_PREFIX, 'must be non-empty lower-case key segments (a-z 0-9 . _ -) separated by /')
      .default('paylink'),
    secret: secretSchema,
    baseUrl: z
      .url()
      .refine((u) => u.startsWith('https://'), 'must be an https URL')
      .default(DEFAULTS.baseUrl),
    schedules: schedulesSchema,
    /** Total PayLink requests/second of one run, shared by the concurrent batches. */
    requestRate: z.number().positive().max(LIMITS.maxRequestRate).default(DEFAULTS.rateLimit),
    /** Users in flight per batch; unset: adapts to the batch's rate share and PayLink's latency. */
    userConcurrency: z.number().int().min(1).max(ADAPTIVE_CONCURRENCY.max).optional(),
    batchSize: z.number().int().min(1).max(LIMITS.maxBatchSize).default(DEFAULTS.batchSize),
    /**
     * Users the deployment is sized for (optional). When set, synth fails unless every schedule
     * can load them at `requestRate` before its next run (lambdas/core/capacity.ts).
     */
    expectedUsers: z.number().int().min(0).optional(),
    /**
     * Most seconds of merging (estimated, lambdas/core/merge-fan-out.ts) the commit does in its
     * own invocation; a larger merge goes to a Map of one commit invocation per table partition.
     * Unset: half of what the invocation has left after its publish reserve. 0: always the Map.
     * At most MAX_COMMIT_MERGE_SECONDS, the cap the commit's deadline sets anyway.
     */
    commitMergeSeconds: z
      .number({ error: COMMIT_MERGE_SECONDS_MESSAGE })
      .min(0, COMMIT_MERGE_SECONDS_MESSAGE)
      .max(MAX_COMMIT_MERGE_SECONDS, COMMIT_MERGE_SECONDS_MESSAGE)
      .optional(),
    /**
     * Consecutive committed loads in which PayLink answered 404 for a task id learned from webhook
     * events (while it answered other ids) before loads stop fetching it (lambdas/core/task-retirement.ts).
     */
    retireTaskAfterMisses: z
      .number({ error: `must be a whole number of loads from 1 to ${TASK_RETIREMENT.maxRetireAfterMisses}` })
      .int(`must be a whole number of loads from 1 to ${TASK_RETIREMENT.maxRetireAfterMisses}`)
      .min(1, `must be a whole number of loads from 1 to ${TASK_RETIREMENT.maxRetireAfterMisses}`)
      .max(
        TASK_RETIREMENT.maxRetireAfterMisses,
        `must be a whole number of loads from 1 to ${TASK_RETIREMENT.maxRetireAfterMisses}`,
      )
      .default(TASK_RETIREMENT.retireAfterMisses),
    /** Distributed Map MaxConcurrency: load-batch invocations at once. */
    maxConcurrency: z.number().int().min(1).max(10_000).default(STACK_DEFAULTS.maxConcurrency),
    usersList: z
      .object({
        key: z
          .string()
          .max(200)
          .regex(OBJECT_KEY, 'must be a relative object key of letters, digits, . _ - and /'),
      })
      .strict()
      .default({ key: 'users.txt' }),
    alarmEmail: z.email({ message: 'must be an e-mail address' }).optional(),
    toleratedFailurePercentage: z.number().min(0).max(100).default(0),
    logRetentionDays: z
      .number()
      .refine(
        (d) => RETENTION_DAYS.has(d),
        'must be a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, ...)',
      )
      .default(90),
    tracing: z.boolean().default(true),
    /** The Lambdas' log level (Powertools Logger). */
    logLevel: z
      .unknown()
      .optional()
      .transform((raw, ctx): LogLevel => {
        if (raw === undefined) return 'INFO';
        const level = parseLogLevel(raw);
        // Names the value (a level is no secret), unlike the schema's "Invalid option".
        if (level === undefined) ctx.addIssue({ code: 'custom', message: badLogLevel(raw) });
        return level ?? 'INFO';
      }),
    /** Data-quality alarms (lambdas/core/quality.ts defines each signal; docs/operations.md). */
    dataQuality: dataQualitySchema,
    webhooks: z
      .object({
        /**
         * The receiver's reserved concurrency: the most executions it may run at once, and (AWS
         * documents 10 requests/s per unit for a Function URL) its request-rate ceiling.
         */
        reservedConcurrency: z
          .number({ error: 'must be a whole number from 1 to 1000' })
          .int('must be a whole number from 1 to 1000')
          .min(1, 'must be a whole number from 1 to 1000')
          .max(1000, 'must be a whole number from 1 to 1000')
          .default(WEBHOOK_DEFAULTS.reservedConcurrency),
      })
      .strict()
      .prefault({}),
    athena: z
      .object({
        database: z
          .string()
          .regex(GLUE_DATABASE, 'must be a lower-case Glue database name')
          .default('paylink'),
        workgroup: z.string().regex(WORKGROUP, 'must be 1-128 letters, digits, . _ or -').default('paylink'),
      })
      .strict()
      .default({ database: 'paylink', workgroup: 'paylink' }),
    /** Resource overrides handed to the Lambdas (same shape as the CLI's --config file). */
    loaderConfig: configFileSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    // The checks across schedules: the CLI's --stack-config runs the same function.
    const issues = scheduleListIssues(config.schedules, {
      stackName: config.stackName,
      knownResources: knownResourcesOf(Object.keys(config.loaderConfig?.resources ?? {})),
    });
    for (const issue of issues)
      ctx.addIssue({ code: 'custom', path: ['schedules', ...issue.path], message: issue.message });
    if (config.loaderConfig && JSON.stringify(config.loaderConfig).length > MAX_LOADER_CONFIG_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['loaderConfig'],
        message: `must serialize to at most ${MAX_LOADER_CONFIG_BYTES} bytes (Lambda environment limit)`,
      });
    }
  });

type RawConfig = z.output<typeof stackConfigSchema>;

export type BucketSource =
  | { readonly kind: 'create' }
  | { readonly kind: 'import'; readonly name: string; readonly kmsKeyArn?: string };
export type SecretSource =
  | { readonly kind: 'create' }
  | { readonly kind: 'import'; readonly arn: string; readonly kmsKeyArn?: string };
export type ScheduleConfig = RawConfig['schedules'][number];

export type StackConfig = Omit<RawConfig, 'bucket' | 'secret'> & {
  readonly bucket: BucketSource;
  readonly secret: SecretSource;
};

/** Validates a config object (as found in the context) into the stack's typed config. */
export function parseStackConfig(input: unknown): StackConfig {
  const withDefaults =
    input !== null && typeof input === 'object' && !Array.isArray(input)
      ? { stackName: DEFAULT_STACK_NAME, bucket: { create: true }, secret: { create: true }, ...input }
      : input;
  // One line with the accepted range and the value (no strings: ARNs, e-mail addresses); an
  // unknown key named itself with the nearest known one, in the words status and load use for
  // the same cdk.json (core/config.ts parseOrThrow, one function for both).
  const { bucket, secret, ...rest } = parseOrThrow(stackConfigSchema, withDefaults, CONTEXT_KEY);
  const kms = (arn: string | undefined) => (arn === undefined ? {} : { kmsKeyArn: arn });
  return {
    ...rest,
    bucket: bucket.importName
      ? { kind: 'import', name: bucket.importName, ...kms(bucket.kmsKeyArn) }
      : { kind: 'create' },
    secret: secret.importArn
      ? { kind: 'import', arn: secret.importArn, ...kms(secret.kmsKeyArn) }
      : { kind: 'create' },
  };
}

/** Reads `paylink` from the CDK context; the CLI's `-c paylink=...` arrives as a JSON string. */
export function readStackConfig(scope: Construct): StackConfig {
  const raw: unknown = scope.node.tryGetContext(CONTEXT_KEY);
  if (raw === undefined)
    throw new ConfigError(CONTEXT_KEY, 'missing: set context.paylink in cdk.json (docs/deploy.md)');
  if (typeof raw !== 'string') return parseStackConfig(raw);
  try {
    return parseStackConfig(JSON.parse(raw));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(CONTEXT_KEY, 'is not valid JSON');
  }
}
