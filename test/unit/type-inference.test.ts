import { describe, expect, it } from 'vitest';
import { parseIsoTimestamp } from '#core/iso-timestamp.ts';
import { NumberLiteral } from '#core/number-literal.ts';
import { coerceNewValue, coerceValue, inferType, NO_FIT, variantType } from '#core/type-inference.ts';
import type { ColumnType, JsonPrimitive } from '#core/types.ts';

describe('inferType', () => {
  const cases: [string, JsonPrimitive, ColumnType | undefined][] = [
    ['true is bool', true, 'bool'],
    ['false is bool', false, 'bool'],
    // JSON has one number type: an undeclared number column is double, whole first value or not.
    ['a small integer is double', 42, 'double'],
    ['a negative integer is double', -7, 'double'],
    ['zero is double', 0, 'double'],
    ['the largest safe integer is double', Number.MAX_SAFE_INTEGER, 'double'],
    [
      'an exact integer beyond 2^53 (a bigint from the lossless parser) is double',
      6150769120280496265n,
      'double',
    ],
    ['a NaN token is double', Number.NaN, 'double'],
    ['an integer beyond 2^53 is double', 2 ** 53, 'double'],
    ['a huge integer is double', 1e21, 'double'],
    ['a fraction is double', 1.5, 'double'],
    ['a negative fraction is double', -0.25, 'double'],
    ['plain text is text', 'Netflix', 'text'],
    ['an empty string is text', '', 'text'],
    ['a numeric string stays text on first sight', '123', 'text'],
    ['a decimal string stays text on first sight', '12.50', 'text'],
    ['"true" as a string stays text', 'true', 'text'],
    ['a date-only string stays text', '2024-01-31', 'text'],
    ['an ISO date-time with Z is a timestamp', '2024-01-31T10:20:30Z', 'timestamp'],
    ['an ISO date-time with a positive offset is a timestamp', '2024-01-31T10:20:30+02:00', 'timestamp'],
    [
      'an ISO date-time with a negative compact offset is a timestamp',
      '2024-01-31T10:20:30-0530',
      'timestamp',
    ],
    ['an ISO date-time with an hour-only offset is a timestamp', '2024-01-31T10:20:30+01', 'timestamp'],
    ['an ISO date-time with a millisecond fraction is a timestamp', '2024-01-31T10:20:30.123Z', 'timestamp'],
    [
      'an ISO date-time with digits below the millisecond is text (a millisecond timestamp would lose them)',
      '2024-01-31T10:20:30.123456+00:00',
      'text',
    ],
    [
      'an ISO date-time whose digits below the millisecond are zeros is a timestamp',
      '2024-01-31T10:20:30.123000Z',
      'timestamp',
    ],
    [
      'a number literal a double cannot hold is double (its text goes to a variant)',
      new NumberLiteral('1e400', undefined),
      'double',
    ],
    ['a naive ISO date-time is a timestamp', '2024-01-31T10:20:30', 'timestamp'],
    ['a space-separated date-time is a timestamp', '2024-01-31 10:20:30', 'timestamp'],
    ['a date-time without seconds is a timestamp', '2024-01-31T10:20Z', 'timestamp'],
    ['an impossible date is text', '2024-02-30T10:00:00Z', 'text'],
    ['an impossible hour is text', '2024-01-31T25:00:00Z', 'text'],
    ['a date-time followed by text is text', '2024-01-31T10:20:30Z tomorrow', 'text'],
    ['a slash-separated date is text', '2024/01/31 10:20:30', 'text'],
    ['null infers nothing', null, undefined],
  ];
  it.each(cases)('%s', (_name, value, expected) => {
    expect(inferType(value)).toBe(expected);
  });
});

