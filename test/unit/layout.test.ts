import { describe, expect, it } from 'vitest';
import {
  assertLoadId,
  loadDate,
  loadIdFromTime,
  parsePartKey,
  partKey,
  stagedPartKey,
} from '#core/layout.ts';

describe('lake layout', () => {
  it('builds hive-partitioned, sortable data keys and parses them back', () => {
    const key = partKey({
      table: 'accounts__bills',
      dt: '2026-11-25',
      loadId: '1764028800.000000',
      batch: 3,
      part: 12,
    });
    expect(key).toBe('accounts__bills/dt=2026-11-25/1764028800.000000.00003.0012.parquet');
    expect(parsePartKey(key)).toEqual({
      table: 'accounts__bills',
      dt: '2026-11-25',
      loadId: '1764028800.000000',
      batch: 3,
      part: 12,
    });
  });

  it('stages a part under its batch so a retried batch clears only its own parts', () => {
    expect(stagedPartKey('orders/dt=2026-11-25/L.00001.0000.parquet', 'L', 1)).toBe(
      '_staging/L/batches/00001/parts/orders/dt=2026-11-25/L.00001.0000.parquet',
    );
  });

  it('uses dlt-style load ids and derives the partition date from them', () => {
    const at = new Date('2026-11-25T23:59:59.5Z');
    const id = loadIdFromTime(at);
    expect(id).toBe('1795651199.500000');
    // A re-run days later keeps the load's own date, so it replaces rather than duplicates.
    expect(loadDate(id, new Date('2026-12-01T00:00:00Z'))).toBe('2026-11-25');
    expect(loadDate('nightly-backfill', new Date('2026-12-01T10:00:00Z'))).toBe('2026-12-01');
  });

  it('rejects load ids that could escape a key segment', () => {
    for (const bad of ['../x', 'a/b', '', '.hidden', 'a..b', 'x'.repeat(65), 'spaces here']) {
      expect(() => assertLoadId(bad)).toThrowError(/^load-id: /);
    }
    expect(assertLoadId('2026-11-25_daily')).toBe('2026-11-25_daily');
  });
});
