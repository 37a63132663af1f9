import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createCredentialsCache,
  PayLinkCredentials,
  readCredentials,
  resetCredentialsCache,
  resolveCredentials,
} from '#adapters/credentials.ts';
import { CredentialsError } from '#core/errors.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from '#test/helpers/fake-secrets-manager.ts';

// Sentinels: none may appear in an error.
const KEY = 'sentinel-key-51d0';
const SECRET = 'sentinel-secret-e8a4';

const AWS_VARS = [
  'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
];
const saved = new Map(AWS_VARS.map((name) => [name, process.env[name]]));
let fake: FakeSecretsManager;

beforeAll(async () => {
  fake = await startFakeSecretsManager({
    'paylink/good': JSON.stringify({ api_key: KEY, api_secret: SECRET }),
    'paylink/camel': JSON.stringify({ apiKey: KEY, apiSecret: SECRET }),
    'paylink/padded': JSON.stringify({ api_key: ` ${KEY}\n`, api_secret: SECRET }),
    'paylink/not-json': `api_key=${KEY} api_secret=${SECRET}`,
    'paylink/array': JSON.stringify([KEY, SECRET]),
    'paylink/no-key': JSON.stringify({ api_secret: SECRET }),
    'paylink/empty-key': JSON.stringify({ api_key: '   ', api_secret: SECRET }),
    'paylink/number-secret': JSON.stringify({ api_key: KEY, api_secret: 12345 }),
    'paylink/denied': {
      errorType: 'AccessDeniedException',
      message: 'User is not authorized to perform GetSecretValue',
    },
  });
  process.env['AWS_ENDPOINT_URL_SECRETS_MANAGER'] = fake.url;
  process.env['AWS_REGION'] = 'us-east-1';
  process.env['AWS_ACCESS_KEY_ID'] = 'test-access-key';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'test-secret-key';
});

beforeEach(() => resetCredentialsCache());

afterAll(async () => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await fake.close();
});

const noEnv = {};

/** The CredentialsError a resolve fails with, checked to carry no secret however it is printed. */
async function failure(options: Parameters<typeof resolveCredentials>[0]): Promise<CredentialsError> {
  let caught: unknown;
  try {
    await resolveCredentials(options);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CredentialsError);
  const error = caught as CredentialsError;
  for (const text of [error.message, String(error), JSON.stringify(error), inspect(error, { depth: 10 })]) {
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(SECRET);
  }
  return error;
}

describe('resolveCredentials from Secrets Manager', () => {
  it('reads api_key and api_secret from the secret', async () => {
    const credentials = await resolveCredentials({ env: noEnv, secretId: 'paylink/good' });
    expect([credentials.apiKey, credentials.apiSecret]).toEqual([KEY, SECRET]);
  });

  it('accepts camelCase apiKey and apiSecret', async () => {
    const credentials = await resolveCredentials({ env: noEnv, secretId: 'paylink/camel' });
    expect([credentials.apiKey, credentials.apiSecret]).toEqual([KEY, SECRET]);
  });

  it('trims whitespace pasted around a value', async () => {
    const credentials = await resolveCredentials({ env: noEnv, secretId: 'paylink/padded' });
    expect(credentials.apiKey).toBe(KEY);
  });

  it('prefers the secret over environment variables', async () => {
    const env = { PAYLINK_API_KEY: 'env-key', PAYLINK_API_SECRET: 'env-secret' };
    const credentials = await resolveCredentials({ env, secretId: 'paylink/good' });
    expect(credentials.apiKey).toBe(KEY);
  });

  it('names a secret that does not exist', async () => {
    const error = await failure({ env: noEnv, secretId: 'paylink/missing' });
    expect(error.message).toBe(
      `PayLink secret 'paylink/missing': not found in Secrets Manager (ResourceNotFoundException, HTTP 400): Secrets Manager can't find the specified secret. at ${fake.url} (region us-east-1); check the name or ARN and the region`,
    );
  });

  it('says access was denied and which permission is needed', async () => {
    const error = await failure({ env: noEnv, secretId: 'paylink/denied' });
    expect(error.message).toBe(
      `PayLink secret 'paylink/denied': access denied (AccessDeniedException, HTTP 400): User is not authorized to perform GetSecretValue at ${fake.url} (region us-east-1); the role needs secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)`,
    );
  });

  it('rejects a secret that is not JSON without quoting it', async () => {
    const error = await failure({ env: noEnv, secretId: 'paylink/not-json' });
    expect(error.message).toBe(
      `PayLink secret 'paylink/not-json' is not JSON; expected {"api_key": "...", "api_secret": "..."}`,
    );
    expect(error.cause).toBeUndefined();
  });

  it('rejects JSON that is not an object', async () => {
    const error = await failure({ env: noEnv, secretId: 'paylink/array' });
    expect(error.message).toMatch(/^PayLink secret 'paylink\/array' is not a JSON object;/);
  });

  it('names a missing api_key field', async () => {
    const error = await failure({ env: noEnv, secretId: 'paylink/no-key' });
    expect(error.message).toBe(
      `PayLink secret 'paylink/no-key' has no field 'api_key' (or 'apiKey'); expected {"api_key": "...", "api_secret": "..."}`,
    );
  });

  it('names an empty field', async () => {
    const error = await failure({ env: noEnv, secretId: 'paylink/empty-key' });
    expect(error.message).toBe("PayLink secret 'paylink/empty-key': field 'api_key' is empty");
  });

  it('names a field that is not a string', async () => {
    const error = await failure({ env: noEnv, secretId: 'paylink/number-secret' });
    expect(error.message).toBe("PayLink secret 'paylink/number-secret': field 'api_secret' must be a string");
  });
});

