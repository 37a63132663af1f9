/**
 * Loads of chosen resources: a child selected alone pulls its parent in to fan out over, but
 * writes only its own rows; tasks come from a --task-ids file, since task ids are not listable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { expectedTableCounts, rootRowsOf } from '#test/helpers/expected-rows.ts';
import {
  credentialsEnv,
  listFiles,
  queryObjects,
  runLoad,
  Scratch,
  tableCounts,
  withLake,
} from '#test/helpers/lake-harness.ts';

const SEED = 'resources-seed';
const API_KEY = 'resources-key';
const API_SECRET = 'resources-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);

describe('a load of selected resources', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let identifiers: string[];
  let usersFile: string;

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    scratch = await Scratch.create('resources');
    identifiers = generateIdentifiers(SEED, 8);
    usersFile = await scratch.users('users.txt', identifiers);
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it('writes only the selected tables, fetching accounts just to reach action history', async () => {
    const dest = scratch.path('subset');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, resources: ['action_history', 'orders'] },
      ENV,
    );
    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(0);
    const served = identifiers.map((id) => sim.served(id));
    await withLake(dest, async (lake) => {
      const { user_loads: userLoads, ...counts } = await tableCounts(lake);
      expect(counts).toEqual(expectedTableCounts(served, ['action_history', 'orders']));
      expect(userLoads).toBe(identifiers.length * 2);
      const outcomes = await queryObjects(
        lake,
        'SELECT user_identifier, resource, status, rows FROM user_loads ORDER BY ALL',
      );
      const expected = identifiers
        .flatMap((id, i) =>
          (['action_history', 'orders'] as const).map((resource) => ({
            user_identifier: id,
            resource,
            status: 'ok',
            rows: rootRowsOf(served[i]!)[resource],
          })),
        )
        .sort((a, b) => (JSON.stringify(Object.values(a)) < JSON.stringify(Object.values(b)) ? -1 : 1));
      expect(outcomes.map((o) => JSON.stringify(o)).sort()).toEqual(
        expected.map((o) => JSON.stringify(o)).sort(),
      );
    });
  });

  it('loads the tasks named in a --task-ids file', async () => {
    const dest = scratch.path('tasks');
    const lines = identifiers.flatMap((identifier) =>
      sim.served(identifier).taskIds.map((taskId) => JSON.stringify({ identifier, taskId })),
    );
    expect(lines.length, 'task ids in the sample').toBeGreaterThan(3);
    const taskIds = await scratch.text('task-ids.jsonl', `${lines.join('\n')}\n`);
    const run = await runLoad({ users: usersFile, dest, baseUrl: sim.url, resources: ['tasks'] }, ENV);
    expect(run.code, 'without --task-ids there is nothing to fetch: said, not silent').toBe(1);
    expect(run.stderr.trim()).toBe(
      'error: --task-ids: tasks needs task ids and none were given: pass --task-ids <file> (JSON lines {"identifier","taskId"}), or add user_tasks to --resources to discover them per user (low confidence, see docs/paylink-api.md). Nothing was committed.',
    );
    expect(await listFiles(dest), 'nothing written').toEqual([]);
    const withIds = await runLoad(
      { users: usersFile, dest: scratch.path('tasks-2'), baseUrl: sim.url, resources: ['tasks'], taskIds },
      ENV,
    );
    expect(withIds.code, `exit code (stderr: ${withIds.stderr})`).toBe(0);
    await withLake(scratch.path('tasks-2'), async (lake) => {
      expect(lake.tables()).toEqual(['tasks', 'user_loads']);
      const rows = await queryObjects(lake, 'SELECT user_identifier, _id, status FROM tasks');
      const expected = identifiers.flatMap((id) =>
        Object.values(sim.served(id).tasks).map((t) => JSON.stringify([id, t._id, t.status])),
      );
      expect(rows.map((r) => JSON.stringify([r.user_identifier, r._id, r.status])).sort()).toEqual(
        expected.sort(),
      );
    });
  });

  it('loads the known tasks of a user when PayLink answers 404 for a stale id among them, naming it', async () => {
    const withTasks = identifiers.filter((id) => sim.served(id).taskIds.length > 0);
    expect(withTasks.length, 'users with tasks in the sample').toBeGreaterThan(3);
    const lines = withTasks.flatMap((identifier, n) =>
      [`stale-${n}`, ...sim.served(identifier).taskIds].map((taskId) =>
        JSON.stringify({ identifier, taskId }),
      ),
    );
    const taskIds = await scratch.text('stale-task-ids.jsonl', `${lines.join('\n')}\n`);
    const dest = scratch.path('tasks-stale');
    const run = await runLoad(
      { users: usersFile, dest, baseUrl: sim.url, resources: ['tasks'], taskIds },
      ENV,
    );
    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(0);
    await withLake(dest, async (lake) => {
      const rows = await queryObjects(lake, 'SELECT count(*)::INT AS n FROM tasks');
      const expected = withTasks.reduce((n, id) => n + sim.served(id).taskIds.length, 0);
      expect(rows[0]!.n).toBe(expected);
      const outcomes = await queryObjects(
        lake,
        "SELECT user_identifier, status, error_code, error_message FROM user_loads WHERE resource = 'tasks' AND error_code IS NOT NULL ORDER BY user_identifier",
      );
      expect(outcomes.map((o) => o.user_identifier)).toEqual([...withTasks].sort());
      for (const o of outcomes) {
        expect(o.status).toBe('ok');
        expect(o.error_code).toBe('task_not_found');
        expect(String(o.error_message)).toMatch(
          /^PayLink answered 404 for 1 of its task id\(s\) \(stale-\d+\)/,
        );
      }
    });
  });
});
