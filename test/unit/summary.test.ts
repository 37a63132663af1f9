import { describe, expect, it } from 'vitest';
import { describeChanges, formatSummary, type LoadSummary, renderTable, summarize } from '#cli/summary.ts';
import type { LoadMarker } from '#core/commit.ts';

const base: LoadSummary = {
  loadId: 'L1',
  dest: './lake',
  dt: '2026-11-30',
  users: 2,
  failedUserCount: 0,
  failedUsers: [],
  requests: 4,
  retries: 0,
  seconds: 1.2,
  tables: [{ table: 'accounts', rows: 2, files: 1, bytes: 2048 }],
  schemaVersion: 2,
  schemaChanges: [],
  nonFiniteValues: 0,
  endpointFindings: [],
  taskIdProblemEvents: 0,
  exitCode: 0,
};

describe('the load summary', () => {
  it("gives a resumed load's requests and retries over the same run, and the load's total requests apart", () => {
    expect(formatSummary({ ...base, requests: 40, retries: 3 })).toContain(
      '2 users · 40 requests · 3 retries',
    );
    const resumed = formatSummary({
      ...base,
      requests: 16237,
      requestsThisRun: 12,
      retries: 2,
      retriesThisRun: 2,
    });
    expect(resumed).toContain(
      "2 users · this run: 12 requests · 2 retries (the load's attempts together: 16237 requests)",
    );
    expect(resumed).not.toContain('by this run');
    const marker = {
      loadId: 'L1',
      dt: '2026-11-30',
      users: 2,
      failedUserCount: 0,
      failedUsers: [],
      requests: 16237,
      files: [],
      schemaVersion: 2,
      schemaChanges: [],
      endpointFindings: [],
    } as unknown as LoadMarker;
    const json = summarize(marker, {
      dest: './lake',
      retries: 2,
      seconds: 1,
      exitCode: 0,
      requestsThisRun: 12,
    });
    expect(json).toMatchObject({ requests: 16237, requestsThisRun: 12, retries: 2, retriesThisRun: 2 });
    const withConcurrency = summarize(marker, {
      dest: './lake',
      retries: 0,
      seconds: 1,
      exitCode: 0,
      userConcurrency: { mode: 'adaptive', users: 37, latencyMs: 120 },
    });
    expect(withConcurrency.userConcurrency).toEqual({ mode: 'adaptive', users: 37, latencyMs: 120 });
    expect(summarize(marker, { dest: './lake', retries: 2, seconds: 1, exitCode: 0 })).not.toHaveProperty(
      'retriesThisRun',
    );
  });

  it('names each shape change with its table, field and column', () => {
    const lines = describeChanges([
      { kind: 'shape_change', table: 'accounts', column: 'tags', field: 'tags', was: 'list', now: 'scalar' },
      {
        kind: 'shape_change',
        table: 'accounts',
        column: 'company',
        field: 'company',
        was: 'object',
        now: 'scalar',
      },
    ]);
    expect(lines).toEqual([
      '  ! table accounts: field tags was a list, now a scalar (tags); both kept',
      '  ! table accounts: field company was an object, now a scalar (company); both kept',
    ]);
  });

  it('counts NaN / Infinity values loaded as null, and says nothing when there are none', () => {
    expect(formatSummary({ ...base, nonFiniteValues: 3 })).toContain(
      "3 NaN/Infinity value(s) loaded as null; each token is kept in its column's __v_text variant",
    );
    expect(formatSummary(base)).not.toContain('NaN');
  });

  it('names the webhook event objects a load set aside, in the table and in --json', () => {
    const key = `_events/dt=2026-11-30/${'a'.repeat(64)}.json`;
    const marker = {
      formatVersion: 1,
      loadId: 'L1',
      dt: '2026-11-30',
      startedAt: '2026-11-30T10:00:00.000Z',
      committedAt: '2026-11-30T10:01:00.000Z',
      resources: ['accounts'],
      users: 2,
      failedUserCount: 0,
      failedUsers: [],
      missingBatches: [],
      requests: 4,
      rowsByTable: {},
      files: [],
      schemaVersion: 2,
      schemaChanges: [],
      nonFiniteValues: 0,
      endpointFindings: [],
      events: {
        claimedAt: '2026-11-30T10:00:30.000Z',
        count: 0,
        unreadable: [{ key, problem: `lake ${key}: not valid JSON (was it edited by hand?)` }],
      },
    } satisfies LoadMarker;
    const summary = summarize(marker, { dest: './lake', retries: 0, seconds: 1, exitCode: 0 });
    expect(JSON.parse(JSON.stringify(summary)).unreadableEvents).toEqual(marker.events.unreadable);
    expect(formatSummary(summary)).toContain(`Webhook events set aside (1;`);
    expect(formatSummary(summary)).toContain(`lake ${key}: not valid JSON`);
    expect(formatSummary(base)).not.toContain('set aside');
  });
});

describe('renderTable', () => {
  it('keeps a numbers column right-aligned when a row has no value (-)', () => {
    const text = renderTable(
      ['table', 'trailing_median', 'ratio'],
      [
        ['accounts', '120', '0.98'],
        ['orders', '-', '-'],
        ['bills', '7', '1'],
      ],
    );
    expect(text.split('\n')).toEqual([
      'table     trailing_median  ratio',
      '--------  ---------------  -----',
      'accounts              120   0.98',
      'orders                  -      -',
      'bills                   7      1',
    ]);
  });
});
