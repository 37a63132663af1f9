/**
 * One error class per failure mode. Every message names what was wrong (a config key, a
 * resource, an HTTP status) and never carries a secret or a payload value.
 * `retryable` tells an orchestrator (ky's caller, Step Functions) whether trying again can help.
 *
 * Every class here names itself with a string literal (`name = 'ConfigError'`) rather than
 * relying on `new.target.name`: the Lambda bundles are minified, which renames classes, and
 * Step Functions matches its retry policy on the `errorType` Lambda reports, i.e. `error.name`
 * (test/infra/lambda-e2e.test.ts checks the bundled names).
 */
export class LoaderError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(message: string, options: { code: string; retryable?: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // Only a fallback for subclasses declared elsewhere (internal ones that never leave a handler).
    this.name = new.target.name;
    this.code = options.code;
    this.retryable = options.retryable ?? false;
  }
}

/** Invalid configuration or command-line input. `key` names the offending setting. */
export class ConfigError extends LoaderError {
  override readonly name: string = 'ConfigError';
  readonly key: string;
  constructor(key: string, message: string, cause?: unknown) {
    super(`${key}: ${message}`, { code: 'config_invalid', cause });
    this.key = key;
  }
}

/** Credentials missing, unreadable or malformed. Never includes the secret's value. */
export class CredentialsError extends LoaderError {
  override readonly name: string = 'CredentialsError';
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'credentials_invalid', cause });
  }
}

/**
 * PayLink answered with an HTTP error (after retries, for retryable statuses).
 * `apiCode` is the body's numeric `code` when present (40104: expired public token).
 */
export class PayLinkHttpError extends LoaderError {
  override readonly name: string = 'PayLinkHttpError';
  readonly status: number;
  readonly apiCode: number | undefined;
  readonly endpoint: string;
  /** Where the answer came from (`https://host[:port]`, no path, never credentials); set by the client. */
  origin: string | undefined;
  /** The error body was an HTML page, not PayLink's `{"message", "code"}`: likely not PayLink at all. */
  html = false;
  constructor(endpoint: string, status: number, apiCode?: number, cause?: unknown) {
    const retryable = status === 429 || status >= 500;
    super(`PayLink ${endpoint} answered HTTP ${status}${apiCode === undefined ? '' : ` (code ${apiCode})`}`, {
      code: status === 429 ? 'http_429' : `http_${status}`,
      retryable,
      cause,
    });
    this.status = status;
    this.apiCode = apiCode;
    this.endpoint = endpoint;
  }
}

/**
 * Our API key/secret was rejected (access-token answered 401/403). Systemic: every user would
 * fail the same way, so a batch stops at once instead of recording N identical failures.
 */
export class ApiKeyRejectedError extends PayLinkHttpError {
  override readonly name = 'ApiKeyRejectedError';
  constructor(status: number, apiCode?: number) {
    super('POST /access-token', status, apiCode);
    this.message = `PayLink rejected the API key/secret (HTTP ${status} on POST /access-token): check the credentials`;
  }
}

/**
 * Access-token answered 401/403 for one identifier while the same key has minted tokens for
 * other users: that user's failure, not the key's (PayLink refuses some identifiers). Not
 * retried. `status` is kept so `user_loads.http_status` shows what PayLink said.
 */
export class AccessTokenRejectedError extends LoaderError {
  override readonly name: string = 'AccessTokenRejectedError';
  readonly endpoint = 'POST /access-token';
  readonly status: number;
  readonly apiCode: number | undefined;
  constructor(status: number, apiCode?: number) {
    super(
      `PayLink POST /access-token answered HTTP ${status}${apiCode === undefined ? '' : ` (code ${apiCode})`} for this user, while the API key works for others`,
      { code: 'access_token_rejected' },
    );
    this.status = status;
    this.apiCode = apiCode;
  }
}

