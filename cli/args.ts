/** Flag parsing for the CLI: node's parseArgs, with errors that name the flag. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { parseDestination } from '#adapters/open-store.ts';
import { nearest } from '#core/config.ts';
import { ConfigError } from '#core/errors.ts';

export type Options = ParseArgsConfig['options'];

/**
 * Parses flags strictly. Errors name the flag: an unknown one, one without its value, and an
 * empty value (`--resources "$UNSET"`), which is never what a script meant. parseArgs reads
 * `--failed-share -1` as a flag with no value followed by a flag `-1`: for a flag in `numbers`
 * the negative value is given to the flag all the same, so the command's own check refuses it
 * with the range the flag really accepts (`must be a percentage from 0 to below 100`), never a
 * range guessed here; any other flag followed by one is refused as such.
 */
export function parseFlags<O extends NonNullable<Options>>(
  argv: readonly string[],
  options: O,
  allowPositionals = false,
  numbers: readonly (keyof O & string)[] = [],
): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>> {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>
  >;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message)?.[1];
    if (ambiguous !== undefined) {
      // The occurrence followed by a dash (a flag may be given twice, the first time with a value).
      const at = argv.findIndex((arg, i) => arg === ambiguous && argv[i + 1]?.startsWith('-'));
      const value = argv[at + 1] ?? '';
      if (NEGATIVE.test(value) && (numbers as readonly string[]).includes(ambiguous.slice(2)))
        return parseFlags(
          [...argv.slice(0, at), `${ambiguous}=${value}`, ...argv.slice(at + 2)],
          options,
          allowPositionals,
          numbers,
        );
      throw valueLikeAFlag(ambiguous, value);
    }
    const missing = /^Option '(--[\w-]+) <value>' argument missing/.exec(message)?.[1];
    if (missing !== undefined) throw new ConfigError(missing, 'needs a value (it is the last argument)');
    // A mistyped flag gets the nearest one the command has, as a mistyped cdk.json key does.
    const unknown = /^Unknown option '--([\w-]+)'/.exec(message)?.[1];
    const near = unknown === undefined ? undefined : nearest(unknown, Object.keys(options));
    // parseArgs messages quote the flag ("Unknown option '--foo'"): safe and specific.
    throw new ConfigError(
      'arguments',
      `${message.split('. ')[0]!.split('\n')[0]!}${near === undefined ? '' : ` (did you mean --${near}?)`}`,
    );
  }
  repeatedFlag(argv, options);
  for (const [name, value] of Object.entries(parsed.values)) {
    if (typeof value === 'string' && value.trim() === '')
      throw new ConfigError(
        `--${name}`,
        'is empty (an unset variable?): give a value, or leave the flag out',
      );
  }
  return parsed;
}

/**
 * Refuses a flag of one value given twice (`--quiet-fraction 0.5 --quiet-fraction 0.9`): parseArgs
 * keeps the last in silence, and a script that builds its arguments rarely meant that. Flags
 * that take several values (`multiple`) and switches (`--json` twice says the same) pass.
 */
function repeatedFlag(argv: readonly string[], options: NonNullable<Options>): void {
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = options[token.name];
    if (option === undefined || option.type !== 'string' || option.multiple === true) continue;
    if (seen.has(token.name))
      throw new ConfigError(`--${token.name}`, 'is given twice: give it once (the value wanted)');
    seen.add(token.name);
  }
}

/** A value that starts like a negative number (`-1`, `-0.5`, `-5h`). */
const NEGATIVE = /^-\d/;

function valueLikeAFlag(flag: string, value: string): ConfigError {
  return NEGATIVE.test(value)
    ? new ConfigError(flag, `'${value}' is negative, and ${flag} takes no negative value`)
    : new ConfigError(
        flag,
        `needs a value, but is followed by '${value}' (a value starting with "-" is written ${flag}=${value})`,
      );
}

export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined || value === '') throw new ConfigError(flag, 'is required');
  return value;
}

export function optionalRate(flag: string, raw: string | undefined): number | undefined {
  return raw === undefined ? undefined : numberFlag(flag, raw, { min: 0, max: 1, whole: false });
}

export function list(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A file flag's path: relative paths are the command's (Io.cwd), not the process's. */
export function pathFrom(cwd: string, path: string): string {
  return resolve(cwd, path);
}

/** A --dest: a relative folder is taken from the command's cwd; s3:// is kept as typed. */
export function destFrom(cwd: string, dest: string): string {
  const destination = parseDestination(dest, cwd, '--dest');
  return destination.kind === 'local' ? destination.path : dest;
}

/**
 * A --dest whose folder must exist (sync, existence only): a local folder that does not exist is
 * an error, not an empty lake. Commands that read a lake use existing-lake.ts's `existingLake`,
 * which also refuses a file, a folder without lake entries and an empty S3 prefix.
 */
export function existingLakeFrom(cwd: string, dest: string): string {
  const path = destFrom(cwd, dest);
  if (!path.startsWith('s3://') && !existsSync(path)) {
    throw new ConfigError('--dest', `no lake at ${path} (the folder does not exist)`);
  }
  return path;
}

/** The values a numeric flag accepts. */
export interface FlagRange {
  readonly min: number;
  readonly max: number;
  /** Whole numbers only: no fraction is written (`--batch-size 2.5` is refused, not rounded). */
  readonly whole: boolean;
  /** `min` itself is refused (a rate above 0). */
  readonly aboveMin?: boolean;
  /** `max` itself is refused (a percentage below 100). */
  readonly belowMax?: boolean;
  /** The range in the flag's own words, when it has them (`a percentage from 0 to below 100`). */
  readonly words?: string;
}

const WHOLE_DIGITS = /^\d+$/;
const DECIMAL_DIGITS = /^(\d+(\.\d+)?|\.\d+)$/;

/** A range in words: `a whole number from 1 to 512`, `a number above 0 and at most 10000`. */
export function rangeWords(range: FlagRange): string {
  if (range.words !== undefined) return range.words;
  // No bound of its own: the largest integer a number holds exactly.
  if (range.max === Number.MAX_SAFE_INTEGER)
    return `${range.whole ? 'a whole number' : 'a number'}, ${range.min} or more`;
  if (range.whole) return `a whole number from ${range.min} to ${range.max}`;
  return range.aboveMin
    ? `a number above ${range.min} and at most ${range.max}`
    : `a number from ${range.min} to ${range.max}`;
}

/**
 * A numeric flag's value, strictly: decimal digits only (a fraction only where the flag takes
 * one), within its range. Number() alone would take `0x10` (16), `1e3`, `Infinity`, ` 5 ` and a
 * 20-digit integer it cannot hold; every command's numeric flags go through here, so each is
 * refused in one line naming the flag, its whole range and the value typed.
 */
export function numberFlag(flag: string, raw: string, range: FlagRange): number {
  const n = (range.whole ? WHOLE_DIGITS : DECIMAL_DIGITS).test(raw) ? Number(raw) : Number.NaN;
  const inRange =
    Number.isFinite(n) &&
    (range.aboveMin ? n > range.min : n >= range.min) &&
    (range.belowMax ? n < range.max : n <= range.max) &&
    (!range.whole || Number.isSafeInteger(n));
  if (!inRange) throw new ConfigError(flag, `must be ${rangeWords(range)} (got '${raw}')`);
  return n;
}

/** numberFlag, or `fallback` when the flag is not given. */
export function optionalNumberFlag(
  flag: string,
  raw: string | undefined,
  range: FlagRange,
  fallback: number,
): number {
  return raw === undefined ? fallback : numberFlag(flag, raw, range);
}
