/**
 * `paylink-loader webhooks`: the webhook receiver on 127.0.0.1, until Ctrl-C. The same core as
 * the deployed Lambda (lambdas/core/webhook.ts): accepted events land under `<lake>/_events/`,
 * one line per request on stdout with ids and counts only (never a payload value or the secret).
 */
import { openStore } from '#adapters/open-store.ts';
import { startWebhookServer } from '#adapters/webhook-server.ts';
import { ConfigError, CredentialsError } from '#core/errors.ts';
import { WEBHOOK, type WebhookOutcome } from '#core/webhook.ts';
import { destFrom, numberFlag, parseFlags, required } from './args.ts';
import { assertWritableDestination } from './dest-folder.ts';
import type { Io } from './io.ts';

export const WEBHOOKS_USAGE = `paylink-loader webhooks --dest <dir|s3://bucket/prefix> [--port <n>]

  Receives Atomic webhooks on 127.0.0.1, POSTed to the root path (http://127.0.0.1:<port>, what
  simulate --webhooks-to takes): verifies X-HMAC-Signature-Sha-256 (HMAC-SHA256 of the body
  keyed with PAYLINK_API_SECRET), stores each accepted event once under <lake>/${WEBHOOK.eventsPrefix}
  and answers 401 (unsigned or bad signature), 400 (malformed, or a user identifier a users
  list could not hold) or 413 (over ${WEBHOOK.maxBodyBytes / 1024} KiB); any other path 404,
  another method on / 405. One signed body is one event whatever its ce-id (the headers are
  not signed).

  --dest <lake>   the lake the events go to
  --port <n>      port on 127.0.0.1 (0: any free port; default 8788)
  PAYLINK_API_SECRET  the API secret Atomic signs with (required)`;

export const DEFAULT_WEBHOOKS_PORT = 8788;

/** One line per request: what happened, never what was in it. */
export function outcomeLine(outcome: WebhookOutcome): string {
  return outcome.kind === 'accepted'
    ? `accepted ${outcome.stored} ${outcome.eventType} ${outcome.key} (${outcome.bytes} B)`
    : `rejected ${outcome.status} ${outcome.reason} (${outcome.bytes} B)`;
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_WEBHOOKS_PORT;
  return numberFlag('--port', raw, { min: 0, max: 65535, whole: true, words: 'an integer from 0 to 65535' });
}

export async function webhooksCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, { dest: { type: 'string' }, port: { type: 'string' } }, false, [
    'port',
  ]);
  const dest = destFrom(io.cwd, required(values.dest, '--dest'));
  const port = parsePort(values.port);
  // As `load` does: a file, or a folder that cannot be created or written, is refused now, not
  // with a 500 to Atomic for every event (the lake folder itself may not exist yet).
  await assertWritableDestination(dest);
  const secret = io.env.PAYLINK_API_SECRET?.trim();
  if (!secret)
    throw new CredentialsError('PAYLINK_API_SECRET is not set: the receiver verifies signatures with it');
  const server = await startWebhookServer({
    port,
    store: openStore(dest),
    secret,
    clock: io.now,
    onOutcome: (outcome) => io.stdout.write(`${outcomeLine(outcome)}\n`),
    onError: (error) =>
      io.stderr.write(
        `error: storing an event failed (answered 500, the sender retries): ${error instanceof Error ? error.message : String(error)}\n`,
      ),
  }).catch((error: unknown) => {
    const code = (error as { code?: unknown }).code;
    if (code === 'EADDRINUSE') throw new ConfigError('--port', `${port} is already in use on 127.0.0.1`);
    throw error;
  });
  io.stderr.write(
    `Webhook receiver listening on ${server.url} (events to ${dest}/${WEBHOOK.eventsPrefix})\n`,
  );
  await new Promise<void>((resolve) => {
    if (io.onInterrupt) {
      const off = io.onInterrupt(() => {
        off();
        resolve();
      });
    } else {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }
  });
  await server.close();
  io.stderr.write('webhook receiver stopped\n');
  return 0;
}
