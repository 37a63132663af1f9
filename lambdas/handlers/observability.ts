/**
 * Logs, metrics and traces of the handlers, with Powertools for AWS Lambda (TypeScript):
 * - Logger: one JSON object per line on stdout, level from `POWERTOOLS_LOG_LEVEL` (the stack
 *   sets it), with the Lambda context (request id, cold start), the load id, batch and schedule
 *   on every line of the invocation, and the Step Functions execution as `correlation_id`.
 * - Metrics: CloudWatch embedded metric format, one record per dimension set (load-metrics.ts),
 *   dimensioned by stack and schedule (+ table or error code), the load id as a property.
 * - Tracer: only where X-Ray is active (`POWERTOOLS_TRACE_ENABLED=true`, set by the stack when
 *   `tracing` is on, and a trace header on the invocation): the handler's work is one
 *   subsegment annotated with schedule and load id. aws-xray-sdk-core is imported then, never
 *   otherwise (it costs more to load than the rest of this module).
 *
 * What goes into a line is counts, names, ids of loads and executions and error messages (our
 * errors never carry a payload value or a secret, lambdas/core/errors.ts); never an event's
 * payload, a response body or a user identifier (the test over a full load's logs checks it).
 *
 * The handlers import this module lazily (telemetry.ts), so `require()` of a bundle does not
 * evaluate Powertools: the first invocation does.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { DIM, METRICS_NAMESPACE, type MetricGroup } from '#core/load-metrics.ts';
import { badLogLevel, parseLogLevel } from '#core/log-level.ts';
import { HANDLER_ENV } from './contract.ts';

/** What every line and metric of one invocation is about. */
export interface InvocationKeys {
  readonly loadId?: string | undefined;
  readonly batch?: number | undefined;
  readonly schedule?: string | undefined;
  /** The Step Functions execution ARN: the log's correlation id. */
  readonly execution?: string | undefined;
}

export interface Observed {
  readonly log: Logger;
  /** Sets keys learned during the invocation (the schedule, once the plan is read). */
  appendKeys(keys: InvocationKeys): void;
  /** Writes the groups as EMF records (stack and schedule dimensions added here). */
  emit(groups: readonly MetricGroup[]): void;
  /** Runs `work` as the invocation's X-Ray subsegment when tracing is active. */
  traced<T>(name: string, work: () => Promise<T>): Promise<T>;
}

const SERVICE = 'paylink-loader';

let logger: Logger | undefined;

function containerLogger(): Logger {
  if (logger !== undefined) return logger;
  const raw = process.env.POWERTOOLS_LOG_LEVEL;
  const given = raw !== undefined && raw !== '';
  const level = given ? parseLogLevel(raw) : undefined;
  logger = new Logger({
    serviceName: process.env.POWERTOOLS_SERVICE_NAME || SERVICE,
    persistentKeys: { stack: stackName() },
    ...(given ? { logLevel: level ?? 'INFO' } : {}),
  });
  // Powertools drops a bad level in silence (INFO): said once per container, and the load goes
  // on, as a log level is no reason to lose a run.
  if (given && level === undefined)
    logger.warn(`POWERTOOLS_LOG_LEVEL: ${badLogLevel(raw)} (logging at INFO meanwhile)`);
  return logger;
}

const stackName = () => process.env[HANDLER_ENV.stackName] || 'unknown';

/** The invocation's logger and metrics; `handler` names the function in every line. */
export function observe(handler: string, keys: InvocationKeys, context?: Partial<Context>): Observed {
  const log = containerLogger();
  // Keys of the previous invocation of this container must not leak into this one.
  log.resetKeys();
  if (context?.awsRequestId !== undefined) log.addContext(context as Context);
  let current: InvocationKeys = {};
  /** The subsegment `traced` is running, if any: keys learned meanwhile annotate it too. */
  const active: { segment?: Annotatable } = {};
  const appendKeys = (more: InvocationKeys) => {
    const learned = definedOnly(more);
    current = { ...current, ...learned };
    if (active.segment !== undefined) annotate(active.segment, learned);
    const { execution, ...rest } = current;
    log.appendKeys({ handler, ...rest });
    if (execution !== undefined) log.setCorrelationId(execution);
  };
  appendKeys(keys);
  return {
    log,
    appendKeys,
    emit: (groups) => {
      for (const group of groups) writeGroup(group, current);
    },
    traced: (name, work) => traced(name, current, work, active),
  };
}

