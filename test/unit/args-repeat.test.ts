/** A flag of one value given twice is refused, not silently the last (cli/args.ts parseFlags). */
import { describe, expect, it } from 'vitest';
import { parseFlags } from '#cli/args.ts';
import { main } from '#cli/main.ts';
import { captureIo } from '#test/helpers/lake-harness.ts';

const OPTIONS = {
  'quiet-fraction': { type: 'string' },
  resources: { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const;

describe('a single-value flag given twice', () => {
  it('is refused with the flag named, while multi-value flags and switches may repeat', () => {
    expect(() => parseFlags(['--quiet-fraction', '0.5', '--quiet-fraction', '0.9'], OPTIONS)).toThrow(
      '--quiet-fraction: is given twice: give it once (the value wanted)',
    );
    expect(() => parseFlags(['--quiet-fraction=0.5', '--quiet-fraction', '0.9'], OPTIONS)).toThrow(
      'given twice',
    );
    const ok = parseFlags(['--resources', 'a', '--resources', 'b', '--json', '--json'], OPTIONS);
    expect(ok.values.resources).toEqual(['a', 'b']);
  });

  it('fails paylink-loader status with exit 1 and one line naming it', async () => {
    const run = captureIo();
    const code = await main(
      ['status', '--dest', '/nonexistent', '--quiet-fraction', '0.5', '--quiet-fraction', '0.9'],
      run.io,
    );
    expect(code).toBe(1);
    expect(run.stderr()).toContain('--quiet-fraction: is given twice');
  });
});
