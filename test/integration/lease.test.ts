/**
 * The lease of a load id (core/lease.ts) on both stores, the S3 one through a proxy that honours
 * `If-None-Match: *` as S3 does (s3rver alone ignores it): one holder at a time, a refusal that
 * names the holder, takeover only after expiry (or of a dead process on this host), a holder
 * that was taken over finds out, and racing takeovers have exactly one winner.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '#adapters/open-store.ts';
import { LeaseHeldError, LeaseLostError } from '#core/errors.ts';
import { leasePrefix } from '#core/layout.ts';
import { acquireLease, assertLeaseOwner, type LeaseOptions, type LeaseOwner } from '#core/lease.ts';
import type { ObjectStore } from '#core/ports.ts';
import { type S3FaultProxy, startS3FaultProxy } from '#test/helpers/s3-fault-proxy.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const TTL = 60_000;
const T0 = Date.parse('2026-11-30T12:00:00Z');
const owner = (id: string): LeaseOwner => ({
  id,
  kind: 'cli',
  host: 'host-a',
  pid: 4242,
  command: 'paylink-loader load',
});
const options = (id: string, at: number, extra: Partial<LeaseOptions> = {}): LeaseOptions => ({
  owner: owner(id),
  ttlMs: TTL,
  clock: () => new Date(at),
  ...extra,
});

let dir: string;
let s3: RunningS3rver;
let proxy: S3FaultProxy;
let restoreEnv: () => void;
let lakes = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'paylink-lease-'));
  s3 = await startS3rver({ buckets: ['leases'] });
  proxy = await startS3FaultProxy(s3.endpoint);
  restoreEnv = withS3Env(proxy.endpoint);
});
afterAll(async () => {
  restoreEnv?.();
  await proxy?.close();
  await s3?.close();
  await rm(dir, { recursive: true, force: true });
});

const stores: [string, () => ObjectStore][] = [
  ['local folder', () => openStore(join(dir, `lake-${++lakes}`))],
  ['S3 (conditional writes honoured)', () => openStore(`s3://leases/lake-${++lakes}`)],
];

describe.each(stores)('the lease of a load id (%s)', (_name, newStore) => {
  it('is held by one run at a time; the refusal names the holder; release frees it', async () => {
    const store = newStore();
    const first = await acquireLease(store, 'L1', options('run-a', T0));
    const refused = acquireLease(store, 'L1', options('run-b', T0 + 1_000));
    await expect(refused).rejects.toBeInstanceOf(LeaseHeldError);
    await expect(refused).rejects.toThrow(
      /load L1 is being written by cli run-a on host-a, pid 4242 \(paylink-loader load\), since 2026-11-30T12:00:00\.000Z, .*expires in 59 s unless renewed/,
    );
    // Another load id is not affected.
    await (await acquireLease(store, 'L2', options('run-b', T0))).release();
    await first.release();
    expect(await store.list(leasePrefix('L1'))).toEqual([]);
    const second = await acquireLease(store, 'L1', options('run-b', T0 + 2_000));
    expect(second.doc.owner.id).toBe('run-b');
  });

  it('is renewed by its heartbeat, taken over only after it expired, and the old holder finds out', async () => {
    const store = newStore();
    let now = T0;
    const holder = await acquireLease(store, 'L1', { ...options('run-a', T0), clock: () => new Date(now) });
    now = T0 + TTL - 1_000;
    await holder.renew();
    // Renewed: still held a whole ttl after it was taken.
    await expect(acquireLease(store, 'L1', options('run-b', T0 + TTL + 1_000))).rejects.toBeInstanceOf(
      LeaseHeldError,
    );
    // The holder stalls past its expiry: another run takes the load id over.
    const taker = await acquireLease(store, 'L1', options('run-b', now + TTL + 1));
    expect(taker.doc.seq).toBe(holder.doc.seq + 1);
    await expect(holder.renew()).rejects.toBeInstanceOf(LeaseLostError);
    await expect(holder.assertHeld()).rejects.toThrow(/taken over by cli run-b/);
    // Releasing a lost lease does not release the taker's.
    await holder.release();
    await taker.assertHeld();
    expect((await store.list(leasePrefix('L1'))).length).toBe(1);
  });

  it('is taken over at once from a holder known to be dead', async () => {
    const store = newStore();
    await acquireLease(store, 'L1', options('run-a', T0));
    const taker = await acquireLease(
      store,
      'L1',
      options('run-b', T0 + 1_000, { isAbandoned: (o) => o.id === 'run-a' }),
    );
    expect(taker.doc.owner.id).toBe('run-b');
  });

  it('does not believe an expiry beyond any run of ours (a wrong clock, a hand-made file)', async () => {
    const store = newStore();
    const month = 30 * 24 * 3600 * 1000;
    await acquireLease(store, 'L1', { ...options('far-future', T0), ttlMs: month });
    const taker = await acquireLease(store, 'L1', options('run-b', T0 + 1_000));
    expect(taker.doc.owner.id).toBe('run-b');
  });

  it('is joined, not refused, by the same owner (a redriven execution)', async () => {
    const store = newStore();
    const first = await acquireLease(store, 'L1', options('exec-1', T0));
    const again = await acquireLease(store, 'L1', options('exec-1', T0 + 5_000));
    expect(again.doc.seq).toBe(first.doc.seq);
    expect(again.doc.expiresAt).toBe(new Date(T0 + 5_000 + TTL).toISOString());
  });

  it('lets the workers of the holding execution through, and no one else', async () => {
    const store = newStore();
    const clock = () => new Date(T0);
    await expect(assertLeaseOwner(store, 'L1', 'exec-1', clock)).rejects.toThrow(
      'load L1: this run lost its lease (no run holds it)',
    );
    await acquireLease(store, 'L1', {
      ...options('exec-1', T0),
      owner: { id: 'exec-1', kind: 'step-functions' },
    });
    await assertLeaseOwner(store, 'L1', 'exec-1', clock);
    await expect(assertLeaseOwner(store, 'L1', 'exec-2', clock)).rejects.toThrow(
      /lost its lease \(it is held by step-functions exec-1, since/,
    );
  });

  it('has exactly one winner when many runs take over an expired lease at once', async () => {
    const store = newStore();
    await acquireLease(store, 'L1', options('dead', T0));
    const later = T0 + TTL + 1;
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => acquireLease(store, 'L1', options(`racer-${i}`, later))),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LeaseHeldError);
  });
});
