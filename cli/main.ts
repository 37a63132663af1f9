/**
 * The `paylink-loader` command line. Every failure prints one line naming what was wrong and
 * exits non-zero; a stack trace only with PAYLINK_DEBUG=1 (it can show internals, never secrets).
 */
import { LoaderError } from '#core/errors.ts';
import { demoCommand } from './demo-command.ts';
import type { Io } from './io.ts';
import { LOAD_USAGE, loadCommand } from './load-command.ts';
import { queryCommand } from './query-command.ts';
import { simulateCommand } from './simulate-command.ts';
import { statusCommand } from './status-command.ts';

const USAGE = `paylink-loader: load Atomic PayLink data into a partitioned Parquet lake

Commands:
  load       load every user's PayLink data into a lake (local folder or s3://)
  simulate   run the built-in PayLink simulator
  query      SQL over a local lake with DuckDB (every table is a view)
  status     loads, tables, row counts and schema version of a lake
  demo       simulator + a load of a few hundred users into ./lake + a query

Run 'paylink-loader <command> --help' for a command's options.

${LOAD_USAGE}`;

type Command = (argv: readonly string[], io: Io) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  load: loadCommand,
  simulate: simulateCommand,
  query: queryCommand,
  status: statusCommand,
  demo: demoCommand,
};

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`error: unknown command '${name}' (try --help)\n`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${name === 'load' ? LOAD_USAGE : USAGE}\n`);
    return 0;
  }
  try {
    return await command(rest, io);
  } catch (error) {
    io.stderr.write(`error: ${describeForUser(error)}\n`);
    if (io.env.PAYLINK_DEBUG === '1' && error instanceof Error && error.stack)
      io.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

/** Our errors carry safe messages; anything else is reported by kind, without internals. */
export function describeForUser(error: unknown): string {
  if (error instanceof LoaderError) return `${error.message}. Nothing was committed.`;
  if (error instanceof Error)
    return `internal error (${error.name}): ${error.message}. Nothing was committed.`;
  return 'internal error. Nothing was committed.';
}
