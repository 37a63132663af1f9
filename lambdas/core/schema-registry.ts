/**
 * The schema registry: per table, an ordered list of typed columns that only ever grows, and
 * the mapping from source paths to names that decided them.
 *
 * Names are a mapping the lake remembers. Each table records, per source path (the raw key
 * path of a field, field-path.ts), the column it was given, and per list field the child table
 * it was given. A path keeps its name forever; a new path gets its normalized name
 * (naming.ts) unless that name is taken (by another path, a lineage column, `dt`, or the
 * variant form `<x>__v_<type>`), in which case it gets the name plus `_` and a 6-character tag
 * hashed from its raw path (`account_id_k3x9qa`): stable, and never shared. So `accountId` and
 * `account_id` never land in one column, whichever record came first, and a later load or batch
 * reuses the names the lake already has. Every name satisfies `isLakeName`, the rule the Glue
 * sync checks.
 *
 * A column keeps its type forever (its Parquet type is fixed across every file of the table,
 * so an Athena query never fails on drift). `coerceRow` types each raw row against it:
 * - a new non-null field becomes a new column with its inferred type (nulls add nothing); in a
 *   batch (`stageNewColumns`) that type is provisional: values of a column new to the lake are
 *   staged in their own types and counted, and the commit settles the type from every batch's
 *   counts (`settleNewColumns`, `settledType`), so it depends on the load's values only;
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
 *
 * Wide records are bounded (README, "Wide records"):
 * - a value the normalizer kept as JSON (normalize.ts) gets a text column at its path, recorded
 *   as a field with its reason (`{path, column, json}`), and every later load routes that path
 *   to it (`routing()`, dlt's rule for a column typed `json`);
 * - fields a row put in its overflow object, and new fields of a table that already has
 *   `MAX_TABLE_COLUMNS` columns, go to the table's `_overflow` text column as one JSON object
 *   keyed by raw field path, never dropped; at commit, `claimNames` applies the cap to all the
 *   views' new fields in one total order, and `merge` renames a view's column past it to a
 *   demotion key that `coerceRow` moves into `_overflow` when the commit rewrites its parts;
 * - each decision is reported once per table and reason as a `json_column` schema change.
 * What the normalizer may rely on (`routing()`) is what the registry held before the load,
 * committed or declared, never what other records of the same load added: so a record's rows
 * do not depend on record order or batch split.
 *
 * Names of paths that collide (`accountId`, `account_id`) are first come, first served within
 * one view, and settled at commit by `claimNames` over every view of the load in one total order
 * (an already-normalized path first, then code unit order), whatever the order the records or
 * batches came in; a view that named otherwise has its parts renamed (`merge`'s `renames`).
 */

import { parse, stringify } from 'lossless-json';
import * as z from 'zod';
import { LAKE } from './constants.ts';
import { LakeStateError } from './errors.ts';
import {
  childTableKey,
  describePath,
  ITEM_PATH,
  isJsonKey,
  isPathKey,
  type JsonReason,
  parentKeyField,
  parseJsonKey,
  pathKey,
  pathSegments,
  splitTableKey,
} from './field-path.ts';
import type { ParentKeyLink } from './lake-views.ts';
import { PARTITION_COLUMN } from './layout.ts';
import { identifierTag, isLakeName, normalizeIdentifier, shortenIdentifier } from './naming.ts';
import type { NormalizeRouting } from './normalize.ts';
import {
  coerceNewValue,
  coerceValue,
  inferType,
  isNonFinite,
  NO_FIT,
  type Scalar,
  variantType,
} from './type-inference.ts';
import {
  type Cell,
  COLUMN_TYPES,
  type ColumnDef,
  type ColumnType,
  type JsonObject,
  type JsonPrimitive,
  type JsonValue,
  type RawRow,
  type Row,
} from './types.ts';

/**
 * Columns a table may have before new fields go to its overflow column. Every part of a table
 * carries every column in its footer (and a null column), so width costs every later load;
 * Glue and Athena accept far more, DuckDB too. Variant columns of existing columns may still be
 * added past it (at most one per type per column), so no value ever lacks a place.
 */
export const MAX_TABLE_COLUMNS = 1_000;

/** The text column holding, per row, a JSON object of the fields that have no column of their own. */
export const OVERFLOW_COLUMN = '_overflow';

const JSON_REASONS: readonly JsonReason[] = [
  'wide_object',
  'data_keys',
  'nesting_depth',
  'kept_as_json',
  'column_cap',
];

/** How a field appeared: a value, a list (child table), or an object (its fields flattened). */
export type FieldShape = 'scalar' | 'list' | 'object';

/**
 * Declared fields of a resource (the catalog's and `--config`'s `columns`), keyed by raw field
 * name: a column type; `{fields}` for a nested object; `{items}` for a list (a child table)
 * whose items are scalars of a type, objects, or lists. Modelled on dlt's `columns` hints.
 */
export type FieldHint = ColumnType | { readonly fields: FieldHints } | { readonly items: FieldHint };
export type FieldHints = Readonly<Record<string, FieldHint>>;

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
    }
  | {
      /**
       * Values kept as JSON text instead of columns: the field at `field` (its column holds
       * the value as JSON), or, without `field`, fields that got no column of their own (the
       * `_overflow` column holds them as one JSON object per row). Reported once per table,
       * column and reason.
       */
      readonly kind: 'json_column';
      readonly table: string;
      readonly column: string;
      readonly field?: string;
      readonly reason: JsonReason;
    }
  | {
      /** A field seen with another shape than before (a list then a scalar, ...): both are kept. */
      readonly kind: 'shape_change';
      readonly table: string;
      /** The column (scalar) or child table (list) of the field as it now appears. */
      readonly column: string;
      /** Raw field path, dotted (`company`, `bills`). */
      readonly field: string;
      readonly was: FieldShape;
      readonly now: FieldShape;
    };

/**
 * A source path's name in a table: a column (values), a column holding the value as JSON text
 * (`json`: why), or a child table (a list).
 */
export type FieldDef =
  | {
      readonly path: readonly string[];
      readonly column: string;
      readonly json?: JsonReason;
      /** Declared by the catalog or `--config`: its name beats a colliding undeclared key's. */
      readonly declared?: true;
    }
  | { readonly path: readonly string[]; readonly table: string; readonly declared?: true };

export interface TableDoc {
  readonly columns: readonly ColumnDef[];
  readonly fields?: readonly FieldDef[];
  /** Why fields of this table went to its `_overflow` column (absent: none did). */
  readonly overflow?: readonly JsonReason[];
}

export interface SchemaDoc {
  readonly formatVersion: 1;
  readonly version: number;
  readonly tables: Readonly<Record<string, TableDoc>>;
}

export interface SchemaConflict {
  readonly table: string;
  readonly column: string;
  readonly ours: ColumnType;
  readonly theirs: ColumnType;
}

/** A column the other view named differently for the same source path: its rows must be renamed. */
export interface SchemaRename {
  readonly table: string;
  readonly from: string;
  readonly to: string;
}

/** A child table another view named differently for the same list: its parts move to ours. */
export interface TableRename {
  readonly from: string;
  readonly to: string;
}

export interface MergeResult {
  readonly added: SchemaChange[];
  /** Tables named as ours (a table that was renamed appears under our name). */
  readonly conflicts: SchemaConflict[];
  /** Column renames, by THEIR table name (the name their parts carry). */
  readonly renames: SchemaRename[];
  readonly tableRenames: TableRename[];
}

/**
 * The values one batch gave a column new to the lake (absent from the committed registry and not
 * declared): what the commit settles the column's type from (`settledType`), whatever the batch
 * split, the user order or the order the batches finished in. Counts of non-null values.
 */
