/**
 * PayLink API credentials: from a Secrets Manager secret (deployed stack) or from the
 * environment (local CLI). Errors name what is wrong (the secret, the field, the variable) and
 * never the value; the credentials object itself prints as "[redacted]".
 */
import { inspect } from 'node:util';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CredentialsError } from '#core/errors.ts';
import { type AwsWhere, awsCause } from './aws-cause.ts';

const REDACTED = '[redacted]';
/** What an HTTP header accepts: checked here so a pasted newline fails with a clear message. */
const HEADER_SAFE = /^[\x21-\x7e]+$/;
const EXPECTED_SHAPE = 'expected {"api_key": "...", "api_secret": "..."}';

/** The API key and secret. Getters over private fields: spreading, JSON and inspect show nothing. */
export class PayLinkCredentials {
  readonly #apiKey: string;
  readonly #apiSecret: string;
  constructor(apiKey: string, apiSecret: string) {
    this.#apiKey = apiKey;
    this.#apiSecret = apiSecret;
  }
  get apiKey(): string {
    return this.#apiKey;
  }
  get apiSecret(): string {
    return this.#apiSecret;
  }
  toJSON(): string {
    return REDACTED;
  }
  toString(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return `PayLinkCredentials ${REDACTED}`;
  }
}

export interface ResolveCredentialsOptions {
  /** Usually process.env; only PAYLINK_API_KEY and PAYLINK_API_SECRET are read. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Name or ARN of a secret holding {"api_key", "api_secret"}; wins over the environment. */
  readonly secretId?: string | undefined;
  /**
   * Defaults to `new SecretsManagerClient({})`, so the standard AWS_REGION and
   * AWS_ENDPOINT_URL_SECRETS_MANAGER variables apply.
   */
  readonly secretsClient?: SecretsManagerClient;
}

/** Reads the credentials every time it is called (no cache). */
export async function readCredentials(options: ResolveCredentialsOptions): Promise<PayLinkCredentials> {
  const secretId = options.secretId?.trim();
  if (secretId) return readSecret(secretId, options.secretsClient);
  return fromEnv(options.env);
}

export interface CredentialsCache {
  resolve(options: ResolveCredentialsOptions): Promise<PayLinkCredentials>;
  /** Forgets every cached secret. */
  clear(): void;
}

/**
 * Caches each secret by id, so a warm invocation makes no Secrets Manager call. Concurrent
 * resolves share one read; a failed read is not cached, so the next invocation tries again.
 * Environment credentials are not cached: reading them costs nothing.
 */
export function createCredentialsCache(): CredentialsCache {
  const bySecret = new Map<string, Promise<PayLinkCredentials>>();
  return {
    resolve(options) {
      const secretId = options.secretId?.trim();
      if (!secretId) return readCredentials(options);
      let pending = bySecret.get(secretId);
      if (pending === undefined) {
        const mine = readSecret(secretId, options.secretsClient);
        mine.catch(() => {
          if (bySecret.get(secretId) === mine) bySecret.delete(secretId);
        });
        bySecret.set(secretId, mine);
        pending = mine;
      }
      return pending;
    },
    clear: () => bySecret.clear(),
  };
}

/** The process-wide cache behind resolveCredentials: one Lambda container reads a secret once. */
const processCache = createCredentialsCache();

/**
 * The credentials from `secretId` (cached for the life of the process) or else from
 * PAYLINK_API_KEY / PAYLINK_API_SECRET. Throws CredentialsError naming what is wrong.
 */
export function resolveCredentials(options: ResolveCredentialsOptions): Promise<PayLinkCredentials> {
  return processCache.resolve(options);
}

/** Empties the process-wide cache (tests; or after the secret was rotated). */
export function resetCredentialsCache(): void {
  processCache.clear();
}

function fromEnv(env: ResolveCredentialsOptions['env']): PayLinkCredentials {
  const key = env['PAYLINK_API_KEY'];
  const secret = env['PAYLINK_API_SECRET'];
  if (key === undefined && secret === undefined) {
    throw new CredentialsError(
      'no PayLink credentials: set PAYLINK_API_KEY and PAYLINK_API_SECRET or pass --secret-id',
    );
  }
  if (key === undefined)
    throw new CredentialsError('PAYLINK_API_KEY is not set (PAYLINK_API_SECRET is): set both');
  if (secret === undefined)
    throw new CredentialsError('PAYLINK_API_SECRET is not set (PAYLINK_API_KEY is): set both');
  return new PayLinkCredentials(checked(key, 'PAYLINK_API_KEY'), checked(secret, 'PAYLINK_API_SECRET'));
}

