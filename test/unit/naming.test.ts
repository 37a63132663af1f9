import { describe, expect, it } from 'vitest';
import { LAKE } from '#core/constants.ts';
import {
  EMPTY_IDENTIFIER,
  identifierTag,
  isLakeName,
  normalizeIdentifier,
  normalizePath,
  shortenFragments,
  shortenIdentifier,
} from '#core/naming.ts';

// Cases marked "dlt test" are copied from dlt's own tests
// (tests/common/normalizers/test_naming_snake_case.py, test_naming.py, test_json_relational.py);
// the others were checked against dlt's snake_case.py / naming.py code run in Python.

describe('normalizeIdentifier', () => {
  it.each([
    // dlt test
    ['event_value', 'event_value'],
    ['event value', 'event_value'],
    ['event-.!:*<>value', 'event_x_value'],
    ["1event_n'", '_1event_nx'],
    ["123event_n'", '_123event_nx'],
    ['123BaNaNa', '_123_ba_na_na'],
    ['BANANA', 'banana'],
    ['BAN_ANA', 'ban_ana'],
    ['BANaNA', 'ba_na_na'],
    ['Small Love Potion', 'small_love_potion'],
    [' Small Love Potion ', 'small_love_potion'],
    ['BANANA_', 'bananax'],
    ['BANANA____', 'bananaxxxx'],
    ['+-!$*@#=|:', 'x_xa_lx'],
    ['+-*@|', 'x_xal'],
    ['+1', 'x1'],
    ['-1', '_1'],
    ['event__value_value2____', 'event_value_value2xxxx'],
    ['LIST+ident:1', 'lis_txident_1'],
  ])('follows dlt: %j -> %j', (raw, expected) => {
    expect(normalizeIdentifier(raw)).toBe(expected);
  });

  it.each([
    ['DealFlow', 'deal_flow'],
    ['userID', 'user_id'],
    ['actionId', 'action_id'],
    ['_id', '_id'],
    ['HTTPResponseCode', 'http_response_code'],
    ['getHTTP2Response', 'get_http2_response'],
    ['ABcDef', 'a_bc_def'],
    ['iOS', 'i_os'],
    ['ID', 'id'],
    ['userId_', 'user_idx'],
    ['e-mail', 'e_mail'],
    ['a.b.c', 'a_b_c'],
  ])('splits camel case and acronyms like dlt: %j -> %j', (raw, expected) => {
    expect(normalizeIdentifier(raw)).toBe(expected);
  });

  it.each([
    ['💰amount', '_amount'],
    ['amount💰', 'amountx'],
    ['café', 'cafx'],
    ['naïveField', 'na_ve_field'],
    ['日本語', 'x'],
    ['x日本語y', 'x_y'],
    // dlt keeps any Unicode decimal digit (Python's \d), which Glue refuses; ours become ASCII digits.
    ['١٢٣abc', '_123abc'],
    ['x١٢٣Ab', 'x123_ab'],
    ['𝟘𝟙value', '_01value'],
    ['ref١', 'ref1'],
    ['total１', 'total1'],
    ['x٩८𝟗', 'x989'],
  ])('handles Unicode and emoji as dlt does, digits made ASCII: %j -> %j', (raw, expected) => {
    expect(normalizeIdentifier(raw)).toBe(expected);
  });

  it('trims exactly the characters Python strip() trims, not those of String.prototype.trim', () => {
    expect(normalizeIdentifier('\u001fa\u001f')).toBe('a');
    expect(normalizeIdentifier('\u0085b')).toBe('b');
    expect(normalizeIdentifier('\ufeffc')).toBe('_c');
    expect(normalizeIdentifier('  Small Love Potion \t')).toBe('small_love_potion');
  });

  it('collapses underscore runs so that __ never appears inside one segment', () => {
    expect(normalizeIdentifier('a__b')).toBe('a_b');
    expect(normalizeIdentifier('a___b')).toBe('a_b');
    expect(normalizeIdentifier('__proto__')).toBe('_protoxx');
    expect(normalizeIdentifier('_')).toBe('x');
    expect(normalizeIdentifier('__')).toBe('xx');
  });

  it('names an empty or blank key _empty, like dlt does for empty keys in data', () => {
    expect(normalizeIdentifier('')).toBe(EMPTY_IDENTIFIER);
    expect(normalizeIdentifier(' \t\n ')).toBe('_empty');
  });

  it('is idempotent on its own output', () => {
    for (const raw of ['DealFlow', '123BaNaNa', 'BANANA____', '💰amount', 'x١٢٣Ab', '__proto__', '']) {
      const once = normalizeIdentifier(raw);
      expect(normalizeIdentifier(once)).toBe(once);
    }
  });

  it('shortens an over-long name to the limit with a tag hashed from the trimmed raw name', () => {
    const raw = `Customer${'VeryLong'.repeat(40)}Field`;
    const full = `customer${'_very_long'.repeat(40)}_field`;
    const name = normalizeIdentifier(raw);
    expect(name).toHaveLength(LAKE.maxIdentifierLength);
    // Value from dlt's code: head (125) + tag of the raw name + tail (124).
    expect(identifierTag(raw)).toBe('kv4qng');
    expect(name).toBe(`${full.slice(0, 125)}kv4qng${full.slice(-124)}`);
    expect(normalizeIdentifier(`  ${raw}\n`)).toBe(name);
    expect(normalizeIdentifier(name)).toBe(name);
  });

  it('shortens names of astral digits after making them ASCII, keeping the tag of the raw name', () => {
    const name = normalizeIdentifier('𝟘'.repeat(300));
    expect(name).toHaveLength(LAKE.maxIdentifierLength);
    expect(name).toBe(`_${'0'.repeat(124)}oamlvw${'0'.repeat(124)}`);
    expect(isLakeName(name)).toBe(true);
  });

  it('gives different names to long names that differ only in their middle', () => {
    const a = normalizeIdentifier(`${'a'.repeat(200)}X${'b'.repeat(200)}`);
    const b = normalizeIdentifier(`${'a'.repeat(200)}Y${'b'.repeat(200)}`);
    expect(a).toHaveLength(255);
    expect(b).toHaveLength(255);
    expect(a).not.toBe(b);
  });
});

