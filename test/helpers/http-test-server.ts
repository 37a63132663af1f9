/**
 * A loopback HTTP server for tests: one swappable handler, a log of every request (method,
 * path, headers, body) so tests can count attempts and check what was sent.
 * Modelled on ky's test/helpers/create-http-test-server.ts.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export type TestHandler = (request: RecordedRequest, response: ServerResponse) => void | Promise<void>;

export interface HttpTestServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  /** Every request received since start or the last reset(), in arrival order. */
  readonly requests: RecordedRequest[];
  /** Replaces the handler and clears the request log. */
  reset(handler?: TestHandler): void;
  close(): Promise<void>;
}

const notFound: TestHandler = (_request, response) => {
  response.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"no handler"}');
};

export async function startHttpTestServer(handler: TestHandler = notFound): Promise<HttpTestServer> {
  let current = handler;
  const requests: RecordedRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    requests.push(recorded);
    try {
      await current(recorded, res);
    } catch (error) {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    reset(next = notFound) {
      current = next;
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Handlers that never answer (timeout tests) would hold close() open forever.
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Response headers a forwarding proxy passes on (the client reads these two). */
const FORWARDED_HEADERS = ['content-type', 'retry-after'];

/** What `forwardTo` got back: the upstream's status, body text and the headers to pass on. */
export interface ForwardedResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly text: string;
  readonly headers: Record<string, string>;
}

/** Sends `request` on to `target` (a base URL) as it came, less host and content-length. */
export async function forwardTo(target: string, request: RecordedRequest): Promise<ForwardedResponse> {
  const upstream = await fetch(`${target}${request.url}`, {
    method: request.method,
    headers: Object.fromEntries(
      Object.entries(request.headers).filter(
        (e): e is [string, string] =>
          typeof e[1] === 'string' && e[0] !== 'host' && e[0] !== 'content-length',
      ),
    ),
    ...(request.method === 'GET' || request.method === 'HEAD' ? {} : { body: request.body }),
  });
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = upstream.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  return { status: upstream.status, ok: upstream.ok, text: await upstream.text(), headers };
}
