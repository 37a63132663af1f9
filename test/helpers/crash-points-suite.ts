/**
 * Every crash point of a small load, on one kind of lake. The load (lease, plan, batches,
 * commit) is run once fault-free to count its store writes; then, for every N, a copy of the
 * lake before the load gets the same load dying at write N (crash-points.ts), and:
 *  1. readers (history and current state, DuckDB over the files) see exactly the committed
 *     loads: the lake before the load, or, once its `_dlt_loads` row exists, exactly the lake
 *     after a fault-free load;
 *  2. recovery, alternating between the two a data engineer would pick:
 *     - re-running the same load id (after the crashed run's lease expired) gives exactly the
 *       fault-free result, and `verify --fix` then leaves a clean lake;
 *     - giving the crashed load up (`verify --fix --discard-resumable`: `--fix` alone keeps a
 *       load a re-run can still commit), then a new load: readers see the committed loads and
 *       nothing of the crashed one, and `verify` finds nothing.
 * For S3 the same runs go through a proxy that decides `If-None-Match: *` as S3 does; and every
 * write request is also answered once with 503 SlowDown before it is applied and once with 500
 * InternalError after it was applied (the SDK retries both): the load must end exactly as a
 * fault-free one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '#adapters/open-store.ts';
import { lakeCheck } from '#cli/verify-command.ts';
import type { LoadMarker } from '#core/commit.ts';
import { loadMarkerKey } from '#core/layout.ts';
import { forEachConcurrent } from '#core/pool.ts';
import { readJson } from '#core/store-json.ts';
import { type RepairOptions, repairLake, verifyLake } from '#core/verify.ts';
import { type Simulator, startSimulator } from '#simulator/server.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import { counts, type LakeKind, type Seen, seen } from './commit-crash-suite.ts';
import { Crash, type CrashLoadArgs, crashingStore, loadInProcess, type StoreWrite } from './crash-points.ts';
import type { ProxyFault, S3FaultProxy } from './s3-fault-proxy.ts';

const API_KEY = 'points-key';
const API_SECRET = 'points-secret';
const SEED = 'points';
/** Small on purpose: every write of the load is a crash point. Two batches, child tables, user_loads. */
const USERS = generateIdentifiers(SEED, 3);
const RESOURCES = ['accounts'];
const BATCH_SIZE = 2;
const LEASE_TTL_MS = 60_000;
/** A recovery runs after the crashed run's lease expired. */
const later = () => new Date(Date.now() + LEASE_TTL_MS + 1_000);

/** An S3 lake's extras: the fault proxy, and buckets for runs that go side by side. */
interface FaultLakes {
  proxy(): S3FaultProxy;
  readonly lanes: readonly string[];
  destIn(bucket: string, label: string): string;
}

