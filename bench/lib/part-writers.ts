/**
 * The two other Parquet encoders of issue 11, behind the loader's writer port
 * (`PartWriterFactory`, lambdas/core/ports.ts), so that a load, its commit and its merge run
 * through them unchanged: @dsnp/parquetjs (parquetjs-lite's maintained fork, through the same
 * streaming writer, parquet-writer.ts) and hyparquet-writer (column-oriented; rows are buffered
 * per row group and transposed here). bench/encoders.ts times them; the integration test
 * test/integration/encoder-port.test.ts loads through each and compares every table with the
 * parquetjs-lite load in DuckDB.
 *
 * Why they are not product dependencies: parquetjs-lite is the writer the product ships (the
 * handlers' bundles and the CLI, lambdas/handlers/part-writers.ts); these two are
 * devDependencies, imported only from bench/ and test/, so no bundle carries them, until the
 * figures in bench/results/encoders.md decide otherwise. @dsnp/parquetjs also needs the
 * deduplicated node-int64 below, which an install cannot guarantee.
 */
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import type { SchemaElement } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { assertColumns, checkedRecord } from '#adapters/parquet-schema.ts';
import { createParquetPartWriterFactory, type ParquetjsEncoder } from '#adapters/parquet-writer.ts';
import { DEFAULTS } from '#core/constants.ts';
import { LoaderError, StoreError } from '#core/errors.ts';
import type { ObjectStore, PartWriter, PartWriterFactory } from '#core/ports.ts';
import { rowBytes } from '#core/row-group-budget.ts';
import type { Cell, ColumnDef, ColumnType } from '#core/types.ts';

export interface AlternativeWriterOptions {
  /** Rows per row group (default DEFAULTS.parquet.rowGroupRows, as the product writer). */
  readonly rowGroupRows?: number;
  /** Estimated bytes per row group (default DEFAULTS.parquet.rowGroupBytes, as the product writer). */
  readonly rowGroupBytes?: number;
}

/**
 * @dsnp/parquetjs and the thrift package each install their own copy of node-int64 0.4.0
 * (parquetjs-lite keeps 0.3.3 at the top level), and thrift's writer checks `instanceof` its own
 * copy: every Int64 statistic then fails ("Expected Int64 or Number"). @dsnp/parquetjs is given
 * thrift's copy, as a deduplicated install would.
 */
async function loadDsnp(): Promise<ParquetjsEncoder> {
  const thriftInt64 = createRequire(createRequire(import.meta.url).resolve('thrift')).resolve('node-int64');
  const loader = Module as unknown as {
    _resolveFilename: (
      request: string,
      parent: { filename?: string } | undefined,
      ...rest: unknown[]
    ) => string;
  };
  const resolve = loader._resolveFilename;
  loader._resolveFilename = (request, parent, ...rest) =>
    request === 'node-int64' && parent?.filename?.includes(`${path.sep}@dsnp${path.sep}`)
      ? thriftInt64
      : resolve.call(loader, request, parent, ...rest);
  return (await import('@dsnp/parquetjs')).default as unknown as ParquetjsEncoder;
}

let dsnp: Promise<ParquetjsEncoder> | undefined;

/** @dsnp/parquetjs through the product's streaming part writer (same schema, checks and sink). */
export async function createDsnpPartWriterFactory(
  options: AlternativeWriterOptions = {},
): Promise<PartWriterFactory> {
  dsnp ??= loadDsnp();
  return createParquetPartWriterFactory({ ...options, encoder: await dsnp });
}

/**
 * The lake's column types as Parquet schema elements, exactly as parquetjs-lite declares them
 * (parquet-schema.ts PARQUET_TYPES): converted types, no logical types, every column OPTIONAL,
 * so Glue, Athena and the part reader see the same columns whichever encoder wrote a file.
 */
const ELEMENTS: Record<ColumnType, Pick<SchemaElement, 'type' | 'converted_type'>> = {
  text: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  bigint: { type: 'INT64' },
  double: { type: 'DOUBLE' },
  bool: { type: 'BOOLEAN' },
  timestamp: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' },
};

function hyparquetSchema(columns: readonly ColumnDef[]): SchemaElement[] {
  return [
    { name: 'root', num_children: columns.length },
    ...columns.map(
      (c): SchemaElement => ({ name: c.name, repetition_type: 'OPTIONAL', ...ELEMENTS[c.type] }),
    ),
  ];
}

/** A cell as hyparquet-writer takes it: INT64 wants a bigint; a Date it converts itself. */
function hyparquetValue(type: ColumnType, value: Cell | undefined): unknown {
  if (value === null || value === undefined) return null;
  return type === 'bigint' ? BigInt(value as number) : value;
}