export interface NewColumnValues {
  /** Values by their own type (type-inference.ts `inferType`: `"12.50"` is text, `12.5` double). */
  readonly kinds: Partial<Record<ColumnType, number>>;
  /** Values that fit each type losslessly (`coerceNewValue`: `"12.50"` fits text and double). */
  readonly fits: Partial<Record<ColumnType, number>>;
  /**
   * Values the batch staged in a variant that fit the column's type as the batch had it (a
   * `"12.50"` beside a double column): where they belong depends on the settled type.
   */
  readonly apart: number;
  /**
   * Per type, the types of the values that do not fit it (`"N/A"` under double: text): the
   * variants the column needs if the load settles on that type.
   */
  readonly misfits?: Partial<Record<ColumnType, readonly ColumnType[]>>;
}

/** A batch's `NewColumnValues`, by table and column as the batch named them. */
export type NewColumnsDoc = Readonly<Record<string, Readonly<Record<string, NewColumnValues>>>>;

/** What `settleNewColumns` asks of one batch's view before it is merged. */
export interface SettledView {
  /** The view's tables (its names) whose parts must be re-typed: a new column's values move. */
  readonly rewrite: ReadonlySet<string>;
  /**
   * The view's variant columns of new columns, by its table: not merged. Re-typing its parts
   * creates the variants the settled type needs, so which exist depends on the values only.
   */
  readonly dropColumns: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The types a value may be inferred as, in the order that wins a tie (`settledType`). */
const SETTLE_PRECEDENCE: readonly ColumnType[] = ['timestamp', 'double', 'bool', 'text'];

/**
 * A new column's type from every value the load gave it: among the types its values have, the
 * one the most values fit losslessly (`coerceNewValue`), text counting only the values that are
 * text (every value fits text, as spelled: it would always win); a tie goes to timestamp, then
 * double, bool, text. So `12.5` with `"12.50"` is double (both fit), mostly numbers with some
 * `"N/A"` double (`"N/A"` to `__v_text`), mostly `"N/A"` text, zip codes (`"02139"`, strings
 * only) stay text, booleans with `"true"` bool. Counts only: no order enters.
 */
export function settledType(values: Pick<NewColumnValues, 'kinds' | 'fits'>): ColumnType | undefined {
  const score = (type: ColumnType) => (type === 'text' ? values.kinds.text : values.fits[type]) ?? 0;
  let best: ColumnType | undefined;
  for (const type of SETTLE_PRECEDENCE) {
    if ((values.kinds[type] ?? 0) === 0) continue;
    if (best === undefined || score(type) > score(best)) best = type;
  }
  return best;
}

interface ValueStats {
  readonly kinds: Record<ColumnType, number>;
  readonly fits: Record<ColumnType, number>;
  apart: number;
  /** Per type, a bit per `COLUMN_TYPES` index of the own types of values that do not fit it. */
  readonly misfits: Record<ColumnType, number>;
}

function typeBit(type: ColumnType): number {
  return 1 << COLUMN_TYPES.indexOf(type);
}

/** The types whose bits are set, in `COLUMN_TYPES` order. */
function typesOfBits(bits: number): ColumnType[] {
  return COLUMN_TYPES.filter((_, i) => (bits & (1 << i)) !== 0);
}

function emptyStats(): ValueStats {
  return {
    kinds: { text: 0, bigint: 0, double: 0, bool: 0, timestamp: 0 },
    fits: { text: 0, bigint: 0, double: 0, bool: 0, timestamp: 0 },
    apart: 0,
    misfits: { text: 0, bigint: 0, double: 0, bool: 0, timestamp: 0 },
  };
}

function addStats(into: ValueStats, from: NewColumnValues): void {
  for (const type of COLUMN_TYPES) {
    into.kinds[type] += from.kinds[type] ?? 0;
    into.fits[type] += from.fits[type] ?? 0;
  }
  into.apart += from.apart;
  for (const type of COLUMN_TYPES)
    for (const misfit of from.misfits?.[type] ?? []) into.misfits[type] |= typeBit(misfit);
}

/** Stats as a document: zero counts left out. */
function statsDoc(stats: ValueStats): NewColumnValues {
  const sparse = (counts: Record<ColumnType, number>) =>
    Object.fromEntries(COLUMN_TYPES.filter((t) => counts[t] > 0).map((t) => [t, counts[t]]));
  return {
    kinds: sparse(stats.kinds),
    fits: sparse(stats.fits),
    apart: stats.apart,
    misfits: Object.fromEntries(
      COLUMN_TYPES.filter((t) => stats.misfits[t] !== 0).map((t) => [t, typesOfBits(stats.misfits[t])]),
    ),
  };
}

/** Lineage columns have one type whatever their first value looks like (an identifier may look like a date). */
const SYSTEM_COLUMN_TYPES: ReadonlyMap<string, ColumnType> = new Map<string, ColumnType>([
  [LAKE.idColumn, 'text'],
  [LAKE.loadIdColumn, 'text'],
  [LAKE.parentIdColumn, 'text'],
  [LAKE.rootIdColumn, 'text'],
  [LAKE.userColumn, 'text'],
  [LAKE.listIndexColumn, 'bigint'],
  [OVERFLOW_COLUMN, 'text'],
]);

/** Names no source path may take: lineage columns and the partition column. */
const RESERVED_NAMES: ReadonlySet<string> = new Set([...SYSTEM_COLUMN_TYPES.keys(), PARTITION_COLUMN]);
const VARIANT_NAME = /__v_(?:text|bigint|double|bool|timestamp)$/;

const ROOT_SYSTEM_COLUMNS: readonly ColumnDef[] = [
  { name: LAKE.loadIdColumn, type: 'text' },
  { name: LAKE.idColumn, type: 'text' },
  { name: LAKE.userColumn, type: 'text' },
];
const CHILD_SYSTEM_COLUMNS: readonly ColumnDef[] = [
  { name: LAKE.parentIdColumn, type: 'text' },
  { name: LAKE.listIndexColumn, type: 'bigint' },
  { name: LAKE.idColumn, type: 'text' },
  { name: LAKE.loadIdColumn, type: 'text' },
  { name: LAKE.rootIdColumn, type: 'text' },
  { name: LAKE.userColumn, type: 'text' },
];

const columnSchema = z.object({
  name: z.string().min(1),
  type: z.enum(COLUMN_TYPES as [ColumnType, ...ColumnType[]]),
});
const reasonSchema = z.enum(JSON_REASONS as [JsonReason, ...JsonReason[]]);
const fieldSchema = z.union([
  z
    .object({
      path: z.array(z.string()),
      column: z.string().min(1),
      json: reasonSchema.optional(),
      declared: z.literal(true).optional(),
    })
    .strict(),
  z
    .object({ path: z.array(z.string()), table: z.string().min(1), declared: z.literal(true).optional() })
    .strict(),
]);
const docSchema = z.object({
  formatVersion: z.literal(1),
  version: z.number().int().nonnegative(),
  tables: z.record(
    z.string().min(1),
    z.object({
      columns: z.array(columnSchema),
      fields: z.array(fieldSchema).optional(),
      overflow: z.array(reasonSchema).optional(),
    }),
  ),
});

interface TableState {
  readonly name: string;
  /** Replaced (never mutated) when a column is added, so callers may hold on to it. */
  columns: readonly ColumnDef[];
  readonly types: Map<string, ColumnType>;
  /**
   * Source path key -> column; a JSON key without its reason (`{["balances"]`) -> the column
   * holding that value as JSON; `OVERFLOWED` for a path that went to the overflow column.
   */
  readonly cells: Map<string, string>;
  /** Source path key of a list field -> child table. */
  readonly lists: Map<string, string>;
  /** Columns some source path owns (a column in `types` but not here is unowned: adoptable). */
  readonly owned: Set<string>;
  /** The fields in the order they were named (what `toJSON` writes). */
  readonly fields: FieldDef[];
  /** Set once a table is a root table or some table's child: its name is then taken. */
  owner: string | undefined;
  /** Reasons fields went to the overflow column. */
  readonly overflow: Set<JsonReason>;
  /** What the lake held before this load (committed or declared): all `routing()` may see. */
  readonly stableJson: Set<string>;
  readonly stableTop: Set<string>;
  /** Cell keys and `LIST_MARK` + list keys of declared fields. */
  readonly declared: Set<string>;
  /**
   * Columns whose type this registry does not decide: committed, declared, lineage, variants.
   * The others are new to the lake: with `stageNewColumns`, their values are staged exactly and
   * counted (`stats`) for the commit to settle their type.
   */
  readonly fixed: Set<string>;
  /** Per new column, its values since the last `takeNewColumnValues`. */
  readonly stats: Map<string, ValueStats>;
}

/** Prefix of a list key in `TableState.declared` (cells and lists share the set). */
const LIST_MARK = 'L';

/** `cells` value of a path whose values go to the overflow column. */
const OVERFLOWED = '';

/**
 * Rename target of a view's column whose path the commit sent to the overflow column:
 * `{*` + `c` (a value) or `j` (JSON text) + the path key. Never a column name (not a lake name).
 */
const DEMOTED = '{*';

function demotedKey(path: string, json: boolean): string {
  return `${DEMOTED}${json ? 'j' : 'c'}${path}`;
}

/** A demoted cell as a JSON value: JSON text parsed back, a timestamp as its ISO text. */
function demotedValue(key: string, value: Scalar): JsonValue {
  if (key.charAt(DEMOTED.length) === 'j' && typeof value === 'string') return parse(value) as JsonValue;
  if ((value as unknown) instanceof Date) return (value as unknown as Date).toISOString();
  return value;
}

/** A typed row and the table it goes to. */
export interface TypedRow {
  readonly table: string;
  readonly row: Row;
}

const NO_COLUMNS: readonly ColumnDef[] = Object.freeze([]);

export class SchemaRegistry {
  readonly #tables = new Map<string, TableState>();
  /** Table keys (field-path.ts) already resolved to their table. */
  readonly #byKey = new Map<string, TableState>();
  #changes: SchemaChange[] = [];
  #version: number;
  #nonFinite = 0;
  /** `stageNewColumns` was called: values of columns new to the lake are staged and counted. */
  #staging = false;
  /** In `retypeRow`: a staged part's values are placed by the rule they were staged by. */
  #retyping = false;

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
      for (const column of columns) {
        registry.#appendColumn(state, column.name, column.type);
        state.fixed.add(column.name);
      }
    }
    for (const [table, { fields, overflow }] of Object.entries(parsed.tables)) {
      const state = registry.#tables.get(table)!;
      for (const field of fields ?? []) registry.#restoreField(state, field);
      for (const reason of overflow ?? []) state.overflow.add(reason);
    }
    return registry;
  }

  /**
   * What the normalizer may rely on: the JSON paths and known fields the registry held before
   * this load (committed or declared), never what this load's records added since, so that a
   * record normalizes alike whatever came before it in the load.
   */
  routing(): NormalizeRouting {
    return {
      isJsonPath: (table, path) => this.#peekTable(table)?.stableJson.has(path) ?? false,
      hasField: (table, key) => this.#peekTable(table)?.stableTop.has(key) ?? false,
    };
  }

  /** Bare NaN / Infinity / -Infinity tokens typed so far (each is null in its column, its token in `<column>__v_text`). */
  nonFiniteValues(): number {
    return this.#nonFinite;
  }

  /**
   * For a batch's registry (load-batch.ts): from now on, the values of a column new to the lake
   * (not committed, not declared) are staged exactly rather than coerced into the type the
   * batch's first value gave it, and counted; the commit settles the column's type from every
   * batch's counts (`settleNewColumns`) and re-types the parts that staged it otherwise.
   */
  stageNewColumns(): void {
    this.#staging = true;
  }

  /** The counts of new columns' values since the last call (then reset): a batch's manifest. */
  takeNewColumnValues(): NewColumnsDoc {
    const out: Record<string, Record<string, NewColumnValues>> = {};
    for (const [table, state] of this.#tables) {
      if (state.stats.size === 0) continue;
      const columns: Record<string, NewColumnValues> = {};
      for (const [column, stats] of state.stats) columns[column] = statsDoc(stats);
      out[table] = columns;
      state.stats.clear();
    }
    return out;
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

  /** Per table, how many columns it has: what `orderNewColumns` keeps in place. */
  columnCounts(): ReadonlyMap<string, number> {
    return new Map([...this.#tables].map(([table, state]) => [table, state.columns.length]));
  }

  /**
   * Puts each table's columns past `kept` (its count from `columnCounts`, 0 for a table new
   * since) in an order that depends on the columns alone, so Glue's table and every committed
   * file list them the same whatever the user order or batch split: the order the batches'
   * views were merged in, and dlt's "first seen in the normalized stream", both depend on which
   * user came first. Columns already committed keep their places (the registry only appends).
   * New lineage columns, columns of declared fields and of declared tables (no source paths)
   * come first, in declaration order, the same in every batch's view (each declares them before
   * any record); the other new columns follow by name (code unit order) of the column they hold
   * values of, each variant right after its base: a name is the one thing every split agrees on.
   */
  orderNewColumns(kept: ReadonlyMap<string, number>): void {
    for (const state of this.#tables.values()) {
      const from = kept.get(state.name) ?? 0;
      if (state.columns.length - from < 2) continue;
      const declared = new Set<string>();
      for (const field of state.fields)
        if ('column' in field && state.declared.has(declaredKey(field))) declared.add(field.column);
      const inOrder = (c: ColumnDef) =>
        state.fields.length === 0 || SYSTEM_COLUMN_TYPES.has(c.name) || declared.has(c.name);
      const added = state.columns.slice(from);
      const byName = added
        .filter((c) => !inOrder(c))
        .map((c) => [variantRoot(c.name), c] as const)
        .sort(([a, x], [b, y]) => compareUnits(a, b) || compareUnits(x.name, y.name))
        .map(([, c]) => c);
      state.columns = Object.freeze([...state.columns.slice(0, from), ...added.filter(inOrder), ...byName]);
    }
  }

  /** The registered table `table` is a child of (`accounts__bills` -> `accounts`), if any. */
  parentTable(table: string): string | undefined {
    const cut = table.lastIndexOf(LAKE.pathSeparator);
    if (cut <= 0) return undefined;
    const parent = table.slice(0, cut);
    return this.#tables.has(parent) ? parent : undefined;
  }

  /**
   * How the rows of the root table `table` name the parent record they were fetched for, when
   * its resource fans out over another root table's records (`action_history` over `accounts`):
   * the loader writes the parent's key into every such row under the field `_<parent>_<field>`
   * (dlt's include_from_parent, field-path.ts `parentKeyField`), so the link is read off the
   * registry's fields, as `parentTable` reads child tables off their names: a root table with one
   * top-level field `_<P>_<f>` where `P` is another root table with a field `f` of a text or
   * bigint column. Undefined when there is none, or more than one (no guess). The parent's key
   * columns are `f`'s column and its text and bigint variants (a key PayLink sent as a number).
   */
  fanOutParent(table: string): ParentKeyLink | undefined {
    const state = this.#tables.get(table);
    if (state === undefined || table.includes(LAKE.pathSeparator)) return undefined;
    const found: ParentKeyLink[] = [];
    for (const field of state.fields) {
      if (!('column' in field) || field.json !== undefined || field.path.length !== 1) continue;
      const name = field.path[0]!;
      if (!name.startsWith('_')) continue;
      for (const parent of this.#tables.values()) {
        if (parent === state || parent.name.includes(LAKE.pathSeparator)) continue;
        const prefix = parentKeyField(parent.name, '');
        if (!name.startsWith(prefix)) continue;
        const column = parent.cells.get(pathKey([name.slice(prefix.length)]));
        if (column === undefined || column === OVERFLOWED) continue;
        const keyColumns = [column, ...variantsOf(column, parent.types)].filter((c) => {
          const type = parent.types.get(c);
          return type === 'text' || type === 'bigint';
        });
        if (keyColumns.length > 0)
          found.push({ parentTable: parent.name, parentColumns: keyColumns, childColumn: field.column });
      }
    }
    return found.length === 1 ? found[0] : undefined;
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
    state.owner ??= ROOT_OWNER;
    for (const { name, type } of columns) {
      const existing = state.types.get(name);
      state.fixed.add(name);
      if (existing === undefined) this.#addColumn(table, state, name, type, undefined);
      else if (existing !== type) {
        throw new LakeStateError(
          `table ${table}: column ${name} is ${existing} in the registry, declared ${type}`,
        );
      }
    }
  }

  /**
   * Declares a resource's root table and its known fields (`hints`), so its tables and
   * columns exist, typed, before any value arrives (an always-null field, an always-empty list).
   * A declared field keeps the name and type the lake already gave it: a column's type is
   * forever, so a declaration that disagrees with a committed column changes nothing.
   */
  declareResource(table: string, hints: FieldHints = {}): void {
    const state = this.#tables.get(table) ?? this.#addTable(table);
    state.owner ??= ROOT_OWNER;
    this.#declareColumns(state, ROOT_SYSTEM_COLUMNS);
    this.#declareFields(state, [], hints);
  }

  /**
   * Types one normalized row (normalize.ts: `table` is a table key, fields are source path
   * keys), naming new tables and columns as needed; returns the row under its column names
   * and the table it belongs to. Hot path: Map lookups; a path is named once.
   */
  typeRow(tableKey: string, raw: RawRow): TypedRow {
    const state = this.#byKey.get(tableKey) ?? this.#resolveTable(tableKey);
    let unnamed: Map<string, JsonReason | undefined> | undefined;
    let special = false;
    for (const key in raw) {
      // A null names nothing: the path may never carry a value.
      if (raw[key] === null) continue;
      if (isPathKey(key)) {
        if (state.cells.has(key)) continue;
        unnamed ??= new Map();
        unnamed.set(key, undefined);
      } else if (isJsonKey(key)) {
        special = true;
        const { reason, path } = parseJsonKey(key);
        if (path === undefined) continue;
        const cell = JSON_CELL + path;
        if (state.cells.has(cell)) continue;
        unnamed ??= new Map();
        unnamed.set(cell, reason);
      }
    }
    if (unnamed !== undefined) this.#nameCells(state, unnamed, MAX_TABLE_COLUMNS - state.columns.length);
    const row: Row = {};
    let overflow: OverflowEntries | undefined;
    for (const key in raw) {
      const value = raw[key] as JsonPrimitive;
      if (isPathKey(key)) {
        const column = state.cells.get(key);
        if (column === undefined) continue;
        if (column !== OVERFLOWED) this.#put(state, row, column, value);
        else if (value !== null) {
          if (overflow === undefined) overflow = new OverflowEntries();
          overflow.add(pathSegments(key), value);
        }
      } else if (special && isJsonKey(key)) {
        if (value !== null) overflow = this.#putJson(state, row, key, String(value), overflow);
      } else this.#put(state, row, key, value);
    }
    if (overflow !== undefined) {
      for (const reason of overflow.reasons) this.#noteOverflow(state, reason);
      this.#put(state, row, OVERFLOW_COLUMN, overflow.toJSON());
    }
    return { table: state.name, row };
  }

  /** A value the normalizer kept as JSON (its column), or its overflow object; returns the overflow. */
  #putJson(
    state: TableState,
    row: Row,
    key: string,
    text: string,
    overflow: OverflowEntries | undefined,
  ): OverflowEntries | undefined {
    const { reason, path } = parseJsonKey(key);
    const column = path === undefined ? OVERFLOWED : state.cells.get(JSON_CELL + path);
    if (column === undefined) return overflow;
    if (column !== OVERFLOWED) {
      this.#put(state, row, column, text);
      return overflow;
    }
    const entries = overflow ?? new OverflowEntries();
    if (path === undefined) entries.merge(text, reason);
    else entries.add(pathSegments(path), parse(text) as JsonValue);
    return entries;
  }

  /**
   * Names new paths of one table (a row's, or every view's at commit). When several of them
   * normalize to one name, the order of claims is fixed, not the field order: first each name's
   * best claimant (an already normalized raw path, `user_id` before `userId`, else the raw path
   * that sorts first), then the others, which get tagged names. So one record, and one load at
   * commit, names alike whatever its order. `keys` maps a path key (or a JSON cell key) to the
   * reason it is kept as JSON (undefined: a plain column). Paths past `room` new columns go to
   * the overflow column instead (in the same order).
   */
  #nameCells(
    state: TableState,
    keys: ReadonlyMap<string, JsonReason | undefined>,
    room: number,
    declared: ReadonlySet<string> = NO_KEYS,
  ): void {
    const name = (key: string) => {
      // The item itself (`value`) always has a place: it is the whole row's content.
      if (room <= 0 && key !== ITEM_PATH) {
        state.cells.set(key, OVERFLOWED);
        this.#noteOverflow(state, 'column_cap');
        return;
      }
      room--;
      this.#nameCell(state, key, undefined, keys.get(key));
    };
    if (keys.size === 1) {
      name(keys.keys().next().value as string);
      return;
    }
    const groups = new Map<string, string[]>();
    const order = (a: string, b: string) =>
      Number(declared.has(b)) - Number(declared.has(a)) || compareClaims(a, b);
    for (const key of [...keys.keys()].sort(order)) {
      const natural = naturalColumn(key);
      const group = groups.get(natural);
      if (group) group.push(key);
      else groups.set(natural, [key]);
    }
    const losers: string[] = [];
    for (const group of groups.values()) {
      name(group[0]!);
      losers.push(...group.slice(1));
    }
    for (const key of losers.sort(order)) name(key);
  }

  /**
   * Names, before the views of one load are merged, every source path they bring that the
   * registry lacks, in one total order over all of them (see `#nameCells`), tables from the
   * roots down. `merge` then keeps these names and renames a view's columns and child tables
   * that differ. So which of `accountId` and `account_id` gets `account_id` depends on the two
   * keys only, never on which record or batch came first.
   */
  claimNames(docs: readonly SchemaDoc[]): void {
    // Paths past MAX_TABLE_COLUMNS in this order go to the overflow column: `merge` then renames
    // a view's column of such a path to a demotion key, and `coerceRow` (the commit re-writing
    // that view's parts) moves its values into `_overflow`. So the cap holds across parallel
    // batches too, and which paths keep a column depends on the paths only.
    const cells = new Map<string, Map<string, JsonReason | undefined>>();
    const lists = new Map<string, Set<string>>();
    // Declared fields first: every batch declares the same, and a declared name is a contract.
    const declared = new Map<string, Set<string>>();
    // Columns the views bring that no path owns (lineage, `_overflow`): they take room too.
    const unowned = new Map<string, Set<string>>();
    for (const doc of docs) {
      const keys = tableKeys(doc);
      for (const [table, entry] of Object.entries(doc.tables)) {
        const tableKey = keys.get(table);
        if (tableKey === undefined) continue;
        const owned = new Set((entry.fields ?? []).flatMap((f) => ('column' in f ? [f.column] : [])));
        const set = unowned.get(tableKey) ?? new Set<string>();
        for (const { name } of entry.columns) if (!owned.has(name) && !VARIANT_NAME.test(name)) set.add(name);
        unowned.set(tableKey, set);
        for (const field of entry.fields ?? []) {
          const path = pathKey(field.path);
          if (field.declared) {
            const set = declared.get(tableKey) ?? new Set<string>();
            set.add(declaredKey(field));
            declared.set(tableKey, set);
          }
          if ('table' in field) {
            const set = lists.get(tableKey) ?? new Set<string>();
            set.add(path);
            lists.set(tableKey, set);
          } else {
            const map = cells.get(tableKey) ?? new Map<string, JsonReason | undefined>();
            map.set(field.json === undefined ? path : JSON_CELL + path, field.json);
            cells.set(tableKey, map);
          }
        }
      }
    }
    const tables = [...new Set([...cells.keys(), ...lists.keys()])].sort(
      (a, b) => splitTableKey(a).length - splitTableKey(b).length || (a < b ? -1 : a > b ? 1 : 0),
    );
    for (const tableKey of tables) {
      const state = this.#resolveTable(tableKey);
      // Lists first: a field seen in this load both as a list and a value is then reported
      // alike whatever the order (was a list, now a value), as an object and a value are.
      const first = declared.get(tableKey) ?? NO_KEYS;
      const listOrder = (a: string, b: string) =>
        Number(first.has(LIST_MARK + b)) - Number(first.has(LIST_MARK + a)) || compareClaims(a, b);
      for (const key of [...(lists.get(tableKey) ?? [])].sort(listOrder))
        if (!state.lists.has(key)) this.#nameList(state, key);
      const fresh = new Map([...(cells.get(tableKey) ?? [])].filter(([key]) => !state.cells.has(key)));
      const extra = [...(unowned.get(tableKey) ?? [])].filter((name) => !state.types.has(name)).length;
      if (fresh.size > 0)
        this.#nameCells(state, fresh, MAX_TABLE_COLUMNS - state.columns.length - extra, first);
    }
  }

  /**
   * Settles the type of every column new to the lake that the batches' views bring with value
   * counts (`NewColumnValues`), after `claimNames`: each gets `settledType` of the counts of all
   * views together, by source path (so a column a view named otherwise counts too), whatever
   * the batch split or order. A column the registry already has keeps its type (committed types
   * never change). Returns, per view, what its merge must leave out and which of its tables
   * must be re-typed (`SettledView`): those that typed a settled column otherwise or staged
   * some of its values in a variant.
   */
  settleNewColumns(views: readonly { schema: SchemaDoc; values?: NewColumnsDoc }[]): SettledView[] {
    /** Per view: their table -> their column -> [our table, our column]. */
    const mapped = views.map(({ schema }) => {
      const keys = tableKeys(schema);
      const byTable = new Map<string, Map<string, [TableState, string]>>();
      for (const [table, entry] of Object.entries(schema.tables)) {
        const tableKey = keys.get(table);
        const state = tableKey === undefined ? undefined : this.#peekTable(tableKey);
        if (state === undefined) continue;
        const columns = new Map<string, [TableState, string]>();
        for (const field of entry.fields ?? []) {
          if (!('column' in field)) continue;
          const key = pathKey(field.path);
          const ours = state.cells.get(field.json === undefined ? key : JSON_CELL + key);
          if (ours !== undefined && ours !== OVERFLOWED) columns.set(field.column, [state, ours]);
        }
        byTable.set(table, columns);
      }
      return byTable;
    });
    const totals = new Map<TableState, Map<string, ValueStats>>();
    views.forEach(({ values }, i) => {
      for (const [table, columns] of Object.entries(values ?? {})) {
        for (const [column, counts] of Object.entries(columns)) {
          const target = mapped[i]!.get(table)?.get(column);
          if (target === undefined) continue;
          const [state, ours] = target;
          // Committed by another load since the batch started (or a concurrent commit): kept.
          if (state.types.has(ours) && !totals.get(state)?.has(ours)) continue;
          const byColumn = totals.get(state) ?? new Map<string, ValueStats>();
          totals.set(state, byColumn);
          const stats = byColumn.get(ours) ?? emptyStats();
          byColumn.set(ours, stats);
          addStats(stats, counts);
        }
      }
    });
    /** Our table -> our column -> its settled type and the types of the variants it needs. */
    const settled = new Map<TableState, Map<string, [ColumnType, ReadonlySet<ColumnType>]>>();
    for (const [state, byColumn] of totals) {
      const types = new Map<string, [ColumnType, ReadonlySet<ColumnType>]>();
      for (const [column, stats] of byColumn) {
        const type = settledType(stats);
        if (type === undefined) continue;
        types.set(column, [type, new Set(typesOfBits(stats.misfits[type]))]);
        this.#addColumn(state.name, state, column, type, undefined);
      }
      settled.set(state, types);
    }
    return views.map(({ schema, values }, i) => {
      const rewrite = new Set<string>();
      const dropColumns = new Map<string, Set<string>>();
      for (const [table, columns] of mapped[i]!) {
        const entry = schema.tables[table]!;
        const types = new Map(entry.columns.map((c) => [c.name, c.type]));
        const drop = new Set<string>();
        for (const [column, [state, ours]] of columns) {
          if (!types.has(column)) continue;
          const counts = values?.[table]?.[column];
          const variants = variantsOf(column, types);
          const [type, misfits] = settled.get(state)?.get(ours) ?? [];
          if (type === undefined || misfits === undefined) {
            // Committed by another load while this batch staged it as new: the values it staged
            // apart (a "12.50" beside its double column) move by re-typing, as they would have
            // been placed had the batch found it committed; a type it had otherwise is a
            // conflict the merge reports.
            if ((counts?.apart ?? 0) === 0) continue;
            rewrite.add(table);
            for (const variant of variants) drop.add(variant);
            continue;
          }
          // Its values are where the settled type puts them unless the batch typed the column
          // otherwise or staged apart values that fit it. A variant no value of the load needs
          // under that type (one those values left, or a shared registry's) is not brought.
          const needed = new Set([...misfits].map((misfit) => variantName(column, misfit)));
          const retype = types.get(column) !== type || (counts?.apart ?? 0) > 0;
          if (!retype && variants.every((v) => needed.has(v))) continue;
          rewrite.add(table);
          for (const variant of variants) drop.add(variant);
        }
        if (drop.size > 0) dropColumns.set(table, drop);
      }
      return { rewrite, dropColumns };
    });
  }

  /**
   * Types one raw row of `table` whose keys are already column names (`user_loads`, parts read
   * back at commit), growing the registry as needed. Hot path: Map lookups, no validation
   * library, no regex for the common cases.
   */
  coerceRow(table: string, raw: RawRow): Row {
    const state = this.#tables.get(table) ?? this.#addTable(table);
    const row: Row = {};
    const demoted: [string, JsonPrimitive][] = [];
    for (const key in raw) {
      const value = raw[key] as JsonPrimitive;
      // A column `merge` sent to the overflow column (its rename target is a demotion key).
      if (!key.startsWith(DEMOTED)) this.#put(state, row, key, value);
      else if (value !== null) demoted.push([key, value]);
    }
    if (demoted.length > 0) {
      const overflow = new OverflowEntries();
      const kept = raw[OVERFLOW_COLUMN];
      if (typeof kept === 'string') overflow.merge(kept, 'column_cap');
      for (const [key, value] of demoted)
        overflow.add(pathSegments(key.slice(DEMOTED.length + 1)), demotedValue(key, value as Scalar));
      this.#put(state, row, OVERFLOW_COLUMN, overflow.toJSON());
    }
    return row;
  }

  /**
   * Types a row read back from a staged part (the commit re-typing a batch's parts) as
   * `coerceRow` does, except that a decimal string goes into a double column only when the
   * double holds its exact value (type-inference.ts `coerceNewValue`). A batch stages a number
   * literal no double holds (`1e-400`) as its text, in a text column or variant, and the values
   * it placed in a variant of a committed column did not fit it: neither may become a rounded
   * number now. Values the batch coerced are in their column's type already and stay as they
   * are, so a committed column's values keep the places its batches gave them.
   */
  retypeRow(table: string, raw: RawRow): Row {
    this.#retyping = true;
    try {
      return this.coerceRow(table, raw);
    } finally {
      this.#retyping = false;
    }
  }

  /**
   * Folds another registry view (a parallel batch's) into this one: its field names, tables
   * and columns are added. A source path both sides named differently keeps our name, and
   * theirs is listed in `renames` (a column) or `tableRenames` (a child table): their parts
   * must be rewritten under our names. A column both sides have with different types is a
   * conflict (ours is kept).
   */
  merge(other: SchemaDoc): MergeResult {
    const theirs = parseDoc(other);
    const conflicts: SchemaConflict[] = [];
    const renames: SchemaRename[] = [];
    const tableRenames: TableRename[] = [];
    const before = this.#changes.length;
    // Their table -> ours. Child tables are reached from their parent's list fields, parents
    // first, so a child of a renamed table is named under our name for its parent.
    const ourTable = new Map<string, string>();
    const childTables = new Set<string>();
    for (const { fields } of Object.values(theirs.tables))
      for (const field of fields ?? []) if ('table' in field) childTables.add(field.table);
    const queue = Object.keys(theirs.tables)
      .filter((t) => !childTables.has(t))
      .sort();
    for (const table of queue) ourTable.set(table, table);
    for (let i = 0; i < queue.length; i++) {
      const table = queue[i]!;
      const name = ourTable.get(table)!;
      const state = this.#tables.get(name) ?? this.#addTable(name);
      if (name !== table) tableRenames.push({ from: table, to: name });
      for (const reason of theirs.tables[table]!.overflow ?? []) this.#noteOverflow(state, reason);
      for (const field of theirs.tables[table]!.fields ?? []) {
        const key = pathKey(field.path);
        if (field.declared) state.declared.add(declaredKey(field));
        if ('column' in field) {
          const cell = field.json === undefined ? key : JSON_CELL + key;
          const ours = state.cells.get(cell) ?? this.#nameCell(state, cell, field.column, field.json);
          // Past the column cap (claimNames): their column's values move to the overflow column.
          const to = ours === OVERFLOWED ? demotedKey(key, field.json !== undefined) : ours;
          if (to !== field.column) renames.push({ table, from: field.column, to });
        } else if (!ourTable.has(field.table)) {
          ourTable.set(field.table, state.lists.get(key) ?? this.#nameList(state, key, field.table));
          queue.push(field.table);
        }
      }
    }
    for (const table of queue) {
      const name = ourTable.get(table)!;
      const state = this.#tables.get(name)!;
      const renamed = new Map(renames.filter((r) => r.table === table).map((r) => [r.from, r.to]));
      for (const column of theirs.tables[table]!.columns) {
        const column_ = renamedColumn(column.name, renamed);
        if (column_.startsWith(DEMOTED)) continue;
        const ours = state.types.get(column_);
        if (ours === undefined)
          this.#addColumn(name, state, column_, column.type, variantBase(state, column_, column.type));
        else if (ours !== column.type)
          conflicts.push({ table: name, column: column_, ours, theirs: column.type });
      }
    }
    return { added: this.#changes.slice(before), conflicts, renames, tableRenames };
  }

  /** The registry as a document: tables sorted by name, columns in order, so equal registries serialize equally. */
  toJSON(): SchemaDoc {
    const tables: Record<string, { columns: ColumnDef[]; fields?: FieldDef[]; overflow?: JsonReason[] }> = {};
    for (const table of this.tables()) {
      const state = this.#tables.get(table)!;
      tables[table] = { columns: state.columns.map(({ name, type }) => ({ name, type })) };
      if (state.fields.length > 0)
        tables[table].fields = state.fields.map((f) =>
          state.declared.has(declaredKey(f)) ? { ...f, declared: true as const } : { ...f },
        );
      if (state.overflow.size > 0) tables[table].overflow = [...state.overflow].sort();
    }
    return { formatVersion: 1, version: this.#version, tables };
  }

  /** One value into `row[column]`, adding the column or a variant as needed. */
  #put(state: TableState, row: Row, column: string, value: JsonPrimitive | undefined): void {
    const types = state.types;
    if (value === null || value === undefined) {
      // A null only fills a known column, and never overwrites a variant value routed here earlier.
      if (types.has(column) && !(column in row)) row[column] = null;
      return;
    }
    let type = types.get(column);
    if (type === undefined) {
      const system = SYSTEM_COLUMN_TYPES.get(column);
      if (system !== undefined) state.fixed.add(column);
      // Staged new columns start as their first value's staging type, so it stays in the column.
      type = system ?? ((this.#staging ? variantType(value as Scalar) : inferType(value)) as ColumnType);
      this.#addColumn(state.name, state, column, type, undefined);
    }
    if (this.#staging && !state.fixed.has(column)) {
      this.#stage(state, row, column, type, value);
      return;
    }
    const cell = this.#retyping ? coerceNewValue(value, type) : coerceValue(value, type);
    if (cell !== NO_FIT) {
      row[column] = cell;
      return;
    }
    if (isNonFinite(value)) this.#nonFinite++;
    row[column] = null;
    this.#writeVariant(state, row, column, value);
  }

  /**
   * One value of a column new to the lake, staged in its own type (`variantType`): in the column
   * when that is its type, else in `<column>__v_<its type>`, never coerced into the type the
   * batch's first value gave the column. So the commit re-types it, whatever type the load
   * settles on, as if from the value itself (a `"12.50"` is still `"12.50"`, not 12.5), and
   * counts decide the type (`settledType`). `apart` counts the values whose place depends on the
   * column's type (they fit it, yet are in a variant): their table is re-typed at commit even
   * when the load settles on the type this batch used; `misfits`, per type, the variants the
   * column needs if the load settles on it.
   */
  #stage(state: TableState, row: Row, column: string, type: ColumnType, value: Scalar): void {
    let stats = state.stats.get(column);
    if (stats === undefined) {
      stats = emptyStats();
      state.stats.set(column, stats);
    }
    const own = variantType(value);
    // `inferType`, from `own`: a string's is its own, any number's double.
    stats.kinds[typeof value === 'string' ? own : typeof value === 'boolean' ? 'bool' : 'double']++;
    for (const candidate of SETTLE_PRECEDENCE) {
      if (fitsType(value, own, candidate)) stats.fits[candidate]++;
      else stats.misfits[candidate] |= typeBit(own);
    }
    if (isNonFinite(value)) {
      this.#nonFinite++;
      row[column] = null;
      this.#writeVariant(state, row, column, value);
      return;
    }
    const cell = coerceValue(value, own) as Exclude<Cell, null>;
    if (own === type) {
      row[column] = cell;
      return;
    }
    const name = variantName(column, own);
    if (fitsType(value, own, type)) stats.apart++;
    row[column] = null;
    const existing = state.types.get(name);
    if (existing === undefined) this.#addColumn(state.name, state, name, own, column);
    if (existing === undefined || existing === own) row[name] = cell;
    // Only a column named by hand can hold that name with another type: placed as any misfit.
    else this.#writeVariant(state, row, column, value);
  }

  /** The table a table key (field-path.ts) names, naming each new child table on the way. */
  #resolveTable(tableKey: string): TableState {
    const [root, ...lists] = splitTableKey(tableKey) as [string, ...string[]];
    let state = this.#tables.get(root) ?? this.#addTable(root);
    state.owner ??= ROOT_OWNER;
    for (const list of lists) {
      const name = state.lists.get(list) ?? this.#nameList(state, list);
      state = this.#tables.get(name)!;
    }
    this.#byKey.set(tableKey, state);
    return state;
  }

  /**
   * Names the source path `key` of `state` (a column; with `json`, a JSON cell key, the column
   * holding that value as JSON text): `preferred` (another view's choice) or the path's
   * normalized name when free, else that name tagged with a hash of the path.
   */
  #nameCell(state: TableState, key: string, preferred?: string, json?: JsonReason): string {
    const path = sourcePath(key);
    const segments = pathSegments(path);
    const natural = naturalColumn(key);
    const taken = (name: string) =>
      state.owned.has(name) || RESERVED_NAMES.has(name) || VARIANT_NAME.test(name) || !isLakeName(name);
    const name = preferred !== undefined && !taken(preferred) ? preferred : freeName(natural, key, taken);
    state.cells.set(key, name);
    state.owned.add(name);
    if (json === undefined) this.#recordField(state, { path: segments, column: name }, key, 'scalar', name);
    else {
      state.fields.push({ path: segments, column: name, json });
      this.#changes.push({
        kind: 'json_column',
        table: state.name,
        column: name,
        field: describePath(path),
        reason: json,
      });
    }
    return name;
  }

  /** Records that fields of `state` went to its overflow column for `reason` (reported once). */
  #noteOverflow(state: TableState, reason: JsonReason): void {
    if (state.overflow.has(reason)) return;
    state.overflow.add(reason);
    this.#changes.push({ kind: 'json_column', table: state.name, column: OVERFLOW_COLUMN, reason });
  }

  /** The table a table key names, if the registry has it (names nothing). */
  #peekTable(tableKey: string): TableState | undefined {
    const known = this.#byKey.get(tableKey);
    if (known !== undefined) return known;
    const [root, ...lists] = splitTableKey(tableKey) as [string, ...string[]];
    let state = this.#tables.get(root);
    for (const list of lists) {
      const name = state?.lists.get(list);
      state = name === undefined ? undefined : this.#tables.get(name);
    }
    return state;
  }

  /** Names the list at source path `key` of `state` (a child table), and creates that table. */
  #nameList(state: TableState, key: string, preferred?: string): string {
    const segments = pathSegments(key);
    const field = key === ITEM_PATH ? ['list'] : segments.map(normalizeIdentifier);
    const natural = shortenPath([state.name, ...field]);
    const owner = `${state.name}\u0000${key}`;
    const taken = (name: string) => {
      const table = this.#tables.get(name);
      return (table !== undefined && table.owner !== undefined && table.owner !== owner) || !isLakeName(name);
    };
    const name = preferred !== undefined && !taken(preferred) ? preferred : freeName(natural, key, taken);
    const child = this.#tables.get(name) ?? this.#addTable(name);
    child.owner = owner;
    state.lists.set(key, name);
    this.#recordField(state, { path: segments, table: name }, key, 'list', name);
    return name;
  }

  /** Remembers a named field and reports it when the same path was seen with another shape. */
  #recordField(state: TableState, field: FieldDef, key: string, shape: FieldShape, name: string): void {
    state.fields.push(field);
    const was = shapeBefore(state, key, shape);
    if (was !== undefined) {
      this.#changes.push({
        kind: 'shape_change',
        table: state.name,
        column: name,
        field: describePath(key),
        was,
        now: shape,
      });
    }
  }

  #restoreField(state: TableState, field: FieldDef): void {
    const key = pathKey(field.path);
    const { declared, ...plain } = field;
    state.fields.push(plain);
    if (declared) state.declared.add(declaredKey(field));
    if (field.path.length > 0) state.stableTop.add(field.path[0]!);
    if ('column' in field) {
      state.cells.set(field.json === undefined ? key : JSON_CELL + key, field.column);
      state.owned.add(field.column);
      if (field.json !== undefined) state.stableJson.add(key);
    } else {
      state.lists.set(key, field.table);
      const child = this.#tables.get(field.table) ?? this.#createTable(field.table);
      child.owner = `${state.name}\u0000${key}`;
    }
  }

  #declareColumns(state: TableState, columns: readonly ColumnDef[]): void {
    for (const { name, type } of columns) {
      state.fixed.add(name);
      if (!state.types.has(name)) this.#addColumn(state.name, state, name, type, undefined);
    }
  }

  #declareFields(state: TableState, prefix: readonly string[], hints: FieldHints): void {
    for (const [key, hint] of Object.entries(hints)) this.#declareField(state, [...prefix, key], hint);
  }

  #declareField(state: TableState, segments: readonly string[], hint: FieldHint): void {
    const key = pathKey(segments);
    // Declared fields are known before any record: the normalizer may keep a wide row's values there.
    if (segments.length > 0) state.stableTop.add(segments[0]!);
    if (typeof hint === 'string') {
      state.declared.add(key);
      const column = state.cells.get(key) ?? this.#nameCell(state, key);
      state.fixed.add(column);
      if (!state.types.has(column)) this.#addColumn(state.name, state, column, hint, undefined);
    } else if ('fields' in hint) {
      this.#declareFields(state, segments, hint.fields);
    } else {
      state.declared.add(LIST_MARK + key);
      const child = this.#tables.get(state.lists.get(key) ?? this.#nameList(state, key))!;
      this.#declareColumns(child, CHILD_SYSTEM_COLUMNS);
      this.#declareField(child, [], hint.items);
    }
  }

  /**
   * Stores a misfit value in `<column>__v_<type>` (text for exact big integers and non-finite
   * tokens). No source path can take a name of that form; a row keyed by column names can, and
   * then the value nests one level deeper.
   */
  #writeVariant(state: TableState, row: Row, column: string, value: Scalar): void {
    const valueType = variantType(value);
    let base = column;
    for (;;) {
      const name = variantName(base, valueType);
      let type = state.types.get(name);
      if (type === undefined) {
        this.#addColumn(state.name, state, name, valueType, base);
        type = valueType;
      }
      // A non-finite number fits no column; its variant keeps the token itself.
      const cell = isNonFinite(value) ? (type === 'text' ? String(value) : NO_FIT) : coerceValue(value, type);
      if (cell !== NO_FIT) {
        row[name] = cell;
        return;
      }
      // Only a column named by hand (`coerceRow`) can hold that name with another type: go one deeper.
      base = name;
    }
  }

  #addTable(table: string): TableState {
    const state = this.#createTable(table);
    this.#changes.push({ kind: 'new_table', table });
    return state;
  }

  #createTable(table: string): TableState {
    const state: TableState = {
      name: table,
      columns: NO_COLUMNS,
      types: new Map(),
      cells: new Map(),
      lists: new Map(),
      owned: new Set(),
      fields: [],
      owner: undefined,
      overflow: new Set(),
      stableJson: new Set(),
      stableTop: new Set(),
      declared: new Set(),
      fixed: new Set(),
      stats: new Map(),
    };
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
    if (variantOf !== undefined) state.fixed.add(name);
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

