import { describe, expect, it } from 'vitest';
import { LakeStateError } from '#core/errors.ts';
import { NumberLiteral } from '#core/number-literal.ts';
import { type SchemaChange, type SchemaDoc, SchemaRegistry } from '#core/schema-registry.ts';
import { coerceNewValue, NO_FIT, variantType } from '#core/type-inference.ts';

describe('SchemaRegistry.coerceRow', () => {
  it('creates a table and typed columns from the first row, in field order', () => {
    const registry = SchemaRegistry.empty();
    const row = registry.coerceRow('accounts', {
      _id: 'a-1',
      balance: 12,
      rate: 0.5,
      active: true,
      created_at: '2024-01-31T10:00:00+01:00',
    });
    expect(registry.columns('accounts')).toEqual([
      { name: '_id', type: 'text' },
      { name: 'balance', type: 'double' },
      { name: 'rate', type: 'double' },
      { name: 'active', type: 'bool' },
      { name: 'created_at', type: 'timestamp' },
    ]);
    expect(row).toEqual({
      _id: 'a-1',
      balance: 12,
      rate: 0.5,
      active: true,
      created_at: new Date('2024-01-31T09:00:00.000Z'),
    });
  });

  it('adds no column for a null and fills a known column with null', () => {
    const registry = SchemaRegistry.empty();
    const first = registry.coerceRow('t', { a: 'x', b: null });
    expect(registry.columns('t').map((c) => c.name)).toEqual(['a']);
    expect(first).toEqual({ a: 'x' });
    const second = registry.coerceRow('t', { a: null, b: 3 });
    expect(second).toEqual({ a: null, b: 3 });
    expect(registry.columns('t')).toEqual([
      { name: 'a', type: 'text' },
      { name: 'b', type: 'double' },
    ]);
  });

  it('routes drift from a declared bigint column to double and text variants, leaving the base null', () => {
    const registry = SchemaRegistry.empty();
    registry.declareTable('t', [{ name: 'x', type: 'bigint' }]);
    expect(registry.coerceRow('t', { x: 1 })).toEqual({ x: 1 });
    expect(registry.coerceRow('t', { x: 1.5 })).toEqual({ x: null, x__v_double: 1.5 });
    expect(registry.coerceRow('t', { x: 'N/A' })).toEqual({ x: null, x__v_text: 'N/A' });
    expect(registry.coerceRow('t', { x: '42' })).toEqual({ x: 42 });
    expect(registry.coerceRow('t', { x: 2.5 })).toEqual({ x: null, x__v_double: 2.5 });
    expect(registry.columns('t')).toEqual([
      { name: 'x', type: 'bigint' },
      { name: 'x__v_double', type: 'double' },
      { name: 'x__v_text', type: 'text' },
    ]);
  });

  it('stores a number arriving in a text column as its string', () => {
    const registry = SchemaRegistry.empty();
    registry.coerceRow('t', { due_amount: 'unknown' });
    expect(registry.coerceRow('t', { due_amount: 5 })).toEqual({ due_amount: '5' });
    expect(registry.coerceRow('t', { due_amount: true })).toEqual({ due_amount: 'true' });
    expect(registry.columns('t')).toEqual([{ name: 'due_amount', type: 'text' }]);
  });

  it('sends a non-date string in a timestamp column to a text variant', () => {
    const registry = SchemaRegistry.empty();
    registry.coerceRow('t', { billing_date: '2024-03-01T00:00:00Z' });
    expect(registry.coerceRow('t', { billing_date: 'not a date' })).toEqual({
      billing_date: null,
      billing_date__v_text: 'not a date',
    });
    expect(registry.columns('t').at(-1)).toEqual({ name: 'billing_date__v_text', type: 'text' });
  });

  it('sends a rounded integer beyond 2^53 in a declared bigint column to a double variant', () => {
    const registry = SchemaRegistry.empty();
    registry.declareTable('t', [{ name: 'n', type: 'bigint' }]);
    expect(registry.coerceRow('t', { n: 2 ** 60 })).toEqual({ n: null, n__v_double: 2 ** 60 });
  });

  it('keeps an exact integer beyond 2^53 as its digits: in a text variant of a number column, as is in text', () => {
    const registry = SchemaRegistry.empty();
    registry.declareTable('t', [
      { name: 'n', type: 'bigint' },
      { name: 'd', type: 'double' },
      { name: 's', type: 'text' },
    ]);
    const big = 6150769120280496265n;
    expect(registry.coerceRow('t', { n: big, d: big + 1n, s: big })).toEqual({
      n: null,
      n__v_text: '6150769120280496265',
      d: null,
      d__v_text: '6150769120280496266',
      s: '6150769120280496265',
    });
  });

  it('loads a non-finite token as null with the token in a text variant, and counts it', () => {
    const registry = SchemaRegistry.empty();
    expect(registry.coerceRow('t', { a: 1.5, b: 'x' })).toEqual({ a: 1.5, b: 'x' });
    expect(registry.coerceRow('t', { a: Number.NaN, b: Number.NEGATIVE_INFINITY })).toEqual({
      a: null,
      a__v_text: 'NaN',
      b: null,
      b__v_text: '-Infinity',
    });
    expect(registry.nonFiniteValues()).toBe(2);
  });

  it('types system columns as text (and the list index as bigint) whatever their first value', () => {
    const registry = SchemaRegistry.empty();
    const row = registry.coerceRow('accounts__bills', {
      _dlt_id: '12345',
      _dlt_load_id: '1764064800.123456',
      _dlt_parent_id: '2024-01-01T00:00:00Z',
      user_identifier: '2024-01-01T00:00:00Z',
      _dlt_list_idx: 0,
    });
    expect(registry.columns('accounts__bills')).toEqual([
      { name: '_dlt_id', type: 'text' },
      { name: '_dlt_load_id', type: 'text' },
      { name: '_dlt_parent_id', type: 'text' },
      { name: 'user_identifier', type: 'text' },
      { name: '_dlt_list_idx', type: 'bigint' },
    ]);
    expect(row['user_identifier']).toBe('2024-01-01T00:00:00Z');
    expect(row['_dlt_load_id']).toBe('1764064800.123456');
  });

  it('types a system column by its fixed type even when the first value is a number', () => {
    const registry = SchemaRegistry.empty();
    expect(registry.coerceRow('t', { user_identifier: 42 })).toEqual({ user_identifier: '42' });
    expect(registry.columns('t')).toEqual([{ name: 'user_identifier', type: 'text' }]);
  });

  it('nests a variant one level deeper when its name is taken by a column of another type', () => {
    const registry = SchemaRegistry.empty();
    // A nested field spelled like a variant (`x: {v_text: 1}` flattens to `x__v_text`).
    registry.coerceRow('t', { x: 1, x__v_text: 7 });
    expect(registry.coerceRow('t', { x: 'N/A' })).toEqual({ x: null, x__v_text__v_text: 'N/A' });
  });

  it('returns a new columns array when a column is added, leaving the old one unchanged', () => {
    const registry = SchemaRegistry.empty();
    registry.coerceRow('t', { a: 1 });
    const before = registry.columns('t');
    registry.coerceRow('t', { a: 2 });
    expect(registry.columns('t')).toBe(before);
    registry.coerceRow('t', { b: 2 });
    expect(before).toHaveLength(1);
    expect(registry.columns('t')).toHaveLength(2);
  });
});

