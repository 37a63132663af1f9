/**
 * Event objects in `_events/` partitions dated more than a day ahead (a receiver clock ahead, an
 * object copied by hand) are listed by no load until the day before their date. `status` and
 * `verify` say so, with the count, each partition and its day, and what to do; tomorrow's
 * partition (which loads list) is not reported, nor anything before the first load (which lists
 * all of `_events/`). On S3 the check is one LIST that starts past the partitions loads list.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createS3Store } from '#adapters/s3-store.ts';
import { lakeStatus } from '#cli/status-command.ts';
import { addDays, heldBackEventPartitions } from '#core/event-log.ts';
import type { ObjectStore } from '#core/ports.ts';
import { verifyLake } from '#core/verify.ts';
import { loadOrders } from '#test/helpers/orders-api.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';
import { receiveSigned, webhookEventBody } from '#test/helpers/signed-webhook.ts';

const SECRET = 'held-back-secret';

let dir: string;
let store: ObjectStore;
const now = new Date();
const today = now.toISOString().slice(0, 10);
const clock = () => now;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'held-back-events-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Receives a signed event as a receiver whose clock reads `daysAhead` days after now. */
async function receive(identifier: string, daysAhead: number): Promise<string> {
  const body = webhookEventBody({ identifier, eventTime: now, data: { daysAhead } });
  const receivedAt = new Date(now.getTime() + daysAhead * 86_400_000);
  const outcome = await receiveSigned(body, { store, secret: SECRET, receivedAt });
  if (outcome.kind !== 'accepted') throw new Error('not accepted');
  return outcome.key;
}

const verifyFindings = async () =>
  (await verifyLake({ store, reader: createParquetPartReader(), clock })).findings.filter(
    (f) => f.kind === 'held_back_events',
  );

describe('event objects in partitions dated ahead', () => {
  it('are reported by status and verify once loads list by partition, with their dates and what to do', async () => {
    await receive('u-today', 0);
    await receive('u-tomorrow', 1);
    await receive('u-ahead-1', 3);
    await receive('u-ahead-2', 3);
    await receive('u-far', 40);

    // Before the first load: a load lists all of _events/ and takes them, so nothing is held back.
    expect((await lakeStatus(dir)).heldBackEvents).toEqual([]);
    expect(await verifyFindings()).toEqual([]);

    const first = await loadOrders({ loadId: 'load-a', users: [{ identifier: 'u-today' }], store, clock });
    expect(first.events?.count).toBe(5);
    // Held back from now on: received later on a clock that is ahead.
    await receive('u-ahead-3', 3);
    await receive('u-ahead-4', 2);

    const status = await lakeStatus(dir);
    expect(status.heldBackEvents).toEqual([
      { dt: addDays(today, 2), objects: 1, listedFrom: addDays(today, 1) },
      { dt: addDays(today, 3), objects: 1, listedFrom: addDays(today, 2) },
    ]);
    const warning = status.warnings.find((w) => w.includes('dated more than a day after today'));
    expect(warning).toBe(
      `2 object(s) under _events/ are in partitions dated more than a day after today (${today}, UTC): ` +
        `dt=${addDays(today, 2)} (1, held back until ${addDays(today, 1)}), dt=${addDays(today, 3)} (1, held back until ${addDays(today, 2)}). ` +
        'Loads list partitions up to tomorrow only, so no load takes them before the day before their date. ' +
        "A partition's date is the receiver's UTC date of receipt: if the receiver's clock is ahead, correct it; " +
        `an object copied there by hand can be moved, under the same name, to _events/dt=${today}/ for the next load to take`,
    );
    const findings = await verifyFindings();
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ fixable: false, detail: warning });
  });
});

describe('the held-back check on S3', () => {
  const BUCKET = 'held-back-events';
  let s3: RunningS3rver;
  let restore: () => void;
  beforeAll(async () => {
    s3 = await startS3rver({ buckets: [BUCKET] });
    restore = withS3Env(s3.endpoint);
  }, 60_000);
  afterAll(async () => {
    restore?.();
    await s3?.close();
  });

  it('starts its listing after the partitions loads list and counts only later ones', async () => {
    const s3Store = createS3Store({ bucket: BUCKET, prefix: 'lake', listPageSize: 2 });
    const day = '2026-12-01';
    const hex = (c: string) => c.repeat(64);
    for (const [dt, c] of [
      ['2026-11-30', 'a'],
      [day, 'b'],
      [day, 'c'],
      ['2026-12-02', 'd'],
      ['2026-12-03', 'e'],
      ['2026-12-03', 'f'],
      ['2026-12-25', '0'],
    ] as const)
      await s3Store.put(`_events/dt=${dt}/${hex(c)}.json`, '{}');
    expect(await s3Store.listAfter!('_events/', `_events/dt=2026-12-020`)).toEqual([
      `_events/dt=2026-12-03/${hex('e')}.json`,
      `_events/dt=2026-12-03/${hex('f')}.json`,
      `_events/dt=2026-12-25/${hex('0')}.json`,
    ]);
    expect(await heldBackEventPartitions(s3Store, day)).toEqual([
      { dt: '2026-12-03', objects: 2, listedFrom: '2026-12-02' },
      { dt: '2026-12-25', objects: 1, listedFrom: '2026-12-24' },
    ]);
  });
});
