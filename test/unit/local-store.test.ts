import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { parseDestination } from '#adapters/open-store.ts';
import { StoreError } from '#core/errors.ts';
import type { ObjectStore } from '#core/ports.ts';

/** Every file and folder under `dir`, relative, folders with a trailing slash. */
async function tree(dir: string): Promise<string[]> {
  const found = await readdir(dir, { recursive: true, withFileTypes: true });
  return found
    .map((entry) => {
      const relative = join(entry.parentPath, entry.name).slice(dir.length + 1);
      return entry.isDirectory() ? `${relative}/` : relative;
    })
    .sort();
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) =>
  data === undefined ? undefined : new TextDecoder().decode(data);

describe('local store', () => {
  let root: string;
  let store: ObjectStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'local-store-'));
    store = createLocalStore(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('describes itself by its absolute root', () => {
    expect(store.description).toBe(root);
  });

  it('puts and gets bytes and strings, creating folders as needed', async () => {
    await store.put('users/dt=2024-01-02/a.json', '{"a":1}');
    await store.put('bin/x', new Uint8Array([0, 255, 1]));

    expect(text(await store.get('users/dt=2024-01-02/a.json'))).toBe('{"a":1}');
    expect([...((await store.get('bin/x')) ?? [])]).toEqual([0, 255, 1]);
  });

  it('replaces an object atomically and leaves no temporary file behind', async () => {
    await store.put('_loads/1.json', 'old');
    await store.put('_loads/1.json', 'new');

    expect(text(await store.get('_loads/1.json'))).toBe('new');
    expect(await tree(root)).toEqual(['_loads/', '_loads/1.json']);
  });

  it('answers undefined for a missing key, and for a key that is a folder', async () => {
    await store.put('a/b/c', 'x');

    expect(await store.get('nope')).toBeUndefined();
    expect(await store.get('a/b')).toBeUndefined();
    expect(await store.get('a/b/c/d')).toBeUndefined();
  });

  it('shows a streamed write only after close, under a temp name that is not *.parquet', async () => {
    const writer = await store.openWrite('users/dt=2024-01-02/p.parquet');
    await writer.write(bytes('PAR1'));
    await writer.write(bytes('rest'));

    expect(await store.get('users/dt=2024-01-02/p.parquet')).toBeUndefined();
    expect(await store.list('')).toEqual([]);
    const [temp] = await readdir(join(root, 'users/dt=2024-01-02'));
    expect(temp).toMatch(/^\.p\.parquet\.tmp-[0-9a-f]{16}$/);

    await writer.close();
    expect(text(await store.get('users/dt=2024-01-02/p.parquet'))).toBe('PAR1rest');
    expect(await tree(root)).toEqual(['users/', 'users/dt=2024-01-02/', 'users/dt=2024-01-02/p.parquet']);
  });

  it('leaves nothing, not even the folder, when a streamed write is aborted', async () => {
    const writer = await store.openWrite('users/dt=2024-01-02/p.parquet');
    await writer.write(bytes('half a file'));
    await writer.abort();

    expect(await tree(root)).toEqual([]);
    await expect(writer.write(bytes('more'))).rejects.toThrow(StoreError);
  });

  it('rejects writes after close and treats a second abort as done', async () => {
    const writer = await store.openWrite('k');
    await writer.close();

    await expect(writer.write(bytes('x'))).rejects.toThrow(/write after close/);
    await expect(writer.abort()).resolves.toBeUndefined();
    expect(text(await store.get('k'))).toBe('');
  });

  it('lists keys recursively and sorted, by key prefix, ignoring temporary files', async () => {
    for (const key of ['b/2', 'a/dt=2024-01-02/x', 'a/dt=2024-01-01/y', 'a/dt=2024-01-01/z', 'ab/1', 'c']) {
      await store.put(key, key);
    }
    const pending = await store.openWrite('a/dt=2024-01-01/in-flight.parquet');
    await writeFile(join(root, 'a', '.stray.tmp-0123456789abcdef'), 'crash leftover');

    expect(await store.list('')).toEqual([
      'a/dt=2024-01-01/y',
      'a/dt=2024-01-01/z',
      'a/dt=2024-01-02/x',
      'ab/1',
      'b/2',
      'c',
    ]);
    expect(await store.list('a/')).toEqual(['a/dt=2024-01-01/y', 'a/dt=2024-01-01/z', 'a/dt=2024-01-02/x']);
    expect(await store.list('a')).toEqual([
      'a/dt=2024-01-01/y',
      'a/dt=2024-01-01/z',
      'a/dt=2024-01-02/x',
      'ab/1',
    ]);
    expect(await store.list('a/dt=2024-01-0')).toEqual([
      'a/dt=2024-01-01/y',
      'a/dt=2024-01-01/z',
      'a/dt=2024-01-02/x',
    ]);
    expect(await store.list('missing/')).toEqual([]);
    await pending.abort();
  });

  it('moves an object, overwriting the target, and prunes the emptied source folders', async () => {
    await store.put('_staging/l1/parts/users/dt=2024-01-02/p.parquet', 'staged');
    await store.put('users/dt=2024-01-02/p.parquet', 'stale');

    await store.move('_staging/l1/parts/users/dt=2024-01-02/p.parquet', 'users/dt=2024-01-02/p.parquet');

    expect(text(await store.get('users/dt=2024-01-02/p.parquet'))).toBe('staged');
    expect(await tree(root)).toEqual(['users/', 'users/dt=2024-01-02/', 'users/dt=2024-01-02/p.parquet']);
  });

  it('fails to move a missing key, or a folder, with a StoreError naming it', async () => {
    await store.put('users/dt=2024-01-02/a', 'a');

    await expect(store.move('nope/a', 'b')).rejects.toThrow(StoreError);
    await expect(store.move('nope/a', 'b')).rejects.toThrow('lake nope/a: move failed (no such key)');
    await expect(store.move('users', 'b')).rejects.toThrow('lake users: move failed (no such key)');
    expect(await store.list('')).toEqual(['users/dt=2024-01-02/a']);
  });

  it('deletes keys, ignores missing ones, and prunes empty folders but never the root', async () => {
    await store.put('users/dt=2024-01-02/a', 'a');
    await store.put('users/dt=2024-01-03/b', 'b');

    await store.delete(['users/dt=2024-01-02/a', 'users/dt=2024-01-02/never-existed', 'nope/x', 'users']);
    expect(await tree(root)).toEqual(['users/', 'users/dt=2024-01-03/', 'users/dt=2024-01-03/b']);

    await store.delete(['users/dt=2024-01-03/b']);
    expect(await tree(root)).toEqual([]);
    expect((await readdir(root)).length).toBe(0);
    await store.put('again', 'x');
    expect(text(await store.get('again'))).toBe('x');
  });

  it.each([
    ['../outside'],
    ['a/../../outside'],
    ['a/./b'],
    ['/absolute'],
    ['a//b'],
    ['trailing/'],
    ['back\\slash'],
    ['nul\u0000byte'],
    [''],
  ])('rejects the key %j with a StoreError before touching the disk', async (key) => {
    await expect(store.put(key, 'x')).rejects.toThrow(StoreError);
    await expect(store.get(key)).rejects.toThrow(StoreError);
    await expect(store.openWrite(key)).rejects.toThrow(StoreError);
    await expect(store.move('a', key)).rejects.toThrow(StoreError);
    await expect(store.delete([key])).rejects.toThrow(StoreError);
    expect(await tree(root)).toEqual([]);
  });

  it('rejects list prefixes that would climb out of the lake', async () => {
    await expect(store.list('../')).rejects.toThrow(StoreError);
    await expect(store.list('a/../..')).rejects.toThrow(StoreError);
  });

  it('writes nothing at the final key when a put cannot complete', async () => {
    await store.put('taken', 'file');
    // "taken" is a file, so "taken/x" cannot be created beneath it.
    await expect(store.put('taken/x', 'y')).rejects.toThrow(/lake taken\/x: write failed/);
    expect(await tree(root)).toEqual(['taken']);
    expect(await readFile(join(root, 'taken'), 'utf8')).toBe('file');
  });
});

