/**
 * `paylink-loader failed --dest <lake> --load-id <id>`: the users a committed load failed, one
 * identifier per line on stdout, exactly as `load --users` reads a file, so
 * `failed ... > retry.txt && load --users retry.txt ...` re-runs them (or, in one step,
 * `load --users-from-failed <id>`). With `--json`: `{"loadId", "users"}`. A user counts as failed when at least one of their
 * (user, resource) units has status `failed` in `user_loads`; units of a resource disabled for
 * the whole load (`endpoint_unavailable`) are not the user's failure and list nobody.
 */
import { openStore } from '#adapters/open-store.ts';
import { assertLoadId } from '#core/layout.ts';
import { parseFlags, required } from './args.ts';
import { existingLake } from './existing-lake.ts';
import type { Io } from './io.ts';
import { committedFailedUsers, LoadNotFoundError, reportNotFound } from './load-report.ts';

export const FAILED_USAGE = `paylink-loader failed --dest <dir|s3://bucket/prefix> --load-id <id> [--json]

  Prints the users a committed load failed, one identifier per line: the format --users reads.
  Users of a resource disabled for the whole load (endpoint_unavailable) are not listed.
  When no user failed, stdout stays empty and stderr says so (exit 0); exit 8 when the lake has
  no such load; exit 1 when the load is not committed.
  --json   {"loadId": "<id>", "users": ["...", ...]} on stdout (an empty list when none failed)
    paylink-loader failed --dest ./lake --load-id <id> > retry.txt
    paylink-loader load --users retry.txt --dest ./lake ...   (or: load --users-from-failed <id>)`;

export async function failedCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, {
    dest: { type: 'string' },
    'load-id': { type: 'string' },
    json: { type: 'boolean' },
  });
  const dest = await existingLake(io.cwd, required(values.dest, '--dest'));
  const loadId = assertLoadId(required(values['load-id'], '--load-id'));
  let users: string[];
  try {
    ({ users } = await committedFailedUsers(openStore(dest), loadId, '--load-id'));
  } catch (error) {
    if (error instanceof LoadNotFoundError) return reportNotFound(io, 'failed', error, values.json ?? false);
    throw error;
  }
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ loadId, users })}\n`);
    return 0;
  }
  if (users.length === 0) {
    io.stderr.write(`load ${loadId}: no failed users\n`);
    return 0;
  }
  // `--users` drops one leading BOM from a file: an identifier that starts with U+FEFF keeps it
  // only if the file starts with a BOM of its own.
  const bom = users[0]!.startsWith('\uFEFF') ? '\uFEFF' : '';
  io.stdout.write(`${bom}${users.join('\n')}\n`);
  return 0;
}
