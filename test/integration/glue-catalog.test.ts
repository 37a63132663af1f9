import { GlueClient } from '@aws-sdk/client-glue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGlueCatalog } from '#adapters/glue-catalog.ts';
import { CatalogError } from '#core/errors.ts';
import { glueTableInput } from '#core/glue-table.ts';
import type { ColumnDef } from '#core/types.ts';
import { type FakeGlue, startFakeGlue } from '#test/helpers/fake-glue.ts';

/** A loopback Glue keeping tables in memory (test/helpers/fake-glue.ts). */
let glue: FakeGlue;
let endpoint: string;

beforeAll(async () => {
  glue = await startFakeGlue();
  endpoint = glue.url;
});

afterAll(async () => {
  await glue?.close();
});

beforeEach(() => {
  glue.reset();
});

const client = () =>
  new GlueClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });

const ROOT = 's3://lake-bucket/paylink/';
const locationFor = (table: string) => `${ROOT}${table}/`;
const ACCOUNTS: ColumnDef[] = [
  { name: '_dlt_id', type: 'text' },
  { name: '_dlt_load_id', type: 'text' },
  { name: 'user_identifier', type: 'text' },
  { name: 'balance', type: 'double' },
];
const USER_LOADS: ColumnDef[] = [
  { name: '_dlt_load_id', type: 'text' },
  { name: 'status', type: 'text' },
  { name: 'rows', type: 'bigint' },
];
const columnsOf = (table: string) =>
  (glue.tables.get(`paylink.${table}`)!.input.StorageDescriptor.Columns as { Name: string }[]).map(
    (c) => c.Name,
  );

describe('createGlueCatalog', () => {
  it('creates missing tables with the Parquet definition and partition projection', async () => {
    const catalog = createGlueCatalog({ database: 'paylink', client: client() });
    const result = await catalog.syncTables(
      [
        { table: 'accounts', columns: ACCOUNTS },
        { table: 'user_loads', columns: USER_LOADS },
      ],
      locationFor,
    );
    expect(result).toEqual({ created: ['accounts', 'user_loads'], updated: [] });
    expect(glue.tables.get('paylink.accounts')!.input).toEqual(
      JSON.parse(
        JSON.stringify(
          glueTableInput({ table: 'accounts', columns: ACCOUNTS, location: locationFor('accounts') }),
        ),
      ),
    );
  });

  it('leaves tables alone when the catalog already has every column', async () => {
    const catalog = createGlueCatalog({ database: 'paylink', client: client() });
    await catalog.syncTables([{ table: 'accounts', columns: ACCOUNTS }], locationFor);
    glue.calls.length = 0;
    const result = await catalog.syncTables(
      [{ table: 'accounts', columns: ACCOUNTS.slice(0, 2) }],
      locationFor,
    );
    expect(result).toEqual({ created: [], updated: [] });
    expect(glue.calls).toEqual(['GetTable']);
  });

  it('appends new columns, keeps the old ones and the parameters someone else added', async () => {
    const catalog = createGlueCatalog({ database: 'paylink', client: client() });
    await catalog.syncTables([{ table: 'accounts', columns: ACCOUNTS }], locationFor);
    glue.tables.get('paylink.accounts')!.input.Parameters.owner_team = 'data-platform';

    const result = await catalog.syncTables(
      [{ table: 'accounts', columns: [ACCOUNTS[0]!, { name: 'company__name', type: 'text' }] }],
      locationFor,
    );
    expect(result).toEqual({ created: [], updated: ['accounts'] });
    expect(columnsOf('accounts')).toEqual([
      '_dlt_id',
      '_dlt_load_id',
      'user_identifier',
      'balance',
      'company__name',
    ]);
    expect(glue.tables.get('paylink.accounts')!.input.Parameters).toMatchObject({
      owner_team: 'data-platform',
      'projection.enabled': 'true',
    });
  });

  it('re-reads and merges again when another writer changed the table first', async () => {
    const catalog = createGlueCatalog({ database: 'paylink', client: client() });
    await catalog.syncTables([{ table: 'accounts', columns: ACCOUNTS }], locationFor);
    glue.calls.length = 0;
    glue.bumpBeforeNextUpdate = true;
    const result = await catalog.syncTables(
      [{ table: 'accounts', columns: [...ACCOUNTS, { name: 'nickname', type: 'text' }] }],
      locationFor,
    );
    expect(result.updated).toEqual(['accounts']);
    expect(glue.calls).toEqual(['GetTable', 'UpdateTable', 'GetTable', 'UpdateTable']);
    expect(columnsOf('accounts')).toContain('nickname');
  });

  it('treats a table created concurrently as existing and widens it', async () => {
    const catalog = createGlueCatalog({ database: 'paylink', client: client() });
    glue.tables.set('paylink.accounts', {
      input: glueTableInput({
        table: 'accounts',
        columns: ACCOUNTS.slice(0, 1),
        location: locationFor('accounts'),
      }),
      version: 1,
    });
    glue.missOnceOnGet = 'accounts';
    const result = await catalog.syncTables([{ table: 'accounts', columns: ACCOUNTS }], locationFor);
    expect(glue.calls).toEqual(['GetTable', 'CreateTable', 'GetTable', 'UpdateTable']);
    expect(result).toEqual({ created: [], updated: ['accounts'] });
    expect(columnsOf('accounts')).toEqual(['_dlt_id', '_dlt_load_id', 'user_identifier', 'balance']);
  });

  it('fails with a CatalogError naming the table, retryable only for throttling and server faults', async () => {
    const catalog = createGlueCatalog({ database: 'paylink', client: client() });
    glue.failNext = { operation: 'GetTable', type: 'AccessDeniedException', status: 400 };
    const denied = await catalog
      .syncTables([{ table: 'accounts', columns: ACCOUNTS }], locationFor)
      .catch((e) => e);
    expect(denied).toBeInstanceOf(CatalogError);
    expect(denied.message).toBe('glue paylink.accounts: GetTable failed (AccessDeniedException)');
    expect(denied.retryable).toBe(false);

    glue.failNext = { operation: 'CreateTable', type: 'ThrottlingException', status: 400 };
    const throttled = await catalog
      .syncTables([{ table: 'accounts', columns: ACCOUNTS }], locationFor)
      .catch((e) => e);
    expect(throttled).toBeInstanceOf(CatalogError);
    expect(throttled.retryable).toBe(true);
    expect(throttled.message).not.toContain('balance');
  });

  it('uses the standard AWS_ENDPOINT_URL_GLUE when no client is given', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_GLUE: endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    try {
      const catalog = createGlueCatalog({ database: 'paylink' });
      await catalog.syncTables([{ table: 'user_loads', columns: USER_LOADS }], locationFor);
      expect(columnsOf('user_loads')).toEqual(['_dlt_load_id', 'status', 'rows']);
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });
});
