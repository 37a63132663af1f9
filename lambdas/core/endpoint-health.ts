/**
 * Endpoint-level failures and systemic failures, told apart from users' own failures.
 *
 * Four of PayLink's default resources are guesses (docs/paylink-api.md). When a guess is wrong,
 * the endpoint fails the same way for every user: 404 for a path that does not exist, 401/403
 * without code 40104 for an endpoint that wants other credentials, an HTML page or non-JSON
 * body, a body whose records sit under a key no selector names. Recording that as N failed users
 * hides the one fix. So a batch watches each resource:
 *  - a resource that has worked once for anybody in the batch is never disabled (its later
 *    failures are those users' own);
 *  - a resource that failed with the same symptom for `ENDPOINT_EVIDENCE_USERS` users whose
 *    other resources worked (proof the server and their token are fine), before it worked for
 *    anyone, is disabled: not called again, recorded once as an `EndpointFinding` naming the fix,
 *    and every user's unit of it is `endpoint_unavailable` (never `failed`); a 404 per known
 *    task id (maybe stale ids, `maybeStaleIds`) waits for the load's end instead;
 *  - when the first users of a batch fail entirely at the network, TLS, or with bodies that are
 *    not PayLink's, and nobody has succeeded, the load cannot work: SystemicFailureError.
 * Pure: no clock, no I/O. One instance per batch (the deployed stack runs each batch in its own
 * Lambda; commit merges the batches' findings), or shared by a local run's batches.
 */
import {
  describeKeys,
  MalformedResponseError,
  PayLinkHttpError,
  PayLinkNetworkError,
  PayLinkUnavailableError,
  SelectorError,
  SystemicFailureError,
} from './errors.ts';
import { KNOWN_TASKS, type ResourceDef } from './resources.ts';

/** Users with the same symptom on a resource, and their other resources working, before it is disabled. */
export const ENDPOINT_EVIDENCE_USERS = 3;
/** Users that must all fail at the network (or get non-PayLink bodies) before a batch gives up. */
export const SYSTEMIC_EVIDENCE_USERS = 3;

/**
 * The one path Atomic's own code confirms (docs/paylink-api.md): when a user's only called
 * resources failed with an endpoint symptom, a call here tells whether PayLink serves that user
 * at all. A minted token proves nothing about the user's data endpoints (an unknown user may
 * still get one), so without this witness such a user is no evidence against an endpoint.
 */
export const WITNESS_PATH = '/pay-link/accounts';

/** `user_loads.status` of a unit not loaded because its endpoint was found unusable. */
export const ENDPOINT_UNAVAILABLE = 'endpoint_unavailable';

/** How an endpoint (not a user) failed. */
export interface EndpointSymptom {
  /** `http_404`, `http_401`, `http_302`, `malformed_response`, `selector_not_found`. */
  readonly code: string;
  readonly httpStatus: number | null;
  /** What to change. */
  readonly fix: 'path' | 'auth' | 'selector' | 'body' | 'redirect';
  /** Top-level keys seen (selector misses only): field names, never values (select.ts). */
  readonly keysSeen?: readonly string[];
  /** Keys of that body not shown (past the few shown, or not field names); absent when none. */
  readonly keysNotShown?: number;
}

/** One endpoint found unusable during a load: recorded once, in the summary and the load marker. */
export interface EndpointFinding {
  readonly resource: string;
  /** The catalog path template (`/pay-link/orders`): never an id. */
  readonly endpoint: string;
  readonly code: string;
  readonly httpStatus: number | null;
  /** Users that showed the symptom before the resource was disabled (evidence, not failures). */
  readonly evidenceUsers: number;
  /** Batches that reached the finding (commit merges them). */
  readonly batches: readonly number[];
  /** One sentence: what happened and the fix (`--resources` or a `--config` path/selector/auth). */
  readonly message: string;
  /**
   * The load's resources under this one (its children, theirs, ...): not fetched either, their
   * units `endpoint_unavailable` too. Absent when there are none (and in older reports).
   */
  readonly notFetched?: readonly string[];
}

/** The resources under `resource` among `defs` (children, grandchildren, ...), sorted. */
export function resourcesUnder(
  resource: string,
  defs: Iterable<Pick<ResourceDef, 'table' | 'parent'>>,
): string[] {
  const all = [...defs];
  const under = new Set<string>();
  let frontier = [resource];
  while (frontier.length > 0) {
    const next = all
      .filter((d) => d.parent !== undefined && frontier.includes(d.parent.resource) && !under.has(d.table))
      .map((d) => d.table);
    for (const t of next) under.add(t);
    frontier = next;
  }
  under.delete(resource);
  return [...under].sort();
}

