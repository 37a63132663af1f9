/**
 * A run whose lease was taken over (it stalled past its expiry; another run of the load id took
 * it) stops at its next check and deletes nothing: the staging is the new holder's now.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '#adapters/open-store.ts';
import { LeaseLostError } from '#core/errors.ts';
import { leaseKey, leasePrefix, stagingPrefix } from '#core/layout.ts';
import type { ObjectStore } from '#core/ports.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { loadInProcess } from '#test/helpers/crash-points.ts';
import { Scratch } from '#test/helpers/lake-harness.ts';

const SEED = 'takeover';

describe('a run whose lease was taken over', () => {
  let sim: Simulator;
  let scratch: Scratch;
  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, apiKey: 'k', apiSecret: 's' });
    scratch = await Scratch.create('takeover');
  });
  afterAll(async () => {
    await sim?.close();
    await scratch?.dispose();
  });

  it('stops at its next check and leaves the new holder’s staging alone', async () => {
    const inner = openStore(scratch.path('lake'));
    let tookOver = false;
    // When the first batch's manifest is written, another run takes the load id over.
    const store: ObjectStore = {
      ...inner,
      async put(key, body) {
        await inner.put(key, body);
        if (!tookOver && key.endsWith('/manifest.json')) {
          tookOver = true;
          const [current] = await inner.list(leasePrefix('L'));
          const doc = JSON.parse(new TextDecoder().decode(await inner.get(current!)));
          await inner.put(
            leaseKey('L', doc.seq + 1),
            JSON.stringify({ ...doc, seq: doc.seq + 1, owner: { id: 'the-new-holder', kind: 'cli' } }),
          );
        }
      },
    };
    const run = loadInProcess({
      store,
      baseUrl: sim.url,
      apiKey: 'k',
      apiSecret: 's',
      loadId: 'L',
      users: generateIdentifiers(SEED, 4),
      resources: ['accounts'],
      batchSize: 2,
      now: () => new Date(),
      owner: 'the-old-holder',
      leaseTtlMs: 60_000,
    });
    await expect(run).rejects.toBeInstanceOf(LeaseLostError);
    await expect(run).rejects.toThrow(/taken over by cli the-new-holder/);
    // The staging (the plan, the first batch) is still there, and the new holder's lease too.
    const staged = await inner.list(stagingPrefix('L'));
    expect(staged).toContain('_staging/L/plan.json');
    expect(staged.some((k) => k.endsWith('/manifest.json'))).toBe(true);
    expect(await inner.list(leasePrefix('L'))).toHaveLength(2);
    expect(await inner.list('_dlt_loads/')).toEqual([]);
  });
});
