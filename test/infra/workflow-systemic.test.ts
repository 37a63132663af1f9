/**
 * The synthesized state machine, run by a kept ASL interpreter (aws-local-stepfunctions) with
 * the Lambda tasks answered in-process: a batch that finds the load cannot work
 * (SystemicFailureError) is not retried, and the run fails before commit with its cause.
 * (The offline AWS tests run the real bundles; this one only needs the definition.)
 */
import { StateMachine } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { UNREAD_SYSTEMIC_CAUSE } from '#core/systemic-cause.ts';
import { SYSTEMIC_FAILURE_ERROR, UNAVAILABLE_RETRY } from '#infra/constructs/load-workflow.ts';
import { type Cfn, exampleConfig, stateMachines, synth } from './app-fixture.ts';
import '#test/helpers/promise-with-resolvers.ts';

const CAUSE =
  'cannot reach https://api.paylink.example: connection refused (the first 3 users all failed this way)';

let definition: Cfn;
beforeAll(() => {
  const machines = stateMachines(synth(exampleConfig()).template);
  definition = [...machines.values()][0]!.definition;
});

/** The definition from the plan on, with the Map reading its items from the plan's output. */
function fromPlan(): Cfn {
  const copy = structuredClone(definition);
  copy.StartAt = 'Plan';
  const map = copy.States.LoadBatches;
  delete map.ItemReader;
  map.ItemsPath = '$.items';
  return copy;
}

/** Lambda's error for a thrown SystemicFailureError: its Cause is the error as JSON. */
function systemicError(name = 'SystemicFailureError', cause = CAUSE): Error {
  const error = new Error(
    JSON.stringify({ errorType: name, errorMessage: cause, trace: ['at loadBatch (x.js:1:1)'] }),
  );
  error.name = name;
  return error;
}

interface Faults {
  /** Batches whose every attempt fails with SystemicFailureError (a wrong --base-url). */
  readonly systemic?: readonly number[];
  /** Batch -> attempts that fail with PayLinkUnavailableError before one works (Infinity: all). */
  readonly unavailable?: Readonly<Record<number, number>>;
  readonly batches?: number;
  readonly cause?: string;
  /** The commit function cannot read the cause back. */
  readonly causeUnreadable?: boolean;
}

async function run(faults: Faults = {}) {
  const { systemic = [], unavailable = {}, batches = 3, cause = CAUSE } = faults;
  const calls: string[] = [];
  // What the load-batch handler leaves in the load's staging (recordSystemicCause).
  let recordedCause: string | undefined;
  const machine = new StateMachine(fromPlan(), { validationOptions: { noValidate: true } });
  const retries: Record<string, number> = {};
  for (const name of ['Plan', 'LoadBatch', 'Commit', 'ReadSystemicCause']) retries[name] = 1;
  const execution = machine.run(
    // What the run guard leaves for the plan: the execution that takes the load id's lease.
    { scheduledTime: '2026-11-30T03:00:00Z', guard: { owner: { executionId: 'execution-1' } } },
    {
      context: {
        Execution: { Id: 'arn:aws:states:us-east-1:111122223333:execution:m:execution-1', RedriveCount: 0 },
        StateMachine: { Id: 'arn:aws:states:us-east-1:111122223333:stateMachine:m' },
      },
      overrides: {
        retryIntervalOverrides: retries,
        taskResourceLocalHandlers: {
          Plan: async () => {
            calls.push('plan');
            const items = Array.from({ length: batches }, (_, batch) => ({ loadId: 'L1', batch }));
            return { Payload: { loadId: 'L1', batches, items } };
          },
          LoadBatch: async (input: Cfn) => {
            const batch = input.Payload.batch as number;
            calls.push(`batch ${batch}`);
            const attempts = calls.filter((c) => c === `batch ${batch}`).length;
            if (systemic.includes(batch)) {
              recordedCause = cause;
              throw systemicError('SystemicFailureError', cause);
            }
            if (attempts <= (unavailable[batch] ?? 0)) {
              recordedCause = cause;
              throw systemicError('PayLinkUnavailableError', cause);
            }
            return { Payload: { loadId: 'L1', batch, users: 10, failedUsers: 0, rows: 5 } };
          },
          ReadSystemicCause: async (input: Cfn) => {
            calls.push('read cause');
            expect(input.Payload).toEqual({ loadId: 'L1', readSystemicCause: true });
            if (faults.causeUnreadable) throw new Error('AccessDenied');
            return { Payload: { cause: recordedCause ?? 'no batch recorded a cause' } };
          },
          Commit: async () => {
            calls.push('commit');
            return { Payload: { loadId: 'L1' } };
          },
        },
      },
    },
  );
  const events: Cfn[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) events.push(event);
  })();
  const outcome = await execution.result.then(
    (output) => ({ status: 'SUCCEEDED' as const, output }),
    (error: Error) => ({ status: 'FAILED' as const, thrown: `${error.name}: ${error.message}` }),
  );
  await collecting;
  const failed = events.find((e) => e.type === 'ExecutionFailed');
  const mapExit = events.find((e) => e.type === 'StateExited' && e.state?.name === 'LoadBatches');
  return {
    ...outcome,
    calls,
    /** Bytes of the Map's gathered item results in the state: under 256 KiB or the run fails. */
    mapOutputBytes:
      mapExit === undefined ? undefined : JSON.stringify(mapExit.state.output.batchMarks).length,
    error: failed?.Error as string | undefined,
    cause: failed?.Cause as string | undefined,
  };
}

