/**
 * What `webhook_events` and the users of events keep, through real loads of a local lake (signed
 * events through the receiver or objects put by hand, `changed` loads, DuckDB on the lake):
 * - one odd event's `data` (keys that are ids) is kept as JSON for that event only: every later
 *   ordinary event's `data` still flattens into its columns (`data__status`);
 * - numbers keep their digits (a bigint in a `__v_text` variant and in JSON text columns);
 * - task ids and identifiers that would not stay one path segment (`.`, `..`) are never requested,
 *   and named per user in `user_loads`;
 * - a stored event whose identifier the receiver refuses is set aside and reported, not committed
 *   with its user silently left out.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { openLakeQuery } from '#cli/duckdb-lake.ts';
import { formatSummary, summarize } from '#cli/summary.ts';
import { selectChangedUsers } from '#core/changed-users.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import type { BatchUser } from '#core/load-batch.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { runLoad } from '#core/run-load.ts';
import type { JsonValue } from '#core/types.ts';
import { eventKey, eventObjectKey, receiveWebhook, signWebhookBody } from '#core/webhook.ts';

const SECRET = 'events-fidelity-secret';

let dir: string;
let store: ObjectStore;
let now: Date;
const clock = () => now;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'events-fidelity-'));
  store = createLocalStore(dir);
  now = new Date('2026-12-01T10:00:00.000Z');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Receives the signed body through the receiver; returns its outcome. */
async function receiveText(body: string) {
  return receiveWebhook(
    {
      headers: { 'x-hmac-signature-sha-256': signWebhookBody(body, SECRET) },
      body: new TextEncoder().encode(body),
    },
    { store, secret: SECRET, receivedAt: now },
  );
}

/** A task-status event for `identifier`, `data` as given (raw JSON text: numbers as spelled). */
function eventText(identifier: string, data: string, eventTime = JSON.stringify(now.toISOString())): string {
  return `{"eventType":"task-status-updated","eventTime":${eventTime},"user":{"_id":${JSON.stringify(`atomic-${identifier}`)},"identifier":${JSON.stringify(identifier)}},"data":${data}}`;
}

async function receive(identifier: string, data: string, eventTime?: string): Promise<void> {
  const outcome = await receiveText(eventText(identifier, data, eventTime));
  expect(outcome.kind).toBe('accepted');
}

/** Every request path the API was asked for, in order. */
function recordingApi(paths: string[]): PayLinkApi {
  return {
    async openSession() {
      return {
        async getJson(request): Promise<JsonValue> {
          paths.push(request.path);
          if (request.path.startsWith('/task/'))
            return { data: { _id: decodeURIComponent(request.path.split('/')[2]!), status: 'completed' } };
          return { orders: [] };
        },
      };
    },
    stats: () => ({ requests: paths.length, retries: 0 }),
  };
}

/** `load --users changed` in process: the users of new events, committed with the events. */
async function loadChanged(loadId: string, resources = ['orders'], paths: string[] = []) {
  const picked = await selectChangedUsers(store, 'local', now);
  const marker = await runLoad(
    {
      loadId,
      startedAt: now,
      users: picked.users,
      resources: selectResources(resolveCatalog(), resources),
      batchSize: 10,
      concurrency: 2,
      changed: picked.selection,
      schedule: 'local',
    },
    {
      api: recordingApi(paths),
      store,
      parts: createParquetPartWriterFactory(),
      reader: createParquetPartReader(),
      clock,
      eventsLock: { sleep: async () => undefined, waitMs: 0 },
    },
  );
  return { picked, marker };
}

async function loadUsers(loadId: string, users: readonly BatchUser[], resources: string[], paths: string[]) {
  return runLoad(
    {
      loadId,
      startedAt: now,
      users,
      resources: selectResources(resolveCatalog(), resources),
      batchSize: 10,
      concurrency: 2,
    },
    {
      api: recordingApi(paths),
      store,
      parts: createParquetPartWriterFactory(),
      reader: createParquetPartReader(),
      clock,
      eventsLock: { sleep: async () => undefined, waitMs: 0 },
    },
  );
}

async function query(sql: string): Promise<unknown[][]> {
  const lake = await openLakeQuery(dir);
  try {
    return (await lake.query(sql)).rows;
  } finally {
    lake.close();
  }
}

