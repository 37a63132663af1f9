import { Duration, TimeZone } from 'aws-cdk-lib';
import {
  ContextAttribute,
  Schedule,
  ScheduleExpression,
  ScheduleTargetInput,
  TimeWindow,
} from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { PlanEvent } from '#handlers/contract.ts';
import type { ScheduleConfig } from '../config.ts';
import { DLQ_RETENTION_DAYS, SCHEDULER_RETRY } from '../constants.ts';

export interface ScheduledRun {
  readonly schedule: ScheduleConfig;
  /** Physical schedule name (`<stack>-<schedule>`), unique in the account and region. */
  readonly scheduleName: string;
  readonly stateMachine: IStateMachine;
}

/** The state machine input for a schedule, as the handler contract defines it. */
export function planEventTemplate(schedule: ScheduleConfig): PlanEvent {
  return {
    schedule: schedule.name,
    // Scheduler substitutes the slot's time: a redelivered slot carries the same value.
    scheduledTime: ContextAttribute.scheduledTime,
    ...(schedule.resources === undefined ? {} : { resources: schedule.resources }),
    ...(schedule.users === 'changed' ? { users: 'changed' as const } : {}),
  };
}

/**
 * One EventBridge Scheduler schedule per configured schedule, each starting its own state
 * machine. Delivery is retried for an hour; what still fails lands in an encrypted, TLS-only
 * dead-letter queue (alarmed). Each target's role may only StartExecution on its state machine
 * (and send to the DLQ); the trust policy is scoped to this account's schedule group.
 */
export class LoadSchedules extends Construct {
  readonly deadLetterQueue: Queue;
  readonly schedules: Schedule[] = [];

  constructor(scope: Construct, id: string, props: { readonly runs: readonly ScheduledRun[] }) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(DLQ_RETENTION_DAYS),
    });

    for (const run of props.runs) {
      const { schedule } = run;
      const target = new StepFunctionsStartExecution(run.stateMachine, {
        input: ScheduleTargetInput.fromObject(planEventTemplate(schedule)),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: SCHEDULER_RETRY.attempts,
        maxEventAge: Duration.hours(SCHEDULER_RETRY.maxEventAgeHours),
      });
      this.schedules.push(
        new Schedule(this, `Schedule-${schedule.name}`, {
          scheduleName: run.scheduleName,
          description: `PayLink lake load '${schedule.name}'`,
          schedule: ScheduleExpression.expression(
            schedule.expression,
            schedule.timezone === undefined ? undefined : TimeZone.of(schedule.timezone),
          ),
          // Exact slots: the scheduled time is the load id, so runs must not drift.
          timeWindow: TimeWindow.off(),
          target,
        }),
      );
    }
  }
}
