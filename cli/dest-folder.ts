/**
 * A local `--dest` is checked before a load writes anything: it must be a folder we can create
 * and write in. Without this check a destination under /proc hangs forever (Node's recursive
 * mkdir loops on the ENOENT /proc answers; measured on Node 20), and a file given as the
 * destination fails deep inside the first batch with a staging key in the message.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseDestination } from '#adapters/open-store.ts';
import { ConfigError } from '#core/errors.ts';

const code = (error: unknown) => (error as NodeJS.ErrnoException).code ?? 'error';

/**
 * Throws ConfigError(flag) unless `dest` is an s3:// destination, a folder that accepts a new
 * file, or a path whose nearest existing ancestor is a folder where a folder can be created.
 * Leaves nothing behind: its probe file and folder are removed at once (and the CLI removes the
 * folders a load created when the load wrote nothing: removeCreatedIfEmpty).
 */
export async function assertWritableDestination(dest: string, flag = '--dest'): Promise<void> {
  const destination = parseDestination(dest);
  if (destination.kind !== 'local') return;
  const folder = destination.path;
  const missing: string[] = [];
  let existing = folder;
  for (;;) {
    try {
      if (!(await stat(existing)).isDirectory()) throw new ConfigError(flag, `'${existing}' is not a folder`);
      break;
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      // ENOTDIR: a file on the way (reported when the walk reaches it).
      if ((code(error) !== 'ENOENT' && code(error) !== 'ENOTDIR') || dirname(existing) === existing)
        throw new ConfigError(flag, `cannot use '${existing}' (${code(error)})`);
      missing.unshift(existing);
      existing = dirname(existing);
    }
  }
  if (missing.length > 0) {
    // Nothing is left behind (a failed load writes nothing): the first missing level is created
    // and removed again, which proves the store's own mkdir will work there.
    const first = missing[0]!;
    try {
      await mkdir(first);
    } catch (error) {
      // Created meanwhile by another run to the same lake (which may remove its probe again):
      // a folder can be created there, which is what this check asks.
      if (code(error) === 'EEXIST') return;
      throw new ConfigError(flag, `cannot create the folder '${first}' (${code(error)})`);
    }
    await rmdir(first).catch(() => undefined);
    return;
  }
  const probe = join(folder, `.paylink-write-check-${randomBytes(6).toString('hex')}`);
  try {
    await (await open(probe, 'wx')).close();
    await unlink(probe);
  } catch (error) {
    // The folder was there at the stat and is gone at the probe: another run to the same new lake
    // created and removed it for its own check (above). A folder can be created there, which is
    // what this check asks, as when its mkdir meets EEXIST.
    if (code(error) === 'ENOENT') return;
    throw new ConfigError(flag, `cannot write in '${folder}' (${code(error)})`);
  }
}

/**
 * The folders a load to `dest` would create: the missing levels from the nearest existing
 * ancestor down to the lake folder itself, outermost first ([] for s3:// or an existing folder).
 */
export async function missingFolders(dest: string): Promise<string[]> {
  const destination = parseDestination(dest);
  if (destination.kind !== 'local') return [];
  const missing: string[] = [];
  for (let path = destination.path; ; path = dirname(path)) {
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (exists || dirname(path) === path) break;
    missing.unshift(path);
  }
  return missing;
}

/**
 * After a load that wrote nothing (PayLink unreachable, credentials refused, interrupted before
 * its first batch), removes the folders it created (`missingFolders`, taken before it ran), so a
 * failed first load leaves no empty lake behind. Only empty folders are removed, deepest first
 * (`rmdir` refuses a folder holding anything): a file any run wrote there keeps its folders.
 */
export async function removeCreatedIfEmpty(created: readonly string[]): Promise<void> {
  const top = created[0];
  if (top === undefined) return;
  const removeEmpty = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) if (entry.isDirectory()) await removeEmpty(join(dir, entry.name));
    await rmdir(dir).catch(() => undefined);
  };
  await removeEmpty(top);
}