describe('parseIsoTimestamp', () => {
  it('treats a naive date-time as UTC', () => {
    expect(parseIsoTimestamp('2024-01-31T10:20:30')?.toISOString()).toBe('2024-01-31T10:20:30.000Z');
  });

  it('normalizes offsets to UTC', () => {
    expect(parseIsoTimestamp('2024-01-31T10:20:30+02:00')?.toISOString()).toBe('2024-01-31T08:20:30.000Z');
    expect(parseIsoTimestamp('2024-01-31T23:30:00-0130')?.toISOString()).toBe('2024-02-01T01:00:00.000Z');
  });

  it('truncates fractions to milliseconds without rounding into the next second', () => {
    expect(parseIsoTimestamp('2024-01-31T10:20:59.999999Z')?.toISOString()).toBe('2024-01-31T10:20:59.999Z');
    expect(parseIsoTimestamp('2024-01-31T10:20:30.5Z')?.toISOString()).toBe('2024-01-31T10:20:30.500Z');
  });

  it('accepts February 29 only in leap years', () => {
    expect(parseIsoTimestamp('2024-02-29T00:00:00Z')).toBeInstanceOf(Date);
    expect(parseIsoTimestamp('2023-02-29T00:00:00Z')).toBeUndefined();
    expect(parseIsoTimestamp('1900-02-29T00:00:00Z')).toBeUndefined();
    expect(parseIsoTimestamp('2000-02-29T00:00:00Z')).toBeInstanceOf(Date);
  });

  it('keeps two-digit years as written instead of mapping them to the 1900s', () => {
    expect(parseIsoTimestamp('0050-06-01T00:00:00Z')?.toISOString()).toBe('0050-06-01T00:00:00.000Z');
  });

  it('rejects instants Athena cannot hold (before year 1 or after 9999)', () => {
    expect(parseIsoTimestamp('0000-06-01T00:00:00Z')).toBeUndefined();
    expect(parseIsoTimestamp('9999-12-31T23:00:00-02:00')).toBeUndefined();
    expect(parseIsoTimestamp('9999-12-31T23:59:59.999Z')?.toISOString()).toBe('9999-12-31T23:59:59.999Z');
  });

  it('rejects leap seconds and out-of-range offsets', () => {
    expect(parseIsoTimestamp('2016-12-31T23:59:60Z')).toBeUndefined();
    expect(parseIsoTimestamp('2024-01-31T10:00:00+24:00')).toBeUndefined();
  });
});

