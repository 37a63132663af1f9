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
  };
}

/** A gateway's 404 page: what a wrong path behind a CDN or load balancer often returns. */
export const HTML_NOT_FOUND =
  '<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>';

/** Money fields whose numbers the `nan` profile replaces with bare NaN tokens. */
const NAN_FIELDS = /"(amount|price|total|dueAmount|averageAmount)":-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

export function withNanTokens(json: string): string {
  return json.replace(NAN_FIELDS, '"$1":NaN');
}
