/**
 * Never a silent wrong turn: each fault a new user met is refused with one line that names the
 * flag as typed and the real cause, and nothing is written. Commands run in-process (main).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeForUser } from '#cli/main.ts';
import { credentialsEnv, FAST_HTTP, runCli, Scratch } from '#test/helpers/lake-harness.ts';

const ENV = credentialsEnv('honest-key', 'honest-secret');

let scratch: Scratch;
let usersFile: string;
let config: string;
beforeAll(async () => {
  scratch = await Scratch.create('honest');
  usersFile = await scratch.users('users.txt', ['user-a', 'user-b', 'user-c']);
  config = await scratch.json('fast.json', { http: { ...FAST_HTTP, attempts: 1 } });
});
afterAll(async () => {
  await scratch?.dispose();
});

/** A load run from `cwd` (relative --dest values land there). */
function loadFrom(cwd: string, argv: readonly string[]) {
  return runCli(['load', '--config', config, '--quiet', ...argv], ENV, { cwd });
}

describe('a --dest that looks like a URL but is not s3://bucket[/prefix]', () => {
  it.each([
    ['s3:/paylink-lake/x', 'an S3 destination is written s3://bucket/prefix (two slashes)'],
    ['s3:paylink-lake', 'an S3 destination is written s3://bucket/prefix (two slashes)'],
    ['S3://paylink-lake/x', 'write the scheme in lowercase: s3://paylink-lake/x'],
    ['http://127.0.0.1:9/lake', "unsupported scheme 'http://' (use s3:// or a folder)"],
    ['file:///tmp/lake', 'give the folder as a path, without file://'],
  ])('%s is refused naming --dest, and no local folder is created', async (dest, problem) => {
    const cwd = scratch.path(`cwd-${dest.replace(/\W/g, '_')}`);
    await import('node:fs/promises').then((fs) => fs.mkdir(cwd));
    const run = await loadFrom(cwd, [
      '--users',
      usersFile,
      '--dest',
      dest,
      '--base-url',
      'http://127.0.0.1:9',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error: --dest: '${dest}': ${problem}`);
    expect(run.stderr).toMatch(/Nothing was committed\.\n$/);
    expect(await readdir(cwd)).toEqual([]);
  });

  it('a folder whose name starts like a URL is still reachable as ./name', async () => {
    const cwd = scratch.path('cwd-dot');
    await import('node:fs/promises').then((fs) => fs.mkdir(cwd));
    // Refused at the PayLink step (nothing listens on a blocklisted port), not at --dest.
    const run = await loadFrom(cwd, [
      '--users',
      usersFile,
      '--dest',
      './s3:lake',
      '--base-url',
      'http://127.0.0.1:9',
    ]);
    expect(run.stderr).not.toContain('--dest');
  });
});

describe('a users file that is not UTF-8', () => {
  it('is refused naming the file and the line, for load and plan', async () => {
    // "José" in Latin-1: 0xE9 is not UTF-8 (it used to load as "Jos\uFFFD").
    const latin1 = scratch.path('latin1.txt');
    await writeFile(
      latin1,
      Buffer.from([...Buffer.from('user-a\nJos'), 0xe9, 0x0a, ...Buffer.from('user-c\n')]),
    );
    const run = await loadFrom(scratch.dir, [
      '--users',
      latin1,
      '--dest',
      scratch.path('never'),
      '--base-url',
      'http://127.0.0.1:9',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: --users: ${latin1} line 2 is not valid UTF-8 (byte 0xE9): identifiers must be UTF-8; save the file as UTF-8 (not Latin-1 or Windows-1252). Nothing was committed.\n`,
    );
    expect(existsSync(scratch.path('never'))).toBe(false);

    const plan = await runCli(['plan', '--users', latin1]);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain(`--users: ${latin1} line 2 is not valid UTF-8 (byte 0xE9)`);
  });
});

describe('a users file saved in a way that is not one UTF-8 identifier per line', () => {
  async function refusedUsers(name: string, bytes: Uint8Array): Promise<{ file: string; stderr: string }> {
    const file = scratch.path(name);
    await writeFile(file, bytes);
    const run = await loadFrom(scratch.dir, [
      '--users',
      file,
      '--dest',
      scratch.path('never'),
      '--base-url',
      'http://127.0.0.1:9',
    ]);
    expect(run.code).toBe(1);
    expect(existsSync(scratch.path('never'))).toBe(false);
    return { file, stderr: run.stderr };
  }

  it('CR-only line endings (classic Mac OS) are named, with the file and how to convert it', async () => {
    const { file, stderr } = await refusedUsers('mac.txt', Buffer.from('user-a\ruser-b\ruser-c\r'));
    expect(stderr).toBe(
      `error: --users: ${file} has CR line endings (classic Mac OS), which are not supported: convert it to LF or CRLF line endings (e.g. tr '\\r' '\\n' < ${file} > users-lf.txt). Nothing was committed.\n`,
    );
    const plan = await runCli(['plan', '--users', file]);
    expect(plan.stderr).toContain(`${file} has CR line endings (classic Mac OS)`);
  });

  it.each([
    [
      'with a little-endian BOM',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('user-a\nuser-b\n', 'utf16le')]),
      'little-endian byte order mark FF FE',
    ],
    [
      'with a big-endian BOM',
      Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('user-a\n', 'utf16le').swap16()]),
      'big-endian byte order mark FE FF',
    ],
    [
      'without a BOM',
      Buffer.from('user-a\nuser-b\n', 'utf16le'),
      'every other byte is NUL: UTF-16 little-endian',
    ],
  ])('UTF-16 %s is named as UTF-16, not as Latin-1', async (_name, bytes, why) => {
    const { file, stderr } = await refusedUsers(`utf16-${why.length}.txt`, bytes);
    expect(stderr).toBe(
      `error: --users: ${file} looks like UTF-16 (${why}): identifiers must be UTF-8; save the file as UTF-8. Nothing was committed.\n`,
    );
  });

  it('identifiers with surrounding whitespace load exactly as written, with one warning line counting them', async () => {
    const file = await scratch.text('spaced.txt', 'user-a\n user-b\nuser-c \nuser-c\n\tuser-d\n');
    const run = await loadFrom(scratch.dir, [
      '--users',
      file,
      '--dest',
      scratch.path('spaced-lake'),
      '--base-url',
      'http://127.0.0.1:9',
    ]);
    expect(run.stderr.split('\n')[0]).toBe(
      `warning: 3 identifier(s) in ${file} start or end with whitespace; they are loaded exactly as written (a different user from the same identifier without it)`,
    );
    const plain = await loadFrom(scratch.dir, [
      '--users',
      usersFile,
      '--dest',
      scratch.path('plain-lake'),
      '--base-url',
      'http://127.0.0.1:9',
    ]);
    expect(plain.stderr).not.toContain('warning');
  });
});

