/**
 * The simulator's options: one zod schema, so the CLI validates its flags with the same
 * rules `startSimulator` applies, and every error names the option (never its value).
 */
import { z } from 'zod';
import { issueWords } from '#core/config.ts';
import { ConfigError } from '#core/errors.ts';
import { API_PROFILE_NAMES, type ApiProfile, apiOptionsSchema } from './api-profiles.ts';

export const SIMULATOR_DEFAULTS = {
  /** 0: an ephemeral port chosen by the OS. */
  port: 0,
  seed: 'paylink',
  apiKey: 'sim-key',
  apiSecret: 'sim-secret',
  /** Users whose generated data stays cached (LRU); generation is cheap, this only saves CPU. */
  userCacheSize: 10_000,
  faults: {
    retryAfterSeconds: 1,
    hangMs: 30_000,
    maxConsecutiveFaults: 2,
    envelope: 'top',
  },
} as const;

const rate = z.number().min(0).max(1);
const milliseconds = z.number().int().min(0).max(600_000);

export const faultOptionsSchema = z
  .object({
    /** Share of requests answered 429 with a Retry-After header. */
    status429Rate: rate.default(0),
    retryAfterSeconds: z.number().int().min(0).max(3600).default(SIMULATOR_DEFAULTS.faults.retryAfterSeconds),
    /** Send Retry-After as an HTTP date instead of seconds. */
    retryAfterAsDate: z.boolean().default(false),
    /** Share of requests answered 503, 500 or 502 (rotating). */
    status5xxRate: rate.default(0),
    /** Share of data requests answered 200 with a body that is not valid JSON. */
    malformedRate: rate.default(0),
    /** Share of data requests answered only after `hangMs` (clients time out first). */
    hangRate: rate.default(0),
    hangMs: milliseconds.default(SIMULATOR_DEFAULTS.faults.hangMs),
    /** Added before every response. */
    latencyMs: milliseconds.default(0),
    /** `data`: list bodies wrapped as {"data": {...}}; `mixed`: so for a deterministic half of users. */
    envelope: z.enum(['top', 'data', 'mixed']).default(SIMULATOR_DEFAULTS.faults.envelope),
    /** Identifiers whose data endpoints answer 404 (code 40400). */
    failUsers: z.array(z.string()).default([]),
    /**
     * Identifiers whose POST /access-token answers 403 (code 40300) while the API key is right:
     * PayLink refusing one user (blocked, deleted, not allowed for this client).
     */
    rejectTokenUsers: z.array(z.string()).default([]),
    /**
     * Route templates (`/pay-link/orders`) whose lists answer 200 and empty, as a feed gone
     * quiet upstream (every user's list empty, no error): what the quiet-feed signal catches.
     */
    emptyRoutes: z
      .array(z.string().startsWith('/', 'must be route paths such as /pay-link/orders'))
      .default([]),
    /** `emptyRoutes` empty only from this many milliseconds after the simulator started. */
    emptyAfterMs: z.number().int().min(0).default(0),
    /** A deterministic share of identifiers that fail like `failUsers`. */
    failUserRate: rate.default(0),
    /** The same request never gets more injected faults in a row than this. */
    maxConsecutiveFaults: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(SIMULATOR_DEFAULTS.faults.maxConsecutiveFaults),
  })
  .strict()
  .refine((f) => f.status429Rate + f.status5xxRate + f.malformedRate + f.hangRate <= 1, {
    message: 'status429Rate + status5xxRate + malformedRate + hangRate must not exceed 1',
  });

export const simulatorOptionsSchema = z
  .object({
    port: z.number().int().min(0).max(65_535).default(SIMULATOR_DEFAULTS.port),
    /** `42` and `'42'` give the same world. */
    seed: z.union([z.string().min(1), z.number().finite()]).default(SIMULATOR_DEFAULTS.seed),
    apiKey: z.string().min(1).default(SIMULATOR_DEFAULTS.apiKey),
    apiSecret: z.string().min(1).default(SIMULATOR_DEFAULTS.apiSecret),
    /** Data calls a public token serves before it answers 401 (code 40104); unset = unlimited. */
    tokenMaxUses: z.number().int().positive().optional(),
    /** Page size of list endpoints, which then honour `?limit=&skip=`; unset = no paging (the real API today). */
    pageSize: z.number().int().positive().optional(),
    /** The world's generation: 0 as first drawn, each later one with accounts unlinked and bills ended. */
    generation: z.number().int().min(0).max(10_000).default(0),
    /**
     * Identifiers who unlink an account during a load: right after their account list is first
     * served (200), its first account is unlinked, so the loader's per-account requests that
     * follow (`/pay-link/action-history?accountId=`, `/pay-link/accounts/{id}`) answer 404
     * "Account not found", as PayLink would. Once per identifier; the account stays unlinked.
     */
    unlinkMidLoad: z.array(z.string().min(1)).default([]),
    /**
     * Identifiers whose first account's `/pay-link/action-history?accountId=` answers 404
     * "Account not found" while `/pay-link/accounts` goes on listing that account: what PayLink
     * might do for an account it has no history for yet, or in a transient miss. Unlike
     * `unlinkMidLoad`, the account has not left: a loader that takes the 404 as its leaving
     * drops its history wrongly. Every request, for as long as the simulator runs.
     */
    historyNotFoundWhileListed: z.array(z.string().min(1)).default([]),
    /** Server-side limit over all requests (requests/second); above it: 429 with Retry-After. */
    rateLimit: z.number().positive().optional(),
    /**
     * How `rateLimit` counts (rate-limit.ts): `bucket`, a token bucket holding one second's worth
     * (a burst of S after a quiet second passes); `sliding`, at most S in any one-second window.
     */
    rateLimitWindow: z.enum(['bucket', 'sliding']).default('bucket'),
    faults: faultOptionsSchema.prefault({}),
    /** A named way the API disagrees with the loader's catalog (api-profiles.ts). */
    profile: z.enum(API_PROFILE_NAMES as [ApiProfile, ...ApiProfile[]]).default('default'),
    /** Explicit disagreements, on top of the profile's. */
    api: apiOptionsSchema.prefault({}),
    /** Task ids remembered for `/task/{id}/details` (whose task is it): users whose data was drawn. */
    taskIndexSize: z.number().int().positive().default(200_000),
    userCacheSize: z.number().int().positive().default(SIMULATOR_DEFAULTS.userCacheSize),
    /** One line per request (method, path, status, fault); nothing by default. */
    log: z.custom<(line: string) => void>((v) => typeof v === 'function', 'must be a function').optional(),
  })
  .strict();

export type SimulatorOptions = z.input<typeof simulatorOptionsSchema>;
export type ResolvedSimulatorOptions = z.output<typeof simulatorOptionsSchema>;
export type FaultOptions = z.input<typeof faultOptionsSchema>;
export type ResolvedFaultOptions = z.output<typeof faultOptionsSchema>;

/** Validates options; throws ConfigError whose key is the option's dotted path (`faults.hangMs`). */
export function parseSimulatorOptions(input: unknown): ResolvedSimulatorOptions {
  const parsed = simulatorOptionsSchema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = issue.path.map(String);
  // An unknown option is reported at its parent: name the key itself.
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  const key = path.length > 0 ? path.join('.') : 'options';
  const message = issue.code === 'unrecognized_keys' ? 'unknown option' : issueWords(issue);
  // No cause: a ZodError can carry the offending input, and options hold the API secret.
  throw new ConfigError(key, message);
}
