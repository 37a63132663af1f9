/**
 * Sends one logical PayLink request: every attempt waits for the shared rate limiter, transient
 * failures are retried with retry-policy.ts delays, bounded by attempts and a total time budget.
 */
import type { HttpPolicy } from '#core/config.ts';
import {
  MalformedResponseError,
  PayLinkHttpError,
  PayLinkNetworkError,
  ResponseTooLargeError,
} from '#core/errors.ts';
import { parseJsonBody } from '#core/json-body.ts';
import { type RateLimiter, signalThrottled } from '#core/rate-limiter.ts';
import { isRetryableStatus, retryDelayMs } from '#core/retry-policy.ts';
import type { Clock, JsonValue } from '#core/types.ts';
import type { WaitMeter } from '#core/wait-meter.ts';
import type { SendAttempt } from './paylink-http-attempt.ts';

/** What the client reports as it works: endpoint labels, statuses and delays, never values. */
export interface PayLinkEvent {
  readonly type: 'request' | 'retry' | 'remint';
  /** The endpoint label (a path template), never a user id or token. */
  readonly endpoint: string;
  readonly status?: number;
  /** 1-based attempt of the logical request. */
  readonly attempt: number;
  /** For `retry`: the wait before the next attempt. */
  readonly delayMs?: number;
  /**
   * For `request`: when the attempt was sent (epoch ms, the transport's clock). The event itself
   * comes when the response does, possibly a minute later; per-minute counts of what was sent
   * (what the rate limiter paces) take this time.
   */
  readonly sentAt?: number;
}

/** A 2xx body read into a value, or a reason to believe it was damaged in transit (retried). */
export type Accepted<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly detail: string };

export interface TransportCall<T> {
  readonly endpoint: string;
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly json?: JsonValue;
  /** Reads a 2xx body; may throw a non-retryable error (e.g. a valid body without the field we need). */
  readonly accept: (body: string, status: number) => Accepted<T>;
  /**
   * The error for a status that no retry can change (4xx other than 408/429, 3xx). `html`: the
   * error body is an HTML page (a web server or gateway answered, not PayLink).
   */
  readonly reject: (status: number, apiCode: number | undefined, html: boolean) => Error;
}

export interface TransportDeps {
  readonly send: SendAttempt;
  readonly policy: HttpPolicy;
  readonly rateLimiter: RateLimiter;
  readonly now: Clock;
  readonly random: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Times each retry's back-off (a 429's Retry-After included): adaptive concurrency takes it out of the latency. */
  readonly backoff?: WaitMeter | undefined;
  readonly onEvent?: ((event: PayLinkEvent) => void) | undefined;
}

export interface Transport {
  request<T>(call: TransportCall<T>): Promise<T>;
  stats(): { requests: number; retries: number; timeouts: number };
}

type Failure =
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly apiCode: number | undefined;
      readonly retryAfter: string | null;
    }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'network'; readonly cause: Error }
  | { readonly kind: 'malformed'; readonly detail: string };

type Attempt<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly failure: Failure };

