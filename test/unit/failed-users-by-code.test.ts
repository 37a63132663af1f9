/**
 * The FailedUsers metric by ErrorCode counts each failed user once, under its primary code, so
 * the graph adds up to LoadFailedUsers: a user whose accounts answered 404 and whose action
 * history was therefore not fetched is one `http_404` user, not also a `parent_failed` one;
 * users failed by units the commit settled, and the users of a missing batch, are counted by
 * the commit.
 */
import { describe, expect, it } from 'vitest';
import { type BatchManifest, primaryFailureCode, settleDeferredUnits } from '#core/load-batch.ts';
import { commitFigures, commitMetrics, DIM, METRIC } from '#core/load-metrics.ts';
import type { UnitOutcome, UserResult } from '#core/load-user.ts';
import { loadSignals, QUALITY_DEFAULTS } from '#core/quality.ts';
import { failureCounter } from '#handlers/load-batch.ts';

const failed = (resource: string, errorCode: string, endpoint?: string): UnitOutcome =>
  ({
    resource,
    status: 'failed',
    errorCode,
    ...(endpoint === undefined ? {} : { endpoint: { resource: endpoint } }),
  }) as unknown as UnitOutcome;
const ok = (resource: string): UnitOutcome =>
  ({ resource, status: 'ok', errorCode: null }) as unknown as UnitOutcome;

describe('the primary failure code', () => {
  it("is the first failed unit's code, passing over parent_failed", () => {
    expect(primaryFailureCode(['http_404', 'parent_failed'])).toBe('http_404');
    expect(primaryFailureCode(['parent_failed', 'http_500'])).toBe('http_500');
    expect(primaryFailureCode(['parent_failed'])).toBe('parent_failed');
    expect(primaryFailureCode([null])).toBe('unknown');
    expect(primaryFailureCode([])).toBe('unknown');
  });
});

describe('a batch counts its failed users', () => {
  it('each once, under its primary code: the codes add up to its failed users', () => {
    const counter = failureCounter();
    const user = (identifier: string, outcomes: UnitOutcome[]) =>
      counter.onUser({ identifier, outcomes } as unknown as UserResult);
    user('a', [failed('accounts', 'http_404'), failed('action_history', 'parent_failed')]);
    user('b', [ok('accounts'), failed('orders', 'http_500')]);
    // Failed only by a resource the batch then disabled: not a failure (EndpointUnavailable).
    user('c', [failed('orders', 'http_404', 'orders')]);
    user('d', [ok('accounts')]);
    const byCode = counter.byCode({ failedUsers: ['a', 'b'], endpointFindings: [] });
    expect(byCode).toEqual({ http_404: 1, http_500: 1 });
    expect(Object.values(byCode).reduce((x, y) => x + y, 0)).toBe(2);
  });
});

describe('the commit counts the failed users no batch counted', () => {
  it('users failed by units it settled, by primary code, and the users of missing batches', () => {
    const manifest = (batch: number, failedUsers: string[], deferredUnits: unknown[]) =>
      ({ batch, failedUsers, deferredUnits, endpointEvidence: undefined }) as unknown as BatchManifest;
    const settled = settleDeferredUnits(
      [
        manifest(
          0,
          ['a'],
          [
            { identifier: 'a', outcome: failed('orders', 'http_404', 'orders') },
            { identifier: 'e', outcome: failed('orders', 'http_404', 'orders') },
            { identifier: 'e', outcome: failed('orders__items', 'parent_failed', 'orders') },
          ],
        ),
        manifest(1, [], [{ identifier: 'f', outcome: failed('suggestions', 'http_500', 'suggestions') }]),
      ],
      [],
    );
    expect(settled.lateFailed).toEqual(['e', 'f']);
    expect(settled.lateFailedByCode).toEqual({ http_404: 1, http_500: 1 });

    const load = {
      loadId: '1796000001.000000',
      startedAt: '2026-12-01T03:00:00.000Z',
      committedAt: '2026-12-01T03:10:00.000Z',
      users: 10,
      failedUserCount: 5,
      requests: 30,
      rowsByTable: {},
      files: [],
      schemaChanges: [],
      missingBatches: [3],
      failedAtCommitByCode: { ...settled.lateFailedByCode, batch_failed: 2 },
    };
    const figures = commitFigures(load, loadSignals(load, [], QUALITY_DEFAULTS), {
      commitSeconds: 1,
      trailingLoads: 0,
    });
    const byCode = commitMetrics(figures)
      .filter((g) => g.dimensions[DIM.errorCode] !== undefined)
      .map((g) => [
        g.dimensions[DIM.errorCode],
        g.points.find((p) => p.name === METRIC.failedUsersByCode)?.value,
      ]);
    expect(byCode).toEqual([
      ['batch_failed', 2],
      ['http_404', 1],
      ['http_500', 1],
    ]);
  });
});
