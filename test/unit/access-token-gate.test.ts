import { describe, expect, it } from 'vitest';
import { createAccessTokenGate, KEY_REJECTION_LIMIT, MintRejection } from '#adapters/access-token-gate.ts';
import { AccessTokenRejectedError, ApiKeyRejectedError, PayLinkHttpError } from '#core/errors.ts';

/** A mint whose outcome the test decides later: `ok()` mints, `reject(status)` is a 401/403. */
function pendingMint() {
  let ok: () => void = () => {};
  let reject: (status: number) => void = () => {};
  const run = () =>
    new Promise<string>((resolve, fail) => {
      ok = () => resolve('token');
      reject = (status) => fail(new MintRejection(status, 40300));
    });
  return { run, ok: () => ok(), reject: (status = 403) => reject(status) };
}

/** Settles a promise into `{ value }` or `{ error }`, for asserting after the fact. */
function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

const rejected = (status: number) => () => Promise.reject(new MintRejection(status, 40300));
const minted = () => Promise.resolve('token');

describe('access-token gate', () => {
  it("treats a 401/403 after a successful mint as that user's failure, keeping the status", async () => {
    const gate = createAccessTokenGate();
    await gate.mint(minted);
    const { error } = await outcome(gate.mint(rejected(403)));
    expect(error).toBeInstanceOf(AccessTokenRejectedError);
    expect(error).toMatchObject({ code: 'access_token_rejected', status: 403, apiCode: 40300 });
    expect(error).not.toBeInstanceOf(ApiKeyRejectedError);
  });

  it('treats a lone rejection with nothing else in flight as a bad key', async () => {
    const gate = createAccessTokenGate();
    const { error } = await outcome(gate.mint(rejected(401)));
    expect(error).toBeInstanceOf(ApiKeyRejectedError);
    expect(error).toMatchObject({ status: 401 });
  });

  it('holds an early rejection until a concurrent mint succeeds, then fails only that user', async () => {
    const gate = createAccessTokenGate();
    const odd = pendingMint();
    const others = Array.from({ length: 7 }, pendingMint);
    const results = [odd, ...others].map((m) => outcome(gate.mint(m.run)));
    // The odd identifier's answer comes first, before the key has worked for anybody.
    odd.reject(403);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    for (const m of others) m.ok();
    const [oddResult, ...rest] = await Promise.all(results);
    expect(oddResult?.error).toBeInstanceOf(AccessTokenRejectedError);
    expect(rest.map((r) => r.value)).toEqual(Array(7).fill('token'));
  });

  it(`calls the key bad after ${KEY_REJECTION_LIMIT} rejections without a success, held ones included`, async () => {
    const gate = createAccessTokenGate();
    const mints = Array.from({ length: 8 }, pendingMint);
    const results = mints.map((m) => outcome(gate.mint(m.run)));
    for (const m of mints) m.reject(401);
    const settled = await Promise.all(results);
    expect(settled.map((r) => r.error)).toEqual(Array(8).fill(expect.any(ApiKeyRejectedError)));
  });

  it('stops at the limit without waiting for mints still in flight', async () => {
    const gate = createAccessTokenGate();
    const slow = pendingMint();
    const slowResult = outcome(gate.mint(slow.run));
    const early = await Promise.all(
      Array.from({ length: KEY_REJECTION_LIMIT }, () => outcome(gate.mint(rejected(403)))),
    );
    expect(early.map((r) => r.error)).toEqual(
      Array(KEY_REJECTION_LIMIT).fill(expect.any(ApiKeyRejectedError)),
    );
    // A later rejection is the key's too, even if a success came in between.
    slow.ok();
    await slowResult;
    expect((await outcome(gate.mint(rejected(403)))).error).toBeInstanceOf(ApiKeyRejectedError);
  });

  it('passes other failures through unchanged and does not count them as the key working', async () => {
    const gate = createAccessTokenGate();
    const http = new PayLinkHttpError('POST /access-token', 422, 42200);
    expect((await outcome(gate.mint(() => Promise.reject(http)))).error).toBe(http);
    expect((await outcome(gate.mint(rejected(401)))).error).toBeInstanceOf(ApiKeyRejectedError);
  });
});
