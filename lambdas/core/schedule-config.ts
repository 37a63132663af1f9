/**
 * One schedule of the stack's config (cdk.json `context.paylink.schedules[i]`): one schema for
 * `cdk synth` (infra/config.ts, which adds the checks across schedules) and `paylink-loader
 * status`/`load` (cli/stack-config.ts, which must not load aws-cdk-lib), so both accept and
 * refuse the same schedules in the same words.
 */
import { z } from 'zod';
import { parseScheduleExpression } from './schedule-expression.ts';

const KEBAB = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

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
    name: z.string().regex(KEBAB, 'must be kebab-case: a-z, 0-9 and single dashes, starting with a letter'),
    expression: z
      .string()
      .refine(
        (e) => parseScheduleExpression(e) !== undefined,
        'must be rate(<n> <unit>) or cron(<6 fields>)',
      ),
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
  })
  .strict();

export type ScheduleConfig = z.output<typeof scheduleSchema>;
