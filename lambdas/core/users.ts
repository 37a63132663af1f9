/**
 * The users list: one identifier per line, as the integrator knows its users. Identifiers may
 * hold spaces and any Unicode, so a line is taken as it is (only a CR line ending and a BOM are
 * removed); blank lines are skipped; duplicates are loaded once.
 */
import { ConfigError } from './errors.ts';
import { decodeLine, notUtf8 } from './users-stream.ts';

/** PayLink identifiers are the integrator's ids; anything longer is a broken file, not an id. */
const MAX_IDENTIFIER_LENGTH = 1024;

/**
 * A users file's bytes as text. Identifiers must be UTF-8: a file saved as Latin-1 or
 * Windows-1252 would otherwise load `José` as `Jos\uFFFD` without a word, a different user.
 * Throws ConfigError(`source`) naming `file` and the first line that is not UTF-8.
 */
export function usersText(bytes: Uint8Array, source: string, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
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
}

export function parseUsersList(text: string, source = 'users'): string[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const seen = new Set<string>();
  const users: string[] = [];
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
    if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(line)) {
      throw new ConfigError(source, `line ${index + 1}: identifier contains a control character`);
    }
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
