/**
 * The `paylink-loader` command line. Every failure prints one line naming what was wrong and
 * exits non-zero; a stack trace only with PAYLINK_DEBUG=1 (it can show internals, never secrets).
 */
import { resolve } from 'node:path';
import { parseDestination } from '#adapters/open-store.ts';
import {
  CommitIncompleteError,
  ConfigError,
  CredentialsError,
  LoaderError,
  redactQuoted,
  systemErrorWords,
} from '#core/errors.ts';
import { CLEAN_USAGE, cleanCommand } from './clean-command.ts';
import { demoCommand } from './demo-command.ts';
import { missingFolders, removeCreatedIfEmpty } from './dest-folder.ts';
import { FAILED_USAGE, failedCommand } from './failed-command.ts';
import { flagValue, messageInUserTerms, secretInUserTerms } from './flag-names.ts';
import type { Io } from './io.ts';
import { LOAD_USAGE, loadCommand } from './load-command.ts';
import { PLAN_USAGE, planCommand } from './plan-command.ts';
import { PROBE_USAGE, probeCommand } from './probe-command.ts';
import { QUERY_USAGE, queryCommand } from './query-command.ts';
import { REPAIR_SCHEMA_USAGE, repairSchemaCommand } from './repair-schema-command.ts';
import { SIMULATE_USAGE, simulateCommand } from './simulate-command.ts';
import { STATUS_USAGE, statusCommand } from './status-command.ts';
import { EXIT } from './summary.ts';
import { VERIFY_USAGE, verifyCommand } from './verify-command.ts';

import { packageVersion } from './version.ts';

import { WEBHOOKS_USAGE, webhooksCommand } from './webhooks-command.ts';

const USAGE = `paylink-loader: load Atomic PayLink data into a partitioned Parquet lake

Commands:
  load       load every user's PayLink data into a lake (local folder or s3://); --dry-run checks only
  plan       estimate a deployed run: batches, waves, duration, requests, fits the schedule?
  probe      before a first load: what PayLink answers per resource (keys and types, never values)
  simulate   run the built-in PayLink simulator
  query      read-only SQL over a local lake with DuckDB (every table is a view)
  status     loads, tables, row counts and schema version of a lake (--load-id: one load)
  failed     the users a load failed, one per line (the --users format)
  repair-schema  rebuild a lost or damaged schema registry from the committed files
  verify     check the lake against its commits; --fix removes what crashed runs left
  clean      list (and with --apply remove) what abandoned loads left, older than a threshold
  webhooks   receive Atomic webhooks on 127.0.0.1: verify, store each event once under <lake>/_events/
  demo       simulator + a load of a few hundred users into ./lake + a query

Run 'paylink-loader <command> --help' for a command's options; 'paylink-loader --version' (-V)
prints the version ({"version": "..."} with --json).`;

type Command = (argv: readonly string[], io: Io) => Promise<number>;

