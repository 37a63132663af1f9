/**
 * DuckDB over a local lake, with the lake's documented reading layers (core/lake-views.ts):
 * - `raw."<table>"`: the Parquet files as they are, read the way Athena reads a table location
 *   (hive `dt=` partitions, columns matched by name across parts). Shows whatever a crashed
 *   load left behind: not a documented reading path;
 * - `"<table>"` (history): rows of committed loads only, i.e. loads with a `_dlt_loads` row;
 * - `current."<table>"`: each user's rows from their latest committed load in which the
 *   resource succeeded.
 * Columns come from the schema registry (`_schema`), as Glue's do in Athena, so a column or a
 * table the registry knows but no file holds yet reads as NULLs / no rows instead of failing to
 * bind. Staging and metadata folders (`_loads`, `_staging`, ...) are never tables.
 */

import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  DuckDBArrayValue,
  type DuckDBConnection,
  DuckDBDateValue,
  DuckDBInstance,
  DuckDBListValue,
  type DuckDBPreparedStatement,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBValue,
  StatementType,
} from '@duckdb/node-api';
import { createLocalStore } from '#adapters/local-store.ts';
import { LAKE } from '#core/constants.ts';
import { ConfigError, LakeStateError } from '#core/errors.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import {
  currentViewSql,
  DLT_LOADS_COLUMNS,
  DUCKDB_TYPES,
  historyViewSql,
  isPartitioned,
  quoteIdentifier,
  rootTableOf,
} from '#core/lake-views.ts';
import { PARTITION_COLUMN } from '#core/layout.ts';
import { USER_LOADS_COLUMNS } from '#core/load-user.ts';
import type { SchemaRegistry } from '#core/schema-registry.ts';
import type { ColumnDef } from '#core/types.ts';
import { displayWidth, padDisplay } from './text-width.ts';

/** Printable and JSON-safe: bigints as numbers (strings beyond 2^53), timestamps as ISO strings. */
export interface LakeQueryResult {
  readonly columns: string[];
  readonly rows: unknown[][];
}

/** DuckDB's own values, lossless (BIGINT as bigint, TIMESTAMP as DuckDBTimestampValue, ...). */
export interface RawLakeQueryResult {
  readonly columns: string[];
  readonly columnTypes: string[];
  readonly rows: DuckDBValue[][];
}

export interface LakeQuery {
  query(sql: string): Promise<LakeQueryResult>;
  queryRaw(sql: string): Promise<RawLakeQueryResult>;
  /**
   * Every statement of `sql`, in order, each result in order. Read-only: every statement is
   * prepared (parsed and bound by DuckDB) before any runs, and unless each is a query
   * (SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, SUMMARIZE, PRAGMA show_*, EXPLAIN) none runs
   * (ConfigError naming the statement and its kind). With `readOnly` (openLakeQuery) DuckDB
   * itself also refuses any file outside the lake folder.
   */
  queryStatements(sql: string): Promise<LakeQueryResult[]>;
  /**
   * Names of the data tables (history views; the same names exist in `current` and `raw`),
   * sorted. `_dlt_loads` is queryable too but not listed: it describes loads, not PayLink data.
   */
  tables(): string[];
  /** Problems found while opening (a damaged schema registry): the views fall back to file columns. */
  readonly warnings: readonly string[];
  close(): void;
}

/** Schema of the raw file views; the history views are in DuckDB's default schema. */
export const RAW_SCHEMA = 'raw';
/** Schema of the current-state views (`<database>_current` in Athena). */
export const CURRENT_SCHEMA = 'current';

const quoteString = (text: string) => `'${text.replaceAll("'", "''")}'`;
/** DuckDB has no escape for glob characters: a folder whose path has them is read file by file. */
const GLOB_CHARACTERS = /[*?[\]{}]/;
const PARTITION_FOLDER = `${PARTITION_COLUMN}=`;

const isMissing = (error: unknown) =>
  typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';

