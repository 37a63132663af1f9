/**
 * Reading what a handler wrote, as CloudWatch Logs would: one JSON object per line (Powertools
 * Logger records, EMF metric records); anything else on a line is not JSON and is skipped.
 */
export type LogRecord = Record<string, unknown>;

export function jsonLines(logs: string): LogRecord[] {
  return logs.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      const parsed = JSON.parse(line) as unknown;
      return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
        ? [parsed as LogRecord]
        : [];
    } catch {
      return [];
    }
  });
}

/** An EMF record: the metric directive under `_aws`, and its dimension and metric values. */
export interface EmfRecord {
  readonly namespace: string;
  /** Each dimension name of the record with its value. */
  readonly dimensions: Record<string, string>;
  /** Each metric name with its value and unit. */
  readonly metrics: Record<string, { value: number; unit: string | undefined }>;
  readonly record: LogRecord;
}

interface EmfDirective {
  readonly Namespace: string;
  readonly Dimensions: string[][];
  readonly Metrics: { Name: string; Unit?: string }[];
}

/**
 * The EMF records among a handler's lines: those with `_aws.CloudWatchMetrics`, checked to be
 * what CloudWatch accepts (every dimension and metric named has a value of the right type).
 */
export function emfRecords(logs: string): EmfRecord[] {
  return jsonLines(logs).flatMap((record) => {
    const aws = record._aws as { CloudWatchMetrics?: EmfDirective[]; Timestamp?: unknown } | undefined;
    if (aws?.CloudWatchMetrics === undefined) return [];
    if (typeof aws.Timestamp !== 'number')
      throw new Error(`EMF record without a numeric Timestamp: ${JSON.stringify(record)}`);
    return aws.CloudWatchMetrics.map((directive) => {
      const dimensions: Record<string, string> = {};
      for (const name of directive.Dimensions.flat()) {
        const value = record[name];
        if (typeof value !== 'string') throw new Error(`EMF dimension ${name} has no string value`);
        dimensions[name] = value;
      }
      const metrics: EmfRecord['metrics'] = {};
      for (const metric of directive.Metrics) {
        const value = record[metric.Name];
        if (typeof value !== 'number') throw new Error(`EMF metric ${metric.Name} has no numeric value`);
        metrics[metric.Name] = { value, unit: metric.Unit };
      }
      return { namespace: directive.Namespace, dimensions, metrics, record };
    });
  });
}
