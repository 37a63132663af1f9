/**
 * Task ids PayLink no longer knows, over many loads in a row through the CLI and the simulator:
 * the first users of the load have only stale ids (the registry kept them forever), which once
 * made the loader disable `tasks` for everybody (exit 4) on every load. Now one answered id
 * proves the endpoint, the stale ids are those users' misses, they retire after two committed
 * loads, tasks with a final status retire at once, and an event naming a retired id brings it
 * back. The registry starts as formatVersion 1 files, as a lake written before retirement.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '#adapters/open-store.ts';
import { identifierShard } from '#core/plan.ts';
import { FINAL_TASK_STATUSES } from '#core/task-retirement.ts';
import {
  learnUsers,
  REGISTRY,
  registeredTaskIds,
  registeredUsers,
  registryShardKey,
} from '#core/user-registry.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import {
  credentialsEnv,
  queryObjects,
  runCli,
  runLoad,
  Scratch,
  withLake,
} from '#test/helpers/lake-harness.ts';
import { writeRegistryShards } from '#test/helpers/registry-shards.ts';
import { receiveSigned, webhookEventBody } from '#test/helpers/signed-webhook.ts';

const SEED = 'stale-tasks-seed';
const API_KEY = 'stale-key';
const API_SECRET = 'stale-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);
/** Users whose registered ids are all stale: the first of the load, more than the old evidence (3). */
const STALE_USERS = 4;

