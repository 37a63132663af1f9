/**
 * Parquet parts encoded by parquetjs-lite in a worker thread (parquet-encode-worker.ts), behind
 * the same PartWriterFactory port as the in-thread writer (parquet-writer.ts, which the worker
 * runs unchanged). The main thread validates each row (a bad value is refused by `append`, as
 * in-thread), sends rows in small batches and writes the encoded bytes the worker sends back to
 * the ObjectStore, which stays on the main thread.
 *
 * Why: parquetjs-lite encodes a row group synchronously (~120 ms for 2,000 rows at 16k rows/s on
 * the 2-core machine); on the main thread that stalls every request in flight
 * (bench/results/issue-11.md). Off it, the main thread only clones rows into messages.
 *
 * Memory is bounded: at most `maxQueuedRows` rows are sent and not yet taken by parquetjs-lite
 * (across all parts); `append` waits beyond that (backpressure). The worker holds each part's
 * row group being filled, as the in-thread writer does, plus one encoded chunk per part waiting
 * for its store write.
 *
 * Errors: a part that fails in the worker (encoding, or its object's write) fails its next
 * `append` or its `close` with a StoreError whose cause is the store's own error when the
 * store failed, else the worker's error (name, message, stack; causes kept). A worker that dies
 * fails its open parts the same way; the next part opened starts a new worker.
 *
 * The worker is unreferenced while no part is open, so it never keeps a process alive.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { DEFAULTS } from '#core/constants.ts';
import { LoaderError, StoreError } from '#core/errors.ts';
import type { ObjectStore, ObjectWriter, PartWriter, PartWriterFactory } from '#core/ports.ts';
import type { ColumnType, Row } from '#core/types.ts';
import { assertColumns, checkedRecord } from './parquet-schema.ts';
import type {
  FromWorker,
  SerializedError,
  ToWorker,
  WorkerEncoder,
  WorkerSettings,
} from './parquet-worker-protocol.ts';

export interface WorkerPartWriterOptions {
  /** Rows per row group (default DEFAULTS.parquet.rowGroupRows). */
  readonly rowGroupRows?: number;
  /** Estimated bytes per row group (default DEFAULTS.parquet.rowGroupBytes; row-group-budget.ts). */
  readonly rowGroupBytes?: number;
  /** Rows sent to the worker and not yet encoded, across all parts, before `append` waits (default 2,000). */
  readonly maxQueuedRows?: number;
  /**
   * `Buffer.poolSize` in the worker, bytes (default: Node's, 8 KiB). 0 was tried to stop small
   * values pinning pool slabs: it made the peak RSS higher and grow faster (each value then has its
   * own ArrayBuffer; bench/batch-memory, 1k -> 5k users: 393 -> 492 MiB with 0, 322 -> 355 with 8 KiB).
   */
  readonly bufferPoolSize?: number;
  /**
   * The encoder the worker runs (default parquetjs-lite, through parquet-writer.ts): a module URL
   * and the export that makes its PartWriterFactory. Only the bench and tests pass one.
   */
  readonly encoder?: WorkerEncoder;
  /**
   * The worker's V8 heap limits (MiB). Without them a worker takes the process's V8 flags: in
   * Lambda the runtime sizes the old space from the function's whole memory, for each isolate,
   * so two isolates could together outgrow the function. A worker past its limit stops with
   * ERR_WORKER_OUT_OF_MEMORY: its parts fail (StoreError), the process lives on.
   * See lambdas/core/heap-budget.ts.
   */
  readonly resourceLimits?: Pick<ResourceLimits, 'maxOldGenerationSizeMb' | 'maxYoungGenerationSizeMb'>;
}

/** Rows sent in one message at most: fewer messages, and no part holds back more than this. */
const SEND_ROWS = 256;

/**
 * How to start the worker: the bundle's `.mjs` entry beside this module when bundled (the Lambda
 * asset lays its files flat, see LoaderFunction); from source (tsx, vitest) the `.ts` file, loaded
 * after tsx's ESM hooks are registered in the worker (a worker inherits no loader registered
 * through tsx's API, and `--import tsx` in a worker's execArgv is not honoured by Node 20).
 */
