import { describe, expect, it } from 'vitest';
import { forEachConcurrent } from '#core/pool.ts';

describe('forEachConcurrent', () => {
  it('never runs more than the limit at once and visits every item', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachConcurrent([...Array(20).keys()], 3, async (item) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 1));
      seen.push(item);
      running--;
    });
    expect(peak).toBe(3);
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
  });

  it('stops starting work after the first failure and rethrows it', async () => {
    const started: number[] = [];
    await expect(
      forEachConcurrent([...Array(50).keys()], 2, async (item) => {
        started.push(item);
        if (item === 3) throw new Error('systemic');
        await new Promise((r) => setTimeout(r, 1));
      }),
    ).rejects.toThrowError('systemic');
    expect(started.length).toBeLessThan(10);
  });

  it('follows a control that changes its limit while items run, and reports the count in flight', async () => {
    let limit = 1;
    let running = 0;
    const peaks: number[] = [];
    const told: number[] = [];
    await forEachConcurrent(
      [...Array(30).keys()],
      { limit: () => limit, max: 6, inFlight: (n) => told.push(n) },
      async (item) => {
        running++;
        peaks.push(running);
        if (item === 4) limit = 6;
        if (item === 20) limit = 2;
        await new Promise((r) => setTimeout(r, 2));
        running--;
      },
    );
    // One at a time first, up to 6 once allowed, never above the limit in force when an item started.
    expect(peaks.slice(0, 5)).toEqual([1, 1, 1, 1, 1]);
    expect(Math.max(...peaks)).toBe(6);
    expect(Math.max(...peaks.slice(27))).toBeLessThanOrEqual(2);
    expect(told.at(-1)).toBe(0);
    expect(Math.max(...told)).toBe(6);
  });

  it('resolves at once for no items', async () => {
    let called = false;
    await forEachConcurrent([], 4, async () => {
      called = true;
    });
    expect(called).toBe(false);
  });
});
