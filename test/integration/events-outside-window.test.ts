/**
 * Events and the loads' read window (EVENT_LOG.keepDays, 35 days):
 *  - a long gap between loads loses nothing: a load lists from 35 days before the previous
 *    load's date, however long ago that was, so every partition since is read;
 *  - an event object that lands in a partition the window has closed (restored from a backup,
 *    moved back after a repair, a receiver clock over 35 days behind) is listed by no load:
 *    `verify` names it (`unclaimed_event`) with the way to have it committed, and does not name
 *    the closed partitions' events that loads committed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { EVENT_CLAIMS } from '#core/event-claims.ts';
import type { TakenEvents } from '#core/event-log.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import { verifyLake } from '#core/verify.ts';
import { committedEventSeqs } from '#test/helpers/lake-harness.ts';
import { changedOrdersLoad } from '#test/helpers/orders-api.ts';
import { receiveNumberedEvent } from '#test/helpers/signed-webhook.ts';

const SECRET = 'outside-window-secret';
const DAY = 24 * 3600_000;
const START = new Date('2026-09-01T10:00:00.000Z');
let dir: string;
let store: ObjectStore;
let now: Date;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'events-outside-window-'));
  store = createLocalStore(dir);
  now = START;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const day = (n: number) => new Date(START.getTime() + n * DAY);

/** Stores a signed event for `identifier` as received at `at`; returns its object key. */
async function receive(identifier: string, n: number, at: Date = now): Promise<string> {
  const outcome = await receiveNumberedEvent({ store, secret: SECRET, receivedAt: at }, identifier, n);
  const [key] = (await store.list('_events/')).filter((k) => k.includes(outcome.key));
  return key!;
}

/** A `changed` load as the CLI runs it; returns the users it loaded. */
const changedLoad = (loadId: string) => changedOrdersLoad(store, loadId, now);

const committedSeqs = () => committedEventSeqs(dir);

const verify = () => verifyLake({ store, reader: createParquetPartReader(), clock: () => now });

describe('the read window of webhook events', () => {
  it('loses nothing to a long gap between changed loads', async () => {
    await receive('u1', 1);
    expect(await changedLoad('load-1')).toEqual(['u1']);
    // 80 days without a load; events on days 10, 40 and 70.
    await receive('u2', 2, day(10));
    await receive('u3', 3, day(40));
    await receive('u4', 4, day(70));
    now = day(80);
    expect(await changedLoad('load-2')).toEqual(['u2', 'u3', 'u4']);
    expect(await committedSeqs()).toEqual([
      ['load-1', 1],
      ['load-2', 2],
      ['load-2', 3],
      ['load-2', 4],
    ]);
    expect((await verify()).findings).toEqual([]);
  });

  it('has verify name an event put into a closed partition, until it is moved where a load takes it', async () => {
    await receive('u1', 1);
    await changedLoad('load-1');
    now = day(40);
    await receive('u2', 2);
    await changedLoad('load-2');
    const state = await readJson<TakenEvents>(store, EVENT_CLAIMS.committedKey);
    expect(state?.from).toBe('2026-09-06');
    // Day 1's partition closed with load-2; an event object lands there now (a receiver clock 39
    // days behind, an object restored from a backup).
    const late = await receive('u3', 3, day(1));
    expect(late.startsWith('_events/dt=2026-09-02/')).toBe(true);
    expect(await changedLoad('load-3')).toEqual([]);

    const findings = (await verify()).findings;
    expect(findings.map((f) => f.kind)).toEqual(['unclaimed_event']);
    expect(findings[0]!.detail).toContain(`lake ${late}: in a partition before 2026-09-06`);
    expect(findings[0]!.detail).toContain('no committed load holds it in webhook_events');
    const name = late.slice(late.lastIndexOf('/') + 1);
    expect(findings[0]!.detail).toContain(`move it to _events/dt=2026-10-11/${name}`);
    expect(findings[0]!.fixable).toBe(false);

    // As verify says: moved into today's partition, the next load commits it, and verify is clean.
    await store.put(`_events/dt=2026-10-11/${name}`, (await store.get(late))!);
    await store.delete([late]);
    expect(await changedLoad('load-4')).toEqual(['u3']);
    expect(await committedSeqs()).toEqual([
      ['load-1', 1],
      ['load-2', 2],
      ['load-4', 3],
    ]);
    expect((await verify()).findings).toEqual([]);
  });
});
