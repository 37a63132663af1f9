/**
 * The lake in S3 (`s3://bucket/prefix`), with the real AWS SDK. Tests point the same code at
 * s3rver on loopback through the standard variables (AWS_ENDPOINT_URL_S3, AWS_REGION, ...).
 *
 * Addressing: the SDK's endpoint rules already use path-style requests when the endpoint host
 * is an IP address (http://127.0.0.1:4568 -> /bucket/key), and virtual-hosted style otherwise
 * (real S3). The one local case they get wrong is `localhost` (`bucket.localhost` does not
 * resolve everywhere), so the default client forces path style for that host only; other
 * custom endpoints (MinIO behind a DNS name, ...) are configured by passing `client`.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ConfigError, StoreError } from '#core/errors.ts';
import type { ObjectStore, ObjectWriter } from '#core/ports.ts';
import { awsCause } from './aws-cause.ts';
import { assertListPrefix, assertObjectKey, compareKeys } from './object-key.ts';

/** Limits of the S3 API, not tunables. */
export const S3_LIMITS = {
  /** https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html (MaxKeys) */
  listPageSize: 1000,
  /** https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html */
  deleteBatchSize: 1000,
  /** https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html (minimum part size) */
  minPartSizeBytes: 5 * 1024 * 1024,
} as const;

export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash; '' for the bucket root. */
  readonly prefix?: string;
  /** Defaults to `defaultS3Client()`: region, credentials, endpoint from the environment. */
  readonly client?: S3Client;
  /** Keys per ListObjectsV2 page (at most 1000); smaller values exercise pagination in tests. */
  readonly listPageSize?: number;
  /** Keys per DeleteObjects request (at most 1000). */
  readonly deleteBatchSize?: number;
  /** Multipart part size of `openWrite` (at least 5 MiB); memory is about partSize x queueSize. */
  readonly partSizeBytes?: number;
  /** Parts of one `openWrite` uploaded at once. */
  readonly uploadQueueSize?: number;
}

/** The client settings the environment cannot express: path style for a `localhost` endpoint. */
export function s3ClientConfigFromEnv(env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  const endpoint = env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'];
  if (!endpoint || !URL.canParse(endpoint)) return {};
  const host = new URL(endpoint).hostname;
  return host === 'localhost' || host.endsWith('.localhost') ? { forcePathStyle: true } : {};
}

/**
 * The client a store makes when given none: configured from the environment
 * (s3ClientConfigFromEnv), with the SDK's `cacheMiddleware`, which resolves each command type's
 * middleware stack once per client instead of at every request. A load sends thousands of small
 * requests through one client; about a sixth less CPU per request (median 0.83 of it) (bench/results/s3-request-cpu.md).
 * The cache is why nothing may add middleware to such a client after its first request: pass
 * `client` for that.
 */
export function defaultS3Client(): S3Client {
  return new S3Client({ cacheMiddleware: true, ...s3ClientConfigFromEnv() });
}

/**
 * `x-amz-copy-source` must be URL-encoded (the SDK sends it as given). Each segment is encoded;
 * `$&,:;=@` stay literal: S3 decodes either form, and s3rver decodes with `decodeURI`, which
 * leaves their escapes alone (so `dt=...` keys would not be found there). `+` stays escaped:
 * S3 may read a literal one as a space (s3rver then cannot find such keys; ours never have one).
 */
export function encodeCopySource(bucket: string, key: string): string {
  const segments = key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%(24|26|2C|3A|3B|3D|40)/g, decodeURIComponent));
  return `${bucket}/${segments.join('/')}`;
}

const errorName = (error: unknown): string => (error instanceof Error ? error.name : 'error');

/**
 * The SDK's exception holds the raw HTTP exchange, signed request headers included (access key
 * id, signature): the cause keeps its name, message, code, stack and request metadata only.
 */
function sdkCause(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(typeof error === 'string' ? error : 'non-Error thrown');
  const summary = new Error(error.message);
  summary.name = error.name;
  if (error.stack !== undefined) summary.stack = error.stack;
  const { $metadata, code } = error as { $metadata?: unknown; code?: unknown };
  return Object.assign(
    summary,
    $metadata === undefined ? {} : { $metadata },
    code === undefined ? {} : { code },
  );
}

/**
 * Where the client sends its requests, for error messages: the endpoint (the standard
 * AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL variables, else AWS's own) and the region the client
 * resolved (`none` when it has none). A refused connection and a missing region used to read
 * alike (`S3 ListObjectsV2 failed (Error)`).
 */
export interface S3Where {
  region: string | undefined;
  readonly endpoint: string | undefined;
}