describe('identifierTag and shortenIdentifier', () => {
  it.each([
    ['3f17271231504b8cf65690bcdc379df8a3b8aabe12efe1ea82848ec5f497cb69', 'gds0iw'],
    ['58e5c351b53ffe1233e0656a532a721ae1d2ac7af71b6cfec8ceb64c63b10721', 'uyboiq'],
    ['e3f34629839cedcabba95354e48a78dc80b0cd35c02ddfbbf20196ba7f968866', '51wdcg'],
    ['222d42333592ea87823fd2e7868d59fb0aded20603f433319691918299513cb6', 'futp4w'],
    ['4d4b99ff5d2a3d5cd076782c9cd088cd85d5c789d7de6bdc19c1d206b687d485', '2vvr5a'],
  ])('computes the tag dlt computes (dlt test): %s -> %s', (content, tag) => {
    expect(identifierTag(content)).toBe(tag);
  });

  it('places the tag in the middle with the odd character on the left (dlt test)', () => {
    expect(shortenIdentifier('she played cello well', 'she played cello well', 20)).toBe(
      'she plauanpualo well',
    );
    expect(shortenIdentifier('012345678', 'xxx012345678xxx', 10)).toBe('012345678');
    expect(shortenIdentifier('0123456789', 'xxx012345678xx?', 10)).toBe('0123456789');
  });
});

describe('normalizePath', () => {
  it('normalizes each segment and joins them with __', () => {
    expect(normalizePath(['accounts', 'bills', 'actions'])).toBe('accounts__bills__actions');
    expect(normalizePath(['company', '_id'])).toBe('company___id');
    expect(normalizePath(['Company', 'Branding', 'logoURL'])).toBe('company__branding__logo_url');
    expect(normalizePath(['Small__Love', 'Potion_'])).toBe('small_love__potionx');
  });

  it('shortens a long path deterministically with a tag hashed from the joined normalized path', () => {
    const segments = ['accounts', ...[0, 1, 2, 3, 4].map((i) => `nested${'X'.repeat(60)}${i}`)];
    const full = ['accounts', ...[0, 1, 2, 3, 4].map((i) => `nested_${'x'.repeat(60)}${i}`)].join('__');
    const path = normalizePath(segments);
    expect(path).toHaveLength(255);
    expect(identifierTag(full)).toBe('8axzgg');
    expect(path).toBe(`${full.slice(0, 125)}8axzgg${full.slice(-124)}`);
    expect(normalizePath(segments)).toBe(path);
    expect(shortenFragments(full.split('__'))).toBe(path);
  });

  it('uses the tag of the full normalized path for flattened names, as dlt does (dlt test)', () => {
    const full = 'short_ident_1__short_ident_2__short_ident_3';
    expect(identifierTag(full)).toBe('c93wva');
    const short = shortenIdentifier(full, full, 16);
    expect(short).toBe('shortc93wvaent_3');
  });
});