/** hyparquet-writer: rows buffered up to a row group, then transposed into columns and encoded. */
export function createHyparquetPartWriterFactory(options: AlternativeWriterOptions = {}): PartWriterFactory {
  const rowGroupRows = options.rowGroupRows ?? DEFAULTS.parquet.rowGroupRows;
  if (!Number.isInteger(rowGroupRows) || rowGroupRows < 1)
    throw new RangeError('rowGroupRows must be a positive integer');
  const rowGroupBytes = options.rowGroupBytes ?? DEFAULTS.parquet.rowGroupBytes;
  return {
    open: (store, key, columns) => openHyparquetPart(store, key, columns, rowGroupRows, rowGroupBytes),
  };
}

async function openHyparquetPart(
  store: ObjectStore,
  key: string,
  columns: readonly ColumnDef[],
  initialRowGroupRows: number,
  initialRowGroupBytes: number,
): Promise<PartWriter> {
  assertColumns(key, columns);
  const types = new Map<string, ColumnType>(columns.map((column) => [column.name, column.type]));
  const target = await store.openWrite(key);
  let bytes = 0;
  // The encoder writes into this buffer; each flush (after a row group, and at the footer) hands
  // its bytes to the store and empties it, so memory is one encoded row group at most.
  const out = new ByteWriter();
  const flush = async (): Promise<void> => {
    const chunk = new Uint8Array(out.buffer, 0, out.index).slice();
    out.index = 0;
    if (chunk.byteLength === 0) return;
    await target.write(chunk);
    bytes += chunk.byteLength;
  };
  Object.assign(out, { flush, finish: flush });
  const encoder = new ParquetWriter({
    writer: out,
    schema: hyparquetSchema(columns),
    codec: 'SNAPPY',
    createdBy: 'hyparquet-writer',
  });

  let rowGroupRows = initialRowGroupRows;
  let rowGroupBytes = initialRowGroupBytes;
  let pending: Record<string, Cell>[] = [];
  let pendingBytes = 0;
  let rows = 0;
  let state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  let failure: LoaderError | undefined;
  let queue: Promise<void> = Promise.resolve();

  const fail = (action: string, error: unknown): LoaderError =>
    error instanceof LoaderError ? error : new StoreError(key, `Parquet ${action} failed`, error);

  /** Encodes the buffered rows as one row group and writes it out. */
  const writeGroup = async (): Promise<void> => {
    const group = pending;
    pending = [];
    pendingBytes = 0;
    if (group.length === 0) return;
    await encoder.write({
      rowGroupSize: group.length,
      columnData: columns.map((c) => ({
        name: c.name,
        data: group.map((record) => hyparquetValue(c.type, record[c.name])),
        // Text columns carry no statistics in the lake (parquet-schema.ts): the files differ by encoder only.
        ...(c.type === 'text' ? { statistics: false } : {}),
      })),
    });
  };

  /** Steps run one at a time, so a row group being written never interleaves with the next. */
  const enqueue = (action: string, step: () => Promise<void>): Promise<void> => {
    queue = queue.then(async () => {
      if (failure) throw failure;
      try {
        await step();
      } catch (error) {
        failure ??= fail(action, error);
        throw failure;
      }
    });
    return queue;
  };

  return {
    columns,
    async append(row) {
      if (state !== 'open')
        throw new StoreError(key, `append after ${state === 'aborted' ? 'abort' : 'close'}`);
      if (failure) throw failure;
      pending.push(checkedRecord(key, types, row));
      pendingBytes += rowBytes(row);
      rows += 1;
      if (pending.length >= rowGroupRows || pendingBytes >= rowGroupBytes) await enqueue('write', writeGroup);
    },
    bytesWritten: () => bytes,
    async settledBytes() {
      // A full row group is written in the append that fills it; wait for the ones queued.
      await queue;
      return bytes;
    },
    rowsWritten: () => rows,
    setRowGroupRows(next) {
      if (!Number.isInteger(next) || next < 1)
        throw new RangeError('rowGroupRows must be a positive integer');
      rowGroupRows = next;
    },
    setRowGroupBytes(next) {
      if (!Number.isInteger(next) || next < 1)
        throw new RangeError('rowGroupBytes must be a positive integer');
      rowGroupBytes = next;
    },
    async close() {
      if (state !== 'open')
        throw new StoreError(key, `close after ${state === 'aborted' ? 'abort' : 'close'}`);
      state = 'closing';
      try {
        await enqueue('close', async () => {
          await writeGroup();
          await encoder.finish();
        });
        await target.close();
      } catch (error) {
        state = 'aborted';
        await target.abort();
        throw fail('close', error);
      }
      state = 'closed';
      return { rows, bytes };
    },
    async abort() {
      if (state === 'closed' || state === 'aborted') return;
      state = 'aborted';
      await queue.catch(() => undefined);
      await target.abort();
    },
  };
}