describe('SchemaRegistry.changes', () => {
  it('reports each new table, column and variant once, in the order they appeared', () => {
    const registry = SchemaRegistry.empty();
    registry.coerceRow('t', { x: 1, y: null });
    registry.coerceRow('t', { x: 2 });
    registry.coerceRow('t', { x: 'a' });
    registry.coerceRow('t', { x: 'b', y: true });
    registry.coerceRow('u', {});
    expect(registry.changes()).toEqual<SchemaChange[]>([
      { kind: 'new_table', table: 't' },
      { kind: 'new_column', table: 't', column: 'x', type: 'double' },
      { kind: 'new_variant', table: 't', column: 'x__v_text', variantOf: 'x', type: 'text' },
      { kind: 'new_column', table: 't', column: 'y', type: 'bool' },
      { kind: 'new_table', table: 'u' },
    ]);
  });

  it('is empty right after loading a document, and the next version only moves when something is added', () => {
    const source = SchemaRegistry.empty();
    source.coerceRow('t', { a: 1 });
    source.setVersion(3);
    const loaded = SchemaRegistry.fromJSON(source.toJSON());
    expect(loaded.changes()).toEqual([]);
    expect(loaded.version).toBe(3);
    expect(loaded.nextVersion()).toBe(3);
    loaded.coerceRow('t', { a: 5 });
    expect(loaded.nextVersion()).toBe(3);
    loaded.coerceRow('t', { b: 'new' });
    expect(loaded.nextVersion()).toBe(4);
  });
});

