import { describe, expect, it } from 'vitest';
import { childRowId, DLT_ID_LENGTH, digest128, rootRowId, rowId } from '#core/ids.ts';

// Expected digests were computed with dlt's digest128 (dlt/common/utils.py) in Python:
// base64(shake_128(v.encode("utf-8")).digest(10)).rstrip("=").

describe('digest128', () => {
  it.each([
    ['abc', 'WIEJLdgYv1z4ow'],
    ['', 'f5wrpOiPgn1hYA'],
    ['日本語😀', 'L25GEyGL7dviGg'],
    ['WIEJLdgYv1z4ow_accounts__actions_0', 'OX/ZSDGVo0WoaQ'],
  ])('matches dlt byte for byte: %j -> %s', (value, expected) => {
    expect(digest128(value)).toBe(expected);
  });

  it('produces dlt-length ids: 10 bytes as 14 base64 characters without padding', () => {
    expect(DLT_ID_LENGTH).toBe(14);
    expect(digest128('anything')).toMatch(/^[A-Za-z0-9+/]{14}$/);
    expect(digest128('anything', 15)).toMatch(/^[A-Za-z0-9+/]{20}$/);
  });
});

describe('childRowId', () => {
  it("hashes dlt's exact string f'{parent_row_id}_{child_table}_{list_idx}'", () => {
    expect(childRowId('WIEJLdgYv1z4ow', 'accounts__actions', 0)).toBe('OX/ZSDGVo0WoaQ');
    expect(childRowId('p', 't', 3)).toBe(digest128('p_t_3'));
  });

  it('differs by parent, table and index', () => {
    const ids = new Set([
      childRowId('p', 'accounts__bills', 0),
      childRowId('p', 'accounts__bills', 1),
      childRowId('p', 'accounts__actions', 0),
      childRowId('q', 'accounts__bills', 0),
      childRowId('p', 'accounts__bills', 10),
      childRowId('p', 'accounts__bills_1', 0),
    ]);
    expect(ids.size).toBe(6);
  });
});

describe('rowId and rootRowId', () => {
  it('is stable across calls, so a re-run of a load id reproduces its ids', () => {
    expect(rootRowId('1764064800.1', 'user-1', 'accounts', 'k:account-1')).toBe(
      rootRowId('1764064800.1', 'user-1', 'accounts', 'k:account-1'),
    );
    expect(rootRowId('1764064800.1', 'user-1', 'accounts', 'k:account-1')).toHaveLength(DLT_ID_LENGTH);
  });

  it('differs between loads for the same user, table and record', () => {
    expect(rootRowId('1764064800.1', 'user-1', 'accounts', 'k:account-1')).not.toBe(
      rootRowId('1764064800.2', 'user-1', 'accounts', 'k:account-1'),
    );
  });

  it('hashes the JSON array of the parts', () => {
    expect(rootRowId('L', 'user-1', 'accounts', 'k:account-1')).toBe(
      digest128('["L","user-1","accounts","k:account-1"]'),
    );
    expect(rowId('user-1', 'accounts', 'k:account-1')).toBe('du3d0Q591o52LA');
  });

  it('keeps tuples apart that a separator or a length prefix would merge', () => {
    const ids = [
      rootRowId('L', 'a_b', 'c', 'd'),
      rootRowId('L', 'a', 'b_c', 'd'),
      rootRowId('L', 'a', 'b', 'c_d'),
      rootRowId('L', 'a","b', 'c', 'd'),
      rootRowId('L', 'a', 'b', '"c","d"'),
      rootRowId('L', '1:a', 'b', 'c'),
      rootRowId('L', 'a\\', 'b', 'c'),
      rootRowId('L', 'a', '\\b', 'c'),
      // Lone surrogates: UTF-8 would turn both into U+FFFD, JSON escapes keep them apart.
      rootRowId('L', '\ud800', 't', 'k'),
      rootRowId('L', '\udbff', 't', 'k'),
      rootRowId('L', '', 't', 'k'),
      rootRowId('L', 't', '', 'k'),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('never equals a child id built from the same strings', () => {
    expect(rowId('p', 't', '0')).not.toBe(childRowId('p', 't', 0));
  });
});
