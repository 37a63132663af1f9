/**
 * Parquet parts written with parquetjs-lite, streamed into an ObjectStore as row groups fill.
 * Memory per open part is one row group of rows plus its encoded pages. A row group closes at its
 * rows or at its estimated bytes (row-group-budget.ts), whichever comes first: this writer
 * decides, and tells parquetjs-lite to flush on the row that fills the group (its own rule is
 * rows only).
 *
 * parquetjs-lite quirks handled here (toolchain-notes.md):
 * - it coerces values silently, so each cell is checked against its column type first;
 * - it loses rows appended while a row group is being flushed, so appends are serialized;
 * - it writes its header without awaiting the write, so the bridge to the store never fails
 *   a stream write (that promise would reject unhandled); the first store failure is kept
 *   and surfaced by the next append or close.
 */
import { Writable } from 'node:stream';
import parquet, { type ParquetFieldSpec, type ParquetWriter } from 'parquetjs-lite';
import { DEFAULTS } from '#core/constants.ts';
import { LoaderError, StoreError } from '#core/errors.ts';
import type { ObjectStore, ObjectWriter, PartWriter, PartWriterFactory } from '#core/ports.ts';
import { rowBytes } from '#core/row-group-budget.ts';
import type { Cell, ColumnDef, ColumnType, Row } from '#core/types.ts';
import { assertColumns, checkedRecord, parquetFieldSpecs } from './parquet-schema.ts';

/** Rows appended between two turns of the event loop (see `append`). */
const YIELD_EVERY_ROWS = 200;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The streaming-writer API this file drives: parquetjs-lite's, which its fork @dsnp/parquetjs
 * keeps (`ParquetSchema` from field specs, `ParquetWriter.openStream` onto a Writable). Another
 * encoder of that family goes behind the port by passing it here (bench/lib/part-writers.ts).
 */
export interface ParquetjsEncoder {
  readonly ParquetSchema: new (fields: Record<string, ParquetFieldSpec>) => unknown;
  readonly ParquetWriter: {
    openStream(
      schema: never,
      stream: Writable,
      options: { useDataPageV2: boolean; rowGroupSize: number },
    ): Promise<Pick<ParquetWriter, 'appendRow' | 'close' | 'setRowGroupSize'>>;
  };
}

export interface ParquetPartWriterOptions {
  /** Rows per row group (default DEFAULTS.parquet.rowGroupRows). */
  readonly rowGroupRows?: number;
  /** Estimated bytes per row group (default DEFAULTS.parquet.rowGroupBytes). */
  readonly rowGroupBytes?: number;
  /** The encoder (default parquetjs-lite, the product's). */
  readonly encoder?: ParquetjsEncoder;
}

export function createParquetPartWriterFactory(options: ParquetPartWriterOptions = {}): PartWriterFactory {
  const rowGroupRows = options.rowGroupRows ?? DEFAULTS.parquet.rowGroupRows;
  if (!Number.isInteger(rowGroupRows) || rowGroupRows < 1) {
    throw new RangeError('rowGroupRows must be a positive integer');
  }
  const rowGroupBytes = options.rowGroupBytes ?? DEFAULTS.parquet.rowGroupBytes;
  if (!Number.isInteger(rowGroupBytes) || rowGroupBytes < 1) {
    throw new RangeError('rowGroupBytes must be a positive integer');
  }
  const encoder = options.encoder ?? parquet;
  return {
    open: (store, key, columns) => openPart(encoder, store, key, columns, { rowGroupRows, rowGroupBytes }),
  };
}

/** Forwards parquetjs-lite's output to the store, one awaited write at a time. */
class StoreSink extends Writable {
  bytes = 0;
  failure: unknown = undefined;
  failed = false;

  constructor(private readonly target: ObjectWriter) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    // An empty chunk is `settle`'s marker: it passes once every write before it is done.
    if (this.failed || chunk.byteLength === 0) {
      done();
      return;
    }
    this.target.write(chunk).then(
      () => {
        this.bytes += chunk.byteLength;
        done();
      },
      (error: unknown) => {
        this.failed = true;
        this.failure = error;
        done();
      },
    );
  }

  /** Resolves once every write issued before it is in the store (a Writable writes in order). */
  settle(): Promise<void> {
    return new Promise((resolve) => this.write(EMPTY, () => resolve()));
  }
}

const EMPTY = Buffer.alloc(0);

/** parquetjs-lite's row group size between flushes this writer asks for: never reached. */
const NEVER = Number.MAX_SAFE_INTEGER;

