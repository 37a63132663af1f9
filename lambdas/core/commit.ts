/**
 * Commit a load: the only step that makes anything visible. In order:
 *  1. read the plan and every batch manifest; a batch that never finished gets its users
 *     recorded as failed in `user_loads` (so the lake says what is missing);
 *  2. merge the batches' schema views into the committed registry and write it;
 *  3. sync the query catalog (Glue) so new columns exist before files that carry them;
 *  4. write the commit intent (new keys + keys a previous attempt of this load published);
 *  5. move staged parts to their final keys (deterministic: a re-run overwrites);
 *  6. delete parts a previous attempt published that this one did not write;
 *  7. write the `_loads/<load_id>.json` marker, last;
 *  8. remove the load's staging.
 * Every step is idempotent, so a commit that dies anywhere can simply run again.
 */
import { LAKE } from './constants.ts';
import { LakeStateError } from './errors.ts';
import { rootRowId } from './ids.ts';
import { readCommittedSchema, writeCommittedSchema } from './lake-schema.ts';
import { batchManifestKey, commitIntentKey, loadMarkerKey, stagingPrefix } from './layout.ts';
import type { BatchManifest } from './load-batch.ts';
import { USER_LOADS_COLUMNS } from './load-user.ts';
import { readBatchUsers, readPlan } from './plan.ts';
import { forEachConcurrent } from './pool.ts';
import type { ObjectStore, PartWriterFactory } from './ports.ts';
import type { SchemaChange } from './schema-registry.ts';
import { readJson, writeJson } from './store-json.ts';
import { type StagedFile, TableSinks } from './table-sinks.ts';
import type { Clock, ColumnDef } from './types.ts';

/** The query catalog kept in step with the registry (Glue in AWS; nothing locally). */
export interface TableCatalog {
  syncTables(tables: readonly { table: string; columns: readonly ColumnDef[] }[]): Promise<void>;
}

export interface CommitDeps {
  readonly store: ObjectStore;
  readonly parts: PartWriterFactory;
  readonly clock: Clock;
  readonly catalog?: TableCatalog;
}

export interface CommittedFile {
  readonly key: string;
  readonly table: string;
  readonly rows: number;
  readonly bytes: number;
}

export interface LoadMarker {
  readonly formatVersion: 1;
  readonly loadId: string;
  readonly dt: string;
  readonly startedAt: string;
  readonly committedAt: string;
  readonly resources: readonly string[];
  readonly users: number;
  readonly failedUserCount: number;
  /** The first failed identifiers (the full list is the `user_loads` table). */
  readonly failedUsers: readonly string[];
  readonly missingBatches: readonly number[];
  readonly requests: number;
  readonly rowsByTable: Readonly<Record<string, number>>;
  readonly files: readonly CommittedFile[];
  readonly schemaVersion: number;
  readonly schemaChanges: readonly SchemaChange[];
}

interface CommitIntent {
  readonly loadId: string;
  readonly keys: readonly string[];
}

export const BATCH_FAILED_CODE = 'batch_failed';
const MARKER_FAILED_USERS = 1000;
const MOVE_CONCURRENCY = 16;

