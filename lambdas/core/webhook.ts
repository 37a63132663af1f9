/**
 * Atomic webhooks in: verify, parse, store once. The Lambda handler (lambdas/handlers/webhook.ts)
 * and the local server (`paylink-loader webhooks`) are thin shells over `receiveWebhook`.
 *
 * What Atomic sends (../shared/docs/paylink-api.md, "Webhooks"; Atomic's webhook docs):
 *  - a POST, CloudEvents binary mode: headers `ce-id`, `ce-type`, `ce-time`, `ce-source`,
 *    `ce-specversion`; body `{"eventType", "eventTime", "user": {"_id", "identifier"}, "data"}`;
 *  - header `X-HMAC-Signature-Sha-256` = HMAC-SHA256 of the raw body bytes keyed with the API
 *    secret. The docs do not name the digest's text encoding: we accept lowercase or uppercase
 *    hex (what Node's and Python's HMAC helpers print, and what Atomic's examples compare with),
 *    base64 and base64url (padded or not). Each decodes to the same 32 bytes, compared in
 *    constant time, so accepting them all widens nothing an attacker can use. The docs do not
 *    say the header is sent once or bare either: a `sha256=` prefix (GitHub's style, any case)
 *    is accepted, and so is a list of up to `WEBHOOK.maxSignatures` digests (a repeated header:
 *    Node joins copies with `, `, Function URLs with `,`) when any one verifies
 *    (`signatureHeaderDigests`);
 *  - any non-200 answer is retried 3 times, 30 s apart; operators can replay events.
 *
 * The receiver has one path, `WEBHOOK.path` (the root of the Function URL, and of
 * `http://127.0.0.1:<port>` locally: the address README and deploy.md tell senders to use).
 * `routeWebhook` decides for both shells, before the body is read: another path is 404, another
 * method on the path 405. So a scanner's requests to `/admin` or `/.env` are not counted as
 * unsigned webhooks, and they cost no secret read or hashing.
 *
 * Order of checks, each failing closed and storing nothing: size (413, before any hashing), the
 * signature over the raw bytes (401: missing or wrong), then the JSON shape (400). An unsigned
 * caller never learns whether its body would have parsed. Rejections carry a fixed reason for
 * our logs and a fixed, detail-free answer for the caller (`webhookResponse`).
 *
 * Storage: `_events/dt=<received UTC date>/<event key>.json`, written create-only, so a retried
 * or replayed event finds its object and is acknowledged as a duplicate without a second copy.
 * The event key is the body's digest alone (`eventKey`): the `ce-*` headers are not signed, so
 * they cannot decide it. The stored `cloudEvent` headers are those of the first delivery, as
 * sent (unsigned: informative only).
 *
 * A signed event whose `user.identifier` no users list could hold (a control character, blank,
 * over 1,024 characters; users-stream.ts) or that is not a safe path segment (`.`, `..`:
 * path-segment.ts) is refused with 400 (`bad-identifier`), and one whose task id (`taskIdOf`) is
 * not a safe path segment with 400 (`bad-task-id`): it could never be loaded (its requests would
 * name another resource), and storing it would hide that.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { nestedDeeperThan, parseJsonBody } from './json-body.ts';
import { NumberLiteral } from './number-literal.ts';
import { isSafePathSegment } from './path-segment.ts';
import type { ObjectStore } from './ports.ts';
import { isListableIdentifier } from './users-stream.ts';

/** Limits and names, in one place. */
export const WEBHOOK = {
  /**
   * Largest body accepted, bytes. Atomic's events are small JSON documents (ids, a status, a
   * few fields); 256 KiB leaves two orders of magnitude of room and bounds the work an
   * unauthenticated caller can make us do (the body is rejected before it is hashed).
   */
  maxBodyBytes: 256 * 1024,
  /** HTTP header names are case-insensitive (RFC 9110 §5.1): looked up lower-cased. */
  signatureHeader: 'x-hmac-signature-sha-256',
  /** Where accepted events wait to be loaded (architecture.md, lake layout). */
  eventsPrefix: '_events/',
  /** SHA-256 digest length, bytes. */
  digestBytes: 32,
  /**
   * Most digests one request's signature header(s) may carry (`signatureHeaderDigests`): a
   * repeated header, or a sender signing with an old and a new secret during a rotation, gives
   * two; a handful bounds the hashing-free comparisons a forged request can ask for.
   */
  maxSignatures: 4,
  /**
   * After a signature fails with the cached secret, the receiver reads the secret again (a key
   * rotated since the container started), at most once per this many seconds per container:
   * well inside Atomic's retries (3, 30 s apart), and a flood of forged requests costs at most
   * one Secrets Manager read per container per interval.
   */
  secretRereadSeconds: 30,
  /**
   * Deepest nesting of arrays and objects accepted in a body. Atomic's events are a few levels
   * deep; a value thousands of levels deep stored once stopped every later load (its encoding
   * overflowed the stack), so it is refused as malformed, and a stored one is set aside.
   */
  maxNestingDepth: 64,
  /** The one path events are POSTed to (`routeWebhook`): the root of the receiver's URL. */
  path: '/',
  /** The one method accepted on it. */
  method: 'POST',
} as const;

