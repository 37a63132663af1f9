/**
 * One request, start to finish: rate limit, route, auth, faults, data, paging, envelope,
 * latency. Order matters and mirrors a real gateway: a refused key or token never reaches
 * fault injection for data, and a fault is decided before the data is looked at.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTML_NOT_FOUND, impostorReply, resolveApi, withNanTokens } from './api-profiles.ts';
import { BoundedMap } from './bounded-map.ts';
import { type Fault, FaultInjector, malformedBody, serverErrorStatus, TOKEN_FAULT_KINDS } from './faults.ts';
import type { ResolvedSimulatorOptions } from './options.ts';
import { hashKey } from './prng.ts';
import { SlidingWindow, TokenBucket } from './rate-limit.ts';
import { API_CODES, type ApiResponse, apiError, render } from './responses.ts';
import { type DataResult, type DataRoute, matchRoute } from './routes.ts';
import { type SimulatorStats, StatsRecorder } from './stats.ts';
import { Timers } from './timers.ts';
import { TokenStore } from './tokens.ts';
import { userData } from './world.ts';
import { changeUser, type WorldChange } from './world-changes.ts';
import type { UserData } from './world-types.ts';

/** Access-token bodies are a few dozen bytes; anything this large is a client bug. */
const MAX_BODY_BYTES = 64 * 1024;

interface Reply {
  status: number;
  body: string;
  headers?: Readonly<Record<string, string>>;
  /** Answer only after `hangMs`. */
  hang?: boolean;
  /** For the log line: which fault shaped this reply. */
  fault?: string;
}

export interface SimulatorCore {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  stats(): SimulatorStats;
  /** Exactly the data served for an identifier (a copy: mutating it changes nothing served). */
  served(identifier: string): UserData;
  /** Whether the identifier's data endpoints answer 404 (`failUsers` / `failUserRate`). */
  userFails(identifier: string): boolean;
  /** Cancels pending latency and hang waits; their requests are never answered. */
  shutdown(): void;
  /** The user's next change (world-changes.ts): served from now on; returns what changed. */
  change(identifier: string): WorldChange;
}

