import { describe, expect, it } from 'vitest';
import { MalformedResponseError } from '#core/errors.ts';
import { childRowId, rootRowId } from '#core/ids.ts';
import { identifierTag } from '#core/naming.ts';
import { MAX_NESTING_DEPTH, type NormalizeContext, normalizeRecord } from '#core/normalize.ts';
import { SchemaRegistry } from '#core/schema-registry.ts';
import type { JsonObject, JsonValue, Row, TableRow } from '#core/types.ts';

const ctx: NormalizeContext = {
  table: 'accounts',
  loadId: '1764064800.123456',
  userIdentifier: 'user-1',
  rootKey: 'k:account-1',
};
const ROOT_ID = rootRowId(ctx.loadId, 'user-1', 'accounts', 'k:account-1');

/** The lineage columns every child row of `ctx`'s record starts with. */
function childLineage(parentId: string, table: string, index: number) {
  return {
    _dlt_parent_id: parentId,
    _dlt_list_idx: index,
    _dlt_id: childRowId(parentId, table, index),
    _dlt_load_id: ctx.loadId,
    _dlt_root_id: ROOT_ID,
    user_identifier: 'user-1',
  };
}

/** The account shape from Atomic's own apps (docs/paylink-api.md). */
function account(): JsonObject {
  return {
    _id: 'account-1',
    company: { _id: 'company-1', name: 'Netflix', branding: { logo: { url: 'https://logo.example/n.png' } } },
    actions: [{ actionId: 'act-1', type: 'view-account', automated: false }],
    bills: [
      {
        name: 'Netflix Standard',
        actions: [
          { actionId: 'act-2', type: 'cancel-plan', automated: true },
          { actionId: 'act-3', type: 'pause-plan', automated: true },
        ],
      },
    ],
  };
}

/**
 * normalizeRecord's rows keyed by source; the registry names them. These tests read the names a
 * fresh lake gives one record (normalize + SchemaRegistry.typeRow), as a load would.
 */
function named(record: JsonObject, context: NormalizeContext = ctx, registry = SchemaRegistry.empty()) {
  return normalizeRecord(record, context).map((r) => registry.typeRow(r.table, r.row));
}

function rowsOf(rows: TableRow<Row>[], table: string): Row[] {
  return rows.filter((r) => r.table === table).map((r) => r.row);
}

function only(rows: TableRow<Row>[]): Row {
  expect(rows).toHaveLength(1);
  return rows[0]!.row;
}

