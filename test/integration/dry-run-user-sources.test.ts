/**
 * `load --dry-run` of a users list on a lake that holds webhook events: the users the events
 * name and the list does not join the load (learned-users.ts), and the dry run counts each
 * source apart, in text and in --json, instead of crediting the list with all of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { credentialsEnv, runCli, Scratch, usersLoadArgv } from '#test/helpers/lake-harness.ts';
import { receiveSimulatedEvent } from '#test/helpers/signed-webhook.ts';

const KEY = 'sources-key';
const SECRET = 'sources-secret';
const ENV = credentialsEnv(KEY, SECRET);

let scratch: Scratch;
let sim: Simulator;

beforeAll(async () => {
  scratch = await Scratch.create('dry-run-user-sources');
  // The dry run asks PayLink for a token: the simulator on loopback, never the real API.
  sim = await startSimulator({ seed: 'dry-run-user-sources', apiKey: KEY, apiSecret: SECRET });
  await scratch.users('u3.txt', ['listed-1', 'listed-2', 'listed-3']);
  // Events for one listed user (counted as listed) and two the list does not name.
  const lake = { store: createLocalStore(scratch.path('lake')), secret: SECRET };
  for (const identifier of ['listed-1', 'learned-1', 'learned-2'])
    expect((await receiveSimulatedEvent(lake, identifier, new Date())).kind).toBe('accepted');
});
afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

/** A dry run of `load --users <users>` in the scratch folder (its report in --json when `json`); its stdout. */
async function dryRun(users: string, json: boolean) {
  const run = await runCli(
    usersLoadArgv({ users, dest: 'lake', baseUrl: sim.url, resources: ['accounts'] }, [
      '--dry-run',
      ...(json ? ['--json'] : []),
    ]),
    ENV,
    { cwd: scratch.dir },
  );
  expect(run.code, run.stderr).toBe(0);
  return run.stdout;
}

describe('load --dry-run of a list beside learned users', () => {
  it('counts the listed users and those learned from webhook events apart, in text', async () => {
    const text = await dryRun('u3.txt', false);
    expect(text).toContain(
      '  ok  users: 5 in all, 3 from u3.txt and 2 learned from webhook events that it does not list\n',
    );
    expect(text).toContain('  users        5 in 1 batch(es)');
  });

  it('gives each source its count in --json', async () => {
    const report = JSON.parse(await dryRun('u3.txt', true)) as {
      checks: string[];
      plan: { users: number; usersBySource: { from: string; users: number }[] };
    };
    expect(report.plan.users).toBe(5);
    expect(report.plan.usersBySource).toEqual([
      { from: 'u3.txt', users: 3 },
      { from: 'webhook events', users: 2 },
    ]);
  });

  it('names one source when the events add nobody', async () => {
    await scratch.users('u5.txt', ['listed-1', 'listed-2', 'listed-3', 'learned-1', 'learned-2']);
    const report = JSON.parse(await dryRun('u5.txt', true)) as {
      checks: string[];
      plan: { usersBySource: { from: string; users: number }[] };
    };
    expect(report.checks).toContain('users: 5 from u5.txt');
    expect(report.plan.usersBySource).toEqual([{ from: 'u5.txt', users: 5 }]);
  });
});
