/**
 * A `load --users changed --resources accounts` must not use up the events a plain
 * `load --users changed` loads its users for: those users' other resources (the tasks their
 * events name, their orders) would never be loaded. Each `--resources` set keeps its own record
 * of the events it has seen (core/schedule-config.ts `localChangedSchedule`): the plain changed
 * load after it still loads every user of those events, with their tasks.
 */
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  changedLoadArgv,
  changedScheduleOf,
  credentialsEnv,
  queryObjects,
  runCli,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';
import { receiveSimulatedEvent } from '#test/helpers/signed-webhook.ts';

const SEED = 'changed-own-schedule';
const ENV = credentialsEnv('k', 's');
const USERS = generateIdentifiers(SEED, 8);

let scratch: Scratch;
let sim: Simulator;
beforeAll(async () => {
  scratch = await Scratch.create('changed-own-schedule');
  sim = await startSimulator({ seed: SEED, apiKey: 'k', apiSecret: 's' });
});
afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

describe('a changed load of some resources, then a plain one', () => {
  it('leaves the plain one every user of the events, with the tasks they name', async () => {
    const lake = scratch.path('lake');
    await mkdir(lake);
    const store = createLocalStore(lake);
    /** Task id -> user, of the task events received. */
    const tasks = new Map<string, string>();
    for (const [i, identifier] of USERS.entries()) {
      // Two changes each: one of them is a task completing (a user's changes alternate).
      for (const step of [0, 1]) {
        const change = sim.change(identifier);
        const at = new Date(Date.UTC(2026, 11, 1, 8, i, step));
        const stored = await receiveSimulatedEvent({ store, secret: 's' }, identifier, at, {
          type: change.eventType,
          data: change.data,
        });
        expect(stored.kind).toBe('accepted');
        if (typeof change.data.taskId === 'string') tasks.set(change.data.taskId, identifier);
      }
    }
    expect(tasks.size).toBe(USERS.length);
    const run = (resources: readonly string[] | undefined, more: string[] = []) =>
      runCli(
        resources === undefined
          ? [
              'load',
              '--users',
              'changed',
              '--dest',
              lake,
              '--base-url',
              sim.url,
              '--rate-limit',
              '10000',
              ...more,
            ]
          : changedLoadArgv({ dest: lake, baseUrl: sim.url, resources }, ['--rate-limit', '10000', ...more]),
        ENV,
      );

    const accountsOnly = await run(['accounts']);
    expect(accountsOnly.code, accountsOnly.stderr).toBe(0);
    expect(accountsOnly.stderr).toContain(
      `note: --resources accounts is not what 'load --users changed' loads by default, so this load keeps its own record of the webhook events it has seen (schedule ${changedScheduleOf(['accounts'])}); a plain 'load --users changed' still loads these users with every resource`,
    );

    // The plain changed load has seen none of these events: it loads every user, tasks included,
    // here capped at 3 users a load. The events are committed already (by the accounts-only
    // load): what the cap leaves is counted as such, not as new events.
    const capped = await run(undefined, ['--json', '--max-users-per-run', '3']);
    expect(capped.code, capped.stderr).toBe(0);
    const left = USERS.length - 3;
    expect(capped.stderr).toContain(
      `--max-users-per-run 3: ${left} more user(s) with 0 new webhook event(s) and ${2 * left} webhook event(s) an earlier load had committed already left for the next changed load (their events stay pending for this schedule, committed already;`,
    );
    const cappedSummary = JSON.parse(capped.stdout);
    expect(cappedSummary.changedUsersDeferred).toEqual({
      users: left,
      events: 2 * left,
      committedEarlier: 2 * left,
    });
    expect(cappedSummary.changedUsers).toMatchObject({
      usersWithEvents: 3,
      eventsSelected: 6,
      eventsCommittedEarlier: 6,
    });
    const plain = await run(undefined, ['--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).changedUsers).toMatchObject({
      usersWithEvents: left,
      eventsSelected: 2 * left,
      // The accounts-only load committed them (each event is committed once).
      eventsCommittedEarlier: 2 * left,
    });
    const current = await withLake(lake, (q) =>
      queryObjects(q, 'SELECT user_identifier, _id, status FROM current.tasks ORDER BY ALL'),
    );
    expect(current).toEqual(
      [...tasks]
        .map(([_id, user]) => ({ user_identifier: user, _id, status: 'completed' }))
        .sort((a, b) =>
          a.user_identifier < b.user_identifier ? -1 : a.user_identifier > b.user_identifier ? 1 : 0,
        ),
    );

    // Each set has seen every event now: nothing new for either.
    for (const resources of [['accounts'], undefined]) {
      const again = await run(resources);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain('nothing to load');
    }
    expect(
      await withLake(lake, (q) =>
        queryObjects(q, 'SELECT count(*) AS n, count(DISTINCT event_key) AS d FROM webhook_events'),
      ),
    ).toEqual([{ n: 2 * USERS.length, d: 2 * USERS.length }]);
  });
});