const COMMANDS: Record<string, { run: Command; usage: string }> = {
  load: { run: loadCommand, usage: LOAD_USAGE },
  plan: { run: planCommand, usage: PLAN_USAGE },
  probe: { run: probeCommand, usage: PROBE_USAGE },
  simulate: { run: simulateCommand, usage: SIMULATE_USAGE },
  query: { run: queryCommand, usage: QUERY_USAGE },
  status: { run: statusCommand, usage: STATUS_USAGE },
  failed: { run: failedCommand, usage: FAILED_USAGE },
  'repair-schema': { run: repairSchemaCommand, usage: REPAIR_SCHEMA_USAGE },
  verify: { run: verifyCommand, usage: VERIFY_USAGE },
  clean: { run: cleanCommand, usage: CLEAN_USAGE },
  webhooks: { run: webhooksCommand, usage: WEBHOOKS_USAGE },
  demo: {
    run: demoCommand,
    usage:
      'paylink-loader demo [--users <n>] [--dest <dir>]\n\n  Simulator + a load of n users (default 300) into ./lake + a DuckDB query.',
  },
};

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(
      rest.includes('--json')
        ? `${JSON.stringify({ version: packageVersion() })}\n`
        : `paylink-loader ${packageVersion()}\n`,
    );
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`error: unknown command '${name}' (try --help)\n`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${command.usage}\n`);
    return 0;
  }
  // A load that writes nothing must not leave the lake folders it created (an empty ./lake).
  const created = name === 'load' ? await createdByLoad(rest, io.cwd) : [];
  try {
    return await command.run(rest, io);
  } catch (error) {
    const failure = describeFailure(name, rest, error);
    io.stderr.write(`error: ${failure.message}\n`);
    if (rest.includes('--json')) io.stdout.write(`${JSON.stringify({ error: failure }, null, 2)}\n`);
    if (io.env.PAYLINK_DEBUG === '1' && error instanceof Error && error.stack)
      io.stderr.write(`${error.stack}\n`);
    return failure.exitCode;
  } finally {
    await removeCreatedIfEmpty(created);
  }
}

/** The folders `load --dest` would create, taken before it runs; [] when --dest is not a new folder. */
async function createdByLoad(argv: readonly string[], cwd: string): Promise<string[]> {
  const dest = flagValue(argv, '--dest');
  if (dest === undefined) return [];
  try {
    return await missingFolders(parseDestination(dest, cwd).kind === 'local' ? resolve(cwd, dest) : dest);
  } catch {
    return []; // An invalid --dest: the command itself says so.
  }
}

/** What a failed command tells its user: one line, and the same as a JSON object with `--json`. */
export interface CommandFailure {
  readonly command: string;
  readonly exitCode: number;
  /** Our error code (`config_invalid`, `lease_held`, `commit_incomplete`, ...) or `internal`. */
  readonly code: string;
  readonly message: string;
  /** Whether any of this run's data is visible to readers: never, when a command fails. */
  readonly committed: false;
  readonly loadId?: string;
  /** Parts under the table folders that readers do not see (a commit that stopped half-way). */
  readonly publishedParts?: number;
}

function describeFailure(command: string, argv: readonly string[], error: unknown): CommandFailure {
  const code = error instanceof LoaderError ? error.code : 'internal';
  if (error instanceof CommitIncompleteError) {
    const dest = flagValue(argv, '--dest');
    const again = `Re-run with --load-id ${error.loadId} to finish it`;
    const clean = `or remove them with 'paylink-loader verify --dest ${dest ?? '<lake>'} --fix --discard-resumable'`;
    return {
      command,
      exitCode: EXIT.commitIncomplete,
      code,
      message: `${error.message}. ${again}, ${clean}.`,
      committed: false,
      loadId: error.loadId,
      publishedParts: error.publishedParts,
    };
  }
  const writes = command === 'load' || command === 'demo';
  // The load id when the error knows it (a lease held or lost), else the one given by flag.
  const loadId =
    (error as { loadId?: unknown } | undefined)?.loadId ??
    flagValue(argv, '--load-id') ??
    flagValue(argv, '--resume');
  return {
    command,
    exitCode: EXIT.nothingCommitted,
    code: systemCode(error) === undefined ? code : 'system_error',
    message: `${namedForUser(error, argv)}${writes ? ' Nothing was committed.' : ''}`,
    committed: false,
    ...(writes && typeof loadId === 'string' ? { loadId } : {}),
  };
}

/**
 * The message in the user's words: a lake error names the `--dest` they typed, not only the
 * object key inside it (`lake _staging/1.2/plan.json: ...` becomes `--dest ./lake: ...
 * (key _staging/1.2/plan.json)`); a system error names its flag and its cause.
 */
function namedForUser(error: unknown, argv: readonly string[]): string {
  const text = describeForUser(error, argv);
  const dest = flagValue(argv, '--dest');
  const lake = /^lake (\S+): (.*)\.$/s.exec(text);
  if (dest === undefined || lake === null) return text;
  return `--dest ${dest}: ${lake[2]} (key ${objectKey(dest, lake[1]!)}).`;
}

/**
 * A store error's key is relative to the lake; on S3 the key a person finds (in the console, in
 * CloudTrail) starts with the destination's prefix: `s3://b/pre` + `_dlt_loads/` is `pre/_dlt_loads/`.
 */
function objectKey(dest: string, key: string): string {
  try {
    const destination = parseDestination(dest);
    return destination.kind === 's3' && destination.prefix !== '' ? `${destination.prefix}/${key}` : key;
  } catch {
    return key;
  }
}

/** Node's system errors (`listen EADDRINUSE`, `EACCES`): a cause outside us, not an internal error. */
function systemCode(error: unknown): string | undefined {
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  return typeof code === 'string' && typeof syscall === 'string' && /^E[A-Z0-9]+$/.test(code)
    ? code
    : undefined;
}

function describeSystemError(error: NodeJS.ErrnoException, argv: readonly string[]): string | undefined {
  const code = systemCode(error);
  if (code === undefined) return undefined;
  const { address, port } = error as { address?: string; port?: number };
  if (code === 'EADDRINUSE' || (code === 'EACCES' && error.syscall === 'listen')) {
    const where = `${address ?? '127.0.0.1'}${port === undefined ? '' : `:${port}`}`;
    const flag = flagValue(argv, '--port') === undefined ? 'the port' : '--port';
    return code === 'EADDRINUSE'
      ? `${flag}: ${where} is already in use (another simulator or server?); choose another port, or 0 for any free one.`
      : `${flag}: not allowed to listen on ${where} (EACCES: ports below 1024 need privileges); choose a port of 1024 or more.`;
  }
  const path = (error as { path?: string }).path;
  const words = systemErrorWords(code);
  return `${[error.syscall, path].filter(Boolean).join(' ')} failed (${code}${words === code ? '' : `: ${words}`}).`;
}

/**
 * Our errors carry safe messages (a setting's error names the flag or file typed: flag-names.ts);
 * anything else is reported by kind, without internals.
 */
export function describeForUser(error: unknown, argv: readonly string[] = []): string {
  if (error instanceof ConfigError) return `${messageInUserTerms(error, argv)}.`;
  if (error instanceof CredentialsError) return `${secretInUserTerms(error, argv)}.`;
  if (error instanceof LoaderError) return `${error.message}.`;
  const system = error instanceof Error ? describeSystemError(error, argv) : undefined;
  if (system !== undefined) return system;
  // Its quotes redacted: a parser's or library's message quotes the input it failed on (a
  // damaged file's first characters), and that may be data.
  if (error instanceof Error) return `internal error (${error.name}): ${redactQuoted(error.message)}.`;
  return 'internal error.';
}
