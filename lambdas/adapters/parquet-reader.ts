/**
 * Reads our own parts back (commit-time reconciliation). hyparquet, not parquetjs-lite: the
 * latter cannot read its own TIMESTAMP_MILLIS files. Values come back as raw JSON-like
 * scalars so the schema registry can re-type them exactly as it types fresh rows.
 */
import { parquetMetadata, parquetReadObjects, type SchemaElement } from 'hyparquet';
import { StoreError } from '#core/errors.ts';
import type { ObjectStore, PartReader } from '#core/ports.ts';
import type { Cell, ColumnType, Row } from '#core/types.ts';

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

/**
 * The lake type a Parquet leaf carries (parquet-schema.ts PARQUET_TYPES, read backwards):
 * UTF8 BYTE_ARRAY text, INT64 bigint, INT64 TIMESTAMP_MILLIS (or a TIMESTAMP logical type)
 * timestamp, DOUBLE double, BOOLEAN bool.
 */
function lakeTypeOf(element: SchemaElement): ColumnType | undefined {
  const logical = element.logical_type?.type;
  switch (element.type) {
    case 'BYTE_ARRAY':
      return element.converted_type === 'UTF8' || logical === 'STRING' ? 'text' : undefined;
    case 'INT64':
      if (element.converted_type === 'TIMESTAMP_MILLIS' || logical === 'TIMESTAMP') return 'timestamp';
      return element.converted_type === undefined && logical === undefined ? 'bigint' : undefined;
    case 'DOUBLE':
      return 'double';
    case 'BOOLEAN':
      return 'bool';
    default:
      return undefined;
  }
}

/** A value as the lake wrote it: INT64 columns hold safe integers only (type-inference.ts). */
function asCell(key: string, column: string, value: unknown): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') {
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new StoreError(key, `column ${column} holds an integer past 2^53`);
    return n;
  }
  if (
    value instanceof Date ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean'
  )
    return value;
  throw new StoreError(key, `column ${column} holds a value the lake never writes`);
}

async function fileOf(store: ObjectStore, key: string): Promise<ArrayBuffer> {
  const bytes = await store.get(key);
  if (bytes === undefined) throw new StoreError(key, 'part not found');
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** A part's bytes and footer; StoreError when it is missing or not Parquet. */
async function partOf(store: ObjectStore, key: string) {
  const file = await fileOf(store, key);
  try {
    return { file, metadata: parquetMetadata(file) };
  } catch (error) {
    throw new StoreError(key, 'not a readable Parquet file', error);
  }
}

export function createParquetPartReader(): PartReader {
  return {
    async readColumns(store: ObjectStore, key: string) {
      const { metadata } = await partOf(store, key);
      // The first element is the root; ours are flat, so every other element is a column.
      return metadata.schema.slice(1).map((element) => ({ name: element.name, type: lakeTypeOf(element) }));
    },
    async *readRowChunks(store: ObjectStore, key: string, chunkRows: number, chunkBytes?: number) {
      const { file, metadata } = await partOf(store, key);
      const total = Number(metadata.num_rows);
      // The footer's uncompressed data bytes per row: cheap, and what decoding a row costs about.
      const dataBytes = metadata.row_groups.reduce((n, g) => n + Number(g.total_byte_size), 0);
      const step =
        chunkBytes === undefined || total === 0 || dataBytes === 0
          ? chunkRows
          : Math.max(1, Math.min(chunkRows, Math.floor(chunkBytes / (dataBytes / total))));
      for (let rowStart = 0; rowStart < total; rowStart += step) {
        const rowEnd = Math.min(rowStart + step, total);
        const rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd });
        yield rows.map((row) => {
          const out: Row = Object.create(null);
          for (const [column, value] of Object.entries(row)) out[column] = asCell(key, column, value);
          return out;
        });
      }
    },
    async readRows(store: ObjectStore, key: string) {
      const file = await fileOf(store, key);
      const rows = await parquetReadObjects({ file });
      return rows.map((row) => {
        const out: Record<string, Raw> = Object.create(null);
        for (const [column, value] of Object.entries(row)) out[column] = toRaw(value);
        return out;
      });
    },
  };
}