async function entries(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

/** The part files of a table folder: `dt=*` / `*.parquet`, or `*.parquet` for `_dlt_loads`. */
async function partFiles(tableDir: string, partitioned: boolean): Promise<string[]> {
  const files: string[] = [];
  const parquetIn = async (dir: string) => {
    for (const file of await entries(dir)) {
      if (file.isFile() && file.name.endsWith('.parquet')) files.push(join(dir, file.name));
    }
  };
  if (!partitioned) await parquetIn(tableDir);
  else {
    for (const partition of await entries(tableDir)) {
      if (partition.isDirectory() && partition.name.startsWith(PARTITION_FOLDER))
        await parquetIn(join(tableDir, partition.name));
    }
  }
  return files.sort();
}

/**
 * Every table (raw views are created for all; history and current views for the loader's): the registry's, plus table folders with parts the registry does not know (a
 * damaged registry must not hide data), plus `_dlt_loads`. Values: the table's part files.
 */
async function findTables(
  lakeDir: string,
  registry: SchemaRegistry | undefined,
): Promise<Map<string, string[]>> {
  const names = new Set<string>(registry?.tables() ?? []);
  for (const name of BUILT_IN_TABLES.keys()) names.add(name);
  for (const entry of await entries(lakeDir)) {
    if (entry.isDirectory() && !entry.name.startsWith('_') && !entry.name.startsWith('.'))
      names.add(entry.name);
  }
  const tables = new Map<string, string[]>();
  for (const name of [...names].sort()) {
    const files = await partFiles(join(lakeDir, name), isPartitioned(name));
    if (files.length > 0 || registry?.hasTable(name) || BUILT_IN_TABLES.has(name)) tables.set(name, files);
  }
  return tables;
}

function parquetSource(tableDir: string, files: readonly string[], partitioned: boolean): string {
  // The glob is re-read at every query, so parts committed after opening are seen too.
  const glob = partitioned ? `${tableDir}/${PARTITION_FOLDER}*/*.parquet` : `${tableDir}/*.parquet`;
  const source = GLOB_CHARACTERS.test(tableDir)
    ? `[${files.map(quoteString).join(', ')}]`
    : quoteString(glob);
  // hive_types: without it DuckDB turns dt=2024-01-02 into a DATE; Athena's projection uses a string.
  const hive = partitioned
    ? `hive_partitioning = true, hive_types = {${quoteString(PARTITION_COLUMN)}: 'VARCHAR'}`
    : 'hive_partitioning = false';
  return `read_parquet(${source}, ${hive}, union_by_name = true)`;
}

/** Registry columns first (typed NULL where no file has one yet), then columns only files have. */
function rawColumns(
  table: string,
  registry: SchemaRegistry | undefined,
  fileColumns: readonly string[],
): { columns: ColumnDef[]; select: string[] } {
  const inFiles = new Set(fileColumns);
  const known = registry?.hasTable(table) ? registry.columns(table) : (BUILT_IN_TABLES.get(table) ?? []);
  const columns: ColumnDef[] = [];
  const select: string[] = [];
  const seen = new Set<string>([PARTITION_COLUMN]);
  for (const column of known) {
    if (seen.has(column.name)) continue;
    seen.add(column.name);
    columns.push(column);
    const name = quoteIdentifier(column.name);
    select.push(inFiles.has(column.name) ? name : `CAST(NULL AS ${DUCKDB_TYPES[column.type]}) AS ${name}`);
  }
  for (const name of fileColumns) {
    if (seen.has(name)) continue;
    seen.add(name);
    // Not in the registry: typed as DuckDB reads it; the name is enough for the views.
    columns.push({ name, type: 'text' });
    select.push(quoteIdentifier(name));
  }
  return { columns, select };
}

/** Tables every lake has, even before its first commit: the views of the others refer to them. */
const BUILT_IN_TABLES: ReadonlyMap<string, readonly ColumnDef[]> = new Map([
  [LAKE.loadsTable, DLT_LOADS_COLUMNS],
  [LAKE.userLoadsTable, USER_LOADS_COLUMNS],
]);

async function createViews(
  connection: DuckDBConnection,
  root: string,
  tables: ReadonlyMap<string, string[]>,
  registry: SchemaRegistry | undefined,
): Promise<string[]> {
  await connection.run(`CREATE SCHEMA ${RAW_SCHEMA}`);
  await connection.run(`CREATE SCHEMA ${CURRENT_SCHEMA}`);
  const columnsOf = new Map<string, ColumnDef[]>();
  // Raw views first: history and current views read `_dlt_loads` and `user_loads` through them.
  for (const [table, files] of tables) {
    const partitioned = isPartitioned(table);
    try {
      let fileColumns: string[] = [];
      let source: string | undefined;
      if (files.length > 0) {
        source = parquetSource(join(root, table), files, partitioned);
        const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
        fileColumns = described.getRows().map((row) => String(row[0]));
      }
      const { columns, select } = rawColumns(table, registry, fileColumns);
      if (partitioned) {
        const dt = quoteIdentifier(PARTITION_COLUMN);
        select.push(source === undefined ? `CAST(NULL AS VARCHAR) AS ${dt}` : dt);
      }
      const body =
        source === undefined
          ? `SELECT ${select.join(', ')} WHERE false`
          : `SELECT ${select.join(', ')} FROM ${source}`;
      await connection.run(`CREATE VIEW ${RAW_SCHEMA}.${quoteIdentifier(table)} AS ${body}`);
      columnsOf.set(table, columns);
    } catch (error) {
      // DuckDB's first line names the file; the rest shows our own DESCRIBE ... read_parquet SQL.
      const first = messageOf(error).split('\n')[0]!.trim();
      throw new LakeStateError(
        `table ${table}: DuckDB cannot read its Parquet parts (${first}); ` +
          `'paylink-loader verify --dest ${root}' checks every part of the lake`,
        error,
      );
    }
  }
  const names = { rawSchema: RAW_SCHEMA };
  const skipped: string[] = [];
  for (const [table, columns] of columnsOf) {
    const quoted = quoteIdentifier(table);
    const has = new Set(columns.map((c) => c.name));
    // A folder the loader did not write: no load id to check commits against, so raw only.
    if (table !== LAKE.loadsTable && !(has.has(LAKE.loadIdColumn) && has.has(LAKE.userColumn))) {
      skipped.push(table);
      continue;
    }
    await connection.run(`CREATE VIEW ${quoted} AS ${historyViewSql(names, table, columns)}`);
    const current = currentViewSql(names, table, columns, registry?.fanOutParent(rootTableOf(table)));
    if (current !== undefined) await connection.run(`CREATE VIEW ${CURRENT_SCHEMA}.${quoted} AS ${current}`);
  }
  return skipped;
}

export interface OpenLakeOptions {
  /**
   * Lock the connection once the views exist (`query` uses it): DuckDB's own file-system guard
   * (`enable_external_access = false`, files allowed only under the lake folder, which the
   * views read) and `lock_configuration`, so no SQL can lift it. A write anywhere else
   * (`COPY ... TO '/tmp/x.csv'`, ATTACH, INSTALL/LOAD) fails in DuckDB; a write into the lake
   * folder itself is refused by `queryStatements`' statement kinds.
   */
  readonly readOnly?: boolean;
}

/** Statement kinds that only read: what `queryStatements` runs. */
const READING_STATEMENTS: ReadonlySet<StatementType> = new Set([StatementType.SELECT, StatementType.EXPLAIN]);

/** The words a reading statement starts with (DuckDB SQL); `(` opens a parenthesized query. */
const READING_WORDS = new Set([
  'SELECT',
  'WITH',
  'FROM',
  'VALUES',
  'TABLE',
  'SHOW',
  'DESCRIBE',
  'DESC',
  'SUMMARIZE',
  'EXPLAIN',
  'PIVOT',
  'UNPIVOT',
  '(',
]);

const READ_ONLY =
  'query is read-only (SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN); nothing was run';

/**
 * The first word of each statement of `sql` (upper case), skipping comments and quoted text:
 * what a person calls the statement (`INSTALL`, which DuckDB types as LOAD; `INSERT`, which
 * fails to bind against a view before its type is known). Empty statements are left out, so an
 * SQL text of only comments gives []. Only a guide for messages: DuckDB decides what runs.
 */
export function leadingWords(sql: string): string[] {
  const words: string[] = [];
  let current: string | undefined;
  let i = 0;
  const at = (s: string) => sql.startsWith(s, i);
  while (i < sql.length) {
    if (at('--')) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (at('/*')) {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else if (sql[i] === ';') {
      if (current !== undefined) words.push(current);
      current = undefined;
      i++;
    } else if (/\s/.test(sql[i]!)) i++;
    else {
      if (current === undefined) current = /^[A-Za-z_]+/.exec(sql.slice(i))?.[0]?.toUpperCase() ?? sql[i]!;
      const quote = sql[i] === "'" || sql[i] === '"' ? sql[i]! : undefined;
      if (quote === undefined) i++;
      else {
        // Quoted text ends at the next unpaired quote ('' and "" are escapes inside).
        i++;
        while (i < sql.length && !(sql[i] === quote && sql[i + 1] !== quote)) i += sql[i] === quote ? 2 : 1;
        i++;
      }
    }
  }
  if (current !== undefined) words.push(current);
  return words;
}

const statementKind = (type: StatementType) =>
  (Object.entries(StatementType).find(([, value]) => value === type)?.[0] ?? `type ${type}`).replaceAll(
    '_',
    ' ',
  );

export async function openLakeQuery(lakeDir: string, options: OpenLakeOptions = {}): Promise<LakeQuery> {
  const root = resolve(lakeDir);
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw new ConfigError('dest', `no lake folder at ${root}`);

  const warnings: string[] = [];
  let registry: SchemaRegistry | undefined;
  try {
    registry = await readCommittedSchema(createLocalStore(root));
  } catch (error) {
    if (!(error instanceof LakeStateError)) throw error;
    warnings.push(error.message);
  }
  const tables = await findTables(root, registry);
  const instance = await DuckDBInstance.create(':memory:');
  let connection: DuckDBConnection | undefined;
  try {
    connection = await instance.connect();
    for (const table of await createViews(connection, root, tables, registry)) {
      warnings.push(
        `folder ${table} has no ${LAKE.loadIdColumn} or ${LAKE.userColumn} column (not written by the loader?): ` +
          `readable as ${RAW_SCHEMA}.${quoteIdentifier(table)} only`,
      );
      tables.delete(table);
    }
    if (options.readOnly) {
      // After the views: they were built with file access on. DuckDB checks these at bind time.
      await connection.run(`SET allowed_directories = [${quoteString(`${root}/`)}]`);
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
    }
  } catch (error) {
    connection?.closeSync();
    instance.closeSync();
    throw error;
  }
  const open = connection;

  const queryRaw = async (sql: string): Promise<RawLakeQueryResult> => {
    try {
      const reader = await open.runAndReadAll(sql);
      return {
        columns: reader.columnNames(),
        columnTypes: reader.columnTypes().map((type) => type.toString()),
        rows: reader.getRows(),
      };
    } catch (error) {
      // The user's own SQL against their own lake: DuckDB's message is the useful part.
      throw new ConfigError('sql', messageOf(error), error);
    }
  };

  const queryStatements = async (sql: string): Promise<LakeQueryResult[]> => {
    // DuckDB answers SQL without a statement with "Error in native callback".
    const words = leadingWords(sql);
    if (words.length === 0)
      throw new ConfigError('sql', 'no statement was given (the SQL holds only comments)');
    let prepared: DuckDBPreparedStatement[];
    try {
      const extracted = await open.extractStatements(sql);
      prepared = [];
      // The words name the statements only when they split the SQL as DuckDB did.
      const wordOf = (i: number) => (words.length === extracted.count ? words[i] : undefined);
      const which = (i: number) => (extracted.count > 1 ? `statement ${i + 1}` : 'the statement');
      for (let i = 0; i < extracted.count; i++) {
        let statement: DuckDBPreparedStatement;
        try {
          statement = await extracted.prepare(i);
        } catch (error) {
          const message = messageOf(error);
          const where = extracted.count > 1 ? `statement ${i + 1}: ` : '';
          const word = wordOf(i);
          // A write that failed to bind (INSERT INTO a view): refused as a write, not a catalog error.
          if (word !== undefined && /^[A-Z_]+$/.test(word) && !READING_WORDS.has(word))
            throw new ConfigError('sql', `${which(i)} is ${word}: ${READ_ONLY}`, error);
          // DuckDB's guard (readOnly) refusing a file: a write, or a read outside the lake.
          throw new ConfigError(
            'sql',
            /^Permission Error/.test(message)
              ? `${where}refused: query is read-only and reads only the lake folder (${message.split('\n')[0]}); nothing was run`
              : `${where}${message}${i > 0 ? '; nothing was run' : ''}`,
            error,
          );
        }
        if (!READING_STATEMENTS.has(statement.statementType)) {
          const word = wordOf(i);
          const kind = statementKind(statement.statementType);
          // DuckDB types INSTALL as LOAD: name what the person wrote.
          const named = word !== undefined && /^[A-Z_]+$/.test(word) && word !== kind ? word : kind;
          throw new ConfigError('sql', `${which(i)} is ${named}: ${READ_ONLY}`);
        }
        prepared.push(statement);
      }
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError('sql', messageOf(error), error);
    }
    if (prepared.length === 0) throw new ConfigError('sql', 'no statement to run (only comments?)');
    const results: LakeQueryResult[] = [];
    for (const [i, statement] of prepared.entries()) {
      try {
        const reader = await statement.runAndReadAll();
        results.push({
          columns: reader.columnNames(),
          rows: reader.getRows().map((row) => row.map(displayValue)),
        });
      } catch (error) {
        const where = prepared.length > 1 ? `statement ${i + 1}: ` : '';
        throw new ConfigError('sql', `${where}${messageOf(error)}`, error);
      }
    }
    return results;
  };

  return {
    queryRaw,
    queryStatements,
    async query(sql) {
      const raw = await queryRaw(sql);
      return { columns: raw.columns, rows: raw.rows.map((row) => row.map(displayValue)) };
    },
    tables: () =>
      [...tables]
        .filter(([t, files]) => t !== LAKE.loadsTable && (files.length > 0 || registry?.hasTable(t)))
        .map(([t]) => t),
    warnings,
    close() {
      open.closeSync();
      instance.closeSync();
    },
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const NANOS_PER_MILLI = 1_000_000n;
/** ECMAScript's Date range: +-8.64e15 ms around the epoch. */
const MAX_DATE_MILLIS = 8_640_000_000_000_000n;

/** ISO 8601 in UTC with as many fraction digits as needed (DuckDB timestamps go down to ns). */
function isoFromEpochNanos(nanos: bigint): string | undefined {
  let millis = nanos / NANOS_PER_MILLI;
  let rest = nanos % NANOS_PER_MILLI;
  if (rest < 0n) {
    millis -= 1n;
    rest += NANOS_PER_MILLI;
  }
  if (millis > MAX_DATE_MILLIS || millis < -MAX_DATE_MILLIS) return undefined;
  const iso = new Date(Number(millis)).toISOString();
  if (rest === 0n) return iso;
  return `${iso.slice(0, -1)}${rest.toString().padStart(6, '0').replace(/0+$/, '')}Z`;
}

function epochNanos(value: DuckDBValue): bigint | undefined {
  if (value instanceof DuckDBTimestampValue || value instanceof DuckDBTimestampTZValue)
    return value.micros * 1000n;
  if (value instanceof DuckDBTimestampMillisecondsValue) return value.millis * NANOS_PER_MILLI;
  if (value instanceof DuckDBTimestampSecondsValue) return value.seconds * 1_000_000_000n;
  if (value instanceof DuckDBTimestampNanosecondsValue) return value.nanos;
  return undefined;
}

/** A DuckDB value as a JSON-safe, printable JS value (the raw value stays in `queryRaw`). */
export function displayValue(value: DuckDBValue): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  const nanos = epochNanos(value);
  if (nanos !== undefined) return isoFromEpochNanos(nanos) ?? value.toString();
  if (value instanceof DuckDBDateValue) return value.toString();
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue)
    return value.items.map(displayValue);
  if (value instanceof DuckDBStructValue) {
    return Object.fromEntries(Object.entries(value.entries).map(([key, item]) => [key, displayValue(item)]));
  }
  return value.toString();
}

export interface FormatTableOptions {
  /** Longest cell, in characters, before it is cut with an ellipsis. */
  readonly maxCellWidth?: number;
}

function cellText(value: unknown, maxWidth: number): string {
  const text =
    value === null || value === undefined
      ? 'NULL'
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value).replace(/[\u0000-\u001f\u007f]/g, ' ');
  // Code points, not UTF-16 units: an emoji is never cut in half.
  const chars = [...text];
  return chars.length <= maxWidth ? text : `${chars.slice(0, maxWidth - 1).join('')}…`;
}

const widthOf = displayWidth;
const pad = padDisplay;

/** An aligned text table (numbers right-aligned) with a row count, for the terminal. */
export function formatTable(result: LakeQueryResult, options: FormatTableOptions = {}): string {
  const maxWidth = Math.max(2, options.maxCellWidth ?? 40);
  const header = result.columns.map((column) => cellText(column, maxWidth));
  const body = result.rows.map((row) => row.map((value) => cellText(value, maxWidth)));
  const numeric = result.columns.map((_, i) => result.rows.some((row) => typeof row[i] === 'number'));
  // A loop, not Math.max(...cells): spreading 200,000 rows overflows the call stack.
  const widths = header.map((title, i) =>
    body.reduce((w, row) => Math.max(w, widthOf(row[i] ?? '')), widthOf(title)),
  );
  const line = (cells: readonly string[], alignNumbers: boolean) =>
    cells
      .map((cell, i) => pad(cell, widths[i] ?? 0, alignNumbers && (numeric[i] ?? false)))
      .join(' | ')
      .trimEnd();

  const count = `(${result.rows.length} ${result.rows.length === 1 ? 'row' : 'rows'})`;
  if (result.columns.length === 0) return count;
  return [
    line(header, false),
    widths.map((width) => '-'.repeat(width)).join('-+-'),
    ...body.map((row) => line(row, true)),
    count,
  ].join('\n');
}