describe('normalizeRecord on a PayLink account', () => {
  const rows = named(account(), ctx);

  it('yields the root row, then each child table depth first, parents before children', () => {
    expect(rows.map((r) => r.table)).toEqual([
      'accounts',
      'accounts__actions',
      'accounts__bills',
      'accounts__bills__actions',
      'accounts__bills__actions',
    ]);
  });

  it('writes system columns first, then the flattened fields in record order', () => {
    const root = rows[0]!.row;
    expect(Object.keys(root)).toEqual([
      '_dlt_load_id',
      '_dlt_id',
      'user_identifier',
      '_id',
      'company___id',
      'company__name',
      'company__branding__logo__url',
    ]);
    expect(root).toEqual({
      _dlt_load_id: '1764064800.123456',
      _dlt_id: ROOT_ID,
      user_identifier: 'user-1',
      _id: 'account-1',
      company___id: 'company-1',
      company__name: 'Netflix',
      company__branding__logo__url: 'https://logo.example/n.png',
    });
  });

  it('links child rows to their parent with dlt ids and carries load, root and user on each', () => {
    const [action] = rowsOf(rows, 'accounts__actions');
    expect(action).toEqual({
      ...childLineage(ROOT_ID, 'accounts__actions', 0),
      action_id: 'act-1',
      type: 'view-account',
      automated: false,
    });
    const [bill] = rowsOf(rows, 'accounts__bills');
    expect(bill).toEqual({
      ...childLineage(ROOT_ID, 'accounts__bills', 0),
      name: 'Netflix Standard',
    });
    const billActions = rowsOf(rows, 'accounts__bills__actions');
    expect(billActions.map((r) => [r._dlt_parent_id, r._dlt_list_idx, r._dlt_id, r.action_id])).toEqual([
      [bill!._dlt_id, 0, childRowId(bill!._dlt_id as string, 'accounts__bills__actions', 0), 'act-2'],
      [bill!._dlt_id, 1, childRowId(bill!._dlt_id as string, 'accounts__bills__actions', 1), 'act-3'],
    ]);
    // Grandchildren point at the root row too, not at their parent.
    expect(new Set(billActions.map((r) => r._dlt_root_id))).toEqual(new Set([ROOT_ID]));
  });

  it('gives child ids that dlt would compute for the same parent id', () => {
    // digest128("du3d0Q591o52LA_accounts__actions_0") computed with dlt's code in Python.
    expect(childRowId('du3d0Q591o52LA', 'accounts__actions', 0)).toBe('V6vMSr/qEalJLQ');
    expect(rowsOf(rows, 'accounts__actions')[0]!._dlt_id).toBe(childRowId(ROOT_ID, 'accounts__actions', 0));
  });

  it('derives the root id from the load too, so two loads never share a row id', () => {
    const other = named(account(), { ...ctx, loadId: '1764151200.000001' });
    const ids = (list: TableRow<Row>[]) => new Set(list.map((r) => r.row._dlt_id));
    const overlap = [...ids(rows)].filter((id) => ids(other).has(id));
    expect(overlap).toEqual([]);
    expect(other.every((r) => r.row._dlt_load_id === '1764151200.000001')).toBe(true);
  });

  it('returns identical rows for identical input', () => {
    const again = named(account(), ctx);
    expect(again).toEqual(rows);
    expect(JSON.stringify(again)).toBe(JSON.stringify(rows));
  });

  it('derives different ids for another user, table or record key', () => {
    const ids = [
      only(named({}, ctx))._dlt_id,
      only(named({}, { ...ctx, userIdentifier: 'user-2' }))._dlt_id,
      only(named({}, { ...ctx, table: 'orders' }))._dlt_id,
      only(named({}, { ...ctx, rootKey: 'k:account-2' }))._dlt_id,
    ];
    expect(new Set(ids).size).toBe(4);
  });
});

describe('normalizeRecord lists', () => {
  it('turns a list of scalars into value rows, nulls included (typed by the first: text)', () => {
    const rows = named({ tags: ['a', 2, null, true] }, ctx);
    expect(rows.map((r) => r.table)).toEqual(['accounts', ...Array(4).fill('accounts__tags')]);
    expect(rowsOf(rows, 'accounts__tags')).toEqual(
      ['a', '2', null, 'true'].map((value, i) => ({
        ...childLineage(ROOT_ID, 'accounts__tags', i),
        value,
      })),
    );
  });

  it('routes a list of lists through an intermediate row and a __list table, as dlt does', () => {
    const rows = named({ matrix: [[1, 2], [3]] }, ctx);
    expect(rows.map((r) => r.table)).toEqual([
      'accounts',
      'accounts__matrix',
      'accounts__matrix__list',
      'accounts__matrix__list',
      'accounts__matrix',
      'accounts__matrix__list',
    ]);
    const [first, second] = rowsOf(rows, 'accounts__matrix');
    expect(first).toEqual(childLineage(ROOT_ID, 'accounts__matrix', 0));
    const inner = rowsOf(rows, 'accounts__matrix__list');
    expect(inner.map((r) => [r._dlt_parent_id, r._dlt_list_idx, r.value])).toEqual([
      [first!._dlt_id, 0, 1],
      [first!._dlt_id, 1, 2],
      [second!._dlt_id, 0, 3],
    ]);
    expect(inner[2]!._dlt_id).toBe(childRowId(second!._dlt_id as string, 'accounts__matrix__list', 0));
  });

  it("reproduces dlt's list-in-list example (test_list_in_list)", () => {
    const webpath: JsonValue = [
      [
        { url: 'u1', timestamp: 't1' },
        { url: 'u2', timestamp: 't2' },
        { url: 'u3', timestamp: 't3' },
        [{ url: 'u4' }],
      ],
      [1, 2, 3],
    ];
    const rows = named({ created_at: 'c', webpath }, { ...ctx, table: 'zen' });
    expect(rows).toHaveLength(11);
    const mid = rowsOf(rows, 'zen__webpath');
    const list = rowsOf(rows, 'zen__webpath__list');
    const deeper = rowsOf(rows, 'zen__webpath__list__list');
    expect(mid).toHaveLength(2);
    expect(list).toHaveLength(7);
    expect(list[0]!._dlt_parent_id).toBe(mid[0]!._dlt_id);
    expect(deeper[0]!._dlt_parent_id).toBe(list[3]!._dlt_id);
  });

  it('names child tables after the full path of lists inside nested objects (dlt test_yields_parent_relation)', () => {
    const rows = named(
      {
        id: 'level0',
        f: [{ id: 'level1', l: ['a'], o: [{ a: 1 }], b: { a: [{ id: 'level5' }] } }],
        d: { a: [{ id: 'level4' }], b: { a: [{ id: 'level5' }] }, c: 'x' },
        e: [{ o: [{ a: 1 }], b: { a: [{ id: 'level5' }] } }],
      },
      { ...ctx, table: 'table' },
    );
    expect(rows.map((r) => r.table)).toEqual([
      'table',
      'table__f',
      'table__f__l',
      'table__f__o',
      'table__f__b__a',
      'table__d__a',
      'table__d__b__a',
      'table__e',
      'table__e__o',
      'table__e__b__a',
    ]);
    expect(rows[0]!.row.d__c).toBe('x');
    const e = rowsOf(rows, 'table__e')[0]!;
    expect(Object.keys(e)).toEqual([
      '_dlt_parent_id',
      '_dlt_list_idx',
      '_dlt_id',
      '_dlt_load_id',
      '_dlt_root_id',
      'user_identifier',
    ]);
    expect(rowsOf(rows, 'table__e__b__a')[0]!._dlt_parent_id).toBe(e._dlt_id);
    expect(rowsOf(rows, 'table__d__a')[0]!._dlt_parent_id).toBe(rows[0]!.row._dlt_id);
  });

  it('normalizes field names in child tables and their columns', () => {
    const rows = named({ BillItems: [{ lineItemID: 1, 'due-date': 'x' }] }, ctx);
    expect(rows[1]).toEqual({
      table: 'accounts__bill_items',
      row: expect.objectContaining({ line_item_id: 1, due_date: 'x' }),
    });
  });
});

