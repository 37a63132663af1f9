/**
 * A loopback stand-in for the AWS Glue Data Catalog's table API (AWS JSON 1.1:
 * `X-Amz-Target: AWSGlue.<Operation>`): GetTable, CreateTable and UpdateTable on tables kept in
 * memory, with a version id per table so UpdateTable's optimistic concurrency can be exercised.
 * The real @aws-sdk/client-glue talks to it through AWS_ENDPOINT_URL_GLUE or `endpoint`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeGlueTable {
  /** The TableInput as the client sent it (free-form JSON). */
  // biome-ignore lint/suspicious/noExplicitAny: a stored TableInput, free-form JSON.
  input: Record<string, any>;
  version: number;
}

/** An error answered once for the next call of `operation`. */
export interface FakeGlueFault {
  readonly operation: string;
  readonly type: string;
  readonly status: number;
}

export interface FakeGlueOptions {
  /** Databases that exist; a call naming another answers EntityNotFoundException. Unset: any. */
  readonly databases?: readonly string[];
}

export interface FakeGlue {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Stored tables by `<database>.<name>`. */
  readonly tables: Map<string, FakeGlueTable>;
  /** Operations received, in order (`GetTable`, `CreateTable`, ...). */
  readonly calls: string[];
  /** The next call of this operation fails with this error. */
  failNext: FakeGlueFault | undefined;
  /** Someone else updates the table between the next GetTable and UpdateTable. */
  bumpBeforeNextUpdate: boolean;
  /** GetTable answers "not found" once for this table although it exists: a creator raced us. */
  missOnceOnGet: string | undefined;
  /** Forgets tables, calls and pending faults. */
  reset(): void;
  close(): Promise<void>;
}

const AMZ_JSON = 'application/x-amz-json-1.1';

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': AMZ_JSON });
  res.end(JSON.stringify(body));
}

const notFound = (what: string) => ({ __type: 'EntityNotFoundException', Message: `${what} not found` });

export async function startFakeGlue(options: FakeGlueOptions = {}): Promise<FakeGlue> {
  const databases = options.databases === undefined ? undefined : new Set(options.databases);

  // Assigned once the server listens; requests (and so `handle`) only come after that.
  let glue: FakeGlue;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    const operation = String(req.headers['x-amz-target']).replace('AWSGlue.', '');
    glue.calls.push(operation);
    if (glue.failNext?.operation === operation) {
      const { type, status } = glue.failNext;
      glue.failNext = undefined;
      return reply(res, status, { __type: type, Message: 'injected' });
    }
    if (databases !== undefined && !databases.has(body.DatabaseName)) {
      return reply(res, 400, notFound(`Database ${body.DatabaseName}`));
    }
    const key = (name: string) => `${body.DatabaseName}.${name}`;
    if (operation === 'GetTable') {
      const missed = glue.missOnceOnGet === body.Name;
      if (missed) glue.missOnceOnGet = undefined;
      const table = missed ? undefined : glue.tables.get(key(body.Name));
      if (!table) return reply(res, 400, notFound('Table'));
      return reply(res, 200, {
        Table: { ...table.input, DatabaseName: body.DatabaseName, VersionId: String(table.version) },
      });
    }
    if (operation === 'CreateTable') {
      if (glue.tables.has(key(body.TableInput.Name)))
        return reply(res, 400, { __type: 'AlreadyExistsException', Message: 'exists' });
      glue.tables.set(key(body.TableInput.Name), { input: body.TableInput, version: 1 });
      return reply(res, 200, {});
    }
    if (operation === 'UpdateTable') {
      const table = glue.tables.get(key(body.TableInput.Name));
      if (!table) return reply(res, 400, notFound('Table'));
      if (glue.bumpBeforeNextUpdate) {
        glue.bumpBeforeNextUpdate = false;
        table.version += 1;
      }
      if (body.VersionId !== undefined && body.VersionId !== String(table.version)) {
        return reply(res, 400, { __type: 'ConcurrentModificationException', Message: 'version changed' });
      }
      glue.tables.set(key(body.TableInput.Name), { input: body.TableInput, version: table.version + 1 });
      return reply(res, 200, {});
    }
    return reply(res, 400, { __type: 'InvalidInputException', Message: `unsupported ${operation}` });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() =>
      reply(res, 500, { __type: 'InternalServiceException', Message: 'fake failed' }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  glue = {
    url: `http://127.0.0.1:${port}`,
    tables: new Map(),
    calls: [],
    failNext: undefined,
    bumpBeforeNextUpdate: false,
    missOnceOnGet: undefined,
    reset() {
      glue.tables.clear();
      glue.calls.length = 0;
      glue.failNext = undefined;
      glue.bumpBeforeNextUpdate = false;
      glue.missOnceOnGet = undefined;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
  return glue;
}
