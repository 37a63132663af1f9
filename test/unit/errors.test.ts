/**
 * What a handler's error line and thrown error may carry (lambdas/core/errors.ts): our messages
 * as written, any other error's quotes redacted, never a cause's quote of a damaged file.
 */
import { describe, expect, it } from 'vitest';
import {
  CommitIncompleteError,
  type LakeStateError,
  loggableError,
  PayLinkHttpError,
  redactQuoted,
  SelectorError,
  withSafeMessage,
} from '#core/errors.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';

const DAMAGED = 'alice_smith ann@example.com 4111111111111111\n';

/** The LakeStateError readJson throws for a damaged file, with the parser's SyntaxError as cause. */
async function damagedFileError(): Promise<LakeStateError> {
  // readJson only reads the one object.
  const store = { get: async () => new TextEncoder().encode(DAMAGED) } as unknown as ObjectStore;
  return readJson(store, '_state/users/00.json').then(
    () => {
      throw new Error('expected a LakeStateError');
    },
    (error: unknown) => error as LakeStateError,
  );
}

describe('redactQuoted', () => {
  it("replaces every quoted part of a parser's message, keeping what went wrong", () => {
    expect(redactQuoted(`Unexpected token 'a', "alice_smit"... is not valid JSON`)).toBe(
      `Unexpected token '…', "…"... is not valid JSON`,
    );
    expect(redactQuoted('The "path" argument must be of type string. Received `ann`')).toBe(
      'The "…" argument must be of type string. Received `…`',
    );
    expect(redactQuoted('The specified key does not exist.')).toBe('The specified key does not exist.');
  });
});

describe('loggableError', () => {
  it("logs a damaged file's error without the parser's quote of it, at any depth", async () => {
    const error = await damagedFileError();
    // The cause quotes the file: what a logger printing the error as it is would write.
    expect(String((error.cause as Error).message)).toContain('alice_smit');
    const line = JSON.stringify(loggableError(error));
    expect(line).not.toMatch(/alice|ann@|4111/);
    const logged = loggableError(new CommitIncompleteError('1796000000.000000', 2, false, error));
    expect(JSON.stringify(logged)).not.toMatch(/alice|ann@|4111/);
    expect(logged).toMatchObject({
      name: 'CommitIncompleteError',
      code: 'commit_incomplete',
      loadId: '1796000000.000000',
      publishedParts: 2,
      cause: {
        name: 'LakeStateError',
        cause: { name: 'SyntaxError', message: expect.stringContaining('…') },
      },
    });
  });

  it('keeps our messages, scalar properties, stack frames and location; drops lists of keys', () => {
    const logged = loggableError(new SelectorError('orders', ['orders'], ['total'], 3));
    expect(logged.message).toContain("top-level keys seen: 'total' and 3 more not shown");
    expect(logged).toMatchObject({ name: 'SelectorError', code: 'selector_not_found', keysNotShown: 3 });
    expect(logged.keysSeen).toBeUndefined();
    expect(logged.stack).toMatch(/^SelectorError: resource orders: .*\n\s+at /);
    expect(logged.location).toMatch(/errors\.test\.ts:\d+$/);
    const http = loggableError(new PayLinkHttpError('/pay-link/orders', 500, 50000));
    expect(http).toMatchObject({
      status: 500,
      apiCode: 50000,
      endpoint: '/pay-link/orders',
      retryable: true,
    });
  });

  it("keeps an AWS SDK error's HTTP status and a system error code", () => {
    const sdk = Object.assign(new Error('Access Denied'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
      $response: { body: 'anything' },
    });
    expect(loggableError(sdk)).toMatchObject({
      name: 'AccessDenied',
      message: 'Access Denied',
      httpStatusCode: 403,
    });
    expect(loggableError(sdk).$response).toBeUndefined();
    const system = Object.assign(new Error("ENOENT: no such file, open '/tmp/alice_smith.txt'"), {
      code: 'ENOENT',
    });
    expect(loggableError(system)).toMatchObject({
      code: 'ENOENT',
      message: "ENOENT: no such file, open '…'",
    });
  });
});

describe('withSafeMessage', () => {
  it("redacts another error's message and stack in place, keeping its class and name", () => {
    let thrown: unknown;
    try {
      JSON.parse(DAMAGED);
    } catch (error) {
      thrown = error;
    }
    const safe = withSafeMessage(thrown) as Error;
    expect(safe).toBe(thrown);
    expect(safe).toBeInstanceOf(SyntaxError);
    expect(safe.name).toBe('SyntaxError');
    expect(`${safe.message}\n${safe.stack}`).not.toMatch(/alice|ann@|4111/);
    expect(safe.stack).toMatch(/^SyntaxError: Unexpected token '…'/);
  });

  it('leaves our errors as written', () => {
    const ours = new SelectorError('orders', ['orders'], ['total']);
    const before = ours.message;
    expect(withSafeMessage(ours).message).toBe(before);
  });
});
