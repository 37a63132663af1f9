import { describe, expect, it } from 'vitest';
import {
  LOCAL_RESOURCES_SCHEDULE_PREFIX,
  LOCAL_SCHEDULE,
  localChangedSchedule,
  scheduleSchema,
} from '#core/schedule-config.ts';

const DEFAULTS = ['accounts', 'action_history', 'orders', 'tasks'];

describe('localChangedSchedule', () => {
  it('is local for the command own set, in any order or repetition, and without --resources', () => {
    expect(localChangedSchedule(undefined, DEFAULTS)).toBe(LOCAL_SCHEDULE);
    expect(localChangedSchedule(['tasks', 'orders', 'accounts', 'action_history', 'orders'], DEFAULTS)).toBe(
      LOCAL_SCHEDULE,
    );
  });

  it('names every other set by its sorted tables alone: subsets, supersets, the set less tasks', () => {
    const accounts = localChangedSchedule(['accounts'], DEFAULTS);
    expect(accounts).toMatch(new RegExp(`^${LOCAL_RESOURCES_SCHEDULE_PREFIX}[0-9a-f]{8}$`));
    expect(localChangedSchedule(['accounts', 'accounts'], DEFAULTS)).toBe(accounts);
    const withoutTasks = localChangedSchedule(['orders', 'accounts', 'action_history'], DEFAULTS);
    const more = localChangedSchedule([...DEFAULTS, 'account'], DEFAULTS);
    expect(new Set([accounts, withoutTasks, more, LOCAL_SCHEDULE]).size).toBe(4);
    // A function of the set, not of the defaults it is compared with.
    expect(localChangedSchedule(['accounts'], ['orders'])).toBe(accounts);
  });

  it('is refused as a deployed schedule name', () => {
    const result = scheduleSchema.safeParse({
      name: `${LOCAL_RESOURCES_SCHEDULE_PREFIX}0a1b2c3d`,
      expression: 'rate(1 day)',
      users: 'changed',
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain(
      `must not start with '${LOCAL_RESOURCES_SCHEDULE_PREFIX}'`,
    );
  });
});
