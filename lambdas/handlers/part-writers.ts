/**
 * The Parquet part writer of the handlers that write parts (load-batch, commit), in its own
 * module so the plan's bundle does not carry parquetjs-lite. The writer is imported on the first
 * part opened (lazy.ts).
 */
import type { PartWriterFactory } from '#core/ports.ts';
import { lazyPartWriters } from './lazy.ts';

let cachedParts: PartWriterFactory | undefined;

export function partWriters(): PartWriterFactory {
  cachedParts ??= lazyPartWriters(async () => {
    const { createParquetPartWriterFactory } = await import('#adapters/parquet-writer.ts');
    return createParquetPartWriterFactory();
  });
  return cachedParts;
}
