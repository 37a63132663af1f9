import { describe, expect, it } from 'vitest';
import { resolveCatalog } from '#core/config.ts';
import {
  EndpointHealth,
  endpointSymptom,
  fixAdvice,
  judgeAcrossBatches,
  resourcesUnder,
  type UserObservation,
} from '#core/endpoint-health.ts';
import {
  MalformedResponseError,
  PayLinkHttpError,
  PayLinkNetworkError,
  SystemicFailureError,
} from '#core/errors.ts';
import { accountsAnd, notFound } from '#test/helpers/user-results.ts';

const catalog = resolveCatalog();
const missing = () => notFound('/pay-link/orders');
const symptom = endpointSymptom(missing())!;

/** A user whose accounts worked and whose orders failed with `ordersResult`. */
const user = (identifier: string, ordersResult: 'ok' | 'missing'): UserObservation =>
  accountsAnd(identifier, 'orders', ordersResult === 'ok' ? undefined : missing());

describe('endpointSymptom', () => {
  it('reads a missing path, other credentials, a non-JSON body as endpoint symptoms', () => {
    expect(endpointSymptom(missing())).toMatchObject({ code: 'http_404', fix: 'path' });
    expect(endpointSymptom(new PayLinkHttpError('/x', 401))).toMatchObject({ code: 'http_401', fix: 'auth' });
    expect(endpointSymptom(new PayLinkHttpError('/x', 403, 40300))).toMatchObject({ fix: 'auth' });
    expect(endpointSymptom(new MalformedResponseError('/x', 'body is not valid JSON'))).toMatchObject({
      fix: 'body',
    });
  });

  it('leaves expired tokens, rate limits and server errors to the user', () => {
    expect(endpointSymptom(new PayLinkHttpError('/x', 401, 40104))).toBeUndefined();
    expect(endpointSymptom(new PayLinkHttpError('/x', 429))).toBeUndefined();
    expect(endpointSymptom(new PayLinkHttpError('/x', 503))).toBeUndefined();
  });
});

