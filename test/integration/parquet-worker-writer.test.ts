/**
 * What the worker-thread writer adds to the in-thread one (parquet-writer.test.ts runs the shared
 * behaviours on both): errors from the worker and from the store arrive later but typed and with
 * their cause, and rows waiting for the worker are bounded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createWorkerPartWriterFactory } from '#adapters/parquet-worker-writer.ts';
import { cliPartWriters } from '#cli/load-command.ts';
import { ConfigError, StoreError } from '#core/errors.ts';
import type { ObjectStore, PartWriterFactory } from '#core/ports.ts';
import type { ColumnDef, ColumnType } from '#core/types.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';

const COLUMNS: readonly ColumnDef[] = [
  { name: 'name', type: 'text' },
  { name: 'count', type: 'bigint' },
];

let dir: string;
let store: ObjectStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parquet-worker-writer-'));
  store = createLocalStore(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The store, with writes that wait for `release()` and an optional failure from the Nth write on. */
function heldStore(options: { failFromWrite?: number } = {}) {
  const aborted: string[] = [];
  let writes = 0;
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const held: ObjectStore = {
    ...store,
    async openWrite(key) {
      const inner = await store.openWrite(key);
      return {
        async write(chunk) {
          writes += 1;
          if (options.failFromWrite !== undefined && writes >= options.failFromWrite)
            throw new StoreError(key, 'disk full (simulated)');
          if (options.failFromWrite === undefined) await released;
          await inner.write(chunk);
        },
        close: () => inner.close(),
        async abort() {
          aborted.push(key);
          await inner.abort();
        },
      };
    },
  };
  return { held, aborted, release, writes: () => writes };
}

/**
 * Appends rows of 2 KB to one part until it fails (at most ~400 MiB of rows, which V8's default
 * limit would take), and expects the failure to be the worker's out-of-memory.
 */
async function expectWorkerOutOfMemory(factory: PartWriterFactory, key: string): Promise<void> {
  const part = await factory.open(store, key, COLUMNS);
  // One row group holds every row, whatever the default row group limits.
  part.setRowGroupRows(1_000_000);
  part.setRowGroupBytes(2 ** 40);
  const value = 'x'.repeat(2_000);
  let refused: unknown;
  for (let i = 0; refused === undefined && i < 200_000; i += 1)
    await part.append({ count: i, name: `${i}${value}` }).catch((error: unknown) => {
      refused = error;
    });
  const error = refused ?? (await part.close().catch((e: unknown) => e));
  await part.abort();

  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).message).toBe(`lake ${key}: the Parquet encoding worker stopped`);
  expect(((error as Error).cause as { code?: string }).code).toBe('ERR_WORKER_OUT_OF_MEMORY');
  expect(await store.list(key.split('/')[0]!)).toEqual([]);
}

