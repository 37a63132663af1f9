/**
 * The handlers' logger reads its level from POWERTOOLS_LOG_LEVEL (the stack sets it from
 * `logLevel`; an operator may edit it on a function). Powertools alone drops a value it does not
 * know in silence and logs at INFO; the handlers say which value, and the accepted ones, once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

const saved = process.env.POWERTOOLS_LOG_LEVEL;

afterEach(() => {
  vi.restoreAllMocks();
  if (saved === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
  else process.env.POWERTOOLS_LOG_LEVEL = saved;
});

/** The JSON lines a fresh container's logger writes for one invocation that logs at each level. */
async function linesWith(level: string | undefined): Promise<Record<string, unknown>[]> {
  if (level === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
  else process.env.POWERTOOLS_LOG_LEVEL = level;
  vi.resetModules();
  const written: string[] = [];
  const capture = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  const { observe } = await import('#handlers/observability.ts');
  const obs = observe('plan', { schedule: 'daily' });
  obs.log.debug('a_debug_line');
  obs.log.info('an_info_line');
  vi.restoreAllMocks();
  return written
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

describe('the handlers log level from the environment', () => {
  it('names a bad POWERTOOLS_LOG_LEVEL, its value and the accepted levels, once, and logs at INFO', async () => {
    const lines = await linesWith('verbose');
    const warnings = lines.filter((l) => l.level === 'WARN');
    expect(warnings.map((l) => l.message)).toEqual([
      'POWERTOOLS_LOG_LEVEL: "verbose" is not a log level: use one of DEBUG, INFO, WARN, ERROR (logging at INFO meanwhile)',
    ]);
    expect(lines.map((l) => l.message)).toContain('an_info_line');
    expect(lines.map((l) => l.message)).not.toContain('a_debug_line');
  });

  it('takes a level in any case (debug is DEBUG), and says nothing of a good or missing one', async () => {
    const debug = await linesWith('debug');
    expect(debug.map((l) => l.message)).toEqual(['a_debug_line', 'an_info_line']);
    const unset = await linesWith(undefined);
    expect(unset.map((l) => l.message)).toEqual(['an_info_line']);
    const warn = await linesWith('WARN');
    expect(warn).toEqual([]);
  });
});