describe('EndpointHealth', () => {
  it("names the load's resources under a disabled one: they are not fetched either", () => {
    // accounts -> account, action_history: a finding on accounts leaves both unfetched.
    expect(resourcesUnder('accounts', catalog)).toEqual(['account', 'action_history']);
    expect(resourcesUnder('orders', catalog)).toEqual([]);
    const accountsMissing = (identifier: string): UserObservation => ({
      identifier,
      minted: true,
      witnessed: true,
      steps: [
        { resource: 'accounts', result: symptom, error: missing() },
        { resource: 'action_history', result: 'skipped' },
        { resource: 'orders', result: 'ok' },
      ],
    });
    const steps = catalog.filter((r) => ['accounts', 'action_history', 'orders'].includes(r.table));
    const health = new EndpointHealth(steps);
    health.startBatch(0);
    for (const id of ['a', 'b', 'c']) health.observe(accountsMissing(id));
    // Only the batch's own resources: `account` is not loaded here.
    expect(health.disabled('accounts')?.notFetched).toEqual(['action_history']);
    // A finding with nothing under it stays as it was.
    const orders = new EndpointHealth(catalog);
    orders.startBatch(0);
    for (const id of ['a', 'b', 'c']) orders.observe(user(id, 'missing'));
    expect(orders.disabled('orders')).not.toHaveProperty('notFetched');
    // Judged at commit across batches (each one short of evidence): the same.
    const open = (batch: number, identifier: string) => {
      const h = new EndpointHealth(steps);
      h.startBatch(batch);
      h.observe(accountsMissing(identifier));
      return { batch, evidence: h.evidence() };
    };
    const [acrossBatches] = judgeAcrossBatches([open(0, 'a'), open(1, 'b'), open(2, 'c')], []);
    expect(acrossBatches).toMatchObject({ resource: 'accounts', notFetched: ['action_history'] });
  });

  it('disables a resource after three users whose other resources worked, naming it and the fix', () => {
    const health = new EndpointHealth(catalog);
    health.startBatch(0);
    health.observe(user('a', 'missing'));
    health.observe(user('b', 'missing'));
    expect(health.disabled('orders')).toBeUndefined();
    health.observe(user('c', 'missing'));
    const finding = health.disabled('orders')!;
    expect(finding).toMatchObject({ resource: 'orders', code: 'http_404', evidenceUsers: 3, batches: [0] });
    expect(finding.message).toContain('--resources');
    expect(finding.message).toContain('"orders": {"path": "/..."}');
    expect(health.findings()).toHaveLength(1);
  });

  it('never disables a resource that worked for somebody', () => {
    const health = new EndpointHealth(catalog);
    health.observe(user('a', 'missing'));
    health.observe(user('b', 'ok'));
    for (const id of ['c', 'd', 'e', 'f']) health.observe(user(id, 'missing'));
    expect(health.disabled('orders')).toBeUndefined();
    expect(health.works('orders')).toBe(true);
  });

  it('takes no evidence from users that failed everywhere (their own problem)', () => {
    const health = new EndpointHealth(catalog);
    for (const id of ['a', 'b', 'c', 'd']) {
      health.observe({
        identifier: id,
        minted: true,
        steps: [
          { resource: 'accounts', result: symptom, error: missing() },
          { resource: 'orders', result: symptom, error: missing() },
        ],
      });
    }
    expect(health.findings()).toEqual([]);
  });

  it('stops the load when the first three users fail at the network', () => {
    const health = new EndpointHealth(catalog);
    const refused = () => ({
      identifier: 'x',
      minted: false,
      mintError: new PayLinkNetworkError(
        'POST /access-token',
        'network',
        new Error('TypeError (ECONNREFUSED)'),
        'http://127.0.0.1:9',
      ),
      steps: [],
    });
    health.observe(refused());
    health.observe(refused());
    expect(() => health.observe(refused())).toThrow(SystemicFailureError);
    expect(() => health.observe(refused())).toThrow('cannot reach http://127.0.0.1:9: connection refused');
  });

  it('keeps going when one of the first users was served by PayLink', () => {
    const health = new EndpointHealth(catalog);
    const refused = {
      identifier: 'x',
      minted: false,
      mintError: new PayLinkNetworkError('POST /access-token', 'timeout'),
      steps: [],
    };
    health.observe(refused);
    health.observe(user('ok', 'ok'));
    for (let i = 0; i < 5; i++) health.observe(refused);
    expect(() => health.finishBatch()).not.toThrow();
  });

  it('takes no evidence from a user whose only called resource failed, unless PayLink served them at the witness', () => {
    const onlyOrders = (identifier: string, witnessed?: boolean): UserObservation => ({
      identifier,
      minted: true,
      steps: [{ resource: 'orders', result: symptom, error: missing() }],
      ...(witnessed === undefined ? {} : { witnessed }),
    });
    const unwitnessed = new EndpointHealth(catalog);
    for (const id of ['a', 'b', 'c', 'd']) unwitnessed.observe(onlyOrders(id));
    for (const id of ['e', 'f', 'g']) unwitnessed.observe(onlyOrders(id, false));
    expect(unwitnessed.findings(), 'a minted token is not evidence').toEqual([]);
    expect(unwitnessed.undecided('orders')).toBe(true);

    const witnessed = new EndpointHealth(catalog);
    for (const id of ['a', 'b', 'c']) witnessed.observe(onlyOrders(id, true));
    expect(witnessed.disabled('orders')?.evidenceUsers).toBe(3);
    expect(witnessed.undecided('orders')).toBe(false);
  });

  it('stops the load when the first users get only 5xx or redirects, naming status and endpoint', () => {
    const failing = (error: PayLinkHttpError) => {
      error.origin = 'http://127.0.0.1:9';
      return { identifier: 'x', minted: false, mintError: error, steps: [] };
    };
    const down = new EndpointHealth(catalog);
    down.observe(failing(new PayLinkHttpError('POST /access-token', 503)));
    down.observe(failing(new PayLinkHttpError('POST /access-token', 503)));
    expect(() => down.observe(failing(new PayLinkHttpError('POST /access-token', 503)))).toThrow(
      'http://127.0.0.1:9 answered POST /access-token with HTTP 503 even after retries',
    );
    const moved = new EndpointHealth(catalog);
    moved.observe(failing(new PayLinkHttpError('POST /access-token', 302)));
    expect(() => moved.finishBatch()).toThrow('with a redirect (HTTP 302)');
  });

  it('stops the load when minted users get 5xx on every resource', () => {
    const health = new EndpointHealth(catalog);
    const failing = (): UserObservation => {
      const error = (endpoint: string) =>
        Object.assign(new PayLinkHttpError(endpoint, 502), { origin: 'https://p' });
      return {
        identifier: 'x',
        minted: true,
        steps: [
          { resource: 'accounts', result: 'failed', error: error('/pay-link/accounts') },
          { resource: 'orders', result: 'failed', error: error('/pay-link/orders') },
        ],
      };
    };
    health.observe(failing());
    health.observe(failing());
    expect(() => health.observe(failing())).toThrow(
      'https://p answered /pay-link/accounts with HTTP 502 even after retries',
    );
  });

  it("reads a redirect of one data endpoint as that endpoint's symptom", () => {
    expect(endpointSymptom(new PayLinkHttpError('/x', 302))).toMatchObject({
      code: 'http_302',
      fix: 'redirect',
    });
  });
});

