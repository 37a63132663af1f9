/**
 * The in-process cases: simulated users go through our real code, stage by stage, with each
 * stage timed on its own:
 *   source     world generation and routing (in-process-api.ts): excluded from every rate;
 *   normalize  loadUser: record selection, aliases (expenses -> bills), keys, normalizeRecord;
 *   type       SchemaRegistry.typeRow on every row (names and types; new columns' values
 *              staged and counted, as in a batch: stageNewColumns);
 *   encode     TableSinks -> parquetjs-lite part writers -> local store in a temp dir, with
 *              part rotation, including the final close.
 * All users go into ONE batch (one TableSinks), the worst case for memory: only the shared
 * buffered-rows budget, row-group flushing and part rotation bound it (a deployed batch is
 * DEFAULTS.batchSize users). Live-heap checkpoints (a forced GC each) run between users, outside
 * every timed stage; the harness itself holds nothing per user (identifiers come in chunks).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLocalStore } from '#adapters/local-store.ts';
import { createWorkerPartWriterFactory } from '#adapters/parquet-worker-writer.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { loaderSettings, selectResources } from '#core/config.ts';
import { DEFAULTS } from '#core/constants.ts';
import { loadDate } from '#core/layout.ts';
import { loadUser } from '#core/load-user.ts';
import { SchemaRegistry } from '#core/schema-registry.ts';
import { TableSinks } from '#core/table-sinks.ts';
import type { Row } from '#core/types.ts';
import { type CaseSpec, type Measured, measuredMs, type StageMs } from './cases.ts';
import { createInProcessApi } from './in-process-api.ts';
import type { LiveHeapProbe } from './live-heap.ts';
import { yieldToTimers } from './memory-sampler.ts';
import { userIdentifiers } from './user-identifiers.ts';

/** A fixed dlt-style load id: deterministic keys and partition date. */
const LOAD_ID = '1764064800.000000';
const DT = loadDate(LOAD_ID, new Date(0));
/** encode-only: users normalized and typed ahead of each timed write (bounds the rows held). */
const ENCODE_CHUNK_USERS = 250;

interface TypedRow {
  readonly table: string;
  readonly dt: string;
  readonly row: Row;
}

export async function runInProcessCase(spec: CaseSpec, probe?: LiveHeapProbe): Promise<Measured> {
  const { steps } = selectResources(loaderSettings().catalog);
  const api = createInProcessApi(spec.seed, { wideFields: spec.wideFields ?? 0 });
  const registry = SchemaRegistry.empty();
  // As a batch's registry: every column is new to this empty lake, so its values are staged and
  // counted for the commit to settle its type (load-batch.ts).
  registry.stageNewColumns();
  const stages: StageMs = { source: 0, normalize: 0, type: 0, encode: 0 };
  const root = await mkdtemp(join(tmpdir(), 'paylink-bench-'));
  try {
    const sinks =
      spec.kind === 'normalize-type'
        ? undefined
        : new TableSinks(
            {
              store: createLocalStore(root),
              parts:
                spec.writer === 'worker'
                  ? createWorkerPartWriterFactory(
                      spec.workerResourceLimits === undefined
                        ? {}
                        : { resourceLimits: spec.workerResourceLimits },
                    )
                  : createParquetPartWriterFactory(),
              registry,
            },
            { loadId: LOAD_ID, batch: 0 },
            { ...DEFAULTS.parquet, partMaxRows: spec.partMaxRows ?? DEFAULTS.parquet.partMaxRows },
          );
    const encode = async (rows: readonly TypedRow[]): Promise<void> => {
      const started = performance.now();
      await sinks?.write(rows);
      stages.encode += performance.now() - started;
    };

    let rows = 0;
    let pending: TypedRow[] = [];
    let index = 0;
    for (const identifier of userIdentifiers(spec.seed, spec.users)) {
      const sourceBefore = api.sourceMs();
      const normalizeStarted = performance.now();
      const result = await loadUser({ identifier, steps, loadId: LOAD_ID, dt: DT }, api);
      const typeStarted = performance.now();
      // The simulated world has no faults: a failed unit means the rows counted are not all of them.
      if (result.failed) throw new Error(`user #${index} failed to load; figures discarded`);
      const sourceMs = api.sourceMs() - sourceBefore;
      stages.source += sourceMs;
      stages.normalize += typeStarted - normalizeStarted - sourceMs;
      const typed = result.rows.map(({ table: tableKey, dt, row: raw }) => {
        const { table, row } = registry.typeRow(tableKey, raw);
        return { table, dt, row };
      });
      stages.type += performance.now() - typeStarted;
      rows += typed.length;

      const done = index + 1;
      if (spec.kind === 'encode-only') {
        pending.push(...typed);
        if (done % ENCODE_CHUNK_USERS === 0 || done === spec.users) {
          await encode(pending);
          pending = [];
          // Only between chunks: rows typed ahead are the harness's, not the loader's.
          probe?.atUsers(done);
        }
      } else {
        if (spec.kind === 'write-path') await encode(typed);
        probe?.atUsers(done);
      }
      index = done;
      // Without I/O the loop never turns and the memory sampler would never run.
      await yieldToTimers();
    }

    const closeStarted = performance.now();
    const files = (await sinks?.close()) ?? [];
    stages.encode += performance.now() - closeStarted;
    return {
      rows,
      parts: files.length,
      parquetBytes: files.reduce((sum, file) => sum + file.bytes, 0),
      requests: api.stats().requests,
      stages,
      measuredMs: measuredMs(spec.kind, stages),
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
