/**
 * The gaps between consecutive runs of an EventBridge Scheduler cron expression, so the
 * `expectedPeriodHours` a cron schedule states (its run deadline and NoRecentSuccess window,
 * schedule-expression.ts) can be checked against the runs the cron really makes. The runs come
 * from croner (a kept library, pinned), never from an evaluator of our own.
 *
 * Scheduler's cron: 6 fields, minutes hours day-of-month month day-of-week year, `?` in one of the
 * day fields, day-of-week 1-7 = SUN-SAT (croner's `alternativeWeekdays`, Quartz numbering), and
 * `L`, `W`, `#`. Syntax: https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
 * A year other than `*`, or a field croner cannot express as Scheduler means it, is not guessed
 * at: the check is skipped with the reason (`skipped`), which synth and `status` print.
 */
import { Cron } from 'croner';
import type { ScheduleExpression } from './schedule-expression.ts';

/** Runs looked at: the next 400, or those within a year of the anchor, whichever come first. */
export const CRON_RUNS_CHECKED = 400;
const YEAR_MS = 366 * 24 * 3_600_000;
/**
 * Where the runs are counted from: a fixed instant, so synth and status give the same answer on
 * any day (core reads no clock). A year from it spans both DST changes of every time zone.
 */
export const CRON_ANCHOR = new Date('2026-01-01T00:00:00Z');

export type CronGaps =
  | { readonly kind: 'gaps'; readonly shortestSeconds: number; readonly longestSeconds: number }
  | { readonly kind: 'skipped'; readonly reason: string };

/** The largest value of each field croner reads: minutes, hours, day-of-month, month, day-of-week (1-7). */
const FIELD_MAX = [59, 23, 31, 12, 7] as const;

/**
 * Scheduler's `start/step` (`0/15`: from 0, every 15) as croner writes it, `start-max/step`:
 * croner refuses a step after a single number.
 */
function startStep(field: string, max: number): string {
  return field
    .split(',')
    .map((part) => part.replace(/^(\d+)\/(\d+)$/, `$1-${max}/$2`))
    .join(',');
}

/** The fields of `cron(...)`, or undefined for anything else. */
function cronFields(expression: string): string[] | undefined {
  const inner = /^cron\((.+)\)$/.exec(expression)?.[1];
  const fields = inner?.split(' ');
  return fields?.length === 6 ? fields : undefined;
}

/**
 * The shortest and longest gap between consecutive runs of `expression` (a valid cron() of
 * Scheduler's) in `timezone` (undefined: UTC, Scheduler's default), over the runs after `anchor`
 * (CRON_RUNS_CHECKED, or a year's). `skipped` when that cannot be computed faithfully.
 */
export function cronGaps(expression: string, timezone: string | undefined, anchor = CRON_ANCHOR): CronGaps {
  const fields = cronFields(expression);
  if (fields === undefined) return { kind: 'skipped', reason: 'not a cron() expression' };
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (year !== '*') return { kind: 'skipped', reason: `its year field is '${year}', not '*'` };
  // Scheduler's plain `L` in day-of-week is the week's last day; croner reads `L` as a modifier.
  if (dayOfWeek === 'L') return { kind: 'skipped', reason: "'L' alone in day-of-week" };
  let cron: Cron;
  try {
    const pattern = [minutes, hours, dayOfMonth, month, dayOfWeek].map((f, i) => startStep(f, FIELD_MAX[i]!));
    cron = new Cron(pattern.join(' '), {
      mode: '5-part',
      alternativeWeekdays: true,
      timezone: timezone ?? 'UTC',
      paused: true,
    });
  } catch (error) {
    return {
      kind: 'skipped',
      reason: `croner cannot read it (${error instanceof Error ? error.message : String(error)})`,
    };
  }
  const end = anchor.getTime() + YEAR_MS;
  const runs = cron
    .nextRuns(CRON_RUNS_CHECKED + 1, anchor)
    .map((d) => d.getTime())
    .filter((t) => t <= end);
  if (runs.length < 2) return { kind: 'skipped', reason: 'fewer than 2 runs within a year' };
  const gaps = runs.slice(1).map((t, i) => (t - runs[i]!) / 1000);
  return { kind: 'gaps', shortestSeconds: Math.min(...gaps), longestSeconds: Math.max(...gaps) };
}

/** The gaps of a parsed expression: a rate's are its period. */
export function scheduleGaps(
  parsed: ScheduleExpression,
  expression: string,
  timezone: string | undefined,
): CronGaps {
  return parsed.kind === 'rate'
    ? { kind: 'gaps', shortestSeconds: parsed.seconds, longestSeconds: parsed.seconds }
    : cronGaps(expression, timezone);
}

const hours = (seconds: number) => `${Math.round((seconds / 3600) * 1000) / 1000} h`;

/**
 * Why `expectedPeriodHours` does not fit the cron's runs, in a config error's words: outside
 * [0.5 x the shortest gap, 2 x the longest]. Below it every run is outside its window (a run
 * deadline of seconds); above it NoRecentSuccess waits days past a stopped schedule. Undefined
 * when it fits, or when the gaps could not be computed (`cronGaps` skipped: a warning says so).
 */
export function expectedPeriodProblem(gaps: CronGaps, expectedPeriodHours: number): string | undefined {
  if (gaps.kind === 'skipped') return undefined;
  const low = (0.5 * gaps.shortestSeconds) / 3600;
  const high = (2 * gaps.longestSeconds) / 3600;
  if (expectedPeriodHours >= low && expectedPeriodHours <= high) return undefined;
  const apart =
    gaps.shortestSeconds === gaps.longestSeconds
      ? `${hours(gaps.shortestSeconds)} apart`
      : `${hours(gaps.shortestSeconds)} to ${hours(gaps.longestSeconds)} apart`;
  return `${expectedPeriodHours} does not fit the cron's runs (${apart}): must be from ${Math.round(low * 1000) / 1000} to ${Math.round(high * 1000) / 1000} (half the shortest gap to twice the longest)`;
}
