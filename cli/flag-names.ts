/**
 * A ConfigError names the setting it checked (`baseUrl`, `load-id`, `resources`, `port`,
 * `config.http.timeoutMs`): the core and the simulator do not know the command line. This is
 * the one place that turns such a key into what the user typed: the flag (`--base-url`), or the
 * `--config` file and the key inside it. Keys that are already flags, or that no typed flag
 * gave, are left as they are.
 */
import { SECRET_LABEL } from '#adapters/credentials.ts';
import type { ConfigError, CredentialsError } from '#core/errors.ts';
import { assertLoadId } from '#core/layout.ts';

/** The value given to a flag (`--dest x` or `--dest=x`), as typed; undefined when not given. */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag) return argv[i + 1];
    if (argv[i]?.startsWith(`${flag}=`)) return argv[i]!.slice(flag.length + 1);
  }
  return undefined;
}

/** Flags whose value is a load id: `load-id` errors name the one holding the invalid id. */
const LOAD_ID_FLAGS = ['--load-id', '--resume', '--users-from-failed'] as const;

/** Keys of the `--config` file's top level (core/config.ts configFileSchema). */
const CONFIG_FILE_KEYS = ['baseUrl', 'resources', 'http'] as const;

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Where the error's key came from, in the user's words; undefined: keep the key. */
export function typedSource(key: string, argv: readonly string[]): string | undefined {
  if (key.startsWith('-')) return undefined;
  const typed = (flag: string) => flagValue(argv, flag) !== undefined;
  const config = flagValue(argv, '--config');
  if (key === 'config' || key.startsWith('config.'))
    return config === undefined
      ? undefined
      : `--config ${config}${key === 'config' ? '' : `: ${key.slice(7)}`}`;
  if (key === 'load-id') {
    const invalid = LOAD_ID_FLAGS.find((flag) => typed(flag) && !isLoadId(flagValue(argv, flag)!));
    return invalid ?? LOAD_ID_FLAGS.find(typed);
  }
  const flag = `--${kebab(key.split('.').at(-1)!)}`;
  if (!key.includes('.') && typed(flag)) return flag;
  // A key of the config file not given by a flag (`baseUrl` without --base-url, `resources.x.path`).
  const top = key.split('.')[0]!;
  const fromFile = key === 'baseUrl' || key.includes('.');
  if (config !== undefined && fromFile && (CONFIG_FILE_KEYS as readonly string[]).includes(top))
    return `--config ${config}: ${key}`;
  return typed(flag) ? flag : undefined;
}

function isLoadId(value: string): boolean {
  try {
    assertLoadId(value);
    return true;
  } catch {
    return false;
  }
}

/** The error's message with its key replaced by the flag or file the user typed. */
export function messageInUserTerms(error: ConfigError, argv: readonly string[]): string {
  const source = typedSource(error.key, argv);
  if (source === undefined || !error.message.startsWith(`${error.key}: `)) return error.message;
  return `${source}: ${error.message.slice(error.key.length + 2)}`;
}

/** A secret's error names the flag it came from: `--secret-id paylink/api: ...`. */
export function secretInUserTerms(error: CredentialsError, argv: readonly string[]): string {
  const secretId = flagValue(argv, '--secret-id')?.trim();
  if (secretId === undefined || !error.message.startsWith(SECRET_LABEL(secretId))) return error.message;
  return `--secret-id ${secretId}${error.message.slice(SECRET_LABEL(secretId).length)}`;
}