function workerSource(): { code: string | URL; eval: boolean } {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(
    fromSource ? './parquet-encode-worker.ts' : './parquet-encode-worker.mjs',
    import.meta.url,
  );
  if (!fromSource) return { code: url, eval: false };
  // tsx's ESM API, by its "import" export (the resolver answers with the "require" one).
  const api = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  const code = [
    `import(${JSON.stringify(pathToFileURL(api).href)})`,
    '.then((tsx) => tsx.register())',
    `.then(() => import(${JSON.stringify(url.href)}))`,
    // An error here would otherwise be an unhandled rejection: make it the worker's error.
    '.catch((error) => { throw error; });',
  ].join('');
  return { code, eval: true };
}

function revive(error: SerializedError): Error {
  const revived = new Error(
    error.message,
    error.cause === undefined ? undefined : { cause: revive(error.cause) },
  );
  revived.name = error.name;
  if (error.stack !== undefined) revived.stack = error.stack;
  if (error.code !== undefined) Object.assign(revived, { code: error.code });
  return revived;
}

interface MainPart {
  readonly key: string;
  readonly target: ObjectWriter;
  /** The first error of the part's object, kept as the cause of what the worker reports. */
  targetFailure: unknown;
  failure: LoaderError | undefined;
  pending: Row[];
  flushScheduled: boolean;
  bytes: number;
  /** `settledBytes` calls waiting for the worker, in the order they were asked. */
  settling: { resolve: (bytes: number) => void; reject: (e: unknown) => void }[];
  /** Set while `close` waits for the worker. */
  closing?: { resolve: (value: { rows: number; bytes: number }) => void; reject: (e: unknown) => void };
  /** Set while `abort` waits for the worker. */
  aborting?: () => void;
}

class EncodeWorker {
  readonly #worker: Worker;
  readonly #parts = new Map<number, MainPart>();
  #queued = 0;
  #waiters: (() => void)[] = [];
  dead = false;

