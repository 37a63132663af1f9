/**
 * A damaged object under `_events/` (not JSON, truncated, another shape) never blocks a load: it
 * is set aside (kept, not committed, not marked seen), named in the load's report, by `verify`
 * and by `status`, read again by later loads even after its partition closes, and committed once
 * it is repaired. A `changed` selection sets it aside the same way. An object not named as a
 * stored event (no load reads it) is named by `verify` and `status` too.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { openLakeQuery } from '#cli/duckdb-lake.ts';
import { lakeStatus } from '#cli/status-command.ts';
import { foldChangedSelection, selectChangedUsers } from '#core/changed-users.ts';
import { EVENT_CLAIMS } from '#core/event-claims.ts';
import type { TakenEvents } from '#core/event-log.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import { verifyLake } from '#core/verify.ts';
import { credentialsEnv, runCli } from '#test/helpers/lake-harness.ts';
import { loadOrders } from '#test/helpers/orders-api.ts';
import { receiveSigned, webhookEventBody } from '#test/helpers/signed-webhook.ts';

const SECRET = 'unreadable-events-secret';

let dir: string;
let spare: string;
let store: ObjectStore;
let now: Date;
const clock = () => now;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unreadable-events-'));
  spare = await mkdtemp(join(tmpdir(), 'unreadable-events-spare-'));
  store = createLocalStore(dir);
  now = new Date('2026-12-01T10:00:00.000Z');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(spare, { recursive: true, force: true });
});

/** Receives a signed event for `identifier` into `target`; returns its object key. */
async function receive(identifier: string, n: number, target: ObjectStore = store): Promise<string> {
  const body = webhookEventBody({
    identifier,
    eventTime: new Date(now.getTime() - 60_000),
    atomicId: true,
    data: { seq: n },
  });
  const outcome = await receiveSigned(body, { store: target, secret: SECRET, receivedAt: now });
  if (outcome.kind !== 'accepted') throw new Error('not accepted');
  return outcome.key;
}

/** Damaged objects under `_events/`: not JSON, a stored event cut short, JSON of another shape. */
async function damage(): Promise<{ notJson: string; truncated: string; shape: string; whole: Uint8Array }> {
  const spareStore = createLocalStore(spare);
  const truncated = await receive('u-cut', 99, spareStore);
  const whole = (await spareStore.get(truncated))!;
  await store.put(truncated, whole.slice(0, 40));
  const dt = now.toISOString().slice(0, 10);
  const notJson = `_events/dt=${dt}/${'a'.repeat(64)}.json`;
  const shape = `_events/dt=${dt}/${'b'.repeat(64)}.json`;
  await store.put(notJson, 'not json at all');
  await store.put(shape, '{"formatVersion":1,"something":"else"}');
  return { notJson, truncated, shape, whole };
}

function load(loadId: string) {
  return loadOrders({ loadId, users: [{ identifier: 'u1' }], store, clock });
}

async function committedEvents(): Promise<{ load: string; user: string }[]> {
  const lake = await openLakeQuery(dir);
  try {
    const { rows } = await lake.query(
      'SELECT _dlt_load_id, user_identifier FROM webhook_events ORDER BY _dlt_load_id, user_identifier',
    );
    return rows.map(([load, user]) => ({ load: String(load), user: String(user) }));
  } finally {
    lake.close();
  }
}

