/**
 * A bad value is refused naming the flag as typed (or the --config file and the key in it), in
 * plain words: never a setting's internal name (`baseUrl`, `load-id`), zod's text or
 * parseArgs' hint. Commands run in-process (main); nothing listens and nothing is written.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsEnv, runCli, Scratch } from '#test/helpers/lake-harness.ts';

const ENV = credentialsEnv('flag-key', 'flag-secret');

let scratch: Scratch;
let users: string;
let lake: string;
beforeAll(async () => {
  scratch = await Scratch.create('flag-errors');
  users = await scratch.users('users.txt', ['user-a']);
  lake = scratch.path('lake');
});
afterAll(async () => {
  await scratch?.dispose();
});

/** A load that must be refused before it reaches PayLink (nothing listens on port 9) or the lake. */
async function refusedLoad(extra: readonly string[]): Promise<string> {
  // A flag given twice is refused on its own: the test's --base-url replaces the default one.
  const baseUrl = extra.includes('--base-url') ? [] : ['--base-url', 'http://127.0.0.1:9'];
  const run = await runCli(['load', '--users', users, '--dest', lake, ...baseUrl, '--quiet', ...extra], ENV);
  expect(run.code).toBe(1);
  expect(existsSync(lake)).toBe(false);
  return run.stderr;
}

