import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  Metric,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, type ILogGroup, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DIM, METRIC, METRICS_NAMESPACE } from '#core/load-metrics.ts';

const FIVE_MINUTES = Duration.minutes(5);

/** The custom metric the plan's over-deadline line is counted in. */
export const PLAN_METRIC = { namespace: METRICS_NAMESPACE, name: 'PlanOverDeadline' } as const;

/** The data-quality alarms of one schedule (cdk.json `dataQuality`, lambdas/core/quality.ts). */
export interface DataQualityWatch {
  readonly stackName: string;
  readonly scheduleName: string;
  readonly failedUserSharePercent: number;
  /** False: no failed-user share alarm. */
  readonly failedUserShare?: boolean;
  readonly quietFeedFraction: number;
  /** False: no quiet-feed (nor trailing-loads-unreadable) alarm. */
  readonly quietFeed?: boolean;
  readonly endpointUnavailable: boolean;
  /** The schedule's run deadline: a commit later than this after its slot is outside the window. */
  readonly runWindowSeconds: number | undefined;
}

/** A metric the commit handler writes in EMF, for one stack and schedule. */
export function loadMetric(
  stackName: string,
  scheduleName: string,
  metricName: string,
  statistic: string,
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { [DIM.stack]: stackName, [DIM.schedule]: scheduleName },
    statistic,
    period: FIVE_MINUTES,
  });
}

export interface WatchedRun {
  readonly scheduleName: string;
  readonly stateMachine: IStateMachine;
  /** Twice the schedule's period: no success in this window means loads have stopped. */
  readonly stalenessWindow: Duration;
}

/**
 * Alarms to an encrypted, TLS-only SNS topic (plus an optional e-mail subscription). The
 * topic's key is customer-managed: CloudWatch cannot publish to a topic under the AWS-managed
 * SNS key, whose policy it cannot be granted.
 */
