/**
 * Wide records are bounded (issue 6, item 5): an object too wide or keyed by data is one JSON
 * text column, a wide row's unknown fields go to `_overflow`, a table stops growing at
 * MAX_TABLE_COLUMNS; every value is kept, and the decision is the same whatever the order.
 */
import fc from 'fast-check';
import { parse } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { parseJsonBody } from '#core/json-body.ts';
import { looksLikeData, type NormalizeContext, normalizeRecord, WIDE_OBJECT_KEYS } from '#core/normalize.ts';
import { MAX_TABLE_COLUMNS, OVERFLOW_COLUMN, SchemaRegistry } from '#core/schema-registry.ts';
import type { JsonObject, Row } from '#core/types.ts';

const ctx: NormalizeContext = { table: 'accounts', loadId: 'L', userIdentifier: 'u', rootKey: 'k:1' };

/** Types every row of each record (parsed from JSON text, as the loader does) through `registry`. */
function load(registry: SchemaRegistry, bodies: readonly string[]): { table: string; row: Row }[] {
  const routing = registry.routing();
  const out: { table: string; row: Row }[] = [];
  bodies.forEach((body, i) => {
    const record = parseJsonBody(body) as JsonObject;
    for (const r of normalizeRecord(record, { ...ctx, rootKey: `i:${i}`, routing }))
      out.push(registry.typeRow(r.table, r.row));
  });
  return out;
}

/** JSON text as lossless-json reads it, numbers compared by their spelling. */
function json(text: unknown): unknown {
  return JSON.parse(JSON.stringify(parse(String(text)), (_k, v) => (v?.isLosslessNumber ? v.value : v)));
}

function wideObject(keys: number): Record<string, number> {
  return Object.fromEntries(
    Array.from({ length: keys }, (_, i) => [`field${String.fromCharCode(97 + (i % 26))}${i}x`, i]),
  );
}

describe('looksLikeData', () => {
  it.each([
    ['42', true],
    ['-1.5', true],
    ['2024-01-31', true],
    ['2024-01', true],
    ['2024-01-31T10:00:00Z', true],
    ['3f2504e0-4f89-11d3-9a0c-0305e82c3301', true],
    ['5f8d0d55b54764421b7156c9', true],
    ['acct_000123456', true],
    ['accountId', false],
    ['address_line_1', false],
    ['_id', false],
    ['deadbeef', false],
  ])('%s -> %s', (key, expected) => {
    expect(looksLikeData(key)).toBe(expected);
  });
});