/** Event types Atomic documents for PayLink and Switch flows; anything else logs as `other`. */
export const KNOWN_EVENT_TYPES = [
  'pay-link-accounts-updated',
  'task-status-updated',
  'task-authentication-status-updated',
  'task-status-patched',
] as const;
export type KnownEventType = (typeof KNOWN_EVENT_TYPES)[number];

/** Header values as Node's `IncomingMessage` or a Lambda event gives them; names in any case. */
export type WebhookHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface WebhookRequest {
  readonly headers: WebhookHeaders;
  /** The raw body bytes, exactly as received (the signature covers these bytes). */
  readonly body: Uint8Array;
}

export interface WebhookDeps {
  readonly store: ObjectStore;
  /** The PayLink API secret (the HMAC key). Never logged, never stored. */
  readonly secret: string;
  /** When the request arrived (the handler's clock): partitions the event and is stored with it. */
  readonly receivedAt: Date;
  /** Defaults to `WEBHOOK.maxBodyBytes`. */
  readonly maxBodyBytes?: number;
}

export type RejectReason =
  | 'not-found'
  | 'method-not-allowed'
  | 'too-large'
  | 'unsigned'
  | 'bad-signature'
  | 'malformed'
  | 'bad-identifier'
  | 'bad-task-id';

export type WebhookOutcome =
  | {
      readonly kind: 'accepted';
      readonly status: 200;
      /** `created`: first time we see this event; `duplicate`: its object already existed. */
      readonly stored: 'created' | 'duplicate';
      /** Lake key of the stored event (no payload value in it: a hash and a date). */
      readonly key: string;
      /** A known event type, or `other`: safe to log and count. */
      readonly eventType: KnownEventType | 'other';
      readonly bytes: number;
    }
  | {
      readonly kind: 'rejected';
      readonly status: 400 | 401 | 404 | 405 | 413;
      readonly reason: RejectReason;
      /** The body's bytes; 0 for a request refused by its path or method (`routeWebhook`): its body is not read. */
      readonly bytes: number;
    };

const REJECT_STATUS: Record<RejectReason, 400 | 401 | 404 | 405 | 413> = {
  'not-found': 404,
  'method-not-allowed': 405,
  'too-large': 413,
  unsigned: 401,
  'bad-signature': 401,
  malformed: 400,
  'bad-identifier': 400,
  'bad-task-id': 400,
};

