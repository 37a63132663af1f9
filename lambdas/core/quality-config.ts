/**
 * The stack's data-quality settings (cdk.json `context.paylink.dataQuality`): one schema for
 * `cdk synth` (infra/config.ts) and `paylink-loader status --stack-config`, so the local
 * judgement takes the values, defaults and ranges the deployed alarms were built with.
 */
import { z } from 'zod';
import {
  MAX_TRAILING_LOADS,
  MAX_USERS_FOR_FAILED_SHARE,
  MIN_EXPECTED_ROWS,
  MIN_USERS_FOR_FAILED_SHARE,
  QUALITY_DEFAULTS,
} from './quality.ts';

/**
 * The most rows a table may be expected to have before it is judged: a bound on typos (a
 * 20-digit value), far above any load's rows.
 */
export const MAX_EXPECTED_ROWS = 1_000_000_000;

const MAX_USERS_FOR_FAILED_SHARE_WORDS = MAX_USERS_FOR_FAILED_SHARE.toLocaleString('en-US');

/** Data-quality alarms (lambdas/core/quality.ts defines each signal; docs/operations.md). */
export const dataQualitySchema = z
  .object({
    /** Alarm when a load's failed users exceed this share of its users (percent). */
    failedUserSharePercent: z
      // The alarm fires above the threshold: at 100 it never could.
      .number({ error: 'must be a percentage from 0 to below 100' })
      .min(0, 'must be a percentage from 0 to below 100')
      .lt(100, 'must be a percentage from 0 to below 100')
      .default(QUALITY_DEFAULTS.failedUserSharePercent),
    /** A load of fewer users has its failed-user share neither flagged nor written as the metric. */
    minUsersForFailedShare: z
      .number({ error: `must be a whole number from 1 to ${MAX_USERS_FOR_FAILED_SHARE_WORDS}` })
      .int(`must be a whole number from 1 to ${MAX_USERS_FOR_FAILED_SHARE_WORDS}`)
      .min(1, `must be a whole number from 1 to ${MAX_USERS_FOR_FAILED_SHARE_WORDS}`)
      // A bound on typos: a share judged only from a million users is a share never judged.
      .max(MAX_USERS_FOR_FAILED_SHARE, `must be a whole number from 1 to ${MAX_USERS_FOR_FAILED_SHARE_WORDS}`)
      .default(MIN_USERS_FOR_FAILED_SHARE),
    /** The failed-user share alarm (false: off; the metric is still written). */
    failedUserShare: z.boolean({ error: 'must be true or false' }).default(true),
    /** Alarm when a table's rows fall below this fraction of its trailing median. */
    quietFeedFraction: z
      .number({ error: 'must be a number above 0 and at most 1' })
      .gt(0, 'must be a number above 0 and at most 1')
      .max(1, 'must be a number above 0 and at most 1')
      .default(QUALITY_DEFAULTS.quietFraction),
    /** The quiet-feed alarms, QuietFeed and TrailingLoadsUnreadable (false: off; metrics still written). */
    quietFeed: z.boolean({ error: 'must be true or false' }).default(true),
    /** Committed loads of the same schedule the trailing median is taken over. */
    trailingLoads: z
      .number({ error: `must be a whole number from 1 to ${MAX_TRAILING_LOADS}` })
      .int(`must be a whole number from 1 to ${MAX_TRAILING_LOADS}`)
      .min(1, `must be a whole number from 1 to ${MAX_TRAILING_LOADS}`)
      .max(MAX_TRAILING_LOADS, `must be a whole number from 1 to ${MAX_TRAILING_LOADS}`)
      .default(QUALITY_DEFAULTS.trailingLoads),
    /** No quiet-feed judgement before this many earlier loads. */
    minTrailingLoads: z
      .number({ error: 'must be a whole number from 1 to trailingLoads' })
      .int('must be a whole number from 1 to trailingLoads')
      .min(1, 'must be a whole number from 1 to trailingLoads')
      .default(QUALITY_DEFAULTS.minTrailingLoads),
    /** A table is judged only when at least this many rows were expected of the load. */
    minExpectedRows: z
      .number({ error: `must be a whole number from 0 to ${MAX_EXPECTED_ROWS}` })
      .int(`must be a whole number from 0 to ${MAX_EXPECTED_ROWS}`)
      .min(0, `must be a whole number from 0 to ${MAX_EXPECTED_ROWS}`)
      .max(MAX_EXPECTED_ROWS, `must be a whole number from 0 to ${MAX_EXPECTED_ROWS}`)
      .default(MIN_EXPECTED_ROWS),
    /** Alarm when a load disables a resource (endpoint finding). */
    endpointUnavailable: z.boolean({ error: 'must be true or false' }).default(true),
    /** Alarm when a run commits later than its schedule's run deadline after its slot. */
    runOutsideWindow: z.boolean({ error: 'must be true or false' }).default(true),
  })
  .strict()
  .superRefine((q, ctx) => {
    // A rule across two keys has no input of its own in the issue: the value goes in the words.
    if (q.minTrailingLoads > q.trailingLoads)
      ctx.addIssue({
        code: 'custom',
        message: `must be a whole number from 1 to trailingLoads (${q.trailingLoads}, the earlier loads the median is taken over) (got ${q.minTrailingLoads})`,
        path: ['minTrailingLoads'],
      });
  })
  .prefault({});

export type DataQualityConfig = z.output<typeof dataQualitySchema>;
