/**
 * How big a Parquet row group may grow before it is encoded and written out, shared by the part
 * writers open at once. A writer buffers a whole row group (parquetjs-lite holds each value until
 * the group is encoded), so a row cap alone bounds memory only for narrow rows: 10,000 rows of
 * 40 fields of 64 characters are ~25 MiB of values and took ~50 MiB of heap plus ~14 MiB of
 * Buffers in parquetjs-lite (bench/results/issue-11.md (h)); four merges at once ran the commit's
 * encoding worker out of its 336 MiB heap. So a row group closes at a row cap or at a byte
 * budget of the values appended to it, whichever comes first, and both budgets are divided among
 * the writers open at once, so memory does not grow with the number of open parts.
 */
import type { PartWriter } from './ports.ts';
import type { Cell, Row } from './types.ts';

/**
 * A cell's size as counted against the byte budget: a string's length (UTF-16 units: cheap, and
 * what the heap holds of it), 8 for numbers and timestamps, 1 for a bool, 0 for null.
 */
export function cellBytes(cell: Cell): number {
  if (cell === null) return 0;
  if (typeof cell === 'string') return cell.length;
  if (typeof cell === 'boolean') return 1;
  return 8;
}

/** A row's size against the byte budget: its cells' `cellBytes`. */
export function rowBytes(row: Row): number {
  let bytes = 0;
  for (const key in row) bytes += cellBytes(row[key] ?? null);
  return bytes;
}

/** A budget of rows buffered in row groups, shared by the writers open at once. */
export interface RowGroupRowLimits {
  /** Rows of one writer's row group at most (alone, or when the budget allows more). */
  readonly rowGroupRows: number;
  /** Rows buffered across the open writers: each gets its share, never under `minRowGroupRows`. */
  readonly bufferedRowsBudget: number;
  readonly minRowGroupRows: number;
}

/** A budget of estimated bytes (`rowBytes`) buffered in row groups, shared by the writers open at once. */
export interface RowGroupByteLimits {
  /** Estimated bytes of one writer's row group at most. */
  readonly rowGroupBytes: number;
  /** Estimated bytes buffered across the open writers: each gets its share, never under `minRowGroupBytes`. */
  readonly bufferedBytesBudget: number;
  readonly minRowGroupBytes: number;
}

export type RowGroupLimits = RowGroupRowLimits & RowGroupByteLimits;

/**
 * The writers open at once and their row group limits: each open writer gets the budgets divided
 * by the writers open, within [min, max]; every writer is told again when one opens or closes.
 * Without `rows`, writers keep the row group rows they were opened with (the merge: its row
 * groups are what Athena reads, and narrow rows must keep them whole).
 */
export class RowGroupBudget {
  readonly #open = new Set<PartWriter>();

  constructor(
    private readonly bytes: RowGroupByteLimits,
    private readonly rows?: RowGroupRowLimits,
  ) {}

  /** A writer opened: it and every other open writer get their new share. */
  add(writer: PartWriter): void {
    this.#open.add(writer);
    this.#share();
  }

  /** A writer closed or aborted: the others get its share. */
  remove(writer: PartWriter): void {
    if (this.#open.delete(writer)) this.#share();
  }

  /** The limits one writer gets while `open` writers are open (rows: undefined without a rows budget). */
  shareOf(open: number): { rows: number | undefined; bytes: number } {
    const n = Math.max(1, open);
    const share = (max: number, min: number, budget: number) =>
      Math.min(max, Math.max(min, Math.floor(budget / n)));
    const { rows: r, bytes: b } = this;
    return {
      rows: r === undefined ? undefined : share(r.rowGroupRows, r.minRowGroupRows, r.bufferedRowsBudget),
      bytes: share(b.rowGroupBytes, b.minRowGroupBytes, b.bufferedBytesBudget),
    };
  }

  #share(): void {
    const { rows, bytes } = this.shareOf(this.#open.size);
    for (const writer of this.#open) {
      if (rows !== undefined) writer.setRowGroupRows(rows);
      writer.setRowGroupBytes(bytes);
    }
  }
}
