import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GlueClient } from '@aws-sdk/client-glue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGlueCatalog } from '#adapters/glue-catalog.ts';
import { CatalogError } from '#core/errors.ts';
import { glueTableInput } from '#core/glue-table.ts';
import type { ColumnDef } from '#core/types.ts';

/**
 * A loopback Glue (AWS JSON 1.1: `X-Amz-Target: AWSGlue.<Operation>`) keeping tables in memory,
 * with a version id per table so UpdateTable's optimistic concurrency can be exercised.
 */
interface StoredTable {
  // biome-ignore lint/suspicious/noExplicitAny: a stored TableInput, free-form JSON.
  input: Record<string, any>;
  version: number;
}
const tables = new Map<string, StoredTable>();
const calls: string[] = [];
let failNext: { operation: string; type: string; status: number } | undefined;
let bumpBeforeNextUpdate = false;
/** GetTable answers "not found" once for this table although it exists: a creator raced us. */
let missOnceOnGet: string | undefined;
let server: Server;
let endpoint: string;

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
  res.end(JSON.stringify(body));
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  const operation = String(req.headers['x-amz-target']).replace('AWSGlue.', '');
  calls.push(operation);
  if (failNext?.operation === operation) {
    const { type, status } = failNext;
    failNext = undefined;
    return reply(res, status, { __type: type, Message: 'injected' });
  }
  const key = (name: string) => `${body.DatabaseName}.${name}`;
  if (operation === 'GetTable') {
    const table = missOnceOnGet === body.Name ? undefined : tables.get(key(body.Name));
    if (missOnceOnGet === body.Name) missOnceOnGet = undefined;
    if (!table) return reply(res, 400, { __type: 'EntityNotFoundException', Message: 'Table not found' });
    return reply(res, 200, {
      Table: { ...table.input, DatabaseName: body.DatabaseName, VersionId: String(table.version) },
    });
  }
  if (operation === 'CreateTable') {
    if (tables.has(key(body.TableInput.Name)))
      return reply(res, 400, { __type: 'AlreadyExistsException', Message: 'exists' });
    tables.set(key(body.TableInput.Name), { input: body.TableInput, version: 1 });
    return reply(res, 200, {});
  }
  if (operation === 'UpdateTable') {
    const table = tables.get(key(body.TableInput.Name));
    if (!table) return reply(res, 400, { __type: 'EntityNotFoundException', Message: 'Table not found' });
    if (bumpBeforeNextUpdate) {
      bumpBeforeNextUpdate = false;
      table.version += 1;
    }
    if (body.VersionId !== undefined && body.VersionId !== String(table.version)) {
      return reply(res, 400, { __type: 'ConcurrentModificationException', Message: 'version changed' });
    }
    tables.set(key(body.TableInput.Name), { input: body.TableInput, version: table.version + 1 });
    return reply(res, 200, {});
  }
  return reply(res, 400, { __type: 'InvalidInputException', Message: `unsupported ${operation}` });
}

beforeAll(async () => {
  server = createServer((req, res) => {
    handle(req, res).catch(() =>
      reply(res, 500, { __type: 'InternalServiceException', Message: 'fake failed' }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
});

beforeEach(() => {
  tables.clear();
  calls.length = 0;
  failNext = undefined;
  bumpBeforeNextUpdate = false;
  missOnceOnGet = undefined;
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
  (tables.get(`paylink.${table}`)!.input.StorageDescriptor.Columns as { Name: string }[]).map((c) => c.Name);

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
    expect(tables.get('paylink.accounts')!.input).toEqual(
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
    calls.length = 0;
    const result = await catalog.syncTables(
      [{ table: 'accounts', columns: ACCOUNTS.slice(0, 2) }],
      locationFor,
    );
    expect(result).toEqual({ created: [], updated: [] });
    expect(calls).toEqual(['GetTable']);
  });

  it('appends new columns, keeps the old ones and the parameters someone else added', async () => {
    const catalog = createGlueCatalog({ database: 'paylink', client: client() });
    await catalog.syncTables([{ table: 'accounts', columns: ACCOUNTS }], locationFor);
    tables.get('paylink.accounts')!.input.Parameters.owner_team = 'data-platform';

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
    expect(tables.get('paylink.accounts')!.input.Parameters).toMatchObject({
      owner_team: 'data-platform',
      'projection.enabled': 'true',
    });
  });

  it('re-reads and merges again when another writer changed the table first', async () => {
    const catalog = createGlueCatalog({ database: 'paylink', client: client() });
    await catalog.syncTables([{ table: 'accounts', columns: ACCOUNTS }], locationFor);
    calls.length = 0;
    bumpBeforeNextUpdate = true;
    const result = await catalog.syncTables(
      [{ table: 'accounts', columns: [...ACCOUNTS, { name: 'nickname', type: 'text' }] }],
      locationFor,
    );
    expect(result.updated).toEqual(['accounts']);
    expect(calls).toEqual(['GetTable', 'UpdateTable', 'GetTable', 'UpdateTable']);
    expect(columnsOf('accounts')).toContain('nickname');
  });

  it('treats a table created concurrently as existing and widens it', async () => {
    const catalog = createGlueCatalog({ database: 'paylink', client: client() });
    tables.set('paylink.accounts', {
      input: glueTableInput({
        table: 'accounts',
        columns: ACCOUNTS.slice(0, 1),
        location: locationFor('accounts'),
      }),
      version: 1,
    });
    missOnceOnGet = 'accounts';
    const result = await catalog.syncTables([{ table: 'accounts', columns: ACCOUNTS }], locationFor);
    expect(calls).toEqual(['GetTable', 'CreateTable', 'GetTable', 'UpdateTable']);
    expect(result).toEqual({ created: [], updated: ['accounts'] });
    expect(columnsOf('accounts')).toEqual(['_dlt_id', '_dlt_load_id', 'user_identifier', 'balance']);
  });

  it('fails with a CatalogError naming the table, retryable only for throttling and server faults', async () => {
    const catalog = createGlueCatalog({ database: 'paylink', client: client() });
    failNext = { operation: 'GetTable', type: 'AccessDeniedException', status: 400 };
    const denied = await catalog
      .syncTables([{ table: 'accounts', columns: ACCOUNTS }], locationFor)
      .catch((e) => e);
    expect(denied).toBeInstanceOf(CatalogError);
    expect(denied.message).toBe('glue paylink.accounts: GetTable failed (AccessDeniedException)');
    expect(denied.retryable).toBe(false);

    failNext = { operation: 'CreateTable', type: 'ThrottlingException', status: 400 };
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
