/**
 * The Parquet part writer of the handlers that write parts (load-batch, commit), in its own
 * module so the plan's bundle does not carry it. By default parquetjs-lite encodes in a worker
 * thread (parquet-worker-writer.ts): a row group's encoding (~120 ms of synchronous work) does not
 * stall the requests in flight, when the function has CPU to spare for the worker (load-batch's
 * 2,048 MiB get more than one vCPU's share). PAYLINK_PARQUET_WRITER=in-thread encodes on the main
 * thread instead (the writer before the worker), as the CLI's variable does. The writer is
 * imported on the first part opened (lazy.ts); the worker starts with it, and its entry is
 * bundled beside the handler (LoaderFunction).
 */
import { ConfigError } from '#core/errors.ts';
import type { PartWriterFactory } from '#core/ports.ts';
import { lazyPartWriters } from './lazy.ts';

let cachedParts: PartWriterFactory | undefined;

export function partWriters(): PartWriterFactory {
  const writer = process.env.PAYLINK_PARQUET_WRITER || 'worker';
  if (writer !== 'worker' && writer !== 'in-thread')
    throw new ConfigError('PAYLINK_PARQUET_WRITER', "must be 'worker' or 'in-thread'");
  cachedParts ??= lazyPartWriters(async () => {
    if (writer === 'in-thread')
      return (await import('#adapters/parquet-writer.ts')).createParquetPartWriterFactory();
    return (await import('#adapters/parquet-worker-writer.ts')).createWorkerPartWriterFactory();
  });
  return cachedParts;
}
