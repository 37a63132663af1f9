/**
 * The ranges of the CLI's numeric flags, each the range the stack's config accepts for the same
 * setting (infra/config.ts), so a value `load` takes is one a deployed schedule takes too.
 */
import { ADAPTIVE_CONCURRENCY } from '#core/adaptive-concurrency.ts';
import { MAX_USERS_PER_RUN } from '#core/capacity.ts';
import { LIMITS } from '#core/constants.ts';
import { MAX_ALARM_WINDOW_SECONDS } from '#core/schedule-config.ts';
import type { FlagRange } from './args.ts';

/** Users in flight: synth's userConcurrency. */
export const CONCURRENCY: FlagRange = { min: 1, max: ADAPTIVE_CONCURRENCY.max, whole: true };

/** Requests/second: synth's requestRate. */
export const RATE_LIMIT: FlagRange = {
  min: 0,
  max: LIMITS.maxRequestRate,
  whole: false,
  aboveMin: true,
  words: `a number of requests per second above 0 and at most ${LIMITS.maxRequestRate}`,
};

/** Users per batch: synth's batchSize. */
export const BATCH_SIZE: FlagRange = { min: 1, max: LIMITS.maxBatchSize, whole: true };

/** Users one `changed` load takes at most: synth's schedules[].maxUsersPerRun. */
export const MAX_USERS_PER_RUN_RANGE: FlagRange = {
  min: 1,
  max: MAX_USERS_PER_RUN,
  whole: true,
  words: `a whole number of users from 1 to ${MAX_USERS_PER_RUN}`,
};

/** The longest NoRecentSuccess window a stack can have: CloudWatch's 7 days (two 3.5-day periods). */
const MAX_HOURS_SINCE_LOAD = MAX_ALARM_WINDOW_SECONDS / 3600;

/** `status --max-hours-since-load`: hours since a schedule's newest committed load. */
export const HOURS_SINCE_LOAD: FlagRange = {
  min: 0,
  max: MAX_HOURS_SINCE_LOAD,
  whole: false,
  aboveMin: true,
  words: `a number of hours above 0 and at most ${MAX_HOURS_SINCE_LOAD} (7 days, the longest NoRecentSuccess alarm window)`,
};
