/**
 * One schedule of the stack's config (cdk.json `context.paylink.schedules[i]`): one schema for
 * `cdk synth` (infra/config.ts, which adds the checks across schedules) and `paylink-loader
 * status`/`load` (cli/stack-config.ts, which must not load aws-cdk-lib), so both accept and
 * refuse the same schedules in the same words.
 */
import { z } from 'zod';
import { MAX_USERS_PER_RUN } from './capacity.ts';
import { scheduleExpressionProblem } from './schedule-expression.ts';

/** The words of `maxUsersPerRun`'s range, for synth and the CLI's `--max-users-per-run`. */
export const MAX_USERS_PER_RUN_WORDS = `must be a whole number of users from 1 to ${MAX_USERS_PER_RUN}`;

const KEBAB = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/**
 * The schedule `paylink-loader load` records its loads under: a deployed schedule of that name
 * would share its trailing loads, its quality judgement and its `changed` lock with local loads.
 */
export const LOCAL_SCHEDULE = 'local';

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const scheduleSchema = z
  .object({
    name: z
      .string()
      .regex(KEBAB, 'must be kebab-case: a-z, 0-9 and single dashes, starting with a letter')
      .refine(
        (n) => n !== LOCAL_SCHEDULE,
        `must not be '${LOCAL_SCHEDULE}': it is the schedule paylink-loader load records its loads under`,
      ),
    expression: z.string().superRefine((e, ctx) => {
      const problem = scheduleExpressionProblem(e);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    }),
    timezone: z.string().refine(isTimeZone, 'must be an IANA time zone such as Europe/London').optional(),
    resources: z.array(z.string()).min(1).optional(),
    /**
     * `all`: every user of the users list and of the registry learned from webhooks; `changed`:
     * only users with webhook events since the schedule's last committed load (keep an `all`
     * schedule, e.g. weekly, as the safety net for events that never came).
     */
    users: z.enum(['all', 'changed'], { message: "must be 'all' or 'changed'" }).default('all'),
    /** Expected time between runs of a cron schedule: drives the "no successful load" alarm. */
    expectedPeriodHours: z.number().positive().optional(),
    /**
     * A `changed` schedule: most users one run loads. Default: what the run can afford
     * (core/capacity.ts `changedRunCap`: its deadline, the rate and the measured requests per user,
     * at CHANGED_RUN_SAFETY). Users over it wait for the next run, oldest pending event first.
     */
    maxUsersPerRun: z
      .number({ error: MAX_USERS_PER_RUN_WORDS })
      .int(MAX_USERS_PER_RUN_WORDS)
      .min(1, MAX_USERS_PER_RUN_WORDS)
      .max(MAX_USERS_PER_RUN, MAX_USERS_PER_RUN_WORDS)
      .optional(),
  })
  .strict()
  .superRefine((schedule, ctx) => {
    if (schedule.maxUsersPerRun !== undefined && schedule.users !== 'changed')
      ctx.addIssue({
        code: 'custom',
        path: ['maxUsersPerRun'],
        message: "only applies to a 'changed' schedule (users: \"changed\"); an 'all' run loads every user",
      });
  });

export type ScheduleConfig = z.output<typeof scheduleSchema>;