export async function commitLoad(loadId: string, deps: CommitDeps): Promise<LoadMarker> {
  const { store } = deps;
  const plan = await readPlan(store, loadId);

  const manifests: BatchManifest[] = [];
  const missingBatches: number[] = [];
  for (let b = 0; b < plan.batches; b++) {
    const manifest = await readJson<BatchManifest>(store, batchManifestKey(loadId, b));
    if (manifest) manifests.push(manifest);
    else missingBatches.push(b);
  }

  const registry = await readCommittedSchema(store);
  const baseVersion = registry.version;
  const changes: SchemaChange[] = [];
  for (const manifest of manifests) {
    const { added, conflicts } = registry.merge(manifest.schema);
    if (conflicts.length > 0) {
      const c = conflicts[0]!;
      throw new LakeStateError(
        `load ${loadId}: batches typed new column ${c.table}.${c.column} differently (${c.ours} vs ${c.theirs}); ` +
          're-run the load with one batch, or pre-declare the column',
      );
    }
    changes.push(...added);
  }

  // Users of batches that never finished: recorded as failed, staged like any batch output.
  const recovered: StagedFile[] = [];
  for (const batch of missingBatches) {
    recovered.push(...(await recordFailedBatch(loadId, batch, plan.dt, plan.resources, registry, deps)));
  }
  for (const change of registry.changes())
    if (!changes.some((c) => sameChange(c, change))) changes.push(change);

  const schemaVersion = changes.length > 0 ? baseVersion + 1 : baseVersion;
  if (changes.length > 0) {
    registry.setVersion(schemaVersion);
    await writeCommittedSchema(store, registry);
  }
  if (deps.catalog) {
    await deps.catalog.syncTables(
      registry.tables().map((table) => ({ table, columns: registry.columns(table) })),
    );
  }

  const staged = [...manifests.flatMap((m) => m.files), ...recovered];
  const newKeys = new Set(staged.map((f) => f.finalKey));
  const previousKeys = await previouslyPublished(store, loadId);
  const intent: CommitIntent = { loadId, keys: [...new Set([...newKeys, ...previousKeys])].sort() };
  await writeJson(store, commitIntentKey(loadId), intent);

  await forEachConcurrent(staged, MOVE_CONCURRENCY, async (file) => {
    await store.move(file.stagedKey, file.finalKey);
  });
  const stale = [...previousKeys].filter((k) => !newKeys.has(k));
  if (stale.length > 0) await store.delete(stale);

  const failedUsers = manifests.flatMap((m) => m.failedUsers);
  let missingUsers = 0;
  for (const batch of missingBatches) {
    const users = await readBatchUsers(store, loadId, batch);
    missingUsers += users.length;
    if (failedUsers.length < MARKER_FAILED_USERS) failedUsers.push(...users.map((u) => u.identifier));
  }
  const rowsByTable: Record<string, number> = {};
  for (const f of staged) rowsByTable[f.table] = (rowsByTable[f.table] ?? 0) + f.rows;

  const marker: LoadMarker = {
    formatVersion: 1,
    loadId,
    dt: plan.dt,
    startedAt: plan.startedAt,
    committedAt: deps.clock().toISOString(),
    resources: plan.resources,
    users: plan.users,
    failedUserCount: manifests.reduce((n, m) => n + m.failedUsers.length, 0) + missingUsers,
    failedUsers: failedUsers.slice(0, MARKER_FAILED_USERS),
    missingBatches,
    requests: manifests.reduce((n, m) => n + m.requests, 0),
    rowsByTable,
    files: staged
      .map((f) => ({ key: f.finalKey, table: f.table, rows: f.rows, bytes: f.bytes }))
      .sort((a, b) => (a.key < b.key ? -1 : 1)),
    schemaVersion,
    schemaChanges: changes,
  };
  await writeJson(store, loadMarkerKey(loadId), marker);

  const leftovers = await store.list(stagingPrefix(loadId));
  if (leftovers.length > 0) await store.delete(leftovers);
  return marker;
}

function sameChange(a: SchemaChange, b: SchemaChange): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Keys an earlier attempt of this load id published (its marker) or was publishing (its intent). */
async function previouslyPublished(store: ObjectStore, loadId: string): Promise<Set<string>> {
  const keys = new Set<string>();
  const marker = await readJson<LoadMarker>(store, loadMarkerKey(loadId));
  for (const f of marker?.files ?? []) keys.add(f.key);
  const intent = await readJson<CommitIntent>(store, commitIntentKey(loadId));
  for (const k of intent?.keys ?? []) keys.add(k);
  return keys;
}

async function recordFailedBatch(
  loadId: string,
  batch: number,
  dt: string,
  resources: readonly string[],
  registry: Awaited<ReturnType<typeof readCommittedSchema>>,
  deps: CommitDeps,
): Promise<StagedFile[]> {
  const users = await readBatchUsers(deps.store, loadId, batch);
  if (!registry.hasTable(LAKE.userLoadsTable))
    registry.declareTable(LAKE.userLoadsTable, [...USER_LOADS_COLUMNS]);
  const sinks = new TableSinks({ store: deps.store, parts: deps.parts, registry }, { loadId, batch });
  const rows = users.flatMap((user) =>
    resources.map((resource) => ({
      table: LAKE.userLoadsTable,
      dt,
      row: registry.coerceRow(LAKE.userLoadsTable, {
        [LAKE.loadIdColumn]: loadId,
        [LAKE.idColumn]: rootRowId(user.identifier, LAKE.userLoadsTable, resource),
        [LAKE.userColumn]: user.identifier,
        resource,
        status: 'failed',
        rows: 0,
        requests: 0,
        error_code: BATCH_FAILED_CODE,
        error_message: `batch ${batch} did not finish`,
        http_status: null,
        batch,
      }),
    })),
  );
  await sinks.write(rows);
  return sinks.close();
}