export function s3WhereOf(client: S3Client, env: NodeJS.ProcessEnv = process.env): S3Where {
  const where: S3Where = {
    region: undefined,
    endpoint: env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'],
  };
  // The region provider is async; it has settled long before any request could fail.
  client.config.region().then(
    (region) => {
      where.region = region;
    },
    () => undefined,
  );
  return where;
}

/**
 * The cause of an S3 failure in plain words (aws-cause.ts): the service's error code, HTTP
 * status and message; a network error's code and meaning; or a client that could not even sign
 * (no region, no credentials). Never the request, its signature or credentials.
 */
export function s3Cause(error: unknown, where?: S3Where): string {
  return awsCause(
    error,
    where && {
      region: where.region,
      endpoint: where.endpoint ?? (where.region ? `https://s3.${where.region}.amazonaws.com` : 'AWS'),
    },
  );
}

/** Our words and the service's error code only: never the request, its signature or credentials. */
function storeFailure(key: string, operation: string, error: unknown, where?: S3Where): StoreError {
  return new StoreError(key, `S3 ${operation} failed ${s3Cause(error, where)}`, sdkCause(error));
}

function assertPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  if (prefix.startsWith('/') || prefix.endsWith('/') || prefix.includes('//')) {
    throw new ConfigError('prefix', 'must not start or end with "/" or contain "//"');
  }
  return prefix;
}

function inRange(
  name: string,
  value: number | undefined,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function createS3Store(options: S3StoreOptions): ObjectStore {
  const { bucket } = options;
  const prefix = assertPrefix(options.prefix ?? '');
  const base = prefix === '' ? '' : `${prefix}/`;
  const client = options.client ?? defaultS3Client();
  const listPageSize = inRange(
    'listPageSize',
    options.listPageSize,
    1,
    S3_LIMITS.listPageSize,
    S3_LIMITS.listPageSize,
  );
  const deleteBatchSize = inRange(
    'deleteBatchSize',
    options.deleteBatchSize,
    1,
    S3_LIMITS.deleteBatchSize,
    S3_LIMITS.deleteBatchSize,
  );
  const partSize = inRange(
    'partSizeBytes',
    options.partSizeBytes,
    S3_LIMITS.minPartSizeBytes,
    Number.MAX_SAFE_INTEGER,
    S3_LIMITS.minPartSizeBytes,
  );
  const queueSize = inRange('uploadQueueSize', options.uploadQueueSize, 1, 64, 4);

  const fullKey = (key: string) => base + assertObjectKey(key);
  const where = s3WhereOf(client);
  const s3Failure = (key: string, operation: string, error: unknown) =>
    storeFailure(key, operation, error, where);

  /**
   * The body's length, given: the SDK measures a body to set Content-Length, but an empty
   * string it takes for no body, sends no Content-Length and prints a plain-text warning
   * ("Are you using a Stream of unknown length ...") into the Lambda's JSON log.
   */
  const lengthOf = (body: Uint8Array | string) =>
    typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;

  async function put(key: string, body: Uint8Array | string): Promise<void> {
    const Key = fullKey(key);
    try {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key, Body: body, ContentLength: lengthOf(body) }),
      );
    } catch (error) {
      throw s3Failure(key, 'PutObject', error);
    }
  }

  async function putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean> {
    const Key = fullKey(key);
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key,
          Body: body,
          ContentLength: lengthOf(body),
          IfNoneMatch: '*',
        }),
      );
      return true;
    } catch (error) {
      // 412: the key exists. 409: a concurrent conditional write to it is in flight; either way
      // another writer got there first and the caller re-reads.
      const name = errorName(error);
      if (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict') return false;
      throw s3Failure(key, 'PutObject', error);
    }
  }

  async function get(key: string): Promise<Uint8Array | undefined> {
    const Key = fullKey(key);
    try {
      const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
      return output.Body ? await output.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      // Only a missing key is "absent"; a missing bucket or a denied read is a failure.
      if (errorName(error) === 'NoSuchKey') return undefined;
      throw s3Failure(key, 'GetObject', error);
    }
  }

  async function list(listPrefix: string, startAfter?: string): Promise<string[]> {
    const Prefix = base + assertListPrefix(listPrefix);
    const StartAfter = startAfter === undefined ? undefined : base + startAfter;
    const keys: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      let page: Awaited<ReturnType<typeof sendList>>;
      try {
        page = await sendList(Prefix, ContinuationToken, StartAfter);
      } catch (error) {
        throw s3Failure(listPrefix, 'ListObjectsV2', error);
      }
      for (const object of page.Contents ?? []) {
        // Console-made "folder" markers end with '/': they are not objects of the lake.
        if (object.Key?.startsWith(base) && !object.Key.endsWith('/'))
          keys.push(object.Key.slice(base.length));
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !ContinuationToken) {
        throw new StoreError(listPrefix, 'S3 ListObjectsV2 truncated without a continuation token');
      }
    } while (ContinuationToken);
    return keys.sort(compareKeys);
  }

  function sendList(Prefix: string, ContinuationToken: string | undefined, StartAfter?: string) {
    return client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: Prefix === '' ? undefined : Prefix,
        ContinuationToken,
        // Ignored by S3 once a continuation token is given: the first page starts there.
        ...(StartAfter === undefined ? {} : { StartAfter }),
        MaxKeys: listPageSize,
      }),
    );
  }

  async function remove(keys: readonly string[]): Promise<void> {
    const unique = [...new Set(keys)];
    const full = unique.map(fullKey);
    for (let start = 0; start < full.length; start += deleteBatchSize) {
      const batch = full.slice(start, start + deleteBatchSize);
      const first = unique[start]!;
      let errors: { Key?: string; Code?: string }[];
      try {
        const output = await client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            // Quiet: the answer lists only the keys that failed.
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        errors = output.Errors ?? [];
      } catch (error) {
        throw s3Failure(first, 'DeleteObjects', error);
      }
      // A 200 answer may still refuse some keys (AccessDenied, SlowDown, ...): check each.
      if (errors.length > 0) {
        const key = errors[0]?.Key?.slice(base.length) ?? first;
        throw new StoreError(
          key,
          `S3 DeleteObjects failed for ${errors.length} of ${batch.length} keys (${errors[0]?.Code ?? 'unknown'})`,
        );
      }
    }
  }

  /** Copy then delete: not atomic, so a crash in between leaves both keys (a re-run repeats the move). */
  async function move(from: string, to: string): Promise<void> {
    const source = fullKey(from);
    const target = fullKey(to);
    try {
      if (source === target) {
        // S3 refuses to copy an object onto itself unchanged; still fail on a missing key.
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: source }));
        return;
      }
      await client.send(
        new CopyObjectCommand({ Bucket: bucket, Key: target, CopySource: encodeCopySource(bucket, source) }),
      );
    } catch (error) {
      const name = errorName(error);
      if (name === 'NoSuchKey' || name === 'NotFound') {
        throw new StoreError(from, 'move failed (no such key)', sdkCause(error));
      }
      throw s3Failure(from, `CopyObject to ${to}`, error);
    }
    try {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: source }));
    } catch (error) {
      throw s3Failure(from, 'DeleteObject (after copy)', error);
    }
  }

  async function openWrite(key: string): Promise<ObjectWriter> {
    const Key = fullKey(key);
    const body = new PassThrough();
    // Destroying the body on abort must not become an uncaught 'error' event.
    body.on('error', () => undefined);
    return streamedUpload(
      key,
      body,
      new Upload({ client, params: { Bucket: bucket, Key, Body: body }, partSize, queueSize }),
      (error) => s3Failure(key, 'upload', error),
    );
  }

  return {
    description: `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}`,
    put,
    putIfAbsent,
    get,
    list: (listPrefix) => list(listPrefix),
    listAfter: (listPrefix, startAfter) => list(listPrefix, startAfter),
    delete: remove,
    move,
    openWrite,
  };
}

