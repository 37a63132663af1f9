/**
 * Defaults and limits of the deployed stack, in one documented place. Values the operator may
 * change live in the `paylink` context (infra/config.ts); these are properties of the design.
 */
import { STACK_DEFAULTS } from '#core/capacity.ts';

import { DEFAULT_STACK_NAME, MAX_ALARM_WINDOW_SECONDS } from '#core/schedule-config.ts';

// Shared with the CLI's --stack-config checks (core/schedule-config.ts scheduleListIssues).
export { DEFAULT_STACK_NAME, MAX_ALARM_WINDOW_SECONDS };

/** CDK context key holding the stack config (cdk.json `context.paylink`). */
export const CONTEXT_KEY = 'paylink';

/**
 * The users list sits in the lake bucket under this fixed prefix at the bucket root, outside
 * the lake prefix: never under a table folder (Athena reads every object there), never touched
 * by staging lifecycle or commit clean-up, and the Lambdas' lake write grant does not cover it.
 */
export const USERS_LIST_PREFIX = '_config/';

/** Lambda sizing. Memory buys CPU too: Parquet encoding in load-batch is CPU-bound. */
export const FUNCTION_DEFAULTS = {
  plan: { memoryMiB: 512, timeoutMinutes: 5 },
  /** Lambda's maximum: a batch stops itself before its deadline with what it has consistent. */
  loadBatch: { memoryMiB: 2048, timeoutMinutes: 15 },
  /** Moves every staged part of the load and updates Glue: give it the full 15 minutes. */
  commit: { memoryMiB: 1024, timeoutMinutes: 15 },
} as const;

/**
 * The webhook receiver (infra/constructs/webhook-receiver.ts). Atomic sends an event per user
 * change, retried 3 times 30 s apart on any non-200; a store of one small object takes tens of
 * milliseconds, so a few concurrent executions absorb hundreds of events a second, and the cap
 * bounds what a flood of unsigned requests can cost (they get 429 from Lambda beyond it, and
 * Atomic's own retries cover a throttled real event).
 */
export const WEBHOOK_DEFAULTS = {
  memoryMiB: 256,
  timeoutSeconds: 10,
  /**
   * Reserved concurrency (cdk.json `webhooks.reservedConcurrency`): the most executions the
   * receiver can ever run at once, and, at 10 requests/s per unit for a Function URL (AWS Lambda
   * docs, "Function URL throttling"), 250 requests/s: a 200 req/s burst (a replay) passes.
   */
  reservedConcurrency: STACK_DEFAULTS.webhookReservedConcurrency,
  /** Alarm when a request over the 256 KiB body limit arrives (Atomic's would be a change lost). */
  tooLargePer5Minutes: 1,
  /** Alarm when the receiver is throttled this often in 5 minutes (beyond Atomic's 90 s of retries, events are lost). */
  throttlesPer5Minutes: 1,
  /** Alarm when this many requests in 5 minutes carry a signature header that does not verify. */
  badSignaturesPer5Minutes: 1,
  /** Alarm when this many unsigned requests arrive in 5 minutes (scanners send a few; a flood is news). */
  unsignedPer5Minutes: 100,
  /**
   * Alarm when this many correctly signed requests in 5 minutes are refused for their content
   * (`malformed`, `bad-identifier`, `bad-task-id`): Atomic sent them, so each is a change lost after its retries,
   * and a format change at Atomic would stop incremental loading without any other sign.
   */
  refusedSignedPer5Minutes: 1,
} as const;

/**
 * The run guard waits this long before it lists running executions. ListExecutions is
 * eventually consistent (AWS API reference); after the wait an execution that started before
 * ours is visible to us, so the oldest running execution wins and every later one fails fast.
 */
export const GUARD_SETTLE_SECONDS = 10;

/** Error names (LoaderError subclasses, lambdas/core/errors.ts) that a retry cannot fix. */
export const NON_RETRYABLE_ERRORS = [
  'ConfigError',
  'CredentialsError',
  'ApiKeyRejectedError',
  'LakeStateError',
  // Another execution writes this load id, or took it over: retrying cannot change that.
  'LeaseHeldError',
  'LeaseLostError',
  // A redriven run found another run of its schedule going (lambdas/core/run-guard.ts).
  'RunInProgressError',
] as const;

/** Lambda service errors worth retrying (AWS Step Functions docs, "Handle transient Lambda service exceptions"). */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
] as const;

export const RETRY = {
  /** Lambda service hiccups: fast, many. */
  service: { intervalSeconds: 2, maxAttempts: 6, backoffRate: 2 },
  /** A handler that failed (throttled API, S3 blip): slower, few; batches are idempotent. */
  task: { intervalSeconds: 30, maxAttempts: 2, backoffRate: 2 },
} as const;

/** EventBridge Scheduler delivery: retry StartExecution for up to an hour, then the DLQ. */
export const SCHEDULER_RETRY = { attempts: 20, maxEventAgeHours: 1 } as const;

/**
 * Step Functions can redrive a failed, aborted or timed-out execution for 14 days after it
 * ended (RedriveExecution, AWS Step Functions API reference).
 */
export const REDRIVE_WINDOW_DAYS = 14;

/**
 * Longest a run can last, in whole days: a schedule's period is at most 3.5 days (half the
 * 7-day alarm window, config.ts) and a run may take RUN_DEADLINE_FRACTION of it (3.15 days).
 */
export const MAX_RUN_DAYS = Math.ceil(
  (MAX_ALARM_WINDOW_SECONDS / 2 / 86_400) * STACK_DEFAULTS.runDeadlineFraction,
);

/**
 * Staging must outlive any redrive: a redriven run re-reads its plan, batch lists and the
 * manifests of batches that had succeeded, all written when the run started. So: the longest
 * run, then the 14-day redrive window, plus one day because S3 rounds an expiry to the next
 * midnight UTC and removes objects asynchronously (Lifecycle "Expiring objects"). 19 days.
 * A committed load removes its staging itself; only failed runs wait for this.
 */
export const STAGING_EXPIRY_DAYS = MAX_RUN_DAYS + REDRIVE_WINDOW_DAYS + 1;
export const NONCURRENT_VERSION_EXPIRY_DAYS = 30;
export const ABORT_MULTIPART_DAYS = 1;
export const ACCESS_LOG_EXPIRY_DAYS = 365;
export const ATHENA_RESULTS_EXPIRY_DAYS = 30;
export const DLQ_RETENTION_DAYS = 14;
