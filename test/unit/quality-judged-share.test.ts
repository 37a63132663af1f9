/**
 * Which loads a failed-user share is judged for, and under which schedule a run's judgement is
 * written: the rules status and the deployed commit share (quality.ts, load-metrics.ts).
 */
import { describe, expect, it } from 'vitest';
import { formatQuality, QUALITY_OPTION_DEFAULTS, qualityReport } from '#cli/quality-report.ts';
import { failOnSignalsMessage } from '#cli/status-command.ts';
import { commitFigures, commitMetrics, DIM, METRIC } from '#core/load-metrics.ts';
import {
  judgementScheduleOf,
  type LoadFigures,
  loadSignals,
  MANUAL_SCHEDULE_SUFFIX,
  MAX_USERS_FOR_FAILED_SHARE,
  QUALITY_DEFAULTS,
  seriesFacts,
} from '#core/quality.ts';
import { dataQualitySchema } from '#core/quality-config.ts';

const load = (users: number, failed: number, extra: Partial<LoadFigures> = {}): LoadFigures => ({
  loadId: '1796000001.000000',
  startedAt: '2026-12-01T03:00:00.000Z',
  committedAt: '2026-12-01T03:20:00.000Z',
  resources: ['accounts', 'orders'],
  schedule: 'local',
  users,
  failedUserCount: failed,
  rowsByTable: { user_loads: users },
  endpointFindings: [],
  ...extra,
});

const metricsOf = (l: LoadFigures, judgementSchedule?: string) =>
  commitMetrics(
    commitFigures(
      { ...l, files: [], requests: 0, schemaChanges: [], missingBatches: [] } as never,
      loadSignals(l, [], QUALITY_DEFAULTS),
      { commitSeconds: 1, trailingLoads: 0 },
    ),
    judgementSchedule,
  );

describe('a failed-user share below minUsersForFailedShare', () => {
  it('says it was not judged and why: text "not judged: 6 users < 10", JSON failedUserShareNotJudged', () => {
    const report = qualityReport([load(6, 5)], { ...QUALITY_OPTION_DEFAULTS, last: 1 });
    const [only] = report.loads;
    expect(only!.flags).toEqual([]);
    expect(only!.failedUserShareJudged).toBe(false);
    expect(only!.failedUserShareNotJudged).toBe('6 users < 10');
    expect(formatQuality(report).join('\n')).toContain('83.33 (not judged: 6 users < 10)');
  });

  it('is judged when every user of at least 2 failed: flagged in status and written for the alarm', () => {
    for (const users of [2, 3, 9]) {
      const l = load(users, users);
      const report = qualityReport([l], { ...QUALITY_OPTION_DEFAULTS, last: 1 });
      expect(report.loads[0]!.flags).toEqual([{ kind: 'failed_user_share', percent: 100 }]);
      expect(report.loads[0]!.failedUserShareJudged).toBe(true);
      expect(report.loads[0]!.failedUserShareNotJudged).toBeUndefined();
      const share = metricsOf(l)
        .flatMap((g) => g.points)
        .find((p) => p.name === METRIC.failedUserShare);
      expect(share?.value).toBe(100);
    }
    // One user failed of one: a load of one says little, still not judged.
    expect(qualityReport([load(1, 1)], { ...QUALITY_OPTION_DEFAULTS, last: 1 }).loads[0]!.flags).toEqual([]);
    // All but one failed: not every user, not judged under 10.
    expect(qualityReport([load(6, 5)], { ...QUALITY_OPTION_DEFAULTS, last: 1 }).loads[0]!.flags).toEqual([]);
  });

  it("is bounded in the stack's dataQuality: 100,000 users at most, with the range named", () => {
    expect(
      dataQualitySchema.parse({ minUsersForFailedShare: MAX_USERS_FOR_FAILED_SHARE }).minUsersForFailedShare,
    ).toBe(100_000);
    const refused = dataQualitySchema.safeParse({ minUsersForFailedShare: 1_000_000 });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.message).toBe('must be a whole number from 1 to 100,000');
  });
});

