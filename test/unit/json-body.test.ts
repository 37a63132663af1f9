import { describe, expect, it } from 'vitest';
import { parseJsonBody } from '#adapters/json-body.ts';

describe('parseJsonBody', () => {
  it('keeps integers beyond 2^53 exact as bigint and every other number a number', () => {
    expect(
      parseJsonBody('{"a": 6150769120280496265, "b": 9007199254740993, "c": 12, "d": 12.5, "e": -0.5e3}'),
    ).toEqual({
      a: 6150769120280496265n,
      b: 9007199254740993n,
      c: 12,
      d: 12.5,
      e: -500,
    });
    expect(parseJsonBody('[9007199254740991, -9007199254740993]')).toEqual([
      9007199254740991,
      -9007199254740993n,
    ]);
  });

  it('reads bare NaN / Infinity / -Infinity tokens as those numbers, but not inside strings', () => {
    expect(parseJsonBody('{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN and Infinity"}')).toEqual({
      a: Number.NaN,
      b: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
      c: 'NaN and Infinity',
    });
  });

  it('does not mistake a string that looks like its placeholder for a token', () => {
    expect(parseJsonBody('{"a": "\\u0000non-finite:NaN", "b": NaN}')).toEqual({
      a: '\u0000non-finite:NaN',
      b: Number.NaN,
    });
  });

  it('still refuses a body that is not JSON (truncated, or another bare word)', () => {
    expect(() => parseJsonBody('{"a": 1')).toThrow(SyntaxError);
    expect(() => parseJsonBody('{"a": Nonsense}')).toThrow(SyntaxError);
    expect(() => parseJsonBody('{"a": NaN')).toThrow(SyntaxError);
  });
});