/** The parsed, shape-checked body. Values are Atomic's; the core never logs them. */
export interface WebhookEvent {
  readonly eventType: string;
  /**
   * Atomic's `eventTime`, when it is non-empty text (whatever it says: `yesterday` is kept as
   * sent). Optional: Atomic documents it as always present, but the event's user and type are
   * what decide a load; a signed event without a usable time is stored, not lost to a 400.
   * Nothing orders or selects events by it: receipt does (event-log.ts).
   */
  readonly eventTime?: string;
  readonly user: { readonly _id?: string; readonly identifier: string };
  readonly data: Readonly<Record<string, unknown>>;
  /** The task the event names (`taskIdOf`), when it names one. */
  readonly taskId: string | null;
}

/** The CloudEvents context attributes sent as `ce-*` headers (binary mode), when present. */
export interface CloudEventHeaders {
  readonly id?: string;
  readonly type?: string;
  readonly time?: string;
  readonly source?: string;
  readonly specversion?: string;
}

/** A header's value by case-insensitive name; repeated headers count as absent-or-ambiguous (first wins). */
export function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  return headerValues(headers, name)[0];
}

/** Every value a header has, by case-insensitive name (a header given as a list, or under names differing in case). */
export function headerValues(headers: WebhookHeaders, name: string): string[] {
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    values.push(...(typeof value === 'string' ? [value] : value));
  }
  return values;
}

const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;
/** Standard base64 (`+/`), its one `=` of padding optional. */
const BASE64_DIGEST = /^[A-Za-z0-9+/]{43}=?$/;
/**
 * base64url (`-_`, RFC 4648 section 5: Node's `digest('base64url')`, JWT-style signers), padding
 * optional likewise. Without it, a base64url digest was accepted only when it happened to hold
 * neither `-` nor `_` (about 1 in 4): whether an event got in depended on its body. One alphabet
 * per value: a mix of both is no encoding anybody produces.
 */
const BASE64URL_DIGEST = /^[A-Za-z0-9_-]{43}=?$/;

/** GitHub's style of naming the digest in the value (`sha256=<hex>`); any case. */
const SHA256_PREFIX = /^sha256=/i;

/** The 32 digest bytes one signature carries (hex, base64 or base64url, `sha256=` before it or not), or undefined if it carries none. */
function signatureBytes(signature: string): Buffer | undefined {
  const value = signature.trim().replace(SHA256_PREFIX, '');
  if (HEX_DIGEST.test(value)) return Buffer.from(value, 'hex');
  const encoding = BASE64_DIGEST.test(value)
    ? 'base64'
    : BASE64URL_DIGEST.test(value)
      ? 'base64url'
      : undefined;
  if (encoding === undefined) return undefined;
  const decoded = Buffer.from(value, encoding);
  return decoded.length === WEBHOOK.digestBytes ? decoded : undefined;
}

/** HMAC-SHA256 of `body` keyed with `secret` (UTF-8), lowercase hex: what a sender puts in the header. */
export function signWebhookBody(body: Uint8Array | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * The digests a request's signature header carries: every copy of the header (an array, as a
 * Lambda event or Node's `headersDistinct` may give), each split on commas (how Node and
 * Function URLs join repeated headers; no digest encoding holds a comma). Undefined, so the
 * request is refused, when any entry is not a digest (`sha256=` before it or not; an empty entry
 * too) or there are more than `WEBHOOK.maxSignatures`: a list is accepted only when every entry
 * is well formed, so a malformed value is never waved through beside a good one.
 */
export function signatureHeaderDigests(values: readonly string[]): Buffer[] | undefined {
  const entries = values.flatMap((value) => value.split(','));
  if (entries.length === 0 || entries.length > WEBHOOK.maxSignatures) return undefined;
  const digests: Buffer[] = [];
  for (const entry of entries) {
    const digest = signatureBytes(entry);
    if (digest === undefined) return undefined;
    digests.push(digest);
  }
  return digests;
}

/**
 * True when the signature header value(s) carry HMAC-SHA256(body, secret) (`signatureHeaderDigests`:
 * one digest, or any one of a short list). Every digest is compared, in constant time over its 32
 * bytes (`crypto.timingSafeEqual`), and the results combined without stopping early, so the time
 * taken does not reveal which entry matched; only the header's length and shape, which the
 * caller already knows, decide anything earlier.
 */
