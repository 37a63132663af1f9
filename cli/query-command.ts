/** `paylink-loader query --dest <dir> "<sql>"`: DuckDB over the local lake, every table a view. */
import { ConfigError } from '#core/errors.ts';
import { existingLakeFrom, parseFlags, required } from './args.ts';
import { formatTable, openLakeQuery } from './duckdb-lake.ts';
import type { Io } from './io.ts';

export async function queryCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(
    sqlAfterSeparator(argv),
    { dest: { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  const dest = required(values.dest, '--dest');
  if (dest.startsWith('s3://')) {
    throw new ConfigError('--dest', 'query reads a local lake; query an S3 lake with Athena (see README)');
  }
  const sql = positionals.join(' ').trim();
  if (sql === '') throw new ConfigError('sql', 'give the SQL to run as the last argument');
  const lake = await openLakeQuery(existingLakeFrom(io.cwd, dest));
  for (const warning of lake.warnings) io.stderr.write(`warning: ${warning}\n`);
  try {
    const result = await lake.query(sql);
    io.stdout.write(values.json ? `${JSON.stringify(result)}\n` : `${formatTable(result)}\n`);
    return 0;
  } finally {
    lake.close();
  }
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