describe('an unreadable webhook event object', () => {
  it('is set aside by every load, reported by the load, verify and status, and committed once repaired', async () => {
    await receive('u1', 1);
    const { notJson, truncated, shape, whole } = await damage();
    const bad = [notJson, truncated, shape].sort();
    // Named before any load ran into them.
    expect([...(await lakeStatus(dir)).unreadableEvents].sort()).toEqual(bad);

    // A users-list load commits, with the readable event, and names the three it set aside.
    const first = await load('load-a');
    expect(first.events?.count).toBe(1);
    expect(first.events?.unreadable?.map((u) => u.key).sort()).toEqual(bad);
    expect(first.events?.unreadable?.find((u) => u.key === notJson)?.problem).toContain('not valid JSON');
    expect(await committedEvents()).toEqual([{ load: 'load-a', user: 'u1' }]);
    // Kept where they are.
    for (const key of bad) expect(await store.get(key)).toBeDefined();

    const report = await verifyLake({ store, reader: createParquetPartReader(), clock });
    const found = report.findings.filter((f) => f.kind === 'unreadable_event');
    expect(found).toHaveLength(3);
    for (const key of bad) expect(found.some((f) => f.detail.includes(key))).toBe(true);
    expect(found.every((f) => !f.fixable && f.keys.length === 0)).toBe(true);
    const status = await lakeStatus(dir);
    expect([...status.unreadableEvents].sort()).toEqual(bad);
    expect(status.warnings.join('\n')).toContain(notJson);

    // Past the window (EVENT_LOG.keepDays), their partition is closed: still read again and reported.
    now = new Date('2027-01-10T10:00:00.000Z');
    await receive('u2', 2);
    const second = await load('load-b');
    expect(second.events?.count).toBe(1);
    expect(second.events?.unreadable?.map((u) => u.key).sort()).toEqual(bad);
    const state = await readJson<TakenEvents>(store, EVENT_CLAIMS.committedKey);
    expect(state?.from).toBe('2026-12-06');
    expect(Object.values(state?.aside ?? {}).flat()).toHaveLength(3);

    // Repaired: the next load commits it; the others stay aside.
    await store.put(truncated, whole);
    const third = await load('load-c');
    expect(third.events?.count).toBe(1);
    expect(third.events?.unreadable?.map((u) => u.key).sort()).toEqual([notJson, shape].sort());
    expect(await committedEvents()).toEqual([
      { load: 'load-a', user: 'u1' },
      { load: 'load-b', user: 'u2' },
      { load: 'load-c', user: 'u-cut' },
    ]);
    // Committed once: a later load, days later in a quiet lake, commits nothing new and still
    // names the two left aside.
    now = new Date('2027-01-17T10:00:00.000Z');
    const fourth = await load('load-d');
    expect(fourth.events?.count ?? 0).toBe(0);
    expect(fourth.events?.unreadable?.map((u) => u.key).sort()).toEqual([notJson, shape].sort());
    expect((await committedEvents()).length).toBe(3);
  });

  it('is set aside by a changed selection: not seen, its users unknown, loaded once repaired', async () => {
    await receive('u1', 1);
    const { truncated, whole } = await damage();
    const picked = await selectChangedUsers(store, 'hourly', now);
    expect(picked.users.map((u) => u.identifier)).toEqual(['u1']);
    expect(picked.unreadable.map((u) => u.key)).toHaveLength(3);
    await foldChangedSelection(store, picked.selection);

    now = new Date('2026-12-04T10:00:00.000Z');
    expect((await selectChangedUsers(store, 'hourly', now)).users).toEqual([]);
    await store.put(truncated, whole);
    const repaired = await selectChangedUsers(store, 'hourly', now);
    expect(repaired.users.map((u) => u.identifier)).toEqual(['u-cut']);
    await foldChangedSelection(store, repaired.selection);
    expect((await selectChangedUsers(store, 'hourly', now)).users).toEqual([]);
  });

  it('that is not named as a stored event is reported by status and verify as no event, not passed over in silence', async () => {
    await receive('u1', 1);
    const dt = now.toISOString().slice(0, 10);
    const strays = [
      `_events/dt=${dt}/notes.txt`,
      `_events/dt=${dt}/${'A'.repeat(64)}.json`,
      `_events/dt=${dt}/${'c'.repeat(64)}.json.bak`,
    ].sort();
    for (const key of strays) await store.put(key, '{"event": {}}');
    // Before any load (every partition listed) and after one (the open partitions): named as
    // objects no load reads, never as events that loads set aside.
    const before = await lakeStatus(dir);
    expect(before.strayEventObjects).toEqual(strays);
    expect(before.unreadableEvents).toEqual([]);
    const first = await load('load-a');
    expect(first.events?.count).toBe(1);
    expect(first.events?.unreadable ?? []).toEqual([]);
    const status = await lakeStatus(dir);
    expect(status.strayEventObjects).toEqual(strays);
    expect(status.unreadableEvents).toEqual([]);
    const warning = status.warnings.find((w) => w.includes(strays[0]!));
    expect(warning).toContain('3 object(s) under _events/ are not stored events');
    expect(warning).toContain('no load reads them');
    expect(status.warnings.join('\n')).not.toContain('set aside');
    const report = await verifyLake({ store, reader: createParquetPartReader(), clock });
    expect(report.findings.filter((f) => f.kind === 'unreadable_event')).toEqual([]);
    const found = report.findings.filter((f) => f.kind === 'stray_event_object');
    expect(found).toHaveLength(3);
    for (const key of strays) {
      const detail = found.find((f) => f.detail.includes(key))?.detail;
      expect(detail).toContain('not named _events/dt=YYYY-MM-DD/<64 hex>.json');
      expect(detail).not.toContain('set aside by every load');
    }
    for (const key of strays) expect(await store.get(key)).toBeDefined();
  });

  it('a damaged event and a stray object side by side are each named under their own key', async () => {
    await receive('u1', 1);
    const { notJson } = await damage();
    const stray = `_events/dt=${now.toISOString().slice(0, 10)}/notes.txt`;
    await store.put(stray, 'hello');
    const status = await lakeStatus(dir);
    expect(status.unreadableEvents).toContain(notJson);
    expect(status.unreadableEvents).not.toContain(stray);
    expect(status.strayEventObjects).toEqual([stray]);
  });
});

