/**
 * Decides what a 401/403 on POST /access-token means: our API key is bad (the load stops,
 * ApiKeyRejectedError), or PayLink refuses this one identifier (that user fails,
 * AccessTokenRejectedError). The answer looks the same on the wire; the difference is whether
 * the same key works for anybody else.
 *
 * - After one successful mint by this client, a rejection is the user's.
 * - Before any success, a rejection is held (its caller waits) until the evidence decides it:
 *   a mint succeeds (the held users fail on their own), or `KEY_REJECTION_LIMIT` rejections
 *   have come without a success, or nothing else is left in flight to decide it (a load of
 *   one or two users, or a concurrency below the limit): then the key is bad, and every held
 *   and later rejection is ApiKeyRejectedError. Failing closed here commits nothing and tells
 *   the operator to check the credentials.
 *
 * With 8 users minting at once and a bad key, the third rejection stops the load; with one odd
 * identifier among them, its caller waits for the first success and fails alone.
 */
import { AccessTokenRejectedError, ApiKeyRejectedError } from '#core/errors.ts';

/** Rejections with no success before them that prove the key is bad (the brief: "first several users"). */
export const KEY_REJECTION_LIMIT = 3;

/** What the transport throws for a 401/403 on access-token; the gate turns it into a verdict. */
export class MintRejection extends Error {
  override readonly name = 'MintRejection';
  readonly status: number;
  readonly apiCode: number | undefined;
  constructor(status: number, apiCode: number | undefined) {
    super(`access-token answered HTTP ${status}`);
    this.status = status;
    this.apiCode = apiCode;
  }
}

export interface AccessTokenGate {
  /** Runs one mint, counting it as in flight; a MintRejection becomes one of the two errors. */
  mint<T>(run: () => Promise<T>): Promise<T>;
}

type Verdict = 'user' | 'key';

export function createAccessTokenGate(limit: number = KEY_REJECTION_LIMIT): AccessTokenGate {
  let succeeded = false;
  let keyRejected = false;
  let rejections = 0;
  let inFlight = 0;
  const held: { readonly rejection: MintRejection; readonly decide: (verdict: Verdict) => void }[] = [];

  const errorFor = (rejection: MintRejection, verdict: Verdict): Error =>
    verdict === 'user'
      ? new AccessTokenRejectedError(rejection.status, rejection.apiCode)
      : new ApiKeyRejectedError(rejection.status, rejection.apiCode);

  const release = (verdict: Verdict): void => {
    for (const entry of held.splice(0)) entry.decide(verdict);
  };

  // Deferred past the current turn, so a worker that just finished a user can start its next
  // mint before "nothing in flight" is taken as the end of the evidence.
  const checkSettled = (): void => {
    setImmediate(() => {
      if (inFlight > 0 || held.length === 0 || succeeded) return;
      keyRejected = true;
      release('key');
    });
  };

  const judge = (rejection: MintRejection): Promise<Error> => {
    if (keyRejected) return Promise.resolve(errorFor(rejection, 'key'));
    if (succeeded) return Promise.resolve(errorFor(rejection, 'user'));
    if (++rejections >= limit) {
      keyRejected = true;
      release('key');
      return Promise.resolve(errorFor(rejection, 'key'));
    }
    return new Promise<Error>((resolve) => {
      held.push({ rejection, decide: (verdict) => resolve(errorFor(rejection, verdict)) });
      checkSettled();
    });
  };

  return {
    async mint<T>(run: () => Promise<T>): Promise<T> {
      inFlight++;
      let value: T;
      try {
        value = await run();
      } catch (error) {
        inFlight--;
        if (!(error instanceof MintRejection)) {
          checkSettled();
          throw error;
        }
        throw await judge(error);
      }
      inFlight--;
      succeeded = true;
      release('user');
      return value;
    },
  };
}