/** `notFetched` when there is something under the resource (findings stay as they were otherwise). */
const notFetchedOf = (under: readonly string[] | undefined) =>
  under === undefined || under.length === 0 ? {} : { notFetched: under };

/**
 * The symptom of an endpoint-level failure in a unit's error, or undefined when the error is a
 * user's own (a 404 with `notFound: empty` never gets here: it is zero rows).
 */
export function endpointSymptom(error: unknown): EndpointSymptom | undefined {
  if (error instanceof PayLinkHttpError) {
    const { status } = error;
    if (status === 404 || status === 405 || status === 410 || status === 501)
      return { code: `http_${status}`, httpStatus: status, fix: 'path' };
    // The client never follows redirects (they would carry the credentials elsewhere).
    if (status >= 300 && status < 400) return { code: `http_${status}`, httpStatus: status, fix: 'redirect' };
    // 40104 is an expired token: the session re-mints for it, and a second one is the user's.
    if ((status === 401 || status === 403) && error.apiCode !== 40104)
      return { code: `http_${status}`, httpStatus: status, fix: 'auth' };
    if (error.html) return { code: `http_${status}`, httpStatus: status, fix: 'path' };
    return undefined;
  }
  if (error instanceof MalformedResponseError) return { code: error.code, httpStatus: null, fix: 'body' };
  if (error instanceof SelectorError)
    return {
      code: error.code,
      httpStatus: null,
      fix: 'selector',
      keysSeen: error.keysSeen,
      ...(error.keysNotShown > 0 ? { keysNotShown: error.keysNotShown } : {}),
    };
  return undefined;
}

/**
 * What a disabled resource means for its tables. Its declared table exists (typed, empty); a
 * child table the catalog does not declare (`orders__items`) is only known once records arrive,
 * so on a fresh lake it does not exist yet: said here, so a query naming it is not a surprise.
 */
export const DISABLED_TABLES_NOTE = (table: string) =>
  `This load wrote no rows to ${table} or its child tables; rows of earlier loads stay, and each user's current state of ${table} is their last good load's; in a lake without them, ${table} exists (empty), but a child table the catalog does not declare (${table}__<list>) appears only once its records have been loaded`;

/**
 * What a finding's words need of a resource: its table, path, auth mode, and the resource its
 * `{id}` comes from (`parent.resource`: a fetched resource such as `accounts`, or `known_tasks`).
 * `parent` absent: no parent, or unknown (an `OpenEndpoint` of a manifest written before it was
 * recorded).
 */
export type EndpointDef = Pick<ResourceDef, 'table' | 'path' | 'auth'> & {
  readonly parent?: { readonly resource: string } | undefined;
};

/** The one-line finding: what was seen and how to fix it, without any value from the data. */
export function findingMessage(resource: EndpointDef, symptom: EndpointSymptom, users: number): string {
  const seen = `${resource.table}: GET ${resource.path} ${describeSymptom(symptom)} for the first ${users} users while PayLink served them elsewhere`;
  return `${seen}; ${fixAdvice(resource, symptom)}. ${DISABLED_TABLES_NOTE(resource.table)}`;
}

/**
 * What to do about a symptom, as one clause: leave the resource out (`--resources`), or the
 * `--config` override that fixes it (a JSON snippet with placeholders, never a value).
 */
