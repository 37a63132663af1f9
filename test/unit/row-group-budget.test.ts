import { describe, expect, it } from 'vitest';
import type { PartWriter } from '#core/ports.ts';
import { cellBytes, RowGroupBudget, rowBytes } from '#core/row-group-budget.ts';

/** A writer that records the limits it is given. */
function recorder() {
  const given = { rows: [] as number[], bytes: [] as number[] };
  const writer = {
    setRowGroupRows: (n: number) => given.rows.push(n),
    setRowGroupBytes: (n: number) => given.bytes.push(n),
  } as unknown as PartWriter;
  return { writer, given };
}

const BYTES = { rowGroupBytes: 16_000_000, bufferedBytesBudget: 48_000_000, minRowGroupBytes: 1_000_000 };
const ROWS = { rowGroupRows: 10_000, bufferedRowsBudget: 40_000, minRowGroupRows: 1_000 };

describe('row group byte budget', () => {
  it("estimates a row's bytes from its values: strings' length, 8 per number or timestamp, 1 per bool", () => {
    expect(rowBytes({ a: 'x'.repeat(64), b: 12, c: new Date(0), d: true, e: null })).toBe(64 + 8 + 8 + 1);
    expect(cellBytes('')).toBe(0);
    expect(rowBytes({})).toBe(0);
  });

  it('gives each open writer its share of the bytes, within the per-writer cap and the floor', () => {
    const budget = new RowGroupBudget(BYTES, ROWS);
    const writers = Array.from({ length: 60 }, recorder);
    budget.add(writers[0]!.writer);
    // Alone: the cap (16 MB), not the whole 48 MB budget.
    expect(writers[0]!.given.bytes.at(-1)).toBe(16_000_000);
    for (const w of writers.slice(1, 4)) budget.add(w.writer);
    // Four at once (the commit's merges): 12 MB each, 48 MB together.
    expect(writers.slice(0, 4).map((w) => w.given.bytes.at(-1))).toEqual(Array(4).fill(12_000_000));
    expect(writers.slice(0, 4).map((w) => w.given.rows.at(-1))).toEqual(Array(4).fill(10_000));
    for (const w of writers.slice(4)) budget.add(w.writer);
    // Sixty: the floor.
    expect(writers.every((w) => w.given.bytes.at(-1) === 1_000_000)).toBe(true);
    for (const w of writers.slice(1)) budget.remove(w.writer);
    expect(writers[0]!.given.bytes.at(-1)).toBe(16_000_000);
    expect(writers[0]!.given.rows.at(-1)).toBe(10_000);
  });

  it('leaves the rows of its writers alone without a rows budget (the merge keeps its row groups)', () => {
    const budget = new RowGroupBudget(BYTES);
    const a = recorder();
    const b = recorder();
    budget.add(a.writer);
    budget.add(b.writer);
    expect(a.given.rows).toEqual([]);
    expect(a.given.bytes).toEqual([16_000_000, 16_000_000]);
    budget.add(recorder().writer);
    expect(b.given.bytes.at(-1)).toBe(16_000_000);
    budget.add(recorder().writer);
    expect(b.given.bytes.at(-1)).toBe(12_000_000);
  });
});