const NO_KEYS: ReadonlySet<string> = new Set();

/** A field's key in `TableState.declared`: its cell key, or `LIST_MARK` + its list key. */
/** The column a variant holds misfit values of (`amount__v_text` -> `amount`); a column itself otherwise. */
function variantRoot(name: string): string {
  let base = name;
  while (VARIANT_NAME.test(base)) base = base.replace(VARIANT_NAME, '');
  return base.length > 0 ? base : name;
}

const compareUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function declaredKey(field: FieldDef): string {
  const path = pathKey(field.path);
  if ('table' in field) return LIST_MARK + path;
  return field.json === undefined ? path : JSON_CELL + path;
}

/** Prefix of a JSON cell key in `cells`: `{` then the path key (the reason is not part of it). */
const JSON_CELL = '{';

/** The path key of a cell key (a path key, or a JSON cell key). */
function sourcePath(key: string): string {
  return key.charCodeAt(0) === 0x7b ? key.slice(JSON_CELL.length) : key;
}

/** The column a path gets when its name is free: its normalized path (`value` for the item itself). */
function naturalColumn(key: string): string {
  const path = sourcePath(key);
  if (path === ITEM_PATH) return LAKE.scalarListColumn;
  return shortenPath(pathSegments(path).map(normalizeIdentifier));
}