/**
 * Bridges pushed chunks to lib-storage's Upload, which pulls them from a PassThrough: one
 * PutObject for small objects, a multipart upload (parts of `partSize`) for big ones. The
 * object exists only once the upload completes, so an aborted write leaves nothing behind.
 */
function streamedUpload(
  key: string,
  body: PassThrough,
  upload: Upload,
  uploadFailure: (error: unknown) => StoreError,
): ObjectWriter {
  let failure: unknown;
  let failed = false;
  const done = upload.done().then(
    () => undefined,
    (error: unknown) => {
      failed = true;
      failure = error;
    },
  );
  let state: 'open' | 'closed' | 'aborted' = 'open';

  const assertWritable = () => {
    if (state !== 'open') throw new StoreError(key, `write after ${state === 'closed' ? 'close' : 'abort'}`);
    if (failed) throw uploadFailure(failure);
  };

  return {
    async write(chunk) {
      assertWritable();
      if (!body.write(chunk)) {
        // Backpressure: wait until the uploader has taken the data, or has failed.
        const stopWaiting = new AbortController();
        await Promise.race([
          once(body, 'drain', { signal: stopWaiting.signal }).catch(() => undefined),
          done,
        ]);
        stopWaiting.abort();
      }
      assertWritable();
    },
    async close() {
      assertWritable();
      state = 'closed';
      body.end();
      await done;
      if (failed) throw uploadFailure(failure);
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      // Ending the body early fails the upload from inside, so lib-storage aborts any
      // multipart upload it started before `done` settles (nothing is left to bill or clean).
      body.destroy();
      await done;
    },
  };
}