describe('SchemaRegistry.declareTable', () => {
  const userLoads = [
    { name: 'user_identifier', type: 'text' },
    { name: 'rows', type: 'bigint' },
  ] as const;

  it('creates the table with the declared columns and types its rows by them', () => {
    const registry = SchemaRegistry.empty();
    registry.declareTable('user_loads', userLoads);
    expect(registry.hasTable('user_loads')).toBe(true);
    expect(registry.columns('user_loads')).toEqual(userLoads);
    expect(registry.coerceRow('user_loads', { user_identifier: 'u1', rows: '3' })).toEqual({
      user_identifier: 'u1',
      rows: 3,
    });
    expect(registry.changes().map((c) => c.kind)).toEqual(['new_table', 'new_column', 'new_column']);
  });

  it('is a no-op when the table already has the declared columns', () => {
    const registry = SchemaRegistry.empty();
    registry.declareTable('user_loads', userLoads);
    const loaded = SchemaRegistry.fromJSON(registry.toJSON());
    loaded.declareTable('user_loads', userLoads);
    expect(loaded.changes()).toEqual([]);
  });

  it('rejects a declared column whose type differs from the registry, naming the column', () => {
    const registry = SchemaRegistry.empty();
    registry.coerceRow('user_loads', { rows: 'many' });
    expect(() => registry.declareTable('user_loads', userLoads)).toThrow(
      /table user_loads: column rows is text in the registry, declared bigint/,
    );
  });
});

describe('SchemaRegistry documents', () => {
  it('round-trips through toJSON and fromJSON', () => {
    const registry = SchemaRegistry.empty();
    registry.coerceRow('accounts', { _id: 'a', n: 1 });
    registry.coerceRow('accounts', { n: 'x' });
    registry.coerceRow('accounts__bills', { name: 'b', due: '2024-01-01T00:00:00Z' });
    registry.setVersion(7);
    const doc = registry.toJSON();
    const again = SchemaRegistry.fromJSON(JSON.parse(JSON.stringify(doc)));
    expect(again.toJSON()).toEqual(doc);
    expect(JSON.stringify(again.toJSON())).toBe(JSON.stringify(doc));
    expect(again.tables()).toEqual(['accounts', 'accounts__bills']);
    expect(again.columns('accounts').map((c) => c.name)).toEqual(['_id', 'n', 'n__v_text']);
  });

  it('serializes registries with the same content identically whatever order tables appeared in', () => {
    const a = SchemaRegistry.empty();
    a.coerceRow('zeta', { v: 1 });
    a.coerceRow('alpha', { v: 'x' });
    const b = SchemaRegistry.empty();
    b.coerceRow('alpha', { v: 'x' });
    b.coerceRow('zeta', { v: 1 });
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()));
    expect(Object.keys(a.toJSON().tables)).toEqual(['alpha', 'zeta']);
  });

  it('rejects a document with an unknown column type, naming where', () => {
    const bad = {
      formatVersion: 1,
      version: 1,
      tables: { t: { columns: [{ name: 'a', type: 'varchar' }] } },
    };
    expect(() => SchemaRegistry.fromJSON(bad)).toThrow(LakeStateError);
    expect(() => SchemaRegistry.fromJSON(bad)).toThrow(
      /schema registry document is invalid at tables\.t\.columns\.0\.type/,
    );
  });

  it('rejects a document of another format version', () => {
    expect(() => SchemaRegistry.fromJSON({ formatVersion: 2, version: 1, tables: {} })).toThrow(
      /invalid at formatVersion/,
    );
  });

  it('rejects a document that is not an object', () => {
    expect(() => SchemaRegistry.fromJSON('nope')).toThrow(/invalid at \(document\)/);
  });

  it('rejects a table listing a column twice', () => {
    const dup = {
      formatVersion: 1,
      version: 1,
      tables: {
        t: {
          columns: [
            { name: 'a', type: 'text' },
            { name: 'a', type: 'bigint' },
          ],
        },
      },
    };
    expect(() => SchemaRegistry.fromJSON(dup)).toThrow(/table t lists column a twice/);
  });

  it('derives a child table’s parent from its name when the parent is registered', () => {
    const registry = SchemaRegistry.empty();
    registry.coerceRow('accounts', { a: 1 });
    registry.coerceRow('accounts__bills', { b: 1 });
    registry.coerceRow('accounts__bills__actions', { c: 1 });
    registry.coerceRow('orphan__child', { d: 1 });
    expect(registry.parentTable('accounts__bills')).toBe('accounts');
    expect(registry.parentTable('accounts__bills__actions')).toBe('accounts__bills');
    expect(registry.parentTable('accounts')).toBeUndefined();
    expect(registry.parentTable('orphan__child')).toBeUndefined();
  });

  it('answers an empty column list and false for an unknown table', () => {
    const registry = SchemaRegistry.empty();
    expect(registry.columns('nope')).toEqual([]);
    expect(registry.hasTable('nope')).toBe(false);
    expect(registry.tables()).toEqual([]);
  });

  it('refuses a negative or fractional version', () => {
    expect(() => SchemaRegistry.empty().setVersion(-1)).toThrow(LakeStateError);
    expect(() => SchemaRegistry.empty().setVersion(1.5)).toThrow(LakeStateError);
  });
});

