/** Commit Lambda: batch manifests -> registry, Glue tables, final parts, load marker. */
import { commitLoad, type TableCatalog } from '#core/commit.ts';
import { lakeDatabases } from '#core/glue-view.ts';
import { tablePrefix } from '#core/layout.ts';
import { acquireLease } from '#core/lease.ts';
import { readSystemicCause } from '#core/systemic-cause.ts';
import type { CommitEvent, CommitResult, SystemicCauseResult } from './contract.ts';
import { lazyPartReader, once } from './lazy.ts';
import { partWriters } from './part-writers.ts';
import { guardRedrive } from './redrive-guard.ts';
import { handlerConfig, lakeStore } from './runtime.ts';

function glueCatalog(): TableCatalog | undefined {
  const config = handlerConfig();
  if (config.glueDatabase === undefined) return undefined;
  // Raw tables in `<db>_raw`; history views (committed loads only) in `<db>`, current state in `<db>_current`.
  const databases = lakeDatabases(config.glueDatabase);
  // The Glue client is loaded when the commit reaches its catalog step, not with the bundle.
  const clients = once(async () => {
    const [{ createGlueCatalog }, { createGlueViewSync }] = await Promise.all([
      import('#adapters/glue-catalog.ts'),
      import('#adapters/glue-views.ts'),
    ]);
    return { glue: createGlueCatalog({ database: databases.raw }), views: createGlueViewSync({ databases }) };
  });
  const root = `s3://${config.bucket}/${config.prefix ? `${config.prefix}/` : ''}`;
  return {
    async syncTables(tables) {
      const { glue, views } = await clients();
      await glue.syncTables(tables, (table) => `${root}${tablePrefix(table)}`);
      await views.syncViews(tables);
    },
  };
}

/** hyparquet, loaded when the commit first reads a part back. */
const partReader = lazyPartReader(async () =>
  (await import('#adapters/parquet-reader.ts')).createParquetPartReader(),
);

/** The commit's hold on the lease: renewed for its own run (a Lambda lives at most 15 minutes). */
const COMMIT_LEASE_TTL_MS = 15 * 60 * 1000;

export async function handler(event: CommitEvent): Promise<CommitResult | SystemicCauseResult> {
  // Reads only this load's staging: no guard or lease needed, nothing is written.
  if (event.readSystemicCause === true) return { cause: await readSystemicCause(lakeStore(), event.loadId) };
  // A redriven run publishes nothing while another run of its schedule is going.
  await guardRedrive(event.run);
  const catalog = glueCatalog();
  const store = lakeStore();
  const clock = () => new Date();
  // Joins the execution's lease (taken by the plan); another execution's is refused.
  const lease =
    event.run === undefined
      ? undefined
      : await acquireLease(store, event.loadId, {
          owner: { id: event.run.execution, kind: 'step-functions' },
          ttlMs: COMMIT_LEASE_TTL_MS,
          clock,
        });
  const marker = await commitLoad(event.loadId, {
    store,
    parts: partWriters(),
    reader: partReader,
    clock,
    ...(catalog ? { catalog } : {}),
    ...(lease ? { lease } : {}),
  });
  await lease?.release().catch(() => undefined);
  const rows = Object.values(marker.rowsByTable).reduce((a, b) => a + b, 0);
  const result: CommitResult = {
    loadId: marker.loadId,
    users: marker.users,
    failedUsers: marker.failedUserCount,
    rows,
    files: marker.files.length,
    schemaVersion: marker.schemaVersion,
    schemaChanges: marker.schemaChanges.length,
  };
  console.log(JSON.stringify({ event: 'committed', ...result }));
  return result;
}
