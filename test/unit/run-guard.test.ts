import { describe, expect, it } from 'vitest';
import {
  assertSoleRun,
  needsRedriveGuard,
  RunGuardInconclusiveError,
  RunInProgressError,
} from '#core/run-guard.ts';

const SELF = 'arn:aws:states:eu-west-1:1:execution:Stack-daily:slot-1';
const LATER = 'arn:aws:states:eu-west-1:1:execution:Stack-daily:slot-2';
const run = (redriveCount: number) => ({ execution: SELF, stateMachine: 'arn:sm', redriveCount });

describe('redrive guard', () => {
  it('checks only a redriven run: by its own count, or its Map child execution’s', () => {
    expect(needsRedriveGuard(undefined, 3)).toBe(false);
    expect(needsRedriveGuard(run(0))).toBe(false);
    expect(needsRedriveGuard(run(1))).toBe(true);
    expect(needsRedriveGuard(run(0), 1)).toBe(true);
  });

  it('lets the redriven run through when it is the only one running', () => {
    expect(() => assertSoleRun(SELF, [SELF])).not.toThrow();
  });

  it('refuses, not retryable, while another run of the schedule is going, naming it', () => {
    const refused = (() => {
      try {
        assertSoleRun(SELF, [LATER, SELF]);
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(RunInProgressError);
    expect((refused as RunInProgressError).retryable).toBe(false);
    expect((refused as Error).name).toBe('RunInProgressError');
    expect((refused as Error).message).toContain(LATER);
  });

  it('asks for a retry when the listing does not show the run yet (eventual consistency)', () => {
    expect(() => assertSoleRun(SELF, [LATER])).toThrowError(RunGuardInconclusiveError);
    expect(new RunGuardInconclusiveError(SELF).retryable).toBe(true);
  });
});
