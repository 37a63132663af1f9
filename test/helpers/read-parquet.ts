/**
 * Reads a Parquet file back for assertions, with hyparquet: an independent reader (parquetjs-lite
 * cannot read its own timestamp files), so a test checks the bytes, not the writer's own view.
 */
import { readFile } from 'node:fs/promises';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

export interface ParquetColumnInfo {
  readonly name: string;
  /** Physical type: BYTE_ARRAY, INT64, DOUBLE, BOOLEAN, ... */
  readonly physicalType: string | undefined;
  /** Legacy converted type: UTF8, TIMESTAMP_MILLIS, ... */
  readonly convertedType: string | undefined;
  readonly optional: boolean;
}

export interface ParquetContents {
  readonly columns: readonly ParquetColumnInfo[];
  /** Values as hyparquet decodes them: INT64 -> bigint, TIMESTAMP_MILLIS -> Date, null for nulls. */
  readonly rows: Record<string, unknown>[];
  readonly numRows: number;
  readonly rowGroups: number;
  readonly createdBy: string | undefined;
}

export async function readParquet(bytes: Uint8Array): Promise<ParquetContents> {
  // hyparquet wants an ArrayBuffer of exactly the file (a Buffer may be a view into a pool).
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const metadata = parquetMetadata(file);
  const columns = parquetSchema(metadata).children.map(({ element }) => ({
    name: element.name,
    physicalType: element.type,
    convertedType: element.converted_type,
    optional: element.repetition_type === 'OPTIONAL',
  }));
  const rows = await parquetReadObjects({ file, metadata, compressors });
  return {
    columns,
    rows,
    numRows: Number(metadata.num_rows),
    rowGroups: metadata.row_groups.length,
    createdBy: metadata.created_by,
  };
}

export async function readParquetFile(path: string): Promise<ParquetContents> {
  return readParquet(new Uint8Array(await readFile(path)));
}
