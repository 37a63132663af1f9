/**
 * Reads our own parts back (commit-time reconciliation). hyparquet, not parquetjs-lite: the
 * latter cannot read its own TIMESTAMP_MILLIS files. Values come back as raw JSON-like
 * scalars so the schema registry can re-type them exactly as it types fresh rows.
 */
import { parquetReadObjects } from 'hyparquet';
import { StoreError } from '#core/errors.ts';
import type { ObjectStore, PartReader } from '#core/ports.ts';

type Raw = string | number | boolean | null;

function toRaw(value: unknown): Raw {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return String(value);
}

export function createParquetPartReader(): PartReader {
  return {
    async readRows(store: ObjectStore, key: string) {
      const bytes = await store.get(key);
      if (bytes === undefined) throw new StoreError(key, 'part not found');
      const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      const rows = await parquetReadObjects({ file });
      return rows.map((row) => {
        const out: Record<string, Raw> = Object.create(null);
        for (const [column, value] of Object.entries(row)) out[column] = toRaw(value);
        return out;
      });
    },
  };
}