export function describeCrashPoints(kindFor: (root: () => string) => LakeKind & Partial<FaultLakes>): void {
  let scratch: string;
  const kind = kindFor(() => scratch);

  describe(`a load dying at each of its store writes (${kind.name})`, () => {
    let before: Simulator;
    let after: Simulator;
    let base: string;
    /** A copy of the lake before the load (base is never written after set-up). */
    let copyBase: (to: string) => Promise<void>;
    let baseSeen: Seen;
    let referenceSeen: Seen;
    let writes: StoreWrite[];
    let referenceChanges: unknown;
    /** The schema changes the load's report lists: a retried conditional write must not lose them. */
    const schemaChanges = async (dest: string) =>
      (await readJson<LoadMarker>(openStore(dest), loadMarkerKey('load-2')))?.schemaChanges;
    let lakes = 0;
    const args = (sim: Simulator, dest: string, loadId: string, extra: Partial<CrashLoadArgs> = {}) => ({
      store: openStore(dest),
      baseUrl: sim.url,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      loadId,
      users: USERS,
      resources: RESOURCES,
      batchSize: BATCH_SIZE,
      now: () => new Date(),
      owner: `run-${loadId}`,
      leaseTtlMs: LEASE_TTL_MS,
      ...extra,
    });
    const fresh = async (label: string, dest = kind.dest(`${label}-${++lakes}`)) => {
      await copyBase(dest);
      return dest;
    };
    /** What `verify` runs with, at a time the crashed run's lease has expired; every temp file counts. */
    const check = (dest: string) => lakeCheck(dest, { cwd: scratch, now: later }, { tempGraceMs: 0 });
    /** As `verify --fix` runs: a repair and a second look only when something is fixable. */
    const fixAndVerify = async (dest: string, options: RepairOptions = {}) => {
      const { deps, repairDeps } = check(dest);
      const found = await verifyLake(deps);
      if (!found.findings.some((f) => f.fixable)) return found;
      await repairLake(repairDeps, found, options);
      return verifyLake(deps);
    };

    beforeAll(async () => {
      scratch = await mkdtemp(join(tmpdir(), 'paylink-points-'));
      await kind.setup();
      const options = { seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET };
      before = await startSimulator({ ...options, generation: 0 });
      after = await startSimulator({ ...options, generation: 1 });
      base = kind.dest('base');
      await loadInProcess(args(before, base, 'load-1'));
      baseSeen = await seen(await kind.readable(base));
      copyBase = await kind.copier(base);
      const reference = kind.dest('reference');
      await kind.copy(base, reference);
      writes = [];
      await loadInProcess({
        ...args(after, reference, 'load-2'),
        store: crashingStore(openStore(reference), 0, (w) => writes.push(w)),
      });
      referenceSeen = await seen(await kind.readable(reference));
      referenceChanges = await schemaChanges(reference);
    }, 120_000);

    afterAll(async () => {
      await before?.close();
      await after?.close();
      await kind.teardown();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });

    it('has two different committed states to tell apart, and writes to crash at', () => {
      expect(baseSeen.loads).toEqual(['load-1']);
      expect(referenceSeen.loads).toEqual(['load-1', 'load-2']);
      expect(counts(referenceSeen.current)).not.toEqual(counts(baseSeen.history));
      // Lease, plan, batch users, staged parts, manifests, schema, intent, moves, report, commit point.
      const kinds = new Set(writes.map((w) => w.kind));
      expect([...kinds].sort()).toEqual(['close', 'delete', 'move', 'openWrite', 'put', 'putIfAbsent']);
    });

    it('shows readers only committed loads at every crash point; a re-run, or giving the load up with verify --fix --discard-resumable and a new load, leaves no trace', async () => {
      let checked = 0;
      const points = Array.from({ length: writes.length }, (_, i) => i + 1);
      // Each point has its own lake; most of a point's time is waiting on I/O (s3rver most of all).
      await forEachConcurrent(points, kind.proxy === undefined ? 2 : 4, async (point) => {
        const at = `after a crash at write ${point} of ${writes.length} (${writes[point - 1]!.kind} ${writes[point - 1]!.key})`;
        const dest = await fresh(`crash-${point}`);
        // The commit reports a crash after publishing as CommitIncompleteError, with the crash as its cause.
        const died = await loadInProcess({
          ...args(after, dest, 'load-2'),
          store: crashingStore(openStore(dest), point),
        }).then(
          () => undefined,
          (error: unknown) => error,
        );
        const committed = await kind.hasKey(dest, '_dlt_loads/load-2.parquet');
        // After the commit point the load's outcome is decided: the clean-up that died is not an error.
        if (!committed || died !== undefined) {
          const crashed = died instanceof Crash || (died as Error | undefined)?.cause instanceof Crash;
          expect(crashed, `${at}: ${died}`).toBe(true);
        }
        const now = await seen(await kind.readable(dest));
        expect(now, `what readers see ${at}`).toEqual(committed ? referenceSeen : baseSeen);

        if (point % 2 === 0) {
          await loadInProcess(args(after, dest, 'load-2', { now: later, owner: 'recovery' }));
          expect(await seen(await kind.readable(dest)), `a re-run ${at}`).toEqual(referenceSeen);
          expect((await fixAndVerify(dest)).findings, `verify after a re-run ${at}`).toEqual([]);
        } else {
          // Whatever --fix alone keeps is a load a re-run can still commit, and only that.
          const kept = (await fixAndVerify(dest)).findings;
          expect(
            kept.filter((f) => !f.resumable),
            `verify --fix ${at}`,
          ).toEqual([]);
          expect(
            (await fixAndVerify(dest, { discardResumable: true })).findings,
            `verify --fix --discard-resumable ${at}`,
          ).toEqual([]);
          await loadInProcess(args(after, dest, 'load-3', { now: later }));
          const next = await seen(await kind.readable(dest));
          expect(next.loads, at).toEqual(committed ? ['load-1', 'load-2', 'load-3'] : ['load-1', 'load-3']);
          expect(counts(next.current), `current state after a new load ${at}`).toEqual(
            counts(referenceSeen.current),
          );
          if (!committed) expect(counts(next.history), at).toEqual(counts(referenceSeen.history));
          expect((await verifyLake(check(dest).deps)).findings, `verify after a new load ${at}`).toEqual([]);
        }
        checked++;
      });
      expect(checked).toBe(writes.length);
      console.info(
        `${kind.name}: ${checked} crash points checked (every store write of the load and its commit)`,
      );
    }, 600_000);

    const { proxy: proxyOf, lanes, destIn } = kind;
    if (proxyOf !== undefined && lanes !== undefined && destIn !== undefined) {
      it('ends exactly as a fault-free load when any write request fails once, before or after S3 applied it', async () => {
        const proxy = proxyOf();
        // The write requests of one fault-free load, in order (in a bucket of its own, so no other
        // run's request is counted).
        const ownBucket = (bucket: string) => (r: { key: string }) => r.key.split('/')[0] === bucket;
        const probe = await fresh('probe', destIn(lanes[0]!, 'probe'));
        const start = proxy.requests.length;
        await loadInProcess(args(after, probe, 'load-2'));
        const requests = proxy.requests.slice(start).filter((r) => r.mutating && ownBucket(lanes[0]!)(r));
        expect(await seen(await kind.readable(probe))).toEqual(referenceSeen);
        let checked = 0;
        // One run per write request; the runs go side by side, each lane in a bucket of its own,
        // so each fault is matched to its own run's requests (most of a run is waiting on s3rver).
        const failOnce = async (i: number, bucket: string) => {
          const when = i % 2 === 0 ? 'before' : 'after';
          const dest = await fresh('fault', destIn(bucket, `fault-${i}`));
          const target = requests[i]!;
          // The i-th write request of this run: the lane's bucket runs nothing else meanwhile.
          let seenWrites = 0;
          const from = proxy.requests.length;
          const fault: ProxyFault = {
            when,
            status: when === 'before' ? 503 : 500,
            remaining: 1,
            match: (r) => r.mutating && ownBucket(bucket)(r) && r.n > from && ++seenWrites === i + 1,
          };
          proxy.faults.push(fault);
          try {
            await loadInProcess(args(after, dest, 'load-2'));
          } finally {
            proxy.faults.splice(proxy.faults.indexOf(fault), 1);
          }
          expect(fault.remaining, `the fault at ${target.operation} ${target.key} was answered`).toBe(0);
          // Readers see exactly the fault-free result (no duplicate, no loss, the load committed).
          expect(
            await seen(await kind.readable(dest)),
            `a ${when === 'before' ? '503 before' : '500 after'} applying ${target.operation} ${target.key}`,
          ).toEqual(referenceSeen);
          expect(
            await schemaChanges(dest),
            `schema changes reported after a fault at ${target.operation}`,
          ).toEqual(referenceChanges);
          checked++;
        };
        await Promise.all(
          lanes.map(async (bucket, lane) => {
            for (let i = lane; i < requests.length; i += lanes.length) await failOnce(i, bucket);
          }),
        );
        expect(checked).toBe(requests.length);
        console.info(`${kind.name}: ${checked} write requests failed once (503 before / 500 after applying)`);
      }, 600_000);
    }
  });
}
