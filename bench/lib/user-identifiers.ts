/**
 * The simulated world's user identifiers, a chunk at a time. A whole list (generateIdentifiers)
 * would be harness state that grows with the world (~0.4 MiB per 10,000 users) and would show in
 * the live heap as if the loader held it. Index i's identifier depends only on (seed, i), so a
 * chunk is the tail of a longer list; regenerating the head costs ~0.1 s for 10,000 users, once,
 * outside every timed stage.
 */
import { generateIdentifiers, type Seed } from '#simulator/world.ts';

/** At most this many identifiers are held at a time. */
export const IDENTIFIER_CHUNK = 1_000;

export function* userIdentifiers(seed: Seed, users: number, chunk = IDENTIFIER_CHUNK): Generator<string> {
  for (let start = 0; start < users; start += chunk) {
    yield* generateIdentifiers(seed, Math.min(users, start + chunk)).slice(start);
  }
}
