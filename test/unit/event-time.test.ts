/**
 * Event times are Atomic's clock and Atomic's text: the registry keeps a user's latest event time
 * compared as instants, and a time that is not an ISO-8601 timestamp (`yesterday`) never wins.
 * (Which events a load takes never depends on event time: receipt partitions and key sets do.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { laterEventTime, learnUsers, registeredUsers } from '#core/user-registry.ts';

describe('the registry and event times that are not timestamps', () => {
  it('keeps the latest ISO event time of a user; a relative or odd one never replaces it, and is replaced by any', () => {
    expect(laterEventTime('2026-12-01T08:00:00.000Z', 'yesterday')).toBe('2026-12-01T08:00:00.000Z');
    expect(laterEventTime('yesterday', '2026-11-01T08:00:00.000Z')).toBe('2026-11-01T08:00:00.000Z');
    expect(laterEventTime('2026-12-01T08:00:00.000Z', '2026-11-30T08:00:00.000Z')).toBe(
      '2026-12-01T08:00:00.000Z',
    );
    // Instants, not text: the same instant in another offset is not later.
    expect(laterEventTime('2026-12-01T08:00:00.000Z', '2026-12-01T09:00:00+01:00')).toBe(
      '2026-12-01T08:00:00.000Z',
    );
    expect(laterEventTime('2026-12-01T08:00:00.000Z', '2026-12-01T09:00:01+01:00')).toBe(
      '2026-12-01T09:00:01+01:00',
    );
    expect(laterEventTime('yesterday', 'soon')).toBe('yesterday');
  });
});

describe('the registry learning users whose event times are not usable', () => {
  it('records when it learned a user whose first time is no timestamp or far in the future, and takes the next usable one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'event-time-'));
    try {
      const store = createLocalStore(dir);
      const at = new Date('2026-12-01T10:00:00.000Z');
      const odd = [
        'yesterday',
        '2026-13-45T00:00:00Z',
        '+099999-01-01T00:00:00Z',
        '2026-12-03T10:00:00.000Z',
      ];
      await learnUsers(
        store,
        odd.map((eventTime, i) => ({ identifier: `user-${i}`, taskId: null, eventTime })),
        at,
      );
      const first = await registeredUsers(store);
      for (let i = 0; i < odd.length; i++)
        expect(first.get(`user-${i}`)?.lastEventTime).toBe(at.toISOString());
      // A usable first time is the event's own, earlier than the fold, in its offset as sent.
      await learnUsers(
        store,
        [{ identifier: 'user-9', taskId: null, eventTime: '2026-12-01T10:00:00+05:00' }],
        at,
      );
      expect((await registeredUsers(store)).get('user-9')?.lastEventTime).toBe('2026-12-01T10:00:00+05:00');
      // Within a day ahead of the fold is Atomic's clock, kept; a usable later time replaces the fold time.
      const later = new Date('2026-12-02T10:00:00.000Z');
      await learnUsers(
        store,
        [
          { identifier: 'user-0', taskId: null, eventTime: '2026-12-02T11:00:00+01:00' },
          { identifier: 'user-2', taskId: null, eventTime: '2026-12-03T09:00:00.000Z' },
          { identifier: 'user-3', taskId: null, eventTime: '+099999-01-01T00:00:00Z' },
        ],
        later,
      );
      const second = await registeredUsers(store);
      expect(second.get('user-0')?.lastEventTime).toBe('2026-12-02T11:00:00+01:00');
      expect(second.get('user-2')?.lastEventTime).toBe('2026-12-03T09:00:00.000Z');
      expect(second.get('user-3')?.lastEventTime).toBe(at.toISOString());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lets a usable time replace one stored before that was far in the future', () => {
    const at = new Date('2026-12-01T10:00:00.000Z');
    expect(laterEventTime('+099999-01-01T00:00:00Z', '2026-12-01T09:00:00.000Z', at)).toBe(
      '2026-12-01T09:00:00.000Z',
    );
  });
});
