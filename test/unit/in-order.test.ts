import { describe, expect, it } from 'vitest';
import { InOrder } from '#core/in-order.ts';
import { forEachConcurrent } from '#core/pool.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('InOrder', () => {
  it('consumes results in index order whatever order they finish in', async () => {
    const seen: number[] = [];
    const ordered = new InOrder<number>(async (item) => {
      seen.push(item);
    }, 100);
    const delays = [30, 5, 20, 1, 10, 0, 15];
    await forEachConcurrent(delays, 4, async (delay, index) => {
      await tick(delay);
      await ordered.put(index, index);
    });
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('makes finishers wait once the window of results held back is full', async () => {
    let maxHeld = 0;
    let consumed = 0;
    const ordered = new InOrder<number>(async () => {
      consumed++;
    }, 2);
    const started: number[] = [];
    await forEachConcurrent([...Array(12).keys()], 4, async (index) => {
      started.push(index);
      // The first item is slow: the others finish and must not pile up without bound.
      await tick(index === 0 ? 60 : 1);
      maxHeld = Math.max(maxHeld, started.length - consumed);
      await ordered.put(index, index);
    });
    expect(consumed).toBe(12);
    // 4 workers, window 2: while item 0 is slow, at most window + workers items are in hand.
    expect(maxHeld).toBeLessThanOrEqual(2 + 4);
  });

  it('lets waiting workers go when a failure closes it', async () => {
    const ordered = new InOrder<number>(async () => {}, 0);
    const waiting = ordered.put(1, 1);
    ordered.close();
    await expect(waiting).resolves.toBeUndefined();
  });
});