/** Timeouts and connection failures that outlived the retry budget. */
export class PayLinkNetworkError extends LoaderError {
  override readonly name: string = 'PayLinkNetworkError';
  readonly endpoint: string;
  /** `https://host[:port]` the request went to (no path, never credentials). */
  readonly origin: string | undefined;
  /** Plain words for the cause: `connection refused`, `TLS certificate rejected`, `timed out`. */
  readonly reason: string;
  constructor(endpoint: string, kind: 'timeout' | 'network', cause?: unknown, origin?: string) {
    const reason = kind === 'timeout' ? 'timed out' : networkReason(cause);
    super(
      `PayLink ${endpoint}: ${kind === 'timeout' ? 'timed out' : `network error (${reason})`} after retries`,
      {
        code: kind,
        retryable: true,
        cause,
      },
    );
    this.endpoint = endpoint;
    this.origin = origin;
    this.reason = reason;
  }
}

/** Node's system error codes (kept by the HTTP adapter as `TypeError (ECONNREFUSED)`) in plain words. */
function networkReason(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : '';
  const code = /\(([A-Z][A-Z0-9_]*)\)/.exec(text)?.[1];
  if (code === undefined) return 'network error';
  return systemErrorWords(code);
}

/**
 * A system error code in plain words, for messages that name the real cause: Node's network
 * and file system codes (ECONNREFUSED, ENOSPC...), undici's (UND_ERR_...), OpenSSL's certificate and TLS codes, and
 * BAD_PORT: fetch refuses the ports of the Fetch standard's blocklist (1, 9, 6000, 10080, ...)
 * without trying them (https://fetch.spec.whatwg.org/#port-blocking). Unknown codes are kept.
 */
export function systemErrorWords(code: string): string {
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'connection timed out',
    EPIPE: 'connection closed while sending',
    EPROTO: 'TLS handshake failed (is the server plain http?)',
    UND_ERR_SOCKET: 'connection closed',
    UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
    UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for the answer',
    BAD_PORT:
      'port refused by fetch: it is on the blocklist of ports browsers and Node never connect to (use another port)',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on the device',
    EROFS: 'read-only file system',
    EMFILE: 'too many open files',
  };
  if (words[code]) return words[code];
  if (/CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return `TLS certificate rejected (${code})`;
  return code;
}

/**
 * A response body larger than `http.maxResponseBytes` (announced by Content-Length or counted
 * as it arrived). Not retried: the same request would bring the same body. Fails one unit.
 */
export class ResponseTooLargeError extends LoaderError {
  override readonly name: string = 'ResponseTooLargeError';
  readonly endpoint: string;
  readonly status: number;
  readonly limitBytes: number;
  constructor(endpoint: string, status: number, limitBytes: number) {
    super(
      `PayLink ${endpoint}: response body larger than ${limitBytes} bytes (HTTP ${status}); raise http.maxResponseBytes if it is genuine`,
      { code: 'response_too_large' },
    );
    this.endpoint = endpoint;
    this.status = status;
    this.limitBytes = limitBytes;
  }
}

/** A 2xx body that is not JSON (or not the JSON shape a resource can use). */
export class MalformedResponseError extends LoaderError {
  override readonly name: string = 'MalformedResponseError';
  readonly endpoint: string;
  readonly detail: string;
  /** `https://host[:port]` that answered (set by the transport); never credentials. */
  readonly origin: string | undefined;
  constructor(endpoint: string, detail: string, cause?: unknown, origin?: string) {
    super(`PayLink ${endpoint}: malformed response (${detail})`, {
      code: 'malformed_response',
      retryable: true,
      cause,
    });
    this.endpoint = endpoint;
    this.detail = detail;
    this.origin = origin;
  }
}

/**
 * None of the data selectors matched. Names the top-level keys that look like field names (a
 * few of them), and how many others there were; never a value, and never a key that looks like
 * an identifier or a value (a body keyed by user identifiers, account ids, card numbers or
 * merchant names): select.ts decides which keys are shown.
 */
