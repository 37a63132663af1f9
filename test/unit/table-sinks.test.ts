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
    closed: boolean;
  }[] = [];
  const factory: PartWriterFactory = {
    async open(_store, key, columns) {
      const part = { key, columns, rows: [] as Row[], rowGroups: [] as number[], closed: false };
      parts.push(part);
      const writer: PartWriter = {
        columns,
        async append(row) {
          part.rows.push(row);
        },
        bytesWritten: () => part.rows.length * 100,
        rowsWritten: () => part.rows.length,
        setRowGroupRows: (n) => part.rowGroups.push(n),
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
    const s = sinks(factory, registry);
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
});
