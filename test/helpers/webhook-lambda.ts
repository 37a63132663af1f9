/**
 * The webhook Lambda as one warm container: the handler module in this process, its lake on
 * loopback s3rver and its API secret in a Secrets Manager fake, reached through the variables
 * the stack sets. For tests of what the deployed receiver answers a sender.
 */
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { resetCredentialsCache } from '#adapters/credentials.ts';
import { createS3Store } from '#adapters/s3-store.ts';
import type { ObjectStore } from '#core/ports.ts';
import { HANDLER_ENV } from '#handlers/contract.ts';
import { handler, resetWebhookRuntime } from '#handlers/webhook.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from './fake-secrets-manager.ts';
import { withProcessEnv } from './lake-harness.ts';
import { startS3rver, withS3Env } from './s3rver.ts';
import { webhookEventBody } from './signed-webhook.ts';

/** The secret's value as the operator stores it: the API key and the secret events are signed with. */
export const apiSecretJson = (apiSecret: string): string =>
  JSON.stringify({ api_key: 'key', api_secret: apiSecret });

/**
 * Bodies of distinct `pay-link-accounts-updated` events of 2026-12-01 08:00, each of its own
 * user (`<prefix>0`, `<prefix>1`, ...): no two are the same request.
 */
export function distinctEventBodies(prefix: string): () => string {
  let sent = 0;
  return () =>
    webhookEventBody({
      identifier: `${prefix}${sent++}`,
      eventTime: new Date('2026-12-01T08:00:00.000Z'),
      atomicId: true,
      data: {},
    });
}

export interface WebhookLambda {
  readonly secrets: FakeSecretsManager;
  /** The lake the handler stores accepted events in (prefix `paylink`). */
  readonly store: ObjectStore;
  /**
   * The handler's status for a POST of `body` signed `signature`, as a Function URL hands it
   * over: headers lower-cased (a repeated one joined with `,`), the URL's root as its path.
   */
  invoke(body: string, signature: string): Promise<number | undefined>;
  close(): Promise<void>;
}

/**
 * Starts s3rver with `bucket` and a Secrets Manager fake holding `secrets` (read at each call:
 * a test may replace a value, as an operator rotates the key), and points a fresh webhook
 * runtime at them with `secretArn` as its secret. `close()` puts the environment back.
 */
export async function startWebhookLambda(options: {
  readonly bucket: string;
  readonly secretArn: string;
  readonly secrets: Record<string, string>;
}): Promise<WebhookLambda> {
  const [s3, secrets] = await Promise.all([
    startS3rver({ buckets: [options.bucket] }),
    startFakeSecretsManager(options.secrets),
  ]);
  const restore = [
    withS3Env(s3.endpoint),
    withProcessEnv({
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      [HANDLER_ENV.bucket]: options.bucket,
      [HANDLER_ENV.prefix]: 'paylink',
      [HANDLER_ENV.secretArn]: options.secretArn,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    }),
  ];
  resetWebhookRuntime();
  resetCredentialsCache();
  return {
    secrets,
    store: createS3Store({ bucket: options.bucket, prefix: 'paylink' }),
    async invoke(body, signature) {
      const event = {
        headers: { 'content-type': 'application/json', 'x-hmac-signature-sha-256': signature },
        body,
        isBase64Encoded: false,
        rawPath: '/',
        requestContext: { http: { method: 'POST', path: '/' } },
      } as unknown as LambdaFunctionURLEvent;
      return (await handler(event)).statusCode;
    },
    async close() {
      resetWebhookRuntime();
      resetCredentialsCache();
      for (const undo of restore.reverse()) undo();
      await secrets.close();
      await s3.close();
    },
  };
}
