/**
 * `status`'s last run of a changed schedule is its newest *selection*, not its last commit: a
 * capped run, a later capped run that defers users, then a re-run of the first (`--load-id`,
 * which commits last but loads the first run's users again) leaves the later run as the last
 * one, its deferred users and hint shown. A re-run of the newest run keeps that run's cap and
 * deferral in its report, and status shows them, while the re-run's own summary does not claim
 * to have deferred anybody.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import type { ChangedBacklog } from '#cli/changed-backlog.ts';
import type { LoadMarker } from '#core/commit.ts';
import { loadMarkerKey } from '#core/layout.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  type CliRun,
  changedLoadArgv,
  changedScheduleOf,
  credentialsEnv,
  runCli,
  Scratch,
} from '#test/helpers/lake-harness.ts';
import { receiveSimulatedEvent } from '#test/helpers/signed-webhook.ts';

const SEED = 'changed-rerun-status';
const API_KEY = 'rerun-status-key';
const API_SECRET = 'rerun-status-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
const USERS = generateIdentifiers(SEED, 5);

let scratch: Scratch;
let sim: Simulator;

beforeAll(async () => {
  scratch = await Scratch.create('changed-rerun-status');
  sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
});
afterAll(async () => {
  await sim?.close();
  await scratch?.dispose();
});

async function receive(store: ObjectStore, identifier: string, at: Date): Promise<void> {
  const outcome = await receiveSimulatedEvent({ store, secret: API_SECRET }, identifier, at);
  expect(outcome.kind).toBe('accepted');
}

function changedLoad(lake: string, loadId: string, cap?: number): Promise<CliRun> {
  return runCli(
    changedLoadArgv({ dest: lake, baseUrl: sim.url, resources: ['accounts'], loadId }, [
      ...(cap === undefined ? [] : ['--max-users-per-run', String(cap)]),
      '--quiet',
      '--json',
      '--rate-limit',
      '10000',
    ]),
    ENV,
  );
}

async function localBacklog(lake: string): Promise<ChangedBacklog> {
  const run = await runCli(['status', '--dest', lake, '--json']);
  expect(run.code, run.stderr).toBe(0);
  const status = JSON.parse(run.stdout) as { changedBacklogs: ChangedBacklog[] };
  const local = status.changedBacklogs.find((b) => b.schedule === changedScheduleOf(['accounts']));
  expect(local).toBeDefined();
  return local!;
}

describe("status's last run of a changed schedule", () => {
  it('is the newest selection: a re-run of an older load does not hide a later capped run', async () => {
    const lake = scratch.path('lake');
    const store = createLocalStore(lake);
    // Five users' events, a minute apart: the oldest are taken first.
    for (const [i, identifier] of USERS.entries())
      await receive(store, identifier, new Date(Date.now() - (10 - i) * 60_000));

    const first = await changedLoad(lake, 'capped-1', 2);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).changedUsersDeferred).toEqual({ users: 3, events: 3 });
    const second = await changedLoad(lake, 'capped-2', 2);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).changedUsersDeferred).toEqual({ users: 1, events: 1 });
    const firstStart = (await readJson<LoadMarker>(store, loadMarkerKey('capped-1')))!.startedAt;

    // The older load run again: it commits last, with the first run's users.
    const rerun = await changedLoad(lake, 'capped-1');
    expect(rerun.code, rerun.stderr).toBe(0);
    // Its summary defers nobody: the re-run selected nobody (its report keeps what its first run left).
    expect(JSON.parse(rerun.stdout).changedUsersDeferred).toBeUndefined();
    const afterOlder = await localBacklog(lake);
    expect(afterOlder.lastRun).toMatchObject({
      loadId: 'capped-2',
      maxUsers: 2,
      deferred: { users: 1, events: 1 },
    });
    expect(afterOlder.hint).toContain(
      `${changedScheduleOf(['accounts'])}: its last run (capped-2) at its cap of 2 left 1 user with 1 event`,
    );
    expect(afterOlder.pendingUsers).toEqual([USERS[4]]);

    // Its report keeps the first run's selection, with when it was made.
    const marker = await readJson<LoadMarker>(store, loadMarkerKey('capped-1'));
    expect(marker?.startedAt).not.toBe(firstStart);
    expect(marker?.changed).toMatchObject({
      rerun: true,
      selectedAt: firstStart,
      maxUsers: 2,
      deferred: { users: 3, events: 3 },
    });
    expect(marker?.changed?.users.map((u) => u.identifier)).toEqual(USERS.slice(0, 2).sort());

    // The newest run again: still the last run, with what its selection left.
    const again = await changedLoad(lake, 'capped-2');
    expect(again.code, again.stderr).toBe(0);
    const afterNewest = await localBacklog(lake);
    expect(afterNewest.lastRun).toMatchObject({
      loadId: 'capped-2',
      maxUsers: 2,
      deferred: { users: 1, events: 1 },
    });
    expect(afterNewest.pendingUsers).toEqual([USERS[4]]);

    // The next fresh run takes the deferred user and is the last run from then on.
    const third = await changedLoad(lake, 'capped-3', 2);
    expect(third.code, third.stderr).toBe(0);
    const done = await localBacklog(lake);
    expect(done.lastRun).toMatchObject({ loadId: 'capped-3', users: 1, deferred: null });
    expect(done.hint).toBeNull();
  }, 120_000);
});
