/**
 * Webhooks to loads, deployed, offline under AWS rules (test/helpers/offline-aws.ts): the bundled
 * webhook Lambda behind its Function URL stores Atomic's signed events (with its own role, which
 * may only create objects under `_events/`), and the schedules' state machines, run from the
 * synthesized template with the bundled plan, load-batch and commit Lambdas, load from them:
 *
 * - an hourly `changed` schedule loads only the users with new events, plus the tasks their
 *   `task-status-updated` events named, and commits them with the events as `webhook_events`;
 * - its next run, with no new event, loads nobody, says so, and succeeds;
 * - the daily `all` schedule (the safety net) loads the operator's list plus every user learned
 *   from events (committed ones from the registry, and ones no load has committed yet), with the
 *   task ids the events named, so a task-only change is reloaded by the safety net too;
 * - an event whose task field names no task id is committed, and the commit counts it in its
 *   `committed` line and its TaskIdProblemEvents metric, as `load` does in its summary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIM, METRIC } from '#core/load-metrics.ts';
import { simulatedEvent } from '#simulator/webhook-sender.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { emfRecords, jsonLines } from '#test/helpers/log-lines.ts';
import type { ExecutionOutcome } from '#test/helpers/offline-aws.ts';
import {
  API_SECRET,
  DAILY_ALL,
  describeDenials,
  explainOutcome,
  HOURLY_CHANGED,
  type OfflineWorld,
  offlineConfig,
  rowsOfLoad,
  startOfflineWorld,
} from '#test/helpers/offline-deployment.ts';

const SEED = 'offline-changed';
const LISTED = generateIdentifiers(SEED, 8);
/** Changes once: an account, or a task completing (each user's own order, world-changes.ts). */
const ACCOUNTS_USER = LISTED[1]!;
/** Changes an account, then completes a task (one event of each type). */
const TASK_USER = LISTED[4]!;
/** Not in the operator's list: known from their event only. */
const NEW_USER = 'linked-yesterday 1';
/** Not in the list either, and no load has committed their event when the daily run plans. */
const NEWER_USER = 'linked-this-morning 2';

const CONFIG = offlineConfig({ batchSize: 2, schedules: [DAILY_ALL, HOURLY_CHANGED] });

let world: OfflineWorld;
/** The simulator's request lines (`METHOD /path ...`) since the last reset. */
let requests: string[] = [];
let taskId: string;
/** Task ids named by the accepted task-status-updated events, in the order they were sent. */
const named: string[] = [];
/** A daily run while the users list is empty and no event has come. */
let emptyAll: ExecutionOutcome;

beforeAll(async () => {
  world = await startOfflineWorld({
    config: CONFIG,
    simulator: { seed: SEED, log: (line) => requests.push(line) },
  });
  // Before anyone is listed or has linked: the all run has nobody to load.
  await world.bucket.put(world.usersKey, '');
  emptyAll = await run('daily', '2026-11-30T03:00:00.000Z');
  await world.bucket.put(world.usersKey, `${LISTED.join('\n')}\n`);
}, 120_000);

afterAll(async () => {
  await world?.close();
});

const run = (schedule: 'daily' | 'hourly', scheduledTime: string) =>
  world.aws.execute(schedule, world.aws.scheduledInput(schedule, scheduledTime), {
    name: `${schedule}-${scheduledTime.replace(/\D/g, '')}`,
  });

const explain = (outcome: ExecutionOutcome) => explainOutcome(world, outcome);

/** Sends one world change for `identifier` to the webhook URL, signed with `secret`; returns the status. */
async function announce(identifier: string, time: string, secret = API_SECRET) {
  const change = world.sim.change(identifier);
  const event = simulatedEvent({
    identifier,
    type: change.eventType,
    time: new Date(time),
    secret,
    data: change.data,
  });
  const answer = await world.aws.invokeUrl('webhook', { headers: event.headers, body: event.body });
  if (answer.statusCode === 200 && typeof change.data.taskId === 'string') named.push(change.data.taskId);
  return { change, event, answer };
}

const rowsOf = (table: string, loadId: string) => rowsOfLoad(world, table, loadId);

const usersOf = async (loadId: string) =>
  [...new Set((await rowsOf('user_loads', loadId)).map((r) => String(r.user_identifier)))].sort();

/** The task ids whose details the simulator was asked for. */
const taskRequests = () =>
  [
    ...new Set(
      requests.flatMap((line) => {
        const m = /\/task\/([^/\s]+)\/details/.exec(line);
        return m ? [decodeURIComponent(m[1]!)] : [];
      }),
    ),
  ].sort();

const commitLogs = (outcome: ExecutionOutcome) =>
  outcome.invocations
    .filter((i) => i.fn === 'commit')
    .map((i) => i.logs)
    .join('\n');

