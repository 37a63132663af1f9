/** Number formatting and aligned Markdown tables: readable on a terminal and rendered on GitHub. */

const MIB = 1024 * 1024;

export const integer = (n: number): string => Math.round(n).toLocaleString('en-US');
export const seconds = (ms: number): string => (ms / 1000).toFixed(2);
export const mebibytes = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;
export const gibibytes = (bytes: number): string => `${(bytes / MIB / 1024).toFixed(1)} GiB`;
export const ratio = (x: number): string => `${x.toFixed(2)}x`;
export const percent = (share: number): string => `${(share * 100).toFixed(0)}%`;
export const NONE = '-';

/** First column left-aligned (labels), the rest right-aligned (figures). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
