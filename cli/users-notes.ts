/** What a person should know about a users list that is valid but may not be what was meant. */
import { withSurroundingWhitespace } from '#core/users.ts';
import type { Io } from './io.ts';

/**
 * One warning line on stderr when identifiers start or end with whitespace: they are loaded
 * exactly as written (documented), so `user-1 ` and `user-1` are two different users.
 */
export function warnSurroundingWhitespace(
  io: Pick<Io, 'stderr'>,
  identifiers: readonly string[],
  from: string,
): void {
  const count = withSurroundingWhitespace(identifiers);
  if (count === 0) return;
  io.stderr.write(
    `warning: ${count} identifier(s) in ${from} start or end with whitespace; they are loaded exactly as written ` +
      '(a different user from the same identifier without it)\n',
  );
}
