/**
 * A loopback proxy in front of the PayLink simulator, for tests of what a load reports:
 * - `emptyPaths`: data paths answered with their lists emptied (a feed gone quiet upstream:
 *   200, the same envelope, no rows), the rest of the body kept;
 * - `missingPaths`: data paths answered 404, as an endpoint that does not exist (what an
 *   endpoint finding disables), never reaching the simulator;
 * - `markPayload`: every object of a list answered gets one more field, `obs_marker`, with a
 *   distinctive value, so a test can look for payload values in what the loader wrote elsewhere;
 * - every string value of every body that passes through is collected (`payloadValues`), the
 *   minted public tokens included.
 */
import { forwardTo, type HttpTestServer, startHttpTestServer } from './http-test-server.ts';

export interface FeedProxy {
  readonly url: string;
  /** Paths (without query) whose lists are emptied, e.g. `/pay-link/orders`. */
  readonly emptyPaths: Set<string>;
  /** Paths (without query) answered 404 with a JSON error body, e.g. `/pay-link/accounts`. */
  readonly missingPaths: Set<string>;
  markPayload: boolean;
  /** Every string value seen in a response body (markers included). */
  readonly payloadValues: Set<string>;
  close(): Promise<void>;
}

export async function startFeedProxy(target: string): Promise<FeedProxy> {
  const emptyPaths = new Set<string>();
  const missingPaths = new Set<string>();
  const payloadValues = new Set<string>();
  let marks = 0;
  const state = { markPayload: false };
  const collect = (value: unknown): void => {
    if (typeof value === 'string') payloadValues.add(value);
    else if (Array.isArray(value)) value.forEach(collect);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(collect);
  };
  const rewrite = (body: unknown, empty: boolean): unknown => {
    if (Array.isArray(body))
      return empty
        ? []
        : body.map((item) =>
            state.markPayload && item !== null && typeof item === 'object' && !Array.isArray(item)
              ? { ...item, obs_marker: `PAYLOAD-MARK-${(++marks).toString(36)}-Zq8` }
              : item,
          );
    if (body !== null && typeof body === 'object')
      return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, rewrite(v, empty)]));
    return body;
  };
  const server: HttpTestServer = await startHttpTestServer(async (request, response) => {
    if (missingPaths.has(request.path)) {
      response
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ message: 'Not Found' }));
      return;
    }
    const upstream = await forwardTo(target, request);
    let text = upstream.text;
    const headers = upstream.headers;
    try {
      const json = JSON.parse(text) as unknown;
      const changed = upstream.ok ? rewrite(json, emptyPaths.has(request.path)) : json;
      collect(changed);
      text = JSON.stringify(changed);
    } catch {
      // Not JSON (a fault the simulator injects): passed on as it is.
    }
    response.writeHead(upstream.status, headers).end(text);
  });
  return {
    url: server.url,
    emptyPaths,
    missingPaths,
    get markPayload() {
      return state.markPayload;
    },
    set markPayload(on: boolean) {
      state.markPayload = on;
    },
    payloadValues,
    close: () => server.close(),
  };
}
