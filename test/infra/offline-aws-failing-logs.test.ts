/**
 * What failing loads write to their logs, offline under AWS rules (test/helpers/offline-aws.ts:
 * the shipped bundles, the synthesized state machine, loopback fakes). Failing loads are where
 * error messages carry data: a body that is not JSON, an error body echoing the user, a body
 * keyed by identifiers, a damaged lake file holding identifiers. None of it may reach a log line
 * or a metric dimension (docs/operations.md, "Logs"):
 * - a load with failed users (404s, a refused token, 401s, 500s, bodies that are not JSON,
 *   bodies keyed by the user's identifier and values), which commits;
 * - a batch that fails (every body not JSON, quoting the user): batch_failed;
 * - a commit that fails (a staged manifest replaced by text quoting a user): commit_failed;
 * - a plan that fails (a users-registry shard replaced by the same): plan_failed;
 * - an hourly `changed` load whose stored webhook event is not JSON (identifier and Atomic user id).
 * The forbidden values are drawn from the simulator's world for the users involved (every
 * distinctive string PayLink would serve them), their identifiers and Atomic ids, every string
 * the proxy passed on or made up (public tokens included), and the API key and secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Store } from '#adapters/s3-store.ts';
import { receiveWebhook, signWebhookBody } from '#core/webhook.ts';
import { userData } from '#simulator/world.ts';
import { type GatewayFault, withFault } from '#test/helpers/aws-gateway.ts';
import { FAST_HTTP } from '#test/helpers/lake-harness.ts';
import { type LeakProxy, startLeakProxy } from '#test/helpers/leak-proxy.ts';
import { emfRecords, jsonLines } from '#test/helpers/log-lines.ts';
import type { ExecutionOutcome } from '#test/helpers/offline-aws.ts';
import {
  explainOutcome,
  OFFLINE_BUCKET,
  type OfflineWorld,
  rowsOfLoad,
  startOfflineWorld,
} from '#test/helpers/offline-deployment.ts';
import { exampleConfig } from './app-fixture.ts';

const SEED = 'failing-logs';
const CREDENTIALS = { apiKey: 'leak-key-K3y9Zt', apiSecret: 'leak-secret-S3c7Qx' };
/**
 * Identifiers as integrators have them: the simulator's style, names with spaces and accents,
 * and two that look like field names (`alice_smith`), which no key filter can tell from one.
 */
const USERS = [
  'user-104233',
  'user-104234',
  'alice_smith',
  'Zoë Ångström 71',
  'bobjones7',
  'user-104237',
  'user-104238',
  'cust_88219',
];
const [NOT_FOUND, TOKEN_REFUSED, KEYED_BY_ID, ERROR_BODY, NOT_JSON, UNAUTHORIZED] = USERS as [
  string,
  string,
  string,
  string,
  string,
  string,
];
/** PayLink's own id of each user, as its webhook events carry it. */
const atomicId = (identifier: string) => `atomic-uid-${Buffer.from(identifier).toString('hex').slice(0, 12)}`;
const CARD = '4111111111111111';

const CONFIG = exampleConfig({
  schedules: [
    {
      name: 'daily',
      expression: 'cron(0 3 * * ? *)',
      timezone: 'UTC',
      expectedPeriodHours: 24,
      users: 'all',
    },
    { name: 'hourly', expression: 'rate(1 hour)', users: 'changed' },
  ],
  batchSize: USERS.length,
  requestRate: 2000,
  userConcurrency: 4,
  loaderConfig: { http: FAST_HTTP },
});

const NOW_MINUTE = Math.floor(Date.now() / 60_000) * 60_000;
const SLOT = (n: number) => new Date(NOW_MINUTE - 3 * 3_600_000 + n * 600_000).toISOString();

let world: OfflineWorld;
let proxy: LeakProxy;
const runs: Record<string, ExecutionOutcome> = {};

/** One user's data as PayLink would serve it: the first string of a few kinds, for planted text. */
function sampleValues(identifier: string): { email: string; company: string; amount: string } {
  const data = userData(SEED, identifier);
  const json = JSON.stringify(data);
  const email = /"email":"([^"]+)"/.exec(json)?.[1] ?? 'someone@example.com';
  const company = /"name":"([^"]+)"/.exec(json)?.[1] ?? 'Some Company';
  const amount = /"amount":(\d+\.\d+)/.exec(json)?.[1] ?? '208.05';
  return { email, company, amount };
}