describe('SchemaRegistry.merge', () => {
  function committed(): SchemaDoc {
    const base = SchemaRegistry.empty();
    base.coerceRow('accounts', { _id: 'a', amount: 1 });
    base.setVersion(1);
    return base.toJSON();
  }

  it('adds the tables, columns and variants another batch added, and reports them', () => {
    const ours = SchemaRegistry.fromJSON(committed());
    ours.coerceRow('accounts', { nickname: 'n' });
    const theirs = SchemaRegistry.fromJSON(committed());
    theirs.coerceRow('accounts', { amount: 'N/A', status: 'open' });
    theirs.coerceRow('orders', { total: 2.5 });

    const { added, conflicts } = ours.merge(theirs.toJSON());
    expect(conflicts).toEqual([]);
    expect(added).toEqual<SchemaChange[]>([
      { kind: 'new_table', table: 'orders' },
      { kind: 'new_variant', table: 'accounts', column: 'amount__v_text', variantOf: 'amount', type: 'text' },
      { kind: 'new_column', table: 'accounts', column: 'status', type: 'text' },
      { kind: 'new_column', table: 'orders', column: 'total', type: 'double' },
    ]);
    expect(ours.columns('accounts').map((c) => c.name)).toEqual([
      '_id',
      'amount',
      'nickname',
      'amount__v_text',
      'status',
    ]);
    expect(ours.changes()).toHaveLength(5);
    expect(ours.nextVersion()).toBe(2);
  });

  it('adds nothing when the other view holds only what we already have', () => {
    const ours = SchemaRegistry.fromJSON(committed());
    expect(ours.merge(committed())).toEqual({ added: [], conflicts: [], renames: [], tableRenames: [] });
    expect(ours.nextVersion()).toBe(1);
  });

  it('keeps our type and reports a conflict when both batches added a column with different types', () => {
    const ours = SchemaRegistry.fromJSON(committed());
    ours.coerceRow('accounts', { due: 5 });
    const theirs = SchemaRegistry.fromJSON(committed());
    theirs.coerceRow('accounts', { due: 'soon', other: true });

    const { added, conflicts } = ours.merge(theirs.toJSON());
    expect(conflicts).toEqual([{ table: 'accounts', column: 'due', ours: 'double', theirs: 'text' }]);
    expect(added).toEqual([{ kind: 'new_column', table: 'accounts', column: 'other', type: 'bool' }]);
    expect(ours.columns('accounts').find((c) => c.name === 'due')?.type).toBe('double');
  });

  it('rejects a malformed view instead of merging part of it', () => {
    const ours = SchemaRegistry.fromJSON(committed());
    expect(() =>
      ours.merge({ formatVersion: 1, version: 1, tables: { t: {} } } as unknown as SchemaDoc),
    ).toThrow(/invalid at tables\.t\.columns/);
    expect(ours.tables()).toEqual(['accounts']);
  });
});

