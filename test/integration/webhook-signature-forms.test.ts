/**
 * The signature header forms the receiver accepts beyond one bare digest (core/webhook.ts,
 * `signatureHeaderDigests`), through both shells as a sender reaches them: the webhook Lambda
 * given a Function URL event whose repeated header the URL joined with `,`, and the local
 * receiver (`paylink-loader webhooks`'s server) sent the header twice on the wire, which Node
 * joins with `, `. A `sha256=` prefix goes through both too; a list with no good digest is 401.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { startWebhookServer } from '#adapters/webhook-server.ts';
import { signWebhookBody, WEBHOOK } from '#core/webhook.ts';
import {
  apiSecretJson,
  distinctEventBodies,
  startWebhookLambda,
  type WebhookLambda,
} from '#test/helpers/webhook-lambda.ts';

const BUCKET = 'webhook-signature-forms';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:paylink-SigFrm';
const SECRET = 'signature-forms-secret-7';
const OTHER = 'some-other-secret';

const eventBody = distinctEventBodies('forms-user-');

describe('the webhook Lambda, given a Function URL event with a joined signature header', () => {
  let lambda: WebhookLambda;

  beforeAll(async () => {
    lambda = await startWebhookLambda({
      bucket: BUCKET,
      secretArn: SECRET_ARN,
      secrets: { [SECRET_ARN]: apiSecretJson(SECRET) },
    });
  });

  afterAll(async () => {
    await lambda?.close();
  });

  /** The digests joined with `,` in one header value, as the Function URL joins repeated lines. */
  const invoke = (body: string, signature: string) => lambda.invoke(body, signature);

  it('accepts the event when one of the joined digests verifies, and a sha256= prefix', async () => {
    const a = eventBody();
    const b = eventBody();
    const c = eventBody();
    expect(await invoke(a, `${signWebhookBody(a, OTHER)},${signWebhookBody(a, SECRET)}`)).toBe(200);
    expect(await invoke(b, `sha256=${signWebhookBody(b, SECRET)}`)).toBe(200);
    expect(await invoke(c, `${signWebhookBody(c, OTHER)},${signWebhookBody(c, OTHER)}`)).toBe(401);
    expect(await lambda.store.list(WEBHOOK.eventsPrefix)).toHaveLength(2);
  });
});

describe('the local receiver, sent the signature header twice', () => {
  let lake: string;
  let server: Awaited<ReturnType<typeof startWebhookServer>>;

  beforeAll(async () => {
    lake = await mkdtemp(join(tmpdir(), 'webhook-forms-'));
    server = await startWebhookServer({
      port: 0,
      store: createLocalStore(lake),
      secret: SECRET,
      clock: () => new Date('2026-12-01T08:00:00.000Z'),
    });
  });
  afterAll(async () => {
    await server?.close();
    await rm(lake, { recursive: true, force: true });
  });

  /** POSTs `body` with one header line per signature (node:http writes a list as repeated lines). */
  const post = (body: string, signatures: string[]) =>
    new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port: server.port,
          method: 'POST',
          path: '/',
          headers: { 'content-type': 'application/json', 'X-HMAC-Signature-Sha-256': signatures },
        },
        (response) => {
          response.resume();
          response.once('end', () => resolve(response.statusCode ?? 0));
        },
      );
      request.once('error', reject);
      request.end(body);
    });

  it('accepts the event when either copy verifies, and refuses it when neither does', async () => {
    const a = eventBody();
    const b = eventBody();
    const c = eventBody();
    expect(await post(a, [signWebhookBody(a, OTHER), signWebhookBody(a, SECRET)])).toBe(200);
    expect(await post(b, [`SHA256=${signWebhookBody(b, SECRET)}`, signWebhookBody(b, OTHER)])).toBe(200);
    expect(await post(c, [signWebhookBody(c, OTHER), signWebhookBody(c, OTHER)])).toBe(401);
    expect(await createLocalStore(lake).list(WEBHOOK.eventsPrefix)).toHaveLength(2);
  });
});
