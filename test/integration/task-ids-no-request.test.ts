/**
 * A unit that made no request says nothing about its endpoint. A user with no task id has a
 * `tasks` unit of zero requests (most users of a `--users changed` load: account events carry no
 * task id); it once counted as the endpoint working, so three users whose every id answered 404
 * were taken for stale ids (ok, task_not_found, "while it answered other users' task ids")
 * though no id answered anywhere, and a missing task route was never reported.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { credentialsEnv, queryObjects, runLoad, Scratch, withLake } from '#test/helpers/lake-harness.ts';

const SEED = 'no-request-seed';
const API_KEY = 'no-request-key';
const API_SECRET = 'no-request-secret';
const ENV = credentialsEnv(API_KEY, API_SECRET);

describe('a tasks unit with no task id is neutral for the endpoint verdict', () => {
  let sim: Simulator;
  let scratch: Scratch;
  let identifiers: string[];

  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET });
    scratch = await Scratch.create('no-request');
    identifiers = generateIdentifiers(SEED, 12);
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  /** Three users, each with one task id PayLink does not know. */
  const bogus = () => identifiers.slice(0, 3).map((identifier, n) => ({ identifier, taskId: `bogus-${n}` }));

  const load = async (name: string, users: readonly string[], taskIds: readonly object[]) => {
    const dest = scratch.path(name);
    const run = await runLoad(
      {
        users: await scratch.users(`${name}-users.txt`, users),
        taskIds: await scratch.text(`${name}-tasks.jsonl`, taskIds.map((t) => JSON.stringify(t)).join('\n')),
        dest,
        baseUrl: sim.url,
        resources: ['accounts', 'tasks'],
        concurrency: 1,
        loadId: `${name}-1`,
        json: true,
      },
      ENV,
    );
    const outcomes = await withLake(dest, (lake) =>
      queryObjects(
        lake,
        `SELECT user_identifier, status, error_code, requests FROM user_loads WHERE resource = 'tasks' ORDER BY user_identifier`,
      ),
    );
    return { run, outcomes, byUser: (id: string) => outcomes.find((o) => o.user_identifier === id) };
  };

  it('finds the task endpoint unusable with a fourth user who has no task id, as without one', async () => {
    const plain = await load('three', identifiers.slice(0, 3), bogus());
    expect(plain.run.code, plain.run.stderr).toBe(4);

    const withIdle = identifiers[3]!;
    const { run, byUser } = await load('four', identifiers.slice(0, 4), bogus());
    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(4);
    const summary = JSON.parse(run.stdout);
    expect(summary.endpointFindings).toEqual([
      expect.objectContaining({ resource: 'tasks', code: 'http_404', evidenceUsers: 3 }),
    ]);
    for (const { identifier } of bogus())
      expect(byUser(identifier)).toMatchObject({ status: 'endpoint_unavailable', error_code: 'http_404' });
    // The user with nothing to fetch made no request: not a failure, and no proof either.
    expect(byUser(withIdle)).toMatchObject({ status: 'ok', error_code: null, requests: 0 });
  });

  it('takes the three all-404 users for stale ids once another user’s id answers', async () => {
    const answering = identifiers.slice(3).find((id) => sim.served(id).taskIds.length > 0);
    expect(answering, 'a user with a real task in the sample').toBeDefined();
    const idle = identifiers.slice(3).find((id) => id !== answering)!;
    const { run, byUser } = await load(
      'answered',
      [...identifiers.slice(0, 3), idle, answering!],
      [...bogus(), { identifier: answering, taskId: sim.served(answering!).taskIds[0] }],
    );
    expect(run.code, `exit code (stderr: ${run.stderr})`).toBe(0);
    expect(JSON.parse(run.stdout).endpointFindings ?? []).toEqual([]);
    for (const { identifier } of bogus())
      expect(byUser(identifier)).toMatchObject({ status: 'ok', error_code: 'task_not_found', requests: 1 });
    expect(byUser(answering!)).toMatchObject({ status: 'ok', error_code: null, requests: 1 });
  });
});