describe('SchemaRegistry source path names', () => {
  const key = (...segments: string[]) => JSON.stringify(segments);

  it('remembers each source path’s column across documents, so a later colliding key gets its own', () => {
    const first = SchemaRegistry.empty();
    expect(first.typeRow('accounts', { [key('accountId')]: 'camel-1' }).row).toEqual({
      account_id: 'camel-1',
    });
    const later = SchemaRegistry.fromJSON(first.toJSON());
    const { row } = later.typeRow('accounts', {
      [key('accountId')]: 'camel-2',
      [key('account_id')]: 'snake-2',
    });
    expect(row.account_id).toBe('camel-2');
    const other = Object.keys(row).find((c) => row[c] === 'snake-2');
    expect(other).toMatch(/^account_id_[a-z0-9]{6}$/);
  });

  it('never gives a path a lineage, partition or variant name', () => {
    const registry = SchemaRegistry.empty();
    const { row } = registry.typeRow('t', {
      _dlt_id: 'id',
      [key('_dlt_id')]: 'data',
      [key('dt')]: 'day',
      [key('x', 'v_text')]: 'nested',
    });
    expect(row._dlt_id).toBe('id');
    const names = Object.keys(row).filter((c) => c !== '_dlt_id');
    expect(names).toHaveLength(3);
    for (const name of names) expect(name).toMatch(/^(_dlt_id|dt|x__v_text)_[a-z0-9]{6}$/);
  });

  it('renames, at merge, a column another batch gave to a path we named otherwise', () => {
    const committed = SchemaRegistry.empty().toJSON();
    const a = SchemaRegistry.fromJSON(committed);
    a.typeRow('t', { [key('accountId')]: 'camel' });
    const b = SchemaRegistry.fromJSON(committed);
    b.typeRow('t', { [key('account_id')]: 'snake' });
    const ours = SchemaRegistry.fromJSON(committed);
    expect(ours.merge(a.toJSON()).renames).toEqual([]);
    const { renames } = ours.merge(b.toJSON());
    expect(renames).toEqual([
      { table: 't', from: 'account_id', to: expect.stringMatching(/^account_id_[a-z0-9]{6}$/) },
    ]);
    expect(ours.columns('t').map((c) => c.name)).toEqual(['account_id', renames[0]!.to]);
  });

  it('declares a resource’s fields and child tables before any value arrives', () => {
    const registry = SchemaRegistry.empty();
    registry.declareResource('accounts', {
      closedAt: 'timestamp',
      bills: { items: { fields: { dueAmount: 'double' } } },
    });
    expect(registry.columns('accounts').map((c) => c.name)).toEqual([
      '_dlt_load_id',
      '_dlt_id',
      'user_identifier',
      'closed_at',
    ]);
    expect(registry.columns('accounts__bills').at(-1)).toEqual({ name: 'due_amount', type: 'double' });
    // A whole number into the declared double column stays there; a scalar where the list was is a shape change.
    expect(registry.typeRow('accounts', { [key('bills')]: 'none' }).row).toEqual({ bills: 'none' });
    expect(registry.changes().filter((c) => c.kind === 'shape_change')).toEqual([
      {
        kind: 'shape_change',
        table: 'accounts',
        column: 'bills',
        field: 'bills',
        was: 'list',
        now: 'scalar',
      },
    ]);
  });
});