export function fixAdvice(resource: EndpointDef, symptom: EndpointSymptom): string {
  const drop = 'leave it out with --resources';
  const config = (fields: string) => `a --config file ({"resources": {"${resource.table}": {${fields}}}})`;
  switch (symptom.fix) {
    case 'path': {
      const setPath = `${drop}, or set its path in ${config('"path": "/..."')}`;
      const parent = resource.parent?.resource;
      // A path per known task id (`/task/{id}/details`) also 404s for ids PayLink does not know:
      // when every id of the load is stale (learned from old events, a --task-ids file), the
      // endpoint is fine and the ids are not (judged at the load's end: no id of the load answered).
      // A path per id whose parent is not known (an older version's manifest) names both causes.
      if (maybeStaleIds(resource, symptom) || (parent === undefined && resource.path.includes('{id}')))
        return `either the ids given to it are unknown to PayLink (stale task ids learned from webhook events or a --task-ids file; no id of this load answered, so none counts toward retiring: remove them from the lake's registry, README "Removing a user or task id") or the endpoint is missing: ${setPath}`;
      // Ids of a fetched parent were listed by PayLink in the same user's run, and a parent gone
      // since is told apart before a 404 counts (load-user.ts): they are not stale.
      if (parent !== undefined && parent !== KNOWN_TASKS && resource.path.includes('{id}'))
        return `the endpoint looks missing (the ids given to it are those of the ${parent} records PayLink had just listed, so they are not stale): ${setPath}`;
      return `the endpoint looks missing: ${setPath}`;
    }
    case 'redirect':
      return `the endpoint redirects elsewhere (not followed: it would carry the credentials): ${drop}, or set its real path in ${config('"path": "/..."')}`;
    case 'auth':
      return resource.auth === 'server'
        ? `the endpoint wants a user token, not the server key: ${drop}, or switch it in ${config('"auth": "user"')}`
        : `the endpoint wants other credentials: ${drop}, or switch it to the server key in ${config(`"auth": "server", "path": "${serverPathForm(resource.path)}"`)}; with the server key no token names the user, so the path must carry {identifier} (or {id} of a parent)`;
    case 'selector':
      return `no selector matched the body: name the key that holds the records in ${config('"selectors": ["<key>"]')} (paylink-loader probe --user <identifier> shows the keys), or ${drop}`;
    case 'body':
      return `check --base-url and the path: ${drop}, or set its path in ${config('"path": "/..."')}`;
  }
}

/** The `{identifier}` form of a path for the server key: kept when it already names the user. */
function serverPathForm(path: string): string {
  if (path.includes('{identifier}') || path.includes('{id}')) return path;
  return '/.../{identifier}/...';
}

/**
 * Whether a symptom on `resource` may be stale ids rather than the endpoint: a 404 on a path per
 * known task id (`/task/{id}/details`). Such a symptom is judged by the whole load, never by
 * one batch mid-load. Such ids come from webhook events and files and go stale (a task PayLink
 * no longer knows answers 404 like a missing route), so any number of users whose ids all 404
 * says nothing about the endpoint while some other user's id may still answer: one answered id
 * anywhere in the load proves it. A batch of the deployed stack cannot see the others (each is
 * its own Lambda, run in parallel), and a local run's verdict must not depend on which batch
 * came first, so both wait for the load's end (`finishLoad` for a local run's last batch,
 * `judgeAcrossBatches` at commit) and find the endpoint unusable only when no id of the load
 * answered and at least ENDPOINT_EVIDENCE_USERS users had every id 404. Until then the endpoint
 * is called for every user with ids: the requests a working route would take, no more.
 */
export function maybeStaleIds(
  resource: Pick<EndpointDef, 'parent'>,
  symptom: Pick<EndpointSymptom, 'code'>,
): boolean {
  return resource.parent?.resource === KNOWN_TASKS && symptom.code === 'http_404';
}

function describeSymptom(symptom: EndpointSymptom): string {
  if (symptom.fix === 'selector') {
    const keys = describeKeys(symptom.keysSeen ?? [], symptom.keysNotShown ?? 0);
    return `answered with records under none of its selectors (top-level keys: ${keys})`;
  }
  if (symptom.fix === 'body') return 'answered a body that is not JSON';
  if (symptom.fix === 'redirect') return `answered HTTP ${symptom.httpStatus} (a redirect)`;
  return `answered HTTP ${symptom.httpStatus}`;
}

/** What one user's run showed about each resource step (fetch-only parents included). */
export interface StepObservation {
  readonly resource: string;
  /**
   * `ok`: it worked (at least one request answered). `symptom`: an endpoint-level symptom.
   * `failed`: another failure. `skipped`: not called, or nothing to call (a unit of zero
   * requests: no task id, no parent record), which says nothing about the endpoint.
   */
  readonly result: 'ok' | 'failed' | 'skipped' | EndpointSymptom;
  /** The step's error when it failed: systemic causes are judged from it. */
  readonly error?: unknown;
}

export interface UserObservation {
  readonly identifier: string;
  /** The token was minted (PayLink answered as PayLink for this user). */
  readonly minted: boolean;
  /** The mint's error, when it failed. */
  readonly mintError?: unknown;
  /**
   * PayLink served this user at WITNESS_PATH (asked only when no other resource of the user
   * worked): the user exists, so an endpoint symptom of theirs is evidence against the endpoint.
   */
  readonly witnessed?: boolean;
  readonly steps: readonly StepObservation[];
}

