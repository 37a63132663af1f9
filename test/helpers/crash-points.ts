/**
 * Crash points: a load (lease, plan, batches, commit: core/run-load.ts, as the CLI runs it)
 * through a store that dies at its N-th write. A write is any call that changes the lake:
 * put, putIfAbsent, delete, move, opening a streamed write (its temporary object) and closing
 * one (the moment the object appears). From write N on, every call of the dead store throws
 * and nothing more reaches the lake: no finally block, abort or lease release gets through,
 * as when the process is killed there. Writes already issued complete (they were on the wire).
 */
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { createPayLinkClient } from '#adapters/paylink-client.ts';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { loaderSettings, selectResources } from '#core/config.ts';
import type { ObjectStore, ObjectWriter } from '#core/ports.ts';
import { runLoad } from '#core/run-load.ts';

export interface StoreWrite {
  readonly n: number;
  readonly kind: 'put' | 'putIfAbsent' | 'delete' | 'move' | 'openWrite' | 'close';
  readonly key: string;
}

/** Thrown by the dead store: the "process" is gone. */
export class Crash extends Error {
  override readonly name = 'Crash';
}

/** Whether the store dies at this write (`n`: 1-based, counting this one). */
export type CrashAt = (write: Omit<StoreWrite, 'n'>, n: number) => boolean;

/**
 * `store` dying at write `crashAt` (1-based; 0: never), or at the first write `crashAt` picks.
 * `seen` gets every write issued before it.
 */
export function crashingStore(
  store: ObjectStore,
  crashAt: number | CrashAt,
  seen: (write: StoreWrite) => void = () => undefined,
): ObjectStore {
  let n = 0;
  let dead = false;
  const alive = () => {
    if (dead) throw new Crash('the store died');
  };
  const write = (kind: StoreWrite['kind'], key: string) => {
    alive();
    n += 1;
    if (typeof crashAt === 'number' ? n === crashAt : crashAt({ kind, key }, n)) {
      dead = true;
      throw new Crash(`died at write ${n} (${kind} ${key})`);
    }
    seen({ n, kind, key });
  };
  const guard = async <T>(run: () => Promise<T>): Promise<T> => {
    alive();
    const result = await run();
    return result;
  };
  return {
    description: store.description,
    get: (key) => guard(() => store.get(key)),
    list: (prefix) => guard(() => store.list(prefix)),
    async put(key, body) {
      write('put', key);
      return store.put(key, body);
    },
    async putIfAbsent(key, body) {
      write('putIfAbsent', key);
      return store.putIfAbsent(key, body);
    },
    async delete(keys) {
      write('delete', keys.join(','));
      return store.delete(keys);
    },
    async move(from, to) {
      write('move', to);
      return store.move(from, to);
    },
    async openWrite(key): Promise<ObjectWriter> {
      write('openWrite', key);
      const writer = await store.openWrite(key);
      return {
        async write(chunk) {
          alive();
          return writer.write(chunk);
        },
        // A dead process aborts nothing: its temporary object stays where it was.
        async abort() {
          alive();
          return writer.abort();
        },
        async close() {
          write('close', key);
          return writer.close();
        },
      };
    },
  };
}

export interface CrashLoadArgs {
  readonly store: ObjectStore;
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly loadId: string;
  readonly users: readonly string[];
  readonly resources: readonly string[];
  readonly batchSize: number;
  /** The run's clock: a recovery runs later than the lease a crashed run left. */
  readonly now: () => Date;
  readonly owner: string;
  readonly leaseTtlMs: number;
}

/** One whole load as the CLI runs it, on `args.store`. */
export async function loadInProcess(args: CrashLoadArgs): Promise<void> {
  const settings = loaderSettings({ baseUrl: args.baseUrl });
  const resources = selectResources(settings.catalog, args.resources);
  await runLoad(
    {
      loadId: args.loadId,
      startedAt: args.now(),
      users: args.users.map((identifier) => ({ identifier })),
      resources,
      batchSize: args.batchSize,
      // One user at a time: the order of writes, so each crash point, is the same on every run.
      concurrency: 1,
    },
    {
      api: createPayLinkClient({
        baseUrl: settings.baseUrl,
        credentials: { apiKey: args.apiKey, apiSecret: args.apiSecret },
        rateLimiter: createSystemRateLimiter(10_000),
        http: settings.http,
      }),
      store: args.store,
      parts: createParquetPartWriterFactory(),
      reader: createParquetPartReader(),
      clock: args.now,
      leasing: {
        options: {
          owner: { id: args.owner, kind: 'test', command: `crash-point load ${args.loadId}` },
          ttlMs: args.leaseTtlMs,
          clock: args.now,
        },
      },
    },
  );
}
