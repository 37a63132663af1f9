import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '#core/constants.ts';
import { ConfigError } from '#core/errors.ts';
import { isRetryableStatus, parseRetryAfterMs, resolveHttpPolicy, retryDelayMs } from '#core/retry-policy.ts';

const now = new Date('2025-03-01T12:00:00.000Z');
const policy = { backoffBaseMs: 100, backoffMaxMs: 1_000, retryAfterMaxMs: 5_000 };
const almostOne = () => 0.999_999;

describe('retryDelayMs', () => {
  it('doubles the backoff ceiling with each attempt', () => {
    const delays = [1, 2, 3, 4].map((attempt) => retryDelayMs({ attempt, now, random: almostOne, policy }));
    expect(delays).toEqual([99, 199, 399, 799]);
  });

  it('applies full jitter: the delay is random() times the ceiling', () => {
    expect(retryDelayMs({ attempt: 3, now, random: () => 0.5, policy })).toBe(200);
    expect(retryDelayMs({ attempt: 3, now, random: () => 0, policy })).toBe(0);
  });

  it('caps the backoff ceiling at backoffMaxMs', () => {
    expect(retryDelayMs({ attempt: 30, now, random: almostOne, policy })).toBe(999);
  });

  it('uses DEFAULTS.http when no policy is given', () => {
    expect(retryDelayMs({ attempt: 2, now, random: () => 0.5 })).toBe(DEFAULTS.http.backoffBaseMs);
  });

  it('honours Retry-After in seconds instead of backoff', () => {
    expect(retryDelayMs({ attempt: 1, retryAfter: '3', now, random: () => 0, policy })).toBe(3_000);
  });

  it('honours Retry-After as an HTTP date relative to now', () => {
    const at = new Date(now.getTime() + 4_000).toUTCString();
    expect(retryDelayMs({ attempt: 1, retryAfter: at, now, random: () => 0, policy })).toBe(4_000);
  });

  it('caps Retry-After at retryAfterMaxMs, in seconds and as a date', () => {
    expect(retryDelayMs({ attempt: 1, retryAfter: '3600', now, random: () => 0, policy })).toBe(5_000);
    const later = new Date(now.getTime() + 3_600_000).toUTCString();
    expect(retryDelayMs({ attempt: 1, retryAfter: later, now, random: () => 0, policy })).toBe(5_000);
  });

  it('falls back to backoff when Retry-After cannot be read', () => {
    for (const retryAfter of ['soon', '-5', '1e3', '12:30', 'Wed, 99 Foo 2025', '', null]) {
      expect(retryDelayMs({ attempt: 2, retryAfter, now, random: () => 0.5, policy })).toBe(100);
    }
  });
});

describe('parseRetryAfterMs', () => {
  it('reads a date in the past as no wait', () => {
    expect(parseRetryAfterMs('Sat, 01 Mar 2025 11:59:00 GMT', now)).toBe(0);
  });

  it('accepts fractional seconds and surrounding whitespace', () => {
    expect(parseRetryAfterMs(' 1.5 ', now)).toBe(1_500);
  });
});

describe('isRetryableStatus', () => {
  it('retries 408, 429 and every 5xx', () => {
    expect([408, 429, 500, 502, 503, 504, 599].every(isRetryableStatus)).toBe(true);
  });

  it('does not retry success, redirects or other client errors', () => {
    expect([200, 204, 302, 400, 401, 403, 404, 413, 422, 600].some(isRetryableStatus)).toBe(false);
  });
});

describe('resolveHttpPolicy', () => {
  it('fills every setting from DEFAULTS.http and applies overrides', () => {
    expect(resolveHttpPolicy({ attempts: 2 })).toEqual({ ...DEFAULTS.http, attempts: 2 });
  });

  it('names the offending key of an invalid override', () => {
    expect(() => resolveHttpPolicy({ attempts: 0 })).toThrow(
      new ConfigError('http.attempts', 'must be a positive integer'),
    );
    expect(() => resolveHttpPolicy({ timeoutMs: -1 })).toThrow(/^http\.timeoutMs:/);
  });
});
