import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openStore } from '#adapters/open-store.ts';
import { createS3Store, encodeCopySource, s3ClientConfigFromEnv } from '#adapters/s3-store.ts';
import { StoreError } from '#core/errors.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const BUCKET = 'lake';
const text = (data: Uint8Array | undefined) =>
  data === undefined ? undefined : new TextDecoder().decode(data);

/** A client from the environment that remembers which commands it sent ("was it called"). */
function recordingClient(): { client: S3Client; commands: string[] } {
  const client = new S3Client({});
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(context.commandName ?? 'unknown');
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return { client, commands };
}

const count = (commands: readonly string[], name: string) => commands.filter((c) => c === name).length;

describe('S3 store against s3rver', () => {
  let s3rver: RunningS3rver;
  let restoreEnv: () => void;
  let raw: S3Client;

  beforeAll(async () => {
    s3rver = await startS3rver({ buckets: [BUCKET] });
    restoreEnv = withS3Env(s3rver.endpoint);
    raw = new S3Client({});
  });
  afterAll(async () => {
    raw?.destroy();
    restoreEnv?.();
    await s3rver?.close();
  });

  const rawKeys = async (prefix: string) =>
    ((await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map(
      (o) => o.Key,
    );

  it("resolves each command's middleware once per store, not at every request", async () => {
    // Resolving the stack (plugins, steps, ordering) at every request was ~1/8 of the client's CPU.
    const puts = vi.spyOn(PutObjectCommand.prototype, 'resolveMiddleware');
    const gets = vi.spyOn(GetObjectCommand.prototype, 'resolveMiddleware');
    try {
      const store = createS3Store({ bucket: BUCKET, prefix: 'middleware-once' });
      for (const key of ['a', 'b', 'c']) await store.put(key, key);
      for (const key of ['a', 'b', 'c']) expect(text(await store.get(key))).toBe(key);
      expect(puts).toHaveBeenCalledTimes(1);
      expect(gets).toHaveBeenCalledTimes(1);
    } finally {
      puts.mockRestore();
      gets.mockRestore();
    }
  });

  it('round-trips strings and bytes under the prefix, configured from the environment alone', async () => {
    const store = createS3Store({ bucket: BUCKET, prefix: 'roundtrip/base' });
    await store.put('_loads/1.json', '{"ok":true}');
    await store.put('bin/x', new Uint8Array([0, 255, 1]));

    expect(store.description).toBe('s3://lake/roundtrip/base');
    expect(text(await store.get('_loads/1.json'))).toBe('{"ok":true}');
    expect([...((await store.get('bin/x')) ?? [])]).toEqual([0, 255, 1]);
    expect(await rawKeys('roundtrip/')).toEqual(['roundtrip/base/_loads/1.json', 'roundtrip/base/bin/x']);
  });

  it('writes an empty object and multi-byte text with their length: no SDK warning on the console', async () => {
    // The SDK prints "Stream of unknown length" for a PutObject without Content-Length (an
    // empty string is taken for no body): plain text in a Lambda's JSON log.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const store = createS3Store({ bucket: BUCKET, prefix: 'lengths' });
      await store.put('_events/pending/1', '');
      await store.put('text/é', 'é€');
      // s3rver ignores If-None-Match (the conditional create has its own tests below).
      expect(await store.putIfAbsent('text/empty', '')).toBe(true);
      expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([]);
      expect(await store.get('_events/pending/1')).toEqual(new Uint8Array());
      expect(text(await store.get('text/é'))).toBe('é€');
      expect(await store.get('text/empty')).toEqual(new Uint8Array());
    } finally {
      warn.mockRestore();
    }
  });

  it('joins an empty prefix without a leading slash', async () => {
    const store = createS3Store({ bucket: BUCKET, prefix: '' });
    await store.put('rootlevel-object', 'x');

    expect(store.description).toBe('s3://lake');
    expect(await rawKeys('rootlevel-')).toEqual(['rootlevel-object']);
    await store.delete(['rootlevel-object']);
  });

  it('answers undefined for a missing key but fails for a missing bucket', async () => {
    expect(await createS3Store({ bucket: BUCKET, prefix: 'missing' }).get('nope.json')).toBeUndefined();

    const noBucket = createS3Store({ bucket: 'no-such-bucket', prefix: '' });
    await expect(noBucket.get('nope.json')).rejects.toThrow(StoreError);
    await expect(noBucket.get('nope.json')).rejects.toThrow(
      'lake nope.json: S3 GetObject failed (NoSuchBucket, HTTP 404)',
    );
  });

  it('stores a streamed multi-megabyte write byte for byte, as a multipart upload', async () => {
    const { client, commands } = recordingClient();
    const store = createS3Store({ bucket: BUCKET, prefix: 'stream', client });
    const data = randomBytes(12 * 1024 * 1024 + 123);

    const writer = await store.openWrite('users/dt=2024-01-02/big.parquet');
    for (let offset = 0; offset < data.length; offset += 64 * 1024) {
      await writer.write(data.subarray(offset, offset + 64 * 1024));
    }
    expect(await store.get('users/dt=2024-01-02/big.parquet')).toBeUndefined();
    await writer.close();

    const back = await store.get('users/dt=2024-01-02/big.parquet');
    expect(back?.length).toBe(data.length);
    expect(Buffer.from(back ?? []).equals(data)).toBe(true);
    expect(count(commands, 'UploadPartCommand')).toBe(3);
    expect(count(commands, 'CompleteMultipartUploadCommand')).toBe(1);
  });

  it('stores a small streamed write with one PutObject, visible only after close', async () => {
    const { client, commands } = recordingClient();
    const store = createS3Store({ bucket: BUCKET, prefix: 'small', client });

    const writer = await store.openWrite('a.bin');
    await writer.write(new Uint8Array([1, 2, 3]));
    await writer.write(new Uint8Array([4]));
    expect(await store.get('a.bin')).toBeUndefined();
    await writer.close();

    expect([...((await store.get('a.bin')) ?? [])]).toEqual([1, 2, 3, 4]);
    expect(commands.filter((c) => c !== 'GetObjectCommand')).toEqual(['PutObjectCommand']);
    await expect(writer.write(new Uint8Array([5]))).rejects.toThrow('lake a.bin: write after close');
  });

  it('leaves no object and no multipart upload behind when a big streamed write is aborted', async () => {
    const { client, commands } = recordingClient();
    const store = createS3Store({ bucket: BUCKET, prefix: 'aborted', client });

    const writer = await store.openWrite('big.parquet');
    const chunk = randomBytes(1024 * 1024);
    for (let i = 0; i < 12; i += 1) await writer.write(chunk);
    await writer.abort();

    expect(await store.get('big.parquet')).toBeUndefined();
    expect(await store.list('')).toEqual([]);
    expect(count(commands, 'CreateMultipartUploadCommand')).toBe(1);
    expect(count(commands, 'AbortMultipartUploadCommand')).toBe(1);
    expect(count(commands, 'CompleteMultipartUploadCommand')).toBe(0);
  });

  it('fails a streamed write whose upload fails, instead of hanging on backpressure', async () => {
    const store = createS3Store({ bucket: 'no-such-bucket', prefix: 'p' });

    const small = await store.openWrite('small.bin');
    await small.write(new Uint8Array([1]));
    await expect(small.close()).rejects.toThrow('lake small.bin: S3 upload failed (NoSuchBucket, HTTP 404)');

    const big = await store.openWrite('big.bin');
    const chunk = randomBytes(1024 * 1024);
    const writeAll = async () => {
      for (let i = 0; i < 64; i += 1) await big.write(chunk);
    };
    await expect(writeAll()).rejects.toThrow('lake big.bin: S3 upload failed (NoSuchBucket, HTTP 404)');
    await expect(big.abort()).resolves.toBeUndefined();
  });

  it('lists every key across pages, sorted and relative to the store prefix', async () => {
    const { client, commands } = recordingClient();
    const store = createS3Store({ bucket: BUCKET, prefix: 'paged', client, listPageSize: 7 });
    const keys = Array.from(
      { length: 25 },
      (_, i) => `t/dt=2024-01-${String((i % 3) + 1).padStart(2, '0')}/p${i}`,
    );
    await Promise.all(keys.map((key) => store.put(key, key)));
    await createS3Store({ bucket: BUCKET, prefix: 'paged-other' }).put('t/not-mine', 'x');

    const listed = await store.list('');

    expect(listed).toEqual([...keys].sort());
    expect(count(commands, 'ListObjectsV2Command')).toBe(4);
    expect(await store.list('t/dt=2024-01-02/')).toEqual(keys.filter((k) => k.includes('01-02')).sort());
    expect(await store.list('t/dt=2024-01-0')).toHaveLength(25);
    expect(await store.list('nothing/')).toEqual([]);
  });

  it('lists past 1000 keys and deletes in batches of at most 1000, ignoring missing keys', async () => {
    const { client, commands } = recordingClient();
    const store = createS3Store({ bucket: BUCKET, prefix: 'bulk', client });
    const keys = Array.from({ length: 1003 }, (_, i) => `x/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((key) => store.put(key, 'x')));
    }

    expect(await store.list('')).toEqual(keys);
    expect(count(commands, 'ListObjectsV2Command')).toBe(2);
    await store.delete([...keys, 'x/never-existed']);

    expect(count(commands, 'DeleteObjectsCommand')).toBe(2);
    expect(await store.list('')).toEqual([]);
  });

  it('splits deletes by the configured batch size', async () => {
    const { client, commands } = recordingClient();
    const store = createS3Store({ bucket: BUCKET, prefix: 'batches', client, deleteBatchSize: 4 });
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    await Promise.all(keys.map((key) => store.put(key, key)));

    await store.delete(keys);
    await store.delete([]);

    expect(count(commands, 'DeleteObjectsCommand')).toBe(3);
    expect(await store.list('')).toEqual([]);
  });

  it('moves keys with spaces, Unicode and "=" intact, removing the source', async () => {
    const store = createS3Store({ bucket: BUCKET, prefix: 'moves' });
    const pairs = [
      ['_staging/l1/parts/users/dt=2024-01-02/p.parquet', 'users/dt=2024-01-02/p.parquet'],
      ['_staging/with space/ünïcödé 🦆.json', 'final/ünïcödé 🦆 & co, @home;$1:2.json'],
    ] as const;
    for (const [from] of pairs) await store.put(from, `content of ${from}`);

    for (const [from, to] of pairs) await store.move(from, to);

    for (const [from, to] of pairs) {
      expect(text(await store.get(to))).toBe(`content of ${from}`);
      expect(await store.get(from)).toBeUndefined();
    }
    expect(await store.list('_staging/')).toEqual([]);
  });

  it('overwrites the target of a move, keeps an object moved onto itself, and fails on a missing source', async () => {
    const store = createS3Store({ bucket: BUCKET, prefix: 'moves2' });
    await store.put('from', 'new');
    await store.put('to', 'old');

    await store.move('from', 'to');
    await store.move('to', 'to');

    expect(text(await store.get('to'))).toBe('new');
    await expect(store.move('absent', 'to')).rejects.toThrow('lake absent: move failed (no such key)');
    await expect(store.move('to', 'to/../x')).rejects.toThrow(StoreError);
  });

  it('reports S3 failures by operation, code, message, endpoint and region, without the signed request in the error or its cause', async () => {
    const store = createS3Store({ bucket: 'no-such-bucket', prefix: 'p' });

    const error = await store.put('a.json', '{}').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toBe(
      `lake a.json: S3 PutObject failed (NoSuchBucket, HTTP 404): The specified bucket does not exist at ${process.env['AWS_ENDPOINT_URL_S3']} (region us-east-1)`,
    );
    expect((error as StoreError).retryable).toBe(true);
    const everything = inspect(error, { depth: 20, showHidden: true });
    expect(everything).toContain('NoSuchBucket');
    expect(everything).not.toMatch(/Signature=|Credential=|S3RVER/);
  });

  it('opens s3:// destinations with the environment only, as the CLI does', async () => {
    const store = openStore('s3://lake/cli/run/');
    await store.put('k.txt', 'hello');

    expect(store.description).toBe('s3://lake/cli/run');
    expect(await rawKeys('cli/')).toEqual(['cli/run/k.txt']);
  });
});

describe('S3 DeleteObjects partial failures', () => {
  let server: Server;
  let endpoint: string;
  const requests: string[] = [];

  beforeAll(async () => {
    // A 200 answer that still refuses one key: what S3 does for per-key AccessDenied.
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
            '<Error><Key>p/b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>',
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it('fails with the refused key even though the request succeeded', async () => {
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'fake', secretAccessKey: 'fake' },
    });
    const store = createS3Store({ bucket: BUCKET, prefix: 'p', client });

    await expect(store.delete(['a', 'b'])).rejects.toThrow(
      'lake b: S3 DeleteObjects failed for 1 of 2 keys (AccessDenied)',
    );
    expect(requests).toEqual(['POST /lake/?delete=']);
    client.destroy();
  });
});

describe('S3 conditional create', () => {
  let server: Server;
  let endpoint: string;
  const seen: { method?: string; url?: string; ifNoneMatch?: string }[] = [];
  let exists = false;

  beforeAll(async () => {
    // Answers like S3: 412 PreconditionFailed when the key exists and If-None-Match is "*".
    server = createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, ifNoneMatch: req.headers['if-none-match'] as string });
      req.resume();
      req.on('end', () => {
        if (exists && req.headers['if-none-match'] === '*') {
          res.writeHead(412, { 'content-type': 'application/xml' });
          res.end(
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code>' +
              '<Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
          );
          return;
        }
        exists = true;
        res.writeHead(200, { etag: '"x"' });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it('sends If-None-Match: * and reports an existing key as not created', async () => {
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'fake', secretAccessKey: 'fake' },
    });
    const store = createS3Store({ bucket: BUCKET, prefix: 'p', client });
    expect(await store.putIfAbsent('_schema/versions/000001.json', '{}')).toBe(true);
    expect(await store.putIfAbsent('_schema/versions/000001.json', '{}')).toBe(false);
    expect(seen.map((r) => [r.method, r.url, r.ifNoneMatch])).toEqual([
      ['PUT', '/lake/p/_schema/versions/000001.json?x-id=PutObject', '*'],
      ['PUT', '/lake/p/_schema/versions/000001.json?x-id=PutObject', '*'],
    ]);
    client.destroy();
  });
});

describe('S3 addressing and encoding', () => {
  it('forces path style only for a localhost endpoint (IP hosts get it from the SDK)', () => {
    expect(s3ClientConfigFromEnv({ AWS_ENDPOINT_URL_S3: 'http://localhost:4568' })).toEqual({
      forcePathStyle: true,
    });
    expect(s3ClientConfigFromEnv({ AWS_ENDPOINT_URL: 'http://s3.localhost:4568' })).toEqual({
      forcePathStyle: true,
    });
    expect(s3ClientConfigFromEnv({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4568' })).toEqual({});
    expect(s3ClientConfigFromEnv({ AWS_ENDPOINT_URL_S3: 'not a url' })).toEqual({});
    expect(s3ClientConfigFromEnv({})).toEqual({});
  });

  it('URL-encodes copy sources per segment, keeping "=" and friends literal', () => {
    expect(encodeCopySource('b', 'p/users/dt=2024-01-02/x.parquet')).toBe(
      'b/p/users/dt=2024-01-02/x.parquet',
    );
    expect(encodeCopySource('b', 'a b/ü?#+%.json')).toBe('b/a%20b/%C3%BC%3F%23%2B%25.json');
  });

  it('rejects prefixes with leading, trailing or doubled slashes', () => {
    for (const prefix of ['/p', 'p/', 'a//b']) {
      expect(() => createS3Store({ bucket: BUCKET, prefix, client: new S3Client({}) })).toThrow(
        'prefix: must not',
      );
    }
  });
});
