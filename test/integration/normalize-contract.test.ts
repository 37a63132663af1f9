/**
 * Property-based tests of the normalizer's contract (issue 8), with fast-check: for generated
 * PayLink-like records (Unicode keys, case and style variants of one name, keys named like
 * lineage, partition or variant columns, nesting, lists of lists, nulls, numbers of every size
 * including integers beyond 2^53 and NaN / Infinity), in any record order and any split into
 * parallel batches:
 * - every table and column name passes the Glue name rule;
 * - no two source paths of a table share a column, no two lists share a child table;
 * - the lake, read back with hyparquet, reassembles each input record exactly, modulo the
 *   documented coercions (test/helpers/reassemble.ts).
 * Bodies go through the loader's own lossless parser, so big integers arrive as they would.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { createParquetPartReader } from '#adapters/parquet-reader.ts';
import { createParquetPartWriterFactory } from '#adapters/parquet-writer.ts';
import { commitLoad } from '#core/commit.ts';
import { resolveCatalog, selectResources } from '#core/config.ts';
import { rootRowId } from '#core/ids.ts';
import { parseIsoTimestamp } from '#core/iso-timestamp.ts';
import { parseJsonBody } from '#core/json-body.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { loadBatch } from '#core/load-batch.ts';
import { isLakeName } from '#core/naming.ts';
import { normalizeRecord } from '#core/normalize.ts';
import { planLoad, readBatchUsers, readPlan } from '#core/plan.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { type SchemaDoc, SchemaRegistry } from '#core/schema-registry.ts';
import type { JsonObject, JsonValue } from '#core/types.ts';
import { readParquet } from '#test/helpers/read-parquet.ts';
import { canonical, difference, type LakeRow, reassemble } from '#test/helpers/reassemble.ts';

/** Keys a real API sends, and the ones that broke loaders: variants of one name, reserved names, odd digits. */
const KEYS = [
  'accountId',
  'account_id',
  'AccountID',
  'AccountId',
  'Status',
  'status',
  'STATUS',
  'dueAmount',
  'due_amount',
  'DueAmount',
  'tags',
  'Tags',
  'company',
  'name',
  'value',
  'list',
  '_dlt_id',
  '_dlt_parent_id',
  'user_identifier',
  'dt',
  'x__v_text',
  'v_text',
  'ref١',
  'ref1',
  'total１',
  '',
  ' ',
  '__',
  'a-b',
  'a b',
  'café',
  '💰',
  // Keys that are data: an object made only of these is kept as one JSON column.
  '2024-01-31',
  '42',
  '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
  'acct_000123456',
];

const key = fc
  .oneof(
    { weight: 3, arbitrary: fc.constantFrom(...KEYS) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) },
  )
  // `_id` is the resource's primary key (row ids); `__proto__` is not a plain key in JS objects.
  .filter((k) => k !== '_id' && k !== '__proto__');

const scalar: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  // Strings that look like timestamps are normalized to UTC (documented); keep them out.
  fc.string({ maxLength: 6 }).filter((s) => parseIsoTimestamp(s) === undefined),
  fc.constantFrom('12.5', '007', 'true', '1e5', 'N/A'),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.bigInt({ min: 2n ** 53n + 1n, max: 2n ** 80n }),
  fc.bigInt({ min: -(2n ** 80n), max: -(2n ** 53n) - 1n }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
);

const { value } = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.dictionary(key, tie('value'), { maxKeys: 4 }) },
  ),
}));
const record = fc.dictionary(key, value, { maxKeys: 6 }) as fc.Arbitrary<JsonObject>;

/** JSON text as an API would send it: big integers as digits, non-finite as bare tokens. */
function toBody(data: JsonValue): string {
  if (typeof data === 'bigint') return data.toString();
  if (typeof data === 'number') return Number.isFinite(data) ? JSON.stringify(data) : String(data);
  if (data === null || typeof data !== 'object') return JSON.stringify(data);
  if (Array.isArray(data)) return `[${data.map(toBody).join(',')}]`;
  return `{${Object.entries(data)
    .map(([k, v]) => `${JSON.stringify(k)}:${toBody(v)}`)
    .join(',')}}`;
}

function assertNames(doc: SchemaDoc): void {
  const childTables = new Set<string>();
  for (const [table, { columns, fields }] of Object.entries(doc.tables)) {
    expect(isLakeName(table), table).toBe(true);
    for (const column of columns) expect(isLakeName(column.name), `${table}.${column.name}`).toBe(true);
    const owned = new Set<string>();
    for (const field of fields ?? []) {
      const name = 'column' in field ? field.column : field.table;
      const seen = 'column' in field ? owned : childTables;
      expect(seen.has(name), `${table}: ${name} named twice`).toBe(false);
      seen.add(name);
    }
  }
}

