/**
 * The lake in a local folder. Same contract as S3: an object is either whole at its key or
 * absent, so a crashed local run never leaves half a Parquet file where DuckDB would read it.
 *
 * Objects are written to a temporary sibling (`.<name>.tmp-<random>`, never `*.parquet`, so
 * readers globbing `*.parquet` skip it), flushed to disk, then renamed over the final key.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { link, lstat, mkdir, open, readdir, readFile, rename, rmdir, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { StoreError } from '#core/errors.ts';
import type { ObjectStore, ObjectWriter } from '#core/ports.ts';
import { assertListPrefix, assertObjectKey, compareKeys } from './object-key.ts';

const TEMP_FILE = /^\..*\.tmp-[0-9a-f]{16}$/;
/** Temp names stay well under the 255-byte file name limit whatever the key's last segment. */
const TEMP_NAME_KEEP = 64;
/** A directory pruned by a concurrent delete between our mkdir and our open: try again. */
const DIR_RACE_ATTEMPTS = 3;

const errorCode = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;

const isMissing = (error: unknown): boolean => {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
};

function failure(key: string, action: string, error: unknown): StoreError {
  return new StoreError(key, `${action} failed (${errorCode(error) ?? 'error'})`, error);
}

export function createLocalStore(rootDir: string): ObjectStore {
  const root = resolve(rootDir);

  const pathOf = (key: string): string => {
    const path = join(root, ...assertObjectKey(key).split('/'));
    // assertObjectKey already forbids `..`; this is the belt to its braces.
    if (!path.startsWith(root + sep)) throw new StoreError(key, 'invalid key (outside the lake)');
    return path;
  };

  const tempPathFor = (path: string): string => {
    const name = path.slice(dirname(path).length + 1).slice(0, TEMP_NAME_KEEP);
    return join(dirname(path), `.${name}.tmp-${randomBytes(8).toString('hex')}`);
  };

  /** Runs `action` after creating `dir`, again if a concurrent prune removed `dir` meanwhile. */
  async function inDirectory<T>(dir: string, action: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      await mkdir(dir, { recursive: true });
      try {
        return await action();
      } catch (error) {
        if (errorCode(error) !== 'ENOENT' || attempt >= DIR_RACE_ATTEMPTS) throw error;
      }
    }
  }

  /** Removes now-empty folders from `dir` up to (never including) the root. */
  async function pruneFrom(dir: string): Promise<void> {
    for (let current = dir; current.startsWith(root + sep); current = dirname(current)) {
      try {
        await rmdir(current);
      } catch (error) {
        // Not empty (or in use): everything above is not empty either.
        if (errorCode(error) !== 'ENOENT') return;
      }
    }
  }

  async function discard(temp: string, handle: FileHandle | undefined): Promise<void> {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
  }

  /**
   * Writes the whole object to a temp file beside its final path and flushes it, then hands
   * the temp file to `publish` (rename or link). After a crash the final key holds the whole
   * object or nothing new; the temp file is always removed.
   */
  async function writeThen<T>(
    key: string,
    body: Uint8Array | string,
    publish: (temp: string, path: string) => Promise<T>,
  ): Promise<T> {
    const path = pathOf(key);
    const temp = tempPathFor(path);
    let handle: FileHandle | undefined;
    try {
      handle = await inDirectory(dirname(path), () => open(temp, 'wx'));
      await handle.writeFile(body);
      await handle.sync();
      await handle.close();
      handle = undefined;
      return await publish(temp, path);
    } finally {
      await discard(temp, handle);
    }
  }

  async function put(key: string, body: Uint8Array | string): Promise<void> {
    try {
      await writeThen(key, body, (temp, path) => rename(temp, path));
    } catch (error) {
      throw failure(key, 'write', error);
    }
  }

  /** link() fails on an existing name, atomically: a create-only write with whole content. */
  async function putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean> {
    try {
      return await writeThen(key, body, async (temp, path) => {
        try {
          await link(temp, path);
          return true;
        } catch (error) {
          if (errorCode(error) === 'EEXIST') return false;
          throw error;
        }
      });
    } catch (error) {
      throw failure(key, 'write', error);
    }
  }

  async function get(key: string): Promise<Uint8Array | undefined> {
    const path = pathOf(key);
    try {
      return new Uint8Array(await readFile(path));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw failure(key, 'read', error);
    }
  }

  /**
   * Visits the files under `prefix` (keys starting with it), temporary ones (`temp`) or the
   * others, descending only where such keys can be.
   */
  async function walkFiles(
    prefix: string,
    temp: boolean,
    visit: (key: string, dir: string, name: string) => Promise<void>,
  ): Promise<void> {
    assertListPrefix(prefix);
    const startKey = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const relevant = (dirKey: string) => prefix.startsWith(`${dirKey}/`) || `${dirKey}/`.startsWith(prefix);
    const walk = async (dirKey: string): Promise<void> => {
      const dir = dirKey === '' ? root : join(root, ...dirKey.split('/'));
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return;
        throw failure(prefix, 'list', error);
      }
      for (const entry of entries) {
        const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
        if (entry.isDirectory()) {
          if (relevant(key)) await walk(key);
        } else if (entry.isFile() && TEMP_FILE.test(entry.name) === temp && key.startsWith(prefix)) {
          await visit(key, dir, entry.name);
        }
      }
    };
    await walk(startKey);
  }

  async function list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    await walkFiles(prefix, false, async (key) => {
      keys.push(key);
    });
    return keys.sort(compareKeys);
  }

  async function remove(keys: readonly string[]): Promise<void> {
    const paths = keys.map((key) => [key, pathOf(key)] as const);
    for (const [key, path] of paths) {
      try {
        await unlink(path);
      } catch (error) {
        // A folder is not an object either: on S3 that key would simply not exist.
        if (isMissing(error)) continue;
        throw failure(key, 'delete', error);
      }
      await pruneFrom(dirname(path));
    }
  }

  async function move(from: string, to: string): Promise<void> {
    const source = pathOf(from);
    const target = pathOf(to);
    // rename() would happily move a whole folder; S3 has no such thing, so neither do we.
    if (!(await lstat(source).catch(() => undefined))?.isFile()) {
      throw new StoreError(from, 'move failed (no such key)');
    }
    try {
      await inDirectory(dirname(target), () => rename(source, target));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') throw new StoreError(from, 'move failed (no such key)', error);
      throw failure(from, `move to ${to}`, error);
    }
    if (dirname(source) !== dirname(target)) await pruneFrom(dirname(source));
  }

  async function openWrite(key: string): Promise<ObjectWriter> {
    const path = pathOf(key);
    const temp = tempPathFor(path);
    let handle: FileHandle;
    try {
      handle = await inDirectory(dirname(path), () => open(temp, 'wx'));
    } catch (error) {
      throw failure(key, 'open for write', error);
    }
    return streamedWrite({ key, path, temp, handle, discard, pruneFrom });
  }

  /** The temporary files under `prefix` (a commit's staging): no write of them can still finish. */
  async function discardUnfinished(prefix: string): Promise<void> {
    await walkFiles(prefix, true, async (key, dir, name) => {
      await unlink(join(dir, name)).catch((error: unknown) => {
        if (!isMissing(error)) throw failure(key, 'delete', error);
      });
      await pruneFrom(dir);
    });
  }

  return {
    description: root,
    put,
    putIfAbsent,
    get,
    list,
    delete: remove,
    move,
    openWrite,
    discardUnfinished,
  };
}

