/**
 * A column new to the lake gets its type from the load's data alone (README, "Numbers, text and
 * time"): not from which value came first, so not from the user order, the batch split, the
 * order batches or users finished in, or whether the batches shared a registry (a local run) or
 * each started from the committed one (a load-batch Lambda). The values read back through DuckDB
 * (the column and its `__v_<type>` variants) are the same too, and none is lost.
 *
 * The simulator's drifting amounts are the case a review found: `12.5`, `"12.50"` and `"N/A"`
 * in one field. Typed by its first value, the column was text in one load of the data and double
 * in another, and a `"12.50"` that a batch had coerced to 12.5 came back as `'12.5'` when the
 * commit re-typed that batch's part into text.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { commitLoad } from '#core/commit.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { tablePrefix } from '#core/layout.ts';
import { loadBatch } from '#core/load-batch.ts';
import { NumberLiteral } from '#core/number-literal.ts';
import { planLoad, readBatchUsers, readPlan } from '#core/plan.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { settledType } from '#core/schema-registry.ts';
import type { JsonValue } from '#core/types.ts';
import { queryObjects, withLake } from '#test/helpers/lake-harness.ts';

const steps = selectResources(resolveCatalog(), ['orders']).steps;
const parts = createParquetPartWriterFactory();
const reader = createParquetPartReader();
const clock = () => new Date('2026-11-25T12:00:00Z');
/** The tables the orders' fields make: `orders` and the child table of the `tags` lists. */
const TABLES = ['orders', 'orders__tags'] as const;

type Order = Record<string, JsonValue>;

interface LoadShape {
  /** The users in the order the users list has them. */
  readonly users: readonly string[];
  readonly batchSize: number;
  /** `lambda`: each batch starts from the committed registry; `shared`: one registry, as a local run. */
  readonly mode: 'lambda' | 'shared';
  /** The order batches run in (lambda); a permutation of the batch numbers. */
  readonly batchOrder?: readonly number[];
  readonly concurrency: number;
  /** Milliseconds each user's answer waits: the order users finish in within a batch. */
  readonly delays?: ReadonlyMap<string, number>;
}

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

function api(orders: ReadonlyMap<string, Order[]>, delays?: ReadonlyMap<string, number>): PayLinkApi {
  return {
    async openSession(identifier) {
      return {
        async getJson() {
          const delay = delays?.get(identifier) ?? 0;
          if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
          // Copies: the loader may not keep what another load of the same data is given.
          const copy = (o: Order): Order =>
            Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]));
          return { orders: (orders.get(identifier) ?? []).map(copy) };
        },
      };
    },
    stats: () => ({ requests: 0, retries: 0 }),
  };
}