describe('normalizeRecord nulls and empties', () => {
  it('names no column for a null, and fills a known column with null', () => {
    const registry = SchemaRegistry.empty();
    const first = only(named({ a: null, b: { c: null } }, ctx, registry));
    expect(Object.keys(first)).toEqual(['_dlt_load_id', '_dlt_id', 'user_identifier']);
    only(named({ a: 'x', b: { c: 1 } }, ctx, registry));
    expect(only(named({ a: null, b: { c: null } }, ctx, registry))).toMatchObject({ a: null, b__c: null });
  });

  it('adds nothing for an empty object and no rows for an empty list', () => {
    const row = only(named({ meta: {}, items: [], name: 'n' }, ctx));
    expect(Object.keys(row)).toEqual(['_dlt_load_id', '_dlt_id', 'user_identifier', 'name']);
  });

  it('still yields a linking row for an empty object inside a list', () => {
    const rows = named({ items: [{}] }, ctx);
    expect(rows[1]).toEqual({
      table: 'accounts__items',
      row: childLineage(ROOT_ID, 'accounts__items', 0),
    });
  });

  it('names empty keys _empty, as dlt does', () => {
    const row = only(named({ '': 1, b: { ' ': 2 } }, ctx));
    expect(row).toMatchObject({ _empty: 1, b___empty: 2 });
  });

  it('returns a single root row for an empty record', () => {
    expect(named({}, ctx)).toEqual([
      {
        table: 'accounts',
        row: { _dlt_load_id: ctx.loadId, _dlt_id: ROOT_ID, user_identifier: 'user-1' },
      },
    ]);
  });
});

