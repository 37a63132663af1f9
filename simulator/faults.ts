/**
 * Fault injection, deterministic from (seed, request identity, attempt number): the n-th
 * attempt of a given request always meets the same fate, whatever the timing or concurrency
 * of other requests. `maxConsecutiveFaults` caps the faults one request meets in a row, so a
 * client with enough retries always gets through: tests rely on it to prove no row is lost.
 */
import { BoundedMap } from './bounded-map.ts';
import type { ResolvedFaultOptions } from './options.ts';
import { hash128, hashKey, hashUnit } from './prng.ts';

export type FaultKind = 'status429' | 'status5xx' | 'malformed' | 'hang';
export const FAULT_KINDS: readonly FaultKind[] = ['status429', 'status5xx', 'malformed', 'hang'];
/** Access-token calls meet only these (a token body is never malformed). */
export const TOKEN_FAULT_KINDS: readonly FaultKind[] = ['status429', 'status5xx'];

export interface Fault {
  readonly kind: FaultKind;
  /** A second deterministic draw in [0, 1): which 5xx status, which malformed body. */
  readonly variant: number;
}

interface RequestHistory {
  attempts: number;
  consecutiveFaults: number;
}

/**
 * Requests tracked at once. Forgetting an identity only restarts its attempt count; with this
 * many newer identities in between, a client has long stopped retrying it.
 */
const TRACKED_REQUESTS = 100_000;

export class FaultInjector {
  readonly #seed: string;
  readonly #options: ResolvedFaultOptions;
  readonly #history = new BoundedMap<string, RequestHistory>(TRACKED_REQUESTS);
  readonly #failUsers: ReadonlySet<string>;
  readonly #rejectTokenUsers: ReadonlySet<string>;

  constructor(seed: string, options: ResolvedFaultOptions) {
    this.#seed = seed;
    this.#options = options;
    this.#failUsers = new Set(options.failUsers);
    this.#rejectTokenUsers = new Set(options.rejectTokenUsers);
  }

  /**
   * The fault for the next attempt of the request `identity` (user, method, path, query), or
   * undefined to answer it normally. Kinds outside `allowed` are answered normally.
   */
  next(identity: string, allowed: readonly FaultKind[] = FAULT_KINDS): Fault | undefined {
    const history = this.#history.getOrCreate(identity, () => ({ attempts: 0, consecutiveFaults: 0 }));
    const attempt = history.attempts++;
    const [a, b] = hash128(hashKey([this.#seed, 'fault', identity, attempt]));
    const kind = this.#kindFor(a / 4294967296);
    if (
      kind === undefined ||
      !allowed.includes(kind) ||
      history.consecutiveFaults >= this.#options.maxConsecutiveFaults
    ) {
      history.consecutiveFaults = 0;
      return undefined;
    }
    history.consecutiveFaults++;
    return { kind, variant: b / 4294967296 };
  }

  /** Rates are consecutive slices of [0, 1), so each is exactly its kind's share of attempts. */
  #kindFor(roll: number): FaultKind | undefined {
    const o = this.#options;
    let edge = 0;
    for (const [kind, rate] of [
      ['status429', o.status429Rate],
      ['status5xx', o.status5xxRate],
      ['malformed', o.malformedRate],
      ['hang', o.hangRate],
    ] as const) {
      edge += rate;
      if (roll < edge) return kind;
    }
    return undefined;
  }

  /** Users whose data endpoints answer 404: listed, or a deterministic share of all. */
  userFails(identifier: string): boolean {
    if (this.#failUsers.has(identifier)) return true;
    return (
      this.#options.failUserRate > 0 &&
      hashUnit(this.#seed, 'fail-user', identifier) < this.#options.failUserRate
    );
  }

  /** Users whose access-token calls are refused with 403 although the key is right (`rejectTokenUsers`). */
  tokenRejected(identifier: string): boolean {
    return this.#rejectTokenUsers.has(identifier);
  }

  /** Whether this user's list bodies come wrapped in `{"data": ...}`. */
  dataEnvelope(identifier: string): boolean {
    const mode = this.#options.envelope;
    if (mode !== 'mixed') return mode === 'data';
    return hashUnit(this.#seed, 'envelope', identifier) < 0.5;
  }
}

/** 503 first: the commonest transient status behind a load balancer. */
const SERVER_ERRORS = [503, 500, 502] as const;

export function serverErrorStatus(fault: Fault): (typeof SERVER_ERRORS)[number] {
  return SERVER_ERRORS[Math.floor(fault.variant * SERVER_ERRORS.length)]!;
}

/** A 200 body a JSON parser must reject: cut short, an HTML error page, or empty. */
export function malformedBody(body: string, fault: Fault): string {
  const variant = Math.floor(fault.variant * 3);
  if (variant === 0) return body.slice(0, Math.max(1, Math.floor(body.length / 2)));
  if (variant === 1) return '<html><body><h1>502 Bad Gateway</h1></body></html>';
  return '';
}