async function readSecret(secretId: string, client?: SecretsManagerClient): Promise<PayLinkCredentials> {
  const owned = client === undefined ? new SecretsManagerClient({}) : undefined;
  let secretString: string | undefined;
  try {
    const output = await (client ?? owned!).send(new GetSecretValueCommand({ SecretId: secretId }));
    secretString = output.SecretString;
  } catch (error) {
    throw readError(secretId, error, await secretsWhere(client ?? owned!));
  } finally {
    owned?.destroy();
  }
  const where = SECRET_LABEL(secretId);
  if (secretString === undefined) {
    throw new CredentialsError(
      `${where} has no SecretString (binary secrets are not supported); ${EXPECTED_SHAPE}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    // No cause: JSON.parse's message quotes the text, i.e. the secret.
    throw new CredentialsError(`${where} is not JSON; ${EXPECTED_SHAPE}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CredentialsError(`${where} is not a JSON object; ${EXPECTED_SHAPE}`);
  }
  const fields = parsed as Record<string, unknown>;
  return new PayLinkCredentials(
    field(fields, 'api_key', 'apiKey', where),
    field(fields, 'api_secret', 'apiSecret', where),
  );
}

function field(fields: Record<string, unknown>, name: string, alias: string, where: string): string {
  const value = fields[name] ?? fields[alias];
  if (value === undefined || value === null) {
    throw new CredentialsError(`${where} has no field '${name}' (or '${alias}'); ${EXPECTED_SHAPE}`);
  }
  if (typeof value !== 'string') throw new CredentialsError(`${where}: field '${name}' must be a string`);
  return checked(value, `${where}: field '${name}'`);
}

/** Surrounding whitespace is a copy-paste accident, never part of a key. */
function checked(value: string, label: string): string {
  const trimmed = value.trim();
  if (trimmed === '') throw new CredentialsError(`${label} is empty`);
  if (!HEADER_SAFE.test(trimmed)) {
    throw new CredentialsError(
      `${label} contains characters an HTTP header cannot carry (spaces or control characters)`,
    );
  }
  return trimmed;
}

/**
 * Where the client sent GetSecretValue: the standard endpoint variables, else AWS's own, and the
 * region it resolved (undefined when it has none: that is then the error).
 */
async function secretsWhere(client: SecretsManagerClient): Promise<AwsWhere> {
  const region = await client.config.region().catch(() => undefined);
  const endpoint =
    process.env['AWS_ENDPOINT_URL_SECRETS_MANAGER'] ??
    process.env['AWS_ENDPOINT_URL'] ??
    (region === undefined ? 'AWS' : `https://secretsmanager.${region}.amazonaws.com`);
  return { endpoint, region };
}

/**
 * A failed GetSecretValue as `PayLink secret '<id>': <what> <cause>; <what to fix>`, the cause
 * being the service's error code and message or the network error, with the endpoint and region
 * (aws-cause.ts). The CLI puts `--secret-id <id>` in front instead (main.ts). Never the value;
 * the SDK error stays as cause.
 */
function readError(secretId: string, error: unknown, where: AwsWhere): CredentialsError {
  const name = error instanceof Error ? error.name : 'unknown error';
  const advice: Record<string, string> = {
    ResourceNotFoundException: 'not found in Secrets Manager; check the name or ARN and the region',
    AccessDeniedException:
      'access denied; the role needs secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)',
    DecryptionFailure: "could not be decrypted; check kms:Decrypt on the secret's KMS key",
  };
  const [what, fix] = (advice[name] ?? 'could not be read from Secrets Manager').split('; ');
  return new CredentialsError(
    `${SECRET_LABEL(secretId)}: ${what} ${awsCause(error, where)}${fix === undefined ? '' : `; ${fix}`}`,
    error,
  );
}

/** How messages name a secret; the CLI replaces it with the flag (`--secret-id <id>`). */
export const SECRET_LABEL = (secretId: string) => `PayLink secret '${secretId}'`;
