/**
 * A cron schedule's stated expectedPeriodHours against the runs its cron makes (croner,
 * cron-period.ts), refused by synth and `status --stack-config` in the same words.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cronGaps, expectedPeriodProblem, scheduleGaps } from '#core/cron-period.ts';
import { scheduleListIssues, scheduleListWarnings, schedulesSchema } from '#core/schedule-config.ts';
import { parseScheduleExpression } from '#core/schedule-expression.ts';
import { parseStackConfig } from '#infra/config.ts';
import { exampleConfig } from '#test/infra/app-fixture.ts';

const context = { stackName: 'Lake', knownResources: new Set<string>() };
const issuesOf = (schedule: Record<string, unknown>) =>
  scheduleListIssues(schedulesSchema.parse([schedule]), context).map(
    (i) => `${i.path.join('.')}: ${i.message}`,
  );

describe('expectedPeriodHours of a cron schedule', () => {
  it('is refused far below the gap between runs: 0.01 h for a daily cron', () => {
    expect(issuesOf({ name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 0.01 })).toEqual([
      "0.expectedPeriodHours: 0.01 does not fit the cron's runs (24 h apart): must be from 12 to 48 (half the shortest gap to twice the longest)",
    ]);
  });

  it('is refused far above it: 24 h for an hourly cron', () => {
    expect(issuesOf({ name: 'hourly', expression: 'cron(0 * * * ? *)', expectedPeriodHours: 24 })).toEqual([
      "0.expectedPeriodHours: 24 does not fit the cron's runs (1 h apart): must be from 0.5 to 2 (half the shortest gap to twice the longest)",
    ]);
  });

  it('is accepted within half the shortest gap and twice the longest, DST and weekdays included', () => {
    expect(issuesOf({ name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 24 })).toEqual([]);
    // Weekdays only: 24 h apart, 72 h over the weekend.
    const weekdays = cronGaps('cron(0 3 ? * 2-6 *)', undefined);
    expect(weekdays).toEqual({ kind: 'gaps', shortestSeconds: 24 * 3600, longestSeconds: 72 * 3600 });
    // Scheduler's 1-7 is SUN-SAT: `1` is Sunday, a week apart.
    expect(cronGaps('cron(0 3 ? * 1 *)', undefined)).toEqual({
      kind: 'gaps',
      shortestSeconds: 168 * 3600,
      longestSeconds: 168 * 3600,
    });
    // A daily slot in London is 23 h and 25 h from its neighbours across the DST changes.
    expect(cronGaps('cron(0 3 * * ? *)', 'Europe/London')).toEqual({
      kind: 'gaps',
      shortestSeconds: 23 * 3600,
      longestSeconds: 25 * 3600,
    });
  });

  it('is refused by synth in the same words', () => {
    expect(() =>
      parseStackConfig(
        exampleConfig({
          schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 0.01 }],
        }),
      ),
    ).toThrow("schedules.0.expectedPeriodHours: 0.01 does not fit the cron's runs (24 h apart)");
  });

  it('is not checked, with a warning, for a year field or what croner cannot express', () => {
    const schedules = schedulesSchema.parse([
      { name: 'once', expression: 'cron(0 3 * * ? 2027)', expectedPeriodHours: 0.01 },
      { name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 24 },
    ]);
    expect(scheduleListIssues(schedules, context)).toEqual([]);
    expect(scheduleListWarnings(schedules)).toEqual([
      "schedule 'once': expectedPeriodHours 0.01 is not checked against cron(0 3 * * ? 2027): its year field is '2027', not '*'",
    ]);
    expect(cronGaps('cron(0 3 ? * L *)', undefined).kind).toBe('skipped');
  });

  it('property: the gaps of rate() and of simple crons are their known period', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 59 }), (unit, n) => {
        const word = (['minute', 'hour', 'day'] as const)[unit - 1]!;
        const expression = `rate(${n} ${word}${n === 1 ? '' : 's'})`;
        const seconds = n * [60, 3600, 86_400][unit - 1]!;
        expect(scheduleGaps(parseScheduleExpression(expression)!, expression, undefined)).toEqual({
          kind: 'gaps',
          shortestSeconds: seconds,
          longestSeconds: seconds,
        });
      }),
    );
    // Every k hours for k dividing 24, at minute m; every k minutes for k dividing 60; daily at h:m.
    const divisors = (of: number) => Array.from({ length: of }, (_, i) => i + 1).filter((d) => of % d === 0);
    fc.assert(
      fc.property(
        fc.constantFrom(...divisors(24)),
        fc.constantFrom(...divisors(60)),
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 0, max: 23 }),
        (everyHours, everyMinutes, minute, hour) => {
          const same = (seconds: number) => ({
            kind: 'gaps',
            shortestSeconds: seconds,
            longestSeconds: seconds,
          });
          expect(cronGaps(`cron(${minute} 0/${everyHours} * * ? *)`, undefined)).toEqual(
            same(everyHours * 3600),
          );
          expect(cronGaps(`cron(0/${everyMinutes} * * * ? *)`, undefined)).toEqual(same(everyMinutes * 60));
          expect(cronGaps(`cron(${minute} ${hour} * * ? *)`, undefined)).toEqual(same(86_400));
          // The stated period equal to the gap always fits.
          expect(expectedPeriodProblem(same(everyHours * 3600) as never, everyHours)).toBeUndefined();
        },
      ),
      { numRuns: 40 },
    );
  });
});