const later = (minutes: number) => {
  now = new Date(now.getTime() + minutes * 60_000);
};

describe('webhook_events data', () => {
  it("keeps one odd event's data as JSON and goes on flattening every ordinary event's data", async () => {
    await receive('u1', '{"status":"completed","taskId":"t-1"}');
    await loadChanged('load-a');
    later(10);
    // Keys that are ids (an ObjectId): this event's data is a map, kept whole as JSON text.
    await receive(
      'u2',
      '{"5f8d0d55b547a1c2d3e4f5a6":{"status":"failed"},"65a1b2c3d4e5f60718293a4b":{"status":"ok"}}',
    );
    await loadChanged('load-b');
    later(10);
    await receive('u3', '{"status":"failed","taskId":"t-3"}');
    // In one load with an odd event too: each event decides for itself.
    await receive('u4', `{${Array.from({ length: 300 }, (_, i) => `"field${i}":${i}`).join(',')}}`);
    await receive('u5', '{"status":"failed","taskId":"t-5"}');
    await loadChanged('load-c');

    const rows = await query(
      'SELECT user_identifier, data__status, data__task_id, data FROM webhook_events ORDER BY user_identifier',
    );
    expect(rows.map(([user, status, task]) => [user, status, task])).toEqual([
      ['u1', 'completed', 't-1'],
      ['u2', null, null],
      ['u3', 'failed', 't-3'],
      ['u4', null, null],
      ['u5', 'failed', 't-5'],
    ]);
    // Only the odd events' data is JSON text.
    expect(rows.map(([user, , , data]) => [user, data === null ? null : typeof data])).toEqual([
      ['u1', null],
      ['u2', 'string'],
      ['u3', null],
      ['u4', 'string'],
      ['u5', null],
    ]);
    expect(JSON.parse(String(rows[1]![3]))).toEqual({
      '5f8d0d55b547a1c2d3e4f5a6': { status: 'failed' },
      '65a1b2c3d4e5f60718293a4b': { status: 'ok' },
    });
    expect(Object.keys(JSON.parse(String(rows[3]![3])))).toHaveLength(300);
    const failed = await query(
      "SELECT user_identifier FROM webhook_events WHERE data__status = 'failed' ORDER BY 1",
    );
    expect(failed).toEqual([['u3'], ['u5']]);
  });

  it('keeps every digit of a large integer, in its column and in JSON text', async () => {
    await receive('u1', '{"status":"completed","n":5}');
    await loadChanged('load-a');
    later(10);
    const big = '12345678901234567890123';
    await receive(
      'u2',
      `{"status":"completed","n":${big},"byDate":{"2026-11-30":${big},"2026-12-01":1.10}}`,
      `{"at":${big}}`,
    );
    await loadChanged('load-b');

    const [row] = await query(
      "SELECT data__n, data__n__v_text, data__by_date, event_time_raw, event_time_defaulted FROM webhook_events WHERE user_identifier = 'u2'",
    );
    expect(row![0]).toBeNull();
    expect(row![1]).toBe(big);
    expect(String(row![2])).toBe(`{"2026-11-30":${big},"2026-12-01":1.10}`);
    expect(row![3]).toBe(`{"at":${big}}`);
    expect(row![4]).toBe(true);
  });
});

describe('event times finer than a millisecond', () => {
  it('set event_time to the instant truncated to the millisecond and keep the time as sent in event_time_raw', async () => {
    await receive('u1', '{"status":"completed"}', '"2026-12-01T01:02:03.123456789Z"');
    await receive('u2', '{"status":"completed"}', '"2026-12-01T03:04:05.999999+02:00"');
    await receive('u3', '{"status":"completed"}', '"2026-12-01T01:02:03.123Z"');
    const paths: string[] = [];
    const { picked } = await loadChanged('load-a', ['orders'], paths);
    // Selection is by receipt, not event time: every user is loaded.
    expect(picked.users.map((u) => u.identifier).sort()).toEqual(['u1', 'u2', 'u3']);

    const rows = await query(
      'SELECT user_identifier, CAST(event_time AS VARCHAR), event_time_raw FROM webhook_events ORDER BY user_identifier',
    );
    expect(rows).toEqual([
      ['u1', '2026-12-01 01:02:03.123', '"2026-12-01T01:02:03.123456789Z"'],
      ['u2', '2026-12-01 01:04:05.999', '"2026-12-01T03:04:05.999999+02:00"'],
      ['u3', '2026-12-01 01:02:03.123', null],
    ]);
    const columns = await query(
      "SELECT column_name FROM (DESCRIBE webhook_events) WHERE column_name LIKE 'event_time%'",
    );
    expect(columns.flat()).not.toContain('event_time__v_text');
  });
});

