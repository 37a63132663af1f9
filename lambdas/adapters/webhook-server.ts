/**
 * The webhook receiver as a plain HTTP server (`paylink-loader webhooks`, tests, benchmarks):
 * the same core as the Lambda (lambdas/core/webhook.ts), on 127.0.0.1 only. Bodies are read up
 * to one byte past the cap and no further, so an oversized request costs at most the cap in
 * memory before it is rejected with 413.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ObjectStore } from '#core/ports.ts';
import { receiveWebhook, WEBHOOK, type WebhookOutcome, webhookResponse } from '#core/webhook.ts';

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
    const send = (status: number, body: string) => {
      response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(body);
    };
    if (request.method !== 'POST') {
      request.resume();
      send(405, 'method not allowed');
      return;
    }
    try {
      const body = await readCapped(request, limit);
      const outcome = await receiveWebhook(
        { headers: request.headers, body },
        { store: options.store, secret: options.secret, receivedAt, maxBodyBytes: limit },
      );
      const answer = webhookResponse(outcome);
      send(answer.status, answer.body);
      options.onOutcome?.(outcome);
    } catch (error) {
      // The store failed: like the Lambda's 5xx, Atomic retries; no detail in the answer.
      if (!response.headersSent) send(500, 'internal error');
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