export function verifySignature(
  body: Uint8Array,
  header: string | readonly string[],
  secret: string,
): boolean {
  const given = signatureHeaderDigests(typeof header === 'string' ? [header] : header);
  if (given === undefined) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  let matched = 0;
  for (const digest of given) matched |= Number(timingSafeEqual(digest, expected));
  return matched === 1;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === 'string' && value !== '';
const textOrNull = (value: unknown): string | null => (isText(value) ? value : null);

/** The task an event names, its status, and why a task field named none. */
export interface EventTask {
  /** The task id, as text (`taskOf`), or null when the event names none. */
  readonly taskId: string | null;
  /** The status read beside the task id (`data.status`, or the task object's own `status`). */
  readonly status: string | null;
  /**
   * Why a task field was there but gave no task id (`data.taskId is an object, not a task id`),
   * or why a task event (`TASK_EVENT_TYPES`) named none (`no task id: ...`), or null: such an
   * event is stored and committed, with this in `webhook_events.task_id_problem`.
   */
  readonly problem: string | null;
  /** `failReason`, read from the same place as `status` (the task object's, else `data.failReason`). */
  readonly failReason: string | null;
}

/**
 * The event types that are about one task: one that names no task id is reported (`taskOf`'s
 * `problem`), since where Atomic puts the id is only assumed (paylink-api.md). Other types
 * (`pay-link-accounts-updated`) name no task, and that is no problem.
 */
export const TASK_EVENT_TYPES: readonly string[] = [
  'task-status-updated',
  'task-authentication-status-updated',
  'task-status-patched',
];

/** What a JSON value is, for a message that must not quote Atomic's data. */
function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value instanceof NumberLiteral || typeof value === 'number' || typeof value === 'bigint')
    return wholeDigits(value) === TOO_LONG
      ? `a whole number of over ${MAX_ID_DIGITS} digits`
      : 'a number that is not a whole number';
  if (typeof value === 'string') return value === '' ? 'empty text' : 'blank text (only whitespace)';
  if (typeof value === 'boolean') return `${value}`;
  return 'an object';
}

/** A whole number longer than this many digits is no task id (and is never expanded: `1e999999999`). */
const MAX_ID_DIGITS = 64;
const TOO_LONG = Symbol('too long');
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * A number's decimal digits when it is a whole number, exactly (never through a double): `12345`;
 * a bigint beyond 2^53 as parsed; a literal the lossless parser kept as spelled (`1e3`, `1.0`,
 * `12345678901234567890e2`) by decimal arithmetic on its spelling, so `1e3` is `1000` and no
 * digit is lost. `TOO_LONG` past `MAX_ID_DIGITS` digits; undefined when not a whole number.
 */
function wholeDigits(value: unknown): string | typeof TOO_LONG | undefined {
  if (typeof value === 'bigint')
    return String(value).replace('-', '').length > MAX_ID_DIGITS ? TOO_LONG : String(value);
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return String(value);
    // A number the parser kept (json-body.ts) is written as JavaScript writes it back (`1e+21`):
    // that text denotes the whole number exactly, so its digits come from the text.
    return Number.isInteger(value) ? literalDigits(String(value)) : undefined;
  }
  if (!(value instanceof NumberLiteral)) return undefined;
  return literalDigits(value.literal);
}

