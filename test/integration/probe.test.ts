/**
 * `paylink-loader probe` against the simulator: every catalog resource's shape, and never a
 * value from the data (PayLink data is personal financial data).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonValue } from '#core/types.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { credentialsEnv, runCli } from '#test/helpers/lake-harness.ts';

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

  it('gives the same facts as JSON, and the --config snippet when a selector misses', async () => {
    const run = await runCli(['probe', '--user', user, '--base-url', bare.url, '--json'], ENV);
    expect(run.code, 'a resource a load would disable').toBe(4);
    const { resources } = JSON.parse(run.stdout) as {
      resources: { resource: string; outcome: string; selector: string | null; fix?: string }[];
    };
    const recent = resources.find((r) => r.resource === 'financial_transactions_most_recent')!;
    expect(recent.outcome).toBe('selector_miss');
    expect(recent.fix).toBe('{"resources": {"financial_transactions_most_recent": {"selectors": ["$"]}}}');
    expect(resources.find((r) => r.resource === 'orders')).toMatchObject({ outcome: 'ok', selector: '$' });
    expect(leaks(bare.served(user) as unknown as JsonValue, run.stdout)).toEqual([]);
  });
});