function definedOnly(keys: InvocationKeys): InvocationKeys {
  return Object.fromEntries(Object.entries(keys).filter(([, v]) => v !== undefined));
}

function writeGroup(group: MetricGroup, keys: InvocationKeys): void {
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE });
  // Powertools adds a `service` dimension by default: ours are named (DIM), stack included.
  metrics.clearDefaultDimensions();
  metrics.addDimensions({
    [DIM.stack]: stackName(),
    [DIM.schedule]: keys.schedule ?? 'unknown',
    ...group.dimensions,
  });
  if (keys.loadId !== undefined) metrics.addMetadata('loadId', keys.loadId);
  if (keys.batch !== undefined) metrics.addMetadata('batch', batchProperty(keys.batch));
  if (group.timestamp !== undefined) metrics.setTimestamp(group.timestamp);
  for (const point of group.points) metrics.addMetric(point.name, point.unit, point.value);
  metrics.publishStoredMetrics();
}

/**
 * The batch number as the EMF record's `batch` property: a number, as in every log line, the
 * X-Ray annotation and the Map item, so one query (`batch = 3`) finds all of them. EMF takes
 * any JSON value as a property; Powertools types metadata as a string but stores the value
 * as given, so the number is passed through that type.
 */
function batchProperty(batch: number): string {
  return batch as unknown as string;
}

type TracerModule = typeof import('@aws-lambda-powertools/tracer');
let tracer: InstanceType<TracerModule['Tracer']> | undefined;

/** X-Ray is on for this invocation: the stack enabled it and Lambda passed a trace header. */
export function tracingActive(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return env.POWERTOOLS_TRACE_ENABLED === 'true' && Boolean(env._X_AMZN_TRACE_ID);
}

/** What an X-Ray subsegment takes annotations with (aws-xray-sdk-core Subsegment). */
interface Annotatable {
  addAnnotation(key: string, value: string | number | boolean): void;
}

/** The keys X-Ray annotates (indexed, searchable): schedule, load id and batch. */
function annotate(segment: Annotatable, keys: InvocationKeys): void {
  if (keys.schedule !== undefined) segment.addAnnotation('schedule', keys.schedule);
  if (keys.loadId !== undefined) segment.addAnnotation('loadId', keys.loadId);
  if (keys.batch !== undefined) segment.addAnnotation('batch', keys.batch);
}

async function traced<T>(
  name: string,
  keys: InvocationKeys,
  work: () => Promise<T>,
  active: { segment?: Annotatable },
): Promise<T> {
  if (!tracingActive()) return work();
  if (tracer === undefined) {
    const { Tracer } = await import('@aws-lambda-powertools/tracer');
    // Outgoing HTTP is not traced: PayLink URLs carry account ids.
    tracer = new Tracer({ serviceName: SERVICE, captureHTTPsRequests: false });
  }
  const parent = tracer.getSegment();
  if (parent === undefined) return work();
  const segment = parent.addNewSubsegment(`## ${name}`);
  tracer.setSegment(segment);
  tracer.annotateColdStart();
  tracer.addServiceNameAnnotation();
  // Keys known now; those learned later (the schedule once the plan is read, the load id once
  // the plan has made it) are annotated when appendKeys learns them.
  annotate(segment, keys);
  active.segment = segment;
  try {
    return await work();
  } catch (error) {
    if (error instanceof Error) tracer.addErrorAsMetadata(error);
    throw error;
  } finally {
    delete active.segment;
    segment.close();
    tracer.setSegment(parent);
  }
}
