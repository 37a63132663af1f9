import { describe, expect, it } from 'vitest';
import { SelectorError } from '#core/errors.ts';
import { NumberLiteral } from '#core/number-literal.ts';
import { MAX_KEYS_SHOWN, printableKeys, readPath, selectRecords } from '#core/select.ts';
import type { JsonValue } from '#core/types.ts';

const accounts = { table: 'accounts', kind: 'list', selectors: ['accounts'] } as const;
const account = { table: 'account', kind: 'object', selectors: ['account'] } as const;

function selectorError(
  body: JsonValue,
  resource: Parameters<typeof selectRecords>[1],
  identifier?: string,
): SelectorError {
  try {
    selectRecords(body, resource, { identifier });
  } catch (error) {
    if (error instanceof SelectorError) return error;
    throw error;
  }
  throw new Error('expected a SelectorError');
}

describe('selectRecords for list resources', () => {
  it('reads the configured top-level key', () => {
    const body = { accounts: [{ _id: 'a' }, { _id: 'b' }] };
    expect(selectRecords(body, accounts)).toEqual([{ _id: 'a' }, { _id: 'b' }]);
  });

  it('reads a configured dotted path', () => {
    const body = { result: { items: [{ _id: 'a' }] } };
    expect(selectRecords(body, { ...accounts, selectors: ['result.items'] })).toEqual([{ _id: 'a' }]);
  });

  it('falls back to the data envelope', () => {
    const body = { data: { accounts: [{ _id: 'a' }] } };
    expect(selectRecords(body, accounts)).toEqual([{ _id: 'a' }]);
  });

  it('tries the selectors in order', () => {
    const body = { items: [{ _id: 'second' }], accounts: [{ _id: 'first' }] };
    expect(selectRecords(body, { ...accounts, selectors: ['accounts', 'items'] })).toEqual([
      { _id: 'first' },
    ]);
  });

  it('falls back to the only list at the top level when the key is not the configured one', () => {
    const body = { linkedAccounts: [{ _id: 'a' }], total: 1 };
    expect(selectRecords(body, accounts)).toEqual([{ _id: 'a' }]);
  });

  it('falls back to the only list under data', () => {
    const body = { data: { items: [{ _id: 'a' }], count: 1 } };
    expect(selectRecords(body, accounts)).toEqual([{ _id: 'a' }]);
  });

  it('takes a body that is itself an array as the list', () => {
    expect(selectRecords([{ _id: 'a' }], accounts)).toEqual([{ _id: 'a' }]);
  });

  it('wraps scalar list items as { value }', () => {
    expect(selectRecords({ accounts: ['x', 2, null] }, accounts)).toEqual([
      { value: 'x' },
      { value: 2 },
      { value: null },
    ]);
  });

  it('reads a null list as zero records', () => {
    expect(selectRecords({ accounts: null, other: [{ a: 1 }] }, accounts)).toEqual([]);
  });

  it('does not take an object found at a list selector, and goes on to the fallbacks', () => {
    const body = { accounts: { _id: 'not-a-list' }, data: { accounts: [{ _id: 'a' }] } };
    expect(selectRecords(body, accounts)).toEqual([{ _id: 'a' }]);
  });

  it('reports ambiguous lists with the keys seen and never the values', () => {
    const body = { items: [{ secret: 'value-1' }], more: [{ secret: 'value-2' }], token: 'tok-123' };
    const error = selectorError(body, accounts);
    expect(error.resource).toBe('accounts');
    expect(error.keysSeen).toEqual(['items', 'more', 'token']);
    expect(error.message).toContain("'accounts', 'data.accounts'");
    expect(error.message).toContain("top-level keys seen: 'items', 'more', 'token'");
    expect(error.message).not.toMatch(/value-1|value-2|tok-123/);
    expect(error.code).toBe('selector_not_found');
  });

  it('lists keys under data in the error too', () => {
    const error = selectorError({ data: { x: 1, y: 'z' } }, accounts);
    expect(error.keysSeen).toEqual(['data', 'data.x', 'data.y']);
  });

  it('names keys that look like data (ids, dates, e-mails) only by their count', () => {
    const body = {
      '5f1a2b3c4d5e6f7a8b9c0d1e': [{ a: 1 }],
      abcdef0123456789abcd: [{ a: 2 }],
      '2026-11-30': 1,
      'ann@example.com': 2,
      total: 4,
    };
    const error = selectorError(body, accounts);
    expect(error.keysSeen).toEqual(['total']);
    expect(error.keysNotShown).toBe(4);
    expect(error.message).toContain("top-level keys seen: 'total' and 4 more not shown");
    expect(error.message).not.toMatch(/5f1a|abcdef|2026|ann@/);
  });

  it("never shows the user's identifier, names, card numbers or values as keys, whatever their shape", () => {
    // A body keyed by the user and their data: each key has a field name's shape or is a value.
    const body = {
      alice_smith: { email: 'alice@example.com' },
      alice: 1,
      '4111111111111111': { last4: '1111' },
      Netflix: 'subscribed',
      'Zoë Ångström 71': 2,
      user_000042_with_a_very_long_key_name: 3,
      nextPage: null,
    };
    const error = selectorError(body, accounts, 'alice_smith');
    expect(error.keysSeen).toEqual(['nextPage']);
    expect(error.keysNotShown).toBe(6);
    expect(error.message).not.toMatch(/alice|4111|Netflix|Zoë|user_000042|subscribed/);
    // Without knowing whom the body is for, an identifier shaped like a field name would show.
    expect(selectorError(body, accounts).keysSeen).toContain('alice_smith');
  });

  it('says how many keys were not shown when none is', () => {
    const error = selectorError({ 'user-000123': { a: 1 }, '6150769120280496265': 2 }, accounts);
    expect(error.keysSeen).toEqual([]);
    expect(error.message).toMatch(/top-level keys seen: 2 not shown: only a few field names are/);
  });

  it('bounds the number of keys it lists', () => {
    const body = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]));
    const error = selectorError(body, accounts);
    expect(error.keysSeen).toHaveLength(MAX_KEYS_SHOWN);
    expect(error.keysNotShown).toBe(40 - MAX_KEYS_SHOWN);
    expect(error.message).toContain(`'k7' and ${40 - MAX_KEYS_SHOWN} more not shown`);
  });

  it('fails on a scalar body with no keys to show', () => {
    const error = selectorError('oops', accounts);
    expect(error.keysSeen).toEqual([]);
    expect(error.message).toContain('(none)');
  });
});

