import { createHmac } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { requestPath } from '#adapters/webhook-server.ts';
import { parseEventObjectKey, parseStoredEvent } from '#core/event-log.ts';
import { parseJsonBody } from '#core/json-body.ts';
import type { ObjectStore } from '#core/ports.ts';
import {
  eventKey,
  receiveWebhook,
  routeWebhook,
  signWebhookBody,
  taskOf,
  WEBHOOK,
  type WebhookHeaders,
  webhookLogFields,
  webhookResponse,
} from '#core/webhook.ts';

const SECRET = 'test-secret-0123456789';
const RECEIVED = new Date('2026-11-30T23:59:58.500Z');
const enc = (text: string) => new TextEncoder().encode(text);

function eventBody(identifier = 'user-1', extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    eventType: 'task-status-updated',
    eventTime: '2026-11-30T23:59:50.000Z',
    user: { _id: 'atomic-user-1', identifier },
    data: { status: 'completed', previousStatus: 'processing', task: 'task-9', ...extra },
  });
}

function signed(body: string, headers: Record<string, string> = {}, secret = SECRET): WebhookHeaders {
  return { 'x-hmac-signature-sha-256': signWebhookBody(body, secret), ...headers };
}

/** Every file under the lake, relative, sorted. */
async function files(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

describe('receiveWebhook', () => {
  let root: string;
  let store: ObjectStore;
  const receive = (body: string | Uint8Array, headers: WebhookHeaders, secret = SECRET) =>
    receiveWebhook(
      { headers, body: typeof body === 'string' ? enc(body) : body },
      { store, secret, receivedAt: RECEIVED },
    );

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'webhook-'));
    store = createLocalStore(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stores a signed event under _events/dt=<received date>/ with the body verbatim', async () => {
    // A number beyond 2^53 must keep every digit: the body is embedded, not re-serialized.
    const body = eventBody('user-1').replace('"task":"task-9"', '"task":"task-9","big":12345678901234567890');
    const outcome = await receive(
      body,
      signed(body, { 'ce-id': 'evt-1', 'ce-type': 'com.atomicfi.task-status-updated' }),
    );

    expect(outcome).toMatchObject({
      kind: 'accepted',
      status: 200,
      stored: 'created',
      eventType: 'task-status-updated',
    });
    expect(await files(root)).toEqual([`_events/dt=2026-11-30/${eventKey(enc(body))}.json`]);
    const text = new TextDecoder().decode(await store.get(outcome.kind === 'accepted' ? outcome.key : ''));
    expect(text).toContain('"big":12345678901234567890');
    expect(JSON.parse(text)).toMatchObject({
      formatVersion: 1,
      receivedAt: '2026-11-30T23:59:58.500Z',
      cloudEvent: { id: 'evt-1', type: 'com.atomicfi.task-status-updated' },
      event: { eventType: 'task-status-updated', user: { identifier: 'user-1', _id: 'atomic-user-1' } },
    });
  });

  it('stores an event whose user._id is null or a number, as one without _id: user_id is null', async () => {
    for (const id of ['null', '42']) {
      const body = `{"eventType":"pay-link-accounts-updated","eventTime":"2026-11-30T23:00:00Z","user":{"_id":${id},"identifier":"odd-id-${id}"},"data":{}}`;
      const outcome = await receive(body, signed(body));
      // Refused before (400 malformed): the event was lost after Atomic's retries.
      expect(outcome).toMatchObject({ kind: 'accepted', status: 200, stored: 'created' });
      const key = outcome.kind === 'accepted' ? outcome.key : '';
      const loaded = parseStoredEvent(parseEventObjectKey(key)!, (await store.get(key))!);
      expect([loaded.identifier, loaded.userId]).toEqual([`odd-id-${id}`, null]);
      // The body is kept as sent.
      expect(new TextDecoder().decode(await store.get(key))).toContain(`"_id":${id}`);
    }
  });

  it('acknowledges a retried event as a duplicate and keeps one object', async () => {
    const body = eventBody();
    const headers = signed(body, { 'ce-id': 'evt-7', 'ce-time': '2026-11-30T23:59:50Z' });
    const first = await receive(body, headers);
    // Atomic retries 30 s later; ce-time and header case may differ, the event is the same.
    const retry = await receive(body, { ...signed(body, { 'CE-ID': 'evt-7' }), 'ce-time': 'later' });
    const third = await receive(body, headers);

    expect([first, retry, third].map((o) => (o.kind === 'accepted' ? o.stored : o.reason))).toEqual([
      'created',
      'duplicate',
      'duplicate',
    ]);
    expect(await files(root)).toHaveLength(1);
  });

  it('keys an event without ce-id by its body, so a replayed body is stored once', async () => {
    const body = eventBody();
    await receive(body, signed(body));
    const again = await receive(body, signed(body));

    expect(again).toMatchObject({ kind: 'accepted', stored: 'duplicate' });
    expect(await files(root)).toEqual([`_events/dt=2026-11-30/${eventKey(enc(body))}.json`]);
  });

  it('stores a signed body once whatever ce-id it comes with: the header is not signed', async () => {
    const body = eventBody();
    const first = await receive(body, signed(body, { 'ce-id': 'evt-1' }));
    // The same bytes replayed under other ids (forged, or Atomic's retry with a new id).
    const replays = await Promise.all(
      ['evt-2', 'evt-3', 'made-up'].map((id) => receive(body, signed(body, { 'ce-id': id }))),
    );

    expect(first).toMatchObject({ kind: 'accepted', stored: 'created' });
    expect(replays.map((o) => (o.kind === 'accepted' ? o.stored : o.reason))).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
    expect(await files(root)).toEqual([`_events/dt=2026-11-30/${eventKey(enc(body))}.json`]);
  });

  it('stores two distinct events separately', async () => {
    const a = eventBody('user-a');
    const b = eventBody('user-b');
    await receive(a, signed(a, { 'ce-id': 'evt-a' }));
    await receive(b, signed(b, { 'ce-id': 'evt-b' }));

    expect(await files(root)).toHaveLength(2);
  });

  it('does not let an unsigned ce-id pre-empt another event: a signed body re-sent under a new ce-id is a copy of itself', async () => {
    const old = eventBody('user-old');
    const future = eventBody('user-future');
    await receive(old, signed(old, { 'ce-id': 'evt-future' }));
    const real = await receive(future, signed(future, { 'ce-id': 'evt-future' }));

    expect(real).toMatchObject({ kind: 'accepted', stored: 'created' });
  });

  it.each([
    'X-HMAC-Signature-Sha-256',
    'x-hmac-signature-sha-256',
    'X-HMAC-SIGNATURE-SHA-256',
    'x-Hmac-Signature-SHA-256',
  ])('finds the signature under header name %s', async (name) => {
    const body = eventBody();
    const outcome = await receive(body, { [name]: signWebhookBody(body, SECRET) });

    expect(outcome).toMatchObject({ kind: 'accepted' });
  });

  it('accepts the digest as uppercase hex or base64 (the docs do not name the encoding)', async () => {
    const body = eventBody();
    const digest = createHmac('sha256', SECRET).update(body).digest();
    const upper = await receive(body, { 'x-hmac-signature-sha-256': digest.toString('hex').toUpperCase() });
    const base64 = await receive(body, { 'x-hmac-signature-sha-256': digest.toString('base64') });

    expect([upper.kind, base64.kind]).toEqual(['accepted', 'accepted']);
  });

  it('accepts base64url too, padded or not, whichever characters the digest holds', async () => {
    // Bodies whose digest in base64url holds `-` or `_` (and so in base64 `+` or `/`): the
    // characters where the two alphabets differ, once refused in base64url.
    // At least two such characters, so one value can hold both alphabets (below).
    const differing = (b: string) =>
      (createHmac('sha256', SECRET).update(b).digest('base64url').match(/[-_]/g) ?? []).length;
    const bodies = Array.from({ length: 60 }, (_, i) => eventBody(`user-${i}`)).filter(
      (b) => differing(b) >= 2,
    );
    expect(bodies.length).toBeGreaterThan(4);
    for (const body of bodies.slice(0, 4)) {
      const digest = createHmac('sha256', SECRET).update(body).digest();
      const url = digest.toString('base64url');
      const standard = digest.toString('base64');
      for (const header of [url, `${url}=`, standard, standard.slice(0, 43)])
        expect((await receive(body, { 'x-hmac-signature-sha-256': header })).kind, header).toBe('accepted');
      // The same digest with both alphabets in one value (no encoder writes that), another
      // secret's base64url, a character short: refused alike.
      const mixed = standard.replace(/[+/]/, (c) => (c === '+' ? '-' : '_'));
      expect(mixed).toMatch(/[-_]/);
      expect(mixed).toMatch(/[+/]/);
      const other = createHmac('sha256', 'other-secret').update(body).digest('base64url');
      for (const header of [mixed, other, url.slice(0, 42)]) {
        const outcome = await receive(body, { 'x-hmac-signature-sha-256': header });
        expect(outcome, header).toMatchObject({ kind: 'rejected', reason: 'bad-signature' });
      }
    }
  });

  it('accepts a sha256= prefix in any case, and a repeated header when any one of its digests verifies', async () => {
    const body = eventBody();
    const good = signWebhookBody(body, SECRET);
    const base64 = createHmac('sha256', SECRET).update(body).digest('base64');
    const old = signWebhookBody(body, 'old-secret');
    const header = (value: string | string[]) => ({ 'x-hmac-signature-sha-256': value });
    for (const value of [
      `sha256=${good}`,
      `SHA256=${good.toUpperCase()}`,
      `Sha256=${base64}`,
      `${old}, ${good}`, // Node's join of two copies
      `${good},${old}`, // a Function URL's join
      `sha256=${old},sha256=${good}`,
      [old, good], // two copies given as a list
      [old, `${old},${old},${good}`], // four in all: the most accepted
    ])
      expect((await receive(body, header(value))).kind, String(value)).toBe('accepted');

    // Still refused: no entry verifying, more than four, an entry that is no digest (beside a
    // good one too), an empty entry, another algorithm's prefix or a prefix alone.
    for (const value of [
      `${old}, ${old}`,
      `sha256=${old}`,
      [old, old],
      `${old},${old},${old},${old},${good}`,
      `${good}, not-a-digest`,
      `${good},`,
      `,${good}`,
      `sha1=${good}`,
      `sha256 =${good}`,
      `sha256=sha256=${good}`,
      'sha256=',
    ])
      expect(await receive(body, header(value)), String(value)).toMatchObject({
        kind: 'rejected',
        reason: 'bad-signature',
      });
    expect(await receive(body, header([' ', '']))).toMatchObject({ kind: 'rejected', reason: 'unsigned' });
  });

  it.each<[string, () => { body: string | Uint8Array; headers: WebhookHeaders }, string, number]>([
    [
      'a wrong secret',
      () => ({ body: eventBody(), headers: signed(eventBody(), {}, 'other-secret') }),
      'bad-signature',
      401,
    ],
    [
      'an altered body',
      () => ({ body: eventBody('user-2'), headers: signed(eventBody('user-1')) }),
      'bad-signature',
      401,
    ],
    ['a missing signature header', () => ({ body: eventBody(), headers: { 'ce-id': 'x' } }), 'unsigned', 401],
    [
      'an empty signature header',
      () => ({ body: eventBody(), headers: { 'x-hmac-signature-sha-256': ' ' } }),
      'unsigned',
      401,
    ],
    [
      'a truncated digest',
      () => ({
        body: eventBody(),
        headers: { 'x-hmac-signature-sha-256': signWebhookBody(eventBody(), SECRET).slice(0, 62) },
      }),
      'bad-signature',
      401,
    ],
    [
      'a signature in another header',
      () => ({
        body: eventBody(),
        headers: { 'x-hmac-signature-sha-512': signWebhookBody(eventBody(), SECRET) },
      }),
      'unsigned',
      401,
    ],
    ['a signed body that is not JSON', () => ({ body: 'hello', headers: signed('hello') }), 'malformed', 400],
    [
      'a signed JSON body without user.identifier',
      () => {
        const body = JSON.stringify({ eventType: 'x', eventTime: 't', user: { _id: 'u' }, data: {} });
        return { body, headers: signed(body) };
      },
      'malformed',
      400,
    ],
    ...(
      [
        ['a control character', 'user\u0001one'],
        ['a line feed', 'user\none'],
        ['a carriage return', 'user-one\r'],
        ['only spaces', '   '],
        ['1,025 characters', 'u'.repeat(1025)],
      ] as const
    ).map(([what, identifier]): [string, () => { body: string; headers: WebhookHeaders }, string, number] => [
      `a signed event whose user identifier has ${what}`,
      () => {
        const body = eventBody(identifier);
        return { body, headers: signed(body) };
      },
      'bad-identifier',
      400,
    ]),
    [
      'a signed body that is not UTF-8',
      () => {
        const body = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]);
        return { body, headers: { 'x-hmac-signature-sha-256': signWebhookBody(body, SECRET) } };
      },
      'malformed',
      400,
    ],
    [
      'a correctly signed 1 MB body',
      () => {
        const body = eventBody('user-1', { padding: 'x'.repeat(1024 * 1024) });
        return { body, headers: signed(body) };
      },
      'too-large',
      413,
    ],
  ])('rejects %s and stores nothing', async (_name, make, reason, status) => {
    const { body, headers } = make();
    const outcome = await receive(body, headers);

    expect(outcome).toMatchObject({ kind: 'rejected', reason, status });
    expect(await files(root)).toEqual([]);
  });

  it('accepts the identifiers a users list accepts: a tab, spaces around, any Unicode, 1,024 characters', async () => {
    for (const identifier of ['user\tone', ' spaced ', 'Zoë 山田 🙂', 'u'.repeat(1024)]) {
      const body = eventBody(identifier);
      expect(await receive(body, signed(body))).toMatchObject({ kind: 'accepted', stored: 'created' });
    }
  });

  it('stores a signed event whose eventTime is relative, not text, or missing, body verbatim (receipt orders events, not their time)', async () => {
    const bodies = [{ eventTime: 'yesterday' }, { eventTime: 1764547190000 }, { eventTime: '' }, {}].map(
      (time) =>
        JSON.stringify({
          eventType: 'pay-link-accounts-updated',
          ...time,
          user: { _id: 'atomic-user-1', identifier: 'user-1' },
          data: {},
        }),
    );
    for (const body of bodies) {
      const outcome = await receive(body, signed(body));
      expect(outcome, body).toMatchObject({ kind: 'accepted', stored: 'created' });
      const stored = new TextDecoder().decode(await store.get((outcome as { key: string }).key));
      expect(stored).toContain(`"event":${body}}`);
    }
  });

  it('rejects a body one byte over the cap and accepts one at the cap', async () => {
    const base = eventBody('user-1', { padding: '' });
    const fill = (bytes: number) => eventBody('user-1', { padding: 'x'.repeat(bytes - enc(base).length) });
    const atCap = fill(WEBHOOK.maxBodyBytes);
    const over = fill(WEBHOOK.maxBodyBytes + 1);

    expect(await receive(over, signed(over))).toMatchObject({ kind: 'rejected', status: 413 });
    expect(await receive(atCap, signed(atCap))).toMatchObject({ kind: 'accepted' });
  });
});

