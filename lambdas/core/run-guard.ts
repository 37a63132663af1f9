/**
 * The run guard on a redrive. The state machine's first states let only the oldest running
 * execution of a schedule through (infra/constructs/load-workflow.ts), but a redrive restarts an
 * execution at the state that failed, past those states: without this check, a run redriven
 * while a later run of the same schedule is going would load and commit alongside it. So the
 * steps a redrive can restart at and that touch PayLink or the lake (each batch of the Map, the
 * commit) are told the execution and its redrive count, and when it was redriven they look at
 * the running executions themselves: the redriven run recognises itself and goes on only when it
 * is the only one running. (A new run that starts while a redriven one is running is refused by
 * the state machine's own guard: the redriven execution keeps its original, older start.)
 * Pure: the listing is the caller's.
 */
import { LoaderError } from './errors.ts';

/** The execution a step runs for, as the state machine passes it (context object `$$.Execution`). */
export interface RunRef {
  /** `$$.Execution.Id`: the execution ARN (a redrive keeps it). */
  readonly execution: string;
  /** `$$.StateMachine.Id`: the state machine whose running executions are listed. */
  readonly stateMachine: string;
  /** `$$.Execution.RedriveCount`: 0 until the execution is redriven. */
  readonly redriveCount: number;
}

/** Another run of the schedule is going: this redriven one stops (not retried; redrive it later). */
export class RunInProgressError extends LoaderError {
  override readonly name: string = 'RunInProgressError';
  constructor(execution: string, others: readonly string[]) {
    super(
      `redriven run ${execution} stopped: ${others.length} other run(s) of this schedule are running (${others.join(', ')}); redrive it again once they have finished`,
      { code: 'run_in_progress', retryable: false },
    );
  }
}

/**
 * The listing does not show this execution yet (ListExecutions is eventually consistent right
 * after the redrive): retryable, the next attempt will see it.
 */
export class RunGuardInconclusiveError extends LoaderError {
  override readonly name: string = 'RunGuardInconclusiveError';
  constructor(execution: string) {
    super(`redriven run ${execution} is not listed as running yet; retry`, {
      code: 'run_guard_inconclusive',
      retryable: true,
    });
  }
}

/** Listing the running executions failed (throttle, blip, denial): retryable. */
export class StepFunctionsError extends LoaderError {
  override readonly name: string = 'StepFunctionsError';
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'step_functions_failed', retryable: true, cause });
  }
}

/** Whether the run must check the running executions: only when it was redriven. */
export function needsRedriveGuard(run: RunRef | undefined, childRedriveCount = 0): run is RunRef {
  return run !== undefined && Math.max(run.redriveCount, childRedriveCount) > 0;
}

/**
 * Throws unless `self` is the only running execution. `running` is the RUNNING listing of the
 * run's state machine.
 */
export function assertSoleRun(self: string, running: readonly string[]): void {
  if (!running.includes(self)) throw new RunGuardInconclusiveError(self);
  const others = running.filter((arn) => arn !== self);
  if (others.length > 0) throw new RunInProgressError(self, others);
}