/**
 * What a batch that judged alone (a Lambda) leaves for commit to judge across batches: the
 * resources that worked for somebody, and the evidence still short of a verdict. Counts and
 * symptoms only, never a value. Stored in the batch manifest.
 */
export interface EndpointEvidence {
  readonly works: readonly string[];
  readonly open: readonly OpenEndpoint[];
}

/** Evidence users of one symptom on one resource that had no verdict when its batch ended. */
export interface OpenEndpoint {
  readonly resource: string;
  readonly endpoint: string;
  readonly auth: ResourceDef['auth'];
  /**
   * The resource its `{id}` comes from (`accounts`, `known_tasks`), for the finding's words.
   * Absent when it has no parent, and in manifests written before it was recorded.
   */
  readonly parent?: string;
  readonly symptom: EndpointSymptom;
  readonly users: number;
  /** The batch's resources under it (`EndpointFinding.notFetched` if it is found unusable). */
  readonly notFetched?: readonly string[];
}

type Verdict =
  | { state: 'open'; counts: Map<string, { symptom: EndpointSymptom; users: number }> }
  | { state: 'works' }
  | { state: 'disabled'; finding: EndpointFinding };

export class EndpointHealth {
  readonly #resources: ReadonlyMap<string, ResourceDef>;
  readonly #verdicts = new Map<string, Verdict>();
  readonly #batches = new Set<number>();
  #anyUserWorked = false;
  #systemicUsers = 0;
  #firstSystemic: SystemicCause | undefined;

  constructor(resources: readonly ResourceDef[]) {
    this.#resources = new Map(resources.map((r) => [r.table, r]));
  }

  /** The batch now being loaded: named in findings it reaches. */
  startBatch(batch: number): void {
    this.#batches.clear();
    this.#batches.add(batch);
  }

  /** The finding that disabled this resource, if any: callers skip it. */
  disabled(resource: string): EndpointFinding | undefined {
    const verdict = this.#verdicts.get(resource);
    return verdict?.state === 'disabled' ? verdict.finding : undefined;
  }

  /** Whether the resource's verdict is still open (neither working for somebody nor disabled). */
  undecided(resource: string): boolean {
    const state = this.#verdicts.get(resource)?.state;
    return state === undefined || state === 'open';
  }

  /** Whether the resource worked for somebody (then its failures are users' own). */
  works(resource: string): boolean {
    return this.#verdicts.get(resource)?.state === 'works';
  }

