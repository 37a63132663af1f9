/**
 * Partition projection answers only for dates inside `projection.dt.range`: a resource
 * partitioned by a record date before the range's start, or after today, would be invisible in
 * Athena. The commit hands the catalog the partitions it wrote; the range widens to them.
 */
import { GlueClient } from '@aws-sdk/client-glue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGlueCatalog, widenProjectionRange } from '#adapters/glue-catalog.ts';
import { DEFAULT_PROJECTION_RANGE } from '#core/glue-table.ts';
import type { ColumnDef } from '#core/types.ts';
import { type FakeGlue, startFakeGlue } from '#test/helpers/fake-glue.ts';

const TODAY = new Date('2026-11-30T12:00:00Z');

describe('widenProjectionRange', () => {
  it('keeps a range that already covers the dates', () => {
    expect(widenProjectionRange('2020-01-01,NOW', ['2026-11-30', '2021-05-01'], TODAY)).toBe(
      '2020-01-01,NOW',
    );
  });
  it('moves the start back to the earliest date', () => {
    expect(widenProjectionRange('2020-01-01,NOW', ['2019-03-04', '2026-11-30'], TODAY)).toBe(
      '2019-03-04,NOW',
    );
  });
  it('extends the end past today relative to NOW, never shrinking it', () => {
    expect(widenProjectionRange('2020-01-01,NOW', ['2026-12-03'], TODAY)).toBe('2020-01-01,NOW+3DAYS');
    expect(widenProjectionRange('2020-01-01,NOW+10DAYS', ['2026-12-03'], TODAY)).toBe(
      '2020-01-01,NOW+10DAYS',
    );
  });
  it('leaves a range it does not understand as it is', () => {
    expect(widenProjectionRange('NOW-3YEARS,NOW', ['2019-01-01'], TODAY)).toBe('NOW-3YEARS,NOW');
  });
});

let glue: FakeGlue;
beforeAll(async () => {
  glue = await startFakeGlue();
});
afterAll(async () => {
  await glue?.close();
});
beforeEach(() => glue.reset());

const ORDERS: ColumnDef[] = [
  { name: '_dlt_id', type: 'text' },
  { name: 'amount', type: 'double' },
];
const rangeOf = (table: string) =>
  glue.tables.get(`paylink.${table}`)!.input.Parameters['projection.dt.range'];

describe('the Glue catalog', () => {
  it('creates a table whose range covers the partitions written, and widens it on a later load without column changes', async () => {
    const catalog = createGlueCatalog({
      database: 'paylink',
      client: new GlueClient({
        endpoint: glue.url,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      }),
      now: () => TODAY,
    });
    const locationFor = (table: string) => `s3://lake/paylink/${table}/`;
    await catalog.syncTables([{ table: 'orders', columns: ORDERS, dts: ['2026-11-30'] }], locationFor);
    expect(rangeOf('orders')).toBe(DEFAULT_PROJECTION_RANGE);
    const result = await catalog.syncTables(
      [{ table: 'orders', columns: ORDERS, dts: ['2018-07-01', '2026-12-02'] }],
      locationFor,
    );
    expect(result.updated).toEqual(['orders']);
    expect(rangeOf('orders')).toBe('2018-07-01,NOW+2DAYS');
    const again = await catalog.syncTables(
      [{ table: 'orders', columns: ORDERS, dts: ['2026-11-30'] }],
      locationFor,
    );
    expect(again).toEqual({ created: [], updated: [] });
    expect(rangeOf('orders')).toBe('2018-07-01,NOW+2DAYS');
  });
});
