/**
 * The CLI reads the stack's cdk.json with synth's own schemas (core/quality-config.ts,
 * core/schedule-config.ts): a schedule synth refuses is refused by `status` too, in the same words.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStackQualityConfig } from '#cli/stack-config.ts';
import { ConfigError } from '#core/errors.ts';
import { parseStackConfig } from '#infra/config.ts';
import '#test/helpers/test-tmpdir.ts';

async function cliError(schedules: unknown[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stack-config-'));
  const file = join(dir, 'cdk.json');
  await writeFile(file, JSON.stringify({ context: { paylink: { stackName: 'Lake', schedules } } }));
  const error = await readStackQualityConfig(dir, file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
}

function synthError(schedules: unknown[]): string {
  try {
    parseStackConfig({ schedules });
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('synth accepted the schedules');
}

describe('the stack config as the CLI reads it', () => {
  it.each([
    ['a name that is not kebab-case', { name: 'Daily', expression: 'rate(1 day)' }, 'name'],
    [
      'an unknown time zone',
      { name: 'daily', expression: 'rate(1 day)', timezone: 'Mars/Olympus' },
      'timezone',
    ],
    [
      'a users selection synth does not know',
      { name: 'daily', expression: 'rate(1 day)', users: 'some' },
      'users',
    ],
    ['an expression Scheduler refuses', { name: 'daily', expression: 'rate(0 days)' }, 'expression'],
  ])('refuses a schedule with %s as synth does, naming the key', async (_what, schedule, key) => {
    const synth = synthError([schedule]);
    const cli = await cliError([schedule]);
    // synth: `paylink.schedules.0.<key>: <words>`; the CLI: `... context.paylink.schedules[0].<key>: <words>`.
    const words = synth.slice(synth.indexOf(': ') + 2);
    expect(synth).toContain(`schedules.0.${key}`);
    expect(cli).toContain(`context.paylink.schedules[0].${key}: ${words}`);
  });

  it('refuses an unknown key in a schedule, naming the nearest known one', async () => {
    expect(await cliError([{ name: 'daily', expression: 'rate(1 day)', expresion: 'x' }])).toContain(
      'context.paylink.schedules[0].expresion: unknown key (did you mean "expression"?)',
    );
  });

  it('reads the run windows of schedules synth accepts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stack-config-'));
    const file = join(dir, 'cdk.json');
    const schedules = [
      { name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 24, timezone: 'Europe/London' },
      { name: 'quarter-hourly', expression: 'rate(15 minutes)', users: 'changed' },
    ];
    parseStackConfig({ schedules });
    await writeFile(file, JSON.stringify({ context: { paylink: { stackName: 'Lake', schedules } } }));
    const config = await readStackQualityConfig(dir, file);
    expect(Object.keys(config!.runWindows)).toEqual(['daily', 'quarter-hourly']);
  });
});

async function cliErrorFor(paylink: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stack-config-'));
  const file = join(dir, 'cdk.json');
  await writeFile(file, JSON.stringify({ context: { paylink: { stackName: 'Lake', ...paylink } } }));
  const error = await readStackQualityConfig(dir, file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
}

function synthErrorFor(paylink: Record<string, unknown>): string {
  try {
    parseStackConfig(paylink);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('synth accepted the config');
}

const DAILY = { name: 'daily', expression: 'rate(1 day)' };

describe('one schema: the CLI refuses what synth refuses, in the same one line', () => {
  it.each([
    [
      'dataQuality: null',
      { schedules: [DAILY], dataQuality: null },
      'dataQuality: must be an object ({...}) (got null)',
    ],
    ['schedules: null', { schedules: null }, 'schedules: must be a list ([...]) (got null)'],
    [
      'trailingLoads: 0',
      { schedules: [DAILY], dataQuality: { trailingLoads: 0 } },
      'dataQuality.trailingLoads: must be a whole number from 1 to 50 (got 0)',
    ],
    [
      'minTrailingLoads above trailingLoads',
      { schedules: [DAILY], dataQuality: { trailingLoads: 7, minTrailingLoads: 9 } },
      'dataQuality.minTrailingLoads: must be a whole number from 1 to trailingLoads (7, the earlier loads the median is taken over) (got 9)',
    ],
    [
      'minExpectedRows: null',
      { schedules: [DAILY], dataQuality: { minExpectedRows: null } },
      'dataQuality.minExpectedRows: must be a whole number from 0 to 1000000000 (got null)',
    ],
    [
      'a schedule named local',
      { schedules: [{ name: 'local', expression: 'rate(1 day)' }] },
      "schedules.0.name: must not be 'local': it is the schedule paylink-loader load records its loads under",
    ],
    [
      'expectedPeriodHours: 0',
      { schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 0 }] },
      'schedules.0.expectedPeriodHours: must be a number above 0 (got 0)',
    ],
    [
      'a 6-field cron without ?',
      { schedules: [{ name: 'daily', expression: 'cron(0 3 * * * *)', expectedPeriodHours: 24 }] },
      'schedules.0.expression: must have ? in day-of-month or day-of-week (EventBridge Scheduler cron: cron(0 3 * * ? *))',
    ],
    [
      'a 5-field cron',
      { schedules: [{ name: 'daily', expression: 'cron(0 3 * * ?)', expectedPeriodHours: 24 }] },
      'schedules.0.expression: must be cron(<6 fields>): minutes hours day-of-month month day-of-week year (it has 5)',
    ],
    // The checks across schedules (core/schedule-config.ts scheduleListIssues): synth's own function.
    [
      'expectedPeriodHours on a rate() schedule',
      { schedules: [{ name: 'hourly', expression: 'rate(1 hour)', expectedPeriodHours: 24 }] },
      'schedules.0.expectedPeriodHours: only applies to cron(); rate() periods are derived',
    ],
    ['the same schedule twice', { schedules: [DAILY, DAILY] }, 'schedules.1.name: duplicate name'],
    [
      'a cron period over 3.5 days',
      { schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 200 }] },
      'schedules.0.expectedPeriodHours: period must be at most 3.5 days (the staleness alarm watches 2 periods, CloudWatch allows 7 days)',
    ],
    [
      'rate(5 days)',
      { schedules: [{ name: 'slow', expression: 'rate(5 days)' }] },
      'schedules.0.expression: period must be at most 3.5 days (the staleness alarm watches 2 periods, CloudWatch allows 7 days)',
    ],
    [
      'a cron schedule without its period',
      { schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)' }] },
      'schedules.0.expectedPeriodHours: is required for a cron() schedule',
    ],
    [
      'a resource no table is',
      { schedules: [{ name: 'daily', expression: 'rate(1 day)', resources: ['nope'] }] },
      'schedules.0.resources.0: unknown resource; known: ',
    ],
    [
      'a name too long with the stack name',
      { stackName: 'Lake', schedules: [{ name: `d${'a'.repeat(60)}`, expression: 'rate(1 day)' }] },
      'schedules.0.name: with the stack name must fit 64 chars',
    ],
  ])('%s', async (_what, paylink, words) => {
    const synth = synthErrorFor(paylink);
    // synth: `paylink.<key>: <words>`; the CLI: `--stack-config <file>: context.paylink.<key, [i]>: <words>`.
    expect(synth.startsWith(`paylink.${words}`)).toBe(true);
    const [key, ...rest] = words.split(': ');
    const cliKey = key!.replace(/\.(\d+)(\.|$)/, '[$1]$2');
    expect(await cliErrorFor(paylink)).toContain(`context.paylink.${cliKey}: ${rest.join(': ')}`);
    expect(synth).not.toContain('\n');
  });
});

describe('synth config errors name the key, the value and the accepted range', () => {
  it.each([
    [{ requestRate: 0 }, 'paylink.requestRate: must be a number above 0 and at most 10000 (got 0)'],
    [{ userConcurrency: 513 }, 'paylink.userConcurrency: must be a whole number from 1 to 512 (got 513)'],
    [{ userConcurrency: 1.5 }, 'paylink.userConcurrency: must be a whole number from 1 to 512 (got 1.5)'],
    [{ batchSize: null }, 'paylink.batchSize: must be a whole number from 1 to 100000 (got null)'],
    [
      { commitMergeSeconds: 391 },
      'paylink.commitMergeSeconds: must be a number of seconds from 0 to 390: the commit merges at most (its 900 s Lambda timeout - 120 s reserved for the publish) x 0.5 = 390 s itself, so a larger value would change nothing (got 391)',
    ],
    [{ expectedUsers: -1 }, 'paylink.expectedUsers: must be a whole number, 0 or more (got -1)'],
    [{ tracing: 'yes' }, 'paylink.tracing: must be true or false (got a string)'],
  ])('%j', (extra, message) => {
    expect(synthErrorFor({ schedules: [DAILY], ...extra })).toBe(message);
  });
});