export function createSimulatorCore(options: ResolvedSimulatorOptions): SimulatorCore {
  const seed = String(options.seed);
  const faults = options.faults;
  const recorder = new StatsRecorder();
  const timers = new Timers();
  const tokens = new TokenStore(seed, options.tokenMaxUses);
  const injector = new FaultInjector(seed, faults);
  const bucket =
    options.rateLimit === undefined
      ? undefined
      : options.rateLimitWindow === 'sliding'
        ? new SlidingWindow(options.rateLimit)
        : new TokenBucket(options.rateLimit);
  const users = new BoundedMap<string, UserData>(options.userCacheSize);
  const api = resolveApi(options.profile, options.api);
  /** Task id -> its user: Atomic's task endpoint takes a task id and our server key, no token. */
  const taskOwners = new BoundedMap<string, string>(options.taskIndexSize);
  /** Changes applied per user so far (`change`): each one is part of the world from then on. */
  const changeSteps = new Map<string, number>();
  const changed = (identifier: string, steps: number) =>
    changeUser(
      seed,
      identifier,
      userData(seed, identifier, options.generation),
      steps,
      (donor) => userData(seed, donor, options.generation).accounts,
    );
  /** Users still to unlink an account right after their account list is served (`unlinkMidLoad`). */
  const unlinkPending = new Set(options.unlinkMidLoad);
  /** The account each of them unlinked that way: part of their world from then on. */
  const unlinkedMidLoad = new Map<string, string>();
  /** Users whose first account's history answers 404 while it stays listed (`historyNotFoundWhileListed`). */
  const historyNotFound = new Set(options.historyNotFoundWhileListed);
  const dataFor = (identifier: string) =>
    users.getOrCreate(identifier, () => {
      const kept = withoutUnlinked(
        changed(identifier, changeSteps.get(identifier) ?? 0).data,
        unlinkedMidLoad.get(identifier),
      );
      const data = historyNotFound.has(identifier) ? withoutFirstHistory(kept) : kept;
      for (const taskId of data.taskIds) taskOwners.set(taskId, identifier);
      return data;
    });
  const serverKeyOk = (req: IncomingMessage) =>
    header(req, 'x-api-key') === options.apiKey && header(req, 'x-api-secret') === options.apiSecret;

  function faultReply(fault: Fault): Reply {
    recorder.fault(fault.kind);
    if (fault.kind === 'status429') {
      return {
        ...toReply(apiError(429, API_CODES.rateLimited, 'Too many requests')),
        headers: retryAfter(),
        fault: fault.kind,
      };
    }
    const status = serverErrorStatus(fault);
    return {
      ...toReply(apiError(status, status * 100, 'Service temporarily unavailable')),
      fault: fault.kind,
    };
  }

  function retryAfter(): Record<string, string> {
    const seconds = faults.retryAfterSeconds;
    if (!faults.retryAfterAsDate) return { 'retry-after': String(seconds) };
    // HTTP dates have whole seconds: round up so the client never retries early.
    const at = Math.ceil((Date.now() + seconds * 1000) / 1000) * 1000;
    return { 'retry-after': new Date(at).toUTCString() };
  }

  function accessToken(req: IncomingMessage, body: string): Reply {
    if (!serverKeyOk(req)) {
      return toReply(apiError(401, API_CODES.badCredentials, 'Invalid API key or secret'));
    }
    const identifier = identifierOf(body);
    if (identifier === undefined) {
      return toReply(
        apiError(400, API_CODES.badRequest, 'Body must be JSON with a non-empty string "identifier"'),
      );
    }
    if (injector.tokenRejected(identifier)) {
      recorder.fault('tokenRejected');
      return toReply(apiError(403, API_CODES.forbidden, 'Access to this user is not allowed'));
    }
    const fault = injector.next(hashKey(['access-token', identifier]), TOKEN_FAULT_KINDS);
    if (fault) return faultReply(fault);
    // The user exists from here on: index their tasks for the task endpoint.
    dataFor(identifier);
    return toReply({ status: 200, body: { data: tokens.mint(identifier) } });
  }

  /** The user a request is for: the token's, or (server-key routes) the path's or task's owner. */
  function requester(req: IncomingMessage, route: DataRoute): { identifier: string } | Reply {
    if (route.auth === 'server' || api.serverKeyRoutes.includes(route.template)) {
      // A gateway that wants the key answers a token with a bare 401: no PayLink code, no 40104.
      if (!serverKeyOk(req)) return { status: 401, body: JSON.stringify({ message: 'Unauthorized' }) };
      const subject = route.subject;
      const identifier =
        subject === undefined
          ? undefined
          : 'identifier' in subject
            ? subject.identifier
            : taskOwners.get(subject.taskId);
      if (identifier === undefined) return notFoundReply('Not found');
      return { identifier };
    }
    const publicToken = header(req, 'x-public-token');
    if (!publicToken) return toReply(apiError(401, API_CODES.badPublicToken, 'Missing public token'));
    const check = tokens.use(publicToken);
    if (!check.ok) {
      const message = check.reason === 'expired' ? 'Public token expired' : 'Invalid public token';
      return toReply(apiError(401, API_CODES.badPublicToken, message));
    }
    return { identifier: check.identifier };
  }

  function notFoundReply(message: string): Reply {
    if (api.notFoundPages === 'html')
      return { status: 404, body: HTML_NOT_FOUND, headers: { 'content-type': 'text/html; charset=utf-8' } };
    return toReply(apiError(404, API_CODES.notFound, message));
  }

  const startedAt = Date.now();
  /** A feed gone quiet upstream (`faults.emptyRoutes`): its lists are answered, empty. */
  const emptied = (route: DataRoute, result: DataResult): DataResult =>
    result.kind === 'list' &&
    faults.emptyRoutes.includes(route.template) &&
    Date.now() - startedAt >= faults.emptyAfterMs
      ? { ...result, items: [] }
      : result;

  function dataRequest(req: IncomingMessage, url: URL, route: DataRoute): Reply {
    if (api.missingRoutes.includes(route.template)) return notFoundReply('Not found');
    const who = requester(req, route);
    if (!('identifier' in who)) return who;
    const identifier = who.identifier;
    const query = url.searchParams;
    // The request's identity is the user's, not the token's: a re-minted token continues its history.
    const fault = injector.next(
      hashKey([identifier, req.method ?? 'GET', url.pathname, canonicalQuery(query)]),
    );
    if (fault?.kind === 'status429' || fault?.kind === 'status5xx') return faultReply(fault);

    let response: ApiResponse;
    if (injector.userFails(identifier)) {
      recorder.fault('failUser');
      response = apiError(404, API_CODES.notFound, 'User not found');
    } else {
      response = render(emptied(route, withKeyedMaps(route.resolve(dataFor(identifier), query))), query, {
        pageSize: options.pageSize,
        dataEnvelope: injector.dataEnvelope(identifier),
        shape: api.shapes[route.template] ?? (route.auth === 'server' ? 'data' : 'key'),
      });
    }
    if (route.template === '/pay-link/accounts' && response.status === 200 && fault === undefined)
      unlinkAfterListing(identifier);
    const reply = toReply(response);
    if (api.nanNumbers && reply.status === 200) reply.body = withNanTokens(reply.body);
    if (reply.status === 404 && api.notFoundPages === 'html') return notFoundReply('Not found');
    if (fault?.kind === 'malformed') {
      recorder.fault(fault.kind);
      return { status: 200, body: malformedBody(reply.body, fault), fault: fault.kind };
    }
    if (fault?.kind === 'hang') {
      recorder.fault(fault.kind);
      return { ...reply, hang: true, fault: fault.kind };
    }
    return reply;
  }

  /** `unlinkMidLoad`: the user's first account goes, right after the list naming it was rendered. */
  function unlinkAfterListing(identifier: string): void {
    if (!unlinkPending.delete(identifier)) return;
    const first = dataFor(identifier).accounts[0];
    if (first === undefined) return;
    unlinkedMidLoad.set(identifier, first._id);
    users.delete(identifier);
  }

  /** `keyedMaps`: each account also gets a map keyed by account ids and a map keyed by dates. */
  function withKeyedMaps(result: DataResult): DataResult {
    if (!api.keyedMaps || result.kind !== 'list' || result.key !== 'accounts') return result;
    const items = result.items.map((item) => {
      const account = item as { _id: string; status?: string; lastSyncedAt?: string };
      return {
        ...account,
        statusByAccount: Object.fromEntries(
          result.items.map((a) => [(a as { _id: string })._id, account.status ?? null]),
        ),
        syncsByDay: account.lastSyncedAt ? { [account.lastSyncedAt.slice(0, 10)]: 1 } : {},
      };
    });
    return { ...result, items };
  }

  async function answer(req: IncomingMessage): Promise<Reply> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req);
    if (bucket) {
      const taken = bucket.take();
      if (!taken.ok) {
        recorder.rateLimited();
        const response = apiError(429, API_CODES.rateLimited, 'Rate limit exceeded', {
          'retry-after': String(taken.retryAfterSeconds),
        });
        return { ...toReply(response), fault: 'rateLimit' };
      }
    }
    if (body === undefined)
      return toReply(apiError(413, API_CODES.payloadTooLarge, 'Request body too large'));
    if (api.impostor !== 'none') return impostorReply(api.impostor);
    // x-api-version is accepted whatever its value (Atomic's apps send v2) and never required.
    const route = matchRoute(req.method ?? 'GET', url.pathname);
    if (!route) return notFoundReply('Not found');
    return route.kind === 'access-token' ? accessToken(req, body) : dataRequest(req, url, route);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    recorder.request();
    let reply: Reply;
    try {
      reply = await answer(req);
    } catch {
      // A client that went away mid-body, or a simulator bug: never a stack trace on the wire.
      reply = toReply(apiError(500, 50000, 'Internal simulator error'));
    }
    const delay = faults.latencyMs + (reply.hang ? faults.hangMs : 0);
    if (delay > 0 && !(await timers.wait(delay))) return;
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(reply.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(reply.body)),
      ...reply.headers,
    });
    res.end(reply.body);
    recorder.responded(reply.status);
    options.log?.(
      `${req.method} ${pathOnly(req.url)} ${reply.status}${reply.fault ? ` ${reply.fault}` : ''} ${Math.round(performance.now() - started)}ms`,
    );
  }

  return {
    handle,
    stats: () => recorder.snapshot(tokens.minted),
    served: (identifier) => structuredClone(dataFor(identifier)),
    userFails: (identifier) => injector.userFails(identifier),
    shutdown: () => timers.cancelAll(),
    change(identifier) {
      const steps = (changeSteps.get(identifier) ?? 0) + 1;
      changeSteps.set(identifier, steps);
      users.delete(identifier);
      return changed(identifier, steps).changes.at(-1)!;
    },
  };
}

