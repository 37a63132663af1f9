/** Flag parsing for the CLI: node's parseArgs, with errors that name the flag. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError } from '#core/errors.ts';

export type Options = ParseArgsConfig['options'];

export function parseFlags<O extends NonNullable<Options>>(
  argv: readonly string[],
  options: O,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // parseArgs messages quote the flag ("Unknown option '--foo'"): safe and specific.
    throw new ConfigError('arguments', message.split('. ')[0] ?? message);
  }
}

export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined || value === '') throw new ConfigError(flag, 'is required');
  return value;
}

export function optionalRate(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new ConfigError(flag, 'must be a number from 0 to 1');
  return n;
}

export function list(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
