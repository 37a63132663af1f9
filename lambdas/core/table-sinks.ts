/**
 * Routes typed rows to one open Parquet part per (table, partition) of a batch, and rotates
 * parts so memory and file sizes stay bounded whatever the number of users:
 * - past `partMaxRows` rows or `partMaxBytes` bytes;
 * - when the table gained a column since the part was opened (a part's column set is fixed
 *   in its footer; the next part carries the new column, and readers union by name).
 * A table's first rows are held (up to `firstPartHoldRows`) before its first part opens: on a
 * fresh lake columns keep appearing over the first users, and opening at once would write a
 * tiny part per new column. Held and buffered rows together stay within the budget.
 * Rows waiting to be encoded share one budget of rows and one of estimated bytes across all open
 * parts (DEFAULTS.parquet.bufferedRowsBudget, bufferedBytesBudget; row-group-budget.ts): each
 * part's row group is the budgets divided by the open parts, so memory grows neither with the
 * number of tables or users nor with the width of the rows.
 */
import { DEFAULTS } from './constants.ts';
import { partKey, stagedPartKey } from './layout.ts';
import type { ObjectStore, PartWriter, PartWriterFactory } from './ports.ts';
import { RowGroupBudget, type RowGroupLimits, rowBytes } from './row-group-budget.ts';
import type { SchemaRegistry } from './schema-registry.ts';
import type { ColumnDef, Row } from './types.ts';

export interface StagedFile {
  readonly table: string;
  readonly dt: string;
  readonly finalKey: string;
  readonly stagedKey: string;
  readonly rows: number;
  readonly bytes: number;
}

export interface PartLimits extends RowGroupLimits {
  readonly partMaxRows: number;
  readonly partMaxBytes: number;
  readonly firstPartHoldRows: number;
}

interface OpenPart {
  readonly writer: PartWriter;
  readonly table: string;
  readonly dt: string;
  readonly finalKey: string;
  readonly stagedKey: string;
  /** Rows appended and their estimated bytes (`rowBytes`): what `held` counts until the part closes. */
  rows: number;
  bytes: number;
}

export class TableSinks {
  readonly #open = new Map<string, OpenPart>();
  readonly #nextPart = new Map<string, number>();
  readonly #files: StagedFile[] = [];
  /** Rows of a (table, dt) whose first part is not open yet. */
  readonly #held = new Map<string, { table: string; dt: string; rows: Row[]; bytes: number }>();
  #heldRows = 0;
  /** Columns by table once sealed (see `seal`). */
  #sealed: Map<string, readonly ColumnDef[]> | undefined;
  // Writes from concurrent users are chained: a part writer takes one append at a time.
  #queue: Promise<void> = Promise.resolve();
  readonly #budget: RowGroupBudget;

  constructor(
    private readonly deps: { store: ObjectStore; parts: PartWriterFactory; registry: SchemaRegistry },
    private readonly target: { loadId: string; batch: number },
    private readonly limits: PartLimits = DEFAULTS.parquet,
  ) {
    this.#budget = new RowGroupBudget(limits, limits);
  }

  /** Appends rows in order; resolves when they are handed to their part writers. */
  write(rows: readonly { table: string; dt: string; row: Row }[]): Promise<void> {
    const run = this.#queue.then(async () => {
      for (const { table, dt, row } of rows) {
        const key = `${table}\u0000${dt}`;
        if (!this.#nextPart.has(key)) {
          this.#hold(key, table, dt, row);
          if (this.#heldRows > this.limits.bufferedRowsBudget) await this.#releaseHeld();
          else if (this.#held.get(key)!.rows.length >= this.limits.firstPartHoldRows)
            await this.#release(key);
          continue;
        }
        await this.#append(table, dt, row);
      }
    });
    // A failed write poisons the queue on purpose: the batch fails and nothing half-written is committed.
    this.#queue = run;
    return run;
  }

