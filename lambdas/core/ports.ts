/**
 * The seams between the pure core and the outside world. Adapters implement them
 * (ky, S3, the local disk, parquetjs-lite); tests may implement them with loopback servers.
 */
import type { ColumnDef, ColumnType, JsonValue, Row } from './types.ts';

/** A lake: keys are relative to its root and always use `/`. */
export interface ObjectStore {
  /** Human-readable root for messages: `/abs/path/lake` or `s3://bucket/prefix`. */
  readonly description: string;
  put(key: string, body: Uint8Array | string): Promise<void>;
  /**
   * Creates the object only if no object has that key; false when one exists. The basis of
   * optimistic concurrency between commits (S3: `If-None-Match: *`).
   */
  putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean>;
  /** The object's bytes, or undefined when there is no such key. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Every key under the prefix (recursive), sorted. */
  list(prefix: string): Promise<string[]>;
  /**
   * Every key under the prefix that sorts after `startAfter` (a key relative to the lake, like
   * the others), sorted. S3 starts its listing there (ListObjectsV2 `StartAfter`), so the keys
   * before it cost no request: one LIST finds the few objects past a point in a large prefix.
   * Optional: where absent, callers list the prefix and filter (`listAfter` in event-log.ts).
   */
  listAfter?(prefix: string, startAfter: string): Promise<string[]>;
  /** Deleting a missing key is not an error. */
  delete(keys: readonly string[]): Promise<void>;
  /** Moves an object (rename on disk, copy + delete on S3). Overwrites the target. */
  move(from: string, to: string): Promise<void>;
  /** A streaming write; the object appears whole on `close()` (or not at all on `abort()`). */
  openWrite(key: string): Promise<ObjectWriter>;
  /**
   * Removes what writes killed mid-way left under the prefix, which `list` does not show (the
   * local store's temporary files). Absent where the store has none to remove (S3: the bucket's
   * lifecycle rule aborts incomplete multipart uploads).
   */
  discardUnfinished?(prefix: string): Promise<void>;
}

export interface ObjectWriter {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** A Parquet part being written; its column set is fixed when it is opened. */
export interface PartWriter {
  readonly columns: readonly ColumnDef[];
  append(row: Row): Promise<void>;
  /** Bytes handed to the store so far (row groups already flushed). */
  bytesWritten(): number;
  /**
   * Waits until every row appended so far has been taken by the encoder and every row group it
   * completed is in the store, then answers `bytesWritten()`. Unlike `bytesWritten()` at an
   * arbitrary moment (which lags the rows by however far the encoding is behind), this is a
   * function of the rows appended and the row group size only: the same on every run.
   */
  settledBytes(): Promise<number>;
  rowsWritten(): number;
  /** Rows buffered before a row group is encoded and written out; the main memory cost of a part. */
  setRowGroupRows(rows: number): void;
  /**
   * Estimated bytes (row-group-budget.ts `rowBytes`) of the rows buffered in a row group before it
   * is encoded and written out: a row group closes at this or at its rows, whichever comes first.
   * Takes effect at the next append.
   */
  setRowGroupBytes(bytes: number): void;
  close(): Promise<{ rows: number; bytes: number }>;
  abort(): Promise<void>;
}

export interface PartWriterFactory {
  open(store: ObjectStore, key: string, columns: readonly ColumnDef[]): Promise<PartWriter>;
}

/** One GET against PayLink on behalf of a user. */
export interface PayLinkRequest {
  /** Path under the base URL, already with path parameters substituted and encoded. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Endpoint label for errors and logs: the catalog path template, never an id. */
  readonly endpoint: string;
  /** `user` (default): the user's public token. `server`: our API key and secret. */
  readonly auth?: 'user' | 'server';
}

/** A user's authenticated view of PayLink: holds the public token, re-mints it on 40104. */
export interface PayLinkSession {
  getJson(request: PayLinkRequest): Promise<JsonValue>;
}

export interface PayLinkApi {
  /**
   * Mints a public token for the identifier (POST /access-token).
   * Throws ApiKeyRejectedError when our credentials are refused (systemic).
   */
  openSession(identifier: string): Promise<PayLinkSession>;
  /** Counters for progress and summaries. */
  /** `timeouts`: attempts that got no answer within the client's timeout (absent for a stand-in). */
  stats(): { requests: number; retries: number; timeouts?: number };
}

/** Reads a part back as raw values (timestamps as ISO strings), for commit-time reconciliation. */
export interface PartReader {
  readRows(store: ObjectStore, key: string): Promise<Record<string, string | number | boolean | null>[]>;
  /**
   * A part's rows exactly as they were appended (`Row`s: timestamps as `Date`, integers as
   * numbers), `chunkRows` at a time, in file order: memory is the file plus one chunk, whatever
   * the part's size. With `chunkBytes`, fewer rows when the part's rows are wide: about that many
   * bytes of its uncompressed data a chunk (the footer's row group sizes), at least one row. For copying rows into another part without re-typing them.
   */
  readRowChunks(
    store: ObjectStore,
    key: string,
    chunkRows: number,
    chunkBytes?: number,
  ): AsyncIterable<Row[]>;
  /**
   * A part's columns from its footer, in file order, typed by the lake type whose Parquet type
   * they carry; `type: undefined` for a Parquet type the lake never writes.
   */
  readColumns(store: ObjectStore, key: string): Promise<{ name: string; type: ColumnType | undefined }[]>;
}

/**
 * `store.listAfter` where the store has it (S3: one LIST starting at `startAfter`), else the
 * prefix listed whole and filtered: the same keys, only the cost differs.
 */
export function listAfter(store: ObjectStore, prefix: string, startAfter: string): Promise<string[]> {
  if (store.listAfter !== undefined) return store.listAfter(prefix, startAfter);
  return store.list(prefix).then((keys) => keys.filter((key) => key > startAfter));
}