describe('fix advice', () => {
  const def = (table: string) => catalog.find((r) => r.table === table)!;
  it('shows the {identifier} path form when it suggests the server key', () => {
    const advice = fixAdvice(def('suggestions'), { code: 'http_401', httpStatus: 401, fix: 'auth' });
    expect(advice).toContain(
      '{"resources": {"suggestions": {"auth": "server", "path": "/.../{identifier}/..."}}}',
    );
    expect(advice).toContain('the path must carry {identifier}');
  });

  it('names stale ids before a missing endpoint for a 404 on a path per id (tasks)', () => {
    const advice = fixAdvice(def('tasks'), symptom);
    expect(advice).toMatch(/^either the ids given to it are unknown to PayLink \(stale task ids/);
    expect(advice).toContain('README "Removing a user or task id"');
    expect(fixAdvice(def('orders'), symptom)).toMatch(/^the endpoint looks missing: /);
  });

  it('words a 404 by where its ids come from: a fetched parent (named), known task ids, none', () => {
    // Ids of accounts just listed by PayLink are not stale: no task ids, no registry to clean.
    expect(fixAdvice(def('account'), symptom)).toBe(
      'the endpoint looks missing (the ids given to it are those of the accounts records PayLink had just listed, so they are not stale): leave it out with --resources, or set its path in a --config file ({"resources": {"account": {"path": "/..."}}})',
    );
    expect(fixAdvice(def('tasks'), symptom)).toBe(
      `either the ids given to it are unknown to PayLink (stale task ids learned from webhook events or a --task-ids file; no id of this load answered, so none counts toward retiring: remove them from the lake's registry, README "Removing a user or task id") or the endpoint is missing: leave it out with --resources, or set its path in a --config file ({"resources": {"tasks": {"path": "/..."}}})`,
    );
    // A fan-out by query parameter (`?accountId=`) keeps the plain words: no id in the path.
    for (const table of ['orders', 'action_history'])
      expect(fixAdvice(def(table), symptom)).toBe(
        `the endpoint looks missing: leave it out with --resources, or set its path in a --config file ({"resources": {"${table}": {"path": "/..."}}})`,
      );
  });

  it('names no stale ids when a path per known task id answers what a stale id never does (405)', () => {
    const advice = fixAdvice(def('tasks'), { code: 'http_405', httpStatus: 405, fix: 'path' });
    expect(advice).toMatch(/^the endpoint looks missing: /);
  });

  it('words a finding on account by its parent, in one batch and across batches; an older manifest keeps both causes', () => {
    const accountMissing = (identifier: string) =>
      accountsAnd(identifier, 'account', notFound('/pay-link/accounts/{id}'));
    const steps = catalog.filter((r) => ['accounts', 'account'].includes(r.table));
    const health = new EndpointHealth(steps);
    health.startBatch(0);
    for (const id of ['a', 'b', 'c']) health.observe(accountMissing(id));
    const inBatch = health.disabled('account')!.message;
    expect(inBatch).toContain('account: GET /pay-link/accounts/{id} answered HTTP 404 for the first 3 users');
    expect(inBatch).toContain('those of the accounts records PayLink had just listed');
    expect(inBatch).not.toContain('task ids');

    const open = (batch: number, identifier: string) => {
      const h = new EndpointHealth(steps);
      h.startBatch(batch);
      h.observe(accountMissing(identifier));
      return { batch, evidence: h.evidence() };
    };
    const batches = [open(0, 'a'), open(1, 'b'), open(2, 'c')];
    expect(batches[0]!.evidence.open).toEqual([
      expect.objectContaining({ resource: 'account', parent: 'accounts' }),
    ]);
    // What commit reads back from the manifests (JSON), then with the parent dropped as an
    // older version wrote them.
    const stored = JSON.parse(JSON.stringify(batches)) as typeof batches;
    const [across] = judgeAcrossBatches(stored, []);
    expect(across!.message).toBe(inBatch);
    const older = stored.map(({ batch, evidence }) => ({
      batch,
      evidence: { ...evidence, open: evidence.open.map(({ parent: _parent, ...rest }) => rest) },
    }));
    const [fromOlder] = judgeAcrossBatches(older, []);
    expect(fromOlder!.message).toContain('either the ids given to it are unknown to PayLink');
    expect(fromOlder!.message).toContain('or the endpoint is missing: leave it out with --resources');
  });

  it('reads as one sentence for a selector miss', () => {
    const advice = fixAdvice(def('orders'), {
      code: 'selector_not_found',
      httpStatus: null,
      fix: 'selector',
    });
    expect(advice).toBe(
      'no selector matched the body: name the key that holds the records in a --config file ({"resources": {"orders": {"selectors": ["<key>"]}}}) (paylink-loader probe --user <identifier> shows the keys), or leave it out with --resources',
    );
  });
});