  constructor(
    settings: WorkerSettings,
    private readonly maxQueuedRows: number,
    private readonly onExit: () => void,
    resourceLimits: ResourceLimits | undefined,
  ) {
    const source = workerSource();
    this.#worker = new Worker(source.code, {
      workerData: settings,
      eval: source.eval,
      ...(resourceLimits === undefined ? {} : { resourceLimits }),
    });
    this.#worker.on('message', (message: FromWorker) => this.#onMessage(message));
    this.#worker.on('error', (error) => this.#die(error));
    this.#worker.on('exit', (code) =>
      this.#die(new Error(`the Parquet encoding worker exited (code ${code})`)),
    );
    // After the 'message' listener, never before: Node refs a worker's message port again when
    // the worker gains its first 'message' listener (nodejs/node#53036, by design), so a worker
    // unref'd first stayed referenced until a part was added and removed. A load whose first
    // part failed to open (ENOTDIR under _staging) never added one: it printed "Nothing was
    // committed." and its process then waited forever on that port.
    this.#worker.unref();
  }

  post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.#worker.postMessage(message, transfer);
  }

  add(id: number, part: MainPart): void {
    if (this.#parts.size === 0) this.#worker.ref();
    this.#parts.set(id, part);
  }

  remove(id: number): void {
    this.#parts.delete(id);
    if (this.#parts.size === 0) this.#worker.unref();
  }

  /** Sends a part's rows to the worker; they count against the queue until it has taken them. */
  sendRows(id: number, rows: Row[]): void {
    this.#queued += rows.length;
    this.post({ t: 'rows', id, rows });
  }

  /** Resolves at once while the queue is under its limit, else when the worker has taken enough. */
  async room(): Promise<void> {
    while (this.#queued > this.maxQueuedRows && !this.dead) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #release(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #onMessage(message: FromWorker): void {
    const part = this.#parts.get(message.id);
    switch (message.t) {
      case 'consumed':
        this.#queued -= message.rows;
        if (this.#queued <= this.maxQueuedRows) this.#release();
        return;
      case 'target':
        void this.#target(part, message.seq, message.op, message.bytes);
        return;
      case 'failed':
        if (part === undefined) return;
        part.failure ??= new StoreError(
          part.key,
          part.targetFailure === undefined ? 'Parquet encoding failed in the worker' : 'Parquet write failed',
          part.targetFailure ?? revive(message.error),
        );
        part.closing?.reject(part.failure);
        for (const waiter of part.settling.splice(0)) waiter.reject(part.failure);
        return;
      case 'settled':
        part?.settling.shift()?.resolve(message.bytes);
        return;
      case 'closed':
        part?.closing?.resolve({ rows: message.rows, bytes: message.bytes });
        return;
      case 'aborted':
        part?.aborting?.();
        return;
    }
  }

  async #target(
    part: MainPart | undefined,
    seq: number,
    op: 'write' | 'close' | 'abort',
    bytes?: Uint8Array,
  ) {
    let error: SerializedError | undefined;
    try {
      if (part === undefined) throw new Error('no such part');
      if (op === 'write') {
        await part.target.write(bytes!);
        part.bytes += bytes!.byteLength;
      } else if (op === 'close') await part.target.close();
      else await part.target.abort();
    } catch (cause) {
      if (part !== undefined) part.targetFailure ??= cause;
      error = {
        name: cause instanceof Error ? cause.name : 'Error',
        message: String((cause as Error)?.message ?? cause),
      };
    }
    if (!this.dead) this.post({ t: 'done', seq, ...(error === undefined ? {} : { error }) });
  }

  #die(cause: unknown): void {
    if (this.dead) return;
    this.dead = true;
    this.onExit();
    for (const part of this.#parts.values()) {
      part.failure ??= new StoreError(part.key, 'the Parquet encoding worker stopped', cause);
      part.closing?.reject(part.failure);
      for (const waiter of part.settling.splice(0)) waiter.reject(part.failure);
      part.aborting?.();
    }
    this.#release();
  }
}

export function createWorkerPartWriterFactory(options: WorkerPartWriterOptions = {}): PartWriterFactory {
  const rowGroupRows = options.rowGroupRows ?? DEFAULTS.parquet.rowGroupRows;
  if (!Number.isInteger(rowGroupRows) || rowGroupRows < 1)
    throw new RangeError('rowGroupRows must be a positive integer');
  const rowGroupBytes = options.rowGroupBytes ?? DEFAULTS.parquet.rowGroupBytes;
  if (!Number.isInteger(rowGroupBytes) || rowGroupBytes < 1)
    throw new RangeError('rowGroupBytes must be a positive integer');
  const maxQueuedRows = options.maxQueuedRows ?? 2_000;
  if (!Number.isInteger(maxQueuedRows) || maxQueuedRows < 1)
    throw new RangeError('maxQueuedRows must be a positive integer');
  const resourceLimits = options.resourceLimits;
  for (const [name, value] of Object.entries(resourceLimits ?? {}))
    if (value !== undefined && (!Number.isInteger(value) || value < 1))
      throw new RangeError(`resourceLimits.${name} must be a positive integer (MiB)`);
  const settings: WorkerSettings = {
    rowGroupRows,
    rowGroupBytes,
    ...(options.bufferPoolSize === undefined ? {} : { bufferPoolSize: options.bufferPoolSize }),
    ...(options.encoder === undefined ? {} : { encoder: options.encoder }),
  };
  let worker: EncodeWorker | undefined;
  let nextId = 0;
  const current = (): EncodeWorker => {
    worker ??= new EncodeWorker(
      settings,
      maxQueuedRows,
      () => {
        worker = undefined;
      },
      resourceLimits,
    );
    return worker;
  };
  return {
    open: async (store, key, columns) => openPart(current(), nextId++, store, key, columns),
  };
}

async function openPart(
  worker: EncodeWorker,
  id: number,
  store: ObjectStore,
  key: string,
  columns: PartWriter['columns'],
): Promise<PartWriter> {
  assertColumns(key, columns);
  const types = new Map<string, ColumnType>(columns.map((column) => [column.name, column.type]));
  const target = await store.openWrite(key);
  const part: MainPart = {
    key,
    target,
    targetFailure: undefined,
    failure: undefined,
    pending: [],
    flushScheduled: false,
    bytes: 0,
    settling: [],
  };
  worker.add(id, part);
  worker.post({ t: 'open', id, key, columns });
  let state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  let rows = 0;

  const flush = (): void => {
    part.flushScheduled = false;
    if (part.pending.length === 0 || worker.dead || part.failure) return;
    const batch = part.pending;
    part.pending = [];
    worker.sendRows(id, batch);
  };
  const check = () => {
    if (part.failure) throw part.failure;
  };

  /** The worker aborts the object (through this thread) once its current step is over. */
  const abortPart = async (): Promise<void> => {
    part.pending = [];
    if (!worker.dead) {
      const answer = new Promise<void>((resolve) => {
        part.aborting = resolve;
      });
      worker.post({ t: 'abort', id });
      await answer;
    }
    // A dead worker aborted nothing.
    if (worker.dead) await target.abort().catch(() => undefined);
    worker.remove(id);
  };

  return {
    columns,
    async append(row) {
      if (state !== 'open')
        throw new StoreError(key, `append after ${state === 'aborted' ? 'abort' : 'close'}`);
      check();
      checkedRecord(key, types, row);
      rows += 1;
      part.pending.push(row);
      if (part.pending.length >= SEND_ROWS) flush();
      else if (!part.flushScheduled) {
        // Rows that arrive together go in one message, sent once the current turn is over.
        part.flushScheduled = true;
        setImmediate(flush);
      }
      await worker.room();
    },
    bytesWritten: () => part.bytes,
    async settledBytes() {
      if (state !== 'open')
        throw new StoreError(key, `settledBytes after ${state === 'aborted' ? 'abort' : 'close'}`);
      check();
      // The rows held here go first: the worker answers after every row sent before the request.
      flush();
      const answer = new Promise<number>((resolve, reject) => part.settling.push({ resolve, reject }));
      worker.post({ t: 'settle', id });
      return answer;
    },
    rowsWritten: () => rows,
    setRowGroupRows(next) {
      if (!Number.isInteger(next) || next < 1)
        throw new RangeError('rowGroupRows must be a positive integer');
      // After the rows appended before it, as in-thread: the rows held here go first.
      flush();
      worker.post({ t: 'rowGroupRows', id, rows: next });
    },
    setRowGroupBytes(next) {
      if (!Number.isInteger(next) || next < 1)
        throw new RangeError('rowGroupBytes must be a positive integer');
      // The worker's part writer (parquet-writer.ts) applies it at the next row it takes, after
      // the rows appended before it (held here until sent).
      flush();
      worker.post({ t: 'rowGroupBytes', id, bytes: next });
    },
    async close() {
      if (state !== 'open')
        throw new StoreError(key, `close after ${state === 'aborted' ? 'abort' : 'close'}`);
      state = 'closing';
      try {
        check();
        flush();
        const answer = new Promise<{ rows: number; bytes: number }>((resolve, reject) => {
          part.closing = { resolve, reject };
        });
        worker.post({ t: 'close', id });
        const result = await answer;
        state = 'closed';
        worker.remove(id);
        return { rows, bytes: result.bytes };
      } catch (error) {
        state = 'aborted';
        // The object never appears: like the in-thread writer, a failed close aborts it.
        await abortPart();
        throw error instanceof LoaderError ? error : new StoreError(key, 'Parquet close failed', error);
      }
    },
    async abort() {
      if (state === 'closed' || state === 'aborted') return;
      state = 'aborted';
      await abortPart();
    },
  };
}
