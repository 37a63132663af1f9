/**
 * A local `--dest` is checked before a load writes anything: it must be a folder we can create
 * and write in. Without this check a destination under /proc hangs forever (Node's recursive
 * mkdir loops on the ENOENT /proc answers; measured on Node 20), and a file given as the
 * destination fails deep inside the first batch with a staging key in the message.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseDestination } from '#adapters/open-store.ts';
import { ConfigError } from '#core/errors.ts';

const code = (error: unknown) => (error as NodeJS.ErrnoException).code ?? 'error';

/**
 * Throws ConfigError(flag) unless `dest` is an s3:// destination or a local folder that exists
 * (or can be created, one level at a time, never recursively) and accepts a new file.
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
  for (const path of missing) {
    try {
      await mkdir(path);
    } catch (error) {
      if (code(error) !== 'EEXIST')
        throw new ConfigError(flag, `cannot create the folder '${path}' (${code(error)})`);
    }
  }
  const probe = join(folder, `.paylink-write-check-${randomBytes(6).toString('hex')}`);
  try {
    await (await open(probe, 'wx')).close();
    await unlink(probe);
  } catch (error) {
    throw new ConfigError(flag, `cannot write in '${folder}' (${code(error)})`);
  }
}
