/**
 * `load --users changed` at its edges: a lake with no new events loads nothing and says so
 * (exit 0, no load); a lake folder that does not exist is a typo, refused naming --dest.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsEnv, runCli, Scratch } from '#test/helpers/lake-harness.ts';

const ENV = credentialsEnv('k', 's');

describe('load --users changed', () => {
  let scratch: Scratch;
  beforeAll(async () => {
    scratch = await Scratch.create('load-changed-cli');
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  it('loads nothing, and says why, when no event is new', async () => {
    const lake = scratch.path('lake');
    await mkdir(lake);
    const run = await runCli(
      ['load', '--users', 'changed', '--dest', lake, '--base-url', 'http://127.0.0.1:9'],
      ENV,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('nothing to load');
    // Nothing written: no load, no lease, no state.
    expect(await readdir(lake)).toEqual([]);
  });

  it('refuses a lake folder that does not exist, naming --dest', async () => {
    const run = await runCli(
      ['load', '--users', 'changed', '--dest', scratch.path('typo'), '--base-url', 'http://127.0.0.1:9'],
      ENV,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/--dest: no lake at .*typo/);
  });
});
