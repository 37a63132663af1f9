/**
 * The handlers' log level, one rule for both places it is read: the stack's `logLevel`
 * (cdk.json, infra/config.ts) and the Lambda environment's `POWERTOOLS_LOG_LEVEL` (the stack
 * sets it from `logLevel`; an operator may edit it on a function). Any case is taken (`debug`
 * is DEBUG, as Powertools' own constructor takes it); anything else is named with the accepted
 * levels, never guessed: Powertools alone would drop a bad value in silence and log at INFO.
 */

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level `raw` names (any case), or undefined when it names none. */
export function parseLogLevel(raw: unknown): LogLevel | undefined {
  if (typeof raw !== 'string') return undefined;
  const upper = raw.trim().toUpperCase();
  return (LOG_LEVELS as readonly string[]).includes(upper) ? (upper as LogLevel) : undefined;
}

/**
 * Why `raw` is no log level, naming the value: a level is no secret, and the value is what the
 * reader must find and fix. Cut to 40 characters and JSON-quoted (control characters escaped).
 */
export function badLogLevel(raw: unknown): string {
  const shown =
    typeof raw === 'string'
      ? JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}...` : raw)
      : raw === null
        ? 'null'
        : Array.isArray(raw)
          ? 'a list'
          : typeof raw === 'object'
            ? 'an object'
            : String(raw);
  return `${shown} is not a log level: use one of ${LOG_LEVELS.join(', ')}`;
}