describe('task ids and statuses of other shapes', () => {
  it('fetches a whole-number task id, reads the status beside the id, and reports a task field that names no id', async () => {
    await receive('u1', '{"taskId":12345,"status":"processing"}');
    await receive('u2', '{"taskId":{"x":1},"status":"failed"}');
    await receive('u3', '{"task":{"_id":"t-3","status":"completed"}}');
    await receive('u4', '{"task":{"status":"completed"}}');
    await receive('u5', '{"taskId":12.5}');
    const paths: string[] = [];
    const { marker } = await loadChanged('load-a', ['tasks'], paths);
    expect(paths.filter((p) => p.startsWith('/task/')).sort()).toEqual([
      '/task/12345/details',
      '/task/t-3/details',
    ]);
    const rows = await query(
      'SELECT user_identifier, task_id, status, task_id_problem FROM webhook_events ORDER BY user_identifier',
    );
    expect(rows).toEqual([
      ['u1', '12345', 'processing', null],
      ['u2', null, 'failed', 'data.taskId is an object, not a task id'],
      ['u3', 't-3', 'completed', null],
      ['u4', null, null, 'data.task is an object without _id, not a task'],
      ['u5', null, null, 'data.taskId is a number that is not a whole number, not a task id'],
    ]);
    // Counted in the load's report, and so in `load`'s summary (text and --json).
    expect(marker.events?.taskIdProblemEvents).toBe(3);
    const summary = summarize(marker, { dest: dir, retries: 0, seconds: 1, exitCode: 0 });
    expect(summary.taskIdProblemEvents).toBe(3);
    expect(formatSummary(summary)).toContain(
      '3 webhook event(s) committed naming no usable task id (a task field that is no id, or a task event with none)',
    );
  });
});

describe('task events that name no task id, blank and exponent ids, fail reasons', () => {
  it('gives a task event with no task id (no field, or null) a task_id_problem and counts it; other event types keep NULL', async () => {
    await receive('u1', '{"status":"completed"}');
    await receive('u2', '{"taskId":null,"status":"failed"}');
    for (const [identifier, eventType] of [
      ['u3', 'task-authentication-status-updated'],
      ['u4', 'task-status-patched'],
      ['u5', 'pay-link-accounts-updated'],
    ] as const) {
      const body = `{"eventType":"${eventType}","user":{"identifier":"${identifier}"},"data":{"status":"x"}}`;
      expect((await receiveText(body)).kind).toBe('accepted');
    }
    const { marker } = await loadChanged('load-a');
    const rows = await query(
      'SELECT user_identifier, task_id, task_id_problem FROM webhook_events ORDER BY user_identifier',
    );
    expect(rows).toEqual([
      ['u1', null, 'no task id (none of data.taskId, data.task, task)'],
      ['u2', null, 'data.taskId is null: no task id'],
      ['u3', null, 'no task id (none of data.taskId, data.task, task)'],
      ['u4', null, 'no task id (none of data.taskId, data.task, task)'],
      ['u5', null, null],
    ]);
    expect(marker.events?.taskIdProblemEvents).toBe(4);
  });

  it('flags a blank task id like an empty one, and takes 1e3 as the whole number 1000 without losing digits', async () => {
    await receive('u1', '{"taskId":"  "}');
    await receive('u2', '{"taskId":""}');
    await receive('u3', '{"taskId":1e3}');
    await receive('u4', '{"taskId":12345678901234567890123e2}');
    await receive('u5', '{"taskId":1.5e0}');
    await receive('u6', `{"taskId":1e${80}}`);
    const paths: string[] = [];
    const { marker } = await loadChanged('load-a', ['tasks'], paths);
    expect(paths.filter((p) => p.startsWith('/task/')).sort()).toEqual([
      '/task/1000/details',
      '/task/1234567890123456789012300/details',
    ]);
    const rows = await query(
      'SELECT user_identifier, task_id, task_id_problem FROM webhook_events ORDER BY user_identifier',
    );
    expect(rows).toEqual([
      ['u1', null, 'data.taskId is blank text (only whitespace), not a task id'],
      ['u2', null, 'data.taskId is empty text, not a task id'],
      ['u3', '1000', null],
      ['u4', '1234567890123456789012300', null],
      ['u5', null, 'data.taskId is a number that is not a whole number, not a task id'],
      ['u6', null, 'data.taskId is a whole number of over 64 digits, not a task id'],
    ]);
    expect(marker.events?.taskIdProblemEvents).toBe(4);
  });

  it('reads fail_reason where the status was read: the task object, else data', async () => {
    await receive('u1', '{"task":{"_id":"TFR-1","status":"failed","failReason":"bad-credentials"}}');
    await receive('u2', '{"taskId":"TFR-2","status":"failed","failReason":"timeout"}');
    await receive('u3', '{"task":{"_id":"TFR-3","status":"failed"},"failReason":"from-data"}');
    await loadChanged('load-a');
    const rows = await query(
      'SELECT user_identifier, task_id, status, fail_reason FROM webhook_events ORDER BY user_identifier',
    );
    expect(rows).toEqual([
      ['u1', 'TFR-1', 'failed', 'bad-credentials'],
      ['u2', 'TFR-2', 'failed', 'timeout'],
      ['u3', 'TFR-3', 'failed', 'from-data'],
    ]);
  });
});