export class SelectorError extends LoaderError {
  override readonly name: string = 'SelectorError';
  readonly resource: string;
  /** The keys shown: field names only. */
  readonly keysSeen: readonly string[];
  /** Top-level keys (and keys under `data`) not shown: past the few shown, or not field names. */
  readonly keysNotShown: number;
  constructor(resource: string, tried: readonly string[], keysSeen: readonly string[], keysNotShown = 0) {
    super(
      `resource ${resource}: no data at ${tried.map((t) => `'${t}'`).join(', ')}; top-level keys seen: ${describeKeys(
        keysSeen,
        keysNotShown,
      )}`,
      { code: 'selector_not_found' },
    );
    this.resource = resource;
    this.keysSeen = keysSeen;
    this.keysNotShown = keysNotShown;
  }
}

/** `'a', 'b' and 3 more not shown (...)`: the words of a SelectorError and of an endpoint finding. */
export function describeKeys(shown: readonly string[], notShown: number): string {
  const listed = shown.map((k) => `'${k}'`).join(', ');
  if (notShown === 0) return listed || '(none)';
  const why = `not shown: only a few field names are, never keys that look like identifiers or values`;
  return shown.length === 0 ? `${notShown} ${why}` : `${listed} and ${notShown} more ${why}`;
}

/**
 * A paginator asked for more pages than `DEFAULTS.pagination.maxPages`: an API that never
 * stops (or changed its paging) must not keep a Lambda busy until its deadline.
 */
export class PaginationLimitError extends LoaderError {
  override readonly name: string = 'PaginationLimitError';
  readonly endpoint: string;
  readonly maxPages: number;
  constructor(endpoint: string, maxPages: number) {
    super(`PayLink ${endpoint}: more than ${maxPages} pages; stopping (check the resource's paginator)`, {
      code: 'pagination_limit',
    });
    this.endpoint = endpoint;
    this.maxPages = maxPages;
  }
}

/**
 * Nothing works: the first users of a load all failed at the network, TLS, or got bodies that
 * are not PayLink's (an HTML page, not JSON). Recording N identical user failures and committing
 * them would hide the one cause, so the load stops and commits nothing. Not retryable by an
 * orchestrator: the same load would meet the same wall.
 */
export class SystemicFailureError extends LoaderError {
  override readonly name: string = 'SystemicFailureError';
  /** Users that failed alike before the load stopped. */
  readonly users: number;
  constructor(cause: string, users: number, error?: unknown) {
    super(`${cause} (the first ${users} user${users === 1 ? '' : 's'} all failed this way)`, {
      code: 'systemic_failure',
      cause: error,
    });
    this.users = users;
  }
}

/**
 * A systemic failure that may heal by itself: PayLink unreachable, or answering 5xx after
 * retries. The deployed workflow retries the batch after a pause (a short outage at the start of
 * a run must not lose the run); the CLI stops at once, as for any SystemicFailureError.
 */
export class PayLinkUnavailableError extends SystemicFailureError {
  override readonly name: string = 'PayLinkUnavailableError';
}

/** Reading or writing the lake failed. `key` is the object key (never data). */
export class StoreError extends LoaderError {
  override readonly name: string = 'StoreError';
  readonly key: string;
  constructor(key: string, message: string, cause?: unknown) {
    super(`lake ${key}: ${message}`, { code: 'store_failed', retryable: true, cause });
    this.key = key;
  }
}

/** The lake's own metadata (schema registry, manifests, markers) is unreadable or inconsistent. */
export class LakeStateError extends LoaderError {
  override readonly name: string = 'LakeStateError';
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'lake_state_invalid', cause });
  }
}

/**
 * Another run holds the lease of this load id (lease.ts): two runs of one load id would
 * interleave their parts. Names the holder so an operator can find it.
 */
