/**
 * The normalizer's contract, checked from the outside: rebuilds each input record from lake
 * rows using only the committed schema (its source path -> column / child table mapping), and
 * compares it with the input modulo the documented coercions (README "Numbers and names"):
 * - a null field, an empty list and an empty object add nothing (dlt); inside a list, a null,
 *   an empty object and an empty list are each an empty item row, read back as null;
 * - a value lands in its column's type when that is lossless (`5` in a text column is `"5"`,
 *   `"12.5"` in a double column is 12.5, `"true"` in a bool column is true), else in the
 *   column's `__v_<type>` variant as itself;
 * - an integer beyond 2^53 is its exact digits as text; NaN / Infinity / -Infinity are their token.
 * - a value kept as JSON (a field with `json`) is its JSON text, parsed back losslessly; a row's
 *   `_overflow` object holds, by raw path, the fields that got no column (NaN as its token).
 */
import { parseJsonBody } from '#core/json-body.ts';
import { NumberLiteral } from '#core/number-literal.ts';
import { OVERFLOW_COLUMN, type SchemaDoc } from '#core/schema-registry.ts';
import type { JsonValue } from '#core/types.ts';

type Cell = unknown;
export type LakeRow = Record<string, Cell>;

const VARIANT = /__v_(?:text|bigint|double|bool|timestamp)$/;

/** The input as the lake can hold it (see the module comment); undefined for "adds nothing". */
export function canonical(value: JsonValue): JsonValue | undefined {
  if (value === null) return undefined;
  if (value instanceof NumberLiteral) return value;
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    return value.map((item) => canonical(item) ?? null);
  }
  if (typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) {
      const c = canonical(item);
      if (c !== undefined) out[key] = c;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return value;
}

/** True when `output` is how the lake may hold scalar `input`. */
export function sameScalar(input: JsonValue, output: Cell): boolean {
  if (output === null || output === undefined) return input === null;
  if (output instanceof NumberLiteral)
    return typeof input === 'number' ? output.exact === input : output.literal === String(input);
  if (typeof input === 'bigint') return output === input.toString() || output === input;
  if (typeof input === 'number' && !Number.isFinite(input)) return output === String(input);
  if (output === input) return true;
  if (typeof output === 'string') return output === String(input);
  if (typeof output === 'number' && typeof input === 'string') return Number(input) === output;
  if (typeof output === 'boolean' && typeof input === 'string') return String(output) === input;
  if (typeof output === 'bigint') return typeof input === 'number' && BigInt(input) === output;
  return false;
}

/** The value of a column in a row: the base column, else the first variant of it that is set. */
function cell(row: LakeRow, column: string, columns: readonly string[]): Cell {
  const base = row[column];
  if (base !== null && base !== undefined) return base;
  for (const name of columns) {
    // Exactly `<column>__v_<type>`: `x__v_text_k3x9qa__v_text` is the variant of another column.
    const suffix = name.slice(column.length);
    if (!name.startsWith(column) || !VARIANT.test(suffix) || suffix.indexOf('__v_') !== 0) continue;
    if (suffix.lastIndexOf('__v_') !== 0) continue;
    const value = row[name];
    if (value !== null && value !== undefined) return value;
  }
  return null;
}

export interface Reassembled {
  /** Rebuilt records by root `_dlt_id`. */
  readonly records: Map<string, Record<string, Cell>>;
}

/**
 * Rebuilds every record of root table `root`. Scalars come back as the lake holds them (compare
 * with `matches`). Throws when a row cannot be placed (a parent id that matches no row).
 */
export function reassemble(schema: SchemaDoc, root: string, rows: ReadonlyMap<string, LakeRow[]>) {
  const children = new Map<string, Map<string, LakeRow[]>>();
  for (const [table, tableRows] of rows) {
    const byParent = new Map<string, LakeRow[]>();
    for (const row of tableRows) {
      const parent = row._dlt_parent_id;
      if (typeof parent !== 'string') continue;
      const list = byParent.get(parent) ?? [];
      list.push(row);
      byParent.set(parent, list);
    }
    for (const list of byParent.values())
      list.sort((a, b) => Number(a._dlt_list_idx) - Number(b._dlt_list_idx));
    children.set(table, byParent);
  }

  const build = (table: string, row: LakeRow): unknown => {
    const entry = schema.tables[table];
    const columns = (entry?.columns ?? []).map((c) => c.name);
    let out: Record<string, unknown> | undefined;
    let item: unknown;
    const put = (path: readonly string[], value: unknown) => {
      if (path.length === 0) {
        item = value;
        return;
      }
      out ??= {};
      let node = out;
      for (const segment of path.slice(0, -1)) {
        const next = node[segment];
        if (typeof next !== 'object' || next === null || Array.isArray(next)) node[segment] = {};
        node = node[segment] as Record<string, unknown>;
      }
      node[path.at(-1)!] = value;
    };
    for (const field of entry?.fields ?? []) {
      if ('column' in field && field.json !== undefined) {
        const text = row[field.column];
        const value = typeof text === 'string' ? canonical(parseJsonBody(text)) : undefined;
        if (value !== undefined) put(field.path, value);
      } else if ('column' in field) {
        const value = cell(row, field.column, columns);
        if (value !== null) put(field.path, value);
      } else {
        const items = children.get(field.table)?.get(row._dlt_id as string) ?? [];
        if (items.length > 0)
          put(
            field.path,
            items.map((child) => build(field.table, child) ?? null),
          );
      }
    }
    const overflow = row[OVERFLOW_COLUMN];
    if (typeof overflow === 'string') {
      out ??= {};
      mergeInto(out, parseJsonBody(overflow) as Record<string, unknown>);
    }
    return out ?? item;
  };

  const records = new Map<string, Record<string, Cell>>();
  for (const row of rows.get(root) ?? [])
    records.set(row._dlt_id as string, (build(root, row) ?? {}) as Record<string, Cell>);
  return records;
}

/** Compares a rebuilt record with the canonical input; returns the first difference's path, or undefined. */
export function difference(input: JsonValue | undefined, output: unknown, path = '$'): string | undefined {
  if (input === undefined || input === null)
    return output === undefined || output === null ? undefined : path;
  if (Array.isArray(input)) {
    if (!Array.isArray(output) || output.length !== input.length) return `${path} (list length)`;
    for (let i = 0; i < input.length; i++) {
      const d = difference(input[i], output[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (typeof input === 'object') {
    if (typeof output !== 'object' || output === null || Array.isArray(output)) return `${path} (object)`;
    const keys = new Set([...Object.keys(input), ...Object.keys(output)]);
    for (const key of keys) {
      const d = difference(
        (input as Record<string, JsonValue>)[key],
        (output as Record<string, unknown>)[key],
        `${path}.${JSON.stringify(key)}`,
      );
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return sameScalar(input, output) ? undefined : `${path}: ${String(input)} != ${String(output)}`;
}

/** Deep-merges an overflow object (fields by raw path) into a rebuilt row. */
function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const here = target[key];
    if (isPlain(here) && isPlain(value)) mergeInto(here, value);
    else target[key] = value;
  }
}

function isPlain(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof NumberLiteral)
  );
}
