/**
 * Parses a PayLink response body, or a stored webhook event (event-log.ts), without losing a
 * number: `JSON.parse` rounds every integer
 * beyond 2^53 to the nearest double (`6150769120280496265` and `...266` become one value),
 * so bodies are read with lossless-json and each number literal is decided here (README,
 * "Numbers, text and time"):
 * - an integer literal (no `.`, no exponent) beyond 2^53: a `bigint`, exact;
 * - a literal JavaScript spells back the same way (`12`, `12.5`, `0.1`): a `number`;
 * - any other literal: a `NumberLiteral` (number-literal.ts) that keeps the spelling, with its
 *   double when the double is exactly the literal's value (`1.10`, `1e5`, `-0`), and without one
 *   when it is not (`1e400` overflows to Infinity, `1e-400` underflows to 0,
 *   `9007199254740993.0` rounds): such a value is kept as its text, never as a wrong number;
 * - a bare `NaN`, `Infinity` token, signed or not (`-NaN`, `+NaN`, `+Infinity`, `-Infinity`:
 *   not JSON, but Python's json, C's printf and JSON5 writers send them): that non-finite
 *   number, so one bad value costs one cell (null plus its token in a text variant, see
 *   schema-registry.ts) instead of the whole response being retried as "truncated". A NaN's sign
 *   means nothing and is not kept: `-NaN` is `NaN`.
 * Anything else that is not JSON throws a SyntaxError, as `JSON.parse` does.
 */
import { parse } from 'lossless-json';
import { decimalKey, NumberLiteral } from './number-literal.ts';
import type { JsonValue } from './types.ts';

const NON_FINITE: Readonly<Record<string, number>> = {
  NaN: Number.NaN,
  '-NaN': Number.NaN,
  '+NaN': Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '+Infinity': Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};
/** Integers up to 15 digits are always safe and spelled back alike (`-0` is not: it is a literal). */
const SHORT_INTEGER = /^(?:0|-?[1-9]\d{0,14})$/;
const INTEGER_LITERAL = /^-?\d+$/;

/** One number literal as the lake keeps it. */
function parseNumber(literal: string): number | bigint | NumberLiteral {
  const value = Number(literal);
  if (SHORT_INTEGER.test(literal)) return value;
  if (INTEGER_LITERAL.test(literal) && !Number.isSafeInteger(value)) return BigInt(literal);
  if (String(value) === literal) return value;
  const exact = Number.isFinite(value) && decimalKey(String(value)) === decimalKey(literal);
  return new NumberLiteral(literal, exact ? value : undefined);
}

export function parseJsonBody(text: string): JsonValue {
  try {
    return parse(text, null, parseNumber) as JsonValue;
  } catch (error) {
    const patched = replaceNonFiniteTokens(text);
    if (patched === undefined) throw error;
    return parse(patched.text, (_key, value) => restore(value, patched.marker), parseNumber) as JsonValue;
  }
}

/**
 * The body with each bare non-finite token outside strings replaced by a string literal
 * `<marker><token>`, the marker chosen so that no string of the body contains it (decoded, so
 * an escaped spelling cannot pass for one); undefined when there is no such token.
 */
function replaceNonFiniteTokens(text: string): { text: string; marker: string } | undefined {
  const tokens: { at: number; token: string }[] = [];
  const strings: string[] = [];
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (start >= 0) {
      if (c === '\\') i++;
      else if (c === '"') {
        strings.push(decodeString(text.slice(start, i + 1)));
        start = -1;
      }
      continue;
    }
    if (c === '"') {
      start = i;
      continue;
    }
    const token = TOKENS.find((t) => text.startsWith(t, i));
    if (token !== undefined) {
      tokens.push({ at: i, token });
      i += token.length - 1;
    }
  }
  if (tokens.length === 0) return undefined;
  let marker = '\u0000non-finite:';
  while (strings.some((s) => s.includes(marker))) marker = `\u0000${marker}`;
  const escaped = JSON.stringify(marker).slice(1, -1);
  let out = '';
  let last = 0;
  for (const { at, token } of tokens) {
    out += `${text.slice(last, at)}"${escaped}${token}"`;
    last = at + token.length;
  }
  return { text: out + text.slice(last), marker };
}

// Signed spellings first: `-NaN` must not be read as `-` then `NaN`.
const TOKENS = ['-Infinity', '+Infinity', 'Infinity', '-NaN', '+NaN', 'NaN'];

/** A string literal's value; its raw text when it is not valid JSON (the parse will fail anyway). */
function decodeString(literal: string): string {
  try {
    return JSON.parse(literal) as string;
  } catch {
    return literal;
  }
}

function restore(value: unknown, marker: string): unknown {
  if (typeof value !== 'string' || !value.startsWith(marker)) return value;
  return NON_FINITE[value.slice(marker.length)] ?? value;
}

/**
 * Whether `text` nests arrays and objects deeper than `max` levels (outside strings), by a scan
 * of the text: no parse, no recursion, so any depth is answered. The webhook receiver refuses
 * such a body and the loader sets aside such a stored event: encoding a value thousands of levels
 * deep overflows the stack (normalize.ts keeps values past 32 levels as JSON text).
 */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \\ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) return true;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return false;
}
