/**
 * Identifiers must be valid UTF-8, whether the list is read whole (CLI: usersText) or as a
 * stream (the plan Lambda reading S3: readIdentifiers): a Latin-1 file is refused naming the
 * line, never loaded with its identifiers mangled to U+FFFD.
 */
import { describe, expect, it } from 'vitest';
import { parseUsersList, usersText } from '#core/users.ts';
import { readIdentifiers, type UsersSource } from '#core/users-stream.ts';

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

/** A source cut into chunks of `size` bytes. */
function chunked(data: Uint8Array, size: number, description = 's3://b/users.txt'): UsersSource {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += size) chunks.push(data.subarray(at, at + size));
  return { description, open: async () => chunks };
}

async function all(source: UsersSource): Promise<string[]> {
  const out: string[] = [];
  for await (const id of readIdentifiers(source, source.description)) out.push(id);
  return out;
}

describe('usersText (a whole users file)', () => {
  it('decodes UTF-8, a BOM kept for parseUsersList to remove', () => {
    const text = usersText(bytes([0xef, 0xbb, 0xbf], 'Zoë\n山田\n🦄\n'), '--users', 'u.txt');
    expect(parseUsersList(text)).toEqual(['Zoë', '山田', '🦄']);
  });

  it.each([
    ['a Latin-1 é', bytes('ok\nJos', [0xe9], '\n'), 2, '0xE9'],
    ['a Windows-1252 quote on the last line, no newline', bytes('a\nb\n', [0x93], 'x'), 3, '0x93'],
    ['a UTF-8 sequence cut short', bytes('x\n', [0xe5, 0xb1], '\n'), 2, '0xE5'],
    ['an overlong encoding of "/"', bytes([0xc0, 0xaf], '\n'), 1, '0xC0'],
  ])('refuses %s naming the file and the line', (_what, data, line, byte) => {
    expect(() => usersText(data, '--users', 'users.txt')).toThrowError(
      `--users: users.txt line ${line} is not valid UTF-8 (byte ${byte})`,
    );
  });
});

describe('readIdentifiers (a users list streamed from S3)', () => {
  it('reads UTF-8 whose characters are cut across chunks', async () => {
    const data = bytes([0xef, 0xbb, 0xbf], 'Zoë Ångström\n山田 太郎\r\n\n🦄\nlast');
    for (const size of [1, 2, 3, 5, 64]) {
      expect(await all(chunked(data, size))).toEqual(['Zoë Ångström', '山田 太郎', '🦄', 'last']);
    }
  });

  it('refuses a Latin-1 line, whatever the chunks, naming the source and the line', async () => {
    const data = bytes('user-1\nuser-2\nJos', [0xe9], '\nuser-4\n');
    for (const size of [1, 4, 1000]) {
      await expect(all(chunked(data, size))).rejects.toThrowError(
        's3://b/users.txt: line 3 is not valid UTF-8 (byte 0xE9)',
      );
    }
  });

  it('refuses a line too long before the rest of it arrives (memory stays bounded)', async () => {
    let served = 0;
    const endless: UsersSource = {
      description: 'endless',
      async open() {
        return (async function* () {
          yield bytes('ok\n');
          for (;;) {
            served++;
            yield new Uint8Array(1024).fill(0x61);
          }
        })();
      },
    };
    await expect(all(endless)).rejects.toThrowError(
      'endless: line 2: identifier longer than 1024 characters',
    );
    expect(served).toBeLessThan(10);
  });

  it('reports a control character in a long line as the whole-file reader does', async () => {
    const data = bytes('a\u0001', 'b'.repeat(5000), '\n');
    await expect(all(chunked(data, 1000, 'users'))).rejects.toThrowError(
      'users: line 1: identifier contains a control character',
    );
    expect(() => parseUsersList(usersText(data, 'users', 'f'), 'users')).toThrowError(
      'users: line 1: identifier contains a control character',
    );
  });

  it('names CR-only line endings in a stream, where no file name is known', async () => {
    await expect(all(chunked(bytes('user-a\ruser-b\r'), 4, 's3://b/mac.txt'))).rejects.toThrowError(
      's3://b/mac.txt: line 1: a carriage return (CR) inside the line: CR-only line endings (classic Mac OS) are not supported',
    );
  });
});
