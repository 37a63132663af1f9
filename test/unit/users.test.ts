import { describe, expect, it } from 'vitest';
import { parseTaskIds, parseUsersList } from '#core/users.ts';

describe('users list', () => {
  it('keeps identifiers exactly, with spaces and any Unicode', () => {
    expect(parseUsersList('user-1\nZoë Ångström 7\n山田 太郎\n  padded  \n🦄 emoji\n')).toEqual([
      'user-1',
      'Zoë Ångström 7',
      '山田 太郎',
      '  padded  ',
      '🦄 emoji',
    ]);
  });

  it('drops a BOM, CRLF endings, blank lines and duplicates', () => {
    expect(parseUsersList('\uFEFFa\r\n\r\n   \nb\r\na\n')).toEqual(['a', 'b']);
  });

  it('names the line of an identifier with a control character', () => {
    expect(() => parseUsersList('ok\nbad\u0000id\n', '--users')).toThrowError(
      '--users: line 2: identifier contains a control character',
    );
  });

  it('rejects an absurdly long line by its number', () => {
    expect(() => parseUsersList(`a\n${'x'.repeat(2000)}`, '--users')).toThrowError(
      /--users: line 2: identifier longer than/,
    );
  });
});

describe('task ids', () => {
  it('groups task ids per user, once each', () => {
    const ids = parseTaskIds(
      '{"identifier":"u 1","taskId":"t1"}\n{"identifier":"u 1","taskId":"t2"}\n{"identifier":"u 1","taskId":"t1"}\n',
    );
    expect([...ids]).toEqual([['u 1', ['t1', 't2']]]);
  });

  it('names the line of a malformed entry', () => {
    expect(() => parseTaskIds('{"identifier":"a","taskId":"t"}\n{"identifier":"a"}')).toThrowError(
      'task-ids: line 2: needs string fields "identifier" and "taskId"',
    );
  });
});