describe("a run's judgement metrics", () => {
  const full = { schedule: 'daily', usersSelection: 'all' as const, tables: ['accounts', 'orders'] };

  it("are its schedule's when the run covers the schedule's series: all users or the same, at least its tables", () => {
    expect(judgementScheduleOf(full, full)).toBeUndefined();
    expect(judgementScheduleOf({ ...full, tables: ['accounts', 'orders', 'tasks'] }, full)).toBeUndefined();
    const changed = { ...full, schedule: 'hourly', usersSelection: 'changed' as const };
    expect(judgementScheduleOf(changed, changed)).toBeUndefined();
    expect(judgementScheduleOf({ ...changed, usersSelection: 'all' }, changed)).toBeUndefined();
  });

  it('go under <schedule>:manual for a subset of its tables or users', () => {
    expect(judgementScheduleOf({ ...full, tables: ['accounts'] }, full)).toBe(
      `daily${MANUAL_SCHEDULE_SUFFIX}`,
    );
    expect(judgementScheduleOf({ ...full, usersSelection: 'changed' }, full)).toBe('daily:manual');
    const facts = seriesFacts(load(20, 20, { schedule: 'daily', resources: ['accounts'] }));
    expect(judgementScheduleOf(facts, full)).toBe('daily:manual');
  });

  it('move FailedUserShare, EndpointUnavailable, TrailingLoadsUnreadable, RunSeconds and the ratios, not the counts', () => {
    const l = load(20, 20, { rowsByTable: { user_loads: 20, accounts: 0 } });
    const groups = metricsOf(l, 'daily:manual');
    const under = (name: string) =>
      groups.filter((g) => g.points.some((p) => p.name === name)).map((g) => g.dimensions[DIM.schedule]);
    for (const name of [
      METRIC.failedUserShare,
      METRIC.endpointUnavailable,
      METRIC.trailingLoadsUnreadable,
      METRIC.runSeconds,
    ])
      expect(under(name), name).toEqual(['daily:manual']);
    for (const name of [METRIC.loadUsers, METRIC.loadRows, METRIC.commitSeconds])
      expect(under(name), name).toEqual([undefined]);
    // Without a judgement schedule, one record as before.
    expect(metricsOf(l).filter((g) => g.points.some((p) => p.name === METRIC.failedUserShare))).toHaveLength(
      1,
    );
    expect(metricsOf(l)[0]!.dimensions).toEqual({});
  });
});

describe('the series of a subset load in status', () => {
  it('names its tables, so a full series and an accounts-only one never read the same', () => {
    const fullLoad = load(40, 20, { loadId: '1796000001.000000' });
    const subsetLoad = load(40, 0, {
      loadId: '1796000002.000000',
      startedAt: '2026-12-02T03:00:00.000Z',
      committedAt: '2026-12-02T03:20:00.000Z',
      resources: ['accounts'],
    });
    const report = qualityReport([fullLoad, subsetLoad], { ...QUALITY_OPTION_DEFAULTS, last: 2 });
    expect(report.verdicts).toHaveLength(2);
    const text = formatQuality(report).join('\n');
    expect(text).toContain(`  local, all users  ${fullLoad.loadId}  failed users 50%`);
    expect(text).toContain(`  local, all users, tables accounts  ${subsetLoad.loadId}  no flag`);
    // The stderr line of --fail-on-signals says the same.
    expect(
      failOnSignalsMessage(
        report.verdicts.filter((v) => v.flagged),
        report.verdicts,
      ),
    ).toContain(`local, all users (load ${fullLoad.loadId}: failed_user_share)`);
    const subsetOnly = report.verdicts.filter((v) => v.loadId === subsetLoad.loadId);
    expect(failOnSignalsMessage(subsetOnly, report.verdicts)).toContain(
      'local, all users, tables accounts (load',
    );
  });
});