  /**
   * Waits for every write, then fixes the columns of every table this batch wrote as the
   * registry has them now (a copy). After it the sinks never read the registry again, so the
   * next batch of a local run may type rows (and add columns) while this one closes: its parts
   * get exactly the columns its manifest's schema has. Cheap: held rows are written by `close`.
   */
  async seal(): Promise<void> {
    await this.#queue;
    if (this.#sealed !== undefined) return;
    const sealed = new Map<string, readonly ColumnDef[]>();
    for (const { table } of [...this.#held.values(), ...this.#open.values()])
      sealed.set(table, [...this.deps.registry.columns(table)]);
    this.#sealed = sealed;
  }

  /** Closes every open part (sealing first); returns all files written by this batch. */
  async close(): Promise<StagedFile[]> {
    await this.seal();
    await this.#releaseHeld();
    for (const key of [...this.#open.keys()]) await this.#closePart(key);
    return [...this.#files];
  }

  /**
   * Rows written and not in a closed part yet, and their estimated bytes: at most what the
   * batch's held rows and open row groups buffer (rows of a row group already encoded count too,
   * until their part closes), so a bound of memory, not a measure of it.
   */
  held(): { rows: number; bytes: number } {
    let rows = this.#heldRows;
    let bytes = 0;
    for (const held of this.#held.values()) bytes += held.bytes;
    for (const part of this.#open.values()) {
      rows += part.rows;
      bytes += part.bytes;
    }
    return { rows, bytes };
  }

  /** Abandons open parts (their objects never appear). */
  async abort(): Promise<void> {
    await this.#queue.catch(() => undefined);
    this.#held.clear();
    this.#heldRows = 0;
    for (const part of this.#open.values()) {
      this.#budget.remove(part.writer);
      await part.writer.abort().catch(() => undefined);
    }
    this.#open.clear();
  }

  async #partFor(table: string, dt: string): Promise<OpenPart> {
    const key = `${table}\u0000${dt}`;
    const current = this.#open.get(key);
    const columns = this.#sealed?.get(table) ?? this.deps.registry.columns(table);
    if (current) {
      const { writer } = current;
      const full =
        writer.rowsWritten() >= this.limits.partMaxRows || writer.bytesWritten() >= this.limits.partMaxBytes;
      // The registry only ever appends columns, so a longer list means new columns.
      if (!full && writer.columns.length === columns.length) return current;
      await this.#closePart(key);
    }
    const part = this.#nextPart.get(key) ?? 0;
    this.#nextPart.set(key, part + 1);
    const finalKey = partKey({ table, dt, loadId: this.target.loadId, batch: this.target.batch, part });
    const stagedKey = stagedPartKey(finalKey, this.target.loadId, this.target.batch);
    const writer = await this.deps.parts.open(this.deps.store, stagedKey, columns);
    const opened: OpenPart = { writer, table, dt, finalKey, stagedKey, rows: 0, bytes: 0 };
    this.#open.set(key, opened);
    this.#budget.add(writer);
    return opened;
  }

  async #append(table: string, dt: string, row: Row): Promise<void> {
    const part = await this.#partFor(table, dt);
    part.rows++;
    part.bytes += rowBytes(row);
    await part.writer.append(row);
  }

  #hold(key: string, table: string, dt: string, row: Row): void {
    const held = this.#held.get(key) ?? { table, dt, rows: [], bytes: 0 };
    held.rows.push(row);
    held.bytes += rowBytes(row);
    this.#held.set(key, held);
    this.#heldRows++;
  }

  /** Opens the key's first part (with the columns its rows settled on) and writes its held rows. */
  async #release(key: string): Promise<void> {
    const held = this.#held.get(key);
    if (!held) return;
    this.#held.delete(key);
    this.#heldRows -= held.rows.length;
    for (const row of held.rows) await this.#append(held.table, held.dt, row);
  }

  async #releaseHeld(): Promise<void> {
    for (const key of [...this.#held.keys()]) await this.#release(key);
  }

  async #closePart(key: string): Promise<void> {
    const part = this.#open.get(key);
    if (!part) return;
    this.#open.delete(key);
    this.#budget.remove(part.writer);
    const { rows, bytes } = await part.writer.close();
    this.#files.push({
      table: part.table,
      dt: part.dt,
      finalKey: part.finalKey,
      stagedKey: part.stagedKey,
      rows,
      bytes,
    });
  }
}
