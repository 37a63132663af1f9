/**
 * DuckDB over a local lake: one view per table folder, reading every committed part the way
 * Athena does (hive `dt=` partitions, columns matched by name across parts whose column sets
 * differ). Staging and metadata folders (`_loads`, `_staging`, ...) are never tables.
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
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBValue,
} from '@duckdb/node-api';
import { ConfigError, LakeStateError } from '#core/errors.ts';
import { PARTITION_COLUMN } from '#core/layout.ts';
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
  /** Names of the table views, sorted. */
  tables(): string[];
  close(): void;
}

const quoteIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;
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

/** The committed part files of a table folder (`dt=*` / `*.parquet`). */
async function partFiles(tableDir: string): Promise<string[]> {
  const files: string[] = [];
  for (const partition of await entries(tableDir)) {
    if (!partition.isDirectory() || !partition.name.startsWith(PARTITION_FOLDER)) continue;
    for (const file of await entries(join(tableDir, partition.name))) {
      if (file.isFile() && file.name.endsWith('.parquet'))
        files.push(join(tableDir, partition.name, file.name));
    }
  }
  return files.sort();
}

/** Table folders with at least one part: views over empty globs would fail to bind. */
async function findTables(lakeDir: string): Promise<Map<string, string[]>> {
  const tables = new Map<string, string[]>();
  for (const entry of await entries(lakeDir)) {
    if (!entry.isDirectory() || entry.name.startsWith('_') || entry.name.startsWith('.')) continue;
    const files = await partFiles(join(lakeDir, entry.name));
    if (files.length > 0) tables.set(entry.name, files);
  }
  return new Map([...tables].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function viewSql(name: string, tableDir: string, files: readonly string[]): string {
  // The glob is re-read at every query, so parts committed after opening are seen too.
  const source = GLOB_CHARACTERS.test(tableDir)
    ? `[${files.map(quoteString).join(', ')}]`
    : quoteString(`${tableDir}/${PARTITION_FOLDER}*/*.parquet`);
  // hive_types: without it DuckDB turns dt=2024-01-02 into a DATE; Athena's projection uses a string.
  return (
    `CREATE OR REPLACE VIEW ${quoteIdentifier(name)} AS SELECT * FROM read_parquet(${source}, ` +
    `hive_partitioning = true, hive_types = {${quoteString(PARTITION_COLUMN)}: 'VARCHAR'}, union_by_name = true)`
  );
}

export async function openLakeQuery(lakeDir: string): Promise<LakeQuery> {
  const root = resolve(lakeDir);
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw new ConfigError('dest', `no lake folder at ${root}`);

  const tables = await findTables(root);
  const instance = await DuckDBInstance.create(':memory:');
  let connection: DuckDBConnection | undefined;
  try {
    connection = await instance.connect();
    for (const [name, files] of tables) {
      try {
        await connection.run(viewSql(name, join(root, name), files));
      } catch (error) {
        throw new LakeStateError(
          `table ${name}: DuckDB cannot read its Parquet parts (${messageOf(error)})`,
          error,
        );
      }
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

  return {
    queryRaw,
    async query(sql) {
      const raw = await queryRaw(sql);
      return { columns: raw.columns, rows: raw.rows.map((row) => row.map(displayValue)) };
    },
    tables: () => [...tables.keys()],
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
  const widths = header.map((title, i) =>
    Math.max(widthOf(title), ...body.map((row) => widthOf(row[i] ?? ''))),
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