/** A JSON number's text as the digits of the whole number it denotes, by decimal arithmetic. */
function literalDigits(literal: string): string | typeof TOO_LONG | undefined {
  const m = DECIMAL.exec(literal);
  if (m === null) return undefined;
  const [, sign, int, frac = '', exp = '0'] = m;
  const digits = `${int}${frac}`.replace(/^0+/, '');
  if (digits === '') return '0';
  // value = digits x 10^shift
  const shift = Number(exp) - frac.length;
  let whole: string;
  if (shift >= 0) {
    if (digits.length + shift > MAX_ID_DIGITS) return TOO_LONG;
    whole = digits + '0'.repeat(shift);
  } else {
    const cut = digits.length + shift;
    if (cut <= 0 || !/^0*$/.test(digits.slice(cut))) return undefined;
    whole = digits.slice(0, cut);
    if (whole.length > MAX_ID_DIGITS) return TOO_LONG;
  }
  return `${sign}${whole}`;
}

/**
 * A task id field's value as a task id: text that is not blank as it is (`"  "` is no id, as
 * `""` is not); a whole number (`12345`; one beyond 2^53, which the lossless parser gives as a
 * bigint; `1e3`, which is 1000) as its decimal digits, which is how it would be written in
 * `/task/{id}/details`. Anything else is undefined.
 */
function idText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  const whole = wholeDigits(value);
  return typeof whole === 'string' ? whole : undefined;
}

/**
 * The task an event names, its status and fail reason. Atomic documents `task-status-updated`
 * with the status under `data` (../shared/docs/paylink-api.md) but not the field that holds the
 * task id; legacy events carry a top-level `task`. Tried in order: `data.taskId`, `data.task` (an
 * id, or an object with `_id`), `task` (likewise). The status and the fail reason are read where
 * the id was found: from the task object's `status` / `failReason` when the id came from one
 * (each falling back to `data.status` / `data.failReason`), else from `data`. A field that is
 * present but names no id (an object without `_id`, a fraction, a list, blank text) is reported
 * in `problem` unless a later field names one; so is a task event (`TASK_EVENT_TYPES`) that names
 * no task at all (no field, or `null`). The receiver checks the id and the loader uses it
 * (event-log.ts): one rule for both.
 */
export function taskOf(body: Record<string, unknown>): EventTask {
  const data = isObject(body.data) ? body.data : {};
  const dataStatus = textOrNull(data.status);
  const dataFailReason = textOrNull(data.failReason);
  let problem: string | null = null;
  let nullField: string | undefined;
  const candidates: [string, unknown][] = [
    ['data.taskId', data.taskId],
    ['data.task', data.task],
    ['task', body.task],
  ];
  for (const [field, value] of candidates) {
    if (value === null) nullField ??= field;
    if (value === undefined || value === null) continue;
    const direct = idText(value);
    if (direct !== undefined)
      return { taskId: direct, status: dataStatus, problem: null, failReason: dataFailReason };
    if (field !== 'data.taskId' && isObject(value) && !(value instanceof NumberLiteral)) {
      const nested = idText(value._id);
      if (nested !== undefined)
        return {
          taskId: nested,
          status: textOrNull(value.status) ?? dataStatus,
          problem: null,
          failReason: textOrNull(value.failReason) ?? dataFailReason,
        };
      problem ??=
        value._id === undefined || value._id === null
          ? `${field} is an object without _id, not a task`
          : `${field}._id is ${kindOf(value._id)}, not a task id`;
      continue;
    }
    problem ??= `${field} is ${kindOf(value)}, not a task id`;
  }
  // Where Atomic puts a task event's id is assumed, so one that names none must be loud (counted
  // in taskIdProblemEvents and its metric), never a silent NULL.
  if (problem === null && typeof body.eventType === 'string' && TASK_EVENT_TYPES.includes(body.eventType))
    problem =
      nullField !== undefined
        ? `${nullField} is null: no task id`
        : 'no task id (none of data.taskId, data.task, task)';
  return { taskId: null, status: dataStatus, problem, failReason: dataFailReason };
}

/** The task id an event names (`taskOf`), or null. */
export function taskIdOf(body: Record<string, unknown>): string | null {
  return taskOf(body).taskId;
}