describe('load flags', () => {
  it.each([
    [['--base-url', 'ftp://x'], '--base-url: must be an absolute http(s) URL'],
    [['--load-id', 'a/b'], '--load-id: must be 1-64 characters of letters, digits'],
    [['--resume', 'a b'], '--resume: must be 1-64 characters of letters, digits'],
    [['--resources', 'bogus'], "--resources: unknown resource 'bogus'; known: accounts"],
    [['--concurrency', '-1'], "--concurrency: must be a whole number from 1 to 512 (got '-1')"],
    // Number() alone took these: 0x10 as 16, 1e3 as 1000, a 20-digit count as 1e20.
    [
      ['--rate-limit', '0x10'],
      "--rate-limit: must be a number of requests per second above 0 and at most 10000 (got '0x10')",
    ],
    [
      ['--rate-limit', '1e9'],
      "--rate-limit: must be a number of requests per second above 0 and at most 10000 (got '1e9')",
    ],
    [
      ['--rate-limit', '10001'],
      "--rate-limit: must be a number of requests per second above 0 and at most 10000 (got '10001')",
    ],
    [['--batch-size', '1e3'], "--batch-size: must be a whole number from 1 to 100000 (got '1e3')"],
    [['--batch-size', '2.5'], "--batch-size: must be a whole number from 1 to 100000 (got '2.5')"],
    [
      ['--concurrency', '99999999999999999999'],
      "--concurrency: must be a whole number from 1 to 512 (got '99999999999999999999')",
    ],
    [['--concurrency', '513'], "--concurrency: must be a whole number from 1 to 512 (got '513')"],
    [['--retire-task-after', '-1'], '--retire-task-after: must be a whole number of loads from 1 to 1000'],
    [['--retire-task-after', '0'], '--retire-task-after: must be a whole number of loads from 1 to 1000'],
    [['--dest', '-1'], "--dest: '-1' is negative, and --dest takes no negative value"],
    [
      ['--max-users-per-run', '20'],
      '--max-users-per-run: only applies to --users changed (a users list, or the failed users of a load, are loaded whole)',
    ],
  ])('%j is refused naming the flag', async (flags, message) => {
    expect(await refusedLoad(flags)).toContain(`error: ${message}`);
  });

  it('an empty --resources (an unset variable) is refused, never read as every resource', async () => {
    expect(await refusedLoad(['--resources', ''])).toBe(
      'error: --resources: is empty (an unset variable?): give a value, or leave the flag out. Nothing was committed.\n',
    );
    expect(await refusedLoad(['--resources', ','])).toBe(
      'error: --resources: is empty: name at least one resource, or leave it out for the default set. Nothing was committed.\n',
    );
  });

  it('an unknown key of the --config file names the file, the key and the nearest valid key', async () => {
    const top = await scratch.json('top.json', { resourcez: {} });
    expect(await refusedLoad(['--config', top])).toBe(
      `error: --config ${top}: resourcez: unknown key (did you mean "resources"?). Nothing was committed.\n`,
    );
    const nested = await scratch.json('nested.json', { http: { timeoutMz: 100 } });
    expect(await refusedLoad(['--config', nested])).toContain(
      `error: --config ${nested}: http.timeoutMz: unknown key (did you mean "timeoutMs"?).`,
    );
    const far = await scratch.json('far.json', { colour: 'blue' });
    expect(await refusedLoad(['--config', far])).toContain(`error: --config ${far}: colour: unknown key.`);
  });

  it('a bad value in the --config file names the file and the key, in plain words', async () => {
    const config = await scratch.json('bad-value.json', { baseUrl: 'ftp://x', http: { attempts: 99 } });
    expect(await refusedLoad(['--config', config])).toContain(
      `error: --config ${config}: http.attempts: must be a whole number from 1 to 20 (got 99).`,
    );
    // The file's base URL, not overridden by --base-url.
    const url = await scratch.json('bad-url.json', { baseUrl: 'ftp://x' });
    const run = await runCli(['load', '--users', users, '--dest', lake, '--config', url, '--quiet'], ENV);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error: --config ${url}: baseUrl: must be an absolute http(s) URL.`);
  });
});

describe('other commands', () => {
  it('simulate --port 70000 and -1 say the whole range, not zod text', async () => {
    for (const port of ['70000', '-1']) {
      const run = await runCli(['simulate', '--port', port]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`error: --port: must be an integer from 0 to 65535 (got '${port}').\n`);
    }
  });

  it('clean --older-than -5h says what an age looks like', async () => {
    const run = await runCli(['clean', '--dest', lake, '--older-than', '-5h']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('error: --older-than: "-5h" is not an age like 30m, 24h or 7d.\n');
  });

  // A negative value reaches the flag's own check, which says the range the flag accepts: 0 is
  // a valid --failed-share, so "must be a positive number" was wrong for it.
  it.each([
    [['status', '--failed-share', '-1'], '--failed-share: must be a percentage from 0 to below 100'],
    [
      ['status', '--min-expected-rows', '-1'],
      '--min-expected-rows: must be a whole number from 0 to 1000000000',
    ],
    [
      ['status', '--min-expected-rows', '99999999999999999999'],
      "--min-expected-rows: must be a whole number from 0 to 1000000000 (got '99999999999999999999')",
    ],
    [
      ['status', '--run-window-minutes', '99999999999999999999'],
      "--run-window-minutes: must be a number of minutes above 0 and at most 5040 (3.5 days, the longest schedule period) (got '99999999999999999999')",
    ],
    [
      ['plan', '--users', '10', '--rate-limit', '1e3'],
      "--rate-limit: must be a number of requests per second above 0 and at most 10000 (got '1e3')",
    ],
    [
      ['plan', '--users', '10', '--concurrency', '0x10'],
      "--concurrency: must be a positive whole number (got '0x10')",
    ],
    [['simulate', '--users', '1e3'], "--users: must be an integer >= 1 (got '1e3')"],
    [['simulate', '--fault-429', '0x1'], "--fault-429: must be a number from 0 to 1 (got '0x1')"],
    [['status', '--quiet-fraction', '-0.5'], '--quiet-fraction: must be a number above 0 and at most 1'],
    [['status', '--last', '-2'], '--last: must be a whole number from 1 to 10000'],
    [
      ['plan', '--users', '10', '--commit-merge-seconds', '-1'],
      '--commit-merge-seconds: must be a number of seconds (0 or more)',
    ],
    [['simulate', '--fault-429', '-0.1'], '--fault-429: must be a number from 0 to 1'],
    [['simulate', '--changes', '-1'], '--changes: must be an integer >= 0'],
    [['webhooks', '--dest', 'x', '--port', '-1'], '--port: must be an integer from 0 to 65535'],
  ])('%j names the range the flag accepts', async (argv, message) => {
    const run = await runCli(argv[0] === 'status' ? [...argv, '--dest', lake] : argv);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error: ${message}`);
    expect(run.stderr).not.toContain('positive number.');
  });

  it('a flag followed by another flag says it needs a value', async () => {
    const run = await runCli(['status', '--dest', '--json']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: --dest: needs a value, but is followed by '--json' (a value starting with "-" is written --dest=--json).\n`,
    );
  });
});
