/**
 * Keeps the Athena views of the reading layers (core/glue-view.ts) in step with the lake's
 * schema: a history view per table in the stack's database and a current-state view per table in
 * `<database>_current`, created on first sight and rewritten when their SQL or columns change
 * (a table gained a column). Runs after the raw tables are synced, in the commit, before the
 * load's `_dlt_loads` row makes it visible.
 *
 * An existing object of the view's name that is not our view (a raw table an older version of
 * the stack created in the main database) is replaced by the view.
 */
import {
  CreateTableCommand,
  GlueClient,
  type Table,
  type TableInput,
  UpdateTableCommand,
} from '@aws-sdk/client-glue';
import { CatalogError } from '#core/errors.ts';
import { decodePrestoView, type LakeDatabases, type LakeView, lakeViews } from '#core/glue-view.ts';
import type { ParentKeyLink } from '#core/lake-views.ts';
import type { ColumnDef } from '#core/types.ts';
import { catalogError, errorName, getGlueTable } from './glue-catalog.ts';

export interface GlueViewSync {
  readonly databases: LakeDatabases;
  /** Creates or rewrites the views of these tables; returns `<database>.<view>` names touched. */
  syncViews(
    tables: readonly { table: string; columns: readonly ColumnDef[]; parent?: ParentKeyLink }[],
  ): Promise<{ created: string[]; updated: string[] }>;
}

export interface GlueViewSyncOptions {
  readonly databases: LakeDatabases;
  readonly client?: GlueClient;
}

/** A concurrent commit changed the view between our read and write: re-read, compare again. */
const MAX_ATTEMPTS = 3;

/** Whether the stored view already says what we would write (same SQL, same columns). */
function isCurrent(existing: Table, view: LakeView): boolean {
  if (existing.TableType !== 'VIRTUAL_VIEW') return false;
  const stored = decodePrestoView(existing.ViewOriginalText);
  const desired = decodePrestoView(view.input.ViewOriginalText);
  return JSON.stringify(stored) === JSON.stringify(desired);
}

export function createGlueViewSync(options: GlueViewSyncOptions): GlueViewSync {
  const client = options.client ?? new GlueClient({});

  async function sync(view: LakeView): Promise<'created' | 'updated' | 'unchanged'> {
    const { database } = view;
    const where = `${database}.${view.input.Name}`;
    const input = structuredClone(view.input) as unknown as TableInput;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const existing = await getGlueTable(client, database, view.input.Name);
      try {
        if (existing === undefined) {
          await client.send(new CreateTableCommand({ DatabaseName: database, TableInput: input }));
          return 'created';
        }
        if (isCurrent(existing, view)) return 'unchanged';
        await client.send(
          new UpdateTableCommand({
            DatabaseName: database,
            TableInput: input,
            ...(existing.VersionId ? { VersionId: existing.VersionId } : {}),
          }),
        );
        return 'updated';
      } catch (error) {
        const raced = ['AlreadyExistsException', 'ConcurrentModificationException'].includes(
          errorName(error),
        );
        if (!raced || attempt >= MAX_ATTEMPTS)
          throw catalogError(where, existing ? 'UpdateTable' : 'CreateTable', error);
      }
    }
    throw new CatalogError(where, `still changing concurrently after ${MAX_ATTEMPTS} attempts`, {
      retryable: true,
    });
  }

  return {
    databases: options.databases,
    async syncViews(tables) {
      const created: string[] = [];
      const updated: string[] = [];
      for (const { table, columns, parent } of tables) {
        for (const view of lakeViews(options.databases, table, columns, parent)) {
          const outcome = await sync(view);
          const name = `${view.database}.${view.input.Name}`;
          if (outcome === 'created') created.push(name);
          else if (outcome === 'updated') updated.push(name);
        }
      }
      return { created, updated };
    },
  };
}
