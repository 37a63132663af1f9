/**
 * The redrive guard of a step (lambdas/core/run-guard.ts): nothing to do for a run that was not
 * redriven (the state machine's own guard admitted it); a redriven run lists the running
 * executions of its state machine and goes on only if it is the only one.
 */
import { assertSoleRun, needsRedriveGuard, type RunRef } from '#core/run-guard.ts';

/** True when the run was redriven and the guard let it through (the caller logs it). */
export async function guardRedrive(run: RunRef | undefined, childRedriveCount?: number): Promise<boolean> {
  if (!needsRedriveGuard(run, childRedriveCount)) return false;
  // Only a redriven run needs the Step Functions client: loaded here, not with the bundle.
  const { listRunningExecutions } = await import('#adapters/step-functions-runs.ts');
  const running = await listRunningExecutions(run.stateMachine);
  assertSoleRun(run.execution, running);
  return true;
}
