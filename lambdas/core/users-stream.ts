/**
 * The users list read as a stream: identifiers come out line by line while the bytes arrive,
 * so reading a list of any length holds one line at a time. Same rules as `parseUsersList`
 * (users.ts), which reads a whole text at once: a line is taken as it is (only a CR line ending
 * and a leading BOM are removed), blank lines are skipped, a control character, a line longer
 * than MAX_IDENTIFIER_LENGTH or bytes that are not UTF-8 are refused with the line number. Duplicates are NOT removed here:
 * removing them needs every identifier at hand, which is what plan.ts's sharded pass bounds.
 */
import { ConfigError } from './errors.ts';

/** As users.ts: anything longer is a broken file, not an identifier. */
export const MAX_IDENTIFIER_LENGTH = 1024;

/**
 * A users list that can be read more than once (the plan reads it in several passes): each
 * `open()` starts a fresh read from the beginning. Chunks are bytes (UTF-8) or text.
 */
export interface UsersSource {
  /** Human-readable origin for messages: `s3://bucket/key`, a file path, ... */
  readonly description: string;
  open(): Promise<AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>>;
}

/** A source over an in-memory text or list of lines (tests, the CLI). */
export function textUsersSource(text: string | readonly string[], description = 'users'): UsersSource {
  return {
    description,
    async open() {
      return typeof text === 'string' ? [text] : text.map((line) => `${line}\n`);
    },
  };
}

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/**
 * Whether `identifier` is one a users list could hold (the rules `readIdentifiers` applies to a
 * line, so an identifier from anywhere else, a webhook event, is judged alike): not blank, no
 * control character (a tab is allowed, as in a list; a line feed cannot be one line), at most
 * MAX_IDENTIFIER_LENGTH characters.
 */
export function isListableIdentifier(identifier: string): boolean {
  return (
    identifier.trim() !== '' &&
    !CONTROL.test(identifier) &&
    !identifier.includes('\n') &&
    identifier.length <= MAX_IDENTIFIER_LENGTH
  );
}

function checked(raw: string, lineNumber: number, label: string): string | undefined {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (line.trim() === '') return undefined;
  if (CONTROL.test(line)) throw controlCharacter(line, lineNumber, label);
  if (line.length > MAX_IDENTIFIER_LENGTH) {
    throw new ConfigError(
      label,
      `line ${lineNumber}: identifier longer than ${MAX_IDENTIFIER_LENGTH} characters`,
    );
  }
  return line;
}

/**
 * The error for a line holding a control character. A CR inside a line is a file saved with
 * classic Mac OS line endings (CR only): every identifier would run together on one line.
 */
export function controlCharacter(line: string, lineNumber: number, label: string): ConfigError {
  return new ConfigError(
    label,
    line.includes('\r')
      ? `line ${lineNumber}: a carriage return (CR) inside the line: CR-only line endings (classic Mac OS) are not supported; convert the file to LF or CRLF line endings`
      : `line ${lineNumber}: identifier contains a control character`,
  );
}

/**
 * The identifiers of one pass over the source, in file order (duplicates included). Memory: one
 * chunk and one partial line (bounded: a line that cannot be an identifier is refused before
 * the rest of it arrives). Lines are split on the byte 0x0A (never part of a multi-byte UTF-8
 * sequence) and each is decoded as strict UTF-8. Throws ConfigError naming `label` and the line
 * on a bad line: a control character, a line too long, or bytes that are not UTF-8 (a Latin-1
 * file, whose identifiers would otherwise load mangled to U+FFFD).
 */
export async function* readIdentifiers(source: UsersSource, label: string): AsyncGenerator<string> {
  const encoder = new TextEncoder();
  let carry: Uint8Array[] = [];
  let carried = 0;
  let lineNumber = 0;
  const take = (bytes: Uint8Array): string | undefined =>
    checked(decodeLine(bytes, ++lineNumber, label, lineNumber === 1), lineNumber, label);
  for await (const chunk of await source.open()) {
    const bytes = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
    let start = 0;
    for (let nl = bytes.indexOf(0x0a); nl !== -1; nl = bytes.indexOf(0x0a, start)) {
      const line = joined([...carry, bytes.subarray(start, nl)], carried + nl - start);
      carry = [];
      carried = 0;
      start = nl + 1;
      const identifier = take(line);
      if (identifier !== undefined) yield identifier;
    }
    if (start < bytes.length) {
      // Copied: a source may reuse its chunk buffer.
      carry.push(bytes.slice(start));
      carried += bytes.length - start;
      if (carried > MAX_LINE_BYTES) tooLong(joined(carry, carried), lineNumber + 1, label);
    }
  }
  const identifier = take(joined(carry, carried));
  if (identifier !== undefined) yield identifier;
}

/** A BOM, the longest identifier in 4-byte characters, and a CR: any longer line is refused. */
const MAX_LINE_BYTES = 3 + 4 * MAX_IDENTIFIER_LENGTH + 1;

function joined(parts: readonly Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The error the whole line would get: its start is decoded and checked as a line. */
function tooLong(start: Uint8Array, lineNumber: number, label: string): never {
  // Stream mode: a character cut at the end of `start` is not an error; a bad byte before is.
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(start, { stream: true });
  } catch {
    throw notUtf8(start, lineNumber, label);
  }
  checked(lineNumber === 1 ? text.replace(/^\uFEFF/, '') : text, lineNumber, label);
  throw new ConfigError(
    label,
    `line ${lineNumber}: identifier longer than ${MAX_IDENTIFIER_LENGTH} characters`,
  );
}

/**
 * One line's bytes as text, strictly: invalid UTF-8 is an error naming the line, never U+FFFD.
 * The first line loses one leading BOM, as users.ts does.
 */
export function decodeLine(bytes: Uint8Array, lineNumber: number, label: string, first: boolean): string {
  let text: string;
  try {
    // ignoreBOM: keep it in the text, so exactly one leading BOM is removed below.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw notUtf8(bytes, lineNumber, label);
  }
  return first ? text.replace(/^\uFEFF/, '') : text;
}

/**
 * The error for a line that is not UTF-8, with its first non-ASCII byte: 0xE9 is Latin-1's
 * `é`, the usual culprit (a spreadsheet export in Latin-1 or Windows-1252).
 */
export function notUtf8(bytes: Uint8Array, lineNumber: number, label: string, file?: string): ConfigError {
  const byte = bytes.find((b) => b >= 0x80);
  const hex = byte === undefined ? '' : ` (byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')})`;
  return new ConfigError(
    label,
    `${file === undefined ? '' : `${file} `}line ${lineNumber} is not valid UTF-8${hex}: identifiers must be UTF-8; save the file as UTF-8 (not Latin-1 or Windows-1252)`,
  );
}

/** Listed identifiers, duplicates included: an upper bound of the users, read in one bounded pass. */
export async function countListedUsers(source: UsersSource, label: string): Promise<number> {
  let count = 0;
  for await (const _ of readIdentifiers(source, label)) count++;
  return count;
}
