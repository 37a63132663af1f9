/**
 * The summary's Failed users table gives each `user_loads.error_code` its meaning in words
 * (`reasonWords`): a code the loader's units get without words showed an empty meaning
 * (`child_not_found` did). Every code load-user.ts and load-batch.ts export is read from the
 * modules themselves, never a hand list, so a code added later without words fails here.
 */
import { describe, expect, it } from 'vitest';
import { reasonWords } from '#cli/failure-reasons.ts';
import * as loadBatch from '#core/load-batch.ts';
import * as loadUser from '#core/load-user.ts';

/** Exported string constants shaped like an error code (`child_not_found`). */
const codesOf = (module: Record<string, unknown>) =>
  Object.values(module).filter(
    (v): v is string => typeof v === 'string' && /^[a-z0-9]+(?:_[a-z0-9]+)+$/.test(v),
  );

describe('user_loads error codes in the summary', () => {
  const codes = [...new Set([...codesOf(loadUser), ...codesOf(loadBatch)])].sort();

  it('reads the codes from the modules', () => {
    expect(codes).toEqual(expect.arrayContaining(['child_not_found', 'parent_not_found', 'parent_failed']));
  });

  it.each(codes)('%s has words', (code) => {
    expect(reasonWords(code)).not.toBe('');
  });

  it('has words for the codes of unsafe path segments, which no constant names', () => {
    for (const code of ['unsafe_identifier', 'unsafe_path_key']) expect(reasonWords(code), code).not.toBe('');
  });
});
