/**
 * How the simulated API may disagree with the loader's catalog. docs/paylink-api.md marks most
 * endpoints as guesses; these options serve the alternatives the sources allow, so tests can
 * prove a wrong guess costs one endpoint-level finding, never N failed users.
 */
import { z } from 'zod';

/** Route templates the simulator knows (`{id}`, `{identifier}` are path parameters). */
export const ROUTE_TEMPLATES = [
  '/pay-link/accounts',
  '/pay-link/accounts/{id}',
  '/pay-link/action-history',
  '/pay-link/orders',
  '/pay-link/suggestions',
  '/pay-link/recurring-financial-transactions',
  '/pay-link/financial-transactions/most-recent',
  '/task/{id}/details',
  '/user/{identifier}/tasks',
] as const;
export type RouteTemplate = (typeof ROUTE_TEMPLATES)[number];

/**
 * Where a body puts its data. `key`: `{"<key>": value}` (what the catalog expects);
 * `data-key`: `{"data": {"<key>": value}}`; `data`: `{"data": value}` (Atomic's task and user
 * endpoints; a list becomes `{"data": [...]}`); `bare`: the value itself (a bare array or object).
 */
export const SHAPES = ['key', 'data-key', 'data', 'bare'] as const;
export type Shape = (typeof SHAPES)[number];

const route = z.enum(ROUTE_TEMPLATES);

export const IMPOSTORS = ['none', 'redirect', 'server-error', 'json', 'text'] as const;
export type Impostor = (typeof IMPOSTORS)[number];

export const apiOptionsSchema = z
  .object({
    /** Routes answered 404 (as if the path did not exist). */
    missingRoutes: z.array(route).default([]),
    /**
     * Routes that want `x-api-key` / `x-api-secret`: a public token gets HTTP 401 with no body
     * code (not 40104). The task routes always do, as Atomic's do.
     */
    serverKeyRoutes: z.array(route).default([]),
    /** Body shape per route; unlisted routes: `key`, task routes `data`. */
    shapes: z.partialRecord(route, z.enum(SHAPES)).default({}),
    /** 404 bodies: PayLink's JSON `{"message", "code"}`, or an HTML error page (a gateway's). */
    notFoundPages: z.enum(['json', 'html']).default('json'),
    /** Numeric money fields served as bare `NaN` tokens (not JSON; seen from Python back ends). */
    nanNumbers: z.boolean().default(false),
    /**
     * Something other than PayLink answers every request (the access token included), as at a
     * wrong `--base-url`: `redirect` (302 to a login page elsewhere), `server-error` (503),
     * `json` (200 with JSON that is not PayLink's), `text` (200 with plain text). `none`: PayLink.
     */
    impostor: z.enum(IMPOSTORS).default('none'),
    /** Each account also carries a map keyed by data (account ids, dates), as some APIs do. */
    keyedMaps: z.boolean().default(false),
  })
  .strict();
export type ApiOptions = z.input<typeof apiOptionsSchema>;
export type ResolvedApiOptions = z.output<typeof apiOptionsSchema>;

const LIST_ROUTES: readonly RouteTemplate[] = [
  '/pay-link/accounts',
  '/pay-link/action-history',
  '/pay-link/orders',
  '/pay-link/suggestions',
  '/pay-link/recurring-financial-transactions',
];
const OBJECT_ROUTES: readonly RouteTemplate[] = [
  '/pay-link/accounts/{id}',
  '/pay-link/financial-transactions/most-recent',
];
const every = (routes: readonly RouteTemplate[], shape: Shape) =>
  Object.fromEntries(routes.map((r) => [r, shape])) as Partial<Record<RouteTemplate, Shape>>;

