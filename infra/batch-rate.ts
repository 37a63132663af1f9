import { ConfigError } from '#core/errors.ts';

/**
 * Requests/second one load-batch invocation may send (env BATCH_REQUEST_RATE). The Distributed
 * Map runs at most `maxConcurrency` batches at once, so giving each its share of the total keeps
 * the whole run under `requestRate`. Rounded down to 1/1000 so the shares never sum above it.
 */
export function batchRequestRate(requestRate: number, maxConcurrency: number): number {
  if (!(requestRate > 0)) throw new ConfigError('paylink.requestRate', 'must be a positive number');
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw new ConfigError('paylink.maxConcurrency', 'must be a positive integer');
  }
  const share = Math.floor((requestRate * 1000) / maxConcurrency) / 1000;
  if (share <= 0) {
    throw new ConfigError(
      'paylink.requestRate',
      'divided by maxConcurrency must be at least 0.001 request/s',
    );
  }
  return share;
}