  findings(): EndpointFinding[] {
    const out: EndpointFinding[] = [];
    for (const verdict of this.#verdicts.values())
      if (verdict.state === 'disabled') out.push(verdict.finding);
    return out;
  }

  /** Where the verdicts stand: what commit needs to judge this batch's open units with the others'. */
  evidence(): EndpointEvidence {
    const works: string[] = [];
    const open: OpenEndpoint[] = [];
    for (const [resource, verdict] of this.#verdicts) {
      if (verdict.state === 'works') works.push(resource);
      if (verdict.state !== 'open') continue;
      const def = this.#resources.get(resource)!;
      for (const { symptom, users } of verdict.counts.values())
        open.push({
          resource,
          endpoint: def.path,
          auth: def.auth,
          ...(def.parent === undefined ? {} : { parent: def.parent.resource }),
          symptom,
          users,
          ...notFetchedOf(resourcesUnder(resource, this.#resources.values())),
        });
    }
    return { works: works.sort(), open };
  }

  /**
   * Folds in one finished user (in completion order). Throws SystemicFailureError when the first
   * users have all failed at the network or with non-PayLink bodies and nobody has succeeded.
   */
  observe(user: UserObservation): void {
    const worked = user.steps.filter((s) => s.result === 'ok').map((s) => s.resource);
    if (worked.length > 0) this.#anyUserWorked = true;
    for (const step of user.steps) {
      if (step.result === 'ok') {
        const verdict = this.#verdicts.get(step.resource);
        if (verdict?.state !== 'disabled') this.#verdicts.set(step.resource, { state: 'works' });
        continue;
      }
      if (typeof step.result === 'string') continue;
      // Evidence only from users PayLink served elsewhere: a user missing everywhere is the user's
      // problem. A minted token is not enough (PayLink may mint for a user it has no data for).
      const evidence = user.minted && (worked.some((r) => r !== step.resource) || user.witnessed === true);
      if (evidence) this.#count(step.resource, step.result);
    }
    this.#judgeSystemic(user);
  }

  #count(resource: string, symptom: EndpointSymptom): void {
    const def = this.#resources.get(resource);
    if (def === undefined) return;
    let verdict = this.#verdicts.get(resource);
    if (verdict === undefined) {
      verdict = { state: 'open', counts: new Map() };
      this.#verdicts.set(resource, verdict);
    }
    if (verdict.state !== 'open') return;
    const n = (verdict.counts.get(symptom.code)?.users ?? 0) + 1;
    verdict.counts.set(symptom.code, { symptom, users: n });
    // Stale ids are only told from a missing route by the whole load (see maybeStaleIds).
    if (maybeStaleIds(def, symptom) || n < ENDPOINT_EVIDENCE_USERS) return;
    this.#disable(resource, def, symptom, n);
  }

  /**
   * The load's last users are in (a local run's last batch): a known-task 404 (judged by the
   * whole load, see `maybeStaleIds`) that no answered id contradicted is reached here with
   * ENDPOINT_EVIDENCE_USERS or more users, as `judgeAcrossBatches` does at commit for batches
   * that judged alone.
   */
  finishLoad(): void {
    for (const [resource, verdict] of [...this.#verdicts]) {
      if (verdict.state !== 'open') continue;
      const def = this.#resources.get(resource)!;
      const best = [...verdict.counts.values()]
        .filter((c) => c.users >= ENDPOINT_EVIDENCE_USERS)
        .sort((a, b) => b.users - a.users || (a.symptom.code < b.symptom.code ? -1 : 1))[0];
      if (best !== undefined) this.#disable(resource, def, best.symptom, best.users);
    }
  }

  #disable(resource: string, def: ResourceDef, symptom: EndpointSymptom, n: number): void {
    this.#verdicts.set(resource, {
      state: 'disabled',
      finding: {
        resource,
        endpoint: def.path,
        code: symptom.code,
        httpStatus: symptom.httpStatus,
        evidenceUsers: n,
        batches: [...this.#batches],
        message: findingMessage(def, symptom, n),
        ...notFetchedOf(resourcesUnder(resource, this.#resources.values())),
      },
    });
  }

  #judgeSystemic(user: UserObservation): void {
    if (this.#anyUserWorked || this.#systemicUsers < 0) return;
    const cause = systemicCause(user);
    if (cause === undefined) {
      // A user failed for a PayLink reason (or worked): the load can work; stop watching.
      this.#systemicUsers = -1;
      return;
    }
    this.#firstSystemic ??= cause;
    this.#systemicUsers++;
    if (this.#systemicUsers >= SYSTEMIC_EVIDENCE_USERS)
      throw systemicError(this.#firstSystemic, this.#systemicUsers);
  }

  /** End of a batch with fewer users than the evidence needs: all of them failing alike is enough. */
  finishBatch(): void {
    if (!this.#anyUserWorked && this.#systemicUsers > 0 && this.#firstSystemic !== undefined)
      throw systemicError(this.#firstSystemic, this.#systemicUsers);
  }
}

/**
 * A systemic cause, and whether it may heal by itself: PayLink unreachable or answering 5xx may be
 * a short outage; a redirect, an HTML page or a body that is not PayLink's is the configuration.
 */
interface SystemicCause {
  readonly cause: string;
  readonly error: unknown;
  readonly transient: boolean;
}

function systemicError(first: SystemicCause, users: number): SystemicFailureError {
  return first.transient
    ? new PayLinkUnavailableError(first.cause, users, first.error)
    : new SystemicFailureError(first.cause, users, first.error);
}

/** Why a user failed in a way that says the load cannot work at all; undefined otherwise. */
function systemicCause(user: UserObservation): SystemicCause | undefined {
  if (!user.minted) return describeSystemic(user.mintError);
  const called = user.steps.filter((s) => s.result !== 'skipped');
  if (called.length === 0 || called.some((s) => s.result === 'ok')) return undefined;
  let first: SystemicCause | undefined;
  for (const step of called) {
    const cause = describeSystemic(step.error);
    if (cause === undefined) return undefined;
    first ??= cause;
  }
  return first;
}

/** Where an error's answer came from, for a one-line cause: the origin, else the flag to check. */
function whereOf(error: { origin?: string | undefined }): string {
  return error.origin ?? 'the server at --base-url';
}

/** What a 2xx body that PayLink would not send looked like (MalformedResponseError details). */
function bodyDescription(detail: string): string {
  if (detail === 'empty body') return 'an empty body';
  if (detail.startsWith('an HTML')) return 'an HTML page, not JSON';
  if (detail === 'body is not valid JSON') return 'a body that is not JSON';
  // A JSON body without what PayLink always sends (a JSON server that is not PayLink).
  return `JSON that is not PayLink's (${detail})`;
}

/** The systemic cause an error shows, or undefined when it is a user's (or an endpoint's) own. */
function describeSystemic(error: unknown): SystemicCause | undefined {
  if (error instanceof PayLinkNetworkError) {
    return { cause: `cannot reach ${error.origin ?? 'PayLink'}: ${error.reason}`, error, transient: true };
  }
  if (error instanceof MalformedResponseError) {
    return {
      cause: `${whereOf(error)} is not answering as PayLink: ${error.endpoint} sent ${bodyDescription(error.detail)}; check --base-url`,
      error,
      transient: false,
    };
  }
  if (!(error instanceof PayLinkHttpError)) return undefined;
  const { status, endpoint } = error;
  if (error.html) {
    return {
      cause: `${whereOf(error)} is not answering as PayLink: ${endpoint} got HTTP ${status} with an HTML page; check --base-url`,
      error,
      transient: false,
    };
  }
  if (status >= 300 && status < 400) {
    return {
      cause: `${whereOf(error)} answered ${endpoint} with a redirect (HTTP ${status}), which the loader does not follow (it would carry the credentials elsewhere); check --base-url (the exact API address, https)`,
      error,
      transient: false,
    };
  }
  if (status >= 500) {
    return {
      cause: `${whereOf(error)} answered ${endpoint} with HTTP ${status} even after retries: PayLink is failing (or --base-url is not PayLink); nothing useful could be loaded`,
      error,
      transient: true,
    };
  }
  // No access-token endpoint at the base URL: the URL is wrong for every user, not one.
  if (endpoint === 'POST /access-token' && (status === 404 || status === 405)) {
    return {
      cause: `${whereOf(error)} answered ${endpoint} with HTTP ${status}: --base-url is not the PayLink API root`,
      error,
      transient: false,
    };
  }
  return undefined;
}

/**
 * The verdicts of batches that judged alone (the deployed stack: one Lambda per batch), taken
 * together at commit: a resource no batch disabled, that worked for nobody in any batch, and
 * whose open evidence with one symptom adds up to `ENDPOINT_EVIDENCE_USERS` users over the
 * batches is found unusable, as one batch of all those users would have found it. So a load of
 * many small batches (or a last batch of one user) does not fail its users for a wrong guess.
 * Which batch came first is unknowable across parallel Lambdas, so a resource that worked
 * anywhere is never disabled here. Returns only the new findings, by resource.
 */
export function judgeAcrossBatches(
  batches: readonly { batch: number; evidence: EndpointEvidence | undefined }[],
  findings: readonly EndpointFinding[],
): EndpointFinding[] {
  const decided = new Set(findings.map((f) => f.resource));
  for (const { evidence } of batches) for (const r of evidence?.works ?? []) decided.add(r);
  const sums = new Map<string, { open: OpenEndpoint; users: number; batches: Set<number> }>();
  for (const { batch, evidence } of batches) {
    for (const open of evidence?.open ?? []) {
      if (decided.has(open.resource)) continue;
      const key = `${open.resource}\u0000${open.symptom.code}`;
      const sum = sums.get(key) ?? { open, users: 0, batches: new Set<number>() };
      sum.users += open.users;
      sum.batches.add(batch);
      sums.set(key, sum);
    }
  }
  const best = new Map<string, { open: OpenEndpoint; users: number; batches: Set<number> }>();
  for (const sum of [...sums.values()].sort((a, b) => (a.open.symptom.code < b.open.symptom.code ? -1 : 1))) {
    if (sum.users < ENDPOINT_EVIDENCE_USERS) continue;
    const seen = best.get(sum.open.resource);
    if (seen === undefined || sum.users > seen.users) best.set(sum.open.resource, sum);
  }
  return [...best.values()]
    .map(({ open, users, batches }) => ({
      resource: open.resource,
      endpoint: open.endpoint,
      code: open.symptom.code,
      httpStatus: open.symptom.httpStatus,
      evidenceUsers: users,
      batches: [...batches].sort((a, b) => a - b),
      message: findingMessage(
        {
          table: open.resource,
          path: open.endpoint,
          auth: open.auth,
          parent: open.parent === undefined ? undefined : { resource: open.parent },
        },
        open.symptom,
        users,
      ),
      ...notFetchedOf(open.notFetched),
    }))
    .sort((a, b) => (a.resource < b.resource ? -1 : 1));
}
