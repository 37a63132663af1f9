import { describe, expect, it } from 'vitest';
import { resolveCatalog } from '#core/config.ts';
import { EndpointHealth, endpointSymptom, type UserObservation } from '#core/endpoint-health.ts';
import {
  MalformedResponseError,
  PayLinkHttpError,
  PayLinkNetworkError,
  SystemicFailureError,
} from '#core/errors.ts';

const catalog = resolveCatalog();
const missing = () => new PayLinkHttpError('/pay-link/orders', 404, 40400);
const symptom = endpointSymptom(missing())!;

/** A user whose accounts worked and whose orders failed with `ordersResult`. */
function user(identifier: string, ordersResult: 'ok' | 'missing'): UserObservation {
  return {
    identifier,
    minted: true,
    steps: [
      { resource: 'accounts', result: 'ok' },
      ordersResult === 'ok'
        ? { resource: 'orders', result: 'ok' }
        : { resource: 'orders', result: symptom, error: missing() },
    ],
  };
}

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
});
