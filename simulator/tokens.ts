/**
 * Public tokens: minted by POST /access-token, each bound to one identifier (the token is
 * the user scope: data endpoints take no user id). With `maxUses`, a token expires after that
 * many data calls and answers 401 code 40104, as an expired real token does.
 */
import { BoundedMap } from './bounded-map.ts';
import { hash128, hashKey } from './prng.ts';

export type TokenCheck =
  | { readonly ok: true; readonly identifier: string }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' };

interface TokenState {
  readonly identifier: string;
  uses: number;
}

/** Tokens remembered at once; an evicted token answers 40104 like an expired one, and clients re-mint. */
const MAX_TOKENS = 200_000;

export class TokenStore {
  readonly #seed: string;
  readonly #maxUses: number | undefined;
  readonly #tokens = new BoundedMap<string, TokenState>(MAX_TOKENS);
  #minted = 0;

  constructor(seed: string, maxUses: number | undefined) {
    this.#seed = seed;
    this.#maxUses = maxUses;
  }

  get minted(): number {
    return this.#minted;
  }

  mint(identifier: string): { publicToken: string; token: string } {
    const n = this.#minted++;
    const publicToken = uuidLike(hashKey([this.#seed, 'public-token', n]));
    this.#tokens.set(publicToken, { identifier, uses: 0 });
    return { publicToken, token: uuidLike(hashKey([this.#seed, 'token', n])) };
  }

  /** Counts one data call against the token. */
  use(publicToken: string): TokenCheck {
    const state = this.#tokens.get(publicToken);
    if (state === undefined) return { ok: false, reason: 'unknown' };
    if (this.#maxUses !== undefined && state.uses >= this.#maxUses) return { ok: false, reason: 'expired' };
    state.uses++;
    return { ok: true, identifier: state.identifier };
  }
}

/** RFC 4122 version-4 layout over a 128-bit hash: looks like Atomic's uuids, derives from the seed. */
function uuidLike(key: string): string {
  const hex = hash128(key)
    .map((n) => n.toString(16).padStart(8, '0'))
    .join('');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