describe('SchemaRegistry.stageNewColumns', () => {
  const values = [
    'N/A',
    '12.50',
    '007',
    'true',
    '2026-01-01T10:00:00Z',
    '2026-01-01T10:00:00.123456Z',
    12.5,
    7,
    true,
    12345678901234567890n,
    new NumberLiteral('1.10', 1.1),
    new NumberLiteral('1e400', undefined),
    Number.NaN,
    // A decimal string a double rounds: text only, for a column the load settles.
    '0.1000000000000000000001',
  ] as const;

  it('counts, per type, the values that fit it as coerceNewValue does, and stages each in its own type', () => {
    const registry = SchemaRegistry.empty();
    registry.stageNewColumns();
    const rows = values.map((v, i) => registry.coerceRow('t', { _dlt_id: `r${i}`, x: v as never }));
    const counts = registry.takeNewColumnValues().t!.x!;
    for (const type of ['text', 'double', 'bool', 'timestamp'] as const) {
      const fit = values.filter((v) => coerceNewValue(v, type) !== NO_FIT).length;
      expect(counts.fits[type] ?? 0, `values that fit ${type}`).toBe(fit);
      const misfits = [
        ...new Set(values.filter((v) => coerceNewValue(v, type) === NO_FIT).map(variantType)),
      ].sort();
      expect([...(counts.misfits?.[type] ?? [])].sort(), `own types of misfits of ${type}`).toEqual(misfits);
    }
    // The column is text (its first value's own type); nothing was coerced into it from another type.
    expect(registry.columns('t').find((c) => c.name === 'x')?.type).toBe('text');
    expect(rows[1]).toMatchObject({ x: '12.50' });
    expect(rows[6]).toMatchObject({ x: null, x__v_double: 12.5 });
    expect(rows[8]).toMatchObject({ x: null, x__v_bool: true });
    expect(rows[4]?.x__v_timestamp).toEqual(new Date('2026-01-01T10:00:00Z'));
    expect(rows[9]).toMatchObject({ x: '12345678901234567890' });
    expect(rows[12]).toMatchObject({ x: null, x__v_text: 'NaN' });
    expect(rows[13]).toMatchObject({ x: '0.1000000000000000000001' });
    // Taken once: the next batch of a shared registry starts from zero.
    expect(registry.takeNewColumnValues()).toEqual({});
  });

  it('leaves committed and declared columns typed as before', () => {
    const registry = SchemaRegistry.fromJSON({
      formatVersion: 1,
      version: 1,
      tables: { t: { columns: [{ name: 'x', type: 'double' }] } },
    });
    registry.stageNewColumns();
    expect(registry.coerceRow('t', { x: '12.50' })).toEqual({ x: 12.5 });
    // A committed double column takes a decimal string as its nearest double, as it always did.
    expect(registry.coerceRow('t', { x: '0.1000000000000000000001' })).toEqual({ x: 0.1 });
    expect(registry.coerceRow('t', { x: '1e-400' })).toEqual({ x: 0 });
    expect(registry.takeNewColumnValues()).toEqual({});
  });

  it('re-types a staged part without rounding a decimal string into a double column (retypeRow)', () => {
    const registry = SchemaRegistry.fromJSON({
      formatVersion: 1,
      version: 1,
      tables: { t: { columns: [{ name: 'x', type: 'double' }] } },
    });
    // A literal 1e-400 a batch staged as its text, folded back under its column by the commit.
    expect(registry.retypeRow('t', { x: '1e-400' })).toEqual({ x: null, x__v_text: '1e-400' });
    expect(registry.retypeRow('t', { x: '0.1000000000000000000001' })).toEqual({
      x: null,
      x__v_text: '0.1000000000000000000001',
    });
    expect(registry.retypeRow('t', { x: '12.50' })).toEqual({ x: 12.5 });
    expect(registry.retypeRow('t', { x: 0.1 })).toEqual({ x: 0.1 });
    // Outside retypeRow the committed rule is back.
    expect(registry.coerceRow('t', { x: '1e-400' })).toEqual({ x: 0 });
  });
});

