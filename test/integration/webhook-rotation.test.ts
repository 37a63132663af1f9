/**
 * Key rotation and the webhook Lambda's cached secret: one warm container (the handler module
 * in this process) over loopback S3 and a Secrets Manager fake. After the secret is replaced,
 * the first event Atomic signs with the new one is accepted at once (the container re-reads the
 * secret on a bad signature); a flood of forged requests costs at most one Secrets Manager read
 * per `WEBHOOK.secretRereadSeconds`; an event still signed with the old secret is rejected.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { signWebhookBody, WEBHOOK } from '#core/webhook.ts';
import {
  apiSecretJson,
  distinctEventBodies,
  startWebhookLambda,
  type WebhookLambda,
} from '#test/helpers/webhook-lambda.ts';

const BUCKET = 'webhook-rotation-lake';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:paylink-AbCdEf';
const OLD = 'old-api-secret-1';
const NEW = 'new-api-secret-2';

let lambda: WebhookLambda;
const values: Record<string, string> = { [SECRET_ARN]: apiSecretJson(OLD) };

beforeAll(async () => {
  lambda = await startWebhookLambda({ bucket: BUCKET, secretArn: SECRET_ARN, secrets: values });
});

afterAll(async () => {
  vi.useRealTimers();
  await lambda?.close();
});

const eventBody = distinctEventBodies('user-');
/** The status of a Function URL request carrying a distinct event, signed with `secret`. */
const status = (secret: string) => {
  const body = eventBody();
  return lambda.invoke(body, signWebhookBody(body, secret));
};

describe('the webhook Lambda after a key rotation', () => {
  it('accepts the first event signed with the new secret, and bounds re-reads under forged requests', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-12-01T08:00:00.000Z') });
    expect(await status(OLD)).toBe(200);
    expect(lambda.secrets.calls()).toBe(1);
    expect(await status(OLD)).toBe(200);
    expect(lambda.secrets.calls()).toBe(1); // warm: cached

    // The operator puts the new key in the secret; Atomic signs with it from now on.
    values[SECRET_ARN] = apiSecretJson(NEW);
    vi.setSystemTime(new Date('2026-12-01T08:05:00.000Z'));
    expect(await status(NEW)).toBe(200);
    expect(lambda.secrets.calls()).toBe(2);
    expect(await status(NEW)).toBe(200);
    expect(lambda.secrets.calls()).toBe(2);

    // Forged (or old-secret) requests: rejected; the secret is not read again within the interval.
    expect(await status('forged')).toBe(401);
    expect(await status(OLD)).toBe(401);
    expect(lambda.secrets.calls()).toBe(2);
    vi.setSystemTime(new Date(Date.now() + WEBHOOK.secretRereadSeconds * 1000));
    expect(await status('forged')).toBe(401);
    expect(await status('forged')).toBe(401);
    expect(lambda.secrets.calls()).toBe(3);

    // Every accepted event is stored, none of the rejected ones.
    expect(await lambda.store.list(WEBHOOK.eventsPrefix)).toHaveLength(4);
  });
});
