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

export function createInProcessApi(seed: Seed): InProcessApi {
  let requests = 0;
  let sourceMs = 0;

  const answer = (data: UserData, request: PayLinkRequest): JsonValue => {
    const route = matchRoute('GET', request.path);
    if (route?.kind !== 'data') throw new PayLinkHttpError(request.endpoint, 404);
    const query = new URLSearchParams(request.query ?? {});
    const response = render(route.resolve(data, query), query, RENDER_OPTIONS);
    if (response.status !== 200) throw new PayLinkHttpError(request.endpoint, response.status);
    return JSON.parse(JSON.stringify(response.body)) as JsonValue;
  };

  return {
    async openSession(identifier: string): Promise<PayLinkSession> {
      const started = performance.now();
      requests++;
      const data = userData(seed, identifier);
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
