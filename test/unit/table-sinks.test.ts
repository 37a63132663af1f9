import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '#core/constants.ts';
import type { ObjectStore, PartWriter, PartWriterFactory } from '#core/ports.ts';
import { SchemaRegistry } from '#core/schema-registry.ts';
import { type PartLimits, TableSinks } from '#core/table-sinks.ts';
import type { ColumnDef, Row } from '#core/types.ts';

/** Records what the sinks ask of their part writers; no bytes are written. */
function recordingParts() {
  const parts: {
    key: string;
    columns: readonly ColumnDef[];
    rows: Row[];
    rowGroups: number[];
    rowGroupBytes: number[];
    closed: boolean;
  }[] = [];
  const factory: PartWriterFactory = {
    async open(_store, key, columns) {
      const part = {
        key,
        columns,
        rows: [] as Row[],
        rowGroups: [] as number[],
        rowGroupBytes: [] as number[],
        closed: false,
      };
      parts.push(part);
      const writer: PartWriter = {
        columns,
        async append(row) {
          part.rows.push(row);
        },
        bytesWritten: () => part.rows.length * 100,
        settledBytes: async () => part.rows.length * 100,
        rowsWritten: () => part.rows.length,
        setRowGroupRows: (n) => part.rowGroups.push(n),
        setRowGroupBytes: (n) => part.rowGroupBytes.push(n),
        async close() {
          part.closed = true;
          return { rows: part.rows.length, bytes: part.rows.length * 100 };
        },
        async abort() {},
      };
      return writer;
    },
  };
  return { parts, factory };
}

const store = {} as ObjectStore;
const limits: PartLimits = { ...DEFAULTS.parquet };

function sinks(factory: PartWriterFactory, registry: SchemaRegistry, overrides: Partial<PartLimits> = {}) {
  return new TableSinks(
    { store, parts: factory, registry },
    { loadId: 'L', batch: 7 },
    { ...limits, ...overrides },
  );
}

