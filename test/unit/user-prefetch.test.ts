import { describe, expect, it } from 'vitest';
import type { BatchUser } from '#core/load-batch.ts';
import type { UserResult } from '#core/load-user.ts';
import { forEachConcurrent } from '#core/pool.ts';
import { UserPrefetch } from '#core/user-prefetch.ts';

/** A user whose load finishes when the test says so. */
function world() {
  const started: string[] = [];
  const finish = new Map<string, (fail?: Error) => void>();
  const load = (user: BatchUser) =>
    new Promise<UserResult>((resolve, reject) => {
      started.push(user.identifier);
      finish.set(user.identifier, (fail) => {
        if (fail !== undefined) reject(fail);
        else
          resolve({
            identifier: user.identifier,
            outcomes: [],
            rows: [],
            failed: false,
            observation: { identifier: user.identifier, minted: true, steps: [] },
          });
      });
    });
  const settle = async (identifier: string, fail?: Error) => {
    finish.get(identifier)!(fail);
    // Let the pool and the prefetcher react (a few microtask turns).
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  return { started, load, settle };
}

const users = (...ids: string[]): BatchUser[] => ids.map((identifier) => ({ identifier }));
const turns = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('UserPrefetch', () => {
  it("starts the next batch's users only in slots the current batch no longer needs, in order, and bounded", async () => {
    const w = world();
    const told: number[] = [];
    const prefetch = new UserPrefetch({ limit: () => 2, max: 2, inFlight: (n) => told.push(n) }, () => false);
    const pool0 = prefetch.poolFor(0);
    prefetch.offer(1, users('d', 'e', 'f'), w.load);
    const batch0 = forEachConcurrent(users('a', 'b', 'c'), pool0, async (u) => {
      await w.load(u);
    });
    await turns();
    expect(w.started).toEqual(['a', 'b']);
    await w.settle('a');
    // c takes the free slot: batch 0 still had a user to start.
    expect(w.started).toEqual(['a', 'b', 'c']);
    await w.settle('b');
    // Batch 0 has nothing left to start: its free slot starts batch 1's first user.
    expect(w.started).toEqual(['a', 'b', 'c', 'd']);
    await w.settle('c');
    expect(w.started).toEqual(['a', 'b', 'c', 'd', 'e']);
    await batch0;
    // The base control saw the prefetched users in flight: never more than its limit.
    expect(Math.max(...told)).toBe(2);
    expect(told.at(-1)).toBe(2);
    await w.settle('d');
    // Two results wait for batch 1 already: no third is started (memory stays bounded).
    expect(w.started).toEqual(['a', 'b', 'c', 'd', 'e']);

    // Batch 1 takes d and e as its own and loads only f itself.
    const pool1 = prefetch.poolFor(1);
    const got: string[] = [];
    const batch1 = forEachConcurrent(users('d', 'e', 'f'), pool1, async (u, index) => {
      const result = await (prefetch.take(1, index) ?? w.load(u));
      got.push(result.identifier);
    });
    await turns();
    expect(w.started).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    await w.settle('e');
    await w.settle('f');
    await batch1;
    expect(got.sort()).toEqual(['d', 'e', 'f']);
    // A result is taken once.
    expect(prefetch.take(1, 0)).toBeUndefined();
    await prefetch.close();
  });

  it('prefetches nothing once the run is stopping, nor for a batch that is not the next one', async () => {
    const w = world();
    let stopping = false;
    const prefetch = new UserPrefetch(2, () => stopping);
    const pool0 = prefetch.poolFor(0);
    prefetch.offer(2, users('x'), w.load);
    prefetch.offer(1, users('d', 'e'), w.load);
    const batch0 = forEachConcurrent(users('a', 'b'), pool0, async (u) => {
      await w.load(u);
    });
    await turns();
    stopping = true;
    await w.settle('a');
    await w.settle('b');
    await batch0;
    expect(w.started).toEqual(['a', 'b']);
    await prefetch.close();
  });

  it('close waits for prefetched users still running and drops their failures', async () => {
    const w = world();
    const prefetch = new UserPrefetch(1, () => false);
    const pool0 = prefetch.poolFor(0);
    prefetch.offer(1, users('d'), w.load);
    await forEachConcurrent(users('a'), pool0, async (u) => {
      const pending = w.load(u);
      await w.settle('a');
      await pending;
    });
    await turns();
    expect(w.started).toEqual(['a', 'd']);
    let closed = false;
    const closing = prefetch.close().then(() => {
      closed = true;
    });
    await turns();
    expect(closed).toBe(false);
    await w.settle('d', new Error('the API key was rejected'));
    await closing;
    expect(closed).toBe(true);
    // Nothing is handed out after close.
    expect(prefetch.take(1, 0)).toBeUndefined();
  });
});
