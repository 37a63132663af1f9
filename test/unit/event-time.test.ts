/**
 * Event times are Atomic's clock and Atomic's text: the registry keeps a user's latest event time
 * compared as instants, and a time that is not an ISO-8601 timestamp (`yesterday`) never wins.
 * (Which events a load takes never depends on event time: receipt partitions and key sets do.)
 */
import { describe, expect, it } from 'vitest';
import { laterEventTime } from '#core/user-registry.ts';

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