describe('an event copied under another name', () => {
  it('is set aside and named by the load, verify and status, never committed twice', async () => {
    const original = await receive('u1', 1);
    const copy = `_events/dt=${now.toISOString().slice(0, 10)}/${'c'.repeat(64)}.json`;
    await store.put(copy, (await store.get(original))!);
    const first = await load('load-a');
    expect(first.events?.count).toBe(1);
    expect(first.events?.unreadable?.map((u) => u.key)).toEqual([copy]);
    expect(await committedEvents()).toEqual([{ load: 'load-a', user: 'u1' }]);
    await load('load-b');
    expect(await committedEvents()).toEqual([{ load: 'load-a', user: 'u1' }]);
    const report = await verifyLake({ store, reader: createParquetPartReader(), clock });
    const found = report.findings.filter((f) => f.kind === 'unreadable_event');
    expect(found.map((f) => f.detail)).toEqual([
      expect.stringContaining(`lake ${copy}: its name is not the event key stored in it`),
    ]);
    expect((await lakeStatus(dir)).unreadableEvents).toEqual([copy]);
    // A changed selection sets it aside too: u1 is loaded once, for its one event.
    const picked = await selectChangedUsers(store, 'local', now);
    expect(picked.users.map((u) => u.identifier)).toEqual(['u1']);
    expect(picked.unreadable.map((u) => u.key)).toEqual([copy.slice(-'.json'.length - 64, -'.json'.length)]);
  });
});

describe('a damaged state file', () => {
  const verify = () => verifyLake({ store, reader: createParquetPartReader(), clock });

  it("a changed schedule's: names the file and how to recover, verify reports it, and deleting it makes the next run a first one", async () => {
    await receive('u1', 1);
    const picked = await selectChangedUsers(store, 'local', now);
    await foldChangedSelection(store, picked.selection);
    const key = '_state/changed/local.json';
    await store.put(key, '{"formatVersion":1,"dts":{"2026-12-01":["ab');
    await expect(selectChangedUsers(store, 'local', now)).rejects.toThrow(
      `lake ${key}: the state file ${key} (the webhook events the 'local' changed loads have seen) is damaged: not valid JSON`,
    );
    await expect(selectChangedUsers(store, 'local', now)).rejects.toThrow(
      "the next changed load of 'local' is then a first one",
    );
    const run = await runCli(
      ['load', '--users', 'changed', '--dest', dir, '--base-url', 'http://127.0.0.1:9', '--quiet'],
      credentialsEnv('k', 's'),
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `: the state file ${key} (the webhook events the 'local' changed loads have seen) is damaged`,
    );
    expect(run.stderr).toContain(`(key ${key})`);
    const findings = (await verify()).findings.filter((f) => f.kind === 'state_file');
    expect(findings.map((f) => f.detail)).toEqual([
      expect.stringContaining(`lake ${key}: the state file ${key}`),
    ]);
    expect((await lakeStatus(dir)).warnings.join('\n')).toContain(`lake ${key}: the state file ${key}`);
    // As the message says: deleted, the next selection is a first one (every stored event's user).
    await store.delete([key]);
    const again = await selectChangedUsers(store, 'local', now);
    expect(again.firstRun).toBe(true);
    expect(again.users.map((u) => u.identifier)).toEqual(['u1']);
    expect((await verify()).findings.filter((f) => f.kind === 'state_file')).toEqual([]);
  });

  it('the committed events record: loads stop naming it and what to do, verify reports it instead of failing', async () => {
    await receive('u1', 1);
    await load('load-a');
    const key = EVENT_CLAIMS.committedKey;
    const whole = (await store.get(key))!;
    await store.put(key, whole.slice(0, 20));
    await expect(load('load-b')).rejects.toThrow(
      `lake ${key}: the state file ${key} (the webhook events committed to webhook_events so far) is damaged`,
    );
    await expect(load('load-b')).rejects.toThrow(
      'deleting it makes the next load commit every stored event again',
    );
    // Named (the failed load-b's staging aside), and the event checks that need it do not fail verify.
    const stateFindings = async () => (await verify()).findings.filter((f) => f.kind === 'state_file');
    const found = await stateFindings();
    expect(found).toHaveLength(1);
    expect((await lakeStatus(dir)).warnings.join('\n')).toContain(`lake ${key}: the state file ${key}`);
    expect(found[0]!.detail).toContain(`lake ${key}: the state file ${key}`);
    // A changed load refuses it when it selects its users, before fetching any of them.
    await expect(selectChangedUsers(store, 'local', new Date())).rejects.toThrow(
      `lake ${key}: the state file ${key}`,
    );
    // Of JSON but not of its shape: named too.
    await store.put(key, '{"formatVersion":1,"dts":[]}');
    expect((await stateFindings())[0]!.detail).toContain('not of its shape');
    await store.put(key, whole);
    expect(await stateFindings()).toEqual([]);
  });
});
