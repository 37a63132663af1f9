/**
 * The schema registry: per table, an ordered list of typed columns that only ever grows.
 *
 * A column keeps its type forever (its Parquet type is fixed across every file of the table,
 * so an Athena query never fails on drift). `coerceRow` types each raw row against it:
 * - a new non-null field becomes a new column with its inferred type (nulls add nothing);
 * - a value that fits the column losslessly is coerced (see type-inference.ts);
 * - a value that does not fit goes to the variant column `<column>__v_<its type>` and the
 *   base column gets null in that row (dlt's variant columns).
 *
 * Versions: `version` is the committed version this registry was loaded with (0 when empty).
 * The commit step writes `nextVersion()`: version + 1 when anything was added since load
 * (`changes()` is not empty), else the same version. Parallel batches each start from the
 * same committed document; commit folds their views in with `merge`.
 *
 * Child tables are not stored with a parent link: `accounts__bills` is the child of
 * `accounts` by name (dlt's naming), so `parentTable` derives it from the registered tables.
 */
import { z } from 'zod';
import { LAKE } from './constants.ts';
import { LakeStateError } from './errors.ts';
import { coerceValue, inferType, NO_FIT } from './type-inference.ts';
import { COLUMN_TYPES, type ColumnDef, type ColumnType, type RawRow, type Row } from './types.ts';

export type SchemaChange =
  | { readonly kind: 'new_table'; readonly table: string }
  | {
      readonly kind: 'new_column';
      readonly table: string;
      readonly column: string;
      readonly type: ColumnType;
    }
  | {
      readonly kind: 'new_variant';
      readonly table: string;
      readonly column: string;
      /** The column whose misfit values this one holds. */
      readonly variantOf: string;
      readonly type: ColumnType;
    };

export interface SchemaDoc {
  readonly formatVersion: 1;
  readonly version: number;
  readonly tables: Readonly<Record<string, { readonly columns: readonly ColumnDef[] }>>;
}

export interface SchemaConflict {
  readonly table: string;
  readonly column: string;
  readonly ours: ColumnType;
  readonly theirs: ColumnType;
}

export interface MergeResult {
  readonly added: SchemaChange[];
  readonly conflicts: SchemaConflict[];
}

/** Lineage columns have one type whatever their first value looks like (an identifier may look like a date). */
const SYSTEM_COLUMN_TYPES: ReadonlyMap<string, ColumnType> = new Map<string, ColumnType>([
  [LAKE.idColumn, 'text'],
  [LAKE.loadIdColumn, 'text'],
  [LAKE.parentIdColumn, 'text'],
  [LAKE.rootIdColumn, 'text'],
  [LAKE.userColumn, 'text'],
  [LAKE.listIndexColumn, 'bigint'],
]);

const columnSchema = z.object({
  name: z.string().min(1),
  type: z.enum(COLUMN_TYPES as [ColumnType, ...ColumnType[]]),
});
const docSchema = z.object({
  formatVersion: z.literal(1),
  version: z.number().int().nonnegative(),
  tables: z.record(z.string().min(1), z.object({ columns: z.array(columnSchema) })),
});

interface TableState {
  /** Replaced (never mutated) when a column is added, so callers may hold on to it. */
  columns: readonly ColumnDef[];
  readonly types: Map<string, ColumnType>;
}

const NO_COLUMNS: readonly ColumnDef[] = Object.freeze([]);

export class SchemaRegistry {
  readonly #tables = new Map<string, TableState>();
  #changes: SchemaChange[] = [];
  #version: number;

  private constructor(version: number) {
    this.#version = version;
  }

  static empty(): SchemaRegistry {
    return new SchemaRegistry(0);
  }

  /** Loads a committed document. Throws LakeStateError naming what is wrong with it. */
  static fromJSON(doc: unknown): SchemaRegistry {
    const parsed = parseDoc(doc);
    const registry = new SchemaRegistry(parsed.version);
    for (const [table, { columns }] of Object.entries(parsed.tables)) {
      const state = registry.#createTable(table);
      for (const column of columns) registry.#appendColumn(state, column.name, column.type);
    }
    return registry;
  }

  /** The committed version this registry was loaded with (or set by `setVersion`). */
  get version(): number {
    return this.#version;
  }

  /** The version to commit: one more than `version` iff something was added since load. */
  nextVersion(): number {
    return this.#changes.length > 0 ? this.#version + 1 : this.#version;
  }