/** Loads `orders` into a fresh lake as `shape` says; returns the committed types and the rows DuckDB reads. */
async function load(orders: ReadonlyMap<string, Order[]>, shape: LoadShape) {
  const dir = await mkdtemp(join(tmpdir(), 'new-column-types-'));
  dirs.push(dir);
  const store: ObjectStore = createLocalStore(dir);
  await planLoad(
    {
      loadId: 'T1',
      startedAt: clock(),
      users: shape.users.map((identifier) => ({ identifier })),
      batchSize: shape.batchSize,
      resources: ['orders'],
    },
    store,
  );
  const plan = await readPlan(store, 'T1');
  const shared = shape.mode === 'shared' ? await readCommittedSchema(store) : undefined;
  const order = shape.batchOrder ?? Array.from({ length: plan.batches }, (_, b) => b);
  for (const batch of order) {
    await loadBatch(
      {
        loadId: 'T1',
        batch,
        dt: plan.dt,
        startedAt: plan.startedAt,
        users: await readBatchUsers(store, 'T1', batch),
        steps,
        registry: shared ?? (await readCommittedSchema(store)),
        concurrency: shape.concurrency,
      },
      { api: api(orders, shape.delays), store, parts, clock },
    );
  }
  await commitLoad('T1', { store, parts, reader, clock });
  const registry = await readCommittedSchema(store);
  const types = Object.fromEntries(
    TABLES.map((table) => [
      table,
      Object.fromEntries(
        registry
          .columns(table)
          .map((c) => [c.name, c.type] as const)
          .sort(([a], [b]) => (a < b ? -1 : 1)),
      ),
    ]),
  );
  // The column order users see: each committed file's (its footer) and the table's through DuckDB.
  const fileColumns: Record<string, string[]> = {};
  for (const table of TABLES) {
    const keys = (await store.list(tablePrefix(table))).filter((k) => k.endsWith('.parquet'));
    const orders = await Promise.all(
      keys.map(async (k) => (await reader.readColumns(store, k)).map((c) => c.name).join(',')),
    );
    fileColumns[table] = [...new Set(orders)].sort();
  }
  const columnOrder: Record<string, string[]> = {};
  const rows = await withLake(dir, async (lake) => {
    const out: Record<string, string[]> = {};
    for (const table of TABLES) {
      if (!lake.tables().includes(table)) continue;
      columnOrder[table] = (await lake.query(`SELECT * FROM "${table}" LIMIT 0`)).columns;
      const objects = await queryObjects(lake, `SELECT * FROM "${table}"`);
      out[table] = objects
        .map((row) =>
          JSON.stringify(
            Object.keys(row)
              .sort()
              .map((k) => [k, typeof row[k] === 'bigint' ? String(row[k]) : row[k]]),
          ),
        )
        .sort();
    }
    return out;
  });
  const registryOrder = Object.fromEntries(TABLES.map((t) => [t, registry.columns(t).map((c) => c.name)]));
  return { types, rows, registryOrder, fileColumns, columnOrder };
}

const oneBatch = (users: readonly string[]): LoadShape => ({
  users,
  batchSize: users.length,
  mode: 'shared',
  concurrency: 1,
});

