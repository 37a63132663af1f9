/**
 * One schedule of the stack's config (cdk.json `context.paylink.schedules[i]`): one schema for
 * `cdk synth` (infra/config.ts, which adds the checks across schedules) and `paylink-loader
 * status`/`load` (cli/stack-config.ts, which must not load aws-cdk-lib), so both accept and
 * refuse the same schedules in the same words.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { MAX_USERS_PER_RUN } from './capacity.ts';
import { cronGaps, expectedPeriodProblem } from './cron-period.ts';
import { PAYLINK_RESOURCES } from './resources.ts';
import {
  parseScheduleExpression,
  scheduleExpressionProblem,
  stalenessWindowSeconds,
} from './schedule-expression.ts';

/** The words of `maxUsersPerRun`'s range, for synth and the CLI's `--max-users-per-run`. */
export const MAX_USERS_PER_RUN_WORDS = `must be a whole number of users from 1 to ${MAX_USERS_PER_RUN}`;

const KEBAB = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/**
 * The schedule `paylink-loader load` records its loads under: a deployed schedule of that name
 * would share its trailing loads, its quality judgement and its `changed` lock with local loads.
 */
export const LOCAL_SCHEDULE = 'local';

/** The prefix of the `changed` schedules of `load --users changed --resources ...` (`localChangedSchedule`). */
export const LOCAL_RESOURCES_SCHEDULE_PREFIX = `${LOCAL_SCHEDULE}-resources-`;

/**
 * The `changed` schedule a CLI `load --users changed` advances: `local` for the command's own
 * resources (`defaults`: every default feed, and `tasks` for the task ids its events name), and
 * for any other `--resources` set a schedule of that set alone, `local-resources-<8 hex of the
 * SHA-256 of the sorted tables joined by commas>`. A schedule records the events its committed
 * loads have seen; a load of fewer resources that advanced `local` would leave the others
 * (`tasks` named by its events, say) unloaded for good, as the next plain changed load would
 * not take those users again. So each set keeps its own record, as each deployed schedule
 * does, and a plain `load --users changed` still loads those users with every resource.
 */