describe('an event copied under another name', () => {
  it('is set aside and named, not committed a second time', async () => {
    await receive('u1', '{"status":"completed","taskId":"t-1"}');
    const [original] = await store.list('_events/');
    const copy = `_events/dt=2026-12-01/${'a'.repeat(64)}.json`;
    await store.put(copy, (await store.get(original!))!);
    const { picked, marker } = await loadChanged('load-a');
    expect(picked.users.map((u) => u.identifier)).toEqual(['u1']);
    expect(marker.events?.unreadable?.map((u) => u.key)).toEqual([copy]);
    expect(marker.events?.unreadable?.[0]?.problem).toContain(
      `lake ${copy}: its name is not the event key stored in it`,
    );
    expect(await query('SELECT user_identifier, event_key FROM webhook_events')).toEqual([
      ['u1', original!.slice('_events/dt=2026-12-01/'.length, -'.json'.length)],
    ]);
  });
});

describe('path segments', () => {
  it('refuses at the receiver an event whose task id or identifier would not stay one path segment', async () => {
    const refused = [
      eventText('u1', '{"taskId":".."}'),
      eventText('u1', '{"taskId":"."}'),
      eventText('u1', '{"task":{"_id":".."}}'),
      `{"eventType":"task-status-updated","user":{"identifier":"u1"},"data":{},"task":".."}`,
    ];
    for (const body of refused)
      expect(await receiveText(body)).toMatchObject({ kind: 'rejected', status: 400, reason: 'bad-task-id' });
    for (const identifier of ['..', '.'])
      expect(await receiveText(eventText(identifier, '{}'))).toMatchObject({
        kind: 'rejected',
        status: 400,
        reason: 'bad-identifier',
      });
    // Dots inside an id are one segment: stored.
    expect(await receiveText(eventText('a..b', '{"taskId":"t.1..2"}'))).toMatchObject({ kind: 'accepted' });
    expect(await store.list('_events/')).toHaveLength(1);
  });

  it('does not request a task id or identifier that would not stay one path segment, and names it per user', async () => {
    const paths: string[] = [];
    await loadUsers(
      'load-a',
      [
        { identifier: 'u1', taskIds: ['t-1', '..', '.'] },
        { identifier: 'u2', taskIds: ['..'] },
        { identifier: '..' },
      ],
      ['tasks', 'user_tasks'],
      paths,
    );
    // Never `/task/../details` (fetched as `/details`) nor `/user/../tasks` (`/tasks`).
    expect(paths.filter((p) => p.split('/').some((s) => s === '.' || s === '..'))).toEqual([]);
    expect(paths).toContain('/task/t-1/details');
    const rows = await query(
      'SELECT user_identifier, resource, status, error_code, error_message FROM user_loads WHERE error_code IS NOT NULL ORDER BY user_identifier, resource',
    );
    expect(rows.map((r) => r.slice(0, 4))).toEqual([
      ['..', 'user_tasks', 'failed', 'unsafe_identifier'],
      ['u1', 'tasks', 'ok', 'unsafe_task_id'],
      ['u2', 'tasks', 'ok', 'unsafe_task_id'],
    ]);
    expect(String(rows[1]![4])).toContain(`2 of its task id(s) ("..", ".") not requested`);
    expect(String(rows[0]![4])).toContain(`user identifier ".." not requested`);
    expect(await query("SELECT _id FROM tasks WHERE user_identifier = 'u1'")).toEqual([['t-1']]);
  });
});