/** Named disagreements, for `simulate --profile` and the integration tests. */
export const API_PROFILES = {
  /** What the loader's catalog expects. */
  default: {},
  /** `orders` does not exist (404 for its route); tasks, as always, want the server key. */
  'missing-orders': { missingRoutes: ['/pay-link/orders'] },
  /** Lists as `{"data": [...]}`, single records as `{"data": {...}}`. */
  'data-arrays': { shapes: every([...LIST_ROUTES, ...OBJECT_ROUTES], 'data') },
  /** Everything under `data.<key>`. */
  'data-key': { shapes: every([...LIST_ROUTES, ...OBJECT_ROUTES], 'data-key') },
  /** Bare arrays and bare objects, no envelope at all. */
  bare: { shapes: every([...LIST_ROUTES, ...OBJECT_ROUTES], 'bare') },
  /** `suggestions` wants the API key and secret: a public token gets 401 without a code. */
  'server-key-suggestions': { serverKeyRoutes: ['/pay-link/suggestions'] },
  /** A missing route answered by a gateway's HTML 404 page. */
  'html-errors': { missingRoutes: ['/pay-link/recurring-financial-transactions'], notFoundPages: 'html' },
  /** Money amounts as bare NaN tokens. */
  nan: { nanNumbers: true },
  /** The base URL redirects every request to a login page elsewhere (302). */
  redirect: { impostor: 'redirect' },
  /** PayLink is down: every request, the access token included, answers 503. */
  down: { impostor: 'server-error' },
  /** A JSON server that is not PayLink: 200 `{"status": "ok", ...}` for everything. */
  'not-paylink': { impostor: 'json' },
  /** 200 with a plain-text body for everything. */
  'not-json': { impostor: 'text' },
  /** Accounts carry a map keyed by data (ids, dates): what `probe` must never print. */
  'keyed-maps': { keyedMaps: true },
} as const satisfies Record<string, ApiOptions>;
export type ApiProfile = keyof typeof API_PROFILES;
export const API_PROFILE_NAMES = Object.keys(API_PROFILES) as ApiProfile[];

/** A profile with explicit options on top (lists are joined, shapes merged). */
export function resolveApi(profile: ApiProfile, overrides: ResolvedApiOptions): ResolvedApiOptions {
  const base = apiOptionsSchema.parse(API_PROFILES[profile]);
  return {
    missingRoutes: [...new Set([...base.missingRoutes, ...overrides.missingRoutes])],
    serverKeyRoutes: [...new Set([...base.serverKeyRoutes, ...overrides.serverKeyRoutes])],
    shapes: { ...base.shapes, ...overrides.shapes },
    notFoundPages: overrides.notFoundPages !== 'json' ? overrides.notFoundPages : base.notFoundPages,
    nanNumbers: base.nanNumbers || overrides.nanNumbers,
    impostor: overrides.impostor !== 'none' ? overrides.impostor : base.impostor,
    keyedMaps: base.keyedMaps || overrides.keyedMaps,
  };
}

/** A gateway's 404 page: what a wrong path behind a CDN or load balancer often returns. */
export const HTML_NOT_FOUND =
  '<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>';

/** Where the `redirect` impostor sends clients (`.invalid` never resolves; the loader must not follow it anyway). */
export const IMPOSTOR_REDIRECT = 'https://login.example.invalid/sso?next=%2F';

/** The reply of an impostor to any request. */
export function impostorReply(impostor: Exclude<Impostor, 'none'>): {
  status: number;
  body: string;
  headers: Record<string, string>;
} {
  switch (impostor) {
    case 'redirect':
      return { status: 302, body: '', headers: { location: IMPOSTOR_REDIRECT } };
    case 'server-error':
      return {
        status: 503,
        body: JSON.stringify({ message: 'Service Unavailable' }),
        headers: { 'content-type': 'application/json' },
      };
    case 'json':
      return {
        status: 200,
        body: JSON.stringify({ status: 'ok', service: 'web', version: '1.4.2' }),
        headers: { 'content-type': 'application/json' },
      };
    case 'text':
      return { status: 200, body: 'OK', headers: { 'content-type': 'text/plain' } };
  }
}

/** Money fields whose numbers the `nan` profile replaces with bare NaN tokens. */
const NAN_FIELDS = /"(amount|price|total|dueAmount|averageAmount)":-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

export function withNanTokens(json: string): string {
  return json.replace(NAN_FIELDS, '"$1":NaN');
}
