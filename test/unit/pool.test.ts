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
});
