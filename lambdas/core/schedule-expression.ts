/**
 * EventBridge Scheduler expressions we accept, and the period the "no successful load" alarm
 * derives from them. Pure: used by config validation and by the operations construct.
 * Syntax: https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
 */
import { STACK_DEFAULTS } from './capacity.ts';

const UNIT_SECONDS = { minute: 60, hour: 3600, day: 86_400 } as const;
type Unit = keyof typeof UNIT_SECONDS;

const RATE = /^rate\((\d{1,5}) (minute|minutes|hour|hours|day|days)\)$/;
/** Six fields: minutes hours day-of-month month day-of-week year. */
const CRON = /^cron\(([^()]+)\)$/;
const CRON_FIELD = /^[0-9A-Za-z*?,/#-]+$/;

export type ScheduleExpression =
  | { readonly kind: 'rate'; readonly seconds: number }
  | { readonly kind: 'cron' };

/** Parses a recurring expression; undefined when Scheduler would reject it (or it is one-time `at()`). */
export function parseScheduleExpression(expression: string): ScheduleExpression | undefined {
  return scheduleExpressionProblem(expression) === undefined ? parseValid(expression) : undefined;
}

/**
 * Why Scheduler would refuse the expression, in the words a config error gives; undefined when
 * it is a recurring expression Scheduler accepts.
 */
export function scheduleExpressionProblem(expression: string): string | undefined {
  if (parseValid(expression) !== undefined) return undefined;
  const cron = CRON.exec(expression);
  if (cron !== null) {
    const fields = cron[1]!.split(' ');
    if (fields.length !== 6)
      return `must be cron(<6 fields>): minutes hours day-of-month month day-of-week year (it has ${fields.length})`;
    if (!fields.every((f) => CRON_FIELD.test(f)))
      return 'must be cron(<6 fields>) of digits, letters and * ? , / # - (single spaces between fields)';
    return 'must have ? in day-of-month or day-of-week (EventBridge Scheduler cron: cron(0 3 * * ? *))';
  }
  if (expression.startsWith('rate('))
    return 'must be rate(<n> <unit>): n from 1, unit minute(s), hour(s) or day(s), singular only for 1 (rate(1 day), rate(2 days))';
  return 'must be rate(<n> <unit>) or cron(<6 fields>)';
}

function parseValid(expression: string): ScheduleExpression | undefined {
  const rate = RATE.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unitWord = rate[2]!;
    // Scheduler wants the singular for 1 and the plural otherwise: rate(1 day), rate(2 days).
    if (value < 1 || (value === 1) !== !unitWord.endsWith('s')) return undefined;
    const unit = unitWord.replace(/s$/, '') as Unit;
    return { kind: 'rate', seconds: value * UNIT_SECONDS[unit] };
  }
  const cron = CRON.exec(expression);
  if (cron) {
    const fields = cron[1]!.split(' ');
    if (fields.length !== 6 || !fields.every((f) => CRON_FIELD.test(f))) return undefined;
    // Scheduler requires `?` in one of day-of-month / day-of-week.
    if (fields[2] !== '?' && fields[4] !== '?') return undefined;
    return { kind: 'cron' };
  }
  return undefined;
}

/**
 * A schedule's period in seconds: a rate's own, a cron's as the config states it
 * (`expectedPeriodHours`: it cannot be derived from a cron expression).
 */
export function schedulePeriodSeconds(expression: ScheduleExpression, expectedPeriodHours?: number): number {
  const period = expression.kind === 'rate' ? expression.seconds : (expectedPeriodHours ?? Number.NaN) * 3600;
  if (!Number.isFinite(period) || period <= 0)
    throw new RangeError('a cron schedule needs expectedPeriodHours');
  return period;
}

/**
 * Window of the staleness alarm: twice the schedule's period, rounded up to whole minutes
 * (CloudWatch periods are multiples of 60 s).
 */
export function stalenessWindowSeconds(expression: ScheduleExpression, expectedPeriodHours?: number): number {
  return Math.ceil((2 * schedulePeriodSeconds(expression, expectedPeriodHours)) / 60) * 60;
}

/** Share of a schedule's period one run may take: the rest keeps it clear of the next slot. */
export const RUN_DEADLINE_FRACTION = STACK_DEFAULTS.runDeadlineFraction;

/**
 * Time one run of a schedule may take, in whole seconds: the state machine's timeout and the
 * deadline the plan sizes the run against (lambdas/core/capacity.ts).
 */
export function runDeadlineSeconds(expression: ScheduleExpression, expectedPeriodHours?: number): number {
  return Math.floor(schedulePeriodSeconds(expression, expectedPeriodHours) * RUN_DEADLINE_FRACTION);
}
