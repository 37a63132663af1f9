/**
 * A PayLinkApi that answers from the simulated world in this process: the same routes and
 * bodies the simulator serves (no faults, top-level envelope, no paging), without HTTP. The
 * benchmark then measures our normalize + type + encode path, not the network.
 *
 * Each body goes through a JSON round trip, so loadUser sees freshly parsed records exactly as
 * the HTTP client would hand them over. Time spent producing bodies (world generation, routing,
 * the round trip) is accumulated in `sourceMs` so callers can subtract it.
 */
import { performance } from 'node:perf_hooks';
import { PayLinkHttpError } from '#core/errors.ts';
import type { PayLinkApi, PayLinkRequest, PayLinkSession } from '#core/ports.ts';
import type { JsonValue } from '#core/types.ts';
import { render } from '#simulator/responses.ts';
import { matchRoute } from '#simulator/routes.ts';
import { type Seed, userData } from '#simulator/world.ts';
import type { UserData } from '#simulator/world-types.ts';

export interface InProcessApi extends PayLinkApi {
  /** Milliseconds spent producing data (not our code under test). */
  sourceMs(): number;
}

const RENDER_OPTIONS = { pageSize: undefined, dataEnvelope: false } as const;

/** Characters of each added field's value (`wideFields`). */
export const WIDE_VALUE_CHARS = 64;

/**
 * Wide rows: every record (an object inside a list of the body) gets `fields` more string
 * fields (`wide_01`...), each a distinct 64-character value, so each row of its table grows
 * by that many columns and about fields x 64 bytes. The simulated world's rows are narrow
 * (a dozen short fields); a real account or transaction can carry many more, and what the
 * loader buffers per row group grows with the row's width, not its count.
 */
function widen(value: unknown, fields: number, counter: { n: number }): unknown {
  const isRecord = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (Array.isArray(value))
    return value.map((item) => {
      const widened = widen(item, fields, counter);
      if (!isRecord(widened)) return widened;
      const added: Record<string, string> = {};
      for (let i = 1; i <= fields; i++) {
        counter.n++;
        added[`wide_${String(i).padStart(2, '0')}`] = `${counter.n.toString(36)}:`.padEnd(
          WIDE_VALUE_CHARS,
          'x',
        );
      }
      return { ...widened, ...added };
    });
  if (isRecord(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, widen(v, fields, counter)]));
  return value;
}

export interface InProcessApiOptions {
  /** Extra string fields per record (wide rows); 0 or undefined: the world's own records. */
  readonly wideFields?: number;
  /**
   * Reshapes each user's world before it is served (a test serving fewer rows per user than the
   * world draws, to keep a many-user load cheap); undefined: the world as drawn.
   */
  readonly shape?: (data: UserData, identifier: string) => UserData;
}

export function createInProcessApi(seed: Seed, options: InProcessApiOptions = {}): InProcessApi {
  const wideFields = options.wideFields ?? 0;
  const counter = { n: 0 };
  let requests = 0;
  let sourceMs = 0;

  const answer = (data: UserData, request: PayLinkRequest): JsonValue => {
    const route = matchRoute('GET', request.path);
    if (route?.kind !== 'data') throw new PayLinkHttpError(request.endpoint, 404);
    const query = new URLSearchParams(request.query ?? {});
    const response = render(route.resolve(data, query), query, RENDER_OPTIONS);
    if (response.status !== 200) throw new PayLinkHttpError(request.endpoint, response.status);
    const parsed = JSON.parse(JSON.stringify(response.body)) as JsonValue;
    return wideFields > 0 ? (widen(parsed, wideFields, counter) as JsonValue) : parsed;
  };

  return {
    async openSession(identifier: string): Promise<PayLinkSession> {
      const started = performance.now();
      requests++;
      const drawn = userData(seed, identifier);
      const data = options.shape === undefined ? drawn : options.shape(drawn, identifier);
      sourceMs += performance.now() - started;
      return {
        async getJson(request) {
          const begun = performance.now();
          requests++;
          try {
            return answer(data, request);
          } finally {
            sourceMs += performance.now() - begun;
          }
        },
      };
    },
    stats: () => ({ requests, retries: 0 }),
    sourceMs: () => sourceMs,
  };
}