function streamedWrite(w: {
  key: string;
  path: string;
  temp: string;
  handle: FileHandle;
  discard: (temp: string, handle: FileHandle | undefined) => Promise<void>;
  pruneFrom: (dir: string) => Promise<void>;
}): ObjectWriter {
  let state: 'open' | 'closed' | 'aborted' = 'open';

  const assertOpen = () => {
    if (state !== 'open')
      throw new StoreError(w.key, `write after ${state === 'closed' ? 'close' : 'abort'}`);
  };

  const abortAfter = async (action: string, error: unknown): Promise<never> => {
    state = 'aborted';
    await w.discard(w.temp, w.handle);
    await w.pruneFrom(dirname(w.path));
    throw failure(w.key, action, error);
  };

  return {
    async write(chunk) {
      assertOpen();
      try {
        for (let offset = 0; offset < chunk.byteLength; ) {
          const { bytesWritten } = await w.handle.write(chunk, offset, chunk.byteLength - offset);
          offset += bytesWritten;
        }
      } catch (error) {
        await abortAfter('write', error);
      }
    },
    async close() {
      assertOpen();
      state = 'closed';
      try {
        await w.handle.sync();
        await w.handle.close();
        await rename(w.temp, w.path);
      } catch (error) {
        await abortAfter('close', error);
      }
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      await w.discard(w.temp, w.handle);
      await w.pruneFrom(dirname(w.path));
    },
  };
}

/**
 * The temporary files (`.<name>.tmp-<hex>`) that writes killed mid-way left in a local lake,
 * as keys relative to the root, with their last change: what `verify` reports and `--fix` removes.
 */
export async function listUnfinishedWrites(rootDir: string): Promise<{ key: string; modifiedAt: Date }[]> {
  const root = resolve(rootDir);
  const out: { key: string; modifiedAt: Date }[] = [];
  const walk = async (dirKey: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dirKey === '' ? root : join(root, ...dirKey.split('/')), {
        withFileTypes: true,
      });
    } catch (error) {
      if (isMissing(error)) return;
      throw failure(dirKey, 'list', error);
    }
    for (const entry of entries) {
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory()) await walk(key);
      else if (entry.isFile() && TEMP_FILE.test(entry.name)) {
        const stats = await lstat(join(root, ...key.split('/'))).catch(() => undefined);
        if (stats) out.push({ key, modifiedAt: stats.mtime });
      }
    }
  };
  await walk('');
  return out.sort((a, b) => compareKeys(a.key, b.key));
}

/** Removes temporary files listed by `listUnfinishedWrites` (only names of that shape). */
export async function removeUnfinishedWrites(rootDir: string, keys: readonly string[]): Promise<void> {
  const root = resolve(rootDir);
  for (const key of keys) {
    const path = join(root, ...key.split('/'));
    if (!path.startsWith(root + sep) || !TEMP_FILE.test(path.slice(dirname(path).length + 1))) {
      throw new StoreError(key, 'not a temporary file of this lake');
    }
    await unlink(path).catch((error: unknown) => {
      if (!isMissing(error)) throw failure(key, 'delete', error);
    });
  }
}
