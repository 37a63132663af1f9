import { describe, expect, it } from 'vitest';
import { parseJsonBody } from '#core/json-body.ts';
import { NumberLiteral } from '#core/number-literal.ts';

describe('parseJsonBody', () => {
  it('keeps integers beyond 2^53 exact as bigint and every other number a number', () => {
    expect(
      parseJsonBody('{"a": 6150769120280496265, "b": 9007199254740993, "c": 12, "d": 12.5, "e": -0.5e3}'),
    ).toEqual({
      a: 6150769120280496265n,
      b: 9007199254740993n,
      c: 12,
      d: 12.5,
      e: new NumberLiteral('-0.5e3', -500),
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

  it('keeps a literal a double would change as spelled, without a number (1e400 is not Infinity)', () => {
    expect(parseJsonBody('[1e400, -1E+400, 1e-400, 9007199254740993.0, 0.1000000000000000000001]')).toEqual([
      new NumberLiteral('1e400', undefined),
      new NumberLiteral('-1E+400', undefined),
      new NumberLiteral('1e-400', undefined),
      new NumberLiteral('9007199254740993.0', undefined),
      new NumberLiteral('0.1000000000000000000001', undefined),
    ]);
  });

  it('keeps the spelling of an exact literal JavaScript spells otherwise, with its double', () => {
    expect(parseJsonBody('[1.10, 1.0, 1e5, -0, 0.1, 12.5, 1e21]')).toEqual([
      new NumberLiteral('1.10', 1.1),
      new NumberLiteral('1.0', 1),
      new NumberLiteral('1e5', 100000),
      new NumberLiteral('-0', -0),
      0.1,
      12.5,
      new NumberLiteral('1e21', 1e21),
    ]);
  });

  it('tolerates signed NaN / Infinity tokens (-NaN, +NaN, +Infinity) as the same non-finite numbers', () => {
    expect(
      parseJsonBody('{"a": -NaN, "b": +NaN, "c": +Infinity, "d": [-Infinity, NaN], "e": "-NaN"}'),
    ).toEqual({
      a: Number.NaN,
      b: Number.NaN,
      c: Number.POSITIVE_INFINITY,
      d: [Number.NEGATIVE_INFINITY, Number.NaN],
      e: '-NaN',
    });
    expect(() => parseJsonBody('{"a": --NaN}')).toThrow(SyntaxError);
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