describe('a lake that does not exist', () => {
  it.each([
    ['status', []],
    ['query', ['SELECT 1']],
    ['verify', []],
    ['clean', []],
    ['repair-schema', []],
  ])('%s refuses it, naming --dest', async (command, rest) => {
    const missing = scratch.path('no-lake-here');
    const run = await runCli([command, '--dest', missing, ...rest]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: --dest: no lake at ${missing} (the folder does not exist).\n`);
    expect(run.stdout).toBe('');
    expect(existsSync(missing)).toBe(false);
  });
});

describe('a query with a long result', () => {
  it('prints every row (no call stack overflow while measuring columns)', async () => {
    const lake = scratch.path('empty-lake');
    // A lake no load committed to yet: only its commit-point folder.
    await import('node:fs/promises').then((fs) => fs.mkdir(`${lake}/_dlt_loads`, { recursive: true }));
    const run = await runCli(['query', '--dest', lake, 'SELECT range AS n FROM range(200000)']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.endsWith('199999\n(200000 rows)\n')).toBe(true);
  });
});

describe('S3 errors name their cause, the endpoint and the region', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  });
  /** The AWS settings of a shell with no profile: only what the test sets. */
  function awsEnv(values: Record<string, string>): void {
    for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
    Object.assign(process.env, {
      AWS_CONFIG_FILE: scratch.path('no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: scratch.path('no-aws-credentials'),
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      ...values,
    });
  }

  it('a missing region says to set one', async () => {
    awsEnv({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    const run = await runCli(['status', '--dest', 's3://paylink-lake/x']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'error: --dest s3://paylink-lake/x: S3 ListObjectsV2 failed (no AWS region): set AWS_REGION, or a region in your AWS profile (key x/_dlt_loads/).\n',
    );
  });

  it('a refused connection says so, with the endpoint and the region', async () => {
    // A port that was free a moment ago: nothing listens there.
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    awsEnv({
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`,
      AWS_REGION: 'eu-west-3',
      AWS_MAX_ATTEMPTS: '1',
    });
    const run = await runCli(['status', '--dest', 's3://paylink-lake/x']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: --dest s3://paylink-lake/x: S3 ListObjectsV2 failed (ECONNREFUSED): connection refused at http://127.0.0.1:${port} (region eu-west-3) (key x/_dlt_loads/).\n`,
    );
  });
});

