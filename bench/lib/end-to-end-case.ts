/**
 * The whole local load path (runLoad: plan -> batches -> commit) against the simulator over
 * loopback HTTP: our ky client, retries and rate limiter, the real batch size and concurrency,
 * staging and commit into a local lake in a temp dir. The simulator runs in the parent
 * process, so this process's memory is the loader's alone (with the user list, as the CLI holds
 * it). Live-heap checkpoints run from `onUser`, in user order; their forced GCs stall the load,
 * so their time is subtracted from the wall time the rate is computed from.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PayLinkCredentials } from '#adapters/credentials.ts';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { createPayLinkClient } from '#adapters/paylink-client.ts';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { loaderSettings, selectResources } from '#core/config.ts';
import { DEFAULTS, LAKE } from '#core/constants.ts';
import { loadIdFromTime } from '#core/layout.ts';
import { runLoad } from '#core/run-load.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import type { CaseSpec, Measured } from './cases.ts';
import type { LiveHeapProbe } from './live-heap.ts';

/** Requests/second: high enough never to be what limits the run, while the limiter stays on the path. */
export const END_TO_END_RATE_LIMIT = 100_000;

export async function runEndToEndCase(spec: CaseSpec, probe?: LiveHeapProbe): Promise<Measured> {
  const target = spec.simulator;
  if (target === undefined) throw new TypeError('an end-to-end case needs a simulator');
  const api = createPayLinkClient({
    baseUrl: target.url,
    credentials: new PayLinkCredentials(target.apiKey, target.apiSecret),
    rateLimiter: createSystemRateLimiter(END_TO_END_RATE_LIMIT),
  });
  const root = await mkdtemp(join(tmpdir(), 'paylink-bench-e2e-'));
  let usersDone = 0;
  try {
    const startedAt = new Date();
    const started = performance.now();
    const marker = await runLoad(
      {
        loadId: loadIdFromTime(startedAt),
        startedAt,
        users: generateIdentifiers(spec.seed, spec.users).map((identifier) => ({ identifier })),
        resources: selectResources(loaderSettings().catalog),
        batchSize: DEFAULTS.batchSize,
        concurrency: DEFAULTS.concurrency,
        ...(spec.partMaxRows === undefined
          ? {}
          : { limits: { ...DEFAULTS.parquet, partMaxRows: spec.partMaxRows } }),
      },
      {
        api,
        store: createLocalStore(root),
        parts: createParquetPartWriterFactory(),
        reader: createParquetPartReader(),
        clock: () => new Date(),
        onUser: () => probe?.atUsers(++usersDone),
      },
    );
    const loadMs = performance.now() - started - (probe?.gcMs() ?? 0);
    // A fault-free simulator fails no one: a failed user means the figures are not comparable.
    if (marker.failedUserCount > 0) {
      throw new Error(`end-to-end load failed ${marker.failedUserCount} users; figures discarded`);
    }
    const rows = Object.entries(marker.rowsByTable)
      .filter(([table]) => table !== LAKE.userLoadsTable)
      .reduce((sum, [, n]) => sum + n, 0);
    return {
      rows,
      parts: marker.files.length,
      parquetBytes: marker.files.reduce((sum, file) => sum + file.bytes, 0),
      requests: api.stats().requests,
      measuredMs: loadMs,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