describe('parquet part writer in a worker thread', () => {
  it("fails a part whose store write failed on a later append or its close, with the store's error as cause", async () => {
    const { held, aborted } = heldStore({ failFromWrite: 2 });
    const part = await createWorkerPartWriterFactory({ rowGroupRows: 2 }).open(
      held,
      'failing/a.parquet',
      COLUMNS,
    );

    // The failure happens in the worker, after the append that led to it returned: keep appending.
    let refused: unknown;
    const until = Date.now() + 20_000;
    for (let i = 0; refused === undefined && Date.now() < until; i += 1) {
      await part.append({ count: i }).catch((error: unknown) => {
        refused = error;
      });
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const closed = await part.close().catch((error: unknown) => error);

    for (const error of [refused, closed]) {
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toBe('lake failing/a.parquet: Parquet write failed');
      expect(((error as Error).cause as Error).message).toBe('lake failing/a.parquet: disk full (simulated)');
    }
    expect(aborted).toEqual(['failing/a.parquet']);
    expect(await store.list('failing/')).toEqual([]);
  });

  it("fails a part the worker cannot encode with a StoreError naming the part, the worker's error as cause", async () => {
    // A column type the Parquet schema does not know: the main thread passes it on, the worker refuses it.
    const columns = [{ name: 'x', type: 'decimal' as ColumnType }];
    const part = await createWorkerPartWriterFactory().open(store, 'unknown-type/a.parquet', columns);

    const error = await part.close().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toBe(
      'lake unknown-type/a.parquet: Parquet encoding failed in the worker',
    );
    expect((error as StoreError).cause).toBeInstanceOf(Error);
    // parquetjs-lite's own words, from the worker.
    expect(((error as Error).cause as Error).message).toBe('invalid parquet type: undefined');
    expect(await store.list('unknown-type/')).toEqual([]);
  });

  it('fails each part with a StoreError when the encoder it was told to run has no such factory', async () => {
    const factory = createWorkerPartWriterFactory({
      encoder: {
        module: new URL('../../bench/lib/part-writers.ts', import.meta.url).href,
        export: 'createNoSuchPartWriterFactory',
      },
    });
    for (const key of ['no-encoder/a.parquet', 'no-encoder/b.parquet']) {
      const part = await factory.open(store, key, COLUMNS);
      const error = await part.close().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toBe(`lake ${key}: Parquet encoding failed in the worker`);
      expect(((error as Error).cause as Error).message).toMatch(
        /^parquet-encode-worker: .*part-writers\.ts has no function createNoSuchPartWriterFactory$/,
      );
    }
    expect(await store.list('no-encoder/')).toEqual([]);
  });

  it('makes append wait once the rows queued for the worker reach the limit, then writes them all', async () => {
    const { held, release } = heldStore();
    const maxQueuedRows = 300;
    const part = await createWorkerPartWriterFactory({ rowGroupRows: 50, maxQueuedRows }).open(
      held,
      'bounded/a.parquet',
      COLUMNS,
    );

    let accepted = 0;
    const appends = (async () => {
      for (let i = 0; i < 5_000; i += 1) {
        await part.append({ count: i, name: `row ${i}` });
        accepted += 1;
      }
    })();
    // The worker encodes one row group, then waits on the held write: the queue fills and stays full.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const acceptedWhileHeld = accepted;
    release();
    await appends;
    await part.close();

    // One row group taken by parquetjs-lite, the queue's limit, and one message that crossed it.
    expect(acceptedWhileHeld).toBeGreaterThan(0);
    expect(acceptedWhileHeld).toBeLessThanOrEqual(50 + maxQueuedRows + 256);
    const file = await readParquet((await store.get('bounded/a.parquet'))!);
    expect(file.rows.map((row) => row['count'])).toEqual(Array.from({ length: 5_000 }, (_, i) => BigInt(i)));
  });

  it("starts the worker with the given heap limits: past them it stops, and its part fails with the worker's out-of-memory as cause", async () => {
    // One row group holds every row in the worker: its heap grows until the 32 MiB limit ends it.
    const factory = createWorkerPartWriterFactory({
      rowGroupRows: 1_000_000,
      resourceLimits: { maxOldGenerationSizeMb: 32 },
    });
    await expectWorkerOutOfMemory(factory, 'heap-limit/a.parquet');
  });

  it('refuses heap limits that are not a positive whole number of MiB', () => {
    expect(() => createWorkerPartWriterFactory({ resourceLimits: { maxOldGenerationSizeMb: 0 } })).toThrow(
      'resourceLimits.maxOldGenerationSizeMb must be a positive integer (MiB)',
    );
    expect(() =>
      createWorkerPartWriterFactory({ resourceLimits: { maxYoungGenerationSizeMb: 1.5 } }),
    ).toThrow(RangeError);
  });
});

describe("the CLI's encoding worker", () => {
  it('gets the old space PAYLINK_WORKER_HEAP_MIB names', async () => {
    // The default (HEAP_BUDGET.cliWorkerOldSpaceMib) would take these rows; 32 MiB cannot.
    await expectWorkerOutOfMemory(
      cliPartWriters({ PAYLINK_WORKER_HEAP_MIB: '32' }),
      'cli-heap-limit/a.parquet',
    );
  });

  it('refuses a PAYLINK_WORKER_HEAP_MIB that is not a whole number of MiB, naming the variable', () => {
    expect(() => cliPartWriters({ PAYLINK_WORKER_HEAP_MIB: '512MB' })).toThrow(
      "PAYLINK_WORKER_HEAP_MIB: must be a whole number of MiB, at least 16 (got '512MB')",
    );
    expect(() => cliPartWriters({ PAYLINK_WORKER_HEAP_MIB: '8' })).toThrow(ConfigError);
  });
});
