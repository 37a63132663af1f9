/**
 * Strict ISO-8601 date-time parsing, the only strings the lake types as `timestamp`.
 *
 * Accepted: `YYYY-MM-DD` + `T` or a space + `HH:MM[:SS[.fraction]]` + optional `Z` or offset
 * (`+HH:MM`, `+HHMM`, `+HH`). A string without a zone is UTC (dlt treats naive times the same
 * way). Date-only strings are not timestamps: dlt's default detection leaves them as text.
 * Values are kept to millisecond precision (the fraction is truncated, never rounded, so a
 * value never moves into the next second) because the lake writes Parquet TIMESTAMP_MILLIS.
 */

// Athena (Hive/Trino timestamps) and Glue read years 0001..9999; a value outside cannot be
// queried, so it is not a timestamp at all (it stays text or goes to a variant).
const MIN_MS = -62_135_596_800_000; // 0001-01-01T00:00:00.000Z
const MAX_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/** Shortest and longest strings the pattern can match: cheap gates before the regex. */
const MIN_LENGTH = 16; // 2024-01-01T10:00
const MAX_LENGTH = 35; // 2024-01-01T10:00:00.123456789+01:00

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  return month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/**
 * The instant an ISO-8601 date-time string denotes, or undefined when the string is not one
 * (wrong shape, impossible calendar values such as Feb 30 or 25:00, or outside years 1..9999).
 */
export function parseIsoTimestamp(value: string): Date | undefined {
  // Most strings are not timestamps: reject them on length and a few characters before the regex.
  const length = value.length;
  if (length < MIN_LENGTH || length > MAX_LENGTH) return undefined;
  if (!isDigit(value.charCodeAt(0)) || value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45)
    return undefined;
  const m = ISO_DATE_TIME.exec(value);
  if (m === null) return undefined;

  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const millis = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0').slice(0, 3));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  // Leap seconds (:60) and 24:00 are legal ISO but not representable in every reader: not a timestamp.
  if (hour > 23 || minute > 59 || second > 59) return undefined;

  let ms: number;
  if (year >= 100) {
    ms = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  } else {
    // Date.UTC maps years 0..99 to 1900..1999; set the full year explicitly.
    const d = new Date(0);
    d.setUTCFullYear(year, month - 1, day);
    d.setUTCHours(hour, minute, second, millis);
    ms = d.getTime();
  }

  if (m[8] !== undefined) {
    const offsetHours = Number(m[9]);
    const offsetMinutes = m[10] === undefined ? 0 : Number(m[10]);
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    const offsetMs = (offsetHours * 60 + offsetMinutes) * 60_000;
    ms = m[8] === '+' ? ms - offsetMs : ms + offsetMs;
  }
  if (ms < MIN_MS || ms > MAX_MS) return undefined;
  return new Date(ms);
}
