/**
 * Key rotation and the webhook Lambda's cached secret: one warm container (the handler module
 * in this process) over loopback S3 and a Secrets Manager fake. After the secret is replaced,
 * the first event Atomic signs with the new one is accepted at once (the container re-reads the
 * secret on a bad signature); a flood of forged requests costs at most one Secrets Manager read
 * per `WEBHOOK.secretRereadSeconds`; an event still signed with the old secret is rejected.
 */
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resetCredentialsCache } from '#adapters/credentials.ts';
import { createS3Store } from '#adapters/s3-store.ts';
import { signWebhookBody, WEBHOOK } from '#core/webhook.ts';
import { HANDLER_ENV } from '#handlers/contract.ts';
import { handler, resetWebhookRuntime } from '#handlers/webhook.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from '#test/helpers/fake-secrets-manager.ts';
import { withProcessEnv } from '#test/helpers/lake-harness.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const BUCKET = 'webhook-rotation-lake';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:paylink-AbCdEf';
const OLD = 'old-api-secret-1';
const NEW = 'new-api-secret-2';
const secretJson = (apiSecret: string) => JSON.stringify({ api_key: 'key', api_secret: apiSecret });

let s3: RunningS3rver;
let secrets: FakeSecretsManager;
const values: Record<string, string> = { [SECRET_ARN]: secretJson(OLD) };
let restore: (() => void)[] = [];

beforeAll(async () => {
  [s3, secrets] = await Promise.all([startS3rver({ buckets: [BUCKET] }), startFakeSecretsManager(values)]);
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
  vi.useRealTimers();
  resetWebhookRuntime();
  resetCredentialsCache();
  for (const undo of restore.reverse()) undo();
  await secrets?.close();
  await s3?.close();
});

let sent = 0;
/** A Function URL request carrying a distinct event, signed with `secret`. */
function request(secret: string): LambdaFunctionURLEvent {
  const body = JSON.stringify({
    eventType: 'pay-link-accounts-updated',
    eventTime: '2026-12-01T08:00:00.000Z',
    user: { _id: 'atomic-1', identifier: `user-${sent++}` },
    data: {},
  });
  return {
    headers: {
      'content-type': 'application/json',
      'x-hmac-signature-sha-256': signWebhookBody(body, secret),
    },
    body,
    isBase64Encoded: false,
    // As a Function URL hands it over: the request's path, the URL's root.
    rawPath: '/',
    requestContext: { http: { method: 'POST', path: '/' } },
  } as unknown as LambdaFunctionURLEvent;
}

const status = async (secret: string) => (await handler(request(secret))).statusCode;

describe('the webhook Lambda after a key rotation', () => {
  it('accepts the first event signed with the new secret, and bounds re-reads under forged requests', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-12-01T08:00:00.000Z') });
    expect(await status(OLD)).toBe(200);
    expect(secrets.calls()).toBe(1);
    expect(await status(OLD)).toBe(200);
    expect(secrets.calls()).toBe(1); // warm: cached

    // The operator puts the new key in the secret; Atomic signs with it from now on.
    values[SECRET_ARN] = secretJson(NEW);
    vi.setSystemTime(new Date('2026-12-01T08:05:00.000Z'));
    expect(await status(NEW)).toBe(200);
    expect(secrets.calls()).toBe(2);
    expect(await status(NEW)).toBe(200);
    expect(secrets.calls()).toBe(2);

    // Forged (or old-secret) requests: rejected; the secret is not read again within the interval.
    expect(await status('forged')).toBe(401);
    expect(await status(OLD)).toBe(401);
    expect(secrets.calls()).toBe(2);
    vi.setSystemTime(new Date(Date.now() + WEBHOOK.secretRereadSeconds * 1000));
    expect(await status('forged')).toBe(401);
    expect(await status('forged')).toBe(401);
    expect(secrets.calls()).toBe(3);

    // Every accepted event is stored, none of the rejected ones.
    const store = createS3Store({ bucket: BUCKET, prefix: 'paylink' });
    expect(await store.list(WEBHOOK.eventsPrefix)).toHaveLength(4);
  });
});
