/**
 * A `--dest` that must already be a lake (status, query, verify, clean, failed, repair-schema).
 * A lake is a folder or S3 prefix holding at least one of the lake's own top-level entries
 * (core/layout.ts and core/webhook.ts). Anything else is refused: a typo, an empty prefix or a
 * folder of other files used to read as an empty, "clean" lake, and `repair-schema` wrote a
 * schema registry into it.
 */
import { readdir, stat } from 'node:fs/promises';
import { openStore, parseDestination } from '#adapters/open-store.ts';
import { ConfigError } from '#core/errors.ts';
import { dltLoadsPrefix, leasesPrefix, loadsPrefix } from '#core/layout.ts';
import { WEBHOOK } from '#core/webhook.ts';

/**
 * The lake's own top-level folders, in the order S3 is asked about them: the commit points
 * first (every committed lake has them, and the list is small), the webhook events last (a
 * lake that only receives events has nothing else, and that list can be long).
 */
export const LAKE_ENTRIES = [
  dltLoadsPrefix,
  '_schema/',
  loadsPrefix,
  '_staging/',
  leasesPrefix,
  '_state/',
  WEBHOOK.eventsPrefix,
] as const;

const ENTRY_NAMES = new Set(LAKE_ENTRIES.map((e) => e.slice(0, -1)));

/** How many names of what a folder holds an error shows. */
const SHOWN = 3;

/**
 * The destination's path (local folders resolved against `cwd`) or `s3://...` as typed, once it
 * is known to be a lake. Throws ConfigError(flag) naming what was found instead: no folder, a
 * file, a folder without lake entries (with a few of its names), an S3 prefix without any.
 * Store errors (S3 unreachable, no region) propagate as they are.
 */
export async function existingLake(cwd: string, dest: string, flag = '--dest'): Promise<string> {
  const destination = parseDestination(dest, cwd, flag);
  if (destination.kind === 'local') {
    const path = destination.path;
    const kind = await stat(path).then(
      (s) => (s.isDirectory() ? 'folder' : 'file'),
      (error: NodeJS.ErrnoException) =>
        error.code === 'ENOENT' || error.code === 'ENOTDIR' ? 'none' : error,
    );
    if (kind === 'none') throw new ConfigError(flag, `no lake at ${path} (the folder does not exist)`);
    if (kind === 'file') throw new ConfigError(flag, `no lake at ${path} (it is a file, not a folder)`);
    if (kind instanceof Error) throw kind;
    const names = (await readdir(path, { withFileTypes: true })).map((e) => ({
      name: e.name,
      lake: e.isDirectory() && ENTRY_NAMES.has(e.name),
    }));
    if (names.some((n) => n.lake)) return path;
    throw new ConfigError(flag, `no lake at ${path} (${folderContents(names.map((n) => n.name))})`);
  }
  const store = openStore(dest);
  for (const entry of LAKE_ENTRIES) if ((await store.list(entry)).length > 0) return dest;
  throw new ConfigError(
    flag,
    `no lake at ${store.description} (nothing under ${LAKE_ENTRIES.join(', ')}: an empty or mistyped prefix?)`,
  );
}

function folderContents(names: readonly string[]): string {
  const none = `none of the lake's entries ${LAKE_ENTRIES.join(', ')}`;
  if (names.length === 0) return `the folder is empty: ${none}`;
  const shown = [...names].sort().slice(0, SHOWN).join(', ');
  const more = names.length > SHOWN ? `, and ${names.length - SHOWN} more` : '';
  return `the folder holds ${names.length} entr${names.length === 1 ? 'y' : 'ies'}: ${shown}${more}; ${none}`;
}