describe('selectRecords for object resources', () => {
  it('reads the configured key as one record', () => {
    expect(selectRecords({ account: { _id: 'a' } }, account)).toEqual([{ _id: 'a' }]);
  });

  it('falls back to the data envelope key', () => {
    expect(selectRecords({ data: { account: { _id: 'a' } } }, account)).toEqual([{ _id: 'a' }]);
  });

  it('reads a null object as zero records', () => {
    expect(selectRecords({ account: null }, account)).toEqual([]);
    expect(
      selectRecords({ financialTransaction: null }, { ...account, selectors: ['financialTransaction'] }),
    ).toEqual([]);
  });

  it('takes the only object-valued key as the record (a bare data envelope)', () => {
    expect(selectRecords({ data: { _id: 't', status: 'completed' } }, account)).toEqual([
      { _id: 't', status: 'completed' },
    ]);
    expect(selectRecords({ result: { _id: 't' }, message: 'ok' }, account)).toEqual([{ _id: 't' }]);
  });

  it('reads a number kept as spelled (1.0) as the number it is, never as an object', () => {
    // Whatever rule applies to a plain number applies to one kept as spelled.
    const kept = selectRecords({ result: { _id: 't' }, apiVersion: new NumberLiteral('1.0', 1) }, account);
    const plain = selectRecords({ result: { _id: 't' }, apiVersion: 1 }, account);
    expect(kept.length).toBe(plain.length);
    expect(Object.keys(kept[0]!)).toEqual(Object.keys(plain[0]!));
    expect(selectRecords({ items: [{ _id: 't' }], version: new NumberLiteral('1.0', 1) }, accounts)).toEqual(
      selectRecords({ items: [{ _id: 't' }], version: 1 }, accounts),
    );
  });

  it('takes the only null-valued key as zero records', () => {
    expect(selectRecords({ transaction: null, message: 'none' }, account)).toEqual([]);
  });

  it('reads a bare record as the record, never one of its nested objects', () => {
    const body = { _id: 'a', company: { name: 'Netflix' } };
    expect(selectRecords(body, account)).toEqual([body]);
    expect(selectRecords({ amount: 12.5, merchant: { name: 'x' } }, account)).toEqual([
      { amount: 12.5, merchant: { name: 'x' } },
    ]);
  });

  it('reads a bare null as no record', () => {
    expect(selectRecords(null, account)).toEqual([]);
  });

  it('does not read a status body or an envelope holding the wrong shape as a record', () => {
    expect(selectorError({ message: 'ok', code: 200 }, account).keysSeen).toEqual(['message', 'code']);
    expect(selectorError({ account: 'gone', other: 1 }, account).keysSeen).toEqual(['account', 'other']);
  });

  it('stays strict for list resources: one bare object is not taken as a list', () => {
    expect(selectorError({ _id: 'a', name: 'x' }, accounts).keysSeen).toEqual(['_id', 'name']);
  });

  it('reads the whole body with the $ selector', () => {
    const body = { _id: 'a', company: { name: 'Netflix' } };
    expect(selectRecords(body, { ...account, selectors: ['$'] })).toEqual([body]);
  });

  it('does not take a list found at an object selector', () => {
    const error = selectorError({ account: [{ _id: 'a' }], other: 1 }, account);
    expect(error.keysSeen).toEqual(['account', 'other']);
  });

  it('reports two object-valued keys as ambiguous', () => {
    const error = selectorError({ first: { a: 1 }, second: { b: 2 } }, account);
    expect(error.message).toContain("'account', 'data.account'");
  });
});

describe('printableKeys (probe)', () => {
  it("prints field names only: never the user's identifier or a name, counted instead", () => {
    expect(
      printableKeys(['accounts', 'alice_smith', 'Netflix', 'user-000042', '_id'], 'alice_smith'),
    ).toEqual(['accounts', '_id', '<3 keys that look like data>']);
  });
});

describe('readPath', () => {
  it('follows dotted paths through objects and stops at anything else', () => {
    const body = { a: { b: { c: 'x' } }, list: [1] };
    expect(readPath(body, 'a.b.c')).toBe('x');
    expect(readPath(body, 'a.missing')).toBeUndefined();
    expect(readPath(body, 'list.0')).toBeUndefined();
    expect(readPath(body, 'toString')).toBeUndefined();
  });
});
