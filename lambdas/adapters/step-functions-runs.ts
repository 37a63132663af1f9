/**
 * Lists the running executions of a state machine (Step Functions ListExecutions, RUNNING) for
 * the redrive guard (lambdas/core/run-guard.ts). Endpoint, region and credentials come from the
 * environment as for every SDK client (tests: AWS_ENDPOINT_URL_SFN at the offline gateway).
 */
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { StepFunctionsError } from '#core/run-guard.ts';

let client: SFNClient | undefined;

export async function listRunningExecutions(stateMachineArn: string): Promise<string[]> {
  client ??= new SFNClient({});
  const arns: string[] = [];
  let nextToken: string | undefined;
  try {
    do {
      const page = await client.send(
        new ListExecutionsCommand({
          stateMachineArn,
          statusFilter: 'RUNNING',
          maxResults: 1000,
          ...(nextToken === undefined ? {} : { nextToken }),
        }),
      );
      for (const execution of page.executions ?? [])
        if (execution.executionArn) arns.push(execution.executionArn);
      nextToken = page.nextToken;
    } while (nextToken);
  } catch (error) {
    // Retryable: a throttle or blip; a denial shows its name in the message.
    const name = error instanceof Error ? error.name : 'error';
    throw new StepFunctionsError(`Step Functions ListExecutions of ${stateMachineArn} failed (${name})`);
  }
  return arns;
}
