/**
 * Where a changed load's users came from, as its report counts them at the commit
 * (`markerChanged`): the selected events its claim did not take were committed by another load,
 * and a user counts as having only such events by their selected events, not by whatever else
 * of theirs the claim took (an event received while the load ran). A re-run of a load whose
 * report was written before the rename (`reloadedUsers`) keeps its count under today's name.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { type ChangedSelection, markerChanged, reusedSelection } from '#core/changed-users.ts';
import { loadMarkerKey } from '#core/layout.ts';
import type { ObjectStore } from '#core/ports.ts';
import { writeJson } from '#core/store-json.ts';

const key = (n: number) => n.toString(16).padStart(64, '0');

/** Planned: a (event 1), b (events 2 and 3), c retried; the events 1, 2 and 3 selected. */
const selection: ChangedSelection = {
  formatVersion: 1,
  schedule: 'local',
  today: '2026-12-01',
  listed: [],
  events: 3,
  users: 3,
  committedEarlier: { events: 0, users: 0 },
  eventKeys: [key(1), key(2), key(3)],
  retried: ['c'],
  planned: [{ identifier: 'a' }, { identifier: 'b' }, { identifier: 'c' }],
};

describe('markerChanged', () => {
  it('counts the selected events its claim did not take as committed earlier, and their users by those events', () => {
    // Events 1 and 2 were committed by another load meanwhile; the claim takes event 3 and a's
    // event 9, received while this load ran (not selected: a was loaded for event 1 alone).
    const claimed = [
      { identifier: 'b', key: key(3) },
      { identifier: 'a', key: key(9) },
    ];
    expect(markerChanged(selection, claimed)?.sources).toEqual({
      usersWithEvents: 2,
      eventsSelected: 3,
      eventsCommittedEarlier: 2,
      retriedUsers: 1,
      usersOnlyWithEventsCommittedEarlier: 1,
    });
  });

  it('counts every selected event as committed earlier when the commit claimed none', () => {
    expect(markerChanged(selection, [])?.sources).toMatchObject({
      eventsCommittedEarlier: 3,
      usersOnlyWithEventsCommittedEarlier: 2,
    });
  });
});

describe('reusedSelection of a report written before usersOnlyWithEventsCommittedEarlier', () => {
  let dir: string;
  let store: ObjectStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'changed-sources-'));
    store = createLocalStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads its reloadedUsers as usersOnlyWithEventsCommittedEarlier, with no events count it never had', async () => {
    await writeJson(store, loadMarkerKey('old'), {
      startedAt: '2026-11-30T10:00:00.000Z',
      changed: {
        schedule: 'local',
        users: [{ identifier: 'a' }, { identifier: 'b' }],
        sources: { usersWithEvents: 2, eventsSelected: 3, retriedUsers: 0, reloadedUsers: 1 },
      },
    });
    const reused = await reusedSelection(store, 'old', 'local', '2026-12-01', '--load-id');
    expect(reused?.selection.sources).toEqual({
      usersWithEvents: 2,
      eventsSelected: 3,
      retriedUsers: 0,
      usersOnlyWithEventsCommittedEarlier: 1,
    });
    expect(markerChanged(reused?.selection, [])?.sources).toEqual(reused?.selection.sources);
  });
});