export class Operations extends Construct {
  readonly topic: Topic;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: { readonly alarmEmail?: string }) {
    super(scope, id);
    const key = new Key(this, 'TopicKey', {
      description: 'Encrypts the PayLink loader alarm topic',
      enableKeyRotation: true,
      // It only encrypts alarm messages in flight: scheduled for deletion with the stack.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(30),
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new Topic(this, 'Alarms', {
      displayName: 'PayLink lake loader alarms',
      masterKey: key,
      enforceSSL: true,
    });
    if (props.alarmEmail !== undefined) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
  }

  private alarm(id: string, description: string, metric: IMetric, options: Partial<AlarmShape> = {}): Alarm {
    const alarm = new Alarm(this, id, {
      alarmDescription: description,
      metric,
      threshold: options.threshold ?? 1,
      evaluationPeriods: 1,
      comparisonOperator: options.comparisonOperator ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: options.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    if (options.okAction === true) alarm.addOkAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }

  /** Any invocation error, even one a retry later fixed: errors should be rare and looked at. */
  watchFunction(name: string, fn: IFunction): void {
    this.alarm(
      `${name}Errors`,
      `PayLink ${name} Lambda reported errors`,
      fn.metricErrors({ period: FIVE_MINUTES, statistic: Stats.SUM }),
    );
  }

  watchRun(run: WatchedRun): void {
    const { scheduleName: name, stateMachine } = run;
    this.alarm(
      `${name}-Failed`,
      `PayLink load '${name}' failed (includes runs skipped because the previous one was still running)`,
      stateMachine.metricFailed({ period: FIVE_MINUTES, statistic: Stats.SUM }),
    );
    this.alarm(
      `${name}-TimedOut`,
      `PayLink load '${name}' timed out`,
      stateMachine.metricTimedOut({ period: FIVE_MINUTES, statistic: Stats.SUM }),
    );
    // No datapoint at all (nothing succeeded, or nothing ran) is exactly what this alarm is for.
    this.alarm(
      `${name}-NoRecentSuccess`,
      `No successful PayLink load '${name}' in two schedule periods`,
      stateMachine.metricSucceeded({ period: run.stalenessWindow, statistic: Stats.SUM }),
      {
        threshold: 1,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.BREACHING,
      },
    );
  }

  /**
   * A plan that expects its run to outlast the schedule period (lambdas/core/capacity.ts) writes
   * a bare JSON line `{"event": eventName, "stack": ..., "schedule": ...}`; the run still loads
   * every user, so this alarm is how an operator learns that the rate or the period must change.
   * The metric is dimensioned by stack and schedule (fields of that line): two stacks in one
   * account, or two schedules of one stack, never share a datapoint, and each schedule has its
   * own alarm, named after it.
   */
  watchPlanCapacity(props: {
    readonly planLogs: ILogGroup;
    readonly eventName: string;
    /** Dimension name -> field of the log line (contract.ts OVER_DEADLINE_DIMENSIONS). */
    readonly dimensions: { readonly Stack: string; readonly Schedule: string };
    readonly stackName: string;
    readonly scheduleNames: readonly string[];
  }): void {
    const filter = new MetricFilter(this, 'PlanOverDeadlineFilter', {
      logGroup: props.planLogs,
      filterPattern: FilterPattern.stringValue('$.event', '=', props.eventName),
      metricNamespace: PLAN_METRIC.namespace,
      metricName: PLAN_METRIC.name,
      metricValue: '1',
      dimensions: {
        Stack: `$.${props.dimensions.Stack}`,
        Schedule: `$.${props.dimensions.Schedule}`,
      },
    });
    for (const schedule of props.scheduleNames) {
      this.alarm(
        `${schedule}-PlanOverDeadline`,
        `A PayLink plan of '${schedule}' expects its run to take longer than the schedule period at the configured request rate (see the plan log: raise requestRate or lengthen the period)`,
        filter.metric({
          period: FIVE_MINUTES,
          statistic: Stats.SUM,
          dimensionsMap: { Stack: props.stackName, Schedule: schedule },
        }),
      );
    }
  }

  /**
   * Data-quality alarms of a schedule, on the metrics its commit writes once per load (EMF,
   * lambdas/core/load-metrics.ts). A load is one datapoint in a 5-minute period, and the periods
   * between loads have none: missing data is ignored ("the current alarm state is maintained"),
   * so each alarm holds the state the last load gave it until the next load says otherwise. A
   * quiet feed stays in ALARM until a load finds it recovered (notBreaching would return it to
   * OK five minutes after every load, and a daily load's operator would see it for five minutes).
   * A load that writes no ratio (no table judged) leaves the QuietFeed alarm as it was.
   * - failed-user share above `failedUserSharePercent`;
   * - a quiet feed: the load's smallest rows / trailing median below `quietFeedFraction` (the
   *   commit computes the ratio with the same rule as `paylink-loader status`: CloudWatch has no
   *   median over the last N datapoints of a series, and a percentile over a time window would
   *   count a missed or doubled run's datapoints, not the last N loads);
   * - a resource disabled by an endpoint finding;
   * - a run that committed later than its run deadline after its slot (a redriven or late run).
   */
  watchDataQuality(watch: DataQualityWatch): void {
    const { stackName, scheduleName: name } = watch;
    const metric = (metricName: string, statistic: string) =>
      loadMetric(stackName, name, metricName, statistic);
    // A per-load alarm holds its state until a load changes it: on-call hears when it clears too
    // (a quiet feed recovered), on the same topic, or it looks in ALARM until someone checks.
    const perLoad = { treatMissingData: TreatMissingData.IGNORE, okAction: true };
    if (watch.failedUserShare !== false)
      this.alarm(
        `${name}-FailedUserShare`,
        `PayLink load '${name}': more than ${watch.failedUserSharePercent}% of its users failed (status --load-id lists the reasons)`,
        metric(METRIC.failedUserShare, Stats.MAXIMUM),
        {
          ...perLoad,
          threshold: watch.failedUserSharePercent,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        },
      );
    if (watch.quietFeed !== false) {
      this.alarm(
        `${name}-QuietFeed`,
        `PayLink load '${name}': a table got less than ${watch.quietFeedFraction} x the median of its rows per loaded user over its recent loads, or stayed empty after it went quiet (a feed going quiet; see RowsToTrailingMedian by Table)`,
        metric(METRIC.lowestRowsToTrailingMedian, Stats.MINIMUM),
        {
          ...perLoad,
          threshold: watch.quietFeedFraction,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        },
      );
      // Without the earlier loads the commit writes no ratio, and the alarm above cannot fire;
      // without some of them it judges with fewer, and a quiet feed may go unflagged.
      this.alarm(
        `${name}-TrailingLoadsUnreadable`,
        `PayLink load '${name}': the commit could not read the earlier loads, or some of their reports, so the quiet-feed judgement was skipped or incomplete (the commit log's trailing_loads_unreadable line has the error or the reports)`,
        metric(METRIC.trailingLoadsUnreadable, Stats.MAXIMUM),
        perLoad,
      );
    }
    if (watch.endpointUnavailable)
      this.alarm(
        `${name}-EndpointUnavailable`,
        `PayLink load '${name}' disabled a resource whose endpoint did not work (status --load-id names it and the fix)`,
        metric(METRIC.endpointUnavailable, Stats.MAXIMUM),
        perLoad,
      );
    if (watch.runWindowSeconds !== undefined)
      this.alarm(
        `${name}-RunOutsideWindow`,
        `PayLink load '${name}' committed more than ${watch.runWindowSeconds} s after its scheduled slot (outside its schedule window)`,
        metric(METRIC.runSeconds, Stats.MAXIMUM),
        {
          ...perLoad,
          threshold: watch.runWindowSeconds,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        },
      );
  }

  watchDeadLetterQueue(queue: IQueue): void {
    this.alarm(
      'SchedulerDeadLetters',
      'EventBridge Scheduler could not start a PayLink load (see the dead-letter queue)',
      queue.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES, statistic: Stats.MAXIMUM }),
      { threshold: 0, comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD },
    );
  }
}

interface AlarmShape {
  readonly threshold: number;
  readonly comparisonOperator: ComparisonOperator;
  readonly treatMissingData: TreatMissingData;
  /** Notify the topic when the alarm returns to OK too. */
  readonly okAction: boolean;
}
