/**
 * One HTTP attempt against PayLink through ky, reduced to what the retry loop needs: a status
 * and a body, a timeout, or a network failure. Never throws for an HTTP status.
 */
import ky, { isTimeoutError } from 'ky';
import type { JsonValue } from '#core/types.ts';

export interface AttemptRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly json?: JsonValue;
  /** Covers the whole attempt: connection, headers and body. */
  readonly timeoutMs: number;
}

export type AttemptOutcome =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly retryAfter: string | null;
      readonly body: string;
    }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'network'; readonly cause: Error };

export type SendAttempt = (request: AttemptRequest) => Promise<AttemptOutcome>;

/** setTimeout's limit; ky throws a RangeError above it. */
const MAX_TIMEOUT_MS = 2_147_483_647;

export function createAttemptSender(fetchImpl?: typeof globalThis.fetch): SendAttempt {
  const http = ky.create({
    // Retries are ours (retry-policy.ts): ky's would bypass the rate limiter and our budget.
    retry: 0,
    throwHttpErrors: false,
    // Never follow a redirect: fetch would resend x-api-secret / x-public-token to wherever the
    // Location points. A 3xx is reported as a status instead.
    redirect: 'manual',
    ...(fetchImpl === undefined ? {} : { fetch: fetchImpl }),
  });

  return async (request) => {
    const timeoutMs = Math.min(Math.max(1, Math.ceil(request.timeoutMs)), MAX_TIMEOUT_MS);
    // ky's timeout stops at the response headers; this deadline also covers a stalled body.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    try {
      const response = await http(request.url, {
        method: request.method,
        headers: request.headers,
        ...(request.json === undefined ? {} : { json: request.json }),
        timeout: timeoutMs,
        signal: deadline.signal,
      });
      const body = await response.text();
      return {
        kind: 'response',
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body,
      };
    } catch (error) {
      if (deadline.signal.aborted || isTimeoutError(error)) return { kind: 'timeout' };
      return { kind: 'network', cause: safeCause(error) };
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * A stand-in for a fetch failure that keeps only its name and system error code
 * (`TypeError (ECONNREFUSED)`). The original is dropped on purpose: ky's errors hold the Request,
 * whose headers carry the API secret or the public token, and a logger would print them.
 */
function safeCause(error: unknown): Error {
  const name = error instanceof Error ? error.name : 'Error';
  const nested = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  const direct = (error as { code?: unknown } | null)?.code;
  const code = [nested, direct].find(
    (c): c is string => typeof c === 'string' && /^[A-Z][A-Z0-9_]*$/.test(c),
  );
  return new Error(code === undefined ? name : `${name} (${code})`);
}