/** Already-normalized raw paths first, then keys in code unit order (plain paths before JSON cells). */
function compareClaims(a: string, b: string): number {
  const canonical = Number(isCanonical(b)) - Number(isCanonical(a));
  if (canonical !== 0) return canonical;
  return a < b ? -1 : a > b ? 1 : 0;
}

function isCanonical(key: string): boolean {
  return pathSegments(sourcePath(key)).every((segment) => normalizeIdentifier(segment) === segment);
}

/** Each table of a view by its table key (field-path.ts), walking list fields from the roots. */
function tableKeys(doc: SchemaDoc): Map<string, string> {
  const children = new Set<string>();
  for (const { fields } of Object.values(doc.tables))
    for (const field of fields ?? []) if ('table' in field) children.add(field.table);
  const keys = new Map<string, string>();
  const queue = Object.keys(doc.tables).filter((t) => !children.has(t));
  for (const table of queue) keys.set(table, table);
  for (let i = 0; i < queue.length; i++) {
    const table = queue[i]!;
    for (const field of doc.tables[table]?.fields ?? []) {
      if (!('table' in field) || keys.has(field.table)) continue;
      keys.set(field.table, childTableKey(keys.get(table)!, pathKey(field.path)));
      queue.push(field.table);
    }
  }
  return keys;
}

