/**
 * The PayLink REST client: mints a user's public token (POST /access-token with our API
 * key/secret) and reads that user's data with it. Retries, the rate limiter and the time
 * budget live in paylink-transport.ts; this file knows PayLink's headers, bodies and tokens.
 */
import type { HttpPolicy } from '#core/config.ts';
import { ConfigError, CredentialsError, MalformedResponseError, PayLinkHttpError } from '#core/errors.ts';
import { parseJsonBody } from '#core/json-body.ts';
import type { PayLinkApi, PayLinkRequest, PayLinkSession } from '#core/ports.ts';
import type { RateLimiter } from '#core/rate-limiter.ts';
import { resolveHttpPolicy } from '#core/retry-policy.ts';
import type { Clock, JsonValue } from '#core/types.ts';
import type { WaitMeter } from '#core/wait-meter.ts';
import { createAccessTokenGate, MintRejection } from './access-token-gate.ts';
import { createAttemptSender } from './paylink-http-attempt.ts';
import { type Accepted, createTransport, originOf, type PayLinkEvent } from './paylink-transport.ts';
import { sleep } from './system-timers.ts';

export type { PayLinkEvent } from './paylink-transport.ts';

export interface PayLinkClientOptions {
  /** `https://api.atomicfi.com` or the sandbox; a path prefix is kept. */
  readonly baseUrl: string;
  readonly credentials: { readonly apiKey: string; readonly apiSecret: string };
  /** Shared by every session of the run: each attempt (retries and re-mints too) waits for it. */
  readonly rateLimiter: RateLimiter;
  readonly http?: Partial<HttpPolicy>;
  readonly fetch?: typeof globalThis.fetch;
  readonly random?: () => number;
  readonly now?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Times the retries' back-off sleeps (429 Retry-After, 5xx and timeout back-off): what
   * adaptive concurrency takes out of the latency, with the rate limiter's waits.
   */
  readonly backoff?: WaitMeter;
  readonly onEvent?: (event: PayLinkEvent) => void;
}

const ACCESS_TOKEN_ENDPOINT = 'POST /access-token';
/** Atomic's own PayLink apps send it; v2 is the version whose shapes the catalog describes. */
const API_VERSION = 'v2';
/** HTTP 401 body code for an expired or invalid public token. */
const EXPIRED_TOKEN_CODE = 40104;
/** Visible ASCII only: anything else is not a token, and fetch would reject it as a header. */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

export function createPayLinkClient(options: PayLinkClientOptions): PayLinkApi {
  const baseUrl = normalizeBaseUrl(options.baseUrl);
  const { apiKey, apiSecret } = options.credentials;
  // Checked here because fetch's own header error would quote the value.
  if (!HEADER_SAFE.test(apiKey) || !HEADER_SAFE.test(apiSecret)) {
    throw new CredentialsError(
      'the PayLink API key and secret must be non-empty printable ASCII without spaces',
    );
  }
  const policy = resolveHttpPolicy(options.http);
  if (!Number.isSafeInteger(policy.maxResponseBytes) || policy.maxResponseBytes < 1) {
    throw new ConfigError('http.maxResponseBytes', 'must be a positive whole number of bytes');
  }
  const transport = createTransport({
    send: createAttemptSender(options.fetch),
    policy,
    rateLimiter: options.rateLimiter,
    now: options.now ?? (() => new Date()),
    random: options.random ?? Math.random,
    sleep: options.sleep ?? sleep,
    backoff: options.backoff,
    onEvent: options.onEvent,
  });

  // One per client: "has this key worked for anybody yet" is a fact about this run's key.
  const gate = createAccessTokenGate();
  const origin = originOf(baseUrl);
  /** An HTTP error that knows where it came from and whether the body was an HTML page. */
  const httpError = (endpoint: string, status: number, apiCode: number | undefined, html: boolean) => {
    const error = new PayLinkHttpError(endpoint, status, apiCode);
    error.origin = origin;
    error.html = html;
    return error;
  };
  const serverHeaders = {
    'x-api-key': apiKey,
    'x-api-secret': apiSecret,
    accept: 'application/json',
    'x-api-version': API_VERSION,
  };

  // Retrying POST /access-token is safe: it creates the user on first call and otherwise gets
  // it, keyed by identifier, so a repeated call after a lost response changes nothing.
  // A 401/403 is never retried; the gate decides whether it is the key's or this user's.
  const mintToken = (identifier: string): Promise<string> =>
    gate.mint(() =>
      transport.request({
        endpoint: ACCESS_TOKEN_ENDPOINT,
        method: 'POST',
        url: `${baseUrl}/access-token`,
        headers: { ...serverHeaders, 'content-type': 'application/json' },
        json: { identifier },
        accept: readToken,
        reject: (status, apiCode, html) =>
          (status === 401 || status === 403) && !html
            ? new MintRejection(status, apiCode)
            : httpError(ACCESS_TOKEN_ENDPOINT, status, apiCode, html),
      }),
    );

  const getJson = (request: PayLinkRequest, token: string): Promise<JsonValue> =>
    transport.request({
      endpoint: request.endpoint,
      method: 'GET',
      url: dataUrl(baseUrl, request),
      // The public token is the user's whole scope on PayLink data calls; the API key and
      // secret go only to endpoints the catalog marks `auth: server` (Atomic's task endpoints).
      headers:
        request.auth === 'server'
          ? serverHeaders
          : { 'x-public-token': token, 'x-api-version': API_VERSION, accept: 'application/json' },
      accept: readJson,
      reject: (status, apiCode, html) => httpError(request.endpoint, status, apiCode, html),
    });

  return {
    async openSession(identifier) {
      const token = await mintToken(identifier);
      return createSession(token, () => mintToken(identifier), getJson, options.onEvent);
    },
    stats: () => transport.stats(),
  };
}