/** Text that quotes a user and their data: what a damaged file or a bad body may hold. */
function quotingText(identifier: string): string {
  const v = sampleValues(identifier);
  return `${identifier} ${atomicId(identifier)} ${v.email} ${v.company} ${v.amount} ${CARD}`;
}

/**
 * Every value a log line must not hold, drawn from what PayLink serves the users: distinctive
 * strings (ids, names, e-mails, addresses, descriptions; not enum words or dates, which logs
 * have for their own reasons) and decimal amounts (looked for in string fields only: a log's
 * own numbers, seconds and bytes, are not amounts).
 */
function forbiddenValues(): { strings: string[]; amounts: string[] } {
  const strings = new Set<string>([CREDENTIALS.apiKey, CREDENTIALS.apiSecret, CARD]);
  const amounts = new Set<string>();
  const walk = (value: unknown): void => {
    if (typeof value === 'string') {
      if (distinctive(value)) strings.add(value);
    } else if (typeof value === 'number') {
      if (!Number.isInteger(value) && String(value).length >= 5) amounts.add(String(value));
    } else if (Array.isArray(value)) value.forEach(walk);
    // Keys are field names, or ids that are values elsewhere too (tasks by task id).
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(walk);
  };
  for (const identifier of USERS) {
    strings.add(identifier);
    strings.add(atomicId(identifier));
    walk(userData(SEED, identifier));
  }
  for (const value of proxy.seenValues) if (distinctive(value)) strings.add(value);
  return { strings: [...strings], amounts: [...amounts] };
}

/** A string that could only be in a log because it was copied from the data. */
function distinctive(value: string): boolean {
  if (value.length < 5) return false;
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) return false;
  // Enum words (`completed`, `cancel-plan`, `recurring-transaction`) and field names.
  if (/^[a-z][a-zA-Z_-]*$/.test(value)) return false;
  return /[\d@ ./A-Z]|[^\x00-\x7f]/.test(value);
}

/**
 * Every log line of a run, its failure (error and cause: what Lambda's runtime logs for a
 * thrown error and Step Functions shows), its output and its execution history.
 */
function everything(run: ExecutionOutcome): string {
  return [
    ...run.invocations.map((i) => i.logs),
    run.error ?? '',
    run.cause ?? '',
    JSON.stringify(run.output ?? null),
    JSON.stringify(run.events),
  ].join('\n');
}

/** Characters of a value that, found together in a log, are a quote of it (a parser quotes ten). */
const QUOTE_CHARS = 8;

/**
 * The values of `text` a log must not hold: strings anywhere, whole or quoted in part (any
 * QUOTE_CHARS characters of one that are not plain lower-case words), amounts within strings.
 */
function leaksIn(text: string, forbidden: { strings: string[]; amounts: string[] }): string[] {
  const found = forbidden.strings.filter((s) => text.includes(s));
  for (const value of forbidden.strings) {
    if (found.includes(value)) continue;
    for (let at = 0; at + QUOTE_CHARS <= value.length; at++) {
      const part = value.slice(at, at + QUOTE_CHARS);
      if (/^[a-z ,.-]*$/.test(part)) continue;
      if (text.includes(part)) {
        found.push(`${value} (quoted: ${part})`);
        break;
      }
    }
  }
  const strings: string[] = [];
  const collect = (value: unknown): void => {
    if (typeof value === 'string') strings.push(value);
    else if (Array.isArray(value)) value.forEach(collect);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(collect);
  };
  for (const line of jsonLines(text)) collect(line);
  collect(text.split('\n').filter((l) => !l.startsWith('{')));
  const joined = strings.join('\n');
  for (const amount of forbidden.amounts)
    if (new RegExp(`(?<![\\d.])${amount.replace('.', '\\.')}(?!\\d)`).test(joined)) found.push(amount);
  return found;
}

async function putEvent(identifier: string, at: Date): Promise<void> {
  const lake = createS3Store({ bucket: OFFLINE_BUCKET, prefix: world.prefix });
  const body = JSON.stringify({
    eventType: 'pay-link-accounts-updated',
    eventTime: at.toISOString(),
    user: { _id: atomicId(identifier), identifier },
    data: {},
  });
  const stored = await receiveWebhook(
    {
      headers: { 'X-HMAC-Signature-Sha-256': signWebhookBody(body, CREDENTIALS.apiSecret) },
      body: new TextEncoder().encode(body),
    },
    { store: lake, secret: CREDENTIALS.apiSecret, receivedAt: at },
  );
  if (stored.kind !== 'accepted') throw new Error(`webhook not stored: ${JSON.stringify(stored)}`);
}

