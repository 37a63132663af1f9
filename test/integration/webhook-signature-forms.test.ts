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
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetCredentialsCache } from '#adapters/credentials.ts';
import { createLocalStore } from '#adapters/local-store.ts';
import { createS3Store } from '#adapters/s3-store.ts';
import { startWebhookServer } from '#adapters/webhook-server.ts';
import { signWebhookBody, WEBHOOK } from '#core/webhook.ts';
import { HANDLER_ENV } from '#handlers/contract.ts';
import { handler, resetWebhookRuntime } from '#handlers/webhook.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from '#test/helpers/fake-secrets-manager.ts';
import { withProcessEnv } from '#test/helpers/lake-harness.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const BUCKET = 'webhook-signature-forms';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:paylink-SigFrm';
const SECRET = 'signature-forms-secret-7';
const OTHER = 'some-other-secret';

let sent = 0;
function eventBody(): string {
  return JSON.stringify({
    eventType: 'pay-link-accounts-updated',
    eventTime: '2026-12-01T08:00:00.000Z',
    user: { _id: 'atomic-1', identifier: `forms-user-${sent++}` },
    data: {},
  });
}

describe('the webhook Lambda, given a Function URL event with a joined signature header', () => {
  let s3: RunningS3rver;
  let secrets: FakeSecretsManager;
  let restore: (() => void)[] = [];

  beforeAll(async () => {
    [s3, secrets] = await Promise.all([
      startS3rver({ buckets: [BUCKET] }),
      startFakeSecretsManager({ [SECRET_ARN]: JSON.stringify({ api_key: 'key', api_secret: SECRET }) }),
    ]);
    restore = [
      withS3Env(s3.endpoint),
      withProcessEnv({
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
        [HANDLER_ENV.bucket]: BUCKET,
        [HANDLER_ENV.prefix]: 'paylink',
        [HANDLER_ENV.secretArn]: SECRET_ARN,
        POWERTOOLS_LOG_LEVEL: 'ERROR',
      }),
    ];
    resetWebhookRuntime();
    resetCredentialsCache();
  });

  afterAll(async () => {
    resetWebhookRuntime();
    resetCredentialsCache();
    for (const undo of restore.reverse()) undo();
    await secrets?.close();
    await s3?.close();
  });

  /** As a Function URL hands a request over: headers lower-cased, repeated ones joined with `,`. */
  const invoke = async (body: string, signature: string) =>
    (
      await handler({
        headers: { 'content-type': 'application/json', 'x-hmac-signature-sha-256': signature },
        body,
        isBase64Encoded: false,
        rawPath: '/',
        requestContext: { http: { method: 'POST', path: '/' } },
      } as unknown as LambdaFunctionURLEvent)
    ).statusCode;

  it('accepts the event when one of the joined digests verifies, and a sha256= prefix', async () => {
    const a = eventBody();
    const b = eventBody();
    const c = eventBody();
    expect(await invoke(a, `${signWebhookBody(a, OTHER)},${signWebhookBody(a, SECRET)}`)).toBe(200);
    expect(await invoke(b, `sha256=${signWebhookBody(b, SECRET)}`)).toBe(200);
    expect(await invoke(c, `${signWebhookBody(c, OTHER)},${signWebhookBody(c, OTHER)}`)).toBe(401);
    const store = createS3Store({ bucket: BUCKET, prefix: 'paylink' });
    expect(await store.list(WEBHOOK.eventsPrefix)).toHaveLength(2);
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
