/**
 * Messages between parquet-worker-writer.ts (main thread) and parquet-encode-worker.ts (worker).
 * Parts are numbered by the main thread; `seq` numbers the worker's requests on a part's object.
 */
import type { ColumnDef, Row } from '#core/types.ts';

export interface WorkerSettings {
  readonly rowGroupRows: number;
  readonly rowGroupBytes: number;
  /** `Buffer.poolSize` in the worker (bytes; 0 turns the pool off); undefined: Node's default. */
  readonly bufferPoolSize?: number;
  /** Another encoder's part writer factory (WorkerPartWriterOptions.encoder); undefined: parquetjs-lite. */
  readonly encoder?: WorkerEncoder;
}

/**
 * A module the worker imports and the export it calls with `{ rowGroupRows, rowGroupBytes }` to get its
 * PartWriterFactory (or a promise of one): how an encoder other than parquetjs-lite runs in the
 * worker (bench/lib/part-writers.ts). A URL, since functions do not cross the thread boundary.
 */
export interface WorkerEncoder {
  readonly module: string;
  readonly export: string;
}

/** An error as it crosses the thread boundary (structured clone keeps neither class nor fields). */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly code?: string;
  readonly cause?: SerializedError;
}

export type ToWorker =
  | { readonly t: 'open'; readonly id: number; readonly key: string; readonly columns: readonly ColumnDef[] }
  | { readonly t: 'rows'; readonly id: number; readonly rows: readonly Row[] }
  | { readonly t: 'rowGroupRows'; readonly id: number; readonly rows: number }
  | { readonly t: 'rowGroupBytes'; readonly id: number; readonly bytes: number }
  /** Answer `settled` once every row sent before is taken and each full row group is written. */
  | { readonly t: 'settle'; readonly id: number }
  | { readonly t: 'close'; readonly id: number }
  | { readonly t: 'abort'; readonly id: number }
  /** The main thread's answer to a `target` request. */
  | { readonly t: 'done'; readonly seq: number; readonly error?: SerializedError };

export type FromWorker =
  /** Write the bytes to the part's object, or close or abort it; answer with `done`. */
  | {
      readonly t: 'target';
      readonly id: number;
      readonly seq: number;
      readonly op: 'write' | 'close' | 'abort';
      readonly bytes?: Uint8Array;
    }
  /** That many rows were handed to parquetjs-lite: they left the queue. */
  | { readonly t: 'consumed'; readonly id: number; readonly rows: number }
  /** The part's bytes in its object once the rows sent before `settle` were taken (PartWriter.settledBytes). */
  | { readonly t: 'settled'; readonly id: number; readonly bytes: number }
  | { readonly t: 'closed'; readonly id: number; readonly rows: number; readonly bytes: number }
  | { readonly t: 'aborted'; readonly id: number }
  /** The part failed in the worker (open, encode, or its object): it takes no more rows. */
  | { readonly t: 'failed'; readonly id: number; readonly error: SerializedError };
