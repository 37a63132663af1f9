import { describe, expect, it } from 'vitest';
import { ConfigError } from '#core/errors.ts';
import { HEAP_BUDGET, heapLimits, heapNodeOptions, workerHeapMib } from '#core/heap-budget.ts';

/** What the V8 heaps of a process may take at most: each isolate's old space and three semi spaces. */
const heapsMib = (memoryMiB: number, isolates: 1 | 2) => {
  const { oldSpaceMib, semiSpaceMib } = heapLimits(memoryMiB, isolates);
  return isolates * (oldSpaceMib + 3 * semiSpaceMib);
};

describe('V8 heap limits from a function memory', () => {
  it.each([256, 512, 1024, 2048, 3008, 10_240])(
    '%i MiB: the heaps of one or two isolates together leave the reserve for what is not V8 heap',
    (memoryMiB) => {
      for (const isolates of [1, 2] as const) {
        if (isolates === 2 && memoryMiB < 512) continue;
        const heaps = heapsMib(memoryMiB, isolates);
        expect(heaps).toBeLessThanOrEqual(memoryMiB * (1 - HEAP_BUDGET.reserveFraction));
        // ... and use the rest: no more than rounding is left unassigned.
        expect(heaps).toBeGreaterThan(memoryMiB * (1 - HEAP_BUDGET.reserveFraction) - isolates - 1);
      }
    },
  );

  it('halves the old space between the main thread and the encoding worker', () => {
    const one = heapLimits(2048, 1).oldSpaceMib;
    const two = heapLimits(2048, 2).oldSpaceMib;
    expect(two).toBeLessThan(one / 2 + 1);
    expect(heapLimits(2048, 2).oldSpaceMib).toBeGreaterThan(heapLimits(1024, 2).oldSpaceMib * 2);
  });

  it('keeps the young generation at V8’s 64-bit default, not 5% of the memory as the Lambda runtime would', () => {
    expect(heapLimits(2048, 2).semiSpaceMib).toBe(16);
    expect(heapLimits(10_240, 2).semiSpaceMib).toBe(16);
  });

  it('refuses a memory that leaves too small an old space, naming the memory and the isolates', () => {
    expect(() => heapLimits(128, 1)).toThrow(ConfigError);
    expect(() => heapLimits(256, 2)).toThrow(/256 MiB leaves .* per isolate \(2 isolates\); at least 64 MiB/);
    expect(() => heapLimits(0, 1)).toThrow(/positive whole number/);
    expect(() => heapLimits(1.5, 1)).toThrow(ConfigError);
  });

  it('spells the limits as the Node options the Lambda runtime leaves alone when present', () => {
    // The runtime's bootstrap adds its own only when NODE_OPTIONS has neither flag.
    expect(heapNodeOptions({ oldSpaceMib: 720, semiSpaceMib: 16 })).toEqual([
      '--max-old-space-size=720',
      '--max-semi-space-size=16',
    ]);
  });
});

describe("the CLI's worker old space (PAYLINK_WORKER_HEAP_MIB)", () => {
  it('defaults to what each isolate of a 2,048 MiB load-batch gets', () => {
    expect(workerHeapMib(undefined)).toBe(HEAP_BUDGET.cliWorkerOldSpaceMib);
    expect(workerHeapMib('')).toBe(HEAP_BUDGET.cliWorkerOldSpaceMib);
    expect(HEAP_BUDGET.cliWorkerOldSpaceMib).toBe(heapLimits(2048, 2).oldSpaceMib);
  });

  it('takes a whole number of MiB and refuses anything else, naming the variable and the value', () => {
    expect(workerHeapMib('256')).toBe(256);
    for (const bad of ['0', '15', '-1', '1.5', '256MB', ' 256', '1e3'])
      expect(() => workerHeapMib(bad)).toThrow(
        `PAYLINK_WORKER_HEAP_MIB: must be a whole number of MiB, at least 16 (got '${bad}')`,
      );
  });
});