function asStoreError(key: string, action: string, error: unknown): LoaderError {
  return error instanceof LoaderError ? error : new StoreError(key, `Parquet ${action} failed`, error);
}

async function openPart(
  encoder: ParquetjsEncoder,
  store: ObjectStore,
  key: string,
  columns: readonly ColumnDef[],
  initial: { rowGroupRows: number; rowGroupBytes: number },
): Promise<PartWriter> {
  assertColumns(key, columns);
  const types = new Map<string, ColumnType>(columns.map((column) => [column.name, column.type]));
  const schema = new encoder.ParquetSchema(parquetFieldSpecs(columns));
  const target = await store.openWrite(key);
  const sink = new StoreSink(target);
  let writer: Awaited<ReturnType<ParquetjsEncoder['ParquetWriter']['openStream']>>;
  try {
    writer = await encoder.ParquetWriter.openStream(schema as never, sink, {
      // Data page v1: the widest reader compatibility (Athena / older Hive readers).
      useDataPageV2: false,
      // This writer closes row groups itself (see `append`): parquetjs-lite's own rule never fires.
      rowGroupSize: NEVER,
    });
  } catch (error) {
    await target.abort();
    throw asStoreError(key, 'open', error);
  }

  let state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  let rows = 0;
  let { rowGroupRows, rowGroupBytes } = initial;
  // The row group being filled: its rows and estimated bytes, as appended (the queue keeps order).
  let groupRows = 0;
  let groupBytes = 0;
  let failure: LoaderError | undefined;
  let queue: Promise<void> = Promise.resolve();

  const check = () => {
    if (failure === undefined && sink.failed) failure = asStoreError(key, 'write', sink.failure);
    if (failure) throw failure;
  };

  const toRecord = (row: Row): Record<string, Cell> => checkedRecord(key, types, row);

  const enqueue = (step: () => Promise<void>): Promise<void> => {
    queue = queue.then(async () => {
      check();
      try {
        await step();
      } catch (error) {
        failure ??= asStoreError(key, 'encode', error);
      }
      check();
    });
    return queue;
  };

  let sinceYield = 0;
  return {
    columns,
    async append(row) {
      if (state !== 'open')
        throw new StoreError(key, `append after ${state === 'aborted' ? 'abort' : 'close'}`);
      const record = toRecord(row);
      rows += 1;
      groupRows += 1;
      groupBytes += rowBytes(row);
      // This row fills the group: parquetjs-lite flushes after shredding a row once its row count
      // reaches the group size, so a size of 1 for this row's append flushes the group with it.
      const fills = groupRows >= rowGroupRows || groupBytes >= rowGroupBytes;
      if (fills) {
        groupRows = 0;
        groupBytes = 0;
      }
      const appendRow = fills
        ? async () => {
            writer.setRowGroupSize(1);
            try {
              await writer.appendRow(record);
            } finally {
              writer.setRowGroupSize(NEVER);
            }
          }
        : () => writer.appendRow(record);
      // Appends resolve as microtasks: thousands in a row (a batch's held rows written at its
      // close) would starve the event loop, and with it the next batch's requests. Every
      // YIELD_EVERY_ROWS rows, let timers and I/O run.
      if (++sinceYield >= YIELD_EVERY_ROWS) {
        sinceYield = 0;
        return enqueue(async () => {
          await yieldToEventLoop();
          await appendRow();
        });
      }
      return enqueue(appendRow);
    },
    bytesWritten: () => sink.bytes,
    async settledBytes() {
      // After every append queued so far (an append that fills a row group resolves once the
      // group is written), and after the header, which parquetjs-lite writes without awaiting.
      await enqueue(() => sink.settle());
      return sink.bytes;
    },
    rowsWritten: () => rows,
    setRowGroupRows(next) {
      if (!Number.isInteger(next) || next < 1)
        throw new RangeError('rowGroupRows must be a positive integer');
      // Takes effect at the next append, which closes the group if it already has that many rows.
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
        // Flushes the last row group and the footer; resolves once the sink has taken every byte.
        await enqueue(() => writer.close());
        await target.close();
      } catch (error) {
        state = 'aborted';
        await target.abort();
        throw asStoreError(key, 'close', error);
      }
      state = 'closed';
      return { rows, bytes: sink.bytes };
    },
    async abort() {
      if (state === 'closed' || state === 'aborted') return;
      state = 'aborted';
      await queue.catch(() => undefined);
      await target.abort();
    },
  };
}
