/**
 * Per-container set-up shared by the handlers: configuration parsed once from the environment
 * (errors name the variable), and the lake's store built once and reused across invocations.
 * The S3 client is imported on first use (lazy.ts). What only some handlers use lives in its own
 * module (part-writers.ts, paylink-api.ts), so a handler's bundle carries only what it imports:
 * the plan's bundle has no Parquet writer and no PayLink client at all.
 */
import {
  type ConfigFile,
  configFileSchema,
  type LoaderSettings,
  loaderSettings,
  parseOrThrow,
  positiveInt,
  positiveNumber,
} from '#core/config.ts';
import { DEFAULTS } from '#core/constants.ts';
import { ConfigError } from '#core/errors.ts';
import type { ObjectStore } from '#core/ports.ts';
import { type CapacitySettings, HANDLER_ENV } from './contract.ts';
import { lazyStore } from './lazy.ts';

export interface HandlerConfig {
  readonly bucket: string;
  readonly prefix: string;
  readonly secretArn: string;
  readonly usersBucket: string;
  readonly usersKey: string;
  readonly batchSize: number;
  readonly batchRequestRate: number;
  /**
   * Users in flight in one batch: a number when configured, else `adaptive` (sized by Little's law
   * to the batch's share of the rate and the measured latency, adaptive-concurrency.ts).
   */
  readonly userConcurrency: number | 'adaptive';
  readonly glueDatabase: string | undefined;
  readonly settings: LoaderSettings;
  /** Set for the plan function only (PAYLINK_CAPACITY). */
  readonly capacity: CapacitySettings | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

function need(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(name, 'environment variable is not set');
  return value;
}

const CAPACITY_NUMBERS = [
  'requestRate',
  'maxConcurrency',
  'maxBatchSize',
  'batchTimeoutSeconds',
  'batchMarginSeconds',
  'commitSeconds',
  'guardSeconds',
] as const;
/** Written by stacks since the commit's merge is planned: absent in an older stack's settings. */
const OPTIONAL_CAPACITY_NUMBERS = [
  'commitTimeoutSeconds',
  'commitMergeSeconds',
  'mergeConcurrency',
  'webhookReservedConcurrency',
] as const;

/** PAYLINK_CAPACITY: JSON written by the stack; errors name the field, never the value. */
export function parseCapacity(raw: string | undefined): CapacitySettings | undefined {
  if (!raw) return undefined;
  const name = HANDLER_ENV.capacity;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new ConfigError(name, 'is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object') throw new ConfigError(name, 'must be a JSON object');
  for (const field of CAPACITY_NUMBERS) {
    const value = parsed[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw new ConfigError(`${name}.${field}`, 'must be a number >= 0');
  }
  for (const field of OPTIONAL_CAPACITY_NUMBERS) {
    const value = parsed[field];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0))
      throw new ConfigError(`${name}.${field}`, 'must be a number >= 0');
  }
  const deadlines = parsed.runDeadlineSeconds;
  if (deadlines === null || typeof deadlines !== 'object' || Array.isArray(deadlines))
    throw new ConfigError(`${name}.runDeadlineSeconds`, 'must be an object of seconds by schedule name');
  for (const [schedule, seconds] of Object.entries(deadlines)) {
    if (typeof seconds !== 'number' || !(seconds > 0))
      throw new ConfigError(`${name}.runDeadlineSeconds.${schedule}`, 'must be a positive number');
  }
  const caps = parsed.maxUsersPerRun;
  if (caps !== undefined) {
    if (caps === null || typeof caps !== 'object' || Array.isArray(caps))
      throw new ConfigError(`${name}.maxUsersPerRun`, 'must be an object of users by schedule name');
    for (const [schedule, users] of Object.entries(caps))
      if (typeof users !== 'number' || !Number.isInteger(users) || users < 1)
        throw new ConfigError(`${name}.maxUsersPerRun.${schedule}`, 'must be a whole number >= 1');
  }
  return parsed as unknown as CapacitySettings;
}

export function parseHandlerConfig(env: Env): HandlerConfig {
  let file: ConfigFile = {};
  const raw = env[HANDLER_ENV.loaderConfig];
  if (raw) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new ConfigError(HANDLER_ENV.loaderConfig, 'is not valid JSON');
    }
    file = parseOrThrow(configFileSchema, parsed, HANDLER_ENV.loaderConfig);
  }
  const baseUrl = env[HANDLER_ENV.baseUrl];
  return {
    bucket: need(env, HANDLER_ENV.bucket),
    prefix: env[HANDLER_ENV.prefix] ?? '',
    secretArn: need(env, HANDLER_ENV.secretArn),
    usersBucket: env[HANDLER_ENV.usersBucket] || need(env, HANDLER_ENV.bucket),
    usersKey: env[HANDLER_ENV.usersKey] ?? '',
    batchSize: positiveInt(HANDLER_ENV.batchSize, env[HANDLER_ENV.batchSize], DEFAULTS.batchSize),
    batchRequestRate: positiveNumber(
      HANDLER_ENV.batchRequestRate,
      env[HANDLER_ENV.batchRequestRate],
      DEFAULTS.rateLimit,
    ),
    userConcurrency:
      (env[HANDLER_ENV.userConcurrency] ?? 'adaptive') === 'adaptive'
        ? 'adaptive'
        : positiveInt(HANDLER_ENV.userConcurrency, env[HANDLER_ENV.userConcurrency], DEFAULTS.concurrency),
    glueDatabase: env[HANDLER_ENV.glueDatabase] || undefined,
    settings: loaderSettings({ ...file, ...(baseUrl ? { baseUrl } : {}) }),
    capacity: parseCapacity(env[HANDLER_ENV.capacity]),
  };
}

let cachedConfig: HandlerConfig | undefined;
let cachedStore: ObjectStore | undefined;

export function handlerConfig(): HandlerConfig {
  cachedConfig ??= parseHandlerConfig(process.env);
  return cachedConfig;
}

export function lakeStore(): ObjectStore {
  const config = handlerConfig();
  cachedStore ??= lazyStore(
    `s3://${config.bucket}${config.prefix === '' ? '' : `/${config.prefix}`}`,
    async () => {
      const { createS3Store } = await import('#adapters/s3-store.ts');
      return createS3Store({ bucket: config.bucket, prefix: config.prefix });
    },
  );
  return cachedStore;
}

/** For tests that change the environment between invocations of one module instance. */
export function resetRuntime(): void {
  cachedConfig = undefined;
  cachedStore = undefined;
}
