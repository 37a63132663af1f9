/**
 * How `query` prints its results: an aligned table for people, CSV (RFC 4180) and JSON lines
 * for programs. Machine formats always carry whole values.
 */
import { formatTable, type LakeQueryResult } from './duckdb-lake.ts';

export const QUERY_FORMATS = ['table', 'csv', 'json'] as const;
export type QueryFormat = (typeof QUERY_FORMATS)[number];

/** Longest table cell, in characters, before `query` cuts it (without --wide). */
export const TABLE_CELL_WIDTH = 40;

/** A value as one text field: nested values (lists, structs) as JSON, the rest as they print. */
function fieldText(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/**
 * RFC 4180 (https://www.rfc-editor.org/rfc/rfc4180): a field with a comma, a double quote, CR
 * or LF is quoted and its quotes doubled; records end with CRLF. NULL is an empty field and an
 * empty string is `""`, so the two stay apart. A field starting or ending with a space is
 * quoted too: some readers trim unquoted fields.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = fieldText(value);
  return text === '' || /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(result: LakeQueryResult): string {
  const lines = [result.columns, ...result.rows].map((row) => row.map(csvField).join(','));
  return lines.map((line) => `${line}\r\n`).join('');
}

/** JSON lines: one object per row, keyed by column (a repeated column name keeps its last value). */
export function toJsonLines(result: LakeQueryResult): string {
  return result.rows
    .map(
      (row) => `${JSON.stringify(Object.fromEntries(result.columns.map((c, i) => [c, row[i] ?? null])))}\n`,
    )
    .join('');
}

function anyLongerThan(result: LakeQueryResult, width: number): boolean {
  return result.rows.some((row) =>
    row.some((value) => value !== null && [...fieldText(value)].length > width),
  );
}

/** Every statement's result, in order; `cut`: a table cell was shortened. */
export function formatResult(
  results: readonly LakeQueryResult[],
  format: QueryFormat | 'legacy-json',
  wide: boolean,
): { text: string; cut: boolean } {
  switch (format) {
    case 'legacy-json':
      return { text: results.map((r) => `${JSON.stringify(r)}\n`).join(''), cut: false };
    case 'json':
      return { text: results.map(toJsonLines).join(''), cut: false };
    case 'csv':
      return { text: results.map(toCsv).join('\r\n'), cut: false };
    case 'table': {
      const width = wide ? Number.POSITIVE_INFINITY : TABLE_CELL_WIDTH;
      return {
        text: results.map((r) => `${formatTable(r, { maxCellWidth: width })}\n`).join('\n'),
        cut: !wide && results.some((r) => anyLongerThan(r, TABLE_CELL_WIDTH)),
      };
    }
  }
}