/** A user's data without the account they unlinked mid-load (a new object; the input is kept). */
function withoutUnlinked(data: UserData, accountId: string | undefined): UserData {
  if (accountId === undefined) return data;
  const { [accountId]: _gone, ...actionHistory } = data.actionHistory;
  return { ...data, accounts: data.accounts.filter((a) => a._id !== accountId), actionHistory };
}

/**
 * A user's data whose first account has no action history entry (a new object): the route
 * answers 404 "Account not found" for it, as for an unlinked account, while the account is listed.
 */
function withoutFirstHistory(data: UserData): UserData {
  const first = data.accounts[0]?._id;
  if (first === undefined) return data;
  const { [first]: _missing, ...actionHistory } = data.actionHistory;
  return { ...data, actionHistory };
}

function toReply(response: ApiResponse): Reply {
  const reply: Reply = { status: response.status, body: JSON.stringify(response.body) };
  if (response.headers) reply.headers = response.headers;
  return reply;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function identifierOf(body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const identifier = (parsed as { identifier?: unknown }).identifier;
    return typeof identifier === 'string' && identifier !== '' ? identifier : undefined;
  } catch {
    return undefined;
  }
}

/** `?b=1&a=2` and `?a=2&b=1` are the same request. */
function canonicalQuery(query: URLSearchParams): string {
  return [...query]
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .sort()
    .join('&');
}

/** Logs carry paths (ids), never query values or tokens. */
function pathOnly(url: string | undefined): string {
  const path = url ?? '/';
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

/** The body as text, or undefined past MAX_BODY_BYTES (the rest is drained, not kept). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString('utf8') : undefined));
    req.on('error', reject);
  });
}
