import { describe, expect, it } from 'vitest';
import { ConfigError } from '#core/errors.ts';
import { glueColumns, glueTableInput, mergeGlueColumns } from '#core/glue-table.ts';
import { PARTITION_TEMPLATE, partKey } from '#core/layout.ts';
import type { ColumnDef } from '#core/types.ts';

const COLUMNS: ColumnDef[] = [
  { name: '_dlt_id', type: 'text' },
  { name: '_dlt_load_id', type: 'text' },
  { name: 'user_identifier', type: 'text' },
  { name: 'balance', type: 'double' },
  { name: 'bill_count', type: 'bigint' },
  { name: 'is_active', type: 'bool' },
  { name: 'created_at', type: 'timestamp' },
  { name: 'company__name', type: 'text' },
];

const LOCATION = 's3://lake-bucket/paylink/accounts/';

describe('glueTableInput', () => {
  it('describes an external Parquet table partitioned by the dt string', () => {
    const input = glueTableInput({ table: 'accounts', columns: COLUMNS, location: LOCATION });
    expect(input.Name).toBe('accounts');
    expect(input.TableType).toBe('EXTERNAL_TABLE');
    expect(input.PartitionKeys).toEqual([{ Name: 'dt', Type: 'string' }]);
    expect(input.StorageDescriptor).toMatchObject({
      Location: LOCATION,
      InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
      OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
      SerdeInfo: {
        SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
        Parameters: { 'serialization.format': '1' },
      },
    });
    expect(input.Parameters).toMatchObject({ classification: 'parquet', EXTERNAL: 'TRUE' });
  });

  it('maps every lake column type to its Athena type, in order', () => {
    const input = glueTableInput({ table: 'accounts', columns: COLUMNS, location: LOCATION });
    expect(input.StorageDescriptor.Columns).toEqual([
      { Name: '_dlt_id', Type: 'string' },
      { Name: '_dlt_load_id', Type: 'string' },
      { Name: 'user_identifier', Type: 'string' },
      { Name: 'balance', Type: 'double' },
      { Name: 'bill_count', Type: 'bigint' },
      { Name: 'is_active', Type: 'boolean' },
      { Name: 'created_at', Type: 'timestamp' },
      { Name: 'company__name', Type: 'string' },
    ]);
  });

  it('projects daily dt partitions at the keys the writer uses', () => {
    const input = glueTableInput({ table: 'accounts', columns: COLUMNS, location: LOCATION });
    expect(input.Parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': '2020-01-01,NOW',
      'projection.dt.interval': '1',
      'projection.dt.interval.unit': 'DAYS',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's own placeholder syntax.
      'storage.location.template': 's3://lake-bucket/paylink/accounts/dt=${dt}/',
    });
    // The template, with a date filled in, is the folder of a real data key.
    const template = input.Parameters['storage.location.template']!;
    const key = partKey({
      table: 'accounts',
      dt: '2025-01-31',
      loadId: '1738281600.000000',
      batch: 3,
      part: 0,
    });
    expect(
      `s3://lake-bucket/paylink/${key}`.startsWith(template.replace(PARTITION_TEMPLATE, '2025-01-31')),
    ).toBe(true);
  });

  it('takes a wider projection range for record-timestamp partitions', () => {
    const input = glueTableInput({
      table: 'orders',
      columns: COLUMNS,
      location: 's3://lake-bucket/orders/',
      projectionRange: '2000-01-01,NOW',
    });
    expect(input.Parameters['projection.dt.range']).toBe('2000-01-01,NOW');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's own placeholder syntax.
    expect(input.Parameters['storage.location.template']).toBe('s3://lake-bucket/orders/dt=${dt}/');
  });

  it("rejects a location that is not the table's folder under a lake root", () => {
    const build = (location: string) => () =>
      glueTableInput({ table: 'accounts', columns: COLUMNS, location });
    expect(build('s3://lake-bucket/paylink/orders/')).toThrow(ConfigError);
    expect(build('s3://lake-bucket/paylink/accounts')).toThrow(ConfigError);
    expect(build('/tmp/lake/accounts/')).toThrow('glue.accounts.location');
    expect(build('s3://lake-bucket/paylink/xaccounts/')).toThrow(ConfigError);
  });

  it('rejects names Athena cannot query, duplicates and a column named like the partition', () => {
    const columns = (name: string): ColumnDef[] => [{ name, type: 'text' }];
    expect(() => glueColumns('accounts', columns('Company Name'))).toThrow('glue.accounts.columns.0');
    expect(() => glueColumns('accounts', columns('1st'))).toThrow(ConfigError);
    expect(() => glueColumns('accounts', columns('a'.repeat(256)))).toThrow(ConfigError);
    expect(() => glueColumns('accounts', columns('dt'))).toThrow('collides with the partition column');
    expect(() => glueColumns('accounts', [...columns('a'), ...columns('a')])).toThrow(
      'glue.accounts.columns.1: duplicate',
    );
    expect(() => glueTableInput({ table: 'Accounts', columns: [], location: LOCATION })).toThrow(
      'glue.table',
    );
  });
});

describe('mergeGlueColumns', () => {
  const c = (Name: string, Type = 'string') => ({ Name, Type });

  it('reports no change when the catalog already has every column', () => {
    expect(mergeGlueColumns([c('a'), c('b', 'bigint')], [c('b', 'bigint'), c('a')])).toEqual({
      columns: [c('a'), c('b', 'bigint')],
      changed: false,
    });
  });

  it('appends new columns after the existing ones, keeping their order', () => {
    const merged = mergeGlueColumns([c('a'), c('b')], [c('a'), c('x'), c('b'), c('y', 'double')]);
    expect(merged).toEqual({ columns: [c('a'), c('b'), c('x'), c('y', 'double')], changed: true });
  });

  it('never drops a column the lake no longer sends', () => {
    expect(mergeGlueColumns([c('a'), c('old')], [c('a'), c('new')]).columns).toEqual([
      c('a'),
      c('old'),
      c('new'),
    ]);
  });

  it("restores the lake's type over a hand-edited one, in place", () => {
    expect(mergeGlueColumns([c('a', 'string'), c('b')], [c('a', 'bigint'), c('b')])).toEqual({
      columns: [c('a', 'bigint'), c('b')],
      changed: true,
    });
    expect(mergeGlueColumns([c('a', 'BIGINT')], [c('a', 'bigint')]).changed).toBe(false);
  });
});
