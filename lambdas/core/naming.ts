/**
 * dlt's default `snake_case` naming convention, ported rule for rule from
 * dlt/common/normalizers/naming/snake_case.py and naming.py (shortening), so tables and
 * columns carry the names a dlt user already queries. See docs/dlt-compat.md.
 *
 * One difference, on purpose: dlt keeps any Unicode decimal digit (Python's `\d`), so `ref١`
 * stays `ref١`, which the Glue catalog refuses; a lake that committed such a column could never
 * sync its catalog again. Here each non-ASCII decimal digit becomes its ASCII digit
 * (`ref١` -> `ref1`, `total１` -> `total1`), so every name this module produces passes
 * `isLakeName`, the one rule the normalizer, the registry and the Glue sync all use.
 */
import { createHash } from 'node:crypto';
import { LAKE } from './constants.ts';

/**
 * The one naming rule of the lake: lower-case ASCII letters, digits and `_`, not starting with a
 * digit, at most `LAKE.maxIdentifierLength` characters. Glue and Athena accept exactly these
 * unquoted (https://docs.aws.amazon.com/athena/latest/ug/tables-databases-columns-names.html),
 * and DuckDB reads them as written.
 */
export const LAKE_NAME = /^[a-z_][a-z0-9_]*$/;

export function isLakeName(name: string): boolean {
  return name.length <= LAKE.maxIdentifierLength && LAKE_NAME.test(name);
}

/** dlt's name for a key that is empty or only whitespace (relational.py `EMPTY_KEY_IDENTIFIER`). */
export const EMPTY_IDENTIFIER = '_empty';

/**
 * Bytes of the shortening tag: dlt sizes it for a 0.001 collision probability,
 * int(3 * log2(1 / 0.001) // 8) + 1 = 4 bytes, i.e. 6 base64 characters.
 */
const TAG_BYTES = 4;

/** Raw names seen on the hot path are few and repeat for every record: remember them, bounded. */
const CACHE_LIMIT = 20_000;
const cache = new Map<string, string>();

/** Python's `str.strip()` set (`str.isspace()`), which differs from JS `trim()` at U+001C-1F, U+0085, U+FEFF. */
const PY_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002,
  0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

// dlt's `_REDUCE_ALPHABET = ("+-*@|", "x_xal")`.
const REDUCE: Readonly<Record<string, string>> = { '+': 'x', '-': '_', '*': 'x', '@': 'a', '|': 'l' };
const REDUCIBLE = /[+\-*@|]/g;
// Python's `\d` on str patterns is any Unicode decimal digit (category Nd), hence `\p{Nd}`.
const NON_ALPHANUMERIC = /[^a-zA-Z\p{Nd}_]+/gu;
const SNAKE_CASE_BREAK_1 = /([^_])([A-Z][a-z]+)/gu;
const SNAKE_CASE_BREAK_2 = /([a-z0-9])([A-Z])/g;
const LEADING_DIGIT = /^[0-9]/;
const TRAILING_UNDERSCORES = /_+$/;
const UNDERSCORE_RUNS = /__+/g;

/**
 * dlt's `normalize_identifier` for one name segment: trim; `+ * - @ |` to `x x _ a l`; runs of
 * other characters outside `[a-zA-Z0-9_]` to `_`; camelCase split; lowercase; `_` before a
 * leading digit; each trailing `_` to `x`; `__` runs to `_` (so `__` only separates segments).
 * Names over `LAKE.maxIdentifierLength` are shortened with a tag hashed from the trimmed raw name.
 * An empty or blank name gives `_empty` (dlt's choice for empty keys in data).
 */
export function normalizeIdentifier(name: string): string {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const normalized = computeIdentifier(name);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(name, normalized);
  return normalized;
}

function computeIdentifier(name: string): string {
  const stripped = pythonStrip(name);
  if (stripped === '') return EMPTY_IDENTIFIER;
  const reduced = asciiDigits(
    stripped.replace(REDUCIBLE, (c) => REDUCE[c] ?? c).replace(NON_ALPHANUMERIC, '_'),
  );
  return shortenIdentifier(toSnakeCase(reduced), stripped);
}

const NON_ASCII_DIGIT = /(?![0-9])\p{Nd}/gu;
const DIGIT = /\p{Nd}/u;

/**
 * Each non-ASCII decimal digit as its ASCII digit. Unicode encodes every decimal digit set as a
 * run of ten code points, 0 to 9, so a digit's value is its distance from the start of its run.
 */
function asciiDigits(s: string): string {
  return s.replace(NON_ASCII_DIGIT, (digit) => {
    const cp = digit.codePointAt(0) as number;
    let start = cp;
    while (start > 0 && DIGIT.test(String.fromCodePoint(start - 1))) start--;
    return String((cp - start) % 10);
  });
}

function toSnakeCase(identifier: string): string {
  let s = identifier.replace(SNAKE_CASE_BREAK_1, '$1_$2').replace(SNAKE_CASE_BREAK_2, '$1_$2').toLowerCase();
  if (LEADING_DIGIT.test(s)) s = `_${s}`;
  s = s.replace(TRAILING_UNDERSCORES, (run) => 'x'.repeat(run.length));
  return s.replace(UNDERSCORE_RUNS, '_');
}

function pythonStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && PY_SPACE.has(s.charCodeAt(start))) start++;
  while (end > start && PY_SPACE.has(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/**
 * dlt's `normalize_path` over segments: each segment normalized, joined with `__`, the whole
 * shortened when too long (tag hashed from the joined normalized path, as dlt's
 * `shorten_fragments` does for flattened columns and child tables). Idempotent.
 */
export function normalizePath(segments: readonly string[]): string {
  return shortenFragments(segments.map(normalizeIdentifier));
}

/** dlt's `shorten_fragments`: joins already-normalized segments (blank ones skipped) and shortens. */
export function shortenFragments(normalized: readonly string[]): string {
  const path = normalized.filter((s) => pythonStrip(s) !== '').join(LAKE.pathSeparator);
  return shortenIdentifier(path, path);
}

/**
 * dlt's `shorten_identifier`: a name longer than `maxLength` keeps its head and tail around a
 * 6-character tag hashed from `tagSource`, so it stays readable, stable and unique. Lengths count
 * code points, as Python's `len` does.
 */
export function shortenIdentifier(
  normalized: string,
  tagSource: string,
  maxLength: number = LAKE.maxIdentifierLength,
): string {
  // UTF-16 length is never below the code point count: most names stop here.
  if (normalized.length <= maxLength) return normalized;
  const chars = Array.from(normalized);
  if (chars.length <= maxLength) return normalized;
  const tag = identifierTag(tagSource);
  const remaining = maxLength - tag.length;
  const half = Math.floor(remaining / 2);
  return chars.slice(0, half + (remaining % 2)).join('') + tag + chars.slice(chars.length - half).join('');
}

/** dlt's `_compute_tag`: base64 of a 4-byte shake_128 digest, `/`->`a`, `+`->`b`, lowercased. */
export function identifierTag(source: string): string {
  return createHash('shake128', { outputLength: TAG_BYTES })
    .update(source, 'utf8')
    .digest('base64')
    .replace(/=+$/, '')
    .replaceAll('/', 'a')
    .replaceAll('+', 'b')
    .toLowerCase();
}
