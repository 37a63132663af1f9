/**
 * `paylink-loader probe` against the simulator: every catalog resource's shape, and never a
 * value from the data (PayLink data is personal financial data).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonValue } from '#core/types.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { credentialsEnv, FAST_HTTP, runCli, Scratch } from '#test/helpers/lake-harness.ts';

const SEED = 'probe-seed';
const ENV = credentialsEnv('probe-key', 'probe-secret');

/** Every key of the served data: a value equal to a field name (`bills`) is not a leak when printed as a path. */
function keysOf(value: JsonValue, out: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const v of value) keysOf(v, out);
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) keysOf(v, out.add(k));
  return out;
}

/** Values of the data found in the text as whole tokens, leaving out field names and catalog path words. */
function leaks(data: JsonValue, text: string): string[] {
  const names = keysOf(data, new Set(['pay-link', 'user', 'task', 'details', 'tasks']));
  const literal = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return [...leafValues(data, new Set())]
    .filter((v) => !names.has(v))
    .filter((v) => new RegExp(`(^|[^A-Za-z0-9])${literal(v)}($|[^A-Za-z0-9])`).test(text));
}

/** Every leaf value of the served data that could be recognised in text (ids included). */
function leafValues(value: JsonValue, out: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const v of value) leafValues(v, out);
  else if (value !== null && typeof value === 'object')
    for (const v of Object.values(value)) leafValues(v, out);
  else if (typeof value === 'string' && value.length >= 4) out.add(value);
  else if (typeof value === 'number' && (!Number.isInteger(value) || Math.abs(value) >= 1000))
    out.add(String(value));
  return out;
}

