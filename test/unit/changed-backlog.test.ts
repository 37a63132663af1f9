/**
 * The judgement parts of `status`'s changed backlog (cli/changed-backlog.ts): the stale_backlog
 * window (--max-event-age-hours over the stack's NoRecentSuccess window; none for a schedule with
 * no committed changed load), the last run read from the reports, and the deferral hint.
 */
import { describe, expect, it } from 'vitest';
import { backlogHint, type ChangedBacklog, judgeBacklog, lastChangedRun } from '#cli/changed-backlog.ts';

type Figures = Omit<ChangedBacklog, 'lastRun' | 'hint' | 'flag'>;

const figures = (schedule: string, ageSeconds: number | null, firstRun = false): Figures => ({
  schedule,
  firstRun,
  events: ageSeconds === null ? 0 : 3,
  oldestPartition: ageSeconds === null ? null : '2026-11-30',
  eventsRead: ageSeconds === null ? 0 : 3,
  complete: true,
  unreadableEvents: 0,
  unreadableSetAside: 0,
  users: ageSeconds === null ? 0 : 2,
  retryUsers: 0,
  pendingUsers: ageSeconds === null ? [] : ['a', 'b'],
  oldestReceivedAt: ageSeconds === null ? null : '2026-11-30T10:00:00.000Z',
  oldestAgeSeconds: ageSeconds,
});

describe('stale_backlog', () => {
  it("judges by --max-event-age-hours, else the stack's window of that schedule", () => {
    const stack = { hourly: 7200 };
    expect(judgeBacklog(figures('hourly', 7201), undefined, stack)).toMatchObject({
      kind: 'stale_backlog',
      schedule: 'hourly',
      ageSeconds: 7201,
      windowSeconds: 7200,
      windowFrom: "the stack's NoRecentSuccess window",
    });
    expect(judgeBacklog(figures('hourly', 7200), undefined, stack)).toBeNull();
    // The flag's window wins over the stack's, for every schedule.
    expect(judgeBacklog(figures('hourly', 7201), 10_000, stack)).toBeNull();
    expect(judgeBacklog(figures('local', 3601), 3600, stack)).toMatchObject({
      windowSeconds: 3600,
      windowFrom: '--max-event-age-hours',
    });
    // No window: not judged. No backlog, or no committed changed load yet: not flagged.
    expect(judgeBacklog(figures('local', 1e9), undefined, stack)).toBeNull();
    expect(judgeBacklog(figures('hourly', null), undefined, stack)).toBeNull();
    expect(judgeBacklog(figures('hourly', 1e9, true), 60, stack)).toBeNull();
    // A schedule named like an Object property is no window.
    expect(judgeBacklog(figures('constructor', 1e9), undefined, {})).toBeNull();
  });
});

describe('the last changed run and its hint', () => {
  const markers = [
    {
      loadId: 'a',
      committedAt: '2026-11-30T10:00:00Z',
      changed: { schedule: 'hourly', users: [{ identifier: 'x' }] },
    },
    {
      loadId: 'b',
      committedAt: '2026-11-30T11:00:00Z',
      changed: {
        schedule: 'hourly',
        users: [{ identifier: 'y' }, { identifier: 'z' }],
        maxUsers: 2,
        deferred: { users: 5, events: 7 },
      },
    },
    { loadId: 'c', committedAt: '2026-11-30T12:00:00Z' },
    { loadId: 'd', committedAt: '2026-11-30T09:00:00Z', changed: { schedule: 'hourly', users: [] } },
    { loadId: 'e', committedAt: '2026-11-30T13:00:00Z', changed: { schedule: 'local', users: [] } },
  ];
  it("is the schedule's newest committed changed load (by start, here absent: by commit time)", () => {
    expect(lastChangedRun('hourly', markers)).toEqual({
      loadId: 'b',
      committedAt: '2026-11-30T11:00:00Z',
      users: 2,
      maxUsers: 2,
      deferred: { users: 5, events: 7 },
    });
    expect(lastChangedRun('daily', markers)).toBeNull();
  });
  it('orders by selection: a re-run of an older load, committed last, is not the last run', () => {
    const runs = [
      {
        loadId: 'old',
        startedAt: '2026-11-30T14:00:00.000Z',
        committedAt: '2026-11-30T14:01:00.000Z',
        changed: {
          schedule: 'hourly',
          users: [{ identifier: 'x' }],
          selectedAt: '2026-11-30T10:00:00.000Z',
          rerun: true as const,
        },
      },
      {
        loadId: 'newer',
        startedAt: '2026-11-30T11:00:00.000Z',
        committedAt: '2026-11-30T11:02:00.000Z',
        changed: {
          schedule: 'hourly',
          users: [{ identifier: 'y' }],
          selectedAt: '2026-11-30T11:00:00.000Z',
          maxUsers: 1,
          deferred: { users: 4, events: 4 },
        },
      },
      // A report written before `selectedAt` was kept: its start orders it.
      {
        loadId: 'legacy',
        startedAt: '2026-11-30T10:30:00.000Z',
        committedAt: '2026-11-30T15:00:00.000Z',
        changed: { schedule: 'hourly', users: [] },
      },
    ];
    expect(lastChangedRun('hourly', runs)).toMatchObject({ loadId: 'newer', deferred: { users: 4 } });
    // Equal times: the load id decides, as for every order of loads.
    const tie = runs.map((m) => ({
      ...m,
      changed: { ...m.changed, selectedAt: '2026-11-30T12:00:00.000Z' },
    }));
    expect(lastChangedRun('hourly', tie)?.loadId).toBe('old');
  });
  it('hints only when the last run deferred users: the cap to raise, or run again', () => {
    expect(backlogHint('hourly', lastChangedRun('hourly', markers))).toBe(
      'hourly: its last run (b) at its cap of 2 left 5 users with 7 events for the next: the next run takes them first; if runs keep deferring, events arrive faster than it loads them: raise its maxUsersPerRun if set below what a run can afford, else requestRate (PayLink permitting) or lengthen its period (docs/deploy.md section 11)',
    );
    expect(backlogHint('local', lastChangedRun('local', markers))).toBeNull();
    expect(backlogHint('local', null)).toBeNull();
  });
});