export class LeaseHeldError extends LoaderError {
  override readonly name: string = 'LeaseHeldError';
  readonly loadId: string;
  /** Who holds it, as `describeHolder` words it (kind, id, host, pid, command, times). */
  readonly holder: string;
  constructor(loadId: string, holder: string, cause?: unknown) {
    super(`load ${loadId} is being written by ${holder}`, { code: 'lease_held', cause });
    this.loadId = loadId;
    this.holder = holder;
  }
}

/** This run's lease expired and another run took the load id over: stop before publishing. */
export class LeaseLostError extends LoaderError {
  override readonly name: string = 'LeaseLostError';
  readonly loadId: string;
  constructor(loadId: string, detail: string) {
    super(`load ${loadId}: this run lost its lease (${detail}); nothing more is written`, {
      code: 'lease_lost',
    });
    this.loadId = loadId;
  }
}

/**
 * A commit stopped between publishing its first part and its commit point (the `_dlt_loads`
 * row). Readers see nothing of the load through the documented reading paths, but files are
 * under the table folders: `publishedParts` of them, plus, when `hidEarlierCommit`, an earlier
 * committed attempt of the same load id that this one retracted first. A re-run of the load id
 * finishes it (every commit step is idempotent).
 */
export class CommitIncompleteError extends LoaderError {
  override readonly name: string = 'CommitIncompleteError';
  readonly loadId: string;
  readonly publishedParts: number;
  readonly hidEarlierCommit: boolean;
  constructor(loadId: string, publishedParts: number, hidEarlierCommit: boolean, cause: unknown) {
    const detail =
      cause instanceof LoaderError
        ? cause.message
        : cause instanceof Error
          ? `internal error (${cause.name}): ${redactQuoted(cause.message)}`
          : 'an internal error';
    super(
      `load ${loadId} is not committed: ${publishedParts} part${publishedParts === 1 ? ' was' : 's were'} ` +
        'published but are invisible through the documented reading paths (history and current ' +
        `views, Athena)${hidEarlierCommit ? ', and its earlier committed attempt is hidden until it commits' : ''}; ` +
        `the commit stopped on: ${detail}`,
      { code: 'commit_incomplete', retryable: cause instanceof LoaderError && cause.retryable, cause },
    );
    this.loadId = loadId;
    this.publishedParts = publishedParts;
    this.hidEarlierCommit = hidEarlierCommit;
  }
}

/**
 * The run was asked to stop (SIGINT/SIGTERM): users in flight finished, nothing was committed,
 * and every batch staged so far is kept for a resume (`load --resume <load_id>`).
 */
export class InterruptedError extends LoaderError {
  override readonly name: string = 'InterruptedError';
  readonly loadId: string;
  /** Users whose data is staged (this run and earlier attempts of the load id). */
  readonly usersStaged: number;
  readonly usersTotal: number;
  constructor(loadId: string, usersStaged: number, usersTotal: number) {
    super(`load ${loadId} interrupted: ${usersStaged} of ${usersTotal} users staged, nothing committed`, {
      code: 'interrupted',
    });
    this.loadId = loadId;
    this.usersStaged = usersStaged;
    this.usersTotal = usersTotal;
  }
}

/** A Glue Data Catalog call failed. Names the database/table and the operation, never column data. */
export class CatalogError extends LoaderError {
  override readonly name: string = 'CatalogError';
  readonly table: string;
  constructor(table: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(`glue ${table}: ${message}`, {
      code: 'catalog_failed',
      retryable: options.retryable,
      cause: options.cause,
    });
    this.table = table;
  }
}

/** A short, safe description of any error for logs and user_loads: our own messages only. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof LoaderError) return { code: error.code, message: error.message };
  return { code: 'internal', message: error instanceof Error ? error.name : 'unknown error' };
}

/**
 * A message that did not come from this code (Node's, a library's, the AWS SDK's) with every
 * quoted part replaced by `…`. Such messages quote the input they failed on: JSON.parse's
 * `Unexpected token 'u', "user-1 ann@example.com"... is not valid JSON` quotes a damaged file's
 * first characters (identifiers, values), Node's argument errors quote the value received. What
 * is left (`Unexpected token '…', "…"... is not valid JSON`) still says what went wrong.
 */
