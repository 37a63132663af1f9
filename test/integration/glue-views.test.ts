import { GlueClient } from '@aws-sdk/client-glue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGlueCatalog } from '#adapters/glue-catalog.ts';
import { createGlueViewSync } from '#adapters/glue-views.ts';
import { decodePrestoView, lakeDatabases } from '#core/glue-view.ts';
import { DLT_LOADS_COLUMNS } from '#core/lake-views.ts';
import { USER_LOADS_COLUMNS } from '#core/load-user.ts';
import type { ColumnDef } from '#core/types.ts';
import { type FakeGlue, startFakeGlue } from '#test/helpers/fake-glue.ts';

let glue: FakeGlue;
beforeAll(async () => {
  glue = await startFakeGlue();
});
afterAll(async () => {
  await glue?.close();
});
beforeEach(() => {
  glue.reset();
});

const client = () =>
  new GlueClient({
    endpoint: glue.url,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });

const databases = lakeDatabases('paylink');
const ACCOUNTS: ColumnDef[] = [
  { name: '_dlt_load_id', type: 'text' },
  { name: '_dlt_id', type: 'text' },
  { name: 'user_identifier', type: 'text' },
  { name: 'balance', type: 'double' },
];
const TABLES = [
  { table: 'accounts', columns: ACCOUNTS },
  { table: 'user_loads', columns: [...USER_LOADS_COLUMNS] },
  { table: '_dlt_loads', columns: [...DLT_LOADS_COLUMNS] },
];
const stored = (database: string, name: string) => glue.tables.get(`${database}.${name}`)?.input;

describe('createGlueViewSync', () => {
  it('creates a history view per table in the main database and a current view in <db>_current', async () => {
    const views = createGlueViewSync({ databases, client: client() });
    const result = await views.syncViews(TABLES);

    expect(result.created.sort()).toEqual([
      'paylink._dlt_loads',
      'paylink.accounts',
      'paylink.user_loads',
      'paylink_current.accounts',
      'paylink_current.user_loads',
    ]);
    const accounts = stored('paylink_current', 'accounts')!;
    expect(accounts.TableType).toBe('VIRTUAL_VIEW');
    expect(accounts.Parameters).toEqual({ presto_view: 'true', comment: 'Presto View' });
    const presto = decodePrestoView(accounts.ViewOriginalText)!;
    expect(presto.originalSql).toContain('FROM "paylink_raw"."accounts" AS t');
    expect(presto.columns).toEqual([
      { name: '_dlt_load_id', type: 'varchar' },
      { name: '_dlt_id', type: 'varchar' },
      { name: 'user_identifier', type: 'varchar' },
      { name: 'balance', type: 'double' },
      { name: 'dt', type: 'varchar' },
    ]);
    expect(accounts.StorageDescriptor.Columns.at(-1)).toEqual({ Name: 'dt', Type: 'string' });
  });

  it('leaves views alone when nothing changed and rewrites them when a table gains a column', async () => {
    const views = createGlueViewSync({ databases, client: client() });
    await views.syncViews(TABLES);
    const calls = glue.calls.length;

    expect(await views.syncViews(TABLES)).toEqual({ created: [], updated: [] });
    expect(glue.calls.slice(calls).every((c) => c === 'GetTable')).toBe(true);

    const wider = [
      { table: 'accounts', columns: [...ACCOUNTS, { name: 'closed_at', type: 'timestamp' as const }] },
    ];
    expect(await views.syncViews(wider)).toEqual({
      created: [],
      updated: ['paylink.accounts', 'paylink_current.accounts'],
    });
    const columns = decodePrestoView(stored('paylink', 'accounts')!.ViewOriginalText)!.columns as {
      name: string;
      type: string;
    }[];
    expect(columns.find((c) => c.name === 'closed_at')).toEqual({ name: 'closed_at', type: 'timestamp(3)' });
  });

  it('replaces a raw table an older stack created under the view name', async () => {
    const raw = createGlueCatalog({ database: 'paylink', client: client() });
    await raw.syncTables([{ table: 'accounts', columns: ACCOUNTS }], (t) => `s3://lake/p/${t}/`);
    expect(stored('paylink', 'accounts')!.TableType).toBe('EXTERNAL_TABLE');

    const result = await createGlueViewSync({ databases, client: client() }).syncViews(TABLES.slice(0, 1));
    expect(result.updated).toEqual(['paylink.accounts']);
    expect(stored('paylink', 'accounts')!.TableType).toBe('VIRTUAL_VIEW');
  });

  it('creates _dlt_loads as an unpartitioned raw table', async () => {
    const raw = createGlueCatalog({ database: databases.raw, client: client() });
    await raw.syncTables(
      [{ table: '_dlt_loads', columns: [...DLT_LOADS_COLUMNS] }],
      (t) => `s3://lake/p/${t}/`,
    );
    const table = stored('paylink_raw', '_dlt_loads')!;
    expect(table.PartitionKeys).toEqual([]);
    expect(table.Parameters['projection.enabled']).toBeUndefined();
    expect(table.StorageDescriptor.Location).toBe('s3://lake/p/_dlt_loads/');
  });
});
