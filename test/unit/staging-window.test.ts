import { describe, expect, it } from 'vitest';
import { StagingWindow } from '#core/staging-window.ts';

/** A staging the test finishes (or fails) by hand. */
function gate() {
  let finish!: () => void;
  let fail!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return { stage: () => done, finish, fail };
}

/** Resolves `true` if `promise` settles within a few turns of the event loop. */
async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return settled;
}

const SMALL = { rows: 10, bytes: 1_000 };
const LIMITS = { batches: 3, rows: 100, bytes: 10_000 };

describe('staging window', () => {
  it('stages up to its number of batches at once, and admits the next one when any of them is staged', async () => {
    const window = new StagingWindow(LIMITS);
    const stagings = [gate(), gate(), gate(), gate()];
    for (const s of stagings.slice(0, 3)) await window.admit(SMALL, s.stage);
    expect(window.size).toBe(3);
    const fourth = window.admit(SMALL, stagings[3]!.stage);
    expect(await settlesSoon(fourth)).toBe(false);
    // Batches finish in any order: the second one frees a place.
    stagings[1]!.finish();
    await fourth;
    expect(window.size).toBe(3);
    for (const s of [0, 2, 3]) stagings[s]!.finish();
    await window.drain();
    expect(window.size).toBe(0);
  });

  it('admits a batch only while the rows and bytes of the batches staging, its own included, stay within the budget', async () => {
    const window = new StagingWindow(LIMITS);
    const first = gate();
    const second = gate();
    await window.admit({ rows: 60, bytes: 1_000 }, first.stage);
    // 60 + 50 rows > 100: waits, although a place is free.
    const byRows = window.admit({ rows: 50, bytes: 1_000 }, second.stage);
    expect(await settlesSoon(byRows)).toBe(false);
    first.finish();
    await byRows;
    // 6,000 + 5,000 bytes > 10,000: waits too.
    const third = gate();
    const byBytes = window.admit({ rows: 1, bytes: 6_000 }, third.stage);
    await settlesSoon(byBytes);
    expect(window.size).toBe(2);
    second.finish();
    await byBytes;
    third.finish();
    await window.drain();
  });

  it('stages a batch over the whole budget alone, never beside another', async () => {
    const window = new StagingWindow(LIMITS);
    const small = gate();
    const big = gate();
    await window.admit(SMALL, small.stage);
    const bigAdmitted = window.admit({ rows: 1_000, bytes: 1 }, big.stage);
    expect(await settlesSoon(bigAdmitted)).toBe(false);
    small.finish();
    await bigAdmitted;
    const after = gate();
    const next = window.admit(SMALL, after.stage);
    expect(await settlesSoon(next)).toBe(false);
    big.finish();
    await next;
    after.finish();
    await window.drain();
  });

  it('keeps the first failure: the run stops, no batch is admitted after it, and drain rethrows it once the others are done', async () => {
    const window = new StagingWindow(LIMITS);
    const failing = gate();
    const other = gate();
    await window.admit(SMALL, failing.stage);
    await window.admit(SMALL, other.stage);
    expect(window.failed).toBe(false);
    failing.fail(new Error('disk full'));
    await settlesSoon(Promise.resolve());
    expect(window.failed).toBe(true);
    let started = false;
    await expect(
      window.admit(SMALL, async () => {
        started = true;
      }),
    ).rejects.toThrow('disk full');
    expect(started).toBe(false);
    const drained = window.drain();
    expect(await settlesSoon(drained)).toBe(false);
    other.fail(new Error('later failure'));
    await expect(drained).rejects.toThrow('disk full');
    await expect(window.settled()).resolves.toBeUndefined();
  });

  it('stops the run when a staging says it failed, while it is still cleaning up, and drains after the cleanup', async () => {
    const window = new StagingWindow(LIMITS);
    const cleanup = gate();
    await window.admit(SMALL, async (failing) => {
      failing(new Error('no space left on device'));
      // Abandoning the parts takes the lake's time; the window knows of the failure meanwhile.
      await cleanup.stage();
      throw new Error('no space left on device');
    });
    await settlesSoon(Promise.resolve());
    expect(window.failed).toBe(true);
    let started = false;
    await expect(
      window.admit(SMALL, async () => {
        started = true;
      }),
    ).rejects.toThrow('no space left on device');
    expect(started).toBe(false);
    const drained = window.drain();
    expect(await settlesSoon(drained)).toBe(false);
    expect(window.size).toBe(1);
    cleanup.finish();
    await expect(drained).rejects.toThrow('no space left on device');
    expect(window.size).toBe(0);
  });

  it('rethrows a failure to a batch waiting for a place, without starting it', async () => {
    const window = new StagingWindow({ ...LIMITS, batches: 1 });
    const failing = gate();
    await window.admit(SMALL, failing.stage);
    let started = false;
    const waiting = window.admit(SMALL, async () => {
      started = true;
    });
    failing.fail(new Error('store gone'));
    await expect(waiting).rejects.toThrow('store gone');
    expect(started).toBe(false);
  });

  it('refuses a window of no batches', () => {
    expect(() => new StagingWindow({ ...LIMITS, batches: 0 })).toThrow(RangeError);
  });
});