beforeAll(async () => {
  world = await startOfflineWorld({
    config: CONFIG,
    simulator: {
      seed: SEED,
      // A public token serves a few calls, then 401 40104 (re-minted).
      tokenMaxUses: 4,
      faults: {
        failUsers: [NOT_FOUND],
        rejectTokenUsers: [TOKEN_REFUSED],
        status5xxRate: 0.05,
        malformedRate: 0.05,
      },
    },
    credentials: CREDENTIALS,
  });
  proxy = await startLeakProxy(world.sim.url);
  world.aws.functions.get('loadBatch')!.environment.PAYLINK_BASE_URL = proxy.url;
  await world.bucket.put(world.usersKey, `${USERS.join('\n')}\n`);

  // 1. Users that fail in every way PayLink can answer badly, each answer quoting the user.
  proxy.rules.push(({ identifier, path }) => {
    if (identifier === undefined) return undefined;
    const v = sampleValues(identifier);
    // Every user's orders keyed by identifiers and values: a selector miss (the endpoint is
    // found unusable after a few users).
    if (path === '/pay-link/orders')
      return { status: 200, body: { [identifier]: { total: v.amount }, [CARD]: 1, [v.company]: v.email } };
    if (identifier === KEYED_BY_ID && path === '/pay-link/suggestions')
      return { status: 200, body: { [identifier]: { email: v.email }, [atomicId(identifier)]: 2 } };
    if (identifier === ERROR_BODY && path === '/pay-link/recurring-financial-transactions')
      return { status: 500, body: { message: `no data for ${quotingText(identifier)}`, code: 50000 } };
    if (identifier === NOT_JSON && path === '/pay-link/financial-transactions/most-recent')
      return { status: 200, body: `{"user": "${identifier}", "email": ${v.email}` };
    if (identifier === UNAUTHORIZED && path === '/pay-link/accounts')
      return { status: 401, body: { message: `token of ${quotingText(identifier)} refused`, code: 40100 } };
    return undefined;
  });
  runs.failedUsers = await world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOT(1) });
  if (runs.failedUsers.status !== 'SUCCEEDED') throw new Error(explainOutcome(world, runs.failedUsers));

  // 2. Every body quoting the user, not JSON, the access token's too (so no user fails for a
  //    reason of PayLink's, such as a refused token, which would say the load can work): the
  //    batch stops (systemic), batch_failed.
  proxy.rules.unshift(({ identifier }) =>
    identifier !== undefined
      ? { status: 200, body: `${quotingText(identifier)} is not available` }
      : undefined,
  );
  runs.batchFailed = await world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOT(2) });
  proxy.rules.shift();

  // 3. The staged batch manifest replaced, as the commit reads it, by text quoting a user:
  //    commit_failed. (The first read fails with a 500 while the text is put in place; the
  //    SDK's retry reads the text.)
  let planted = false;
  const corrupt: GatewayFault = {
    match: ({ action, resource }) => {
      if (action !== 's3:GetObject' || !/\/batches\/[^/]+\/manifest\.json$/.test(resource) || planted)
        return false;
      planted = true;
      const key = resource.slice(resource.indexOf(':::') + 3 + OFFLINE_BUCKET.length + 1);
      void world.bucket.put(key, `${quotingText(KEYED_BY_ID)}\n`);
      return true;
    },
    status: 500,
    code: 'InternalError',
  };
  runs.commitFailed = await withFault(world.gateway, corrupt, () =>
    world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOT(3) }),
  );

  // 4. A users-registry shard replaced by text quoting a user: plan_failed (or wherever it is read).
  const shards = (await world.bucket.list(`${world.prefix}/_state/users/`)).filter((k) =>
    k.endsWith('.json'),
  );
  const shard = shards[0] ?? `${world.prefix}/_state/users/00.json`;
  const original = await world.bucket.get(shard);
  await world.bucket.put(shard, `${quotingText(ERROR_BODY)}\n`);
  runs.planFailed = await world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOT(4) });
  if (original === undefined) await world.bucket.delete([shard]);
  else await world.bucket.put(shard, original);

  // 5. An hourly changed load: two users' events, and one stored event that is not JSON.
  const at = new Date(NOW_MINUTE - 5 * 60_000);
  await putEvent(KEYED_BY_ID, at);
  await putEvent(NOT_JSON, at);
  const events = (await world.bucket.list(`${world.prefix}/_events/`)).filter((k) => k.endsWith('.json'));
  const damaged = events.find((k) => !k.includes('pending'))!;
  await world.bucket.put(damaged, `${quotingText(NOT_JSON)}\n`);
  runs.changed = await world.aws.execute('hourly', {
    schedule: 'hourly',
    scheduledTime: new Date(NOW_MINUTE).toISOString(),
    users: 'changed',
  });
}, 420_000);

