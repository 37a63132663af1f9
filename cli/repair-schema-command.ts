/**
 * `paylink-loader repair-schema --dest <dir|s3://bucket/prefix>`: rebuilds the schema registry
 * (`_schema/`) from the footers of the committed Parquet files, after it was deleted or damaged.
 * Loads refuse to run on such a lake until this has run (core/lake-schema.ts).
 */
import { openStore } from '#adapters/open-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { rebuildSchemaFromFooters } from '#core/repair-schema.ts';
import { parseFlags, required } from './args.ts';
import { existingLake } from './existing-lake.ts';
import type { Io } from './io.ts';

export const REPAIR_SCHEMA_USAGE = `paylink-loader repair-schema --dest <dir|s3://bucket/prefix> [--json]

  Rebuilds the schema registry (_schema/) from the Parquet footers of the committed loads'
  files. Run it when a load stops with "the schema registry ... is missing" or "is damaged".
  Files of loads that never committed are left alone (they are invisible to readers).
  Run it while no load is running.`;

export async function repairSchemaCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, { dest: { type: 'string' }, json: { type: 'boolean' } });
  const store = openStore(await existingLake(io.cwd, required(values.dest, '--dest')));
  const result = await rebuildSchemaFromFooters(store, createParquetPartReader());
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ dest: store.description, ...result })}\n`);
    return 0;
  }
  io.stdout.write(
    `Rebuilt the schema registry of ${store.description} from ${result.files} committed file(s): ` +
      `${result.tables} tables, ${result.columns} columns, now version ${result.version}.\n`,
  );
  io.stdout.write(
    result.fieldsRestored > 0
      ? `Restored ${result.fieldsRestored} source field -> column mapping(s) from registry version(s) ${result.fieldsFrom.join(', ')}.\n`
      : 'No readable registry version was left: no source field -> column mapping could be restored.\n',
  );
  const unmapped = [...result.unmappedColumns, ...result.unmappedTables.map((t) => `table ${t}`)];
  if (unmapped.length > 0) {
    io.stdout.write(
      `Could not restore which source field ${unmapped.length} column(s)/table(s) hold: ${unmapped.slice(0, 10).join(', ')}` +
        `${unmapped.length > 10 ? `, and ${unmapped.length - 10} more` : ''}. They keep their names and types; ` +
        'the next load gives each to the field whose name normalizes to it (a renamed collision such as ' +
        'account_id_k3x9qa cannot be matched and gets a new column).\n',
    );
  }
  if (result.uncommittedFiles > 0) {
    io.stdout.write(
      `${result.uncommittedFiles} file(s) of uncommitted loads were ignored (invisible to readers).\n`,
    );
  }
  return 0;
}