const planned = (outcome: ExecutionOutcome) =>
  JSON.parse(
    outcome.invocations
      .find((i) => i.fn === 'plan')!
      .logs.split('\n')
      .find((l) => l.includes('"planned"'))!,
  );

describe('webhooks to loads, deployed: a changed schedule and the all schedule as its safety net', () => {
  let baseline: ExecutionOutcome;
  let changed: ExecutionOutcome;
  let changedTasks: string[];
  let namedBeforeChanged: string[];
  let idle: ExecutionOutcome;
  let weekly: ExecutionOutcome;
  let weeklyTasks: string[];
  const answers: Record<string, number[]> = {};
  let storedAfterForgery: string[] = [];

  beforeAll(async () => {
    baseline = await run('daily', '2026-12-01T03:00:00.000Z');
    const record = (label: string, status: number) => {
      answers[label] = [...(answers[label] ?? []), status];
    };
    // The day: three users change; one event arrives twice (Atomic's retry); one is forged.
    const accounts = await announce(ACCOUNTS_USER, '2026-12-01T09:00:00.000Z');
    record('accounts', accounts.answer.statusCode);
    record(
      'retry',
      (await world.aws.invokeUrl('webhook', { headers: accounts.event.headers, body: accounts.event.body }))
        .statusCode,
    );
    // Two changes of a user are one account change and one task completing, in their own order.
    const taskUser = [
      await announce(TASK_USER, '2026-12-01T09:05:00.000Z'),
      await announce(TASK_USER, '2026-12-01T09:10:00.000Z'),
    ];
    for (const sent of taskUser) record('task-user', sent.answer.statusCode);
    const task = taskUser.find((sent) => sent.change.eventType === 'task-status-updated')!;
    taskId = String(task.change.data.taskId);
    record('new-user', (await announce(NEW_USER, '2026-12-01T09:20:00.000Z')).answer.statusCode);
    // A task event whose task field is an object without an id: stored, its user loaded, no task fetched.
    const oddTask = simulatedEvent({
      identifier: NEW_USER,
      type: 'task-status-updated',
      time: new Date('2026-12-01T09:25:00.000Z'),
      secret: API_SECRET,
      data: { taskId: { ref: 7 }, status: 'failed' },
    });
    record(
      'odd-task',
      (await world.aws.invokeUrl('webhook', { headers: oddTask.headers, body: oddTask.body })).statusCode,
    );
    const before = await world.bucket.list(`${world.prefix}/_events/`);
    record(
      'forged',
      (await announce(LISTED[6]!, '2026-12-01T09:30:00.000Z', 'not-the-api-secret')).answer.statusCode,
    );
    storedAfterForgery = (await world.bucket.list(`${world.prefix}/_events/`)).filter(
      (k) => !before.includes(k),
    );

    namedBeforeChanged = [...named].sort();
    requests = [];
    changed = await run('hourly', '2026-12-01T10:00:00.000Z');
    changedTasks = taskRequests();
    idle = await run('hourly', '2026-12-01T11:00:00.000Z');

    // The next morning: one more user links before any changed run commits their event.
    record('newer-user', (await announce(NEWER_USER, '2026-12-02T02:00:00.000Z')).answer.statusCode);
    requests = [];
    weekly = await run('daily', '2026-12-02T03:00:00.000Z');
    weeklyTasks = taskRequests();
  }, 240_000);

  it('stores each signed event once through the Function URL, and nothing for a forged one', async () => {
    expect(baseline.status, explain(baseline)).toBe('SUCCEEDED');
    expect(answers).toEqual({
      accounts: [200],
      retry: [200],
      'task-user': [200, 200],
      'new-user': [200],
      'odd-task': [200],
      forged: [401],
      'newer-user': [200],
    });
    expect(storedAfterForgery).toEqual([]);
    // 5 events before the changed runs (the retry is the same object), 1 the next morning.
    expect(await world.bucket.list(`${world.prefix}/_events/`)).toHaveLength(6);
    expect(describeDenials(world.gate)).toEqual([]);
  });

  it('the changed run loads only the users with new events, and the task their task event named', async () => {
    expect(changed.status, explain(changed)).toBe('SUCCEEDED');
    const loadId = changed.output.loadId as string;
    expect(await usersOf(loadId)).toEqual([ACCOUNTS_USER, NEW_USER, TASK_USER].sort());
    expect(changedTasks).toContain(taskId);
    expect(changedTasks).toEqual(namedBeforeChanged);
    const tasks = (await rowsOf('user_loads', loadId)).filter((r) => r.resource === 'tasks');
    expect(tasks.map((r) => [r.user_identifier, r.status])).toContainEqual([TASK_USER, 'ok']);
    // The events are committed with the load, each once.
    const events = await rowsOf('webhook_events', loadId);
    expect(events.map((e) => e.user_identifier).sort()).toEqual(
      [ACCOUNTS_USER, NEW_USER, NEW_USER, TASK_USER, TASK_USER].sort(),
    );
    expect(
      events.find((e) => e.event_type === 'task-status-updated' && e.user_identifier === TASK_USER)?.task_id,
    ).toBe(taskId);
    expect(planned(changed)).toMatchObject({ users: 3, changedEvents: 5 });
    expect(describeDenials(world.gate)).toEqual([]);
  });

  it("counts the event whose task field names no task id in the commit's line and its TaskIdProblemEvents metric", async () => {
    const committedLine = (outcome: ExecutionOutcome) =>
      jsonLines(commitLogs(outcome)).find((l) => l.message === 'committed')!;
    const metricOf = (outcome: ExecutionOutcome) =>
      emfRecords(commitLogs(outcome)).filter((r) => r.metrics[METRIC.taskIdProblemEvents] !== undefined);
    const loadId = changed.output.loadId as string;
    const odd = (await rowsOf('webhook_events', loadId)).filter((e) => e.task_id_problem !== null);
    expect(odd.map((e) => [e.user_identifier, e.task_id, e.task_id_problem])).toEqual([
      [NEW_USER, null, 'data.taskId is an object, not a task id'],
    ]);
    expect(committedLine(changed)).toMatchObject({ taskIdProblemEvents: 1 });
    const [record] = metricOf(changed);
    expect(record!.metrics[METRIC.taskIdProblemEvents]).toEqual({ value: 1, unit: 'Count' });
    expect(record!.dimensions).toEqual({
      [DIM.stack]: world.template.deployment.stackName,
      [DIM.schedule]: 'hourly',
    });
    // A load that committed only ordinary events (or none) says 0, as a datapoint, not a gap.
    for (const run of [baseline, weekly]) {
      expect(committedLine(run)).toMatchObject({ taskIdProblemEvents: 0 });
      expect(metricOf(run).map((r) => r.metrics[METRIC.taskIdProblemEvents]!.value)).toEqual([0]);
    }
  });

  it('the next changed run, with no new event, loads nobody, says so and succeeds', async () => {
    expect(idle.status, explain(idle)).toBe('SUCCEEDED');
    expect(idle.output).toMatchObject({ users: 0, batches: 0, nothingToLoad: true });
    expect(planned(idle)).toMatchObject({ users: 0, changedEvents: 0 });
    const plan = idle.invocations.find((i) => i.fn === 'plan')!;
    expect(plan.logs).toContain('"event":"nothing_to_load"');
    // Nothing loaded, staged, locked or committed.
    expect(idle.invocations.map((i) => i.fn)).toEqual(['plan']);
    const loadId = idle.output.loadId as string;
    const keys = await world.bucket.list(`${world.prefix}/`);
    expect(keys.filter((k) => k.includes(loadId))).toEqual([]);
    expect(describeDenials(world.gate)).toEqual([]);
  });

  it('an all run with an empty list and no learned user succeeds with a warning naming the list, and leaves nothing', async () => {
    expect(emptyAll.status, explain(emptyAll)).toBe('SUCCEEDED');
    expect(emptyAll.output).toMatchObject({ users: 0, batches: 0, nothingToLoad: true });
    expect(emptyAll.invocations.map((i) => i.fn)).toEqual(['plan']);
    const warning = emptyAll.invocations[0]!.logs.split('\n').find((l) =>
      l.includes('"event":"nothing_to_load"'),
    );
    expect(warning).toContain('"level":"WARN"');
    expect(warning).toContain(world.usersKey);
    const loadId = emptyAll.output.loadId as string;
    expect((await world.bucket.list(`${world.prefix}/`)).filter((k) => k.includes(loadId))).toEqual([]);
  });

  it('the all run loads the list, the users learned from events (committed or not yet), and their tasks', async () => {
    expect(weekly.status, explain(weekly)).toBe('SUCCEEDED');
    const loadId = weekly.output.loadId as string;
    expect(await usersOf(loadId)).toEqual([...LISTED, NEW_USER, NEWER_USER].sort());
    // The safety net reloads the task the events named, as the changed run did.
    expect(weeklyTasks).toContain(taskId);
    expect(weeklyTasks).toEqual([...named].sort());
    const tasks = (await rowsOf('user_loads', loadId)).filter(
      (r) => r.resource === 'tasks' && r.status === 'ok',
    );
    expect(tasks.map((r) => r.user_identifier)).toContain(TASK_USER);
    // Its commit takes the morning's event.
    expect((await rowsOf('webhook_events', loadId)).map((e) => e.user_identifier)).toEqual([NEWER_USER]);
    expect(describeDenials(world.gate)).toEqual([]);
  });
});
