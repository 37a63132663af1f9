import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from '#adapters/local-store.ts';
import { batchUsersKey } from '#core/layout.ts';
import type { BatchUser } from '#core/load-batch.ts';
import { planFromSource, planItemsKey, planLoad, readBatchUsers } from '#core/plan.ts';
import type { ObjectStore } from '#core/ports.ts';
import { readJson } from '#core/store-json.ts';
import { parseUsersList } from '#core/users.ts';
import { countListedUsers, readIdentifiers, type UsersSource } from '#core/users-stream.ts';

const LOAD_ID = '20260101T000000Z';
const STARTED = new Date('2026-01-01T00:00:00Z');
const encoder = new TextEncoder();

let dir: string;
let store: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'plan-stream-'));
  store = createLocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A users list that is never in memory whole: each pass generates its lines lazily, in byte
 * chunks that cut lines (and multi-byte characters) anywhere. Counts passes and lines read.
 */
function generatedSource(lines: number, options: { duplicateEvery?: number; chunkBytes?: number } = {}) {
  const stats = { opened: 0, linesRead: 0, passesFinished: 0 };
  const identifier = (i: number) =>
    options.duplicateEvery && i % options.duplicateEvery === 0 ? `user-é-${i - 1}` : `user-é-${i}`;
  const source: UsersSource = {
    description: `generated(${lines})`,
    async open() {
      stats.opened++;
      return (async function* () {
        let buffer = '';
        for (let i = 1; i <= lines; i++) {
          buffer += `${identifier(i)}\r\n`;
          stats.linesRead++;
          if (buffer.length >= (options.chunkBytes ?? 997)) {
            const bytes = encoder.encode(buffer);
            // Cut inside the bytes, so multi-byte characters straddle chunks.
            yield bytes.subarray(0, bytes.length - 3);
            yield bytes.subarray(bytes.length - 3);
            buffer = '';
          }
        }
        if (buffer) yield encoder.encode(buffer);
        stats.passesFinished++;
      })();
    },
  };
  return { source, stats };
}

async function stagedBatches(loadId: string, batches: number): Promise<BatchUser[][]> {
  const out: BatchUser[][] = [];
  for (let b = 0; b < batches; b++) out.push(await readBatchUsers(store, loadId, b));
  return out;
}