describe('task ids PayLink no longer knows, over loads in a row', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let dest: string;
  let usersFile: string;
  let stale: string[];
  let real: string[];
  const staleId = (n: number) => `gone-task-${n}`;

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    scratch = await Scratch.create('stale-tasks');
    const identifiers = generateIdentifiers(SEED, 16);
    stale = identifiers.slice(0, STALE_USERS);
    real = identifiers.slice(STALE_USERS).filter((id) => sim.served(id).taskIds.length > 0);
    // Stale users first, one user at a time: they are the first evidence the loader sees.
    usersFile = await scratch.users('users.txt', [...stale, ...identifiers.slice(STALE_USERS)]);
    dest = scratch.path('lake');
    // A registry as a loader before retirement wrote it (formatVersion 1).
    await writeRegistryShards(
      dest,
      [
        ...stale.map((identifier, n) => [identifier, [staleId(n)]] as const),
        ...real.map((identifier) => [identifier, sim.served(identifier).taskIds] as const),
      ],
      { formatVersion: 1, day: '2026-01-01' },
    );
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  const load = async (loadId: string) => {
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, resources: ['tasks'], concurrency: 1, loadId },
      ENV,
    );
    expect(run.code, `load ${loadId} exit code (stderr: ${run.stderr})`).toBe(0);
    return run;
  };
  const outcomes = (loadId: string) =>
    withLake(dest, (lake) =>
      queryObjects(
        lake,
        `SELECT user_identifier, status, error_code, requests FROM user_loads WHERE _dlt_load_id = '${loadId}' AND resource = 'tasks' ORDER BY user_identifier`,
      ),
    );
  const taskRows = (loadId: string) =>
    withLake(dest, (lake) =>
      queryObjects(
        lake,
        `SELECT user_identifier, _id FROM tasks WHERE _dlt_load_id = '${loadId}' ORDER BY ALL`,
      ),
    );
  const isFinal = (status: string) => FINAL_TASK_STATUSES.includes(status);
  const tasksOf = (identifier: string) => Object.values(sim.served(identifier).tasks);

  it('loads every real task although the first users only have stale ids, and retires as it goes', async () => {
    expect(real.length, 'users with real tasks in the sample').toBeGreaterThan(3);
    expect(
      real.some((id) => tasksOf(id).some((t) => !isFinal(t.status))),
      'a task still running in the sample',
    ).toBe(true);
    const store = openStore(dest);

    // Load 1: not disabled (exit 0); the stale users' units are theirs: ok, task_not_found.
    await load('l1');
    const first = await outcomes('l1');
    for (const identifier of stale)
      expect(first.find((o) => o.user_identifier === identifier)).toMatchObject({
        status: 'ok',
        error_code: 'task_not_found',
      });
    expect((await taskRows('l1')).length).toBe(real.reduce((n, id) => n + tasksOf(id).length, 0));
    let registry = await registeredUsers(store);
    stale.forEach((identifier, n) => {
      expect(registry.get(identifier)?.taskIds).toEqual([staleId(n)]);
      expect(registry.get(identifier)?.misses).toEqual({ [staleId(n)]: ['l1'] });
    });
    for (const identifier of real) {
      const user = registry.get(identifier)!;
      const running = tasksOf(identifier).filter((t) => !isFinal(t.status));
      const ended = tasksOf(identifier).filter((t) => isFinal(t.status));
      expect(user.taskIds).toEqual(running.map((t) => t._id));
      expect(Object.keys(user.retired ?? {}).sort()).toEqual(ended.map((t) => t._id).sort());
      for (const t of ended)
        expect(user.retired?.[t._id]).toMatchObject({
          reason: 'final_status',
          loadId: 'l1',
          status: t.status,
        });
    }
    for (const shard of new Set([...stale, ...real].map((id) => identifierShard(id, REGISTRY.shards)))) {
      const doc = JSON.parse(new TextDecoder().decode(await store.get(registryShardKey(shard))));
      expect(doc.formatVersion, 'upgraded on write').toBe(2);
    }

    // Load 2: the second miss in a row retires the stale ids.
    await load('l2');
    registry = await registeredUsers(store);
    stale.forEach((identifier, n) => {
      const user = registry.get(identifier)!;
      expect(user.taskIds).toEqual([]);
      expect(user.misses).toBeUndefined();
      expect(user.retired?.[staleId(n)]).toMatchObject({
        reason: 'not_found',
        loadId: 'l2',
        misses: ['l1', 'l2'],
      });
    });

    // Load 3: nothing retired is asked for; only the tasks still running are fetched.
    await load('l3');
    const third = await outcomes('l3');
    for (const identifier of stale)
      expect(third.find((o) => o.user_identifier === identifier)).toMatchObject({
        status: 'ok',
        error_code: null,
        requests: 0,
      });
    const running = real.flatMap((id) =>
      tasksOf(id)
        .filter((t) => !isFinal(t.status))
        .map((t) => ({ user_identifier: id, _id: t._id })),
    );
    expect(await taskRows('l3')).toEqual(
      running.sort((a, b) => (a.user_identifier + a._id < b.user_identifier + b._id ? -1 : 1)),
    );

    // Current state keeps every task: a retired one at its last fetched row (l1), the others at l3.
    const current = await withLake(dest, (lake) =>
      queryObjects(lake, 'SELECT user_identifier, _id, status, _dlt_load_id FROM current.tasks ORDER BY ALL'),
    );
    expect(current).toEqual(
      real
        .flatMap((id) =>
          tasksOf(id).map((t) => ({
            user_identifier: id,
            _id: t._id,
            status: t.status,
            _dlt_load_id: isFinal(t.status) ? 'l1' : 'l3',
          })),
        )
        .sort((a, b) => (a.user_identifier + a._id < b.user_identifier + b._id ? -1 : 1)),
    );

    const status = await runCli(['status', '--dest', dest, '--json']);
    expect(status.code).toBe(0);
    const ended = real.reduce((n, id) => n + tasksOf(id).filter((t) => isFinal(t.status)).length, 0);
    expect(JSON.parse(status.stdout).registry).toEqual({
      users: stale.length + real.length,
      taskIds: running.length,
      missing: 0,
      retired: { notFound: stale.length, finalStatus: ended },
    });
    const text = await runCli(['status', '--dest', dest]);
    expect(text.stdout).toContain(
      `retired: ${stale.length + ended} (${stale.length} PayLink no longer knows, ${ended} with a final status`,
    );

    // A new event naming a retired id brings it back: fetched (and missed) again.
    await learnUsers(
      store,
      [{ identifier: stale[0]!, taskId: staleId(0), eventTime: '2026-12-01T00:00:00Z' }],
      new Date(),
    );
    expect((await registeredUsers(store)).get(stale[0]!)?.retired).toBeUndefined();
    await load('l4');
    const fourth = await outcomes('l4');
    expect(fourth.find((o) => o.user_identifier === stale[0])).toMatchObject({
      status: 'ok',
      error_code: 'task_not_found',
      requests: 1,
    });
    expect((await registeredUsers(store)).get(stale[0]!)?.misses).toEqual({ [staleId(0)]: ['l4'] });
  });

  it('still finds the endpoint missing when every id of the load answers 404', async () => {
    const users = await scratch.users('only-stale.txt', stale);
    const lake = scratch.path('only-stale');
    const store = openStore(lake);
    await learnUsers(
      store,
      stale.map((identifier, n) => ({ identifier, taskId: staleId(n), eventTime: '2026-01-01T00:00:00Z' })),
      new Date(),
    );
    const run = await runLoad(
      { users, dest: lake, baseUrl: sim.url, resources: ['tasks'], concurrency: 1 },
      ENV,
    );
    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(4);
    expect(run.stderr + run.stdout).toMatch(/stale task ids/);
    // Nothing proved the endpoint: no miss counted.
    for (const user of (await registeredUsers(store)).values()) expect(user.misses).toBeUndefined();
  });

  it('retires a task first named by an event received before the load at that load, one named since at the next', async () => {
    const lake = scratch.path('events-lake');
    const store = openStore(lake);
    const [early, late] = real;
    const endedOf = (identifier: string) => tasksOf(identifier).find((t) => isFinal(t.status));
    const pick = [early, late].find((id) => endedOf(id!) === undefined);
    expect(pick, 'two users with an ended task in the sample').toBeUndefined();
    const receive = async (identifier: string, taskId: string, receivedAt: Date) => {
      const body = webhookEventBody({
        identifier,
        eventType: 'task-status-updated',
        eventTime: receivedAt,
        atomicId: true,
        data: { taskId, status: 'completed' },
      });
      const outcome = await receiveSigned(body, { store, secret: 'hook', receivedAt });
      expect(outcome.kind).toBe('accepted');
    };
    const earlyTask = endedOf(early!)!._id;
    const lateTask = endedOf(late!)!._id;
    await receive(early!, earlyTask, new Date(Date.now() - 60_000));
    // Stored with a receipt time after the load starts: as an event arriving while it runs.
    await receive(late!, lateTask, new Date(Date.now() + 60_000));
    const users = await scratch.users('event-users.txt', [early!, late!]);
    const run = () =>
      runLoad({ users, dest: lake, baseUrl: sim.url, resources: ['tasks'], concurrency: 1 }, ENV);
    expect((await run()).code).toBe(0);
    let registry = await registeredUsers(store);
    expect(registry.get(early!)?.retired?.[earlyTask]).toMatchObject({ reason: 'final_status' });
    expect(registry.get(early!)?.taskIds).toEqual([]);
    // Its event may be newer than the answer: fetched once more, then retired.
    expect(registry.get(late!)?.taskIds).toEqual([lateTask]);
    expect((await run()).code).toBe(0);
    registry = await registeredUsers(store);
    expect(registry.get(late!)?.retired?.[lateTask]).toMatchObject({ reason: 'final_status' });
    // Every id the lake learned is retired: a load of tasks has nothing to fetch, and is no
    // refusal ("no task ids given"); current state keeps the tasks.
    expect(await registeredTaskIds(store, [early!, late!])).toEqual(new Map());
    const idle = await run();
    expect(idle.code, idle.stderr).toBe(0);
    const current = await withLake(lake, (q) => queryObjects(q, 'SELECT _id FROM current.tasks ORDER BY 1'));
    expect(current.map((r) => r._id)).toEqual([earlyTask, lateTask].sort());
  });
});
