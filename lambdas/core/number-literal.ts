/**
 * A JSON number literal the lake keeps as spelled, because a JavaScript number would change it:
 * - its value is not a double at all: `1e400` (Number() gives Infinity), `1e-400` (gives 0), or
 *   a decimal a double rounds (`9007199254740993.0` becomes ...992): `exact` is undefined, and
 *   the lake keeps the literal as text (a `__v_text` variant of a number column);
 * - its value is a double but the spelling is not JavaScript's (`1.10`, `1.0`, `1e5`, `-0`):
 *   `exact` is that double, which number columns store; a text column stores the spelling.
 * Integers beyond 2^53 stay `bigint`s (json-body.ts), and literals that JavaScript spells the
 * same way (`12`, `12.5`) stay plain numbers: this class is the rare case, off the hot path.
 *
 * lossless-json's `stringify` writes it verbatim (it recognises its shared marker symbol), so a
 * literal inside a value kept as JSON text keeps its spelling too.
 */
import type { JsonObject, JsonValue } from './types.ts';

const LOSSLESS_NUMBER_MARKER = Symbol.for('lossless-json.LosslessNumber');

export class NumberLiteral {
  /** `literal`: the JSON number as the body spelled it. `exact`: its value, when a double holds it exactly. */
  constructor(
    readonly literal: string,
    readonly exact: number | undefined,
  ) {
    Object.freeze(this);
  }

  get [LOSSLESS_NUMBER_MARKER](): boolean {
    return true;
  }

  /** lossless-json reads the digits from `value`. */
  get value(): string {
    return this.literal;
  }

  toString(): string {
    return this.literal;
  }
}

export function isNumberLiteral(value: unknown): value is NumberLiteral {
  return value instanceof NumberLiteral;
}

/**
 * The literal's value as `<sign><significant digits>e<exponent>` (value = 0.digits x 10^exponent),
 * so two spellings of one decimal value compare equal (`1.10`, `11e-1`; `0`, `-0.0` are `0`).
 */
export function decimalKey(text: string): string {
  let s = text;
  let sign = '';
  if (s.charCodeAt(0) === 45 /* - */ || s.charCodeAt(0) === 43 /* + */) {
    if (s.charCodeAt(0) === 45) sign = '-';
    s = s.slice(1);
  }
  let exponent = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) {
    exponent = Number(s.slice(e + 1));
    s = s.slice(0, e);
  }
  const dot = s.indexOf('.');
  let digits = dot < 0 ? s : s.slice(0, dot) + s.slice(dot + 1);
  let point = dot < 0 ? s.length : dot;
  let lead = 0;
  while (lead < digits.length && digits.charCodeAt(lead) === 48) lead++;
  digits = digits.slice(lead);
  point -= lead;
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === 48) end--;
  digits = digits.slice(0, end);
  if (digits === '') return '0';
  return `${sign}${digits}e${point + exponent}`;
}

/** True for a JSON object (not a list, not a `NumberLiteral`, which is a class instance). */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return (
    value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof NumberLiteral)
  );
}
