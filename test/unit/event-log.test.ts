/**
 * The sets of event keys a consumer has taken (event-log.ts): what is new is a set difference,
 * so an event whose write finished after a run listed its partition is taken by the next run;
 * a copy of an event stored again on another day counts once; old partitions close.
 */
import { describe, expect, it } from 'vitest';
import {
  addDays,
  EVENT_LOG,
  type EventRef,
  NOTHING_TAKEN,
  takenKeys,
  toRead,
  untaken,
  withTaken,
} from '#core/event-log.ts';

const key = (n: number) => n.toString(16).padStart(64, '0');
const ref = (dt: string, n: number): EventRef => ({ dt, key: key(n) });

describe('taken events', () => {
  it('takes an event written late into a partition already listed, at the next run', () => {
    const first = [ref('2026-12-01', 1), ref('2026-12-01', 2)];
    const taken = withTaken(NOTHING_TAKEN, first, '2026-12-01');
    // Event 3 was received before the first run listed, but its write finished after.
    const second = [...first, ref('2026-12-01', 3)];
    expect(untaken(second, takenKeys(taken))).toEqual([ref('2026-12-01', 3)]);
  });

  it('counts an event stored again on a later day once, at its first partition, and remembers the copy', () => {
    const listed = [ref('2026-12-01', 1), ref('2026-12-02', 1), ref('2026-12-02', 2)];
    expect(untaken(listed, new Set())).toEqual([ref('2026-12-01', 1), ref('2026-12-02', 2)]);
    const taken = withTaken(NOTHING_TAKEN, listed, '2026-12-02');
    expect(taken.dts['2026-12-02']).toEqual([key(1), key(2)]);
  });

  it('closes partitions older than the window: their keys go, and they are not listed again', () => {
    const from = addDays('2026-12-01', -EVENT_LOG.keepDays);
    const old = addDays(from, -2);
    const taken = withTaken(NOTHING_TAKEN, [ref(old, 1), ref(from, 2), ref('2026-12-01', 3)], '2026-12-01');
    expect(taken.from).toBe(from);
    expect(Object.keys(taken.dts)).toEqual([from, '2026-12-01']);
    // A stale listing of a closed partition adds nothing back.
    const again = withTaken(taken, [ref(old, 9)], '2026-12-01');
    expect(again.dts[old]).toBeUndefined();
    expect(again.from).toBe(from);
    // `from` never moves back.
    expect(withTaken(again, [], '2026-11-29').from).toBe(from);
  });

  it('keeps the keys of days past for the window: a replay a week later is a copy, a late object is new', () => {
    const taken = withTaken(NOTHING_TAKEN, [ref('2026-11-20', 1)], '2026-11-20');
    const later = withTaken(taken, [ref('2026-11-20', 1)], '2026-11-27');
    // The replay of event 1 stored on 2026-11-27, and event 2 landing late in 2026-11-20.
    const listed = [ref('2026-11-20', 1), ref('2026-11-20', 2), ref('2026-11-27', 1)];
    expect(later.from).toBe(addDays('2026-11-27', -EVENT_LOG.keepDays));
    expect(toRead(listed, later)).toEqual([ref('2026-11-20', 2)]);
  });

  it('keeps events set aside across their partition closing, until they are taken', () => {
    const from = addDays('2026-12-01', -EVENT_LOG.keepDays);
    const bad = ref(addDays(from, -3), 7);
    const taken = withTaken(NOTHING_TAKEN, [ref(addDays(from, -3), 1)], '2026-12-01', [bad]);
    expect(taken.from).toBe(from);
    expect(taken.aside).toEqual({ [bad.dt]: [key(7)] });
    // Read again though its partition is no longer listed; not taken.
    expect(toRead([ref('2026-12-01', 2)], taken)).toEqual([ref('2026-12-01', 2), bad]);
    // Without a new aside given, the set stays; once read (taken), it goes.
    expect(withTaken(taken, [ref('2026-12-01', 2)], '2026-12-01').aside).toEqual(taken.aside);
    const repaired = withTaken(taken, [ref('2026-12-01', 2), bad], '2026-12-01', []);
    expect(repaired.aside).toBeUndefined();
    expect(toRead([ref('2026-12-01', 2)], repaired)).toEqual([]);
  });

  it('closes nothing for a consumer that did not take all it listed (close: false)', () => {
    const taken = withTaken(NOTHING_TAKEN, [ref('2026-10-01', 1)], '2026-10-01');
    const kept = withTaken(taken, [ref('2026-12-01', 2)], '2026-12-01', [], { close: false });
    expect(kept.from).toBe(taken.from);
    expect(Object.keys(kept.dts)).toEqual(['2026-10-01', '2026-12-01']);
    // Nothing folded before: everything stays open.
    const none = withTaken(NOTHING_TAKEN, [ref('2026-12-01', 2)], '2026-12-01', [], { close: false });
    expect(none.from).toBeUndefined();
  });

  it('adds days across month and year ends', () => {
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
  });
});