export function localChangedSchedule(
  tables: readonly string[] | undefined,
  defaults: readonly string[],
): string {
  if (tables === undefined) return LOCAL_SCHEDULE;
  const set = [...new Set(tables)].sort();
  const own = [...new Set(defaults)].sort();
  if (set.length === own.length && set.every((t, i) => t === own[i])) return LOCAL_SCHEDULE;
  const digest = createHash('sha256').update(set.join(',')).digest('hex').slice(0, 8);
  return `${LOCAL_RESOURCES_SCHEDULE_PREFIX}${digest}`;
}

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
      )
      .refine(
        (n) => !n.startsWith(LOCAL_RESOURCES_SCHEDULE_PREFIX),
        `must not start with '${LOCAL_RESOURCES_SCHEDULE_PREFIX}': paylink-loader load --users changed --resources ... records what it has seen under such names`,
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

/** A schedule list of the stack's config: at least one schedule, each checked alone. */
export const schedulesSchema = z.array(scheduleSchema).min(1);

/** CloudWatch caps an alarm's period x evaluation periods at 7 days (PutMetricAlarm reference). */
export const MAX_ALARM_WINDOW_SECONDS = 7 * 24 * 3600;

/** The stack's name when the config gives none (infra/config.ts fills it in before parsing). */
export const DEFAULT_STACK_NAME = 'PaylinkLakeLoader';

/** Scheduler names are capped at 64 characters; ours are `<stackName>-<schedule>`. */
const MAX_SCHEDULE_NAME = 64;

/** What the checks across schedules need from the rest of the stack's config. */
export interface ScheduleListContext {
  readonly stackName: string;
  /** Tables a schedule's `resources` may name: PayLink's, and the loaderConfig's own. */
  readonly knownResources: ReadonlySet<string>;
}

/** The tables a schedule may load: PayLink's resources and those a loaderConfig adds. */
export function knownResourcesOf(loaderConfigResources: Iterable<string> = []): Set<string> {
  return new Set([...PAYLINK_RESOURCES.map((r) => r.table), ...loaderConfigResources]);
}

/** A problem `scheduleListIssues` finds: its path under `schedules` (index first), its words. */
export interface ScheduleIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * The checks across schedules and the rest of the config, beyond each schedule's own schema:
 * unique names, names that fit Scheduler with the stack name, known resources, a period for
 * each cron schedule (and none for rate), and periods the NoRecentSuccess alarm can watch. One
 * function for `cdk synth` (infra/config.ts) and the CLI's `--stack-config` (cli/stack-config.ts),
 * so both refuse the same schedules in the same words. Pure.
 */
export function scheduleListIssues(
  schedules: readonly ScheduleConfig[],
  context: ScheduleListContext,
): ScheduleIssue[] {
  const issues: ScheduleIssue[] = [];
  const names = new Set<string>();
  schedules.forEach((schedule, i) => {
    const add = (message: string, ...path: (string | number)[]) =>
      issues.push({ path: [i, ...path], message });
    if (names.has(schedule.name)) add('duplicate name', 'name');
    names.add(schedule.name);
    if (`${context.stackName}-${schedule.name}`.length > MAX_SCHEDULE_NAME)
      add(`with the stack name must fit ${MAX_SCHEDULE_NAME} chars`, 'name');
    schedule.resources?.forEach((resource, j) => {
      if (!context.knownResources.has(resource))
        add(`unknown resource; known: ${[...context.knownResources].sort().join(', ')}`, 'resources', j);
    });
    const parsed = parseScheduleExpression(schedule.expression);
    if (parsed === undefined) return;
    if (parsed.kind === 'cron' && schedule.expectedPeriodHours === undefined) {
      add('is required for a cron() schedule', 'expectedPeriodHours');
    } else if (parsed.kind === 'rate' && schedule.expectedPeriodHours !== undefined) {
      add('only applies to cron(); rate() periods are derived', 'expectedPeriodHours');
    } else if (parsed.kind === 'cron' && !((schedule.expectedPeriodHours ?? 0) > 0)) {
      // Refused by its own schema (must be above 0), whose issue comes first: no window to check.
    } else if (stalenessWindowSeconds(parsed, schedule.expectedPeriodHours) > MAX_ALARM_WINDOW_SECONDS) {
      add(
        'period must be at most 3.5 days (the staleness alarm watches 2 periods, CloudWatch allows 7 days)',
        parsed.kind === 'rate' ? 'expression' : 'expectedPeriodHours',
      );
    } else if (parsed.kind === 'cron') {
      // The stated period against the runs the cron makes: 0.01 h for a daily cron put every run
      // outside its window, 24 h for an hourly one waited 48 h before NoRecentSuccess.
      const problem = expectedPeriodProblem(
        cronGaps(schedule.expression, schedule.timezone),
        schedule.expectedPeriodHours!,
      );
      if (problem !== undefined) add(problem, 'expectedPeriodHours');
    }
  });
  return issues;
}

/**
 * Cron schedules whose `expectedPeriodHours` could not be checked against their runs
 * (cron-period.ts `cronGaps` skipped: a year field, a field croner cannot express as Scheduler
 * means it), one line each: synth warns and `status --stack-config` notes them rather than guess.
 */
export function scheduleListWarnings(schedules: readonly ScheduleConfig[]): string[] {
  return schedules.flatMap((schedule) => {
    if (parseScheduleExpression(schedule.expression)?.kind !== 'cron') return [];
    const gaps = cronGaps(schedule.expression, schedule.timezone);
    return gaps.kind === 'skipped'
      ? [
          `schedule '${schedule.name}': expectedPeriodHours ${schedule.expectedPeriodHours} is not checked against ${schedule.expression}: ${gaps.reason}`,
        ]
      : [];
  });
}
