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