describe('parseDestination', () => {
  it('reads s3:// destinations into bucket and prefix', () => {
    expect(parseDestination('s3://my-lake/paylink/raw')).toEqual({
      kind: 's3',
      bucket: 'my-lake',
      prefix: 'paylink/raw',
    });
    expect(parseDestination('s3://my-lake')).toEqual({ kind: 's3', bucket: 'my-lake', prefix: '' });
    expect(parseDestination('s3://my-lake/')).toEqual({ kind: 's3', bucket: 'my-lake', prefix: '' });
    expect(parseDestination('s3://my.lake/p/')).toEqual({ kind: 's3', bucket: 'my.lake', prefix: 'p' });
  });

  it('resolves a path as a local folder, a colon in a name included when the path says so', () => {
    expect(parseDestination('./lake', '/work')).toEqual({ kind: 'local', path: '/work/lake' });
    expect(parseDestination('/abs/lake', '/work')).toEqual({ kind: 'local', path: '/abs/lake' });
    expect(parseDestination('./s3:/b/x', '/work')).toEqual({ kind: 'local', path: '/work/s3:/b/x' });
    expect(parseDestination('./lake:2024', '/work').kind).toBe('local');
    expect(parseDestination('C:\\lake', '/work').kind).toBe('local');
  });

  it('names the flag the user typed', () => {
    expect(() => parseDestination('s3:/b/x', '/work', '--dest')).toThrow("--dest: 's3:/b/x': ");
  });

  it.each([
    ['s3://', 'bucket name must be 3 to 63 characters'],
    ['s3://ab', 'bucket name must be 3 to 63 characters'],
    ['s3://My_Bucket', 'lowercase'],
    ['s3://-lake', 'lowercase'],
    ['s3://my..lake', '".."'],
    ['s3://192.168.1.2', 'IP address'],
    ['s3://xn--lake', 'reserves'],
    ['s3://lake-s3alias', 'reserves'],
    ['s3://my-lake//p', '"//"'],
    ['s3://my-lake/p//', '"/"'],
    ['s3://my-lake/a/../b', '".."'],
    ['gs://my-lake/p', "unsupported scheme 'gs://'"],
    ['s3:/my-lake/x', 's3://bucket/prefix (two slashes)'],
    ['s3:my-lake', 's3://bucket/prefix (two slashes)'],
    ['S3://my-lake/p', 'lowercase: s3://my-lake/p'],
    ['http://example.test/lake', "unsupported scheme 'http://'"],
    ['https:/example.test', "looks like a URL ('https:')"],
    ['file:///tmp/lake', 'without file://'],
    ['  ', 'must be a folder or s3://bucket/prefix'],
  ])('rejects %j with an error naming the destination', (dest, problem) => {
    expect(() => parseDestination(dest)).toThrow(problem);
    if (dest.trim() !== '') expect(() => parseDestination(dest)).toThrow(`dest: '${dest}'`);
  });
});
