/**
 * A `changed` load that dies right after its commit point (its `_dlt_loads` row written, the
 * bookkeeping after it not): the events' claim stays pending and the schedule's state does not
 * advance. The next changed load folds that claim (no event committed twice) and loads the same
 * users again, with those of newer events: at least once, never lost, and harmless because the
 * current state is per user (each user's latest good load).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { openLakeQuery } from '#cli/duckdb-lake.ts';
import { changedSourcesLine } from '#cli/summary.ts';
import { type ChangedSelection, changedStateKey, selectChangedUsers } from '#core/changed-users.ts';
import type { LoadMarker } from '#core/commit.ts';
import { EVENT_CLAIMS } from '#core/event-claims.ts';
import type { ObjectStore } from '#core/ports.ts';
import { loadOrders } from '#test/helpers/orders-api.ts';
import { receiveNumberedEvent } from '#test/helpers/signed-webhook.ts';

const SECRET = 'after-commit-secret';
let dir: string;
let store: ObjectStore;
let now: Date;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'changed-after-commit-'));
  store = createLocalStore(dir);
  now = new Date('2026-12-01T10:00:00.000Z');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function receive(identifier: string, n: number): Promise<void> {
  await receiveNumberedEvent({ store, secret: SECRET, receivedAt: now }, identifier, n);
}

/** The last `changedLoad`'s report, and its selection. */
let lastMarker: LoadMarker | undefined;
let lastSelection: ChangedSelection | undefined;

/** A `changed` load as the CLI runs it, on `target`; returns the users it loaded. */
async function changedLoad(loadId: string, target: ObjectStore): Promise<string[]> {
  const { users, selection } = await selectChangedUsers(target, 'local', now);
  lastSelection = selection;
  lastMarker = await loadOrders({ loadId, users, changed: selection, store: target, clock: () => now });
  return users.map((u) => u.identifier);
}

async function rows(sql: string): Promise<unknown[][]> {
  const lake = await openLakeQuery(dir);
  try {
    return (await lake.query(sql)).rows;
  } finally {
    lake.close();
  }
}

describe('a changed load that dies right after its commit point', () => {
  it('is followed by a load of the same users; each event stays committed once', async () => {
    await receive('u1', 1);
    await receive('u2', 2);
    // Everything the commit writes after its `_dlt_loads` row is lost, as in a crash there.
    const afterCommitPoint = [EVENT_CLAIMS.committedKey, '_state/changed/', '_state/users/'];
    const dying: ObjectStore = {
      ...store,
      description: store.description,
      async put(key, body) {
        if (afterCommitPoint.some((p) => key.startsWith(p))) throw new Error('process killed');
        await store.put(key, body);
      },
    };
    expect(await changedLoad('load-1', dying)).toEqual(['u1', 'u2']);
    expect(await store.get(changedStateKey('local'))).toBeUndefined();
    expect(await store.list(EVENT_CLAIMS.pendingPrefix)).toEqual([`${EVENT_CLAIMS.pendingPrefix}load-1`]);

    now = new Date(now.getTime() + 3600_000);
    await receive('u3', 3);
    // The schedule did not advance: u1 and u2 again (at least once), with u3.
    expect(await changedLoad('load-2', store)).toEqual(['u1', 'u2', 'u3']);
    // Its selection (load-1's claim still pending, its load committed) and its report say so:
    // u1 and u2 loaded again for the 2 events load-1 committed, 1 event new and committed.
    expect(lastSelection?.committedEarlier).toEqual({ events: 2, users: 2 });
    expect(lastMarker?.changed?.sources).toEqual({
      usersWithEvents: 3,
      eventsSelected: 3,
      eventsCommittedEarlier: 2,
      retriedUsers: 0,
      usersOnlyWithEventsCommittedEarlier: 2,
    });
    expect(lastMarker?.events?.count).toBe(1);
    expect(changedSourcesLine({ ...lastMarker!.changed!.sources!, eventsCommitted: 1 })).toBe(
      'Users: the 3 users of 1 new webhook event(s) and 2 webhook event(s) an earlier load had committed already (2 of these 3 users have no new event, only events an earlier load committed); 1 webhook event(s) committed with this load',
    );
    expect(await changedLoad('load-3', store)).toEqual([]);

    // webhook_events: each event once, in the load that first committed it.
    expect(await rows('SELECT _dlt_load_id, data__seq FROM webhook_events ORDER BY data__seq')).toEqual([
      ['load-1', 1],
      ['load-1', 2],
      ['load-2', 3],
    ]);
    // Current state: each user once, from their latest load.
    expect(await rows('SELECT user_identifier, _dlt_load_id FROM current.orders ORDER BY 1')).toEqual([
      ['u1', 'load-2'],
      ['u2', 'load-2'],
      ['u3', 'load-2'],
    ]);
  });
});