describe('a batch that finds the load cannot work', () => {
  it('is not retried, and the run fails before commit with its cause', async () => {
    const outcome = await run({ systemic: [1] });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe(SYSTEMIC_FAILURE_ERROR);
    expect(outcome.cause, 'the message, without the stack trace').toBe(CAUSE);
    expect(
      outcome.calls.filter((c) => c === 'batch 1'),
      'no retry of a systemic batch',
    ).toHaveLength(1);
    expect(outcome.calls).not.toContain('commit');
  });

  it('keeps the Map result a constant few bytes per batch whatever the cause, so 1,000 failing batches fit its 256 KiB', async () => {
    const cause = `cannot reach https://${'x'.repeat(300)}.example: connection refused`;
    const outcome = await run({ systemic: Array.from({ length: 1000 }, (_, i) => i), batches: 1000, cause });
    expect(outcome.error).toBe(SYSTEMIC_FAILURE_ERROR);
    expect(outcome.cause).toBe(cause);
    // A cause per item (as before) would be 1000 x ~350 bytes: over the limit.
    expect(outcome.mapOutputBytes).toBeDefined();
    expect(outcome.mapOutputBytes!).toBeLessThan(1000 * 10 + 1000);
    expect(outcome.calls.filter((c) => c === 'read cause')).toHaveLength(1);
  });

  it('retries a batch that found PayLink unavailable after a pause, and commits once PayLink is back', async () => {
    const outcome = await run({ unavailable: { 0: 2 } });
    expect(outcome.status, JSON.stringify(outcome.cause)).toBe('SUCCEEDED');
    expect(outcome.calls.filter((c) => c === 'batch 0')).toHaveLength(3);
    expect(outcome.calls.at(-1)).toBe('commit');
  });

  it('fails the run with the cause when PayLink stays unavailable through every retry', async () => {
    const outcome = await run({ unavailable: { 2: Number.POSITIVE_INFINITY } });
    expect(outcome.error).toBe(SYSTEMIC_FAILURE_ERROR);
    expect(outcome.cause).toBe(CAUSE);
    expect(outcome.calls.filter((c) => c === 'batch 2')).toHaveLength(1 + UNAVAILABLE_RETRY.maxAttempts);
    expect(outcome.calls).not.toContain('commit');
  });

  it('still fails as a systemic run when the cause cannot be read back', async () => {
    const outcome = await run({ systemic: [0], causeUnreadable: true });
    expect(outcome.error).toBe(SYSTEMIC_FAILURE_ERROR);
    expect(outcome.cause).toBe(UNREAD_SYSTEMIC_CAUSE);
    expect(outcome.calls).not.toContain('commit');
  });

  it('lets a run whose batches all worked go on to commit', async () => {
    const outcome = await run();
    expect(outcome.status, JSON.stringify(outcome)).toBe('SUCCEEDED');
    expect(outcome.calls.at(-1)).toBe('commit');
    expect(outcome.calls.filter((c) => c.startsWith('batch'))).toHaveLength(3);
  });
});
