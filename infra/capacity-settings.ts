/**
 * The plan's sizing settings from the stack config (PAYLINK_CAPACITY), and the synth-time check:
 * with `expectedUsers` set, `cdk synth` refuses a schedule that cannot load them before its next
 * run at the configured rate, naming the numbers (the same arithmetic the plan runs at run time).
 */
import { DEFAULT_REQUESTS_PER_USER, planCapacity, STACK_DEFAULTS } from '#core/capacity.ts';
import { ConfigError } from '#core/errors.ts';
import { parseScheduleExpression, runDeadlineSeconds } from '#core/schedule-expression.ts';
import { BATCH_DEADLINE_MARGIN_SECONDS, type CapacitySettings } from '#handlers/contract.ts';
import type { StackConfig } from './config.ts';
import { FUNCTION_DEFAULTS, GUARD_SETTLE_SECONDS } from './constants.ts';
import { MERGE_MAX_CONCURRENCY } from './constructs/load-workflow.ts';

/**
 * Expected commit time less its merge (core STACK_DEFAULTS; the merge is estimated from the
 * load's volume). Its Lambda timeout, 15 min, bounds it, but using that would refuse every
 * schedule shorter than 20 minutes for no measured reason.
 */
export const COMMIT_ESTIMATE_SECONDS = STACK_DEFAULTS.commitSeconds;

/**
 * Requests/second one run may send: `requestRate` is what the whole deployment may send to
 * PayLink (PayLink limits our API key, not a schedule), and the schedules of a stack share one
 * lake and one key but run independently (each has its own run guard: a daily and an hourly run
 * can overlap). So each schedule gets an equal share, which keeps the sum at `requestRate`
 * whenever runs overlap; the plan sizes every run, and synth checks `expectedUsers`, at that
 * share. One schedule (the default) gets the whole rate.
 */
export function scheduleRequestRate(config: Pick<StackConfig, 'requestRate' | 'schedules'>): number {
  return config.requestRate / Math.max(1, config.schedules.length);
}

export function capacitySettings(config: StackConfig): CapacitySettings {
  return {
    requestRate: scheduleRequestRate(config),
    maxConcurrency: config.maxConcurrency,
    maxBatchSize: config.batchSize,
    batchTimeoutSeconds: FUNCTION_DEFAULTS.loadBatch.timeoutMinutes * 60,
    batchMarginSeconds: BATCH_DEADLINE_MARGIN_SECONDS,
    commitSeconds: COMMIT_ESTIMATE_SECONDS,
    commitTimeoutSeconds: FUNCTION_DEFAULTS.commit.timeoutMinutes * 60,
    ...(config.commitMergeSeconds === undefined ? {} : { commitMergeSeconds: config.commitMergeSeconds }),
    mergeConcurrency: MERGE_MAX_CONCURRENCY,
    // The stack always deploys the webhook receiver: its reserved concurrency is never the batches'.
    webhookReservedConcurrency: config.webhooks.reservedConcurrency,
    guardSeconds: GUARD_SETTLE_SECONDS,
    runDeadlineSeconds: Object.fromEntries(
      config.schedules.map((s) => [
        s.name,
        runDeadlineSeconds(parseScheduleExpression(s.expression)!, s.expectedPeriodHours),
      ]),
    ),
    ...(config.schedules.some((s) => s.maxUsersPerRun !== undefined)
      ? {
          maxUsersPerRun: Object.fromEntries(
            config.schedules.flatMap((s) =>
              s.maxUsersPerRun === undefined ? [] : [[s.name, s.maxUsersPerRun]],
            ),
          ),
        }
      : {}),
  };
}

/**
 * Fails synth when one user cannot fit a batch's deadline at the configured rate (always), or
 * when `expectedUsers` cannot be loaded before a schedule's next run (with the numbers).
 */
export function checkCapacity(config: StackConfig, settings: CapacitySettings): void {
  for (const [schedule, deadline] of Object.entries(settings.runDeadlineSeconds)) {
    let plan: ReturnType<typeof planCapacity>;
    try {
      plan = planCapacity({
        users: config.expectedUsers ?? 0,
        requestRate: settings.requestRate,
        maxConcurrency: settings.maxConcurrency,
        maxBatchSize: settings.maxBatchSize,
        requestsPerUser: DEFAULT_REQUESTS_PER_USER,
        batchTimeoutSeconds: settings.batchTimeoutSeconds,
        batchMarginSeconds: settings.batchMarginSeconds,
        runDeadlineSeconds: deadline,
        guardSeconds: settings.guardSeconds,
        commitSeconds: settings.commitSeconds,
        // Before a load measured its volume: the default resources' (core DEFAULT_MERGE_VOLUME).
        ...(settings.commitTimeoutSeconds === undefined
          ? {}
          : { commitTimeoutSeconds: settings.commitTimeoutSeconds }),
        ...(settings.commitMergeSeconds === undefined
          ? {}
          : { commitMergeSeconds: settings.commitMergeSeconds }),
        ...(settings.mergeConcurrency === undefined ? {} : { mergeConcurrency: settings.mergeConcurrency }),
        ...(settings.webhookReservedConcurrency === undefined
          ? {}
          : { webhookReservedConcurrency: settings.webhookReservedConcurrency }),
      });
    } catch (error) {
      if (error instanceof ConfigError)
        throw new ConfigError('paylink.requestRate', error.message.replace(/^[^:]*: /, ''));
      throw error;
    }
    if (config.expectedUsers !== undefined && !plan.fits)
      throw new ConfigError(`paylink.expectedUsers (schedule ${schedule})`, plan.problem!);
  }
}
