/**
 * The Parquet part writer of the handlers that write parts (load-batch, commit), in its own
 * module so the plan's bundle does not carry it. parquetjs-lite encodes in a worker thread
 * (parquet-worker-writer.ts): a row group's encoding (~120 ms of synchronous work) no longer
 * stalls the requests in flight, and its small per-value buffers live in the worker's heap. The
 * writer is imported on the first part opened (lazy.ts); the worker starts with it, and its
 * entry is bundled beside the handler (LoaderFunction).
 */
import type { PartWriterFactory } from '#core/ports.ts';
import { lazyPartWriters } from './lazy.ts';

let cachedParts: PartWriterFactory | undefined;

export function partWriters(): PartWriterFactory {
  cachedParts ??= lazyPartWriters(async () => {
    const { createWorkerPartWriterFactory } = await import('#adapters/parquet-worker-writer.ts');
    return createWorkerPartWriterFactory();
  });
  return cachedParts;
}
