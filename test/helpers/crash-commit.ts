/**
 * A load (plan + batches + commit, as run-load.ts does) whose commit's writes pass through a
 * hook: the crash tests kill the process there (crash-commit-child.ts) and run recoveries
 * in-process. A write is any call that changes the lake: put, putIfAbsent, delete, move, and
 * the close() of a streamed write (the moment its object appears).
 */
import { openStore } from '#adapters/open-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { createPayLinkClient } from '#adapters/paylink-client.ts';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { commitLoad } from '#core/commit.ts';
import { loaderSettings, selectResources } from '#core/config.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { loadBatch } from '#core/load-batch.ts';
import { planLoad, readBatchUsers } from '#core/plan.ts';
import type { ObjectStore, ObjectWriter } from '#core/ports.ts';

export interface CrashCommitArgs {
  readonly dest: string;
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly loadId: string;
  readonly users: readonly string[];
  readonly resources: readonly string[];
  readonly batchSize: number;
  /** 1-based index of the commit write to die before (child process only); 0: never. */
  readonly killAt: number;
  /** Size a merged file reaches before the next starts (commit's `minFileBytes`); default 128 MB. */
  readonly minFileBytes?: number;
}

export interface CommitWrite {
  readonly op: number;
  readonly kind: string;
  readonly key: string;
}

/** The store with every write counted; `before(n, kind, key)` runs before write n is issued. */
function countingStore(
  store: ObjectStore,
  before: (n: number, kind: string, key: string) => void,
): ObjectStore {
  let n = 0;
  const write = (kind: string, key: string) => before(++n, kind, key);
  return {
    description: store.description,
    get: (key) => store.get(key),
    list: (prefix) => store.list(prefix),
    put(key, body) {
      write('put', key);
      return store.put(key, body);
    },
    putIfAbsent(key, body) {
      write('putIfAbsent', key);
      return store.putIfAbsent(key, body);
    },
    delete(keys) {
      write('delete', keys.join(','));
      return store.delete(keys);
    },
    move(from, to) {
      write('move', to);
      return store.move(from, to);
    },
    ...(store.discardUnfinished === undefined
      ? {}
      : { discardUnfinished: (prefix: string) => store.discardUnfinished!(prefix) }),
    async openWrite(key): Promise<ObjectWriter> {
      const writer = await store.openWrite(key);
      return {
        write: (chunk) => writer.write(chunk),
        abort: () => writer.abort(),
        close() {
          write('close', key);
          return writer.close();
        },
      };
    },
  };
}

/** Runs the load; `beforeWrite` sees each commit write before it is issued. */
export async function loadWithCommitHook(
  args: CrashCommitArgs,
  beforeWrite: (write: CommitWrite) => void,
): Promise<void> {
  const store = openStore(args.dest);
  const settings = loaderSettings({ baseUrl: args.baseUrl });
  const resources = selectResources(settings.catalog, args.resources);
  const api = createPayLinkClient({
    baseUrl: settings.baseUrl,
    credentials: { apiKey: args.apiKey, apiSecret: args.apiSecret },
    rateLimiter: createSystemRateLimiter(10_000),
    http: settings.http,
  });
  const parts = createParquetPartWriterFactory();
  const clock = () => new Date();

  const registry = await readCommittedSchema(store);
  const plan = await planLoad(
    {
      loadId: args.loadId,
      startedAt: clock(),
      users: args.users.map((identifier) => ({ identifier })),
      batchSize: args.batchSize,
      resources: resources.tables,
    },
    store,
  );
  for (let batch = 0; batch < plan.batches; batch++) {
    await loadBatch(
      {
        loadId: plan.loadId,
        batch,
        dt: plan.dt,
        startedAt: plan.startedAt,
        users: await readBatchUsers(store, plan.loadId, batch),
        steps: resources.steps,
        registry,
        concurrency: 4,
      },
      { api, store, parts, clock },
    );
  }

  const counted = countingStore(store, (op, kind, key) => beforeWrite({ op, kind, key }));
  await commitLoad(plan.loadId, {
    store: counted,
    parts,
    reader: createParquetPartReader(),
    clock,
    ...(args.minFileBytes === undefined ? {} : { minFileBytes: args.minFileBytes }),
  });
}
