/**
 * Webhook receiver Lambda, behind a Function URL (auth NONE: the HMAC signature is the auth).
 * Parses the Function URL event (headers lower-cased, body possibly base64), hands the raw bytes
 * to the core (lambdas/core/webhook.ts), writes one bare JSON log line of ids and counts (the
 * stack's metric filter counts rejections from it), and answers with a fixed body.
 *
 * Per container: the configuration (LAKE_BUCKET, LAKE_PREFIX, PAYLINK_SECRET_ARN), the S3 store
 * and the API secret (credentials adapter cache) are built on first use and reused. A signature
 * that does not verify makes the container read the secret again (at most once per
 * `WEBHOOK.secretRereadSeconds`), so a rotated key is picked up by the first event signed with it. The SDK
 * clients are imported lazily, so a cold start pays for them only when a request needs them.
 * A failure to read the secret or to store the event throws: Lambda answers 5xx (no detail
 * reaches the caller) and Atomic retries 3 times, 30 s apart.
 */
import type { APIGatewayProxyStructuredResultV2, Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { ConfigError } from '#core/errors.ts';
import type { ObjectStore } from '#core/ports.ts';
import { receiveWebhook, routeWebhook, WEBHOOK, webhookLogFields, webhookResponse } from '#core/webhook.ts';
import { HANDLER_ENV } from './contract.ts';
import { observeInvocation } from './telemetry.ts';

export interface WebhookConfig {
  readonly bucket: string;
  readonly prefix: string;
  readonly secretArn: string;
  /** Stack name: a dimension of the rejection metric, so two stacks in one account stay apart. */
  readonly stack: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The receiver's environment, parsed once; errors name the variable, never a value. */
export function parseWebhookConfig(env: Env): WebhookConfig {
  const need = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw new ConfigError(name, 'environment variable is not set');
    return value;
  };
  return {
    bucket: need(HANDLER_ENV.bucket),
    prefix: env[HANDLER_ENV.prefix] ?? '',
    secretArn: need(HANDLER_ENV.secretArn),
    stack: env[HANDLER_ENV.stackName] || 'unknown',
  };
}

let config: WebhookConfig | undefined;
let store: Promise<ObjectStore> | undefined;

function webhookConfig(): WebhookConfig {
  config ??= parseWebhookConfig(process.env);
  return config;
}

function lakeStore(): Promise<ObjectStore> {
  const { bucket, prefix } = webhookConfig();
  store ??= import('#adapters/s3-store.ts').then(({ createS3Store }) => createS3Store({ bucket, prefix }));
  return store;
}

async function apiSecret(): Promise<string> {
  const { resolveCredentials } = await import('#adapters/credentials.ts');
  const credentials = await resolveCredentials({ env: process.env, secretId: webhookConfig().secretArn });
  return credentials.apiSecret;
}

/** When this container last re-read the secret after a bad signature (ms since the epoch). */
let secretRereadAt = Number.NEGATIVE_INFINITY;

/**
 * The secret read again, when a signature did not verify with the cached one and the secret was
 * not re-read in the last `WEBHOOK.secretRereadSeconds`: after a key rotation, Atomic signs with
 * the new secret while a warm container still holds the old one, and every event would be
 * rejected until the container is recycled (Atomic's retries last 90 s). Re-reading on the first
 * bad signature picks the new secret up at once; the interval bounds what forged requests can
 * cost (one GetSecretValue per interval per container). Undefined when not re-read, or unchanged.
 */
async function rereadSecret(cached: string, now: number): Promise<string | undefined> {
  if (now - secretRereadAt < WEBHOOK.secretRereadSeconds * 1000) return undefined;
  secretRereadAt = now;
  const { resetCredentialsCache } = await import('#adapters/credentials.ts');
  resetCredentialsCache();
  const fresh = await apiSecret();
  return fresh === cached ? undefined : fresh;
}

/** The raw body bytes: Function URLs base64-encode bodies that are not text. */
function rawBody(event: LambdaFunctionURLEvent): Uint8Array {
  if (event.body === undefined) return new Uint8Array();
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}

const answer = (response: ReturnType<typeof webhookResponse>): APIGatewayProxyStructuredResultV2 => ({
  statusCode: response.status,
  headers: { 'content-type': 'text/plain; charset=utf-8', ...response.headers },
  body: response.body,
});

export async function handler(
  event: LambdaFunctionURLEvent,
  context?: Partial<Context>,
): Promise<APIGatewayProxyStructuredResultV2> {
  const receivedAt = new Date();
  const cfg = webhookConfig();
  const obs = await observeInvocation('webhook', {}, context);
  // Atomic POSTs to the URL's root; anything else is not a webhook (and gets no hint why). Logged
  // like any rejection (the metric filter counts it by reason), before the secret or the body.
  const refused = routeWebhook(event.requestContext?.http?.method, event.rawPath);
  if (refused !== undefined) {
    obs.log.info('webhook', {
      ...webhookLogFields(refused),
      stack: cfg.stack,
      ms: Date.now() - receivedAt.getTime(),
    });
    return answer(webhookResponse(refused));
  }
  const [deps, secret] = await Promise.all([lakeStore(), apiSecret()]);
  const request = { headers: event.headers ?? {}, body: rawBody(event) };
  let outcome = await obs.traced('webhook', () =>
    receiveWebhook(request, { store: deps, secret, receivedAt }),
  );
  if (outcome.kind === 'rejected' && outcome.reason === 'bad-signature') {
    // A failed re-read keeps the rejection (a forged request must not turn into a 5xx retry loop).
    const rotated = await rereadSecret(secret, receivedAt.getTime()).catch((error: unknown) => {
      obs.log.warn('webhook_secret_reread_failed', { error: (error as Error).name });
      return undefined;
    });
    if (rotated !== undefined) {
      obs.log.info('webhook_secret_reread', { changed: true });
      outcome = await receiveWebhook(request, { store: deps, secret: rotated, receivedAt });
    }
  }
  // One JSON line (Powertools Logger): the metric filter's JSON pattern reads `webhook`,
  // `reason` and `stack` from it (`stack` is on every line of the logger).
  obs.log.info('webhook', {
    ...webhookLogFields(outcome),
    stack: cfg.stack,
    ms: Date.now() - receivedAt.getTime(),
  });
  return answer(webhookResponse(outcome));
}

/** For tests that change the environment between invocations of one module instance. */
export function resetWebhookRuntime(): void {
  config = undefined;
  store = undefined;
  secretRereadAt = Number.NEGATIVE_INFINITY;
}