export function createTransport(deps: TransportDeps): Transport {
  const counters = { requests: 0, retries: 0, timeouts: 0 };
  const emit = (event: PayLinkEvent): void => deps.onEvent?.(event);

  async function attemptOnce<T>(
    call: TransportCall<T>,
    attempt: number,
    timeoutMs: number,
  ): Promise<Attempt<T>> {
    counters.requests++;
    const sentAt = deps.now().getTime();
    const outcome = await deps.send({
      method: call.method,
      url: call.url,
      headers: call.headers,
      json: call.json,
      timeoutMs,
      maxBodyBytes: deps.policy.maxResponseBytes,
    });
    if (outcome.kind === 'too-large') {
      emit({ type: 'request', endpoint: call.endpoint, status: outcome.status, attempt, sentAt });
      throw new ResponseTooLargeError(call.endpoint, outcome.status, outcome.limitBytes);
    }
    if (outcome.kind !== 'response') {
      // No answer in time: adaptive concurrency shrinks when these rise (ours or PayLink's slowness).
      if (outcome.kind === 'timeout') counters.timeouts++;
      emit({ type: 'request', endpoint: call.endpoint, attempt, sentAt });
      return { ok: false, failure: outcome };
    }
    const { status, body } = outcome;
    emit({ type: 'request', endpoint: call.endpoint, status, attempt, sentAt });
    if (status >= 200 && status < 300) {
      const accepted = call.accept(body, status);
      if (accepted.ok) return accepted;
      const detail = isHtml(body) ? 'an HTML page, not JSON' : accepted.detail;
      return { ok: false, failure: { kind: 'malformed', detail } };
    }
    // Over the server's rate: the shared limiter slows every user of the run down, not just this
    // request's retry (which Retry-After times). A 5xx says nothing about our pace.
    if (status === 429) signalThrottled(deps.rateLimiter);
    const apiCode = apiCodeOf(body);
    if (!isRetryableStatus(status)) throw call.reject(status, apiCode, isHtml(body));
    return { ok: false, failure: { kind: 'status', status, apiCode, retryAfter: outcome.retryAfter } };
  }

  async function request<T>(call: TransportCall<T>): Promise<T> {
    const { policy } = deps;
    await deps.rateLimiter.acquire();
    // The budget starts with the first attempt: queueing behind other users is not this request's fault.
    const startedAt = deps.now().getTime();
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) await deps.rateLimiter.acquire();
      const remainingMs = policy.requestBudgetMs - (deps.now().getTime() - startedAt);
      const result = await attemptOnce(call, attempt, Math.min(policy.timeoutMs, Math.max(1, remainingMs)));
      if (result.ok) return result.value;
      const { failure } = result;
      if (attempt >= policy.attempts) throw finalError(call, failure);
      const now = deps.now();
      const retryAfter = failure.kind === 'status' ? failure.retryAfter : null;
      const delayMs = retryDelayMs({ attempt, retryAfter, now, random: deps.random, policy });
      // Waiting past the budget only to fail later helps nobody: give up now.
      if (now.getTime() - startedAt + delayMs >= policy.requestBudgetMs) throw finalError(call, failure);
      counters.retries++;
      const status = failure.kind === 'status' ? failure.status : undefined;
      emit({
        type: 'retry',
        endpoint: call.endpoint,
        attempt,
        delayMs,
        ...(status === undefined ? {} : { status }),
      });
      const backedOff = deps.backoff?.begin();
      try {
        await deps.sleep(delayMs);
      } finally {
        backedOff?.();
      }
    }
  }

  return { request, stats: () => ({ ...counters }) };
}

/** The error for a transient failure that outlived the retry budget. */
function finalError(call: { endpoint: string; url: string }, failure: Failure): Error {
  const { endpoint } = call;
  const origin = originOf(call.url);
  switch (failure.kind) {
    case 'status': {
      const error = new PayLinkHttpError(endpoint, failure.status, failure.apiCode);
      error.origin = origin;
      return error;
    }
    case 'timeout':
      return new PayLinkNetworkError(endpoint, 'timeout', undefined, origin);
    case 'network':
      return new PayLinkNetworkError(endpoint, 'network', failure.cause, origin);
    case 'malformed':
      return new MalformedResponseError(endpoint, failure.detail, undefined, origin);
  }
}

/** `scheme://host[:port]` of a request URL: safe to print (base URLs carry no user info). */
export function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** An HTML page where PayLink would send JSON: a web server, CDN or gateway answered instead. */
export function isHtml(body: string): boolean {
  return /^\s*<(?:!doctype|html|head|body|\?xml|h1|title)/i.test(body);
}

/** The numeric `code` of an error body (`{"message": "...", "code": 40104}`), if there is one. */
export function apiCodeOf(body: string): number | undefined {
  let parsed: unknown;
  try {
    parsed = parseJsonBody(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const code = (parsed as { code?: unknown }).code;
  if (typeof code === 'number' && Number.isInteger(code)) return code;
  if (typeof code === 'string' && /^\d{1,9}$/.test(code)) return Number(code);
  return undefined;
}