describe('a load that writes nothing', () => {
  it('leaves none of the lake folders it created, and keeps a folder that was there', async () => {
    const cwd = scratch.path('cwd-unreached');
    await mkdir(cwd);
    // A closed port: PayLink is unreachable, the load fails before its first batch.
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const run = await loadFrom(cwd, [
      '--users',
      usersFile,
      '--dest',
      './lakeR/nested',
      '--base-url',
      `http://127.0.0.1:${port}`,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Nothing was committed\.\n$/);
    expect(await readdir(cwd)).toEqual([]);

    await mkdir(join(cwd, 'existing'));
    await writeFile(join(cwd, 'existing', 'notes.txt'), 'mine\n');
    const again = await loadFrom(cwd, [
      '--users',
      usersFile,
      '--dest',
      './existing',
      '--base-url',
      `http://127.0.0.1:${port}`,
    ]);
    expect(again.code).toBe(1);
    expect(await readdir(join(cwd, 'existing'))).toEqual(['notes.txt']);
  });
});

describe('PayLink unreachable', () => {
  it('names the real cause for a port fetch never connects to, not "network error"', async () => {
    const run = await loadFrom(scratch.dir, [
      '--users',
      usersFile,
      '--dest',
      scratch.path('unreached'),
      '--base-url',
      'http://127.0.0.1:9',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'error: cannot reach http://127.0.0.1:9: port refused by fetch: it is on the blocklist of ports browsers and Node never connect to (use another port) (the first 3 users all failed this way). Nothing was committed.\n',
    );
  });
});

describe('system errors', () => {
  const errno = (message: string, fields: Record<string, unknown>) =>
    Object.assign(new Error(message), fields);

  it('are named with their cause and flag, never as an internal error', () => {
    expect(
      describeForUser(
        errno('listen EADDRINUSE: address already in use 127.0.0.1:8787', {
          code: 'EADDRINUSE',
          syscall: 'listen',
          address: '127.0.0.1',
          port: 8787,
        }),
        ['--port', '8787'],
      ),
    ).toBe(
      '--port: 127.0.0.1:8787 is already in use (another simulator or server?); choose another port, or 0 for any free one.',
    );
    expect(
      describeForUser(errno('ENOSPC: no space left on device, write', { code: 'ENOSPC', syscall: 'write' })),
    ).toBe('write failed (ENOSPC: no space left on the device).');
    expect(describeForUser(new TypeError('x is not a function'))).toBe(
      'internal error (TypeError): x is not a function.',
    );
    // A parser's quote of the input it failed on (a damaged file's first characters) is not shown.
    let parseError: unknown;
    try {
      JSON.parse('alice_smith ann@example.com');
    } catch (error) {
      parseError = error;
    }
    const said = describeForUser(parseError);
    expect(said).toMatch(/^internal error \(SyntaxError\): Unexpected token '…', "…".* is not valid JSON\.$/);
    expect(said).not.toMatch(/alice|ann@/);
  });
});