describe('the one path', () => {
  it('lets a POST to / through, and refuses any other path with 404 and another method on / with 405', () => {
    expect(routeWebhook('POST', '/')).toBeUndefined();
    const decided = (
      [
        ['POST', '/webhooks'],
        ['POST', '//'],
        ['POST', '/%2F'],
        ['POST', ''],
        ['POST', undefined],
        ['GET', '/anything'],
        ['GET', '/'],
        ['HEAD', '/'],
        ['OPTIONS', '/'],
        ['post', '/'],
        [undefined, '/'],
      ] as const
    ).map(([method, path]) => {
      const outcome = routeWebhook(method, path);
      return [method, path, outcome?.status, outcome?.kind === 'rejected' ? outcome.reason : undefined];
    });
    expect(decided).toEqual([
      ['POST', '/webhooks', 404, 'not-found'],
      ['POST', '//', 404, 'not-found'],
      ['POST', '/%2F', 404, 'not-found'],
      ['POST', '', 404, 'not-found'],
      ['POST', undefined, 404, 'not-found'],
      ['GET', '/anything', 404, 'not-found'],
      ['GET', '/', 405, 'method-not-allowed'],
      ['HEAD', '/', 405, 'method-not-allowed'],
      ['OPTIONS', '/', 405, 'method-not-allowed'],
      ['post', '/', 405, 'method-not-allowed'],
      [undefined, '/', 405, 'method-not-allowed'],
    ]);
  });

  it('answers 404 and 405 with fixed bodies, the 405 naming the one method it allows', () => {
    expect(webhookResponse(routeWebhook('POST', '/x')!)).toEqual({ status: 404, body: 'not found' });
    expect(webhookResponse(routeWebhook('GET', '/')!)).toEqual({
      status: 405,
      body: 'method not allowed',
      headers: { allow: 'POST' },
    });
  });

  it("takes the local server's path from the request target, without its query, as sent", () => {
    expect(
      [
        '/',
        '/?from=atomic',
        '/#x',
        '/webhooks?x=/',
        'http://127.0.0.1:8788/',
        'http://127.0.0.1:8788',
        'http://h/a?b',
        '*',
      ].map(requestPath),
    ).toEqual(['/', '/', '/', '/webhooks', '/', '/', '/a', '*']);
    expect(requestPath(undefined)).toBeUndefined();
  });
});

