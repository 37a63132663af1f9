/**
 * `status --json` tells "judged and not quiet" from "not judged": every table of a load's
 * quiet-feed section has `judged`, and when false a `notJudgedReason` (a stable code and the
 * numbers that decided it); the text says "not judged (...)" in the flag column. And a resource
 * disabled by an endpoint finding is listed as disabled on the first load too, where no earlier
 * load ever wrote a row of it (it was in no report, so the rows per table left it out).
 */
import { describe, expect, it } from 'vitest';
import { formatQuality, QUALITY_OPTION_DEFAULTS, qualityReport } from '#cli/quality-report.ts';
import type { LoadFigures } from '#core/quality.ts';
import { decemberLoadFigures } from '#test/helpers/load-figures.ts';

const load = decemberLoadFigures;

const ordersMissing = {
  endpointFindings: [{ resource: 'orders' }],
} satisfies Partial<LoadFigures>;

/** The table rows of the text's last section: `table -> flag column`. */
function flagColumn(lines: readonly string[]): Map<string, string> {
  const text = lines.join('\n');
  const section = text.slice(text.indexOf('Rows per table in'));
  const out = new Map<string, string>();
  for (const line of section.split('\n').slice(4)) {
    const cells = line.split(/\s{2,}/);
    if (cells.length >= 5) out.set(cells[0]!, cells.slice(4).join('  '));
  }
  return out;
}

describe('judged, or not and why (status --json quality.loads[].tables[])', () => {
  it('too few earlier loads: judged false, too_few_loads with the counts', () => {
    const report = qualityReport([load(1, { accounts: 100 }), load(2, { accounts: 100 })], {
      ...QUALITY_OPTION_DEFAULTS,
      last: 2,
    });
    const [first, second] = report.loads;
    expect(first!.tables).toEqual([
      {
        table: 'accounts',
        rows: 100,
        trailingMedian: null,
        trailingLoads: 0,
        ratio: null,
        quiet: false,
        judged: false,
        notJudgedReason: { code: 'too_few_loads', trailingLoads: 0, minTrailingLoads: 2 },
      },
    ]);
    expect(second!.tables[0]).toMatchObject({
      judged: false,
      notJudgedReason: { code: 'too_few_loads', trailingLoads: 1, minTrailingLoads: 2 },
    });
    expect(flagColumn(formatQuality(report)).get('accounts')).toBe(
      'not judged (1 earlier load, fewer than 2)',
    );
  });

  it('a trailing median under minExpectedRows: median_below_min_rows with both numbers', () => {
    const loads = [1, 2, 3].map((day) => load(day, { accounts: 100, orders: 5 }));
    const report = qualityReport(loads, { ...QUALITY_OPTION_DEFAULTS, last: 1 });
    const tables = new Map(report.loads[0]!.tables.map((t) => [t.table, t]));
    expect(tables.get('orders')).toEqual({
      table: 'orders',
      rows: 5,
      trailingMedian: 5,
      trailingLoads: 2,
      ratio: null,
      quiet: false,
      judged: false,
      notJudgedReason: { code: 'median_below_min_rows', trailingMedian: 5, minExpectedRows: 20 },
    });
    // Judged and not quiet: judged true, no reason.
    expect(tables.get('accounts')).toMatchObject({ judged: true, quiet: false, ratio: 1 });
    expect(tables.get('accounts')).not.toHaveProperty('notJudgedReason');
    const flags = flagColumn(formatQuality(report));
    expect(flags.get('orders')).toBe('not judged (5 rows expected, fewer than 20)');
    expect(flags.get('accounts')).toBe('-');
  });

  it('a quiet table is judged; a load whose every user failed is not (no_loaded_users)', () => {
    const loads = [
      load(1, { orders: 50 }),
      load(2, { orders: 50 }),
      load(3, { orders: 0 }),
      load(4, {}, { users: 12, failedUserCount: 12 }),
    ];
    const report = qualityReport(loads, { ...QUALITY_OPTION_DEFAULTS, last: 2 });
    const [quiet, failed] = report.loads;
    expect(quiet!.tables.find((t) => t.table === 'orders')).toMatchObject({ quiet: true, judged: true });
    expect(failed!.tables.find((t) => t.table === 'orders')).toMatchObject({
      judged: false,
      notJudgedReason: { code: 'no_loaded_users' },
    });
    expect(flagColumn(formatQuality(report)).get('orders')).toBe('not judged (no loaded user)');
  });
});

describe('a resource disabled by an endpoint finding, on the first load of its series', () => {
  it('is listed disabled (endpoint_unavailable) though no load ever wrote a row of it', () => {
    const report = qualityReport([load(1, { accounts: 100 }, ordersMissing)], QUALITY_OPTION_DEFAULTS);
    const [first] = report.loads;
    expect(first!.flags).toContainEqual({ kind: 'endpoint_unavailable', resource: 'orders' });
    expect(first!.tables.find((t) => t.table === 'orders')).toEqual({
      table: 'orders',
      rows: 0,
      trailingMedian: null,
      trailingLoads: 0,
      ratio: null,
      quiet: false,
      disabled: true,
      judged: false,
      notJudgedReason: { code: 'endpoint_unavailable' },
    });
    expect(flagColumn(formatQuality(report)).get('orders')).toBe('disabled (endpoint unavailable)');
  });

  it('is listed the same on the first load as on a later one of the same outage', () => {
    const report = qualityReport(
      [1, 2, 3].map((day) => load(day, { accounts: 100 }, ordersMissing)),
      { ...QUALITY_OPTION_DEFAULTS, last: 3 },
    );
    for (const l of report.loads)
      expect(
        l.tables.filter((t) => t.disabled === true).map((t) => t.table),
        l.loadId,
      ).toEqual(['orders']);
  });
});
