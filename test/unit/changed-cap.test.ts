/**
 * A capped `changed` run (changed-users.ts `capChangedUsers`): it takes the users whose oldest
 * pending event is oldest (received time, then event key: the order events are read and
 * claimed), users to retry first, whatever order the events were listed in; the rest wait. The
 * read window (event-log.ts `withTaken`) keeps the partitions of the events left open. And the
 * cap a run can afford (capacity.ts `changedRunCap`) fits its deadline at the safety fraction.
 */
import { describe, expect, it } from 'vitest';
import {
  CHANGED_RUN_SAFETY,
  changedRunCap,
  DEFAULT_REQUESTS_PER_USER,
  planCapacity,
  STACK_DEFAULTS,
} from '#core/capacity.ts';
import { capChangedUsers } from '#core/changed-users.ts';
import { addDays, EVENT_LOG, type LoadedEvent, NOTHING_TAKEN, withTaken } from '#core/event-log.ts';

const key = (n: number) => n.toString(16).padStart(64, '0');

function event(identifier: string, receivedAt: string, n: number): LoadedEvent {
  return {
    dt: receivedAt.slice(0, 10),
    key: key(n),
    receivedAt,
    eventType: 'pay-link-accounts-updated',
    eventTime: receivedAt,
    eventTimeDefaulted: false,
    eventTimeRaw: null,
    identifier,
    userId: null,
    taskId: null,
    status: null,
    taskIdProblem: null,
    failReason: null,
    ceId: null,
    data: {},
  };
}

/** Deterministic shuffle (a fixed LCG): the listing order must not matter. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('capChangedUsers', () => {
  // carol's first event is oldest, then alice (two events; her oldest counts), then bob, dave.
  const events = [
    event('alice', '2026-12-01T09:00:00.000Z', 1),
    event('bob', '2026-12-01T09:30:00.000Z', 2),
    event('carol', '2026-12-01T08:00:00.000Z', 3),
    event('alice', '2026-12-01T10:00:00.000Z', 4),
    event('dave', '2026-12-01T11:00:00.000Z', 5),
  ];

  it('takes the users whose oldest pending event is oldest, and defers the rest in that order', () => {
    expect(capChangedUsers(events, [], 2)).toEqual({ taken: ['alice', 'carol'], deferred: ['bob', 'dave'] });
    expect(capChangedUsers(events, [], 3)).toEqual({ taken: ['alice', 'bob', 'carol'], deferred: ['dave'] });
  });

  it('is the same whatever order the events were listed in', () => {
    for (const seed of [1, 2, 3, 4, 5])
      expect(capChangedUsers(shuffled(events, seed), [], 2)).toEqual(capChangedUsers(events, [], 2));
  });

  it('orders events received at the same moment by their key, as the claims do', () => {
    const tie = [event('zed', '2026-12-01T09:00:00.000Z', 2), event('amy', '2026-12-01T09:00:00.000Z', 7)];
    expect(capChangedUsers(tie, [], 1)).toEqual({ taken: ['zed'], deferred: ['amy'] });
  });

  it('puts the users to retry first (their change came before the last commit)', () => {
    expect(capChangedUsers(events, ['erin', 'bob'], 2)).toEqual({
      taken: ['carol', 'erin'],
      deferred: ['alice', 'bob', 'dave'],
    });
  });

  it('takes everybody without a cap, and never a user no load could load', () => {
    expect(capChangedUsers(events, [], undefined)).toEqual({
      taken: ['alice', 'bob', 'carol', 'dave'],
      deferred: [],
    });
    const odd = [...events, event(' ', '2026-12-01T07:00:00.000Z', 9)];
    expect(capChangedUsers(odd, [], 1, (u) => u.trim() !== '')).toEqual({
      taken: ['carol'],
      deferred: ['alice', 'bob', 'dave'],
    });
  });
});

describe('the read window of a capped run', () => {
  it('keeps open the partition of an event left for the next run, even when older than the window', () => {
    const today = '2026-12-01';
    const old = addDays(today, -(EVENT_LOG.keepDays + 5));
    const taken = withTaken(NOTHING_TAKEN, [{ dt: today, key: key(1) }], today, [], { keepOpenFrom: old });
    expect(taken.from).toBe(old);
    // Without one left, the window closes as before.
    expect(withTaken(NOTHING_TAKEN, [{ dt: today, key: key(1) }], today).from).toBe(
      addDays(today, -EVENT_LOG.keepDays),
    );
    // A re-run's final claim closes nothing, left events or not.
    const final = withTaken(taken, [], today, [], { close: false, keepOpenFrom: addDays(old, -3) });
    expect(final.from).toBe(old);
  });
});

describe('changedRunCap', () => {
  const input = {
    requestRate: 20,
    maxConcurrency: STACK_DEFAULTS.maxConcurrency,
    maxBatchSize: 500,
    requestsPerUser: DEFAULT_REQUESTS_PER_USER,
    batchTimeoutSeconds: STACK_DEFAULTS.batchTimeoutSeconds,
    batchMarginSeconds: STACK_DEFAULTS.batchMarginSeconds,
    runDeadlineSeconds: 3240,
    guardSeconds: STACK_DEFAULTS.guardSeconds,
    commitSeconds: STACK_DEFAULTS.commitSeconds,
  };

  it('is a user count whose run fits the safety fraction of the deadline, and one more user does not', () => {
    const cap = changedRunCap(input);
    expect(planCapacity({ ...input, users: cap }).expectedSeconds).toBeLessThanOrEqual(
      input.runDeadlineSeconds * CHANGED_RUN_SAFETY,
    );
    expect(planCapacity({ ...input, users: cap + 1 }).expectedSeconds).toBeGreaterThan(
      input.runDeadlineSeconds * CHANGED_RUN_SAFETY,
    );
    // An hour at 20 request/s and 8 requests a user: thousands of users, not millions.
    expect(cap).toBeGreaterThan(1000);
    expect(cap).toBeLessThan(20 * 3240);
  });

  it('grows with the rate, shrinks with the requests per user, and is at least 1', () => {
    expect(changedRunCap({ ...input, requestRate: 40 })).toBeGreaterThan(changedRunCap(input));
    expect(changedRunCap({ ...input, requestsPerUser: 16 })).toBeLessThan(changedRunCap(input));
    expect(changedRunCap({ ...input, runDeadlineSeconds: 60 })).toBe(1);
  });
});
