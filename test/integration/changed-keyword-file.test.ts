/**
 * `--users changed` is the webhook keyword even when the working folder holds a file named
 * `changed`: the load takes the users of new webhook events (a scheduled command must not turn
 * into a load of a file that appeared), says the file was not read and how to load it
 * (`--users ./changed`), which then loads the file's users.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { credentialsEnv, runCli, Scratch, usersLoadArgv } from '#test/helpers/lake-harness.ts';
import { receiveSimulatedEvent } from '#test/helpers/signed-webhook.ts';

const KEY = 'keyword-key';
const SECRET = 'keyword-secret';
const ENV = credentialsEnv(KEY, SECRET);
const WARNING =
  'warning: --users changed loads the users of new webhook events; the file ./changed in the working folder is not read (to load the users it lists, give --users ./changed)';

let scratch: Scratch;
let sim: Simulator;

beforeAll(async () => {
  scratch = await Scratch.create('changed-keyword-file');
  // The dry run asks PayLink for a token: the simulator on loopback, never the real API.
  sim = await startSimulator({ seed: 'changed-keyword-file', apiKey: KEY, apiSecret: SECRET });
  const outcome = await receiveSimulatedEvent(
    { store: createLocalStore(scratch.path('lake')), secret: SECRET },
    'user-with-event',
    new Date(),
  );
  expect(outcome.kind).toBe('accepted');
});
afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

/** The dry run's `users:` check: how many users, and where from. */
const usersCheck = (stdout: string) =>
  (JSON.parse(stdout) as { checks: string[] }).checks.find((c) => c.startsWith('users: '));

/** A dry run of `load --users <users>` in the scratch folder, its report in --json. */
const dryRun = (users: string) =>
  runCli(
    usersLoadArgv({ users, dest: 'lake', baseUrl: sim.url, resources: ['accounts'] }, [
      '--dry-run',
      '--json',
    ]),
    ENV,
    { cwd: scratch.dir },
  );

describe('--users changed beside a file named changed', () => {
  it('loads the webhook users without a warning while there is no such file', async () => {
    const run = await dryRun('changed');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('./changed');
    expect(usersCheck(run.stdout)).toBe('users: 1 from the 1 users of 1 new webhook event(s)');
  });

  it('still loads the webhook users, and says the file was not read and how to load it', async () => {
    await scratch.users('changed', ['user-in-file', 'other-user-in-file']);
    const run = await dryRun('changed');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.split('\n').filter((l) => l.includes('./changed'))).toEqual([WARNING]);
    expect(usersCheck(run.stdout)).toBe('users: 1 from the 1 users of 1 new webhook event(s)');

    const file = await dryRun('./changed');
    expect(file.code, file.stderr).toBe(0);
    expect(file.stderr).not.toContain('warning: --users changed');
    // The file's 2, and the user learned from the stored event, as any load of a list adds.
    expect(usersCheck(file.stdout)).toBe(
      'users: 3 in all, 2 from ./changed and 1 learned from webhook events that it does not list',
    );
  });
});
