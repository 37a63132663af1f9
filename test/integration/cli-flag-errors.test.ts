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
  const run = await runCli(
    ['load', '--users', users, '--dest', lake, '--base-url', 'http://127.0.0.1:9', '--quiet', ...extra],
    ENV,
  );
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
    [['--concurrency', '-1'], "--concurrency: '-1' is negative: the value must be a positive number"],
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
      `error: --config ${config}: http.attempts: must be at most 20.`,
    );
    // The file's base URL, not overridden by --base-url.
    const url = await scratch.json('bad-url.json', { baseUrl: 'ftp://x' });
    const run = await runCli(['load', '--users', users, '--dest', lake, '--config', url, '--quiet'], ENV);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error: --config ${url}: baseUrl: must be an absolute http(s) URL.`);
  });
});

describe('other commands', () => {
  it('simulate --port 70000 says the limit, not zod text', async () => {
    const run = await runCli(['simulate', '--port', '70000']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('error: --port: must be at most 65535.\n');
  });

  it('clean --older-than -5h says the value must be positive', async () => {
    const run = await runCli(['clean', '--dest', lake, '--older-than', '-5h']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("error: --older-than: '-5h' is negative: the value must be a positive number.\n");
  });

  it('a flag followed by another flag says it needs a value', async () => {
    const run = await runCli(['status', '--dest', '--json']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: --dest: needs a value, but is followed by '--json' (a value starting with "-" is written --dest=--json).\n`,
    );
  });
});
