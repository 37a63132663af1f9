/** A mistyped flag is named with the nearest flag the command has (cli/args.ts parseFlags). */
import { describe, expect, it } from 'vitest';
import { parseFlags } from '#cli/args.ts';
import { main } from '#cli/main.ts';
import { captureIo } from '#test/helpers/lake-harness.ts';

const OPTIONS = {
  'fail-on-signals': { type: 'boolean' },
  'quiet-fraction': { type: 'string' },
  json: { type: 'boolean' },
} as const;

describe('an unknown flag', () => {
  it('is refused with the nearest known flag when one is close, and alone otherwise', () => {
    expect(() => parseFlags(['--fail-on-signal'], OPTIONS)).toThrow(
      "arguments: Unknown option '--fail-on-signal' (did you mean --fail-on-signals?)",
    );
    expect(() => parseFlags(['--quiet-fractoin', '0.5'], OPTIONS)).toThrow(
      '(did you mean --quiet-fraction?)',
    );
    expect(() => parseFlags(['--everything'], OPTIONS)).toThrow(/Unknown option '--everything'$/);
  });

  it('fails paylink-loader status with exit 1 and the suggestion on stderr', async () => {
    const run = captureIo();
    const code = await main(['status', '--dest', '/nonexistent', '--fail-on-signal'], run.io);
    expect(code).toBe(1);
    expect(run.stderr()).toContain("Unknown option '--fail-on-signal' (did you mean --fail-on-signals?)");
  });
});