  /** Records the version being committed (`toJSON` writes it). */
  setVersion(version: number): void {
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new LakeStateError(`schema version must be a non-negative integer, got ${String(version)}`);
    }
    this.#version = version;
  }

  hasTable(table: string): boolean {
    return this.#tables.has(table);
  }

  /** Table names, sorted. */
  tables(): string[] {
    return [...this.#tables.keys()].sort();
  }

  /**
   * The table's columns in the order they were added; empty for an unknown table. The array
   * is never mutated: a new column yields a new array, so a writer may keep the one it opened with.
   */
  columns(table: string): readonly ColumnDef[] {
    return this.#tables.get(table)?.columns ?? NO_COLUMNS;
  }

  /** The registered table `table` is a child of (`accounts__bills` -> `accounts`), if any. */
  parentTable(table: string): string | undefined {
    const cut = table.lastIndexOf(LAKE.pathSeparator);
    if (cut <= 0) return undefined;
    const parent = table.slice(0, cut);
    return this.#tables.has(parent) ? parent : undefined;
  }

  /** Everything added since construction or `fromJSON`, in the order it was added. */
  changes(): SchemaChange[] {
    return [...this.#changes];
  }

  /**
   * Declares a table with fixed columns (such as `user_loads`). Missing columns are added
   * (and reported as changes); a declared column that exists with another type is an error.
   */
  declareTable(table: string, columns: readonly ColumnDef[]): void {
    const state = this.#tables.get(table) ?? this.#addTable(table);
    for (const { name, type } of columns) {
      const existing = state.types.get(name);
      if (existing === undefined) this.#addColumn(table, state, name, type, undefined);
      else if (existing !== type) {
        throw new LakeStateError(
          `table ${table}: column ${name} is ${existing} in the registry, declared ${type}`,
        );
      }
    }
  }

  /**
   * Types one raw row of `table`, growing the registry as needed. Hot path (every cell of
   * every row): Map lookups, no validation library, no regex for the common cases.
   */
  coerceRow(table: string, raw: RawRow): Row {
    const state = this.#tables.get(table) ?? this.#addTable(table);
    const types = state.types;
    const row: Row = {};
    for (const key in raw) {
      const value = raw[key];
      if (value === null || value === undefined) {
        // A null only fills a known column, and never overwrites a variant value routed here earlier.
        if (types.has(key) && !(key in row)) row[key] = null;
        continue;
      }
      let type = types.get(key);
      if (type === undefined) {
        type = SYSTEM_COLUMN_TYPES.get(key) ?? (inferType(value) as ColumnType);
        this.#addColumn(table, state, key, type, undefined);
      }
      const cell = coerceValue(value, type);
      if (cell !== NO_FIT) {
        row[key] = cell;
        continue;
      }
      row[key] = null;
      this.#writeVariant(table, state, row, key, value);
    }
    return row;
  }

  /**
   * Folds another registry view (a parallel batch's) into this one: its new tables and columns
   * are added; a column both sides have with different types is a conflict (ours is kept).
   */
  merge(other: SchemaDoc): MergeResult {
    const theirs = parseDoc(other);
    const added: SchemaChange[] = [];
    const conflicts: SchemaConflict[] = [];
    const before = this.#changes.length;
    for (const table of Object.keys(theirs.tables).sort()) {
      const state = this.#tables.get(table) ?? this.#addTable(table);
      for (const { name, type } of theirs.tables[table]!.columns) {
        const ours = state.types.get(name);
        if (ours === undefined) this.#addColumn(table, state, name, type, variantBase(state, name, type));
        else if (ours !== type) conflicts.push({ table, column: name, ours, theirs: type });
      }
    }
    added.push(...this.#changes.slice(before));
    return { added, conflicts };
  }

  /** The registry as a document: tables sorted by name, columns in order, so equal registries serialize equally. */
  toJSON(): SchemaDoc {
    const tables: Record<string, { columns: ColumnDef[] }> = {};
    for (const table of this.tables()) {
      tables[table] = { columns: this.columns(table).map(({ name, type }) => ({ name, type })) };
    }
    return { formatVersion: 1, version: this.#version, tables };
  }

  /**
   * Stores a misfit value in `<column>__v_<type>`. If that name is already taken by a column
   * of another type (a nested field spelled like a variant), the value nests one level deeper.
   */
  #writeVariant(
    table: string,
    state: TableState,
    row: Row,
    column: string,
    value: string | number | boolean,
  ): void {
    const valueType = inferType(value) as ColumnType;
    let base = column;
    for (;;) {
      const name = base + LAKE.variantInfix + valueType;
      let type = state.types.get(name);
      if (type === undefined) {
        this.#addColumn(table, state, name, valueType, base);
        type = valueType;
      }
      const cell = coerceValue(value, type);
      if (cell !== NO_FIT) {
        row[name] = cell;
        return;
      }
      base = name;
    }
  }

  #addTable(table: string): TableState {
    const state = this.#createTable(table);
    this.#changes.push({ kind: 'new_table', table });
    return state;
  }

  #createTable(table: string): TableState {
    const state: TableState = { columns: NO_COLUMNS, types: new Map() };
    this.#tables.set(table, state);
    return state;
  }

  #addColumn(
    table: string,
    state: TableState,
    name: string,
    type: ColumnType,
    variantOf: string | undefined,
  ): void {
    this.#appendColumn(state, name, type);
    this.#changes.push(
      variantOf === undefined
        ? { kind: 'new_column', table, column: name, type }
        : { kind: 'new_variant', table, column: name, variantOf, type },
    );
  }

  #appendColumn(state: TableState, name: string, type: ColumnType): void {
    state.columns = Object.freeze([...state.columns, Object.freeze({ name, type })]);
    state.types.set(name, type);
  }
}

/** `x__v_double` of type double is a variant of `x` when the table has `x`. */
function variantBase(state: TableState, name: string, type: ColumnType): string | undefined {
  const suffix = LAKE.variantInfix + type;
  if (!name.endsWith(suffix)) return undefined;
  const base = name.slice(0, -suffix.length);
  return base.length > 0 && state.types.has(base) ? base : undefined;
}

function parseDoc(doc: unknown): z.infer<typeof docSchema> {
  const result = docSchema.safeParse(doc);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(document)';
    throw new LakeStateError(
      `schema registry document is invalid at ${where}: ${issue.message}`,
      result.error,
    );
  }
  for (const [table, { columns }] of Object.entries(result.data.tables)) {
    const seen = new Set<string>();
    for (const { name } of columns) {
      if (seen.has(name))
        throw new LakeStateError(
          `schema registry document is invalid: table ${table} lists column ${name} twice`,
        );
      seen.add(name);
    }
  }
  return result.data;
}
