/**
 * Ports whose adapter is loaded on first use. A cold start pays for evaluating every module a
 * bundle `require`s at load time; the AWS SDK clients, parquetjs-lite and hyparquet are most of
 * it (bench/cold-start.ts: an SDK client costs 80-170 ms to evaluate on the 2-core machine). So
 * each handler loads a client only on the path that uses it: esbuild (splitting on,
 * infra/constructs/loader-function.ts) puts what a dynamic `import()` reaches in a chunk file of
 * the asset, compiled only when the first call needs it. A failed load is not cached: the next call retries.
 */
import {
  listAfter,
  type ObjectStore,
  type ObjectWriter,
  type PartReader,
  type PartWriter,
  type PartWriterFactory,
} from '#core/ports.ts';
import type { UsersSource } from '#core/users-stream.ts';

/** `load()` once; concurrent first callers share the same promise; a rejection is forgotten. */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

/** An ObjectStore whose real store is built by `load` on the first call of any method. */
export function lazyStore(description: string, load: () => Promise<ObjectStore>): ObjectStore {
  const store = once(load);
  return {
    description,
    put: async (key, body) => (await store()).put(key, body),
    putIfAbsent: async (key, body) => (await store()).putIfAbsent(key, body),
    get: async (key) => (await store()).get(key),
    list: async (prefix) => (await store()).list(prefix),
    listAfter: async (prefix, startAfter) => listAfter(await store(), prefix, startAfter),
    delete: async (keys) => (await store()).delete(keys),
    move: async (from, to) => (await store()).move(from, to),
    openWrite: async (key): Promise<ObjectWriter> => (await store()).openWrite(key),
  };
}

export function lazyPartWriters(load: () => Promise<PartWriterFactory>): PartWriterFactory {
  const factory = once(load);
  return {
    open: async (store, key, columns): Promise<PartWriter> => (await factory()).open(store, key, columns),
  };
}

export function lazyPartReader(load: () => Promise<PartReader>): PartReader {
  const reader = once(load);
  return {
    readRows: async (store, key) => (await reader()).readRows(store, key),
    readColumns: async (store, key) => (await reader()).readColumns(store, key),
    readRowChunks: (store, key, chunkRows, chunkBytes) => ({
      async *[Symbol.asyncIterator]() {
        yield* (await reader()).readRowChunks(store, key, chunkRows, chunkBytes);
      },
    }),
  };
}

export function lazyUsersSource(description: string, load: () => Promise<UsersSource>): UsersSource {
  const source = once(load);
  return { description, open: async () => (await source()).open() };
}