/** A row's overflow object: fields that have no column, by raw path, as one JSON text. */
class OverflowEntries {
  readonly reasons = new Set<JsonReason>();
  readonly #root: JsonObject = Object.create(null);

  /** A field the column cap sent here. */
  add(segments: readonly string[], value: JsonValue): void {
    this.reasons.add('column_cap');
    let node = this.#root;
    for (const segment of segments.slice(0, -1)) {
      const next = node[segment];
      if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next))
        node[segment] = Object.create(null) as JsonObject;
      node = node[segment] as JsonObject;
    }
    node[segments.at(-1) ?? ''] = value;
  }

  /** The normalizer's overflow object (fields of a wide row), as JSON text. */
  merge(text: string, reason: JsonReason): void {
    this.reasons.add(reason);
    const fields = parse(text) as JsonObject;
    for (const key of Object.keys(fields)) this.#root[key] = fields[key] as JsonValue;
  }

  toJSON(): string {
    return stringify(this.#root, nonFiniteAsToken) as string;
  }
}

/** JSON cannot hold a bare NaN / Infinity: kept as the string of its token, as normalize.ts does. */
function nonFiniteAsToken(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

/** Owner mark of a root table (a resource's, or `user_loads`). */
const ROOT_OWNER = '';

/** Joins normalized segments with `__` and shortens the whole (dlt's `shorten_fragments`). */
function shortenPath(normalized: readonly string[]): string {
  const path = normalized.join(LAKE.pathSeparator);
  return shortenIdentifier(path, path);
}

/** `natural` when free, else `natural_<tag of the raw path>` (then `_2`, `_3`: all but never needed). */
function freeName(natural: string, key: string, taken: (name: string) => boolean): string {
  if (!taken(natural)) return natural;
  const base = `${natural}_${identifierTag(key)}`;
  let name = shortenIdentifier(base, base);
  for (let n = 2; taken(name); n++) {
    const next = `${base}_${n}`;
    name = shortenIdentifier(next, next);
  }
  return name;
}

/** `<column>__v_<type>`, the column part shortened so the whole stays a valid name. */
export function variantName(column: string, type: ColumnType): string {
  const suffix = LAKE.variantInfix + type;
  const room = LAKE.maxIdentifierLength - suffix.length;
  return (column.length <= room ? column : shortenIdentifier(column, column, room)) + suffix;
}

/** Their column name in our registry: renamed, or the variant of a renamed column. */
function renamedColumn(name: string, renamed: ReadonlyMap<string, string>): string {
  const direct = renamed.get(name);
  if (direct !== undefined) return direct;
  const match = VARIANT_NAME.exec(name);
  if (match === null) return name;
  const base = renamed.get(name.slice(0, match.index));
  return base === undefined ? name : base + match[0];
}

/** The shape the field at `key` had before it was seen as `now`, if it had another. */
function shapeBefore(state: TableState, key: string, now: FieldShape): FieldShape | undefined {
  if (now === 'scalar' ? state.lists.has(key) : state.cells.has(key))
    return now === 'scalar' ? 'list' : 'scalar';
  // A parent path that held a value or a list now holds an object (this field is inside it)...
  const segments = pathSegments(key);
  for (let n = 1; n < segments.length; n++) {
    const prefix = pathKey(segments.slice(0, n));
    if (state.cells.has(prefix)) return 'scalar';
    if (state.lists.has(prefix)) return 'list';
  }
  // ...or this path held an object (fields below it) and now holds a value or a list.
  const below = key === ITEM_PATH ? '[' : `${key.slice(0, -1)},`;
  for (const other of [...state.cells.keys(), ...state.lists.keys()])
    if (other !== key && other.startsWith(below)) return 'object';
  return undefined;
}

/**
 * `coerceNewValue(value, type) !== NO_FIT` for a non-null value whose `variantType` is `own`,
 * without coercing: counting new columns' values runs once per cell and type, so only a string
 * into double parses (a timestamp's own type already says it is one, a number's that it fits).
 */
function fitsType(value: Scalar, own: ColumnType, type: ColumnType): boolean {
  if (isNonFinite(value)) return false;
  switch (type) {
    case 'text':
      return true;
    case 'timestamp':
      return own === 'timestamp';
    case 'bool':
      return typeof value === 'boolean' || value === 'true' || value === 'false';
    case 'double':
      if (own === 'double') return true;
      return typeof value === 'string' && own === 'text' && coerceNewValue(value, 'double') !== NO_FIT;
    case 'bigint':
      return coerceValue(value, 'bigint') !== NO_FIT;
  }
}

/** The variant columns of `column` among `columns` (`x__v_text`, and variants of those). */
function variantsOf(column: string, columns: ReadonlyMap<string, ColumnType>): string[] {
  const found: string[] = [];
  const queue = [column];
  for (let i = 0; i < queue.length; i++) {
    for (const type of COLUMN_TYPES) {
      const name = variantName(queue[i]!, type);
      if (columns.has(name)) {
        found.push(name);
        queue.push(name);
      }
    }
  }
  return found;
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
