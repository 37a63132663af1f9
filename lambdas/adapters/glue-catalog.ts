/**
 * Keeps the Glue Data Catalog in step with the lake's schema: one Glue table per lake table,
 * created on first sight and widened (never narrowed) when the lake gains columns. Partitions
 * are projected (see core/glue-table.ts), so this runs only when a schema changes.
 *
 * The client comes from `new GlueClient({})`, so the standard AWS_ENDPOINT_URL_GLUE and
 * AWS_REGION variables point it anywhere (a loopback fake in tests) without a test switch.
 */
import {
  CreateTableCommand,
  GetTableCommand,
  GlueClient,
  type Table,
  type TableInput,
  UpdateTableCommand,
} from '@aws-sdk/client-glue';
import { CatalogError } from '#core/errors.ts';
import { type GlueColumn, type GlueTableInput, glueTableInput, mergeGlueColumns } from '#core/glue-table.ts';
import type { ColumnDef } from '#core/types.ts';

export interface CatalogTableSchema {
  readonly table: string;
  readonly columns: readonly ColumnDef[];
}

export interface SyncResult {
  readonly created: string[];
  readonly updated: string[];
}

export interface GlueCatalog {
  readonly database: string;
  /** Creates missing tables and appends new columns to existing ones, in the given order. */
  syncTables(
    tables: readonly CatalogTableSchema[],
    locationFor: (table: string) => string,
  ): Promise<SyncResult>;
}

export interface GlueCatalogOptions {
  readonly database: string;
  readonly client?: GlueClient;
  /** Projected `dt` range for the tables (core/glue-table.ts DEFAULT_PROJECTION_RANGE if unset). */
  readonly projectionRange?: string;
}

/** A concurrent writer created or changed the table between our read and write: re-read, re-merge. */
const MAX_ATTEMPTS = 3;
const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'ConcurrentModificationException',
  'OperationTimeoutException',
]);

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown';
}

export function catalogError(where: string, operation: string, error: unknown): CatalogError {
  const fault = (error as { $fault?: unknown } | undefined)?.$fault;
  const name = errorName(error);
  return new CatalogError(where, `${operation} failed (${name})`, {
    retryable: fault === 'server' || RETRYABLE_NAMES.has(name),
    cause: error,
  });
}

const asColumns = (table: Table): GlueColumn[] =>
  (table.StorageDescriptor?.Columns ?? []).map((c) => ({ Name: c.Name ?? '', Type: c.Type ?? '' }));

/** Our definition with the merged columns; parameters someone else added to the table survive. */
function updatedInput(desired: GlueTableInput, existing: Table, columns: GlueColumn[]): TableInput {
  const input = structuredClone(desired) as unknown as TableInput;
  input.Parameters = { ...(existing.Parameters ?? {}), ...desired.Parameters };
  input.StorageDescriptor = { ...input.StorageDescriptor, Columns: columns };
  return input;
}

export function createGlueCatalog(options: GlueCatalogOptions): GlueCatalog {
  const { database } = options;
  const client = options.client ?? new GlueClient({});

  async function getTable(name: string): Promise<Table | undefined> {
    try {
      const out = await client.send(new GetTableCommand({ DatabaseName: database, Name: name }));
      return out.Table;
    } catch (error) {
      if (errorName(error) === 'EntityNotFoundException') return undefined;
      throw catalogError(`${database}.${name}`, 'GetTable', error);
    }
  }

  /** Returns true when the table was created, false when it already existed (a concurrent creator). */
  async function create(desired: GlueTableInput): Promise<boolean> {
    try {
      await client.send(
        new CreateTableCommand({
          DatabaseName: database,
          TableInput: structuredClone(desired) as TableInput,
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === 'AlreadyExistsException') return false;
      throw catalogError(`${database}.${desired.Name}`, 'CreateTable', error);
    }
  }

  async function sync(desired: GlueTableInput): Promise<'created' | 'updated' | 'unchanged'> {
    const where = `${database}.${desired.Name}`;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const existing = await getTable(desired.Name);
      if (existing === undefined) {
        if (await create(desired)) return 'created';
        continue;
      }
      const merged = mergeGlueColumns(asColumns(existing), desired.StorageDescriptor.Columns);
      if (!merged.changed) return 'unchanged';
      try {
        await client.send(
          new UpdateTableCommand({
            DatabaseName: database,
            TableInput: updatedInput(desired, existing, merged.columns),
            // Optimistic concurrency: fails if the table changed since we read it.
            ...(existing.VersionId ? { VersionId: existing.VersionId } : {}),
          }),
        );
        return 'updated';
      } catch (error) {
        const concurrent = errorName(error) === 'ConcurrentModificationException';
        if (!concurrent || attempt >= MAX_ATTEMPTS) throw catalogError(where, 'UpdateTable', error);
      }
    }
    throw new CatalogError(where, `still changing concurrently after ${MAX_ATTEMPTS} attempts`, {
      retryable: true,
    });
  }

  return {
    database,
    async syncTables(tables, locationFor) {
      const created: string[] = [];
      const updated: string[] = [];
      for (const { table, columns } of tables) {
        const desired = glueTableInput({
          table,
          columns,
          location: locationFor(table),
          ...(options.projectionRange === undefined ? {} : { projectionRange: options.projectionRange }),
        });
        const outcome = await sync(desired);
        if (outcome === 'created') created.push(table);
        else if (outcome === 'updated') updated.push(table);
      }
      return { created, updated };
    },
  };
}
