/**
 * The operator's users list in S3, read as a stream (lambdas/core/users-stream.ts): each
 * `open()` is one GetObject whose body is consumed chunk by chunk, never buffered whole, so
 * the plan Lambda's memory does not depend on the list's length.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ConfigError, StoreError } from '#core/errors.ts';
import type { UsersSource } from '#core/users-stream.ts';
import { defaultS3Client, s3Cause, s3WhereOf } from './s3-store.ts';

export interface S3UsersSourceOptions {
  readonly bucket: string;
  readonly key: string;
  /** Name of the setting that points at the list, for the "no users list" error. */
  readonly setting: string;
  readonly client?: S3Client;
}

export function s3UsersSource(options: S3UsersSourceOptions): UsersSource {
  const { bucket, key } = options;
  const client = options.client ?? defaultS3Client();
  const description = `s3://${bucket}/${key}`;
  const where = s3WhereOf(client);
  return {
    description,
    async open() {
      try {
        const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        // In Node the body is a Readable: an async iterable of Buffers (Uint8Array).
        return (output.Body ?? []) as AsyncIterable<Uint8Array>;
      } catch (error) {
        const name = error instanceof Error ? error.name : 'error';
        if (name === 'NoSuchKey') throw new ConfigError(options.setting, `no users list at ${description}`);
        throw new StoreError(description, `S3 GetObject failed ${s3Cause(error, where)}`);
      }
    },
  };
}