/**
 * Whether an event's user could be loaded from it: an identifier a users list could hold
 * (users-stream.ts) that is also one path segment once encoded (`/user/{identifier}/tasks`).
 * The receiver refuses other events (`bad-identifier`); the loader sets aside a stored one.
 */
export function isLoadableEventIdentifier(identifier: string): boolean {
  return isListableIdentifier(identifier) && isSafePathSegment(identifier);
}

/** The body as a `WebhookEvent`, or undefined when it is not JSON of Atomic's documented shape. */
export function parseWebhookEvent(body: Uint8Array): WebhookEvent | undefined {
  let parsed: unknown;
  try {
    // fatal: invalid UTF-8 is malformed, not silently replaced with U+FFFD.
    const text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    if (nestedDeeperThan(text, WEBHOOK.maxNestingDepth)) return undefined;
    // The loader's own parser (event-log.ts): a body it would refuse (a key given twice, which
    // JSON.parse takes the last of) is refused here, never stored to be set aside by every load.
    parsed = parseJsonBody(text);
  } catch {
    return undefined;
  }
  if (!isObject(parsed)) return undefined;
  const { eventType, eventTime, user, data } = parsed;
  if (!isText(eventType) || !isObject(user) || !isObject(data)) return undefined;
  if (!isText(user.identifier)) return undefined;
  // Only the identifier chooses the user: an `_id` that is not text (null, a number) is kept in
  // the stored body and committed as a null `user_id`, as a missing one is. Refusing it would
  // lose the event after Atomic's retries, and with it the user's next changed load.
  return {
    eventType,
    ...(isText(eventTime) ? { eventTime } : {}),
    user: { identifier: user.identifier, ...(typeof user._id === 'string' ? { _id: user._id } : {}) },
    data,
    taskId: taskIdOf(parsed),
  };
}

export function cloudEventHeaders(headers: WebhookHeaders): CloudEventHeaders {
  const out: Record<string, string> = {};
  for (const attribute of ['id', 'type', 'time', 'source', 'specversion'] as const) {
    const value = headerValue(headers, `ce-${attribute}`);
    if (value !== undefined && value !== '') out[attribute] = value;
  }
  return out;
}

/**
 * The event's deterministic key, 64 hex characters: the SHA-256 of the body, the only thing
 * the signature covers. Atomic's retries and replays of one event repeat the body, so they map
 * to one object. No header takes part: `ce-id` and the other `ce-*` headers are not signed, so
 * anyone holding one validly signed body could otherwise store it again under as many ids as
 * they like (or pre-empt a future event's id). Two deliveries with the same bytes are one fact
 * (same user, type, event time and data), whatever their headers say.
 */