describe('the normalizer contract (property-based)', () => {
  it('names every column validly and never gives one column to two source paths, in any record order', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 8 }), (records) => {
        const registry = SchemaRegistry.empty();
        records.forEach((r, i) => {
          const parsed = parseJsonBody(toBody(r)) as JsonObject;
          const ctx = { table: 'suggestions', loadId: 'L', userIdentifier: 'u', rootKey: `i:${i}` };
          for (const row of normalizeRecord(parsed, ctx)) registry.typeRow(row.table, row.row);
        });
        assertNames(registry.toJSON());
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 150), seed: Number(process.env.FC_SEED ?? 8) },
    );
  });

  it('reassembles every record from the lake, in any order and any split into parallel batches', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        async (records, users, batchSize) => {
          const loadId = `L${++run}`;
          await withLoadedLake(records, users, batchSize, loadId, async (store, byUser) => {
            const schema = (await readCommittedSchema(store)).toJSON();
            assertNames(schema);
            const rows = new Map<string, LakeRow[]>();
            for (const key of await store.list('')) {
              if (!key.endsWith('.parquet') || key.startsWith('_')) continue;
              const table = key.slice(0, key.indexOf('/'));
              const { rows: partRows } = await readParquet((await store.get(key))!);
              rows.set(table, [...(rows.get(table) ?? []), ...partRows]);
            }
            const rebuilt = reassemble(schema, 'suggestions', rows);
            expect(rebuilt.size).toBe(records.length);
            byUser.forEach((userRecords, u) => {
              userRecords.forEach((input, index) => {
                const id = rootRowId(loadId, `u${u}`, 'suggestions', JSON.stringify([null, `i:${index}`]));
                const output = rebuilt.get(id);
                expect(output, `record ${index} of u${u}`).toBeDefined();
                const diff = difference(canonical(input) ?? {}, output);
                expect(diff, `u${u}[${index}] ${toBody(input)}`).toBeUndefined();
              });
            });
          });
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 25), seed: Number(process.env.FC_SEED ?? 8) },
    );
  }, 60_000);

  it('names every source path alike whatever the record order and the split into batches', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 1000 }),
        async (records, users, batchSize, shuffle) => {
          // The same records, reversed and rotated, dealt to other users and batches.
          const rotated = [...records].reverse();
          rotated.push(...rotated.splice(0, shuffle % rotated.length));
          const a = await withLoadedLake(records, users, batchSize, `A${++run}`, mapping);
          const b = await withLoadedLake(rotated, 4 - users, 4 - batchSize, `B${run}`, mapping);
          expect(b).toEqual(a);
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 12), seed: Number(process.env.FC_SEED ?? 8) },
    );
  }, 60_000);
});

/** Each table's source path -> column / child table mapping, as sorted JSON lines (order-free). */
async function mapping(store: ObjectStore): Promise<Record<string, string[]>> {
  const doc = (await readCommittedSchema(store)).toJSON();
  const out: Record<string, string[]> = {};
  for (const [table, { fields }] of Object.entries(doc.tables))
    out[table] = (fields ?? []).map((f) => JSON.stringify(f)).sort();
  return out;
}

const steps = selectResources(resolveCatalog(), ['suggestions']).steps;
const parts = createParquetPartWriterFactory();
const reader = createParquetPartReader();
const clock = () => new Date('2026-11-30T12:00:00Z');

/**
 * Loads `records` (dealt round-robin to `users` users, each user's body sent as text through the
 * lossless parser) in batches of `batchSize` users run in parallel, commits, and hands the lake
 * to `check`; the lake is removed afterwards.
 */
async function withLoadedLake<T>(
  records: readonly JsonObject[],
  users: number,
  batchSize: number,
  loadId: string,
  check: (store: ObjectStore, byUser: JsonObject[][]) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'normalize-contract-'));
  try {
    const store = createLocalStore(dir);
    const byUser = Array.from({ length: users }, (_, u) => records.filter((_, i) => i % users === u));
    const api: PayLinkApi = {
      async openSession(identifier) {
        const body = `{"suggestions": ${toBody(byUser[Number(identifier.slice(1))]!)}}`;
        return { getJson: async () => parseJsonBody(body) };
      },
      stats: () => ({ requests: 0, retries: 0 }),
    };
    const identifiers = byUser.map((_, u) => ({ identifier: `u${u}` }));
    await planLoad(
      { loadId, startedAt: clock(), users: identifiers, batchSize, resources: ['suggestions'] },
      store,
    );
    const plan = await readPlan(store, loadId);
    await Promise.all(
      Array.from({ length: plan.batches }, async (_, batch) =>
        loadBatch(
          {
            loadId,
            batch,
            dt: plan.dt,
            startedAt: plan.startedAt,
            users: await readBatchUsers(store, loadId, batch),
            steps,
            registry: await readCommittedSchema(store),
            concurrency: 2,
          },
          { api, store, parts, clock },
        ),
      ),
    );
    await commitLoad(loadId, { store, parts, reader, clock });
    return await check(store, byUser);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
