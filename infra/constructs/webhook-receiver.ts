import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Stats, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { type CfnFunction, type FunctionUrl, FunctionUrlAuthType, InvokeMode } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, MetricFilter, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { RejectReason } from '#core/webhook.ts';
import { HANDLER_ENV } from '#handlers/contract.ts';
import { WEBHOOK_DEFAULTS } from '../constants.ts';
import type { LakeStorage } from './lake-storage.ts';
import { LoaderFunction } from './loader-function.ts';
import type { PayLinkCredentials } from './paylink-credentials.ts';

/** The metric rejected webhook requests are counted in, by stack and reason. */
export const WEBHOOK_REJECTED_METRIC = { namespace: 'PayLinkLoader', name: 'WebhookRejected' } as const;

export interface WebhookReceiverProps {
  readonly lake: LakeStorage;
  readonly credentials: PayLinkCredentials;
  /** Where the rejection alarms go (the stack's alarm topic). */
  readonly alarmTopic: ITopic;
  readonly stackName: string;
  readonly logRetention: RetentionDays;
  readonly tracing: boolean;
  /** The stack's `logLevel` (Powertools' POWERTOOLS_LOG_LEVEL), as every other function has. */
  readonly logLevel?: string;
  /** cdk.json `webhooks.reservedConcurrency` (WEBHOOK_DEFAULTS.reservedConcurrency unless set). */
  readonly reservedConcurrency: number;
}

/**
 * Atomic's webhooks in (lambdas/handlers/webhook.ts over lambdas/core/webhook.ts):
 * - a Function URL with auth NONE: Atomic cannot sign AWS requests; the HMAC signature over the
 *   body, checked in constant time before anything is stored, is the authentication;
 * - reserved concurrency (WEBHOOK_DEFAULTS): a throttle on what a flood can cost, and capacity
 *   no other function can take;
 * - a role that may create objects under the lake's `_events/` and read the PayLink secret,
 *   nothing else (no read, list or delete: a replay finds its object through the create-only
 *   write's 412);
 * - a metric filter on the receiver's `{"webhook": "rejected", "reason", "stack"}` log lines and
 *   alarms to the alarm topic: any request with a signature that does not verify (a rotated
 *   secret Atomic still signs with, or a forgery attempt), floods of unsigned requests, and any
 *   correctly signed request refused for its content (`malformed`, `bad-identifier`, `bad-task-id`: Atomic
 *   changed its event format, and every such event is lost after its retries).
 */
export class WebhookReceiver extends Construct {
  readonly function: LoaderFunction;
  readonly url: FunctionUrl;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: WebhookReceiverProps) {
    super(scope, id);
    this.function = new LoaderFunction(this, 'Function', {
      handlerFile: 'webhook.ts',
      description:
        'PayLink loader: receives Atomic webhooks, verifies their signature, stores them under _events/',
      memoryMiB: WEBHOOK_DEFAULTS.memoryMiB,
      timeout: Duration.seconds(WEBHOOK_DEFAULTS.timeoutSeconds),
      environment: {
        [HANDLER_ENV.bucket]: props.lake.bucket.bucketName,
        [HANDLER_ENV.prefix]: props.lake.prefix,
        [HANDLER_ENV.secretArn]: props.credentials.secretArn,
        [HANDLER_ENV.stackName]: props.stackName,
      },
      logRetention: props.logRetention,
      tracing: props.tracing,
      ...(props.logLevel === undefined ? {} : { logLevel: props.logLevel }),
    });
    // LoaderFunction's props do not carry it; every other default stays LoaderFunction's.
    (this.function.node.defaultChild as CfnFunction).reservedConcurrentExecutions = props.reservedConcurrency;
    this.url = this.function.addFunctionUrl({
      authType: FunctionUrlAuthType.NONE,
      invokeMode: InvokeMode.BUFFERED,
    });
    props.lake.grantWriteEvents(this.function);
    props.credentials.grantRead(this.function);

    const filter = new MetricFilter(this, 'RejectedFilter', {
      logGroup: this.function.logGroup,
      filterPattern: FilterPattern.stringValue('$.webhook', '=', 'rejected'),
      metricNamespace: WEBHOOK_REJECTED_METRIC.namespace,
      metricName: WEBHOOK_REJECTED_METRIC.name,
      metricValue: '1',
      dimensions: { Stack: '$.stack', Reason: '$.reason' },
    });
    const alarm = (reason: RejectReason, threshold: number, description: string) => {
      const created = new Alarm(this, `Rejected-${reason}`, {
        alarmDescription: description,
        metric: filter.metric({
          period: Duration.minutes(5),
          statistic: Stats.SUM,
          dimensionsMap: { Stack: props.stackName, Reason: reason },
        }),
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new SnsAction(props.alarmTopic));
      this.alarms.push(created);
    };
    alarm(
      'bad-signature',
      WEBHOOK_DEFAULTS.badSignaturesPer5Minutes,
      'PayLink webhook requests carried a signature that does not verify: the API secret changed on one side only (events are being lost after Atomic retries), or someone is forging events',
    );
    // Signed, so sent by Atomic: a refusal loses a change (after Atomic's 3 retries), and a run
    // of them means the event format changed and incremental loading silently stopped.
    alarm(
      'malformed',
      WEBHOOK_DEFAULTS.refusedSignedPer5Minutes,
      "Correctly signed PayLink webhook events were refused as malformed (not Atomic's documented shape): Atomic may have changed its event format; those events are not stored and their users are not loaded by changed schedules",
    );
    alarm(
      'bad-identifier',
      WEBHOOK_DEFAULTS.refusedSignedPer5Minutes,
      'Correctly signed PayLink webhook events were refused for a user identifier no users list could hold (blank, a control character, over 1,024 characters); those events are not stored and their users are not loaded by changed schedules',
    );
    alarm(
      'bad-task-id',
      WEBHOOK_DEFAULTS.refusedSignedPer5Minutes,
      "Correctly signed PayLink webhook events were refused for a task id that is not one URL path segment ('.' or '..': /task/../details is requested as /details); those events are not stored and their tasks are not loaded",
    );
    alarm(
      'too-large',
      WEBHOOK_DEFAULTS.tooLargePer5Minutes,
      'A request over the 256 KiB body limit reached the PayLink webhook URL and was refused (413) before its signature was checked: if Atomic sent it, that change is lost after its retries (an all schedule still loads the user), otherwise someone is probing the URL',
    );
    const throttled = new Alarm(this, 'Throttled', {
      alarmDescription: `The PayLink webhook receiver was throttled (its reserved concurrency, cdk.json webhooks.reservedConcurrency = ${props.reservedConcurrency}, caps it near ${props.reservedConcurrency * 10} requests/s): Atomic retries a throttled event 3 times over 90 s, so a longer burst loses events; raise the reserved concurrency, or see whether an unsigned flood caused it`,
      metric: this.function.metricThrottles({ period: Duration.minutes(5), statistic: Stats.SUM }),
      threshold: WEBHOOK_DEFAULTS.throttlesPer5Minutes,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    throttled.addAlarmAction(new SnsAction(props.alarmTopic));
    this.alarms.push(throttled);
    alarm(
      'unsigned',
      WEBHOOK_DEFAULTS.unsignedPer5Minutes,
      'Many unsigned requests reached the PayLink webhook URL (a flood or a misconfigured sender); they are rejected and the receiver is throttled by its reserved concurrency',
    );
  }
}
