/** The line that says whom a changed load takes names retried users apart from the events' users. */
import { describe, expect, it } from 'vitest';
import { changedUsersWords } from '#cli/load-command.ts';

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
});
