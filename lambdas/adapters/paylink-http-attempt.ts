/**
 * One HTTP attempt against PayLink through ky, reduced to what the retry loop needs: a status
 * and a body, a timeout, a body over the size cap, or a network failure. Never throws for an
 * HTTP status.
 *
 * The deadline is ours, not ky's or undici's. ky builds `new Request(url, { signal })`, and
 * undici links a Request to the caller's signal only weakly: once garbage collection runs, an
 * abort no longer reaches a body that is still streaming, and a server that trickles one byte
 * every few hundred milliseconds holds the load forever (docs: toolchain-notes.md, "A stalled
 * body can outlive its abort signal"). So each attempt owns a timer (a live timer is held by
 * the event loop, and its closure holds everything it must stop): on expiry it aborts our
 * controller, cancels the body reader (which destroys the stream without any signal), and
 * settles a promise every wait of the attempt races against, so the attempt returns on time
 * whatever the fetch underneath does.
 */
import ky, { isTimeoutError } from 'ky';
import type { JsonValue } from '#core/types.ts';

export interface AttemptRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly json?: JsonValue;
  /** Covers the whole attempt: connection, headers and body (milliseconds). */
  readonly timeoutMs: number;
  /** Largest body accepted, in bytes as received (after any content decoding). */
  readonly maxBodyBytes: number;
}

export type AttemptOutcome =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly retryAfter: string | null;
      readonly body: string;
    }
  | { readonly kind: 'timeout' }
  /** The body (announced by Content-Length, or as read) exceeded `maxBodyBytes`. */
  | { readonly kind: 'too-large'; readonly status: number; readonly limitBytes: number }
  | { readonly kind: 'network'; readonly cause: Error };

export type SendAttempt = (request: AttemptRequest) => Promise<AttemptOutcome>;

/** setTimeout's limit; ky throws a RangeError above it. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Settled by the attempt's timer: every wait of the attempt races against it. */
const EXPIRED = Symbol('expired');

export function createAttemptSender(fetchImpl?: typeof globalThis.fetch): SendAttempt {
  const baseFetch = fetchImpl ?? globalThis.fetch;
  const http = ky.create({
    // Retries are ours (retry-policy.ts): ky's would bypass the rate limiter and our budget.
    retry: 0,
    throwHttpErrors: false,
    // Never follow a redirect: fetch would resend x-api-secret / x-public-token to wherever the
    // Location points. A 3xx is reported as a status instead.
    redirect: 'manual',
  });

  return async (request) => {
    const timeoutMs = Math.min(Math.max(1, Math.ceil(request.timeoutMs)), MAX_TIMEOUT_MS);
    const deadline = new AbortController();
    // Set once the body is being read, so the timer can cancel it.
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    // The response fetch produced, even one that arrives after ky or we gave up on it.
    let raw: Promise<Response> | undefined;
    let expire: (value: typeof EXPIRED) => void = () => {};
    const expired = new Promise<typeof EXPIRED>((resolve) => {
      expire = resolve;
    });
    // Idempotent; also run when ky's own timeout or the size cap ends the attempt first.
    const stop = (): void => {
      deadline.abort();
      if (reader !== undefined) reader.cancel().catch(() => {});
      // Headers that arrive late still open a body: cancel it, or its socket stays open.
      else
        raw
          ?.then(
            (response) => response.body?.cancel(),
            () => {},
          )
          .catch(() => {});
    };
    const timer = setTimeout(() => {
      stop();
      expire(EXPIRED);
    }, timeoutMs);

    // Our signal goes straight to the fetch call too (not only through ky's Request): measured
    // to keep reaching the socket under forced GC. The timer above does not depend on it.
    const fetchWithDeadline: typeof globalThis.fetch = (input, init) => {
      raw = baseFetch(input, { ...init, signal: deadline.signal });
      return raw;
    };

    try {
      const response = await Promise.race([
        http(request.url, {
          method: request.method,
          headers: request.headers,
          ...(request.json === undefined ? {} : { json: request.json }),
          timeout: timeoutMs,
          signal: deadline.signal,
          fetch: fetchWithDeadline,
        }),
        expired,
      ]);
      if (response === EXPIRED) return { kind: 'timeout' };

      const announced = Number(response.headers.get('content-length') ?? Number.NaN);
      if (Number.isFinite(announced) && announced > request.maxBodyBytes) {
        return { kind: 'too-large', status: response.status, limitBytes: request.maxBodyBytes };
      }
      const retryAfter = response.headers.get('retry-after');
      if (response.body === null) return { kind: 'response', status: response.status, retryAfter, body: '' };

      reader = response.body.getReader();
      const chunks: Uint8Array[] = [];
      let received = 0;
      for (;;) {
        const next = await Promise.race([reader.read(), expired]);
        // A cancelled reader reports `done`: only the timer cancels it, so check expiry first.
        if (next === EXPIRED || deadline.signal.aborted) return { kind: 'timeout' };
        if (next.done) break;
        received += next.value.byteLength;
        if (received > request.maxBodyBytes) {
          return { kind: 'too-large', status: response.status, limitBytes: request.maxBodyBytes };
        }
        chunks.push(next.value);
      }
      // Like Response.text(): UTF-8, a leading BOM dropped, invalid bytes replaced.
      const body = new TextDecoder().decode(Buffer.concat(chunks));
      return { kind: 'response', status: response.status, retryAfter, body };
    } catch (error) {
      if (deadline.signal.aborted || isTimeoutError(error)) return { kind: 'timeout' };
      return { kind: 'network', cause: safeCause(error) };
    } finally {
      clearTimeout(timer);
      // Frees the connection of an attempt that ended early; a no-op after a complete body.
      stop();
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
  const inner = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  // fetch refuses a blocklisted port (1, 9, 6000, ...) with a bare Error('bad port'), no code.
  const nested = inner?.message === 'bad port' ? 'BAD_PORT' : inner?.code;
  const direct = (error as { code?: unknown } | null)?.code;
  const code = [nested, direct].find(
    (c): c is string => typeof c === 'string' && /^[A-Z][A-Z0-9_]*$/.test(c),
  );
  return new Error(code === undefined ? name : `${name} (${code})`);
}
