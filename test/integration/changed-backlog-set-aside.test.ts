/**
 * `status`'s changed-backlog note on unreadable event objects says what happened to them: an
 * object that arrived since the schedule's last run has been read by no run of it yet (its next
 * run will set it aside), and only once a run has read it is it "set aside by its last run".
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { changedBacklog, formatBacklogs } from '#cli/changed-backlog.ts';
import { foldChangedSelection, selectChangedUsers } from '#core/changed-users.ts';
import type { ObjectStore } from '#core/ports.ts';
import { receiveSigned, webhookEventBody } from '#test/helpers/signed-webhook.ts';

const SECRET = 'backlog-set-aside-secret';
const NOW = new Date('2026-12-01T10:00:00.000Z');

let dir: string;
let store: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'backlog-set-aside-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function notes(): Promise<string[]> {
  const figures = await changedBacklog(store, 'hourly', NOW, 100);
  const lines = formatBacklogs([{ ...figures, lastRun: null, hint: null, flag: null }], 100, true);
  return lines.filter((l) => l.includes('unreadable event object'));
}

async function runSchedule(): Promise<void> {
  await foldChangedSelection(store, (await selectChangedUsers(store, 'hourly', NOW)).selection);
}

describe("status's note on a schedule's unreadable event objects", () => {
  it('says no run has read an object that came after the last run, and set aside once one has', async () => {
    const body = webhookEventBody({ identifier: 'u1', eventTime: NOW, data: { seq: 1 } });
    expect((await receiveSigned(body, { store, secret: SECRET, receivedAt: NOW })).kind).toBe('accepted');
    await runSchedule();
    expect(await notes()).toEqual([]);

    // Damaged objects, named as events, put in after the schedule's last run.
    for (const c of ['a', 'b']) await store.put(`_events/dt=2026-12-01/${c.repeat(64)}.json`, 'not json');
    expect(await notes()).toEqual([
      '  hourly: 2 unreadable event objects among them that no run of it has read yet: its next run will set them aside (their users not loaded: see the warning)',
    ]);
    expect(await changedBacklog(store, 'hourly', NOW, 100)).toMatchObject({
      unreadableEvents: 2,
      unreadableSetAside: 0,
    });

    await runSchedule();
    await store.put(`_events/dt=2026-12-01/${'c'.repeat(64)}.json`, '{"formatVersion":1}');
    expect(await notes()).toEqual([
      '  hourly: 2 unreadable event objects among them, set aside by its last run (their users not loaded: see the warning)',
      '  hourly: 1 unreadable event object among them that no run of it has read yet: its next run will set it aside (its user not loaded: see the warning)',
    ]);
  });
});