describe('coerceValue', () => {
  const cases: [string, string | number | boolean, ColumnType, unknown][] = [
    ['a string into text stays as is', 'abc', 'text', 'abc'],
    [
      'an ISO string into text keeps its spelling',
      '2024-01-31T10:20:30+02:00',
      'text',
      '2024-01-31T10:20:30+02:00',
    ],
    ['an integer into text becomes its decimal string', 5, 'text', '5'],
    ['a fraction into text becomes its decimal string', 1.5, 'text', '1.5'],
    ['a boolean into text becomes "true"', true, 'text', 'true'],
    ['a safe integer into bigint stays', 12, 'bigint', 12],
    ['an integral string into bigint is parsed', '123', 'bigint', 123],
    ['a negative integral string into bigint is parsed', '-45', 'bigint', -45],
    ['a fraction into bigint does not fit', 1.5, 'bigint', NO_FIT],
    ['an integer beyond 2^53 into bigint does not fit', 2 ** 53, 'bigint', NO_FIT],
    ['an integral string beyond 2^53 into bigint does not fit', '9007199254740993', 'bigint', NO_FIT],
    ['a string with leading zeros into bigint does not fit', '007', 'bigint', NO_FIT],
    ['a decimal string into bigint does not fit', '1.0', 'bigint', NO_FIT],
    ['text into bigint does not fit', 'N/A', 'bigint', NO_FIT],
    ['a boolean into bigint does not fit', true, 'bigint', NO_FIT],
    ['an integer into double stays', 3, 'double', 3],
    ['a fraction into double stays', 2.75, 'double', 2.75],
    ['a decimal string into double is parsed', '12.50', 'double', 12.5],
    ['an exponent string into double is parsed', '-1.5e3', 'double', -1500],
    ['an integral string beyond 2^53 into double does not fit', '12345678901234567890', 'double', NO_FIT],
    // The rule columns the lake has always had: a decimal string is its nearest double.
    ['a decimal string a double rounds into double is rounded', '9007199254740993.0', 'double', 2 ** 53],
    ['a decimal string below the smallest double into double is 0', '1e-400', 'double', 0],
    ['a decimal string with more digits than a double is rounded', '0.1000000000000000000001', 'double', 0.1],
    ['a decimal string with trailing zeros into double is parsed', '0.10', 'double', 0.1],
    ['a padded numeric string into double does not fit', ' 12', 'double', NO_FIT],
    ['a hex string into double does not fit', '0x10', 'double', NO_FIT],
    ['"Infinity" into double does not fit', 'Infinity', 'double', NO_FIT],
    ['an empty string into double does not fit', '', 'double', NO_FIT],
    ['a boolean into double does not fit', false, 'double', NO_FIT],
    ['a boolean into bool stays', false, 'bool', false],
    ['"true" into bool is true', 'true', 'bool', true],
    ['"false" into bool is false', 'false', 'bool', false],
    ['"yes" into bool does not fit', 'yes', 'bool', NO_FIT],
    ['1 into bool does not fit', 1, 'bool', NO_FIT],
    ['text into timestamp does not fit', 'not a date', 'timestamp', NO_FIT],
    ['a date-only string into timestamp does not fit', '2024-01-31', 'timestamp', NO_FIT],
    ['a number into timestamp does not fit', 1_700_000_000, 'timestamp', NO_FIT],
  ];
  it.each(cases)('%s', (_name, value, type, expected) => {
    expect(coerceValue(value, type)).toBe(expected);
  });

  it('puts a decimal string into a double column of a new column only when the double holds its exact value', () => {
    for (const value of ['12.50', '0.10', '-1.5e3', '1e21', '0.30000000000000004', '-0.0'])
      expect(coerceNewValue(value, 'double'), value).toBe(coerceValue(value, 'double'));
    for (const value of ['9007199254740993.0', '1e-400', '0.1000000000000000000001', '0.30000000000000001'])
      expect(coerceNewValue(value, 'double'), value).toBe(NO_FIT);
    // Every other type and value is placed as `coerceValue` places it.
    for (const type of ['text', 'bigint', 'bool', 'timestamp'] as const)
      for (const value of ['1e-400', '12.50', 'true', '2026-01-01T10:00:00Z', 7, true])
        expect(coerceNewValue(value, type), `${String(value)} into ${type}`).toEqual(
          coerceValue(value, type),
        );
    expect(coerceNewValue(new NumberLiteral('1e-400', undefined), 'double')).toBe(NO_FIT);
    expect(coerceNewValue(12.5, 'double')).toBe(12.5);
  });

  it('keeps a number literal as spelled in text and stores only exact values in number columns', () => {
    // `1.10` in a declared text column stays `1.10` (a JS number would give '1.1').
    expect(coerceValue(new NumberLiteral('1.10', 1.1), 'text')).toBe('1.10');
    expect(coerceValue(new NumberLiteral('1.10', 1.1), 'double')).toBe(1.1);
    expect(coerceValue(new NumberLiteral('1e5', 100000), 'bigint')).toBe(100000);
    expect(coerceValue(new NumberLiteral('1.5e0', 1.5), 'bigint')).toBe(NO_FIT);
    // Values no double holds never become a (wrong) number: they fit text only.
    for (const literal of ['1e400', '1e-400', '9007199254740993.0']) {
      const value = new NumberLiteral(literal, undefined);
      expect(coerceValue(value, 'double')).toBe(NO_FIT);
      expect(coerceValue(value, 'bigint')).toBe(NO_FIT);
      expect(coerceValue(value, 'text')).toBe(literal);
      expect(variantType(value)).toBe('text');
    }
    expect(variantType(new NumberLiteral('1.10', 1.1))).toBe('double');
  });

  it('keeps a date-time with digits below the millisecond out of a timestamp column (its variant is text)', () => {
    expect(coerceValue('2024-01-31T10:20:30.123456Z', 'timestamp')).toBe(NO_FIT);
    expect(variantType('2024-01-31T10:20:30.123456Z')).toBe('text');
    expect((coerceValue('2024-01-31T10:20:30.123000Z', 'timestamp') as Date).toISOString()).toBe(
      '2024-01-31T10:20:30.123Z',
    );
  });

  it('turns an ISO string into a UTC Date in a timestamp column', () => {
    const cell = coerceValue('2024-01-31T10:20:30.123+01:00', 'timestamp');
    expect(cell).toBeInstanceOf(Date);
    expect((cell as Date).toISOString()).toBe('2024-01-31T09:20:30.123Z');
  });
});
