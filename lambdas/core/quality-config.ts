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

/** A whole number from `min` (to `max`), every way of missing it answered in the same `words`. */
function wholeNumber(words: string, min: number, max?: number) {
  const number = z.number({ error: words }).int(words).min(min, words);
  return max === undefined ? number : number.max(max, words);
}

/** Data-quality alarms (lambdas/core/quality.ts defines each signal; docs/operations.md). */
const dataQualityObject = z
  .object({
    /** Alarm when a load's failed users exceed this share of its users (percent). */
    failedUserSharePercent: z
      // The alarm fires above the threshold: at 100 it never could.
      .number({ error: 'must be a percentage from 0 to below 100' })
      .min(0, 'must be a percentage from 0 to below 100')
      .lt(100, 'must be a percentage from 0 to below 100')
      .default(QUALITY_DEFAULTS.failedUserSharePercent),
    /** A load of fewer users has its failed-user share neither flagged nor written as the metric. */
    // The most is a bound on typos: a share judged only from a million users is a share never judged.
    minUsersForFailedShare: wholeNumber(
      `must be a whole number from 1 to ${MAX_USERS_FOR_FAILED_SHARE_WORDS}`,
      1,
      MAX_USERS_FOR_FAILED_SHARE,
    ).default(MIN_USERS_FOR_FAILED_SHARE),
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
    /**
     * Committed loads of the same schedule the trailing median is taken over. Optional here, its
     * default filled in after the check across keys (below), which must know whether the user
     * wrote it: an error names the key the user wrote, never one left to its default.
     */
    trailingLoads: wholeNumber(
      `must be a whole number from 1 to ${MAX_TRAILING_LOADS}`,
      1,
      MAX_TRAILING_LOADS,
    ).optional(),
    /** No quiet-feed judgement before this many earlier loads (optional as trailingLoads, above). */
    minTrailingLoads: wholeNumber('must be a whole number from 1 to trailingLoads', 1).optional(),
    /** A table is judged only when at least this many rows were expected of the load. */
    minExpectedRows: wholeNumber(
      `must be a whole number from 0 to ${MAX_EXPECTED_ROWS}`,
      0,
      MAX_EXPECTED_ROWS,
    ).default(MIN_EXPECTED_ROWS),
    /** Alarm when a load disables a resource (endpoint finding). */
    endpointUnavailable: z.boolean({ error: 'must be true or false' }).default(true),
    /** Alarm when a run commits later than its schedule's run deadline after its slot. */
    runOutsideWindow: z.boolean({ error: 'must be true or false' }).default(true),
  })
  .strict();

export const dataQualitySchema = dataQualityObject
  .superRefine((q, ctx) => {
    const issue = trailingLoadsIssue(q);
    if (issue !== undefined) ctx.addIssue({ code: 'custom', ...issue });
  })
  // The defaults of the two keys the check above needed unfilled; the same object, so the
  // error words of each key (core/config.ts issueWords) still find its range.
  .overwrite((q) => ({
    ...q,
    trailingLoads: q.trailingLoads ?? QUALITY_DEFAULTS.trailingLoads,
    minTrailingLoads: q.minTrailingLoads ?? QUALITY_DEFAULTS.minTrailingLoads,
  }))
  .prefault({}) as unknown as DataQualitySchema;

/**
 * `minTrailingLoads` above `trailingLoads`, named by the key the user wrote (both written: the
 * minimum), with the other's value and whether it is the stack's default: `trailingLoads: 1`
 * alone is refused as `trailingLoads`, below the default `minTrailingLoads` 2, never as a
 * `minTrailingLoads` the file does not have. A rule across two keys has no input of its own in
 * the issue: the value goes in the words. Undefined when the two agree.
 */
export function trailingLoadsIssue(q: {
  readonly trailingLoads?: number | undefined;
  readonly minTrailingLoads?: number | undefined;
}): { readonly path: [string]; readonly message: string } | undefined {
  const trailing = q.trailingLoads ?? QUALITY_DEFAULTS.trailingLoads;
  const min = q.minTrailingLoads ?? QUALITY_DEFAULTS.minTrailingLoads;
  if (min <= trailing) return undefined;
  if (q.minTrailingLoads === undefined)
    return {
      path: ['trailingLoads'],
      message: `must be at least minTrailingLoads, the earlier loads a table is judged from (not set: its default ${min}) (got ${trailing}); to judge from ${trailing === 1 ? '1 load' : `${trailing} loads`}, set minTrailingLoads to ${trailing} too`,
    };
  return {
    path: ['minTrailingLoads'],
    message:
      q.trailingLoads === undefined
        ? `must be a whole number from 1 to trailingLoads (not set: its default ${trailing}, the earlier loads the median is taken over) (got ${min}); set trailingLoads to at least ${min} too`
        : `must be a whole number from 1 to trailingLoads (${trailing}, the earlier loads the median is taken over) (got ${min})`,
  };
}

/** The stack's data-quality settings as parsed: every key filled in, the defaults included. */
export interface DataQualityConfig
  extends Omit<z.output<typeof dataQualityObject>, 'trailingLoads' | 'minTrailingLoads'> {
  readonly trailingLoads: number;
  readonly minTrailingLoads: number;
}

/**
 * The schema's type with its defaults filled in: zod types `overwrite` as the object's own
 * output, where the two keys are optional.
 */
type DataQualitySchema = z.ZodType<DataQualityConfig, z.input<typeof dataQualityObject> | undefined>;
