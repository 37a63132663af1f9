/**
 * The synthesized state machine, run by a kept ASL interpreter (aws-local-stepfunctions) with
 * the Lambda tasks answered in-process: a batch that finds the load cannot work
 * (SystemicFailureError) is not retried, and the run fails before commit with its cause.
 * (The offline AWS tests run the real bundles; this one only needs the definition.)
 */
import { StateMachine } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { SYSTEMIC_FAILURE_ERROR } from '#infra/constructs/load-workflow.ts';
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
function systemicError(): Error {
  const error = new Error(
    JSON.stringify({
      errorType: 'SystemicFailureError',
      errorMessage: CAUSE,
      trace: ['at loadBatch (x.js:1:1)'],
    }),
  );
  error.name = 'SystemicFailureError';
  return error;
}

async function run(systemicBatches: readonly number[]) {
  const calls: string[] = [];
  const machine = new StateMachine(fromPlan(), { validationOptions: { noValidate: true } });
  const retries: Record<string, number> = {};
  for (const name of ['Plan', 'LoadBatch', 'Commit']) retries[name] = 1;
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
            return { Payload: { loadId: 'L1', items: [0, 1, 2].map((batch) => ({ loadId: 'L1', batch })) } };
          },
          LoadBatch: async (input: Cfn) => {
            const batch = input.Payload.batch as number;
            calls.push(`batch ${batch}`);
            if (systemicBatches.includes(batch)) throw systemicError();
            return { Payload: { loadId: 'L1', batch, users: 10, failedUsers: 0, rows: 5 } };
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
  return {
    ...outcome,
    calls,
    error: failed?.Error as string | undefined,
    cause: failed?.Cause as string | undefined,
  };
}

describe('a batch that finds the load cannot work', () => {
  it('is not retried, and the run fails before commit with its cause', async () => {
    const outcome = await run([1]);
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe(SYSTEMIC_FAILURE_ERROR);
    expect(outcome.cause, 'the message, without the stack trace').toBe(CAUSE);
    expect(
      outcome.calls.filter((c) => c === 'batch 1'),
      'no retry of a systemic batch',
    ).toHaveLength(1);
    expect(outcome.calls).not.toContain('commit');
  });

  it('lets a run whose batches all worked go on to commit', async () => {
    const outcome = await run([]);
    expect(outcome.status, JSON.stringify(outcome)).toBe('SUCCEEDED');
    expect(outcome.calls.at(-1)).toBe('commit');
    expect(outcome.calls.filter((c) => c.startsWith('batch'))).toHaveLength(3);
  });
});