describe('paylink-loader probe', () => {
  let sim: Simulator;
  let bare: Simulator;
  let user: string;
  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: 'probe-key', apiSecret: 'probe-secret' });
    bare = await startSimulator({
      seed: SEED,
      apiKey: 'probe-key',
      apiSecret: 'probe-secret',
      profile: 'bare',
    });
    // A user with accounts, tasks and a most recent transaction: every resource has something to show.
    user = generateIdentifiers(SEED, 50).find((id) => {
      const d = sim.served(id);
      return (
        d.accounts.length > 0 &&
        d.taskIds.length > 0 &&
        d.mostRecentFinancialTransaction !== null &&
        d.orders.length > 0
      );
    })!;
    expect(user).toBeDefined();
  });
  afterAll(async () => {
    await sim?.close();
    await bare?.close();
  });

  it('prints every resource’s shape and no value from the data', async () => {
    const run = await runCli(['probe', '--user', user, '--base-url', sim.url], ENV);
    expect(run.code, run.stderr).toBe(0);
    const served = sim.served(user);
    for (const table of [
      'accounts',
      'account',
      'action_history',
      'orders',
      'suggestions',
      'user_tasks',
      'tasks',
    ])
      expect(run.stdout).toMatch(new RegExp(`^${table} +200 `, 'm'));
    expect(run.stdout).toMatch(
      new RegExp(`^accounts +200 +${served.accounts.length} +accounts +accounts$`, 'm'),
    );
    expect(run.stdout).toMatch(/^tasks +200 +1 +data +data, data\._id/m);
    expect(run.stdout).toMatch(/^ {2}company\.name +text$/m);
    expect(run.stdout).toMatch(/^ {2}createdAt +timestamp$/m);

    expect(leafValues(served as unknown as JsonValue, new Set()).size).toBeGreaterThan(50);
    expect(leaks(served as unknown as JsonValue, run.stdout + run.stderr), 'values from the data').toEqual(
      [],
    );
    // Ids in particular (accounts, tasks): counts only.
    for (const id of [...served.accounts.map((a) => a._id), ...served.taskIds])
      expect(run.stdout).not.toContain(id);
    expect(run.stdout).not.toContain(user);
  });

  it('gives the same facts as JSON, a bare object read as the record', async () => {
    const run = await runCli(['probe', '--user', user, '--base-url', bare.url, '--json'], ENV);
    expect(run.code, 'bare arrays and bare objects are both readable').toBe(0);
    const { resources } = JSON.parse(run.stdout) as {
      resources: { resource: string; outcome: string; selector: string | null; fix?: string }[];
    };
    const recent = resources.find((r) => r.resource === 'financial_transactions_most_recent')!;
    expect(recent).toMatchObject({ outcome: 'ok', selector: '$' });
    expect(resources.find((r) => r.resource === 'orders')).toMatchObject({ outcome: 'ok', selector: '$' });
    expect(leaks(bare.served(user) as unknown as JsonValue, run.stdout)).toEqual([]);
  });

  it('says the user is unknown instead of blaming every endpoint', async () => {
    const unknown = await startSimulator({
      seed: SEED,
      apiKey: 'probe-key',
      apiSecret: 'probe-secret',
      faults: { failUsers: [user] },
    });
    try {
      const run = await runCli(['probe', '--user', user, '--base-url', unknown.url], ENV);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('Inconclusive: PayLink answered HTTP 404 at GET /pay-link/accounts too');
      expect(run.stderr).toContain('it does not seem to know this user');
      expect(run.stdout, 'no endpoint is blamed').not.toContain('fix:');
      expect(run.stdout).not.toContain('the endpoint looks missing');
      const json = await runCli(['probe', '--user', user, '--base-url', unknown.url, '--json'], ENV);
      expect(JSON.parse(json.stdout)).toMatchObject({ user: 'unknown' });
    } finally {
      await unknown.close();
    }
  });

  it('prints a map keyed by data as its shape, never its keys', async () => {
    const keyed = await startSimulator({
      seed: SEED,
      apiKey: 'probe-key',
      apiSecret: 'probe-secret',
      profile: 'keyed-maps',
    });
    try {
      for (const format of [[], ['--json']]) {
        const run = await runCli(
          ['probe', '--user', user, '--base-url', keyed.url, '--resources', 'accounts', ...format],
          ENV,
        );
        expect(run.code, run.stderr).toBe(0);
        const out = run.stdout + run.stderr;
        for (const account of keyed.served(user).accounts) {
          expect(out).not.toContain(account._id);
          const synced = (account as { lastSyncedAt?: string }).lastSyncedAt;
          if (synced) expect(out).not.toContain(synced.slice(0, 10));
        }
        if (format.length === 0) {
          expect(run.stdout).toMatch(/^ {2}statusByAccount +map$/m);
          expect(run.stdout).toMatch(/^ {2}statusByAccount\.<key> +text$/m);
          expect(run.stdout).toMatch(/^ {2}syncsByDay\.<key> +bigint$/m);
        }
      }
    } finally {
      await keyed.close();
    }
  });

  it('says an endpoint answered with a body that is not JSON (it did answer)', async () => {
    const garbled = await startSimulator({
      seed: SEED,
      apiKey: 'probe-key',
      apiSecret: 'probe-secret',
      faults: { malformedRate: 1, maxConsecutiveFaults: 100 },
    });
    const scratch = await Scratch.create('probe-garbled');
    try {
      const config = await scratch.json('fast.json', { http: { ...FAST_HTTP, attempts: 2 } });
      const run = await runCli(
        ['probe', '--user', user, '--base-url', garbled.url, '--resources', 'accounts', '--config', config],
        ENV,
      );
      expect(run.stdout).toMatch(/^accounts +2xx +- /m);
      // The simulator's garbled bodies: truncated JSON, an HTML page or nothing.
      expect(run.stdout).toMatch(
        /answered 2xx, but not with JSON \((body is not valid JSON|an HTML page, not JSON|empty body)\)/,
      );
      expect(run.stdout).not.toContain('no answer');
    } finally {
      await garbled.close();
      await scratch.dispose();
    }
  });
});
