/**
 * A `--dest` that is not a lake is refused by every command that reads one (status, query,
 * verify, clean, failed, repair-schema), with one line naming --dest and what was found there;
 * nothing is written into it. A lake is a folder or S3 prefix holding at least one of the
 * lake's own top-level entries. Commands run in-process (main); S3 is s3rver on loopback.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Store } from '#adapters/s3-store.ts';
import { receiveWebhook, signWebhookBody } from '#core/webhook.ts';
import { runCli, Scratch } from '#test/helpers/lake-harness.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';

const READERS: [string, string[]][] = [
  ['status', []],
  ['query', ['SELECT 1']],
  ['verify', []],
  ['clean', []],
  ['failed', ['--load-id', 'some-load']],
  ['repair-schema', []],
];

let scratch: Scratch;
beforeAll(async () => {
  scratch = await Scratch.create('not-a-lake');
});
afterAll(async () => {
  await scratch?.dispose();
});

describe('a local --dest that is not a lake', () => {
  it.each(READERS)('%s refuses a folder of other files and writes nothing into it', async (command, rest) => {
    const folder = scratch.path(`notalake-${command}`);
    await mkdir(folder);
    await writeFile(`${folder}/readme.txt`, 'hi\n');
    const run = await runCli([command, '--dest', folder, ...rest]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: --dest: no lake at ${folder} (the folder holds 1 entry: readme.txt; none of the lake's entries _dlt_loads/, _schema/, _loads/, _staging/, _leases/, _state/, _events/).\n`,
    );
    expect(run.stdout).toBe('');
    expect(await readdir(folder)).toEqual(['readme.txt']);
  });

  it.each(READERS)('%s refuses a regular file', async (command, rest) => {
    const file = await scratch.text(`file-${command}.txt`, 'not a lake\n');
    const run = await runCli([command, '--dest', file, ...rest]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: --dest: no lake at ${file} (it is a file, not a folder).\n`);
  });

  it('an empty folder is refused too; one lake entry (a lake no load committed to yet) is enough', async () => {
    const folder = scratch.path('empty');
    await mkdir(folder);
    const empty = await runCli(['status', '--dest', folder]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain(`no lake at ${folder} (the folder is empty: none of the lake's entries`);
    await mkdir(`${folder}/_events`);
    const events = await runCli(['status', '--dest', folder]);
    expect(events.stderr).toBe('');
    expect(events.code).toBe(0);
    expect(events.stdout).toContain(`Lake ${folder}`);
  });

  it('repair-schema never creates a registry where no lake is', async () => {
    const folder = scratch.path('repair-target');
    await mkdir(`${folder}/_schemas`, { recursive: true });
    const run = await runCli(['repair-schema', '--dest', folder]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('(the folder holds 1 entry: _schemas; none');
    expect(existsSync(`${folder}/_schema`)).toBe(false);
  });
});

describe('an S3 --dest that is not a lake', () => {
  let s3: RunningS3rver;
  let restore: () => void;
  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ['my-lake'] });
    restore = withS3Env(s3.endpoint);
    // A lake that so far only received webhook events, under the prefix `real`.
    const body = JSON.stringify({
      eventType: 'pay-link-accounts-updated',
      eventTime: '2026-01-01T10:00:00.000Z',
      user: { _id: 'atomic-1', identifier: 'user-1' },
      data: {},
    });
    const stored = await receiveWebhook(
      {
        headers: { 'x-hmac-signature-sha-256': signWebhookBody(body, 'not-a-lake-secret') },
        body: new TextEncoder().encode(body),
      },
      {
        store: createS3Store({ bucket: 'my-lake', prefix: 'real' }),
        secret: 'not-a-lake-secret',
        receivedAt: new Date('2026-01-01T10:00:01.000Z'),
      },
    );
    expect(stored.kind).toBe('accepted');
  }, 30_000);
  afterAll(async () => {
    restore?.();
    await s3?.close();
  });

  it.each(READERS.filter(([c]) => c !== 'query'))(
    '%s refuses an empty prefix (a typo)',
    async (command, rest) => {
      const run = await runCli([command, '--dest', 's3://my-lake/typo', ...rest]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        'error: --dest: no lake at s3://my-lake/typo (nothing under _dlt_loads/, _schema/, _loads/, _staging/, _leases/, _state/, _events/: an empty or mistyped prefix?).\n',
      );
      expect(await createS3Store({ bucket: 'my-lake', prefix: 'typo' }).list('')).toEqual([]);
    },
  );

  it('reads a prefix that holds a lake entry, with or without a trailing slash', async () => {
    for (const dest of ['s3://my-lake/real', 's3://my-lake/real/']) {
      const run = await runCli(['status', '--dest', dest]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('Lake s3://my-lake/real ');
    }
  });

  it('a prefix with "//" is refused with the same rule the trailing slash follows', async () => {
    const run = await runCli(['status', '--dest', 's3://my-lake//x']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: --dest: 's3://my-lake//x': prefix must not start with "/", contain "//" or end with more than one "/" (s3://bucket/prefix/ is s3://bucket/prefix).\n`,
    );
  });
});
