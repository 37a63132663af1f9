/**
 * A capped `changed` load and the read window (EVENT_LOG.keepDays, 35 days): the users it leaves
 * keep their events pending, also in a partition older than the window that its commit would
 * otherwise close. The next capped loads take them, oldest first; every event is committed once,
 * and `verify` never calls a left event unclaimed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import type { ObjectStore } from '#core/ports.ts';
import { verifyLake } from '#core/verify.ts';
import { committedEventSeqs } from '#test/helpers/lake-harness.ts';
import { changedOrdersLoad } from '#test/helpers/orders-api.ts';
import { receiveNumberedEvent } from '#test/helpers/signed-webhook.ts';

const SECRET = 'capped-window-secret';
const DAY = 24 * 3600_000;
const START = new Date('2026-09-01T10:00:00.000Z');
let dir: string;
let store: ObjectStore;
let now: Date;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'changed-cap-window-'));
  store = createLocalStore(dir);
  now = START;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const day = (n: number) => new Date(START.getTime() + n * DAY);

async function receive(identifier: string, n: number, at: Date): Promise<void> {
  await receiveNumberedEvent({ store, secret: SECRET, receivedAt: at }, identifier, n);
}

/** A `changed` load capped at `maxUsers`, as the CLI runs it; returns the users it loaded. */
const changedLoad = (loadId: string, maxUsers?: number) => changedOrdersLoad(store, loadId, now, maxUsers);

const committed = () => committedEventSeqs(dir);

const verify = async () =>
  (await verifyLake({ store, reader: createParquetPartReader(), clock: () => now })).findings;

describe('capped changed loads and the read window', () => {
  it('leaves the deferred users their events, in partitions older than the window too, and takes them next, oldest first', async () => {
    await receive('u1', 1, START);
    expect(await changedLoad('load-1')).toEqual(['u1']);
    // 80 days without a load: events on days 10, 40 (u3 twice) and 70.
    await receive('u3', 2, day(10));
    await receive('u4', 3, day(40));
    await receive('u3', 4, day(41));
    await receive('u2', 5, day(70));
    now = day(80);
    // One user a run: u3's oldest event is oldest, then u4, then u2.
    expect(await changedLoad('load-2', 1)).toEqual(['u3']);
    // Day 40 is before the window of a load on day 80 (day 45): the left event keeps it open.
    expect(await verify()).toEqual([]);
    expect(await committed()).toEqual([
      ['load-1', 1],
      ['load-2', 2],
      ['load-2', 4],
    ]);
    now = day(81);
    expect(await changedLoad('load-3', 1)).toEqual(['u4']);
    expect(await verify()).toEqual([]);
    now = day(82);
    expect(await changedLoad('load-4', 1)).toEqual(['u2']);
    expect(await changedLoad('load-5', 1)).toEqual([]);
    expect(await committed()).toEqual([
      ['load-1', 1],
      ['load-2', 2],
      ['load-3', 3],
      ['load-2', 4],
      ['load-4', 5],
    ]);
    expect(await verify()).toEqual([]);
  });
});
