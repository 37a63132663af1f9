/**
 * The package version `paylink-loader --version` prints: package.json's `version`, read once.
 * Resolved from this file's location, so it is right from a fresh clone, through
 * bin/paylink-loader.mjs, and from any working directory.
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      name?: unknown;
      version?: unknown;
    };
    cached = typeof manifest.version === 'string' ? manifest.version : 'unknown';
  }
  return cached;
}
