/**
 * The webhook receiver as a plain HTTP server (`paylink-loader webhooks`, tests, benchmarks):
 * the same core as the Lambda (lambdas/core/webhook.ts), on 127.0.0.1 only, answering on its
 * one path (`routeWebhook`: POST `/`). Bodies are read up
 * to one byte past the cap and no further, so an oversized request costs at most the cap in
 * memory before it is rejected with 413.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ObjectStore } from '#core/ports.ts';
import {
  receiveWebhook,
  routeWebhook,
  WEBHOOK,
  type WebhookOutcome,
  webhookResponse,
} from '#core/webhook.ts';

/** Longest a request may take to arrive whole, ms: Atomic's events are small and sent at once. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface WebhookServerOptions {
  /** 0: any free port. */
  readonly port: number;
  readonly store: ObjectStore;
  /** The PayLink API secret Atomic signs with (the HMAC key). */
  readonly secret: string;
  readonly clock: () => Date;
  /** Called once per answered request, after the answer is sent. */
  readonly onOutcome?: (outcome: WebhookOutcome) => void;
  /** Called when storing an accepted event failed (the caller got 500 and will retry). */
  readonly onError?: (error: unknown) => void;
  readonly maxBodyBytes?: number;
}

export interface WebhookServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The path of a request target, without its query, as sent: `/` for `/?x=1`. The absolute form
 * (`POST http://127.0.0.1:8788/ HTTP/1.1`), which a server must accept too (RFC 9112 §3.2.2),
 * gives the path after its authority (`/` when it has none).
 */
export function requestPath(target: string | undefined): string | undefined {
  if (target === undefined) return undefined;
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  const rest = absolute === null ? target : target.slice(absolute[0].length);
  const path = rest.split(/[?#]/, 1)[0]!;
  return absolute !== null && path === '' ? '/' : path;
}

/**
 * The body's bytes, at most `limit + 1` of them: enough for the core to see it is too large.
 * The rest of an oversized body is read and dropped, not kept, so the client gets its 413
 * instead of a reset connection; `requestTimeout` bounds how long a sender may trickle.
 */
function readCapped(request: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      const room = limit + 1 - size;
      if (room <= 0) return;
      chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      size += Math.min(chunk.length, room);
    });
    request.once('end', () => resolve(Buffer.concat(chunks, size)));
    request.once('error', reject);
  });
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const limit = options.maxBodyBytes ?? WEBHOOK.maxBodyBytes;
  const server: Server = createServer(async (request, response) => {
    const receivedAt = options.clock();
    const send = (answer: ReturnType<typeof webhookResponse>) => {
      response.writeHead(answer.status, { 'content-type': 'text/plain; charset=utf-8', ...answer.headers });
      response.end(answer.body);
    };
    // Another path or method: answered (as the Lambda answers it) without reading the body.
    const refused = routeWebhook(request.method, requestPath(request.url));
    if (refused !== undefined) {
      request.resume();
      send(webhookResponse(refused));
      options.onOutcome?.(refused);
      return;
    }
    try {
      const body = await readCapped(request, limit);
      const outcome = await receiveWebhook(
        { headers: request.headers, body },
        { store: options.store, secret: options.secret, receivedAt, maxBodyBytes: limit },
      );
      send(webhookResponse(outcome));
      options.onOutcome?.(outcome);
    } catch (error) {
      // The store failed: like the Lambda's 5xx, Atomic retries; no detail in the answer.
      if (!response.headersSent) send({ status: 500, body: 'internal error' });
      options.onError?.(error);
    }
  });
  // A sender that trickles a body is cut off (Node's default is 5 minutes).
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.listen(options.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