/**
 * A user's session. On 401 code 40104 (token expired) it re-mints ONCE for the whole session;
 * concurrent requests that hit the expiry share that one re-mint, and each retries at most once.
 * A 401 with the re-minted token is final: something other than expiry is wrong.
 */
function createSession(
  initialToken: string,
  mint: () => Promise<string>,
  getJson: (request: PayLinkRequest, token: string) => Promise<JsonValue>,
  onEvent: ((event: PayLinkEvent) => void) | undefined,
): PayLinkSession {
  let token = initialToken;
  let remint: Promise<string> | undefined;
  return {
    async getJson(request) {
      // A server-key call has no token to renew: its 401 is final.
      if (request.auth === 'server') return getJson(request, '');
      const used = token;
      try {
        return await getJson(request, used);
      } catch (error) {
        if (!isExpiredToken(error) || used !== initialToken) throw error;
        if (remint === undefined) {
          onEvent?.({ type: 'remint', endpoint: request.endpoint, status: 401, attempt: 1 });
          remint = mint().then((fresh) => {
            token = fresh;
            return fresh;
          });
        }
        return getJson(request, await remint);
      }
    },
  };
}

function isExpiredToken(error: unknown): boolean {
  return error instanceof PayLinkHttpError && error.status === 401 && error.apiCode === EXPIRED_TOKEN_CODE;
}

/** `{"data": {"publicToken": "..."}}`; legacy examples call it `token`. */
function readToken(body: string): Accepted<string> {
  const parsed = parseJson(body);
  if (!parsed.ok) return parsed;
  const data = isObject(parsed.value) ? parsed.value['data'] : undefined;
  const token = isObject(data) ? (data['publicToken'] ?? data['token']) : undefined;
  // A well-formed body without a token is an API change, not a transient fault: fail at once.
  if (typeof token !== 'string' || !HEADER_SAFE.test(token)) {
    throw new MalformedResponseError(ACCESS_TOKEN_ENDPOINT, 'no usable data.publicToken');
  }
  return { ok: true, value: token };
}

function readJson(body: string, status: number): Accepted<JsonValue> {
  if (status === 204) return { ok: true, value: null };
  return parseJson(body);
}

/** A 2xx body that does not parse is usually a truncated transfer: reported as retryable. */
function parseJson(body: string): Accepted<JsonValue> {
  if (body.trim() === '') return { ok: false, detail: 'empty body' };
  try {
    return { ok: true, value: parseJsonBody(body) };
  } catch {
    // The parser's message quotes the body (personal data): keep only the fact.
    return { ok: false, detail: 'body is not valid JSON' };
  }
}

function isObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function normalizeBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('baseUrl', 'must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError('baseUrl', 'must be an absolute http(s) URL');
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new ConfigError('baseUrl', 'must not carry a query, fragment or user info');
  }
  return url.href.replace(/\/+$/, '');
}

function dataUrl(baseUrl: string, request: PayLinkRequest): string {
  const path = request.path.startsWith('/') ? request.path : `/${request.path}`;
  const query = new URLSearchParams(request.query ?? {}).toString();
  return `${baseUrl}${path}${query === '' ? '' : `?${query}`}`;
}