describe('the type of a column new to the lake', () => {
  it('is the same for the simulator’s drifting amounts in one batch, in batches of one, and in another user order', async () => {
    // u0's amount is "N/A", u1 has a number then a numeric string, the rest numbers.
    const orders = new Map<string, Order[]>([
      ['u0', [{ _id: 'u0-1', amount: 'N/A' }]],
      [
        'u1',
        [
          { _id: 'u1-1', amount: 7.25 },
          { _id: 'u1-2', amount: '12.50' },
        ],
      ],
      ['u2', [{ _id: 'u2-1', amount: 30 }]],
      ['u3', [{ _id: 'u3-1', amount: 4.5 }]],
    ]);
    const users = ['u0', 'u1', 'u2', 'u3'];
    const reference = await load(orders, oneBatch(users));
    // Most values are numbers (and "12.50" is one): double, "N/A" kept beside it.
    expect(reference.types.orders).toMatchObject({ amount: 'double', amount__v_text: 'text' });
    const split = await load(orders, { users, batchSize: 1, mode: 'lambda', concurrency: 1 });
    expect(split).toEqual(reference);
    const reversed = await load(orders, oneBatch([...users].reverse()));
    expect(reversed).toEqual(reference);
    const local = await load(orders, {
      users: [...users].reverse(),
      batchSize: 1,
      mode: 'shared',
      concurrency: 1,
    });
    expect(local).toEqual(reference);
  }, 60_000);

  it('is settled by counts: the type most values fit, text counting only text, ties to timestamp, double, bool, text', () => {
    expect(settledType({ kinds: { double: 3, text: 1 }, fits: { double: 3, text: 4 } })).toBe('double');
    expect(settledType({ kinds: { double: 1, text: 3 }, fits: { double: 2, text: 4 } })).toBe('text');
    expect(settledType({ kinds: { double: 2, text: 2 }, fits: { double: 2, text: 4 } })).toBe('double');
    // Strings only stay text even when every one of them is a number.
    expect(settledType({ kinds: { text: 5 }, fits: { text: 5, double: 5 } })).toBe('text');
    expect(settledType({ kinds: { bool: 2, text: 2 }, fits: { bool: 4, text: 4 } })).toBe('bool');
    expect(
      settledType({ kinds: { timestamp: 1, double: 1 }, fits: { timestamp: 1, double: 1, text: 2 } }),
    ).toBe('timestamp');
    // Nothing fits (NaN tokens only): the type the values have.
    expect(settledType({ kinds: { double: 2 }, fits: {} })).toBe('double');
  });

  it('and the values read back do not depend on the batch split, the user order or the order users and batches finish in', async () => {
    const iso = fc.integer({ min: 0, max: 500_000 }).map((m) => new Date(Date.UTC(2026, 0, 1) + m * 60_000));
    const scalar: fc.Arbitrary<JsonValue> = fc.oneof(
      fc.constant(null),
      fc.integer({ min: -1000, max: 1000 }),
      fc.integer({ min: -100_000, max: 100_000 }).map((n) => n / 100),
      fc.integer({ min: 0, max: 99_999 }).map((n) => (n / 100).toFixed(2)),
      fc.constantFrom('N/A', '', '007', 'true', 'false', '2026-11-01', 'soon'),
      // Decimal strings a double rounds: text for a column the load settles, whatever the split.
      fc.constantFrom('0.1000000000000000000001', '1e-400', '9007199254740993.0'),
      fc.boolean(),
      iso.map((d) => d.toISOString()),
      iso.map((d) => d.toISOString().replace('.000Z', 'Z')),
      iso.map((d) => d.toISOString().replace('.000Z', '+02:00')),
      fc.bigInt({ min: 2n ** 53n + 1n, max: 2n ** 70n }) as fc.Arbitrary<unknown> as fc.Arbitrary<JsonValue>,
      // Literals as the lossless body parser gives them: spelled otherwise than JavaScript, or no double.
      fc.constantFrom(
        new NumberLiteral('1.10', 1.1),
        new NumberLiteral('12.0', 12),
        new NumberLiteral('1e400', undefined),
        new NumberLiteral('9007199254740993.0', undefined),
        new NumberLiteral('1e-400', undefined),
      ),
    );
    const order = fc.record({
      amount: scalar,
      when: scalar,
      flag: scalar,
      tags: fc.array(scalar, { maxLength: 3 }),
    });
    const world = fc.array(fc.array(order, { maxLength: 3 }), { minLength: 2, maxLength: 10 });
    await fc.assert(
      fc.asyncProperty(
        world,
        fc.nat(),
        fc.constantFrom('lambda', 'shared'),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.nat(), { minLength: 10, maxLength: 10 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 10, maxLength: 10 }),
        async (perUser, size, mode, concurrency, keys, delayList) => {
          const users = perUser.map((_, i) => `u${i}`);
          const orders = new Map(
            perUser.map((list, i) => [`u${i}`, list.map((o, n) => ({ _id: `u${i}-${n}`, ...o }) as Order)]),
          );
          const reference = await load(orders, oneBatch(users));
          const batchSize = 1 + (size % users.length);
          const batches = Math.ceil(users.length / batchSize);
          const byKey = (a: number, b: number) => keys[a % keys.length]! - keys[b % keys.length]! || a - b;
          const shuffled = [...users].sort((a, b) => byKey(Number(a.slice(1)), Number(b.slice(1))));
          const other = await load(orders, {
            users: shuffled,
            batchSize,
            mode,
            concurrency,
            ...(mode === 'lambda'
              ? { batchOrder: Array.from({ length: batches }, (_, b) => b).sort((a, b) => byKey(b, a)) }
              : {}),
            delays: new Map(users.map((u, i) => [u, delayList[i % delayList.length]!])),
          });
          expect(other.types).toEqual(reference.types);
          expect(other.rows).toEqual(reference.rows);
          // The column order too: the registry's (Glue's), each file's, and DuckDB's.
          expect(other.registryOrder).toEqual(reference.registryOrder);
          expect(other.fileColumns).toEqual(reference.fileColumns);
          expect(other.columnOrder).toEqual(reference.columnOrder);
        },
      ),
      { numRuns: 12 },
    );
  }, 240_000);
});
