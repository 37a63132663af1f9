/**
 * `paylink-loader query --dest <dir> "<sql>"`: DuckDB over the local lake, every table a view.
 * Read-only (duckdb-lake.ts `readOnly` and `queryStatements`): a statement that is not a query
 * refuses the whole SQL before anything runs. Every statement runs, and each result is printed
 * in order.
 */
import { ConfigError } from '#core/errors.ts';
import { parseFlags, required } from './args.ts';
import { type LakeQueryResult, openLakeQuery } from './duckdb-lake.ts';
import { existingLake } from './existing-lake.ts';
import type { Io } from './io.ts';
import { readText } from './load-command.ts';
import { formatResult, QUERY_FORMATS, type QueryFormat, TABLE_CELL_WIDTH } from './query-format.ts';

export const QUERY_USAGE = `paylink-loader query --dest <dir> [options] ["<sql>" | -]

  Every table of the lake is a view by its name (DuckDB SQL): history (accounts, user_loads,
  _dlt_loads, ...), current state (current.accounts, ...) and raw files (raw.accounts).
  Read-only: only queries run (SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN); COPY,
  CREATE, INSERT, ATTACH, INSTALL, SET ... refuse the whole SQL, and no file outside the lake
  can be read or written. Every statement runs; each result is printed in order.

  --file <path>           read the SQL from a file
  -                       read the SQL from stdin (also when no SQL is given and stdin is not
                          a terminal: echo "SELECT 1" | paylink-loader query --dest ./lake)
  --wide                  whole values in the table (by default cut at ${TABLE_CELL_WIDTH} characters)
  --format <f>            table (default); csv: RFC 4180 (CRLF line ends, quoted where needed,
                          NULL as an empty field, "" for an empty string), a blank line between
                          statements; json: JSON lines, one object per row, whole values
  --json                  one {"columns": [...], "rows": [[...]]} object per statement, one a line`;

export async function queryCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(
    sqlAfterSeparator(argv),
    {
      dest: { type: 'string' },
      json: { type: 'boolean' },
      wide: { type: 'boolean' },
      format: { type: 'string' },
      file: { type: 'string' },
    },
    true,
  );
  const dest = required(values.dest, '--dest');
  if (dest.startsWith('s3://')) {
    throw new ConfigError('--dest', 'query reads a local lake; query an S3 lake with Athena (see README)');
  }
  const format = parseFormat(values.format, values.json ?? false);
  const sql = await sqlOf(positionals, values.file, io);
  const lake = await openLakeQuery(await existingLake(io.cwd, dest), { readOnly: true });
  for (const warning of lake.warnings) io.stderr.write(`warning: ${warning}\n`);
  let results: LakeQueryResult[];
  try {
    results = await lake.queryStatements(sql);
  } finally {
    lake.close();
  }
  const { text, cut } = formatResult(results, format, values.wide ?? false);
  io.stdout.write(text);
  if (cut)
    io.stderr.write(
      `(values longer than ${TABLE_CELL_WIDTH} characters were cut: --wide, or --format csv|json, shows them whole)\n`,
    );
  return 0;
}

function parseFormat(raw: string | undefined, json: boolean): QueryFormat | 'legacy-json' {
  if (json) {
    if (raw !== undefined) throw new ConfigError('--json', 'give --json or --format, not both');
    return 'legacy-json';
  }
  if (raw === undefined) return 'table';
  if (!(QUERY_FORMATS as readonly string[]).includes(raw))
    throw new ConfigError('--format', `must be one of ${QUERY_FORMATS.join(', ')} (got '${raw}')`);
  return raw as QueryFormat;
}

/** The SQL: the argument, `--file`, or stdin (`-`, or no argument and stdin is not a terminal). */
async function sqlOf(positionals: readonly string[], file: string | undefined, io: Io): Promise<string> {
  const fromStdin = positionals.length === 1 && positionals[0] === '-';
  const argument = fromStdin ? '' : positionals.join(' ').trim();
  const sources = [argument !== '', file !== undefined, fromStdin].filter(Boolean).length;
  if (sources > 1)
    throw new ConfigError('sql', 'give the SQL once: as an argument, with --file, or on stdin (-)');
  let sql = argument;
  if (file !== undefined) sql = await readText(io.cwd, file, '--file');
  else if (fromStdin || (argument === '' && io.stdin !== undefined && io.stdin.isTTY !== true)) {
    if (io.stdin === undefined) throw new ConfigError('sql', 'no stdin to read the SQL from');
    sql = await readAll(io.stdin);
  }
  if (sql.trim() === '')
    throw new ConfigError('sql', 'give the SQL to run as the last argument, with --file, or on stdin');
  return sql;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * SQL that starts with a comment (`-- name: ...`, as the README's examples do) looks like a flag
 * to the argument parser. An argument starting with `-` that holds whitespace is never a flag:
 * pass it after `--`, where the parser takes it as the SQL.
 */
function sqlAfterSeparator(argv: readonly string[]): string[] {
  const sql = argv.filter((a) => a.startsWith('-') && /\s/.test(a));
  if (sql.length === 0) return [...argv];
  return [...argv.filter((a) => !sql.includes(a)), ...(argv.includes('--') ? [] : ['--']), ...sql];
}
