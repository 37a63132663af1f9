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
import {
  DEFAULT_PROJECTION_RANGE,
  type GlueColumn,
  type GlueTableInput,
  glueTableInput,
  mergeGlueColumns,
} from '#core/glue-table.ts';
import { PARTITION_COLUMN } from '#core/layout.ts';
import type { ColumnDef } from '#core/types.ts';

export interface CatalogTableSchema {
  readonly table: string;
  readonly columns: readonly ColumnDef[];
  /**
   * The `dt` partitions (YYYY-MM-DD) this load wrote to the table: the projected range is
   * widened to include them, so a record-date partition before its start or after today is
   * visible in Athena (partition projection answers only for dates inside its range).
   */
  readonly dts?: readonly string[];
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
  /** Projected `dt` range a new table starts with (core/glue-table.ts DEFAULT_PROJECTION_RANGE if unset). */
  readonly projectionRange?: string;
  /** Today, for ranges that end at `NOW`; default the system clock. */
  readonly now?: () => Date;
}

const DAY_MS = 86_400_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** The end of a range relative to the query time: `NOW` or `NOW+<n>DAYS` (Athena partition projection). */
const NOW_END = /^NOW(?:\+(\d+)DAYS)?$/;

/**
 * The projected range widened to cover `dts`: the start moves back to the earliest date; an end
 * of `NOW` becomes `NOW+<n>DAYS` when a date lies n days after today, so it stays relative (later
 * load dates remain visible). A range this code does not understand is left as it is.
 */
export function widenProjectionRange(range: string, dts: readonly string[], today: Date): string {
  const [start = '', end = ''] = range.split(',');
  const dates = dts.filter((d) => DATE.test(d)).sort();
  const endMatch = NOW_END.exec(end);
  if (dates.length === 0 || !DATE.test(start) || !endMatch) return range;
  const newStart = [dates[0]!, start].sort()[0]!;
  const todayUtc = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  const ahead = Math.ceil((Date.parse(`${dates.at(-1)!}T00:00:00Z`) - todayUtc) / DAY_MS);
  const days = Math.max(Number(endMatch[1] ?? 0), ahead);
  return `${newStart},${days > 0 ? `NOW+${days}DAYS` : 'NOW'}`;
}

const RANGE_KEY = `projection.${PARTITION_COLUMN}.range`;

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

/** A table or view of the catalog, or undefined when there is none by that name. */
export async function getGlueTable(
  client: GlueClient,
  database: string,
  name: string,
): Promise<Table | undefined> {
  try {
    const out = await client.send(new GetTableCommand({ DatabaseName: database, Name: name }));
    return out.Table;
  } catch (error) {
    if (errorName(error) === 'EntityNotFoundException') return undefined;
    throw catalogError(`${database}.${name}`, 'GetTable', error);
  }
}

export function createGlueCatalog(options: GlueCatalogOptions): GlueCatalog {
  const { database } = options;
  const client = options.client ?? new GlueClient({});

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

  const now = options.now ?? (() => new Date());

  async function sync(
    spec: CatalogTableSchema,
    locationFor: (table: string) => string,
  ): Promise<'created' | 'updated' | 'unchanged'> {
    const where = `${database}.${spec.table}`;
    const inputWith = (range: string) =>
      glueTableInput({
        table: spec.table,
        columns: spec.columns,
        location: locationFor(spec.table),
        projectionRange: range,
      });
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const existing = await getGlueTable(client, database, spec.table);
      if (existing === undefined) {
        const initial = options.projectionRange ?? DEFAULT_PROJECTION_RANGE;
        if (await create(inputWith(widenProjectionRange(initial, spec.dts ?? [], now())))) return 'created';
        continue;
      }
      const currentRange =
        existing.Parameters?.[RANGE_KEY] ?? options.projectionRange ?? DEFAULT_PROJECTION_RANGE;
      const range = widenProjectionRange(currentRange, spec.dts ?? [], now());
      const desired = inputWith(range);
      const merged = mergeGlueColumns(asColumns(existing), desired.StorageDescriptor.Columns);
      if (!merged.changed && range === currentRange) return 'unchanged';
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
      for (const spec of tables) {
        const outcome = await sync(spec, locationFor);
        if (outcome === 'created') created.push(spec.table);
        else if (outcome === 'updated') updated.push(spec.table);
      }
      return { created, updated };
    },
  };
}
