/**
 * The users list: one identifier per line, as the integrator knows its users. Identifiers may
 * hold spaces and any Unicode, so a line is taken as it is (only a CR line ending and a BOM are
 * removed); blank lines are skipped; duplicates are loaded once.
 */
import { ConfigError } from './errors.ts';
import { controlCharacter, decodeLine, notUtf8 } from './users-stream.ts';

/** PayLink identifiers are the integrator's ids; anything longer is a broken file, not an id. */
const MAX_IDENTIFIER_LENGTH = 1024;

/**
 * A users file's bytes as text. Identifiers must be UTF-8: a file saved as Latin-1 or
 * Windows-1252 would otherwise load `José` as `Jos\uFFFD` without a word, a different user.
 * Throws ConfigError(`source`) naming `file` and the first line that is not UTF-8.
 */
export function usersText(bytes: Uint8Array, source: string, file: string): string {
  const utf16 = utf16Evidence(bytes);
  if (utf16 !== undefined)
    throw new ConfigError(
      source,
      `${file} looks like UTF-16 (${utf16}): identifiers must be UTF-8; save the file as UTF-8`,
    );
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // Find the line (0x0A is never inside a multi-byte sequence): only on this failure path.
    let start = 0;
    for (let line = 1; ; line++) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl === -1 ? bytes.length : nl;
      try {
        decodeLine(bytes.subarray(start, end), line, source, line === 1);
      } catch {
        throw notUtf8(bytes.subarray(start, end), line, source, file);
      }
      if (nl === -1) throw notUtf8(bytes, 1, source, file);
      start = nl + 1;
    }
  }
  // Lines end with LF (or CRLF); a file with CRs and no LF was saved with classic Mac OS line
  // endings, and would read as one identifier holding them.
  if (text.includes('\r') && !text.includes('\n'))
    throw new ConfigError(
      source,
      `${file} has CR line endings (classic Mac OS), which are not supported: convert it to LF ` +
        `or CRLF line endings (e.g. tr '\\r' '\\n' < ${file} > users-lf.txt)`,
    );
  return text;
}

/** Bytes examined for the NULs of UTF-16 text without a byte order mark. */
const UTF16_SAMPLE_BYTES = 512;

/**
 * Why the bytes look like UTF-16, or undefined: a byte order mark (FF FE, FE FF), or text whose
 * every other byte is NUL (the high byte of ASCII characters), as Windows tools save "Unicode".
 * Such a file is often valid UTF-8 byte by byte (NULs are ASCII) but never what was meant.
 */
export function utf16Evidence(bytes: Uint8Array): string | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'little-endian byte order mark FF FE';
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'big-endian byte order mark FE FF';
  const sample = bytes.subarray(0, UTF16_SAMPLE_BYTES - (Math.min(bytes.length, UTF16_SAMPLE_BYTES) % 2));
  if (sample.length < 2) return undefined;
  let evenNuls = 0;
  let oddNuls = 0;
  for (let i = 0; i < sample.length; i++) if (sample[i] === 0) i % 2 === 0 ? evenNuls++ : oddNuls++;
  const pairs = sample.length / 2;
  // Mostly ASCII identifiers: nearly every high byte is NUL, and no low byte is.
  if (oddNuls >= pairs * 0.8 && evenNuls === 0) return 'every other byte is NUL: UTF-16 little-endian';
  if (evenNuls >= pairs * 0.8 && oddNuls === 0) return 'every other byte is NUL: UTF-16 big-endian';
  return undefined;
}

export function parseUsersList(text: string, source = 'users'): string[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const seen = new Set<string>();
  const users: string[] = [];
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
    if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(line)) throw controlCharacter(line, index + 1, source);
    if (line.length > MAX_IDENTIFIER_LENGTH) {
      throw new ConfigError(
        source,
        `line ${index + 1}: identifier longer than ${MAX_IDENTIFIER_LENGTH} characters`,
      );
    }
    if (!seen.has(line)) {
      seen.add(line);
      users.push(line);
    }
  });
  return users;
}

/**
 * Known task ids per user (the parent of the `tasks` resource): JSON lines of
 * `{"identifier": "...", "taskId": "..."}`.
 */
export function parseTaskIds(text: string, source = 'task-ids'): Map<string, string[]> {
  const out = new Map<string, string[]>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new ConfigError(source, `line ${index + 1}: not JSON`);
    }
    const { identifier, taskId } = (parsed ?? {}) as { identifier?: unknown; taskId?: unknown };
    if (typeof identifier !== 'string' || identifier === '' || typeof taskId !== 'string' || taskId === '') {
      throw new ConfigError(source, `line ${index + 1}: needs string fields "identifier" and "taskId"`);
    }
    const list = out.get(identifier) ?? [];
    if (!list.includes(taskId)) list.push(taskId);
    out.set(identifier, list);
  });
  return out;
}

/**
 * How many identifiers start or end with whitespace. They are kept exactly (an identifier may
 * hold spaces, and PayLink matches it byte for byte), but a stray space from a spreadsheet makes
 * `user-1 ` a different user from `user-1`: worth one warning line.
 */
export function withSurroundingWhitespace(identifiers: readonly string[]): number {
  return identifiers.filter((id) => id !== id.trim()).length;
}