describe('SchemaRegistry new column order', () => {
  const key = (...segments: string[]) => JSON.stringify(segments);

  it('keeps committed columns in place, then declared and lineage columns as declared, then the rest by name, each variant after its base', () => {
    const committed = SchemaRegistry.empty();
    committed.declareResource('orders', { placed_at: 'timestamp', amount: 'double' });
    committed.typeRow('orders', { [key('zeta')]: true });
    const before = committed.columns('orders').map((c) => c.name);
    const kept = committed.columnCounts();
    // A load's batches brought these first-seen in user order: mid, a variant, then alpha.
    committed.typeRow('orders', { [key('mid')]: 1, [key('zeta')]: 2, [key('alpha')]: true });
    committed.typeRow('orders', { [key('amount')]: 'N/A' });
    committed.orderNewColumns(kept);
    const names = committed.columns('orders').map((c) => c.name);
    expect(names.slice(0, before.length)).toEqual(before);
    expect(names.slice(before.length)).toEqual(['alpha', 'amount__v_text', 'mid', 'zeta__v_double']);

    // The same columns brought in another order end in the same order.
    const other = SchemaRegistry.empty();
    other.declareResource('orders', { placed_at: 'timestamp', amount: 'double' });
    other.typeRow('orders', { [key('zeta')]: true });
    const kept2 = other.columnCounts();
    other.typeRow('orders', { [key('amount')]: 'N/A', [key('alpha')]: false });
    other.typeRow('orders', { [key('zeta')]: 3, [key('mid')]: 4 });
    other.orderNewColumns(kept2);
    expect(other.columns('orders')).toEqual(committed.columns('orders'));

    // A fresh table: declared and lineage columns in declaration order, first.
    const fresh = SchemaRegistry.empty();
    fresh.typeRow('orders', { [key('b')]: 1 });
    fresh.declareResource('orders', { placed_at: 'timestamp' });
    fresh.orderNewColumns(new Map());
    expect(fresh.columns('orders').map((c) => c.name)).toEqual([
      '_dlt_load_id',
      '_dlt_id',
      'user_identifier',
      'placed_at',
      'b',
    ]);
  });
});

describe('SchemaRegistry.fanOutParent', () => {
  /** accounts, and action_history fanned out over its `_id` (the catalog's declarations). */
  const lake = () => {
    const registry = SchemaRegistry.empty();
    registry.declareResource('accounts', { _id: 'text', bills: { items: { fields: { amount: 'double' } } } });
    registry.declareResource('action_history', { _id: 'text', _accounts__id: 'text', accountId: 'text' });
    return registry;
  };

  it('reads the link off the field the loader writes the parent key under', () => {
    const registry = lake();
    expect(registry.fanOutParent('action_history')).toEqual({
      parentTable: 'accounts',
      parentColumns: ['_id'],
      childColumn: '_accounts_id',
    });
    // A root table over nothing, a child table, an unknown table: no link.
    expect(registry.fanOutParent('accounts')).toBeUndefined();
    expect(registry.fanOutParent('accounts__bills')).toBeUndefined();
    expect(registry.fanOutParent('orders')).toBeUndefined();
  });

  it('compares a key through its text or bigint variants too, and never through a double column', () => {
    // A parent whose keys came as numbers first, then as text: the text ones are in a variant.
    const registry = SchemaRegistry.empty();
    registry.declareResource('p', { key: 'bigint' });
    registry.declareResource('c', { _p_key: 'text' });
    registry.typeRow('p', { '["key"]': 'k-1' });
    expect(registry.columns('p').map((c) => c.name)).toContain('key__v_text');
    expect(registry.fanOutParent('c')).toEqual({
      parentTable: 'p',
      parentColumns: ['key', 'key__v_text'],
      childColumn: '_p_key',
    });
    const doubles = SchemaRegistry.empty();
    doubles.declareResource('p', { key: 'double' });
    doubles.declareResource('c', { _p_key: 'text' });
    expect(doubles.fanOutParent('c')).toBeUndefined();
  });

  it('makes no guess when two parents fit', () => {
    const registry = lake();
    registry.declareResource('accounts_', { id: 'text' });
    // `_accounts__id` is `_accounts_` + `_id` and `_accounts__` + `id`: both tables have the field.
    expect(registry.fanOutParent('action_history')).toBeUndefined();
  });

  it('survives the committed document', () => {
    const registry = SchemaRegistry.fromJSON(lake().toJSON());
    expect(registry.fanOutParent('action_history')?.parentTable).toBe('accounts');
  });
});