describe('caching', () => {
  it('resolveCredentials reads a secret once per process, until resetCredentialsCache()', async () => {
    const before = fake.calls();
    const first = await resolveCredentials({ env: noEnv, secretId: 'paylink/good' });
    const second = await resolveCredentials({ env: noEnv, secretId: 'paylink/good' });
    expect(fake.calls() - before).toBe(1);
    expect(second).toBe(first);
    resetCredentialsCache();
    await resolveCredentials({ env: noEnv, secretId: 'paylink/good' });
    expect(fake.calls() - before).toBe(2);
  });

  it('readCredentials reads the secret on every call', async () => {
    const before = fake.calls();
    await readCredentials({ env: noEnv, secretId: 'paylink/good' });
    await readCredentials({ env: noEnv, secretId: 'paylink/good' });
    expect(fake.calls() - before).toBe(2);
  });

  it('createCredentialsCache reads a secret once for repeated and concurrent resolves', async () => {
    const cache = createCredentialsCache();
    const before = fake.calls();
    const [first, second] = await Promise.all([
      cache.resolve({ env: noEnv, secretId: 'paylink/good' }),
      cache.resolve({ env: noEnv, secretId: 'paylink/good' }),
    ]);
    const third = await cache.resolve({ env: noEnv, secretId: 'paylink/good' });
    expect(fake.calls() - before).toBe(1);
    expect(second).toBe(first);
    expect(third).toBe(first);
  });

  it('createCredentialsCache keeps one entry per secret id and reads again after clear()', async () => {
    const cache = createCredentialsCache();
    const before = fake.calls();
    await cache.resolve({ env: noEnv, secretId: 'paylink/good' });
    await cache.resolve({ env: noEnv, secretId: 'paylink/camel' });
    cache.clear();
    await cache.resolve({ env: noEnv, secretId: 'paylink/good' });
    expect(fake.calls() - before).toBe(3);
  });

  it('does not cache a failed read, so the next resolve tries again', async () => {
    const cache = createCredentialsCache();
    const before = fake.calls();
    await expect(cache.resolve({ env: noEnv, secretId: 'paylink/missing' })).rejects.toBeInstanceOf(
      CredentialsError,
    );
    await expect(cache.resolve({ env: noEnv, secretId: 'paylink/missing' })).rejects.toBeInstanceOf(
      CredentialsError,
    );
    expect(fake.calls() - before).toBe(2);
  });
});

describe('resolveCredentials from the environment', () => {
  it('reads PAYLINK_API_KEY and PAYLINK_API_SECRET when no secret id is given', async () => {
    const before = fake.calls();
    const credentials = await resolveCredentials({
      env: { PAYLINK_API_KEY: KEY, PAYLINK_API_SECRET: SECRET },
    });
    expect([credentials.apiKey, credentials.apiSecret]).toEqual([KEY, SECRET]);
    expect(fake.calls()).toBe(before);
  });

  it('says how to configure credentials when there are none', async () => {
    const error = await failure({ env: noEnv });
    expect(error.message).toBe(
      'no PayLink credentials: set PAYLINK_API_KEY and PAYLINK_API_SECRET or pass --secret-id',
    );
  });

  it('names the variable that is missing', async () => {
    const error = await failure({ env: { PAYLINK_API_KEY: KEY } });
    expect(error.message).toBe('PAYLINK_API_SECRET is not set (PAYLINK_API_KEY is): set both');
  });

  it('names the variable that is empty', async () => {
    const error = await failure({ env: { PAYLINK_API_KEY: '', PAYLINK_API_SECRET: SECRET } });
    expect(error.message).toBe('PAYLINK_API_KEY is empty');
  });

  it('rejects a value with an inner space or newline without quoting it', async () => {
    const error = await failure({ env: { PAYLINK_API_KEY: KEY, PAYLINK_API_SECRET: `${SECRET}\nX` } });
    expect(error.message).toMatch(/^PAYLINK_API_SECRET contains characters an HTTP header cannot carry/);
  });
});

describe('PayLinkCredentials', () => {
  it('prints as [redacted] in JSON, strings, inspect and spreads', () => {
    const credentials = new PayLinkCredentials(KEY, SECRET);
    const renderings = [
      JSON.stringify(credentials),
      JSON.stringify({ credentials }),
      String(credentials),
      `${credentials}`,
      inspect(credentials, { depth: 10, showHidden: true }),
      inspect({ nested: { credentials } }, { depth: 10 }),
      JSON.stringify({ ...credentials }),
    ];
    expect(renderings[0]).toBe('"[redacted]"');
    for (const text of renderings) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain(SECRET);
    }
    expect(Object.keys(credentials)).toEqual([]);
  });
});