describe('streaming plan (planFromSource)', () => {
  it('holds about one shard of identifiers, however long the list, and loads each user once', async () => {
    const limits = { shardUsers: 2_000, writeConcurrency: 4 };
    const peaks: number[] = [];
    for (const lines of [8_000, 40_000]) {
      const { source, stats } = generatedSource(lines, { duplicateEvery: 10 });
      const listed = await countListedUsers(source, 'users');
      const plan = await planFromSource(
        {
          loadId: LOAD_ID,
          startedAt: STARTED,
          source,
          listedUsers: listed,
          batchSize: 300,
          resources: ['accounts'],
          limits,
        },
        store,
      );
      expect(listed).toBe(lines);
      // One pass per shard (plus the counting pass), each reading the list from the start.
      expect(plan.stats.passes).toBe(Math.ceil(lines / limits.shardUsers));
      expect(stats.opened).toBe(plan.stats.passes + 1);
      peaks.push(plan.stats.peakHeldUsers);

      const batches = await stagedBatches(LOAD_ID, plan.batches);
      const ids = batches.flat().map((u) => u.identifier);
      const distinct = lines - Math.floor(lines / 10);
      expect(plan.users).toBe(distinct);
      expect(ids).toHaveLength(distinct);
      expect(new Set(ids).size).toBe(distinct);
      expect(batches.every((b) => b.length <= 300)).toBe(true);
      expect(batches.slice(0, -1).every((b) => b.length === 300)).toBe(true);
    }
    // A shard is ~shardUsers identifiers (hash-split), plus the batch being cut: the peak for
    // 40k users is that of 8k users, not five times it.
    for (const peak of peaks) expect(peak).toBeLessThanOrEqual(limits.shardUsers * 1.25 + 300);
    expect(peaks[1]!).toBeLessThan(peaks[0]! * 1.5);
  });

  it('writes batch files while the list is still being read, never more than the limit at once', async () => {
    const { source, stats } = generatedSource(6_000);
    let inflight = 0;
    let peak = 0;
    let firstPutAtPass = -1;
    const slow: ObjectStore = {
      ...store,
      async put(key, body) {
        if (key.endsWith('users.json') && firstPutAtPass < 0) firstPutAtPass = stats.passesFinished;
        inflight++;
        peak = Math.max(peak, inflight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        try {
          await store.put(key, body);
        } finally {
          inflight--;
        }
      },
    };
    const listed = await countListedUsers(source, 'users');
    const passesBefore = stats.passesFinished;
    const plan = await planFromSource(
      {
        loadId: LOAD_ID,
        startedAt: STARTED,
        source,
        listedUsers: listed,
        batchSize: 100,
        resources: ['accounts'],
        limits: { shardUsers: 2_000, writeConcurrency: 3 },
      },
      slow,
    );
    expect(plan.batches).toBe(60);
    // The first batch file went out after the first shard's pass, with two passes still to come.
    expect(firstPutAtPass).toBe(passesBefore + 1);
    expect(stats.passesFinished).toBe(passesBefore + 3);
    expect(peak).toBe(3);
    expect(plan.stats.peakConcurrentWrites).toBe(3);
  });

  it('cuts the same batches whatever the line order, and the same as planLoad with one shard', async () => {
    const users = Array.from({ length: 1_000 }, (_, i) => `u${(i * 7919) % 1_000}`);
    const shuffled = [...users].reverse();
    const plans = [];
    for (const [i, list] of [users, shuffled].entries()) {
      const loadId = `2026010${i + 1}T000000Z`;
      const source: UsersSource = { description: 'list', open: async () => [list.join('\n')] };
      plans.push(
        await planFromSource(
          {
            loadId,
            startedAt: STARTED,
            source,
            listedUsers: list.length,
            batchSize: 64,
            resources: ['accounts'],
            limits: { shardUsers: 300, writeConcurrency: 2 },
          },
          store,
        ),
      );
    }
    const first = await stagedBatches(plans[0]!.loadId, plans[0]!.batches);
    expect(await stagedBatches(plans[1]!.loadId, plans[1]!.batches)).toEqual(first);

    const single = await planFromSource(
      {
        loadId: '20260103T000000Z',
        startedAt: STARTED,
        source: { description: 'list', open: async () => [users.join('\n')] },
        listedUsers: users.length,
        batchSize: 64,
        resources: ['accounts'],
      },
      store,
    );
    const inMemory = await planLoad(
      {
        loadId: '20260104T000000Z',
        startedAt: STARTED,
        users: users.map((identifier) => ({ identifier })),
        batchSize: 64,
        resources: ['accounts'],
      },
      store,
    );
    expect(single.batches).toBe(inMemory.batches);
    expect(await stagedBatches('20260103T000000Z', single.batches)).toEqual(
      await stagedBatches('20260104T000000Z', inMemory.batches),
    );
  });

  it('streams the Map item file: one {loadId, batch} per batch, and [] for an empty list', async () => {
    const { source } = generatedSource(250);
    const plan = await planFromSource(
      {
        loadId: LOAD_ID,
        startedAt: STARTED,
        source,
        listedUsers: 250,
        batchSize: 100,
        resources: ['accounts'],
      },
      store,
    );
    expect(await readJson(store, planItemsKey(LOAD_ID))).toEqual(
      [0, 1, 2].map((batch) => ({ loadId: LOAD_ID, batch })),
    );
    expect(plan.batches).toBe(3);

    const empty = await planFromSource(
      {
        loadId: '20260102T000000Z',
        startedAt: STARTED,
        source: { description: 'empty', open: async () => ['\n\n'] },
        listedUsers: 0,
        batchSize: 100,
        resources: ['accounts'],
      },
      store,
    );
    expect(empty).toMatchObject({ users: 0, batches: 0 });
    expect(await readJson(store, planItemsKey('20260102T000000Z'))).toEqual([]);
    expect(await store.get(batchUsersKey('20260102T000000Z', 0))).toBeUndefined();
  });

  it('refuses a bad line by its number and leaves no item file behind', async () => {
    const source: UsersSource = {
      description: 's3://b/users.txt',
      open: async () => ['ok\nfine\nbad\u0001id\n'],
    };
    await expect(
      planFromSource(
        {
          loadId: LOAD_ID,
          startedAt: STARTED,
          source,
          listedUsers: 3,
          batchSize: 1,
          resources: ['accounts'],
        },
        store,
      ),
    ).rejects.toThrowError('s3://b/users.txt: line 3: identifier contains a control character');
    expect(await store.get(planItemsKey(LOAD_ID))).toBeUndefined();
  });
});

describe('users list stream (readIdentifiers)', () => {
  it('reads any text, cut into any chunks, as parseUsersList reads it whole (duplicates aside)', async () => {
    const line = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 12 }),
      fc.constantFrom('', ' ', '\r', 'a\r', '\uFEFFx', 'é', '🦄'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 30 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }),
        async (lines, bom, cuts) => {
          const text = `${bom ? '\uFEFF' : ''}${lines.join('\n')}`;
          const bytes = encoder.encode(text);
          const chunks: Uint8Array[] = [];
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const size = cuts[i % cuts.length]!;
            chunks.push(bytes.subarray(at, at + size));
            at += size;
          }
          const source: UsersSource = { description: 'users', open: async () => chunks };
          let whole: string[] | Error;
          try {
            whole = parseUsersList(text, 'users');
          } catch (error) {
            whole = error as Error;
          }
          const streamed: string[] = [];
          try {
            for await (const id of readIdentifiers(source, 'users')) streamed.push(id);
          } catch (error) {
            expect(whole).toBeInstanceOf(Error);
            expect((error as Error).message).toBe((whole as Error).message);
            return;
          }
          expect(whole).not.toBeInstanceOf(Error);
          expect([...new Set(streamed)]).toEqual(whole);
        },
      ),
      { numRuns: 300 },
    );
  });
});