describe('normalizeRecord name collisions', () => {
  const tag = (raw: string[]) => identifierTag(JSON.stringify(raw));

  it('keeps both values when two keys normalize to one column, whatever their order', () => {
    const a = only(named({ userId: 1, user_id: 2 }, ctx));
    const b = only(named({ user_id: 2, userId: 1 }, ctx));
    const renamed = `user_id_${tag(['userId'])}`;
    expect(a).toMatchObject({ user_id: 2, [renamed]: 1 });
    expect(b).toMatchObject({ user_id: 2, [renamed]: 1 });
    expect(renamed).toMatch(/^user_id_[a-z0-9]{6}$/);
  });

  it('gives the column to the raw name that sorts first when none is already normalized', () => {
    const a = only(named({ userID: 'x', UserId: 'y' }, ctx));
    const b = only(named({ UserId: 'y', userID: 'x' }, ctx));
    expect(a).toEqual(b);
    expect(a).toMatchObject({ user_id: 'y', [`user_id_${tag(['userID'])}`]: 'x' });
  });

  it('keeps data fields named like system columns apart from the system columns', () => {
    const row = only(named({ _dlt_id: 'from-api', user_identifier: 'spoofed', x: 1 }, ctx));
    expect(row._dlt_id).toBe(ROOT_ID);
    expect(row.user_identifier).toBe('user-1');
    expect(row[`_dlt_id_${tag(['_dlt_id'])}`]).toBe('from-api');
    expect(row[`user_identifier_${tag(['user_identifier'])}`]).toBe('spoofed');
    expect(row.x).toBe(1);
  });

  it('merges differently cased parent objects like dlt, renaming only leaves that collide', () => {
    const row = only(named({ a: { x: 1, y: 2 }, A: { x: 3, z: 4 } }, ctx));
    expect(row).toMatchObject({ a__x: 1, a__y: 2, a__z: 4, [`a__x_${tag(['A', 'x'])}`]: 3 });
  });

  it('counts up when the renamed column is itself taken by a real field', () => {
    const taken = `user_id_${tag(['userId'])}`;
    const row = only(named({ userId: 1, user_id: 2, [taken]: 3 }, ctx));
    expect(row).toMatchObject({ user_id: 2, [taken]: 3, [`${taken}_2`]: 1 });
  });

  it('keeps two lists that normalize to one child table in separate tables', () => {
    const rows = named({ items: ['a'], Items: ['b'] }, ctx);
    const renamed = `accounts__items_${tag(['Items'])}`;
    expect(rows.map((r) => r.table)).toEqual(['accounts', 'accounts__items', renamed]);
    // Ids hash the name dlt would give (both lists' natural name): unique within each table.
    expect(rows[2]!.row).toMatchObject({
      value: 'b',
      _dlt_id: childRowId(ROOT_ID, 'accounts__items', 1 - 1),
    });
  });
});

describe('normalizeRecord depth limit', () => {
  function nest(depth: number, leaf: JsonValue): JsonObject {
    let value: JsonValue = leaf;
    for (let i = depth - 1; i >= 0; i--) value = { [`l${i}`]: value };
    return value as JsonObject;
  }

  it(`flattens up to ${MAX_NESTING_DEPTH} levels and keeps deeper values as JSON text`, () => {
    const row = only(named(nest(40, 1), ctx));
    const column = Array.from({ length: MAX_NESTING_DEPTH + 1 }, (_, i) => `l${i}`).join('__');
    expect(Object.keys(row).slice(3)).toEqual([column]);
    // What sat under l32: {l33: {l34: ... {l39: 1}}}.
    let tail: JsonValue = 1;
    for (let i = 39; i > MAX_NESTING_DEPTH; i--) tail = { [`l${i}`]: tail };
    expect(JSON.parse(row[column] as string)).toEqual(tail);
  });

  it('bounds the child tables of deeply nested lists', () => {
    let value: JsonValue = ['x'];
    for (let i = 0; i < 100; i++) value = [value];
    const rows = named({ deep: value }, ctx);
    expect(rows.length).toBeLessThan(40);
    const withText = rows.filter((r) => typeof r.row.value === 'string');
    expect(withText).toHaveLength(1);
    expect(withText[0]!.table.split('__').length).toBeLessThanOrEqual(MAX_NESTING_DEPTH);
  });

  it('fails with a typed error, not a RangeError, on a value too deep to encode', () => {
    const depth = 200_000;
    const value = JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as JsonValue;
    expect(() => normalizeRecord({ deep: value }, ctx)).toThrow(MalformedResponseError);
  });
});

describe('normalizeRecord long names', () => {
  it('shortens long child table names to the limit and ids use the shortened name', () => {
    const key = 'Section'.repeat(40);
    const rows = named({ [key]: [1] }, ctx);
    const child = rows[1]!;
    expect(child.table).toHaveLength(255);
    expect(child.table.startsWith('accounts__section_section')).toBe(true);
    expect(child.row._dlt_id).toBe(childRowId(ROOT_ID, child.table, 0));
    expect(named({ [key]: [1] }, ctx)[1]!.table).toBe(child.table);
  });
});