afterAll(async () => {
  await proxy?.close();
  await world?.close();
});

describe('failing loads', () => {
  it('fail as each case means to (users, batch, commit, plan), so their error paths ran', () => {
    const line = (run: ExecutionOutcome, message: string) =>
      run.invocations.flatMap((i) => jsonLines(i.logs)).find((l) => l.message === message);
    expect(line(runs.failedUsers!, 'committed')?.failedUsers).toBeGreaterThanOrEqual(5);
    expect(line(runs.failedUsers!, 'batch_loaded')?.endpointFindings).toEqual(['orders']);
    expect(runs.batchFailed!.status).toBe('FAILED');
    expect(line(runs.batchFailed!, 'batch_failed')).toBeDefined();
    expect(runs.commitFailed!.status, explainOutcome(world, runs.commitFailed!)).toBe('FAILED');
    expect(line(runs.commitFailed!, 'commit_failed')).toBeDefined();
    expect(runs.planFailed!.status).toBe('FAILED');
    expect(
      ['plan_failed', 'batch_failed', 'commit_failed'].some((m) => line(runs.planFailed!, m) !== undefined),
    ).toBe(true);
    expect(runs.changed!.invocations.length).toBeGreaterThan(0);
  });

  for (const name of ['failedUsers', 'batchFailed', 'commitFailed', 'planFailed', 'changed']) {
    it(`${name}: no identifier, Atomic id, payload value, token or secret in any log line or failure cause`, () => {
      const run = runs[name]!;
      const text = everything(run);
      expect(text.length).toBeGreaterThan(500);
      expect(leaksIn(text, forbiddenValues())).toEqual([]);
    });
  }

  it("names keys of a body keyed by identifiers and values by count in the users' errors and the finding", async () => {
    const loadId = String(runs.failedUsers!.output.loadId);
    const rows = await rowsOfLoad(world, 'user_loads', loadId);
    const messages = rows.flatMap((r) => (typeof r.error_message === 'string' ? [r.error_message] : []));
    // alice_smith's suggestions: keyed by her identifier and her Atomic id.
    const miss = rows.find((r) => r.resource === 'suggestions' && r.error_code === 'selector_not_found');
    expect(String(miss?.error_message)).toMatch(/top-level keys seen: 2 not shown/);
    // Lake data may say whose row it is (the user column), never in the words of an error.
    expect(leaksIn(messages.join('\n'), forbiddenValues())).toEqual([]);
    const report = JSON.parse(
      new TextDecoder().decode(await world.bucket.get(`${world.prefix}/_loads/${loadId}.json`)),
    ) as { endpointFindings: { resource: string; message: string }[] };
    const orders = report.endpointFindings.find((f) => f.resource === 'orders')!;
    expect(orders.message).toMatch(/top-level keys: 3 not shown/);
    expect(leaksIn(orders.message, forbiddenValues())).toEqual([]);
  });

  it('no identifier or value in any metric dimension', () => {
    const forbidden = forbiddenValues();
    for (const run of Object.values(runs))
      for (const record of run.invocations.flatMap((i) => emfRecords(i.logs)))
        for (const value of Object.values(record.dimensions))
          expect(forbidden.strings.filter((s) => value.includes(s))).toEqual([]);
  });

  it('the check finds a value planted in a line (it is not vacuous)', () => {
    const forbidden = forbiddenValues();
    const v = sampleValues(NOT_JSON);
    const planted = [
      JSON.stringify({ level: 'ERROR', message: 'batch_failed', error: { message: `got ${v.email}` } }),
      JSON.stringify({ level: 'ERROR', message: `x ${v.amount} y` }),
      JSON.stringify({ level: 'WARN', message: 'ok', user: 'bobjones7' }),
      // A parser's quote of a file's first characters.
      JSON.stringify({
        level: 'ERROR',
        error: { message: `Unexpected token, "${KEYED_BY_ID.slice(0, 10)}"...` },
      }),
    ];
    for (const line of planted)
      expect(leaksIn(`${everything(runs.failedUsers!)}\n${line}`, forbidden)).not.toEqual([]);
    // A number field of the same digits is a log's own (seconds, bytes), not a quoted amount.
    expect(forbidden.amounts.length).toBeGreaterThan(3);
    expect(forbidden.strings.length).toBeGreaterThan(100);
  });
});