export function eventKey(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/** `_events/dt=YYYY-MM-DD/<key>.json`, the date being the UTC date the event was received. */
export function eventObjectKey(key: string, receivedAt: Date): string {
  return `${WEBHOOK.eventsPrefix}dt=${receivedAt.toISOString().slice(0, 10)}/${key}.json`;
}

/**
 * The stored document. The body is embedded verbatim (it was just parsed as JSON, so the
 * result is JSON): no number is re-serialized, so large integers keep every digit.
 */
function storedDocument(
  key: string,
  receivedAt: Date,
  cloudEvent: CloudEventHeaders,
  bodyText: string,
): string {
  const head = JSON.stringify({
    formatVersion: 1,
    eventKey: key,
    receivedAt: receivedAt.toISOString(),
    cloudEvent,
  });
  return `${head.slice(0, -1)},"event":${bodyText}}\n`;
}

const reject = (reason: RejectReason, bytes: number): WebhookOutcome => ({
  kind: 'rejected',
  status: REJECT_STATUS[reason],
  reason,
  bytes,
});

/**
 * Whether a request is for the receiver, decided from its method and path alone (before its
 * body is read or the secret is needed): undefined for a POST to `WEBHOOK.path`, else the
 * rejection: 404 (`not-found`) for any other path, whatever the method, and 405
 * (`method-not-allowed`) for another method on the path. `path` is the request's path without
 * its query string, exactly as sent (`/`, not `/webhooks`, `//` or `/%2F`): the Function URL's
 * `rawPath`, or the local server's request target up to `?`.
 */
export function routeWebhook(
  method: string | undefined,
  path: string | undefined,
): WebhookOutcome | undefined {
  if (path !== WEBHOOK.path) return reject('not-found', 0);
  if (method !== WEBHOOK.method) return reject('method-not-allowed', 0);
  return undefined;
}

/**
 * Verifies, parses and stores one webhook request. Never throws for anything the caller sent;
 * a store failure propagates (the handler answers 5xx and Atomic retries).
 */
export async function receiveWebhook(request: WebhookRequest, deps: WebhookDeps): Promise<WebhookOutcome> {
  const bytes = request.body.byteLength;
  if (bytes > (deps.maxBodyBytes ?? WEBHOOK.maxBodyBytes)) return reject('too-large', bytes);
  const signature = headerValues(request.headers, WEBHOOK.signatureHeader);
  if (signature.every((value) => value.trim() === '')) return reject('unsigned', bytes);
  if (!verifySignature(request.body, signature, deps.secret)) return reject('bad-signature', bytes);
  const event = parseWebhookEvent(request.body);
  if (event === undefined) return reject('malformed', bytes);
  // An identifier no users list could hold (a control character, blank, too long) or that would
  // not stay one path segment (`..`), or a task id that would not (`/task/../details` is
  // requested as `/details`), could never be loaded: refused now, visibly (400, counted by
  // reason), not stored to be skipped silently.
  if (!isLoadableEventIdentifier(event.user.identifier)) return reject('bad-identifier', bytes);
  if (event.taskId !== null && !isSafePathSegment(event.taskId)) return reject('bad-task-id', bytes);

  const cloudEvent = cloudEventHeaders(request.headers);
  const key = eventKey(request.body);
  const objectKey = eventObjectKey(key, deps.receivedAt);
  const document = storedDocument(key, deps.receivedAt, cloudEvent, new TextDecoder().decode(request.body));
  const created = await deps.store.putIfAbsent(objectKey, document);
  const known = (KNOWN_EVENT_TYPES as readonly string[]).includes(event.eventType);
  return {
    kind: 'accepted',
    status: 200,
    stored: created ? 'created' : 'duplicate',
    key: objectKey,
    eventType: known ? (event.eventType as KnownEventType) : 'other',
    bytes,
  };
}

/**
 * The HTTP answer for an outcome: a status and a fixed plain-text body. Nothing in it depends
 * on the request beyond the status, so a caller probing signatures learns only "401". A 405
 * carries the `Allow` header HTTP requires of it (RFC 9110 §15.5.6): the one method, nothing more.
 */
export function webhookResponse(outcome: WebhookOutcome): {
  status: number;
  body: string;
  headers?: Readonly<Record<string, string>>;
} {
  if (outcome.kind === 'accepted') return { status: 200, body: 'ok' };
  const text = {
    400: 'bad request',
    401: 'unauthorized',
    404: 'not found',
    405: 'method not allowed',
    413: 'payload too large',
  } as const;
  return {
    status: outcome.status,
    body: text[outcome.status],
    ...(outcome.status === 405 ? { headers: { allow: WEBHOOK.method } } : {}),
  };
}

/**
 * One log line's fields for an outcome: ids, counts and fixed words, never a payload value,
 * a header value or the secret. The `webhook` field is what the log metric filter matches.
 */
export function webhookLogFields(outcome: WebhookOutcome): Record<string, string | number> {
  return outcome.kind === 'accepted'
    ? {
        webhook: 'accepted',
        stored: outcome.stored,
        eventType: outcome.eventType,
        key: outcome.key,
        bytes: outcome.bytes,
      }
    : { webhook: 'rejected', reason: outcome.reason, status: outcome.status, bytes: outcome.bytes };
}
