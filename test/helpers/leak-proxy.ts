/**
 * A loopback proxy in front of the PayLink simulator that answers badly on purpose, per user:
 * a test of what failing loads write to their logs. It learns which user each public token
 * belongs to (from the access-token exchanges it passes on), so a rule can answer one user's
 * request with a body quoting that user's identifier and data: an HTTP error body echoing them,
 * a 200 body that is not JSON, or JSON keyed by identifiers and values.
 * Every string of every JSON body it passes on or makes up is collected (`seenValues`), the
 * minted public tokens included.
 */
import { forwardTo, type HttpTestServer, startHttpTestServer } from './http-test-server.ts';

export interface LeakReply {
  readonly status: number;
  /** Sent as is (a string), or as JSON. */
  readonly body: unknown;
}

/** Answers a data request instead of the simulator, or undefined to pass it on. */
export type LeakRule = (request: {
  /**
   * The user the request is for: the one an access-token request names, or whose public token
   * the request carries (undefined: none, or not minted here).
   */
  readonly identifier: string | undefined;
  readonly method: string;
  /** Without the query. */
  readonly path: string;
}) => LeakReply | undefined;

export interface LeakProxy {
  readonly url: string;
  /** Tried in order before a request goes to the simulator; the first reply wins. */
  readonly rules: LeakRule[];
  readonly seenValues: Set<string>;
  close(): Promise<void>;
}

/** The identifier an access-token request body names, if any. */
function askedFor(body: string): string | undefined {
  try {
    const asked = JSON.parse(body) as { identifier?: unknown };
    return typeof asked.identifier === 'string' ? asked.identifier : undefined;
  } catch {
    return undefined;
  }
}

export async function startLeakProxy(target: string): Promise<LeakProxy> {
  const rules: LeakRule[] = [];
  const seenValues = new Set<string>();
  const owners = new Map<string, string>();
  const collect = (value: unknown): void => {
    if (typeof value === 'string') seenValues.add(value);
    else if (Array.isArray(value)) value.forEach(collect);
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        seenValues.add(k);
        collect(v);
      }
    }
  };
  const server: HttpTestServer = await startHttpTestServer(async (request, response) => {
    const token = request.headers['x-public-token'];
    const identifier =
      request.path === '/access-token'
        ? askedFor(request.body)
        : typeof token === 'string'
          ? owners.get(token)
          : undefined;
    for (const rule of rules) {
      const reply = rule({ identifier, method: request.method, path: request.path });
      if (reply === undefined) continue;
      const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      if (typeof reply.body !== 'string') collect(reply.body);
      response.writeHead(reply.status, { 'content-type': 'application/json' }).end(text);
      return;
    }
    const upstream = await forwardTo(target, request);
    const text = upstream.text;
    const headers = upstream.headers;
    try {
      const json = JSON.parse(text) as { data?: { publicToken?: unknown } };
      collect(json);
      if (
        identifier !== undefined &&
        request.path === '/access-token' &&
        typeof json.data?.publicToken === 'string'
      )
        owners.set(json.data.publicToken, identifier);
    } catch {
      // Not JSON (a fault the simulator injects): passed on as it is.
    }
    response.writeHead(upstream.status, headers).end(text);
  });
  return { url: server.url, rules, seenValues, close: () => server.close() };
}
