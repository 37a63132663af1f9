/**
 * A column the lake already has keeps its type and the rule its values were always placed by
 * (README, "Numbers, text and time"): settling the type of new columns from counts, with its
 * stricter rule for decimal strings, must not move a value of a committed double column. The
 * expected values here are what the loader placed before new columns were settled (checked
 * against that code): `"12.50"` is 12.5, a decimal string with more digits than a double is
 * its nearest double, `"N/A"` goes to `amount__v_text`. A new column beside it, typed otherwise
 * by a batch than by the load, makes the commit re-type the batch's parts of the table: the
 * committed column's values stay where the batch put them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { commitLoad } from '#core/commit.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { NumberLiteral } from '#core/number-literal.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import type { JsonValue } from '#core/types.ts';
import { queryObjects, withLake } from '#test/helpers/lake-harness.ts';
import { stageOrdersLoad } from '#test/helpers/staged-orders-load.ts';

const parts = createParquetPartWriterFactory();
const reader = createParquetPartReader();
const clock = () => new Date('2026-11-25T12:00:00Z');

type Order = Record<string, JsonValue>;

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

function api(orders: ReadonlyMap<string, Order[]>): PayLinkApi {
  return {
    async openSession(identifier) {
      return { getJson: async () => ({ orders: orders.get(identifier) ?? [] }) };
    },
    stats: () => ({ requests: 0, retries: 0 }),
  };
}

/** One load of `orders` (a user each), in batches of `batchSize`, each from the committed registry. */
async function load(
  store: ObjectStore,
  loadId: string,
  orders: ReadonlyMap<string, Order[]>,
  batchSize: number,
) {
  await stageOrdersLoad({
    store,
    loadId,
    identifiers: [...orders.keys()],
    batchSize,
    api: api(orders),
    parts,
    clock,
  });
  await commitLoad(loadId, { store, parts, reader, clock });
}

/** A lake whose `orders.amount` is a committed double column (numbers only). */
async function lakeWithDoubleAmount() {
  const dir = await mkdtemp(join(tmpdir(), 'committed-double-'));
  dirs.push(dir);
  const store = createLocalStore(dir);
  await load(
    store,
    'L1',
    new Map([
      ['a0', [{ _id: 'a0-1', amount: 12.5 }]],
      ['a1', [{ _id: 'a1-1', amount: 3 }]],
    ]),
    2,
  );
  const amount = (await readCommittedSchema(store)).columns('orders').find((c) => c.name === 'amount');
  expect(amount?.type).toBe('double');
  return { dir, store };
}

/** The second load's orders: `amount` strings of every kind; `note`, new, a number first then text. */
const SECOND = new Map<string, Order[]>([
  ['u0', [{ _id: 'u0-1', amount: '12.50', note: 5 }]],
  ['u1', [{ _id: 'u1-1', amount: '0.1000000000000000000001', note: 'n/a' }]],
  ['u2', [{ _id: 'u2-1', amount: '1e-400', note: 'late' }]],
  ['u3', [{ _id: 'u3-1', amount: '9007199254740993.0', note: 'late' }]],
  ['u4', [{ _id: 'u4-1', amount: 'N/A', note: 'n/a' }]],
  ['u5', [{ _id: 'u5-1', amount: 7 }]],
]);

/** `amount` and its text variant by `_id`, as DuckDB reads them. */
async function amounts(dir: string) {
  return withLake(dir, async (lake) => {
    const rows = await queryObjects(lake, 'SELECT _id, amount, amount__v_text FROM orders ORDER BY _id');
    return Object.fromEntries(rows.map((r) => [r._id, [r.amount, r.amount__v_text]]));
  });
}

describe('a committed double column', () => {
  it.each([
    ['one batch', 6],
    ['batches of one', 1],
  ])(
    'places decimal strings as it always did (%s), beside a new column the commit re-types',
    async (_name, batchSize) => {
      const { dir, store } = await lakeWithDoubleAmount();
      await load(store, 'L2', SECOND, batchSize);

      const columns = Object.fromEntries(
        (await readCommittedSchema(store)).columns('orders').map((c) => [c.name, c.type]),
      );
      expect(columns).toMatchObject({ amount: 'double', amount__v_text: 'text' });
      expect(await amounts(dir)).toEqual({
        'a0-1': [12.5, null],
        'a1-1': [3, null],
        'u0-1': [12.5, null],
        'u1-1': [0.1, null],
        'u2-1': [0, null],
        'u3-1': [9007199254740992, null],
        'u4-1': [null, 'N/A'],
        'u5-1': [7, null],
      });
    },
    60_000,
  );

  it('keeps a number literal no double holds as its text when the commit re-types the part', async () => {
    const { dir, store } = await lakeWithDoubleAmount();
    // u1's batch types `note` double and the load text: its part is re-typed at commit, its
    // literal read back from `amount__v_text` as the string '1e-400'.
    const orders = new Map<string, Order[]>([
      ['u0', [{ _id: 'u0-1', amount: 2.5, note: 'n/a' }]],
      ['u1', [{ _id: 'u1-1', amount: new NumberLiteral('1e-400', undefined), note: 5 }]],
      ['u2', [{ _id: 'u2-1', amount: 'N/A', note: 'late' }]],
    ]);
    await load(store, 'L2', orders, 1);
    const found = await amounts(dir);
    expect(found['u0-1']).toEqual([2.5, null]);
    expect(found['u1-1']).toEqual([null, '1e-400']);
    expect(found['u2-1']).toEqual([null, 'N/A']);
  }, 60_000);
});