describe('a stored event the receiver would refuse', () => {
  it('is set aside and reported by the load, not committed with its user silently left out', async () => {
    await receive('u1', '{"status":"completed"}');
    // Put by hand: the receiver refuses both (`..` is no path segment; a line feed no list line).
    const byHand = async (identifier: string) => {
      const body = eventText(identifier, '{"status":"completed"}');
      const key = eventObjectKey(eventKey(new TextEncoder().encode(body)), now);
      await store.put(
        key,
        `{"formatVersion":1,"eventKey":"x","receivedAt":${JSON.stringify(now.toISOString())},"cloudEvent":{},"event":${body}}\n`,
      );
      return key;
    };
    const dots = await byHand('..');
    const newline = await byHand('user\none');
    const { picked, marker } = await loadChanged('load-a');
    expect(picked.users.map((u) => u.identifier)).toEqual(['u1']);
    expect(picked.unreadable.map((u) => u.key).sort()).toEqual(
      [dots, newline].map((k) => k.slice('_events/dt=2026-12-01/'.length, -'.json'.length)).sort(),
    );
    expect(marker.events?.unreadable?.map((u) => u.key).sort()).toEqual([dots, newline].sort());
    const problem = marker.events?.unreadable?.find((u) => u.key === newline)?.problem;
    expect(problem).toContain('event.user.identifier "user\\none" is one the receiver refuses');
    expect(await query('SELECT user_identifier FROM webhook_events')).toEqual([['u1']]);
  });
});

describe('events nested too deep, and keys given twice', () => {
  const deep = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

  it('refuses at the receiver a body nested past 64 levels, or with a key given twice, storing nothing', async () => {
    // The body is level 1, so data of 63 levels (itself the first) reaches 64.
    expect((await receiveText(eventText('u1', deep(63)))).kind).toBe('accepted');
    for (const body of [
      eventText('u2', deep(64)),
      eventText('u3', deep(3000)),
      `{"eventType":"other","eventType":"task-status-updated","user":{"identifier":"u4"},"data":{}}`,
    ]) {
      const outcome = await receiveText(body);
      expect(outcome).toMatchObject({ kind: 'rejected', status: 400, reason: 'malformed' });
    }
    const stored = (await store.list('_events/')).filter((k) => k.endsWith('.json'));
    expect(stored).toHaveLength(1);
  });

  it('sets aside a stored event 3,000 levels deep: the load commits, names it, and the next load too', async () => {
    await receive('u1', '{"status":"completed"}');
    const body = eventText('u9', deep(3000));
    const key = eventObjectKey(eventKey(new TextEncoder().encode(body)), now);
    await store.put(
      key,
      `{"formatVersion":1,"eventKey":"x","receivedAt":${JSON.stringify(now.toISOString())},"cloudEvent":{},"event":${body}}\n`,
    );
    for (const loadId of ['load-a', 'load-b']) {
      const { marker } = await loadChanged(loadId);
      const problem = marker.events?.unreadable?.find((u) => u.key === key)?.problem;
      expect(problem, loadId).toContain('nested deeper than the 64 levels the receiver accepts');
    }
    expect(await query('SELECT user_identifier FROM webhook_events')).toEqual([['u1']]);
  });
});
