/**
 * A real `load --users changed` says where its users came from, as its dry run does: the start
 * line and the summary name the users of new webhook events and the users retried once, and
 * `--json` counts them with the events selected and committed (`changedUsers`). Its whitespace
 * warning is about the users only: the note on events naming no usable task id is not in it.
 */
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { changedLoadArgv, credentialsEnv, runCli, Scratch } from '#test/helpers/lake-harness.ts';
import { receiveSigned, receiveSimulatedChange, webhookEventBody } from '#test/helpers/signed-webhook.ts';

const ENV = credentialsEnv('k', 's');
const SEED = 'changed-sources';
/** PayLink refuses these users' tokens in the first load: the next changed load retries them. */
const REFUSED = ['src-r1', 'src-r2'];
const START = new Date('2026-12-01T08:00:00.000Z');
const RETRIED_WORDS =
  '2 user(s) retried once (the last changed load failed them, or switched a resource off for them)';

let scratch: Scratch;
let refusing: Simulator;
let sim: Simulator;
beforeAll(async () => {
  scratch = await Scratch.create('changed-sources');
  refusing = await startSimulator({
    seed: SEED,
    apiKey: 'k',
    apiSecret: 's',
    faults: { rejectTokenUsers: REFUSED },
  });
  sim = await startSimulator({ seed: SEED, apiKey: 'k', apiSecret: 's' });
});
afterAll(async () => {
  await refusing?.close();
  await sim?.close();
  await scratch?.dispose();
});

describe('a real changed load names where its users came from', () => {
  it('in its start line, its summary and --json, with retried users, a cap and whitespace', async () => {
    const lake = scratch.path('lake');
    await mkdir(lake);
    const store = createLocalStore(lake);
    const deps = (seconds: number) => ({
      store,
      secret: 's',
      receivedAt: new Date(START.getTime() + seconds * 1000),
    });
    let second = 0;
    for (const identifier of ['src-a', 'src-b', 'src-c', 'src-d', ...REFUSED]) {
      const at = new Date(START.getTime() + second++ * 1000);
      expect((await receiveSimulatedChange(sim, identifier, at, { store, secret: 's' })).kind).toBe(
        'accepted',
      );
    }
    const changed = (baseUrl: string, more: string[] = []) =>
      runCli(
        changedLoadArgv({ dest: lake, baseUrl, resources: ['accounts'] }, ['--rate-limit', '2000', ...more]),
        ENV,
      );

    // Load 1: six users of six events; PayLink refuses two of them.
    const first = await changed(refusing.url, ['--json']);
    expect(first.code, first.stderr).toBe(3);
    expect(JSON.parse(first.stdout).changedUsers).toEqual({
      usersWithEvents: 6,
      eventsSelected: 6,
      eventsCommittedEarlier: 0,
      retriedUsers: 0,
      usersOnlyWithEventsCommittedEarlier: 0,
      eventsCommitted: 6,
    });

    // New events: a user whose identifier ends with a space, two task events naming no task id,
    // and one more user, last, whom a cap of 5 leaves for the next load.
    const receive = async (identifier: string, eventType: string, data: Record<string, unknown>) => {
      const at = new Date(START.getTime() + second * 1000);
      const body = webhookEventBody({ identifier, eventTime: at, eventType, data });
      expect((await receiveSigned(body, deps(second++))).kind).toBe('accepted');
    };
    await receive('src-ws ', 'pay-link-accounts-updated', { n: 1 });
    await receive('src-e', 'pay-link-accounts-updated', { n: 2 });
    await receive('src-e', 'task-status-updated', { status: 'completed' });
    await receive('src-f', 'task-status-updated', { status: 'completed' });
    await receive('src-g', 'pay-link-accounts-updated', { n: 3 });

    // Load 2: the two refused users retried first, then three users of four events; one deferred.
    const capped = await changed(sim.url, ['--json', '--max-users-per-run', '5']);
    const who = `the 3 users of 4 new webhook event(s) and ${RETRIED_WORDS}`;
    expect(capped.code, capped.stderr).toBe(0);
    const summary = JSON.parse(capped.stdout);
    expect(summary.changedUsers).toEqual({
      usersWithEvents: 3,
      eventsSelected: 4,
      eventsCommittedEarlier: 0,
      retriedUsers: 2,
      usersOnlyWithEventsCommittedEarlier: 0,
      eventsCommitted: 4,
    });
    expect(summary.changedUsersDeferred).toEqual({ users: 1, events: 1 });
    expect(summary.taskIdProblemEvents).toBe(2);
    expect(capped.stderr).toContain(`: 5 users in 1 batch(es): ${who}\n`);
    // The whitespace warning names the users, and nothing of the events' task ids.
    const warning = capped.stderr.split('\n').find((l) => l.startsWith('warning: '));
    expect(warning).toBe(
      `warning: 1 identifier(s) in ${who} start or end with whitespace; they are loaded exactly as written (a different user from the same identifier without it)`,
    );

    // Load 3 (text): the deferred user, and the summary's line on where it came from.
    const third = await changed(sim.url);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toContain(
      'Users: the 1 users of 1 new webhook event(s); 1 webhook event(s) committed with this load',
    );
    expect(third.stderr).toContain(': 1 users in 1 batch(es): the 1 users of 1 new webhook event(s)\n');
  }, 120_000);
});
