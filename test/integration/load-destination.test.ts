/**
 * A local --dest that cannot be a lake is refused at once, in one line naming it: a path under
 * /proc (where Node's recursive mkdir never returns), a file, a folder under a file.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertWritableDestination } from '#cli/dest-folder.ts';
import { credentialsEnv, FAST_HTTP, runCli, Scratch } from '#test/helpers/lake-harness.ts';

const ENV = credentialsEnv('dest-key', 'dest-secret');

let scratch: Scratch;
let usersFile: string;
let config: string;
beforeAll(async () => {
  scratch = await Scratch.create('dest');
  usersFile = await scratch.users('users.txt', ['user-a', 'user-b']);
  config = await scratch.json('fast.json', { http: { ...FAST_HTTP, attempts: 1 } });
});
afterAll(async () => {
  await scratch?.dispose();
});

/** A load whose base URL is never reached: the destination is refused first. */
const load = (dest: string, env = ENV) =>
  runCli(
    [
      'load',
      '--users',
      usersFile,
      '--dest',
      dest,
      '--base-url',
      'http://127.0.0.1:9',
      '--config',
      config,
      '--quiet',
    ],
    env,
  );

describe('a local --dest that cannot hold a lake', () => {
  it('is refused within a second under /proc, naming the folder it cannot create', async () => {
    const started = Date.now();
    const run = await load('/proc/paylink-lake-test/lake');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      "error: --dest: cannot create the folder '/proc/paylink-lake-test' (ENOENT). Nothing was committed.\n",
    );
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('is refused when it is a file, or a folder under a file', async () => {
    const file = await scratch.text('not-a-folder.txt', 'x\n');
    for (const dest of [file, `${file}/lake`]) {
      const run = await load(dest);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`error: --dest: '${file}' is not a folder. Nothing was committed.\n`);
    }
  });

  it('passes a new folder and an existing one, and the check itself leaves nothing behind', async () => {
    // No credentials: the load stops right after the destination check passed.
    const fresh = scratch.path('new/deeper/lake');
    const run = await load(fresh, {});
    expect(run.stderr).toContain('no PayLink credentials');
    expect(existsSync(scratch.path('new')), 'no folder created').toBe(false);
    const existing = scratch.path('existing');
    await mkdir(existing);
    expect((await load(existing, {})).stderr).toContain('no PayLink credentials');
    expect(await readdir(existing), 'no probe file left').toEqual([]);
  });
});

describe('the writability check of a new lake, while another run checks the same lake', () => {
  it('passes although the other run creates and removes the folder between its stat and its probe', async () => {
    const scratch = await Scratch.create('dest-race');
    try {
      const lake = scratch.path('lake');
      // The other run's check of a new lake: mkdir, then rmdir, over and over.
      let toggling = true;
      const toggler = (async () => {
        while (toggling) {
          await mkdir(lake).catch(() => undefined);
          await rmdir(lake).catch(() => undefined);
        }
      })();
      const results = await Promise.allSettled(
        Array.from({ length: 300 }, () => assertWritableDestination(lake)),
      );
      toggling = false;
      await toggler;
      const refused = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
      expect(refused).toEqual([]);
    } finally {
      await scratch.dispose();
    }
  });
});
