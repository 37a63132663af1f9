/**
 * Every cdk-nag AwsSolutions finding this stack accepts, each on the narrowest construct and
 * finding id (cdk-nag 3 acknowledges `IAM5[Resource::<arn>]` findings one by one), with the
 * reason it is acceptable. Anything not listed here fails `cdk synth`.
 */
import { ArnFormat, Fn, Stack, Validations } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
// cdk-nag's own flattening, so finding ids match exactly what its IAM5 rule reports.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';
import type { PaylinkLoaderStack } from './paylink-stack.ts';

export interface NagAcknowledgement {
  readonly scope: IConstruct;
  readonly id: string;
  readonly reason: string;
}

/** The IAM5 finding id of a wildcard resource, as cdk-nag spells it. */
function wildcardResource(scope: IConstruct, arn: string): string {
  return `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(scope).resolve(arn))}]`;
}

const XRAY_REASON =
  'X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions (Resource "*" is the only option).';

function functionFindings(fn: IFunction, name: string, tracing: boolean): NagAcknowledgement[] {
  const list: NagAcknowledgement[] = [
    {
      scope: fn,
      id: 'AwsSolutions-L1',
      reason: `${name}: Node.js 22 is the runtime the loader is built and tested for (toolchain notes); 24 is not yet verified with parquetjs-lite and the bundled SDK.`,
    },
  ];
  if (tracing && fn.role)
    list.push({ scope: fn.role, id: 'AwsSolutions-IAM5[Resource::*]', reason: XRAY_REASON });
  return list;
}

function workflowFindings(
  stateMachine: IStateMachine,
  fns: readonly IFunction[],
  tracing: boolean,
): NagAcknowledgement[] {
  const stack = Stack.of(stateMachine);
  // The Distributed Map's child executions are named by Step Functions at run time.
  const executions = (suffix: string) =>
    stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${Fn.select(6, Fn.split(':', stateMachine.stateMachineArn))}${suffix}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  const untraced: NagAcknowledgement[] = tracing
    ? []
    : [
        {
          scope: stateMachine,
          id: 'AwsSolutions-SF2',
          reason:
            'X-Ray tracing is switched off in this deployment (paylink.tracing = false); execution history and ALL-level logs remain.',
        },
      ];
  return [
    ...untraced,
    {
      scope: stateMachine,
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'CloudWatch Logs vended-log delivery (CreateLogDelivery, PutResourcePolicy, ...) and X-Ray actions that Step Functions logging/tracing need support no resource-level permissions.',
    },
    ...fns.map((fn) => ({
      scope: stateMachine,
      id: wildcardResource(stateMachine, `${fn.functionArn}:*`),
      reason:
        'lambda:InvokeFunction on <function>:* covers the versions and aliases of this one function, added by the LambdaInvoke task; no other function is reachable.',
    })),
    {
      scope: stateMachine,
      id: wildcardResource(stateMachine, executions(':*')),
      reason:
        'The Distributed Map describes/stops its child executions, whose names Step Functions generates; the wildcard is limited to executions of this state machine.',
    },
    ...['LoadBatches', 'MergeGroups'].map((label) => ({
      scope: stateMachine,
      id: wildcardResource(stateMachine, executions(`/${label}:*`)),
      reason: `Redriving the ${label} Map Run needs its generated execution names; limited to this state machine and this Map label.`,
    })),
  ];
}

export function nagAcknowledgements(stack: PaylinkLoaderStack): NagAcknowledgement[] {
  const { plan, loadBatch, commit } = stack.functions;
  const fns = [plan, loadBatch, commit] as const;
  const { tracing } = stack.config;
  const area = (name: string) =>
    wildcardResource(stack, stack.lake.bucket.arnForObjects(`${stack.lake.prefix}/${name}*`));
  const staging = area('_staging/');
  const STAGING_REASON =
    'Uncommitted objects of loads under the staging area only (keys carry run-time load ids and batch numbers); published data is out of reach.';
  const list: NagAcknowledgement[] = [
    ...functionFindings(plan, 'plan', tracing),
    ...functionFindings(loadBatch, 'load-batch', tracing),
    ...functionFindings(commit, 'commit', tracing),
    { scope: plan.role!, id: staging, reason: STAGING_REASON },
    { scope: loadBatch.role!, id: staging, reason: STAGING_REASON },
    {
      scope: plan.role!,
      id: area('_loads/'),
      reason:
        'Reads the previous load marker (its measured requests per user size the next plan); read only.',
    },
    {
      scope: plan.role!,
      id: area('_events/'),
      reason:
        'Reads the stored webhook events (keys carry received dates and event hashes) to pick the users of a changed schedule; read only.',
    },
    {
      scope: plan.role!,
      id: area('_state/'),
      reason:
        "Reads the user registry learned from webhooks and a changed schedule's seen events (keys carry shard numbers and schedule names); read only.",
    },
    {
      scope: plan.role!,
      id: area('_leases/'),
      reason:
        'Takes the lease of its load id (one small object per generation, keys carry run-time load ids): creates, reads and deletes under the lease area only.',
    },
    {
      scope: loadBatch.role!,
      id: area('_leases/'),
      reason: 'Checks its execution still holds the lease of its load id; read only.',
    },
    {
      scope: loadBatch.role!,
      id: area('_schema/'),
      reason: 'Reads the committed schema registry (one file per version); read only.',
    },
    {
      scope: commit.role!,
      id: area(''),
      reason:
        'Commit publishes: it moves staged parts to keys derived at run time (tables, dt partitions, load ids) and removes stale ones, under the lake prefix only; nothing else in the bucket is reachable.',
    },
    ...stack.analytics.tableArnPatterns.map((pattern) => ({
      scope: commit.role!,
      id: wildcardResource(stack, pattern),
      reason:
        'Commit creates and widens Glue tables and their history/current views as the schema evolves (new child tables appear with the data); limited to the tables of the lake databases (<db>, <db>_raw, <db>_current).',
    })),
    ...[...stack.workflows.values()].flatMap((w) => [
      ...workflowFindings(w.stateMachine, fns, tracing),
      {
        scope: w.stateMachine,
        id: staging,
        reason:
          "The Distributed Map's ItemReader reads the plan's item file, whose key carries the run-time load id; staging only, read only.",
      },
    ]),
    {
      scope: stack.scheduling.deadLetterQueue,
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue IS the dead-letter queue of the EventBridge Scheduler targets (configured on the schedule, which cdk-nag cannot see); it is alarmed.',
    },
  ];
  // The webhook receiver (infra/constructs/webhook-receiver.ts).
  list.push(...functionFindings(stack.webhooks.function, 'webhook', tracing), {
    scope: stack.webhooks.function.role!,
    id: area('_events/'),
    reason:
      'Creates one object per accepted webhook event under the events area (keys carry the received date and the event hash); PutObject only, no read, list or delete.',
  });
  if (stack.credentials.created) {
    list.push({
      scope: stack.credentials.secret,
      id: 'AwsSolutions-SMG4',
      reason:
        'PayLink API keys are issued in the Atomic console; there is no API a rotation Lambda could call. Operators rotate them by hand (docs/deploy.md).',
    });
  }
  return list;
}

/** Records every acknowledgement on its construct; returns them for tests to inspect. */
export function acknowledgeNagFindings(stack: PaylinkLoaderStack): NagAcknowledgement[] {
  const list = nagAcknowledgements(stack);
  for (const { scope, id, reason } of list) Validations.of(scope).acknowledge({ id, reason });
  return list;
}