describe('wide records', () => {
  it('keeps an object keyed by data as one JSON text column, reported with its reason, value exact', () => {
    const registry = SchemaRegistry.empty();
    const body =
      '{"_id": "a1", "balances": {"2024-01-31": 12.5, "2024-02-29": 1.10, "2024-03-31": 6150769120280496265}}';
    const [{ row }] = load(registry, [body]) as unknown as [{ row: Row }];
    expect(registry.columns('accounts').map((c) => c.name)).toEqual([
      '_dlt_load_id',
      '_dlt_id',
      'user_identifier',
      '_id',
      'balances',
    ]);
    expect(json(row.balances)).toEqual({
      '2024-01-31': '12.5',
      '2024-02-29': '1.10',
      '2024-03-31': '6150769120280496265',
    });
    expect(registry.changes()).toContainEqual({
      kind: 'json_column',
      table: 'accounts',
      column: 'balances',
      field: 'balances',
      reason: 'data_keys',
    });
    expect(registry.toJSON().tables.accounts?.fields).toContainEqual({
      path: ['balances'],
      column: 'balances',
      json: 'data_keys',
    });
  });

  it(`keeps an object with more than ${WIDE_OBJECT_KEYS} keys as one JSON column, lists and NaN inside included`, () => {
    const registry = SchemaRegistry.empty();
    const wide = { ...wideObject(WIDE_OBJECT_KEYS + 1), list: [1, { a: 2 }] };
    const body = `{"_id": "a1", "extra": ${JSON.stringify(wide).replace('"fielda0x":0', '"fielda0x":NaN')}}`;
    const rows = load(registry, [body]);
    expect(rows).toHaveLength(1);
    expect(registry.tables()).toEqual(['accounts']);
    expect(registry.columns('accounts')).toHaveLength(5);
    expect(json(rows[0]!.row.extra)).toEqual(
      JSON.parse(JSON.stringify({ ...wide, fielda0x: 'NaN' }), (_k, v) =>
        typeof v === 'number' ? String(v) : v,
      ),
    );
    expect(registry.changes()).toContainEqual(
      expect.objectContaining({ kind: 'json_column', column: 'extra', reason: 'wide_object' }),
    );
  });

  it('routes a path the lake keeps as JSON to its column in later loads, even a narrow value', () => {
    const first = SchemaRegistry.empty();
    load(first, ['{"_id": "a1", "byDay": {"2024-01-01": 1}}']);
    const later = SchemaRegistry.fromJSON(first.toJSON());
    const [{ row }] = load(later, ['{"_id": "a2", "byDay": {"total": 3, "note": "x"}}']) as unknown as [
      { row: Row },
    ];
    expect(json(row.by_day)).toEqual({ total: '3', note: 'x' });
    expect(later.columns('accounts').map((c) => c.name)).not.toContain('by_day__total');
  });

  it('puts the unknown fields of a wide row in _overflow and keeps the known ones in their columns', () => {
    const registry = SchemaRegistry.empty();
    registry.declareResource('accounts', { _id: 'text', name: 'text' });
    const record = { _id: 'a1', name: 'Netflix', ...wideObject(WIDE_OBJECT_KEYS), nested: { deep: [1, 2] } };
    const [{ row }] = load(registry, [JSON.stringify(record)]) as unknown as [{ row: Row }];
    expect(row._id).toBe('a1');
    expect(row.name).toBe('Netflix');
    const { _id, name, ...rest } = record;
    expect(json(row[OVERFLOW_COLUMN])).toEqual(
      JSON.parse(JSON.stringify(rest), (_k, v) => (typeof v === 'number' ? String(v) : v)),
    );
    expect(registry.columns('accounts').map((c) => c.name)).toEqual([
      '_dlt_load_id',
      '_dlt_id',
      'user_identifier',
      '_id',
      'name',
      OVERFLOW_COLUMN,
    ]);
    expect(registry.tables()).toEqual(['accounts']);
    expect(registry.changes()).toContainEqual({
      kind: 'json_column',
      table: 'accounts',
      column: OVERFLOW_COLUMN,
      reason: 'wide_object',
    });
    expect(registry.toJSON().tables.accounts?.overflow).toEqual(['wide_object']);
  });

  it(`stops a table at ${MAX_TABLE_COLUMNS} columns: later new fields go to _overflow, none lost`, () => {
    const registry = SchemaRegistry.empty();
    const records = Array.from({ length: 12 }, (_, r) =>
      JSON.stringify(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`r${r}f${i}`, `${r}.${i}`]))),
    );
    const rows = load(registry, records);
    expect(registry.columns('accounts')).toHaveLength(MAX_TABLE_COLUMNS + 1);
    expect(registry.changes()).toContainEqual({
      kind: 'json_column',
      table: 'accounts',
      column: OVERFLOW_COLUMN,
      reason: 'column_cap',
    });
    // Every value is somewhere: its column or the row's overflow object.
    const columns = new Map(
      registry.toJSON().tables.accounts!.fields!.map((f) => [f.path[0], 'column' in f ? f.column : '']),
    );
    rows.forEach(({ row }, r) => {
      const overflow =
        row[OVERFLOW_COLUMN] === undefined ? {} : (json(row[OVERFLOW_COLUMN]) as Record<string, string>);
      for (let i = 0; i < 100; i++) {
        const key = `r${r}f${i}`;
        const column = columns.get(key);
        expect(column === undefined ? overflow[key] : row[column], key).toBe(`${r}.${i}`);
      }
    });
    // The registry stays at the cap on the next load too.
    const later = SchemaRegistry.fromJSON(registry.toJSON());
    load(later, ['{"brandNew": 1}']);
    expect(later.columns('accounts')).toHaveLength(MAX_TABLE_COLUMNS + 1);
  });

  it('holds the cap across parallel views at commit: the same paths keep columns whatever the view order', () => {
    // Two batches each add 600 new fields to one table, each under the cap on its own.
    const view = (prefix: string) => {
      const registry = SchemaRegistry.empty();
      const bodies = Array.from({ length: 6 }, (_, r) =>
        JSON.stringify(
          Object.fromEntries(
            Array.from({ length: 100 }, (_, i) => [`${prefix}${r}f${i}`, `${prefix}${r}.${i}`]),
          ),
        ),
      );
      return { rows: load(registry, bodies), doc: registry.toJSON() };
    };
    const a = view('a');
    const b = view('b');
    const commit = (views: (typeof a)[]) => {
      const registry = SchemaRegistry.empty();
      registry.claimNames(views.map((v) => v.doc));
      const renames = views.map((v) => registry.merge(v.doc).renames);
      return { registry, renames };
    };
    const ab = commit([a, b]);
    const ba = commit([b, a]);
    const columns = (r: SchemaRegistry) =>
      r
        .columns('accounts')
        .map((c) => c.name)
        .sort();
    expect(columns(ab.registry)).toEqual(columns(ba.registry));
    expect(ab.registry.columns('accounts').length).toBeLessThanOrEqual(MAX_TABLE_COLUMNS + 1);
    expect(ab.registry.changes()).toContainEqual({
      kind: 'json_column',
      table: 'accounts',
      column: OVERFLOW_COLUMN,
      reason: 'column_cap',
    });
    expect(ab.renames.flat().length).toBeGreaterThan(100);
    // Rewriting a view's rows through the renames moves the demoted values into `_overflow`, none lost.
    [a, b].forEach((v, i) => {
      const renamed = new Map(ab.renames[i]!.map((r) => [r.from, r.to]));
      for (const { row } of v.rows) {
        const raw = Object.fromEntries(Object.entries(row).map(([k, value]) => [renamed.get(k) ?? k, value]));
        const typed = ab.registry.coerceRow('accounts', raw as never);
        const overflow =
          typed[OVERFLOW_COLUMN] === undefined
            ? {}
            : (json(typed[OVERFLOW_COLUMN]) as Record<string, string>);
        const mapped = new Map(
          ab.registry
            .toJSON()
            .tables.accounts!.fields!.flatMap((f) => ('column' in f ? [[f.path[0], f.column]] : [])),
        );
        for (const [column, value] of Object.entries(row)) {
          if (column.startsWith('_dlt') || column === 'user_identifier') continue;
          const source = v.doc.tables.accounts!.fields!.find((f) => 'column' in f && f.column === column)!
            .path[0]!;
          const ours = mapped.get(source);
          expect(ours === undefined ? overflow[source] : typed[ours], source).toBe(value);
        }
      }
    });
  });

  it('decides JSON columns and overflow from each record alone: any record order gives the same schema', () => {
    const bodies = [
      '{"_id": "a", "byDay": {"2024-01-01": 1}, "plain": {"x": 1}}',
      '{"_id": "b", "byDay": {"x": 2}, "plain": {"2024-01-01": 3}}',
      `{"_id": "c", "wide": ${JSON.stringify(wideObject(WIDE_OBJECT_KEYS + 1))}}`,
      '{"_id": "d", "wide": {"y": 1}}',
      `${JSON.stringify({ _id: 'e', ...wideObject(WIDE_OBJECT_KEYS + 1) })}`,
    ];
    const schemaOf = (order: readonly string[]) => {
      const registry = SchemaRegistry.empty();
      const rows = load(registry, order);
      const fields = registry
        .toJSON()
        .tables.accounts!.fields!.map((f) => JSON.stringify(f))
        .sort();
      return { fields, rows: rows.map((r) => JSON.stringify(r.row, Object.keys(r.row).sort())).sort() };
    };
    const expected = schemaOf(bodies);
    fc.assert(
      fc.property(fc.shuffledSubarray(bodies, { minLength: bodies.length }), (order) => {
        const got = schemaOf(order);
        expect(got.fields).toEqual(expected.fields);
      }),
      { numRuns: 20, seed: 6 },
    );
  });
});