describe('TableSinks', () => {
  it('opens one staged part per table and partition, keyed by load, batch and part', async () => {
    const registry = SchemaRegistry.empty();
    const { parts, factory } = recordingParts();
    const s = sinks(factory, registry);
    const row = (table: string, dt: string, raw: Record<string, string>) => ({
      table,
      dt,
      row: registry.coerceRow(table, raw),
    });
    await s.write([
      row('orders', '2026-11-24', { a: 'x' }),
      row('orders', '2026-11-25', { a: 'y' }),
      row('orders', '2026-11-24', { a: 'z' }),
    ]);
    const files = await s.close();
    expect(files.map((f) => [f.finalKey, f.rows])).toEqual([
      ['orders/dt=2026-11-24/L.00007.0000.parquet', 2],
      ['orders/dt=2026-11-25/L.00007.0000.parquet', 1],
    ]);
    expect(files[0]!.stagedKey).toBe(
      '_staging/L/batches/00007/parts/orders/dt=2026-11-24/L.00007.0000.parquet',
    );
    expect(parts.every((p) => p.closed)).toBe(true);
  });

  it('starts a new part when the table gains a column, so each part has a fixed column set', async () => {
    const registry = SchemaRegistry.empty();
    const { parts, factory } = recordingParts();
    const s = sinks(factory, registry, { firstPartHoldRows: 1 });
    await s.write([{ table: 't', dt: '2026-11-25', row: registry.coerceRow('t', { a: 1 }) }]);
    await s.write([{ table: 't', dt: '2026-11-25', row: registry.coerceRow('t', { a: 2, b: 'new' }) }]);
    await s.close();
    expect(parts.map((p) => p.columns.map((c) => c.name))).toEqual([['a'], ['a', 'b']]);
    expect(parts.map((p) => p.rows.length)).toEqual([1, 1]);
  });

  it('rotates a part past its row limit', async () => {
    const registry = SchemaRegistry.empty();
    const { parts, factory } = recordingParts();
    const s = sinks(factory, registry, { partMaxRows: 3 });
    await s.write(
      Array.from({ length: 7 }, (_, i) => ({
        table: 't',
        dt: '2026-11-25',
        row: registry.coerceRow('t', { i }),
      })),
    );
    const files = await s.close();
    expect(files.map((f) => f.rows)).toEqual([3, 3, 1]);
    expect(parts).toHaveLength(3);
  });

  it('shares the buffered-rows budget across open parts, never below the minimum row group', async () => {
    const registry = SchemaRegistry.empty();
    const { parts, factory } = recordingParts();
    const s = sinks(factory, registry, {
      bufferedRowsBudget: 12_000,
      minRowGroupRows: 1_000,
      rowGroupRows: 10_000,
      firstPartHoldRows: 1,
    });
    const tables = Array.from({ length: 20 }, (_, i) => `t${i}`);
    await s.write(
      tables.map((table) => ({ table, dt: '2026-11-25', row: registry.coerceRow(table, { x: 1 }) })),
    );
    // One open part: it gets the per-part cap; 3 parts share 12k; 20 parts hit the floor.
    expect(parts[0]!.rowGroups[0]).toBe(10_000);
    expect(parts[0]!.rowGroups[2]).toBe(4_000);
    expect(parts[0]!.rowGroups.at(-1)).toBe(1_000);
    expect(parts.every((p) => p.rowGroups.at(-1) === 1_000)).toBe(true);
    await s.close();
  });

  it('shares the buffered-bytes budget across open parts, never below the minimum', async () => {
    const registry = SchemaRegistry.empty();
    const { parts, factory } = recordingParts();
    const s = sinks(factory, registry, {
      bufferedBytesBudget: 12_000_000,
      minRowGroupBytes: 1_000_000,
      rowGroupBytes: 10_000_000,
      firstPartHoldRows: 1,
    });
    const tables = Array.from({ length: 20 }, (_, i) => `t${i}`);
    await s.write(
      tables.map((table) => ({ table, dt: '2026-11-25', row: registry.coerceRow(table, { x: 1 }) })),
    );
    // One open part: the per-part cap; 3 parts share 12 MB; 20 parts hit the floor.
    expect(parts[0]!.rowGroupBytes[0]).toBe(10_000_000);
    expect(parts[0]!.rowGroupBytes[2]).toBe(4_000_000);
    expect(parts.every((p) => p.rowGroupBytes.at(-1) === 1_000_000)).toBe(true);
    // Closing parts gives the rest their shares back: the last one open has the cap again.
    const last = parts.at(-1)!;
    await s.close();
    expect(last.rowGroupBytes.at(-1)).toBe(10_000_000);
  });

  it("holds a table's first rows so columns that appear among them land in one part", async () => {
    const registry = SchemaRegistry.empty();
    const { parts, factory } = recordingParts();
    const s = sinks(factory, registry, { firstPartHoldRows: 3 });
    const typed = (raw: Record<string, number | string | boolean>[]) =>
      raw.map((r) => ({ table: 't', dt: '2026-11-25', row: registry.coerceRow('t', r) }));
    // Rows are typed as users arrive: `d` is unknown until after the first part opened.
    await s.write(typed([{ a: 1 }, { a: 2, b: 'x' }, { a: 3, c: true }]));
    await s.write(typed([{ a: 4, d: 1.5 }, { a: 5 }]));
    await s.close();
    // The first three rows open one part with a, b, c; the fourth row's new column rotates once.
    expect(parts.map((p) => [p.columns.map((c) => c.name).join(','), p.rows.length])).toEqual([
      ['a,b,c', 3],
      ['a,b,c,d', 2],
    ]);
  });

  it('opens held parts early when held rows exceed the budget', async () => {
    const registry = SchemaRegistry.empty();
    const { parts, factory } = recordingParts();
    const s = sinks(factory, registry, { firstPartHoldRows: 1_000, bufferedRowsBudget: 4 });
    const rows = Array.from({ length: 5 }, (_, i) => ({
      table: `t${i}`,
      dt: '2026-11-25',
      row: registry.coerceRow(`t${i}`, { i }),
    }));
    await s.write(rows);
    expect(parts).toHaveLength(5);
    await s.close();
  });

  it('tells what it holds until staged: rows held or in open parts and their estimated bytes, none once closed', async () => {
    const registry = SchemaRegistry.empty();
    const { factory } = recordingParts();
    const s = sinks(factory, registry, { firstPartHoldRows: 2, partMaxRows: 3 });
    const typed = (table: string, raw: Record<string, string>[]) =>
      raw.map((r) => ({ table, dt: '2026-11-25', row: registry.coerceRow(table, r) }));
    expect(s.held()).toEqual({ rows: 0, bytes: 0 });
    // `held` is still held (1 row); `open` opened its part at its second row.
    await s.write([...typed('held', [{ a: 'xxxx' }]), ...typed('open', [{ a: 'yy' }, { a: 'zzz' }])]);
    expect(s.held()).toEqual({ rows: 3, bytes: 4 + 2 + 3 });
    // Past 3 rows `open` rotates: its closed part no longer counts.
    await s.write(typed('open', [{ a: 'a' }, { a: 'bb' }]));
    expect(s.held()).toEqual({ rows: 1 + 1, bytes: 4 + 2 });
    await s.close();
    expect(s.held()).toEqual({ rows: 0, bytes: 0 });
  });
});
