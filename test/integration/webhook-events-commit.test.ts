/**
 * `webhook_events` committed with each load: every stored event exactly once across loads, in the
 * history DuckDB reads, whatever happens between a load's claim and its commit point (a crash, a
 * re-run of the load id, a stalled commit taken over by another one).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { openLakeQuery } from '#cli/duckdb-lake.ts';
import { EVENT_CLAIMS, type EventsLockOptions } from '#core/event-claims.ts';
import { dltLoadsKey, loadMarkerKey } from '#core/layout.ts';
import { acquireLease } from '#core/lease.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import { registeredIdentifiers, registeredTaskIds } from '#core/user-registry.ts';
import { loadOrders, NO_LOCK_WAIT } from '#test/helpers/orders-api.ts';
import { receiveSigned, webhookEventBody } from '#test/helpers/signed-webhook.ts';

const SECRET = 'events-commit-secret';

let dir: string;
let store: ObjectStore;
let now: Date;
const clock = () => now;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webhook-events-commit-'));
  store = createLocalStore(dir);
  now = new Date('2026-12-01T10:00:00.000Z');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function eventBody(identifier: string, n: number, data: Record<string, unknown> = {}): string {
  return webhookEventBody({
    identifier,
    eventType: data.taskId === undefined ? 'pay-link-accounts-updated' : 'task-status-updated',
    eventTime: new Date(now.getTime() - 60_000),
    atomicId: true,
    data: { seq: n, ...data },
  });
}

async function receiveBody(body: string, receivedAt: Date = now): Promise<string> {
  const outcome = await receiveSigned(body, { store, secret: SECRET, receivedAt }, { 'ce-id': 'evt' });
  if (outcome.kind !== 'accepted') throw new Error(`not accepted: ${outcome.reason}`);
  return outcome.stored;
}

/** The document the receiver stores for an event of `identifier` (to repair a damaged object by hand). */
/** The object the receiver would store for this event: its key (named by its digest) and text. */
async function storedDocumentOf(identifier: string, n: number): Promise<{ key: string; text: string }> {
  const folder = await mkdtemp(join(tmpdir(), 'webhook-events-doc-'));
  try {
    const scratch = createLocalStore(folder);
    const body = eventBody(identifier, n);
    const outcome = await receiveSigned(body, { store: scratch, secret: SECRET, receivedAt: now });
    if (outcome.kind !== 'accepted') throw new Error(`not accepted: ${outcome.reason}`);
    const [key] = await scratch.list('_events/');
    return { key: key!, text: new TextDecoder().decode(await scratch.get(key!)) };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

async function receive(identifier: string, n: number, data: Record<string, unknown> = {}): Promise<void> {
  await receiveBody(eventBody(identifier, n, data));
}

function load(loadId: string, target: ObjectStore = store, eventsLock: EventsLockOptions = NO_LOCK_WAIT) {
  return loadOrders({
    loadId,
    users: [{ identifier: 'u1' }, { identifier: 'u2' }],
    store: target,
    clock,
    eventsLock,
  });
}

async function history(): Promise<{ load: string; key: string; seq: number }[]> {
  const lake = await openLakeQuery(dir);
  try {
    const { rows } = await lake.query(
      'SELECT _dlt_load_id AS load, event_key AS key, data__seq AS seq FROM webhook_events ORDER BY seq',
    );
    return rows.map(([load, key, seq]) => ({ load: String(load), key: String(key), seq: Number(seq) }));
  } finally {
    lake.close();
  }
}

describe('webhook_events is committed with each load', () => {
  it('commits each stored event once, in the first load committed after it arrived', async () => {
    await receive('u1', 1);
    await receive('u2', 2, { taskId: 'task-9', status: 'completed' });
    await receive('u2', 2, { taskId: 'task-9', status: 'completed' }); // Atomic's retry: one object
    await load('load-a');
    now = new Date(now.getTime() + 3600_000);
    await receive('u3', 3);
    await load('load-b');
    await load('load-c'); // nothing new: commits no event

    const rows = await history();
    expect(rows.map((r) => [r.load, r.seq])).toEqual([
      ['load-a', 1],
      ['load-a', 2],
      ['load-b', 3],
    ]);
    expect(new Set(rows.map((r) => r.key)).size).toBe(3);
    // The users the events named joined the registry, with the task the event named.
    expect(await registeredIdentifiers(store)).toEqual(['u1', 'u2', 'u3']);
    expect(await registeredTaskIds(store, ['u2'])).toEqual(new Map([['u2', ['task-9']]]));
    // The events lock is released after each commit: a lake at rest holds no lease.
    expect(await store.list('_leases/')).toEqual([]);
  });

  it('commits a replay stored days later once, and takes an event that landed late in a past day', async () => {
    const body = eventBody('u1', 1);
    await receiveBody(body);
    await load('load-a');
    const received = now;
    // A load on each day between, with an event of its own (a load with nothing new writes nothing).
    for (let day = 1; day <= 3; day++) {
      now = new Date(received.getTime() + day * 24 * 3600_000);
      await receive('u3', 10 + day);
      await load(`load-day-${day}`);
    }
    // Atomic replays the window: stored again under the new day (the receiver cannot read back).
    expect(await receiveBody(body)).toBe('created');
    // A receiver whose clock is days behind stores event 2 into the first day's partition.
    await receiveBody(eventBody('u2', 2), received);
    await load('load-b');
    now = new Date(now.getTime() + 24 * 3600_000);
    // Nothing new in the window: the load does not even take the events lock (held here).
    await acquireLease(store, EVENT_CLAIMS.lockId, {
      owner: { id: 'other-commit', kind: 'cli' },
      ttlMs: EVENT_CLAIMS.lockTtlMs,
      clock,
    });
    await load('load-c');
    expect((await history()).map((r) => [r.load, r.seq])).toEqual([
      ['load-a', 1],
      ['load-b', 2],
      ['load-day-1', 11],
      ['load-day-2', 12],
      ['load-day-3', 13],
    ]);
  });

  it('keeps an eventTime that is not text in event_time_raw and marks event_time as defaulted', async () => {
    const times: unknown[] = [12345, { at: '2026-12-01' }, '', '2026-11-30T08:00:00Z'];
    for (const [n, eventTime] of times.entries())
      await receiveBody(
        JSON.stringify({
          eventType: 'task-status-updated',
          eventTime,
          user: { identifier: 'u1' },
          data: { seq: n },
        }),
      );
    await receiveBody(
      JSON.stringify({ eventType: 'task-status-updated', user: { identifier: 'u1' }, data: { seq: 9 } }),
    );
    await load('load-a');
    const lake = await openLakeQuery(dir);
    try {
      const { rows } = await lake.query(
        'SELECT data__seq, CAST(event_time AS VARCHAR), event_time_defaulted, event_time_raw FROM webhook_events ORDER BY data__seq',
      );
      const received = '2026-12-01 10:00:00';
      expect(
        rows.map(([seq, time, defaulted, raw]) => [Number(seq), String(time).slice(0, 19), defaulted, raw]),
      ).toEqual([
        [0, received, true, '12345'],
        [1, received, true, '{"at":"2026-12-01"}'],
        [2, received, true, '""'],
        [3, '2026-11-30 08:00:00', false, null],
        [9, received, true, null],
      ]);
    } finally {
      lake.close();
    }
  });

  it('gives the events of a load that crashed before its commit point to the next load, and never twice', async () => {
    await receive('u1', 1);
    await receive('u2', 2);
    const crashing: ObjectStore = {
      ...store,
      description: store.description,
      async put(key, body) {
        if (key === dltLoadsKey('load-a')) throw new Error('disk gone');
        await store.put(key, body);
      },
      openWrite: async (key) => {
        if (key === dltLoadsKey('load-a')) throw new Error('disk gone');
        return store.openWrite(key);
      },
    };
    await expect(load('load-a', crashing)).rejects.toThrow();
    await load('load-b');
    // The crashed load re-run later: its events are load-b's now, so it commits none of them.
    await load('load-a');

    const rows = await history();
    expect(rows.map((r) => [r.load, r.seq])).toEqual([
      ['load-b', 1],
      ['load-b', 2],
    ]);
  });

  it('re-runs a committed load id with exactly its events: those received since wait for the next load', async () => {
    // Damaged under its own name (a copy under another name is set aside for good: event-log.ts).
    const repaired = await storedDocumentOf('u3', 3);
    const damaged = repaired.key;
    await receive('u1', 1);
    await store.put(damaged, '{"cut short'); // set aside: unreadable, kept, reported
    const first = await load('load-a');
    expect(first.events?.unreadable?.map((u) => u.key)).toEqual([damaged]);
    now = new Date(now.getTime() + 60_000);
    await receive('u2', 2);
    const rerun = await load('load-a'); // replaces load-a: its own event, nothing newer
    expect(rerun.events?.count).toBe(1);
    expect(rerun.events?.unreadable?.map((u) => u.key)).toEqual([damaged]);
    expect((await history()).map((r) => [r.load, r.seq])).toEqual([['load-a', 1]]);

    // Repaired: not load-a's either (it was not when load-a claimed); the next load takes it.
    await store.put(damaged, repaired.text);
    const again = await load('load-a');
    expect(again.events?.unreadable).toBeUndefined();
    expect((await history()).map((r) => [r.load, r.seq])).toEqual([['load-a', 1]]);
    await load('load-b');
    await load('load-a'); // and once more: still only its own
    expect((await history()).map((r) => [r.load, r.seq])).toEqual([
      ['load-a', 1],
      ['load-b', 2],
      ['load-b', 3],
    ]);
  });

  it('re-runs a committed load that committed no event without taking the events received since', async () => {
    await load('load-a'); // no event yet
    await receive('u1', 1);
    const rerun = await load('load-a');
    expect(rerun.events).toBeUndefined();
    await load('load-b');
    expect((await history()).map((r) => [r.load, r.seq])).toEqual([['load-b', 1]]);
  });

  it('finishes a load that died after its claim with exactly the events it claimed, not those received since', async () => {
    await receive('u1', 1);
    await receive('u2', 2);
    // Set aside by the claim before the crash: stays aside (and reported) through the re-run.
    await store.put(`_events/dt=2026-12-01/${'e'.repeat(64)}.json`, 'not json');
    const crashing: ObjectStore = {
      ...store,
      description: store.description,
      async put(key, body) {
        if (key === dltLoadsKey('load-a')) throw new Error('disk gone');
        await store.put(key, body);
      },
      openWrite: async (key) => {
        if (key === dltLoadsKey('load-a')) throw new Error('disk gone');
        return store.openWrite(key);
      },
    };
    await expect(load('load-a', crashing)).rejects.toThrow();
    now = new Date(now.getTime() + 60_000);
    await receive('u3', 3);
    const finished = await load('load-a');
    expect(finished.events?.count).toBe(2);
    expect(finished.events?.unreadable?.map((u) => u.key)).toEqual([
      `_events/dt=2026-12-01/${'e'.repeat(64)}.json`,
    ]);
    await load('load-b');
    expect((await history()).map((r) => [r.load, r.seq])).toEqual([
      ['load-a', 1],
      ['load-a', 2],
      ['load-b', 3],
    ]);
    const state = await readJson<{ aside?: Record<string, string[]> }>(store, EVENT_CLAIMS.committedKey);
    expect(state?.aside).toEqual({ '2026-12-01': ['e'.repeat(64)] });
  });

  it('prunes the claims of committed loads once they are old, and a re-run of a pruned load keeps its events', async () => {
    // 20 loads, 12 hours apart, each committing one new event.
    const loadIds: string[] = [];
    for (let n = 1; n <= 20; n++) {
      await receive(`u${n}`, n);
      const loadId = `load-${String(n).padStart(2, '0')}`;
      await load(loadId);
      loadIds.push(loadId);
      now = new Date(now.getTime() + 12 * 3600_000);
    }
    // Only claims within claimKeepMs (2 days: the last 4 or 5 loads) are left; nothing pending.
    const claims = await store.list(EVENT_CLAIMS.claimsPrefix);
    expect(claims.length).toBeLessThanOrEqual(5);
    expect(claims).toContain(`${EVENT_CLAIMS.claimsPrefix}load-20.json`);
    expect(await store.list(EVENT_CLAIMS.pendingPrefix)).toEqual([]);
    const state = await readJson<{ folded?: Record<string, string> }>(store, EVENT_CLAIMS.committedKey);
    expect(Object.keys(state?.folded ?? {}).sort()).toEqual(
      claims.map((k) => k.slice(EVENT_CLAIMS.claimsPrefix.length, -'.json'.length)).sort(),
    );

    // load-03's claim is gone; re-running it keeps its event, once, and commits no other.
    expect(claims).not.toContain(`${EVENT_CLAIMS.claimsPrefix}load-03.json`);
    await load('load-03');
    const rows = await history();
    expect(rows.filter((r) => r.load === 'load-03').map((r) => r.seq)).toEqual([3]);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  }, 120_000);

  it('says while it waits for the events lock, naming the holder, and fails naming it too', async () => {
    await receive('u1', 1);
    await acquireLease(store, EVENT_CLAIMS.lockId, {
      owner: {
        id: 'other-commit-7',
        kind: 'cli',
        host: 'host-b',
        pid: 4242,
        command: 'paylink-loader load --load-id other',
      },
      ttlMs: EVENT_CLAIMS.lockTtlMs,
      clock,
    });
    const said: string[] = [];
    // The clock moves on with each poll: 70 s of waiting in a few hundred polls.
    const waiting: EventsLockOptions = {
      waitMs: 70_000,
      sleep: async (ms) => {
        now = new Date(now.getTime() + ms);
      },
      onWait: (message) => said.push(message),
    };
    const error = await load('load-a', store, waiting).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    // At once, then every 30 s: a wait of minutes never looks like a hang.
    expect(said).toHaveLength(3);
    expect(said[0]).toMatch(/load load-a: waiting for the webhook events lock, held by another commit/);
    expect(said[0]).toContain('cli other-commit-7 on host-b, pid 4242 (paylink-loader load --load-id other)');
    expect(said[0]).toContain('waiting up to 70 s more');
    expect(said[1]).toContain('waiting up to 40 s more');
    expect(error?.message).toContain('stayed held for 70 s by cli other-commit-7 on host-b');
    expect(error?.message).toContain('re-run it with the same load id');
  });

  it('lets a stalled commit be taken over: the taker commits the events, the stalled one fails at its commit point', async () => {
    await receive('u1', 1);
    let stalled: () => void = () => undefined;
    const resume = new Promise<void>((resolve) => {
      stalled = resolve;
    });
    let reachedMarker: () => void = () => undefined;
    const atMarker = new Promise<void>((resolve) => {
      reachedMarker = resolve;
    });
    const pausing: ObjectStore = {
      ...store,
      description: store.description,
      async put(key, body) {
        if (key === loadMarkerKey('load-a')) {
          reachedMarker();
          await resume;
        }
        await store.put(key, body);
      },
    };
    const first = load('load-a', pausing).then(
      () => 'committed',
      (error: unknown) => (error as Error).message,
    );
    await atMarker;
    // load-a holds the events lock and stalls past its ttl: load-b takes the lock over.
    now = new Date(now.getTime() + EVENT_CLAIMS.lockTtlMs + 60_000);
    await load('load-b');
    stalled();
    expect(await first).not.toBe('committed');

    const rows = await history();
    expect(rows.map((r) => [r.load, r.seq])).toEqual([['load-b', 1]]);
  });
});
