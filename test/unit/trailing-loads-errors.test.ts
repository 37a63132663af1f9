/**
 * The one rule across two data-quality settings (minTrailingLoads at most trailingLoads) is
 * refused under the key the user wrote, with the other key's value and whether that value is the
 * stack's default: `trailingLoads: 1` alone is no error about a `minTrailingLoads` the file does
 * not have. The same for synth, `status --stack-config`, and `status`'s flags over a cdk.json.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseQualityFlags } from '#cli/quality-report.ts';
import { readStackQualityConfig, type StackQualityConfig, type StackQualityKey } from '#cli/stack-config.ts';
import { ConfigError } from '#core/errors.ts';
import { dataQualitySchema } from '#core/quality-config.ts';
import { parseStackConfig } from '#infra/config.ts';
import '#test/helpers/test-tmpdir.ts';

const DAILY = { name: 'daily', expression: 'rate(1 day)' };

function synthError(dataQuality: Record<string, unknown>): string {
  try {
    parseStackConfig({ schedules: [DAILY], dataQuality });
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('synth accepted the config');
}

async function cliError(dataQuality: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'trailing-loads-'));
  const file = join(dir, 'cdk.json');
  await writeFile(file, JSON.stringify({ context: { paylink: { schedules: [DAILY], dataQuality } } }));
  const error = await readStackQualityConfig(dir, file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
}

describe('cdk.json dataQuality: trailingLoads and minTrailingLoads', () => {
  it('trailingLoads: 1 alone names trailingLoads and the default minTrailingLoads it is below', async () => {
    const synth = synthError({ trailingLoads: 1 });
    expect(synth).toBe(
      'paylink.dataQuality.trailingLoads: must be at least minTrailingLoads, the earlier loads a table is judged from (not set: its default 2) (got 1); to judge from 1 load, set minTrailingLoads to 1 too',
    );
    expect(await cliError({ trailingLoads: 1 })).toContain(synth.slice('paylink.'.length));
  });

  it('minTrailingLoads alone above the default trailingLoads says that trailingLoads is the default', async () => {
    const synth = synthError({ minTrailingLoads: 9 });
    expect(synth).toBe(
      'paylink.dataQuality.minTrailingLoads: must be a whole number from 1 to trailingLoads (not set: its default 7, the earlier loads the median is taken over) (got 9); set trailingLoads to at least 9 too',
    );
    expect(await cliError({ minTrailingLoads: 9 })).toContain(synth.slice('paylink.'.length));
  });

  it('both written: the minimum is named with the trailingLoads the user gave', () => {
    expect(synthError({ trailingLoads: 3, minTrailingLoads: 4 })).toBe(
      'paylink.dataQuality.minTrailingLoads: must be a whole number from 1 to trailingLoads (3, the earlier loads the median is taken over) (got 4)',
    );
  });

  it('the defaults are filled in after the check, and a range error still has its range', () => {
    expect(dataQualitySchema.parse({})).toMatchObject({ trailingLoads: 7, minTrailingLoads: 2 });
    expect(dataQualitySchema.parse({ trailingLoads: 2 })).toMatchObject({
      trailingLoads: 2,
      minTrailingLoads: 2,
    });
    expect(synthError({ trailingLoads: 51 })).toBe(
      'paylink.dataQuality.trailingLoads: must be a whole number from 1 to 50 (got 51)',
    );
  });
});

describe("status's flags over a cdk.json that leaves a key to the stack's default", () => {
  const stack = (dataQuality: Record<string, unknown>): StackQualityConfig => ({
    file: 'cdk.json',
    implicit: false,
    dataQuality: dataQualitySchema.parse(dataQuality),
    given: new Set(Object.keys(dataQuality) as StackQualityKey[]),
    runWindows: {},
    stalenessWindows: {},
  });
  const flagError = (values: Record<string, string>, s: StackQualityConfig): string => {
    try {
      parseQualityFlags(values, s);
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error('the flags were accepted');
  };

  it('--trailing-loads 1 says minTrailingLoads is the stack default, not a value from cdk.json', () => {
    const message = flagError({ 'trailing-loads': '1' }, stack({ quietFeedFraction: 0.4 }));
    expect(message).toContain(
      "(--min-trailing-loads not given: the stack's default 2, as cdk.json does not set minTrailingLoads)",
    );
    expect(message).not.toContain('from cdk.json');
  });

  it('--min-trailing-loads 9 says trailingLoads is the stack default; a key cdk.json sets is named as its', () => {
    expect(flagError({ 'min-trailing-loads': '9' }, stack({}))).toContain(
      "(--trailing-loads not given: the stack's default 7, as cdk.json does not set trailingLoads)",
    );
    expect(flagError({ 'min-trailing-loads': '4' }, stack({ trailingLoads: 3 }))).toContain(
      '(trailingLoads 3 in cdk.json; --trailing-loads overrides it)',
    );
    // Never worded as if the flag were given (the eighth review's `(--trailing-loads, from ... 3)`).
    expect(flagError({ 'min-trailing-loads': '4' }, stack({ trailingLoads: 3 }))).not.toMatch(
      /\(--trailing-loads[,)]/,
    );
    expect(flagError({ 'min-trailing-loads': '9' }, stack({}))).not.toMatch(/\(--trailing-loads[,)]/);
  });
});
