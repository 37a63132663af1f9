/**
 * A loopback proxy in front of s3rver that answers as S3 does where s3rver does not, and fails
 * requests on demand:
 *  - `If-None-Match: *` on PutObject is honoured: 412 PreconditionFailed when the key exists,
 *    decided atomically per key (S3 conditional writes; s3rver ignores the header);
 *  - a fault answers a matching request with 500 InternalError or 503 SlowDown either BEFORE
 *    forwarding it (nothing applied) or AFTER s3rver applied it (the change is made, the caller
 *    sees an error and its SDK retries): the two cases a store must survive.
 * Every request is recorded as an operation (`PutObject`, `CopyObject`, `DeleteObjects`, ...)
 * with its key, so tests can enumerate the store operations of a run.
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  readonly n: number;
  readonly operation: string;
  /** `bucket/key` (or `bucket/` for bucket-level calls). */
  readonly key: string;
  readonly mutating: boolean;
}

export interface ProxyFault {
  readonly match: (request: ProxiedRequest) => boolean;
  /** `before`: answered without forwarding. `after`: forwarded (applied), then answered with the error. */
  readonly when: 'before' | 'after';
  readonly status: 500 | 503;
  /** How many matching requests fail; unset: until removed. */
  remaining?: number;
}

export interface S3FaultProxy {
  readonly endpoint: string;
  readonly requests: ProxiedRequest[];
  readonly faults: ProxyFault[];
  close(): Promise<void>;
}

interface Upstream {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

function operationOf(method: string, url: URL, headers: IncomingMessage['headers']): string {
  const q = url.searchParams;
  const isBucket = url.pathname.split('/').filter(Boolean).length <= 1;
  if (method === 'GET')
    return isBucket ? (q.has('uploads') ? 'ListMultipartUploads' : 'ListObjects') : 'GetObject';
  if (method === 'HEAD') return isBucket ? 'HeadBucket' : 'HeadObject';
  if (method === 'DELETE') return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
  if (method === 'POST' && q.has('delete')) return 'DeleteObjects';
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'PUT' && q.has('partNumber')) return 'UploadPart';
  if (method === 'PUT' && typeof headers['x-amz-copy-source'] === 'string') return 'CopyObject';
  if (method === 'PUT') return 'PutObject';
  return `${method}?`;
}

const READS = new Set(['GetObject', 'HeadObject', 'HeadBucket', 'ListObjects', 'ListMultipartUploads']);

function forward(
  target: URL,
  req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>,
  body: Buffer,
  drop: readonly string[] = [],
): Promise<Upstream> {
  const headers: Record<string, string | string[] | undefined> = {
    ...req.headers,
    host: target.host,
    'content-length': String(body.length),
  };
  for (const h of [...drop, 'transfer-encoding', 'connection']) delete headers[h];
  return new Promise((resolve, reject) => {
    const out = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () =>
          resolve({ status: answer.statusCode ?? 500, headers: answer.headers, body: Buffer.concat(chunks) }),
        );
        answer.on('error', reject);
      },
    );
    out.on('error', reject);
    out.end(body);
  });
}

function relay(res: ServerResponse, upstream: Upstream): void {
  const headers: Record<string, string | string[] | undefined> = {
    ...upstream.headers,
    'content-length': String(upstream.body.length),
  };
  delete headers['transfer-encoding'];
  delete headers.connection;
  res.writeHead(upstream.status, headers);
  res.end(upstream.body);
}

function s3Error(res: ServerResponse, status: number, code: string, head: boolean): void {
  res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'proxy' });
  res.end(
    head
      ? undefined
      : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code}</Message><RequestId>proxy</RequestId></Error>`,
  );
}

export async function startS3FaultProxy(upstreamEndpoint: string): Promise<S3FaultProxy> {
  const upstream = new URL(upstreamEndpoint);
  const requests: ProxiedRequest[] = [];
  const faults: ProxyFault[] = [];
  const keyLocks = new Map<string, Promise<unknown>>();

  const serialized = <T>(key: string, run: () => Promise<T>): Promise<T> => {
    const next = (keyLocks.get(key) ?? Promise.resolve()).then(run, run);
    keyLocks.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  };

  const faultFor = (r: ProxiedRequest): ProxyFault | undefined => {
    const fault = faults.find((f) => (f.remaining === undefined || f.remaining > 0) && f.match(r));
    if (fault?.remaining !== undefined) fault.remaining -= 1;
    return fault;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://proxy');
    const method = req.method ?? 'GET';
    const operation = operationOf(method, url, req.headers);
    const key = decodeURIComponent(url.pathname.replace(/^\//, ''));
    const recorded: ProxiedRequest = {
      n: requests.length + 1,
      operation,
      key,
      mutating: !READS.has(operation),
    };
    requests.push(recorded);
    const fault = faultFor(recorded);
    const head = method === 'HEAD';
    const failWith = (f: ProxyFault) =>
      s3Error(res, f.status, f.status === 503 ? 'SlowDown' : 'InternalError', head);
    if (fault?.when === 'before') return failWith(fault);

    const apply = async (): Promise<Upstream> => {
      if (operation === 'PutObject' && req.headers['if-none-match'] === '*') {
        return serialized(key, async () => {
          // s3rver checks the access key id, not the signature: a HEAD of our own will do.
          const probe = {
            method: 'HEAD',
            url: url.pathname,
            headers: {
              authorization: req.headers.authorization,
              'x-amz-date': req.headers['x-amz-date'],
              'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
            },
          };
          const exists = await forward(upstream, probe, Buffer.alloc(0));
          if (exists?.status === 200) {
            return {
              status: 412,
              headers: { 'content-type': 'application/xml' },
              body: Buffer.from(
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
              ),
            };
          }
          return forward(upstream, req, body, ['if-none-match']);
        });
      }
      return forward(upstream, req, body);
    };
    const answer = await apply();
    if (fault?.when === 'after') return failWith(fault);
    relay(res, answer);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) s3Error(res, 500, 'InternalError', req.method === 'HEAD');
      else res.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    faults,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