describe('webhook answers and logs', () => {
  it('answers rejections with fixed bodies that say nothing about the check that failed beyond the status', () => {
    const answers = (['unsigned', 'bad-signature'] as const).map((reason) =>
      webhookResponse({ kind: 'rejected', status: 401, reason, bytes: 10 }),
    );
    expect(answers).toEqual([
      { status: 401, body: 'unauthorized' },
      { status: 401, body: 'unauthorized' },
    ]);
    expect(webhookResponse({ kind: 'rejected', status: 413, reason: 'too-large', bytes: 1 })).toEqual({
      status: 413,
      body: 'payload too large',
    });
  });

  it('never puts a payload value, a header value or the secret into a log line or an answer (property)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'webhook-prop-'));
    try {
      const store = createLocalStore(root);
      await fc.assert(
        fc.asyncProperty(
          fc.string({ minLength: 1, maxLength: 30 }),
          fc.string({ minLength: 1, maxLength: 30 }),
          fc.constantFrom('task-status-updated', 'pay-link-accounts-updated', 'custom-thing'),
          fc.boolean(),
          async (identifier, ceId, eventType, sign) => {
            // Markers make every planted value unmistakable in the output.
            const marker = `Zq${identifier}Zq`;
            const body = JSON.stringify({
              eventType,
              eventTime: '2026-01-01T00:00:00Z',
              user: { identifier: marker, _id: marker },
              data: { note: marker },
            });
            const headers = sign ? signed(body, { 'ce-id': `Zq${ceId}Zq` }) : { 'ce-id': `Zq${ceId}Zq` };
            const outcome = await receiveWebhook(
              { headers, body: enc(body) },
              { store, secret: SECRET, receivedAt: RECEIVED },
            );
            const printed = JSON.stringify([webhookLogFields(outcome), webhookResponse(outcome)]);
            expect(outcome.kind).toBe(sign ? 'accepted' : 'rejected');
            expect(printed).not.toContain(marker);
            expect(printed).not.toContain(`Zq${ceId}Zq`);
            expect(printed).not.toContain(SECRET);
            expect(printed).not.toContain('custom-thing');
          },
        ),
        { numRuns: 60 },
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('rejects any single-byte change to a signed body (property)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'webhook-flip-'));
    try {
      const store = createLocalStore(root);
      const body = enc(eventBody());
      const signature = signWebhookBody(body, SECRET);
      await fc.assert(
        fc.asyncProperty(
          fc.nat({ max: body.length - 1 }),
          fc.integer({ min: 1, max: 255 }),
          async (at, xor) => {
            const altered = body.slice();
            altered[at] = (altered[at] ?? 0) ^ xor;
            const outcome = await receiveWebhook(
              { headers: { 'X-HMAC-Signature-Sha-256': signature }, body: altered },
              { store, secret: SECRET, receivedAt: RECEIVED },
            );
            expect(outcome).toMatchObject({ kind: 'rejected', reason: 'bad-signature' });
          },
        ),
        { numRuns: 100 },
      );
      expect(await files(root)).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('taskOf', () => {
  const of = (eventType: string, json: string) =>
    taskOf(
      parseJsonBody(`{"eventType":"${eventType}","user":{"identifier":"u"},${json}}`) as Record<
        string,
        unknown
      >,
    );

  it('reads whole numbers spelled any way as their exact digits, and names what is not one', () => {
    const id = (literal: string) => of('task-status-updated', `"data":{"taskId":${literal}}`);
    expect(id('1e3').taskId).toBe('1000');
    expect(id('1.0').taskId).toBe('1');
    expect(id('1.50e1').taskId).toBe('15');
    expect(id('-5').taskId).toBe('-5');
    expect(id('0.0e5').taskId).toBe('0');
    expect(id('9007199254740993').taskId).toBe('9007199254740993');
    // Kept a number by the parser (JavaScript writes it back the same way), beyond 2^53.
    expect(id('1e+21').taskId).toBe(`1${'0'.repeat(21)}`);
    expect(id('1.5e+21').taskId).toBe(`15${'0'.repeat(20)}`);
    expect(id('1e-1')).toMatchObject({
      taskId: null,
      problem: 'data.taskId is a number that is not a whole number, not a task id',
    });
    expect(id('1e999999999')).toMatchObject({
      taskId: null,
      problem: 'data.taskId is a whole number of over 64 digits, not a task id',
    });
    expect(id('"\\t "')).toMatchObject({
      taskId: null,
      problem: 'data.taskId is blank text (only whitespace), not a task id',
    });
    expect(id('" t-1 "').taskId).toBe(' t-1 ');
  });

  it('flags a task event naming no task id, not another event type; a null field gives way to a later id', () => {
    expect(of('task-status-patched', '"data":{}').problem).toBe(
      'no task id (none of data.taskId, data.task, task)',
    );
    expect(of('task-status-updated', '"data":{"task":null}').problem).toBe('data.task is null: no task id');
    expect(of('pay-link-accounts-updated', '"data":{"taskId":null}')).toMatchObject({
      taskId: null,
      problem: null,
    });
    expect(of('task-status-updated', '"data":{"taskId":null},"task":{"_id":"t-1"}')).toMatchObject({
      taskId: 't-1',
      problem: null,
    });
  });

  it('reads status and fail reason where the id was found, each falling back to data', () => {
    expect(
      of(
        'task-status-updated',
        '"data":{"task":{"_id":"T","status":"failed","failReason":"bad-credentials"}}',
      ),
    ).toMatchObject({ taskId: 'T', status: 'failed', failReason: 'bad-credentials' });
    expect(
      of(
        'task-status-updated',
        '"data":{"status":"failed","failReason":"outer","task":{"_id":"T","failReason":"inner"}}',
      ),
    ).toMatchObject({ status: 'failed', failReason: 'inner' });
    expect(
      of('task-status-updated', '"data":{"taskId":"T","status":"failed","failReason":"x"}'),
    ).toMatchObject({
      status: 'failed',
      failReason: 'x',
    });
  });
});