export function redactQuoted(message: string): string {
  return message.replace(
    /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g,
    (quoted) => `${quoted[0]}…${quoted[0]}`,
  );
}

/** One line a log may carry for any error: ours as written, any other with its quotes redacted. */
export function safeErrorMessage(error: unknown): string {
  if (error instanceof LoaderError) return error.message;
  if (error instanceof Error) return redactQuoted(error.message);
  return typeof error === 'string' ? redactQuoted(error) : 'unknown error';
}

/** An error as a log line carries it (`loggableError`). */
export interface LoggableError {
  readonly name: string;
  readonly message: string;
  readonly location?: string;
  readonly stack?: string;
  readonly code?: string;
  readonly cause?: LoggableError;
  readonly [property: string]: unknown;
}

/** An error's stack frames (`    at ...` lines), without the message lines above them. */
function stackFrames(error: Error): string[] {
  return (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
}

/** A stack whose first line is `name: message` (a redacted message), then the frames. */
function stackUnder(name: string, message: string, frames: readonly string[]): string {
  return [`${name}: ${message}`, ...frames].join('\n');
}

/** Causes followed below an error: a chain longer than this is a loop or noise. */
const MAX_CAUSE_DEPTH = 5;

/**
 * What a handler logs for an error, in place of the error itself: a logger (Powertools)
 * prints an error's message, stack, every enumerable property and its cause chain as they are,
 * and a cause can quote a damaged file or a response (a SyntaxError's first characters of the
 * text). Here the message is `safeErrorMessage`'s, the stack is the error's frames under that
 * message, our errors keep their scalar properties (status, endpoint, object key, code; not
 * lists such as a SelectorError's keys), other errors only an AWS SDK's HTTP status and a
 * system error code, and causes are followed the same way.
 */
export function loggableError(error: unknown, depth = 0): LoggableError {
  if (!(error instanceof Error)) return { name: typeof error, message: safeErrorMessage(error) };
  const message = safeErrorMessage(error);
  const frames = stackFrames(error);
  const location = /\(([^()]+:\d+):\d+\)$|at ([^ ()]+:\d+):\d+$/.exec(frames[0] ?? '');
  const properties: Record<string, unknown> = {};
  if (error instanceof LoaderError) {
    for (const [key, value] of Object.entries(error))
      if (['string', 'number', 'boolean'].includes(typeof value)) properties[key] = value;
  } else {
    const { code, $metadata } = error as { code?: unknown; $metadata?: { httpStatusCode?: unknown } };
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code)) properties.code = code;
    if (typeof $metadata?.httpStatusCode === 'number') properties.httpStatusCode = $metadata.httpStatusCode;
  }
  const cause = (error as { cause?: unknown }).cause;
  return {
    ...properties,
    name: error.name,
    message,
    ...(location ? { location: location[1] ?? location[2] } : {}),
    stack: stackUnder(error.name, message, frames),
    ...(cause !== undefined && depth < MAX_CAUSE_DEPTH ? { cause: loggableError(cause, depth + 1) } : {}),
  };
}

/**
 * The error a handler throws, made safe to leave it: Lambda writes a thrown error's message and
 * stack to the function's log (the runtime's `Invoke Error` line) and hands them to Step
 * Functions as the failure's cause. Ours are written safe; any other error gets its message (and
 * the stack's copy of it) quote-redacted in place, keeping its class and name, which Step
 * Functions' retry policies match on.
 */
export function withSafeMessage<E>(error: E): E {
  if (!(error instanceof Error) || error instanceof LoaderError) return error;
  const message = safeErrorMessage(error);
  if (message === error.message) return error;
  try {
    error.message = message;
    error.stack = stackUnder(error.name, message, stackFrames(error));
  } catch {
    // A frozen error keeps its text; the log line (loggableError) is redacted either way.
  }
  return error;
}
