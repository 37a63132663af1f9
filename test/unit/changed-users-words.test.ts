/** The line that says whom a changed load takes names retried users apart from the events' users. */
import { describe, expect, it } from 'vitest';
import { changedUsersWords } from '#cli/load-command.ts';
import { deferredWords } from '#cli/summary.ts';

describe('changedUsersWords', () => {
  it('counts only the users of the new events as theirs, and the retried users apart', () => {
    expect(changedUsersWords(40, 21, 0)).toBe('the 40 users of 21 new webhook event(s)');
    expect(changedUsersWords(40, 21, 19)).toBe(
      'the 21 users of 21 new webhook event(s) and 19 user(s) retried once (the last changed load failed them, or switched a resource off for them)',
    );
    expect(changedUsersWords(5, 0, 5)).toBe(
      '5 user(s) retried once (the last changed load failed them, or switched a resource off for them)',
    );
  });

  it('counts the events an earlier load committed apart from the new ones, and their users as users', () => {
    expect(changedUsersWords(3, 4, 0, { events: 2, users: 1 })).toBe(
      'the 3 users of 2 new webhook event(s) and 2 webhook event(s) an earlier load had committed already (1 of these 3 users has no new event, only events an earlier load committed)',
    );
    expect(changedUsersWords(2, 2, 0, { events: 2, users: 2 })).toBe(
      'the 2 users of 2 webhook event(s) an earlier load had committed already',
    );
    expect(changedUsersWords(4, 3, 1, { events: 0, users: 0 })).toBe(
      'the 3 users of 3 new webhook event(s) and 1 user(s) retried once (the last changed load failed them, or switched a resource off for them)',
    );
    // A report written before the events were counted apart: no events called new.
    expect(changedUsersWords(3, 3, 0, { users: 2 })).toBe(
      'the 3 users of 3 webhook event(s) its schedule had not seen (2 of these 3 users have no new event, only events an earlier load committed)',
    );
  });
});

describe('deferredWords', () => {
  it('counts the events an earlier load committed apart from the new ones', () => {
    expect(deferredWords({ users: 2, events: 3 })).toBe('2 user(s) with 3 new webhook event(s)');
    expect(deferredWords({ users: 2, events: 3, committedEarlier: 0 }, true)).toBe(
      '2 more user(s) with 3 new webhook event(s)',
    );
    expect(deferredWords({ users: 5, events: 7, committedEarlier: 4 })).toBe(
      '5 user(s) with 3 new webhook event(s) and 4 webhook event(s) an earlier load had committed already',
    );
  });
});
