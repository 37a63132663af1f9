/**
 * Run as a child: `node --expose-gc --import tsx test/helpers/stalled-body-probe.ts <scenario>`.
 * Starts a loopback server that stalls (headers then a body trickled one space every 200 ms,
 * or no headers at all), forces a garbage collection every 50 ms (what frees the signal objects
 * ky and undici link only weakly), runs one PayLink call against it and prints one JSON line:
 * `{ outcome, elapsedMs, requests, closedConnections }`. A watchdog prints `outcome: "hung"`.
 *
 * Scenarios:
 * - `body`: one attempt (createAttemptSender) whose body trickles; timeout 600 ms.
 * - `headers`: one attempt that never gets headers; timeout 600 ms.
 * - `retry`: a client (3 attempts, 500 ms each) whose data calls all trickle.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPayLinkClient } from '#adapters/paylink-client.ts';
import { createAttemptSender } from '#adapters/paylink-http-attempt.ts';
import { describeError } from '#core/errors.ts';

const scenario = process.argv[2] ?? 'body';
const WATCHDOG_MS = 10_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

let requests = 0;
let closedConnections = 0;
const server = createServer((request, response) => {
  if (request.url === '/access-token') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ data: { publicToken: 'probe-token' } }));
    return;
  }
  requests++;
  // A data response never ends on its own: its close means the client gave up on it.
  response.on('close', () => closedConnections++);
  if (scenario === 'headers') return;
  response.writeHead(200, { 'content-type': 'application/json' });
  const trickle = setInterval(() => response.write(' '), 200);
  response.on('close', () => clearInterval(trickle));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// A first request through fetch loads and compiles undici, which on a loaded machine can take
// longer than the attempt's 600 ms: from a cold start the attempt could end before its request
// was even written (at load 13-15, 'body' once in 13 runs: the server never saw a request). The
// token call warms it up first; it is not counted.
await fetch(`${baseUrl}/access-token`, { method: 'POST' }).then((response) => response.arrayBuffer());

const collector = setInterval(gc, 50);
const startedAt = Date.now();
const report = (outcome: string, elapsedMs: number): void => {
  process.stdout.write(`${JSON.stringify({ outcome, elapsedMs, requests, closedConnections })}\n`);
};
const watchdog = setTimeout(() => {
  report('hung', Date.now() - startedAt);
  process.exit(0);
}, WATCHDOG_MS);

let outcome: string;
if (scenario === 'retry') {
  const client = createPayLinkClient({
    baseUrl,
    credentials: { apiKey: 'probe-key', apiSecret: 'probe-secret' },
    rateLimiter: { acquire: async () => {} },
    http: { timeoutMs: 500, attempts: 3, backoffBaseMs: 10, backoffMaxMs: 20 },
  });
  try {
    const session = await client.openSession('probe-user');
    await session.getJson({ path: '/pay-link/accounts', endpoint: '/pay-link/accounts' });
    outcome = 'ok';
  } catch (error) {
    outcome = `error:${describeError(error).code}`;
  }
} else {
  const send = createAttemptSender();
  const result = await send({
    method: 'GET',
    url: `${baseUrl}/pay-link/accounts`,
    headers: {},
    timeoutMs: 600,
    maxBodyBytes: 1024 * 1024,
  });
  outcome = result.kind;
}
const elapsedMs = Date.now() - startedAt;
// Give the server a moment to see the client side go away: the timeout must free the socket. On
// a loaded machine the server (this process too) may read a request only after the client gave
// up on it (at load 13-15, 'headers' in 3 runs of 13: no request seen when the attempt ended,
// so none closed), so wait for every request the scenario sends as well.
const expectedRequests = scenario === 'retry' ? 3 : 1;
const closeBy = Date.now() + 3_000;
while ((requests < expectedRequests || closedConnections < requests) && Date.now() < closeBy)
  await new Promise((r) => setTimeout(r, 20));
clearTimeout(watchdog);
clearInterval(collector);
report(outcome, elapsedMs);
server.closeAllConnections();
server.close();
