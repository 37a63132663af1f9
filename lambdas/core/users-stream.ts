/**
 * The users list read as a stream: identifiers come out line by line while the bytes arrive,
 * so reading a list of any length holds one line at a time. Same rules as `parseUsersList`
 * (users.ts), which reads a whole text at once: a line is taken as it is (only a CR line ending
 * and a leading BOM are removed), blank lines are skipped, a control character or a line longer
 * than MAX_IDENTIFIER_LENGTH is refused with its line number. Duplicates are NOT removed here:
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

function checked(raw: string, lineNumber: number, label: string): string | undefined {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (line.trim() === '') return undefined;
  if (CONTROL.test(line)) {
    throw new ConfigError(label, `line ${lineNumber}: identifier contains a control character`);
  }
  if (line.length > MAX_IDENTIFIER_LENGTH) {
    throw new ConfigError(
      label,
      `line ${lineNumber}: identifier longer than ${MAX_IDENTIFIER_LENGTH} characters`,
    );
  }
  return line;
}

/**
 * The identifiers of one pass over the source, in file order (duplicates included). Memory: one
 * chunk and one partial line. Throws ConfigError naming `label` and the line on a bad line.
 */
export async function* readIdentifiers(source: UsersSource, label: string): AsyncGenerator<string> {
  // ignoreBOM: keep it in the text, so exactly one leading BOM is removed as users.ts does.
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  let carry = '';
  let lineNumber = 0;
  let first = true;
  const lines = function* (text: string): Generator<string> {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      yield text.slice(start, nl);
      start = nl + 1;
    }
    carry = text.slice(start);
  };
  for await (const chunk of await source.open()) {
    let text = carry + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    if (first && text.length > 0) {
      text = text.replace(/^\uFEFF/, '');
      first = false;
    }
    for (const raw of lines(text)) {
      const line = checked(raw, ++lineNumber, label);
      if (line !== undefined) yield line;
    }
  }
  const rest = carry + decoder.decode();
  const line = checked(first ? rest.replace(/^\uFEFF/, '') : rest, ++lineNumber, label);
  if (line !== undefined) yield line;
}

/** Listed identifiers, duplicates included: an upper bound of the users, read in one bounded pass. */
export async function countListedUsers(source: UsersSource, label: string): Promise<number> {
  let count = 0;
  for await (const _ of readIdentifiers(source, label)) count++;
  return count;
}
