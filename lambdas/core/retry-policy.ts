/**
 * When to retry a PayLink request, and how long to wait first. Pure: the caller passes the
 * clock and the random source, so delays are deterministic under test.
 */
import type { HttpPolicy } from './config.ts';
import { DEFAULTS } from './constants.ts';
import { ConfigError } from './errors.ts';

/** The part of the HTTP policy that shapes a single delay. */
export type RetryDelayPolicy = Pick<HttpPolicy, 'backoffBaseMs' | 'backoffMaxMs' | 'retryAfterMaxMs'>;

export interface RetryDelayInput {
  /** The attempt that just failed, 1-based: the delay is the wait before attempt + 1. */
  readonly attempt: number;
  /** The response's Retry-After header, when there was a response and it had one. */
  readonly retryAfter?: string | null;
  /** Wall clock, for a Retry-After given as an HTTP date. */
  readonly now: Date;
  /** Uniform in [0, 1), like Math.random. */
  readonly random: () => number;
  readonly policy?: RetryDelayPolicy;
}

/**
 * Milliseconds to wait before the next attempt. A parseable Retry-After wins (the server knows
 * when it will have capacity) but is capped at `retryAfterMaxMs`: a Lambda cannot sleep for an
 * hour. Otherwise exponential backoff with full jitter, which spreads concurrent retries best:
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export function retryDelayMs(input: RetryDelayInput): number {
  const policy = input.policy ?? DEFAULTS.http;
  const fromHeader = parseRetryAfterMs(input.retryAfter, input.now);
  if (fromHeader !== undefined) return Math.min(fromHeader, policy.retryAfterMaxMs);
  const attempt = Math.max(1, Math.floor(input.attempt));
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** (attempt - 1));
  return Math.floor(input.random() * ceiling);
}

/**
 * Retry-After as milliseconds from `now` (RFC 9110 section 10.2.3: delta-seconds or an HTTP
 * date); a date in the past is 0. Undefined when absent or unparseable, so the caller falls
 * back to backoff rather than trusting a header it cannot read.
 */
export function parseRetryAfterMs(value: string | null | undefined, now: Date): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  // Only text with letters can be an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"); Date.parse
  // would otherwise read "-5" or "2024" as years.
  if (!/[A-Za-z]/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

/**
 * Statuses worth another attempt: 408 (request timeout), 429 (rate limited) and 5xx. Every
 * other status is an answer about this request that a retry would only repeat.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/** The full HTTP policy: DEFAULTS.http with overrides, checked so a bad value names its key. */
export function resolveHttpPolicy(overrides: Partial<HttpPolicy> = {}): HttpPolicy {
  const policy: HttpPolicy = { ...DEFAULTS.http };
  for (const key of Object.keys(policy) as (keyof HttpPolicy)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value < 0)
      throw new ConfigError(`http.${key}`, 'must be a non-negative number');
    policy[key] = value;
  }
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1) {
    throw new ConfigError('http.attempts', 'must be a positive integer');
  }
  if (policy.timeoutMs <= 0) throw new ConfigError('http.timeoutMs', 'must be positive');
  if (policy.requestBudgetMs <= 0) throw new ConfigError('http.requestBudgetMs', 'must be positive');
  return policy;
}
