/**
 * The worker thread of parquet-worker-writer.ts: runs the parquetjs-lite part writer
 * (parquet-writer.ts, unchanged; or the encoder named in workerData, which only the bench and
 * tests do) for the parts the main thread opens, so encoding a row group
 * (~120 ms of synchronous work for 2,000 rows) never stalls the main thread's requests.
 * Encoded bytes go back to the main thread, which owns the ObjectStore: every write, close and
 * abort of a part's object is a request answered by the main thread (`target`/`done` messages).
 *
 * `Buffer.poolSize` is set from workerData first thing when given: parquetjs-lite turns each
 * string value into a small Buffer, carved from this thread's pool slabs unless the pool is off
 * (bench/README.md, "Max live external"); the pool is this thread's alone.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ObjectStore, ObjectWriter, PartWriter, PartWriterFactory } from '#core/ports.ts';
import type { FromWorker, SerializedError, ToWorker, WorkerSettings } from './parquet-worker-protocol.ts';
import { createParquetPartWriterFactory } from './parquet-writer.ts';

const port = parentPort;
if (port === null) throw new Error('parquet-encode-worker: must run as a worker thread');
const settings = workerData as WorkerSettings;
if (settings.bufferPoolSize !== undefined) Buffer.poolSize = settings.bufferPoolSize;

/**
 * parquetjs-lite, or the encoder the main thread named (WorkerSettings.encoder). A failure to
 * load that one fails each part at its open, as any open failure does.
 */
async function partWriters(): Promise<PartWriterFactory> {
  const options = { rowGroupRows: settings.rowGroupRows, rowGroupBytes: settings.rowGroupBytes };
  if (settings.encoder === undefined) return createParquetPartWriterFactory(options);
  const { module, export: name } = settings.encoder;
  const make = ((await import(module)) as Record<string, unknown>)[name];
  if (typeof make !== 'function') throw new Error(`parquet-encode-worker: ${module} has no function ${name}`);
  return (await make(options)) as PartWriterFactory;
}
const factory = partWriters();
factory.catch(() => undefined);

function serialize(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...(error.stack === undefined ? {} : { stack: error.stack }),
      ...(typeof code === 'string' ? { code } : {}),
      ...(error.cause === undefined ? {} : { cause: serialize(error.cause) }),
    };
  }
  return { name: 'Error', message: String(error) };
}

const send = (message: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer ?? []);

/** Target requests waiting for the main thread's answer, by sequence number. */
const waiting = new Map<number, { resolve: () => void; reject: (error: unknown) => void }>();
let nextSeq = 0;

function request(id: number, op: 'write' | 'close' | 'abort', bytes?: Uint8Array): Promise<void> {
  const seq = nextSeq++;
  return new Promise<void>((resolve, reject) => {
    waiting.set(seq, { resolve, reject });
    if (bytes === undefined) send({ t: 'target', id, seq, op });
    else {
      // parquetjs-lite's buffers can be views into a larger (pooled) buffer: send a copy we own.
      const copy = new Uint8Array(bytes);
      send({ t: 'target', id, seq, op, bytes: copy }, [copy.buffer as ArrayBuffer]);
    }
  });
}

/** The part's object, as seen from here: each call is done by the main thread. */
function remoteStore(id: number): ObjectStore {
  const writer: ObjectWriter = {
    write: (chunk) => request(id, 'write', chunk),
    close: () => request(id, 'close'),
    abort: () => request(id, 'abort'),
  };
  const unsupported = () => Promise.reject(new Error('parquet-encode-worker: only openWrite is forwarded'));
  return {
    description: 'main thread',
    put: unsupported,
    putIfAbsent: unsupported,
    get: unsupported,
    list: unsupported,
    delete: unsupported,
    move: unsupported,
    openWrite: async () => writer,
  };
}

interface Part {
  writer: Promise<PartWriter>;
  /** Each message of the part runs after the previous one. */
  chain: Promise<void>;
  failed: boolean;
}

const parts = new Map<number, Part>();

function run(id: number, step: (part: Part, writer: PartWriter) => Promise<void>): void {
  const part = parts.get(id);
  if (part === undefined) return;
  part.chain = part.chain.then(async () => {
    if (part.failed) return;
    try {
      await step(part, await part.writer);
    } catch (error) {
      part.failed = true;
      send({ t: 'failed', id, error: serialize(error) });
    }
  });
}

port.on('message', (message: ToWorker) => {
  switch (message.t) {
    case 'open': {
      const writer = factory.then((f) => f.open(remoteStore(message.id), message.key, message.columns));
      // A failed open is reported by the part's first step.
      writer.catch(() => undefined);
      parts.set(message.id, { writer, chain: Promise.resolve(), failed: false });
      run(message.id, async () => undefined);
      return;
    }
    case 'rows':
      run(message.id, async (_, writer) => {
        for (const row of message.rows) await writer.append(row);
        send({ t: 'consumed', id: message.id, rows: message.rows.length });
      });
      return;
    case 'rowGroupRows':
      run(message.id, async (_, writer) => writer.setRowGroupRows(message.rows));
      return;
    case 'rowGroupBytes':
      run(message.id, async (_, writer) => writer.setRowGroupBytes(message.bytes));
      return;
    case 'settle':
      run(message.id, async (_, writer) => {
        send({ t: 'settled', id: message.id, bytes: await writer.settledBytes() });
      });
      return;
    case 'close':
      run(message.id, async (_, writer) => {
        const result = await writer.close();
        parts.delete(message.id);
        send({ t: 'closed', id: message.id, ...result });
      });
      return;
    case 'abort': {
      const part = parts.get(message.id);
      parts.delete(message.id);
      const done = () => send({ t: 'aborted', id: message.id });
      if (part === undefined) return done();
      // After whatever step is running: parquetjs-lite must not write into an aborted object.
      void part.chain
        .then(async () => (await part.writer).abort())
        .catch(() => undefined)
        .then(done);
      return;
    }
    case 'done': {
      const pending = waiting.get(message.seq);
      waiting.delete(message.seq);
      if (message.error === undefined) pending?.resolve();
      else pending?.reject(Object.assign(new Error(message.error.message), { name: message.error.name }));
      return;
    }
  }
});
