/**
 * The webhook receiver alone in its own process (what the benchmark loads): `startWebhookServer`
 * over a local lake, on 127.0.0.1. Sends `{port}` to its parent over IPC once listening, and
 * stops when the parent says `close`.
 */
import { createLocalStore } from '#adapters/local-store.ts';
import { startWebhookServer } from '#adapters/webhook-server.ts';

const [lake, secret] = process.argv.slice(2);
if (lake === undefined || secret === undefined)
  throw new Error('usage: webhook-receiver-child <lake> <secret>');
const server = await startWebhookServer({
  port: 0,
  store: createLocalStore(lake),
  secret,
  clock: () => new Date(),
});
process.send?.({ port: server.port });
process.on('message', (message) => {
  if (message === 'close') void server.close().finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
