/**
 * Crash points of a small load, on one kind of lake. The load (lease, plan, batches, commit) is
 * run once fault-free to list its store writes; then a copy of the lake before the load gets the
 * same load dying at a write (crash-points.ts), and:
 *  1. readers (history and current state, DuckDB over the files) see exactly the committed
 *     loads: the lake before the load, or, once its `_dlt_loads` row exists, exactly the lake
 *     after a fault-free load;
 *  2. recovery, alternating between the two a data engineer would pick:
 *     - re-running the same load id (after the crashed run's lease expired) gives exactly the
 *       fault-free result, and `verify --fix` then leaves a clean lake;
 *     - giving the crashed load up (`verify --fix --discard-resumable`: `--fix` alone keeps a
 *       load a re-run can still commit), then a new load: readers see the committed loads and
 *       nothing of the crashed one, and `verify` finds nothing.
 *
 * What readers see is read through DuckDB once per distinct set of the objects readers open
 * (all but staging and leases, by content): a lake holding the very files of a lake read before
 * reads the same, since readers read nothing else. Every run's clock stands still, so lakes that
 * end alike are alike to the byte: a crash while staging leaves the files of the lake before the
 * load, re-runs that took over the same staged work leave the same files (a recovery runs later
 * than the reference, so not the reference's own). After a crash the lake is read through DuckDB
 * all the same at the first point of each class of write (write-classes.ts).
 *
 * Which writes are crash points (`points`):
 *  - `every`: each write of the load, by its number (the local folder: the load's own logic at
 *    every point).
 *  - `each-class`: the crash happens at the store port (crashingStore), so the load's logic at
 *    every point is proven by the local-folder run already; what another store adds is its
 *    adapter's semantics under each kind of write. So the points are the writes of each class
 *    (write-classes.ts: the store call, the key with table, batch and part numbers as
 *    placeholders, and the phase: staging, publishing, committed), the first and the last of
 *    each consecutive run of one class (the partly-done states: first and last of the 9 moves,
 *    of a batch's part openWrites). Derived from the reference load's own writes, never a list
 *    of numbers: a new kind of write is a new class and so a new point, and the test asserts
 *    that the runs died at a write of every class the reference has. A point is the n-th write
 *    of its class, not the n-th write: merges run side by side, so their writes come in another
 *    order from one run to the next, where a write number would land on another kind of write.
 *
 * For S3 (describeWriteRequestFaults) the runs go through a proxy that decides
 * `If-None-Match: *` as S3 does; and write requests are answered once with 503 SlowDown before
 * they are applied or with 500 InternalError after they were applied (the SDK retries both): the
 * load must end exactly as a fault-free one. The requests taken are, as above, the first and
 * last of each consecutive run of one class (the S3 operation and the key's shape); the ones of
 * a class get the 503 before and the 500 after in turn, and a class with one request taken gets
 * both, so every class of request sees both faults (the test asserts it).
 */
import { createHash } from 'node:crypto';
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
import {
  Crash,
  type CrashAt,
  type CrashLoadArgs,
  crashingStore,
  loadInProcess,
  type StoreWrite,
} from './crash-points.ts';
import type { ProxiedRequest, ProxyFault, S3FaultProxy } from './s3-fault-proxy.ts';
import {
  type ClassedWrite,
  classesOf,
  firstAndLastOfRuns,
  keyShape,
  occurrenceAt,
  phasesOf,
  tablesOf,
} from './write-classes.ts';

const API_KEY = 'points-key';
const API_SECRET = 'points-secret';
const SEED = 'points';
/** Small on purpose: every write of the load is a crash point. Two batches, child tables, user_loads. */
const USERS = generateIdentifiers(SEED, 3);
const RESOURCES = ['accounts'];
const BATCH_SIZE = 2;
const LEASE_TTL_MS = 60_000;
/** The load that crashes (the lake holds load-1 before it). */
const LOAD = 'load-2';
/**
 * Every run's clock stands still (at the time the file started): a load of the same rows at the
 * same time writes the same bytes, so lakes that end alike hold identical files, and readers
 * are read through DuckDB once per distinct set of files (readersSee).
 */
const STARTED = new Date();
/** A recovery runs after the crashed run's lease expired. */
const later = () => new Date(STARTED.getTime() + LEASE_TTL_MS + 1_000);
/** `verify` looks at the lake on the real clock (temporary files are judged by their mtime), past every lease. */
const verifyNow = () => new Date(Date.now() + 2 * (LEASE_TTL_MS + 1_000));

/** An S3 lake's extras: the fault proxy, and buckets for runs that go side by side. */
interface FaultLakes {
  proxy(): S3FaultProxy;
  readonly lanes: readonly string[];
  destIn(bucket: string, label: string): string;
}

type KindFor<K> = (root: () => string) => LakeKind & K;

/**
 * What both suites start from (in their own beforeAll): the simulator before and after the world
 * changed, a lake holding load-1 (`base`, never written after), and the fault-free load-2 on a
 * copy of it, with the store writes it made and what readers see then.
 */
function crashWorld(kind: LakeKind, scratchDir: () => string) {
  let lakes = 0;
  /** What DuckDB read in a lake, by the digest of the objects readers open in it. */
  const readOf = new Map<string, Seen>();
  const world = {
    before: undefined as unknown as Simulator,
    after: undefined as unknown as Simulator,
    copyBase: undefined as unknown as (to: string) => Promise<void>,
    baseSeen: undefined as unknown as Seen,
    /** The objects readers open in a copy of the lake before the load (as crash points get it). */
    baseObjects: undefined as unknown as Map<string, string>,
    referenceObjects: undefined as unknown as Map<string, string>,
    referenceSeen: undefined as unknown as Seen,
    writes: [] as StoreWrite[],
    referenceChanges: undefined as unknown,
    args: (sim: Simulator, dest: string, loadId: string, extra: Partial<CrashLoadArgs> = {}) => ({
      store: openStore(dest),
      baseUrl: sim.url,
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      loadId,
      users: USERS,
      resources: RESOURCES,
      batchSize: BATCH_SIZE,
      now: () => STARTED,
      owner: `run-${loadId}`,
      leaseTtlMs: LEASE_TTL_MS,
      ...extra,
    }),
    /** A copy of the lake before the load. */
    fresh: async (label: string, dest = kind.dest(`${label}-${++lakes}`)) => {
      await world.copyBase(dest);
      return dest;
    },
    /** The schema changes the load's report lists: a retried conditional write must not lose them. */
    schemaChanges: async (dest: string) =>
      (await readJson<LoadMarker>(openStore(dest), loadMarkerKey(LOAD)))?.schemaChanges,
    /** What `verify` runs with, at a time the crashed run's lease has expired; every temp file counts. */
    check: (dest: string) => lakeCheck(dest, { cwd: scratchDir(), now: verifyNow }, { tempGraceMs: 0 }),
    /** DuckDB reads of a lake, and those answered by an earlier read of the very same files. */
    reads: { duckdb: 0, same: 0 },
    /**
     * What readers see at `dest`: read through DuckDB, unless a lake holding the very same
     * objects readers open was read before (`duckdb`: read it all the same).
     */
    readersSee: async (dest: string, options: { duckdb?: boolean } = {}): Promise<Seen> => {
      const files = objectsDigest(await kind.readerObjects(dest));
      const known = readOf.get(files);
      if (known !== undefined && !options.duckdb) {
        world.reads.same++;
        return known;
      }
      world.reads.duckdb++;
      const read = await seen(await kind.readable(dest));
      readOf.set(files, read);
      return read;
    },
  };

  beforeAll(async () => {
    await kind.setup();
    const options = { seed: SEED, apiKey: API_KEY, apiSecret: API_SECRET };
    world.before = await startSimulator({ ...options, generation: 0 });
    world.after = await startSimulator({ ...options, generation: 1 });
    const base = kind.dest('base');
    await loadInProcess(world.args(world.before, base, 'load-1'));
    world.baseSeen = await seen(await kind.readable(base));
    world.copyBase = await kind.copier(base);
    world.baseObjects = await kind.readerObjects(await world.fresh('base-copy'));
    readOf.set(objectsDigest(world.baseObjects), world.baseSeen);
    const reference = kind.dest('reference');
    await kind.copy(base, reference);
    await loadInProcess({
      ...world.args(world.after, reference, LOAD),
      store: crashingStore(openStore(reference), 0, (w) => world.writes.push(w)),
    });
    world.referenceSeen = await seen(await kind.readable(reference));
    world.referenceObjects = await kind.readerObjects(reference);
    readOf.set(objectsDigest(world.referenceObjects), world.referenceSeen);
    world.referenceChanges = await world.schemaChanges(reference);
  }, 120_000);

  afterAll(async () => {
    await world.before?.close();
    await world.after?.close();
    await kind.teardown();
  });

  return world;
}

/** Whether two lakes hold the same objects with the same contents (readerObjects). */
const sameObjects = (a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>) =>
  a.size === b.size && [...a].every(([key, digest]) => b.get(key) === digest);

/** One digest of a lake's objects (keys and contents; readerObjects lists them sorted). */
const objectsDigest = (objects: ReadonlyMap<string, string>) =>
  createHash('sha256')
    .update(JSON.stringify([...objects]))
    .digest('hex');

/** A scratch folder for the file, made before and removed after everything else. */
function scratchFolder(): () => string {
  let scratch = '';
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'paylink-points-'));
  });
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });
  return () => scratch;
}

/** A crash point: where the run dies, and how the test names it. */
interface CrashPoint {
  readonly label: string;
  readonly crashAt: () => number | CrashAt;
  /** The class of the dying write (each-class points: the class it must have). */
  readonly cls: string;
  /** Whether readers are read through DuckDB after the crash even when a lake with its files was read. */
  readonly duckdb: boolean;
}

/**
 * Dies at the `occurrence`-th write of class `cls`, each write classed as the reference's were
 * (the tables of the reference, the phase from the writes so far); `died` gets the class.
 */
function atClassOccurrence(
  cls: string,
  occurrence: number,
  tables: ReadonlySet<string>,
  died: (cls: string) => void,
): CrashAt {
  const sofar: ClassedWrite[] = [];
  let count = 0;
  return (write) => {
    sofar.push(write);
    // This write's class only: classing every write so far again at each write was quadratic.
    const now = classesOf([write], LOAD, [phasesOf(sofar).at(-1)!], tables)[0]!;
    if (now !== cls || ++count !== occurrence) return false;
    died(now);
    return true;
  };
}

export function describeCrashPoints(
  kindFor: KindFor<Partial<FaultLakes>>,
  options: { readonly points: 'every' | 'each-class' },
): void {
  let scratch: () => string = () => '';
  const kind = kindFor(() => scratch());

  describe(`a load dying at ${options.points === 'every' ? 'each of its store writes' : 'the first and last store write of each run of one class'} (${kind.name})`, () => {
    scratch = scratchFolder();
    const world = crashWorld(kind, scratch);
    const { args, fresh, check } = world;
    /** As `verify --fix` runs: a repair and a second look only when something is fixable. */
    const fixAndVerify = async (dest: string, repair: RepairOptions = {}) => {
      const { deps, repairDeps } = check(dest);
      const found = await verifyLake(deps);
      if (!found.findings.some((f) => f.fixable)) return found;
      await repairLake(repairDeps, found, repair);
      return verifyLake(deps);
    };

    it('has two different committed states to tell apart, and writes to crash at', () => {
      expect(world.baseSeen.loads).toEqual(['load-1']);
      expect(world.referenceSeen.loads).toEqual(['load-1', LOAD]);
      expect(counts(world.referenceSeen.current)).not.toEqual(counts(world.baseSeen.history));
      // The objects readers open tell the two apart too (a crash point's lake is compared with them).
      expect(world.baseObjects.get('_dlt_loads/load-1.parquet')).toBeDefined();
      expect(world.referenceObjects.get(`_dlt_loads/${LOAD}.parquet`)).toBeDefined();
      expect(sameObjects(world.referenceObjects, world.baseObjects)).toBe(false);
      // Lease, plan, batch users, staged parts, manifests, schema, intent, moves, report, commit point.
      const kinds = new Set(world.writes.map((w) => w.kind));
      expect([...kinds].sort()).toEqual(['close', 'delete', 'move', 'openWrite', 'put', 'putIfAbsent']);
    });

    it('shows readers only committed loads at every crash point; a re-run, or giving the load up with verify --fix --discard-resumable and a new load, leaves no trace', async () => {
      const { writes, referenceSeen, baseSeen, after } = world;
      const classes = classesOf(writes, LOAD, phasesOf(writes));
      const tables = tablesOf(writes.map((w) => w.key));
      const died = new Set<string>();
      const firstOfClass = (cls: string, index: number) => classes.indexOf(cls) === index;
      const points: CrashPoint[] =
        options.points === 'every'
          ? writes.map((w, i) => ({
              label: `write ${i + 1} of ${writes.length} (${w.kind} ${w.key})`,
              crashAt: () => i + 1,
              cls: classes[i]!,
              duckdb: firstOfClass(classes[i]!, i),
            }))
          : firstAndLastOfRuns(classes).map(({ index, cls, place }) => {
              const occurrence = occurrenceAt(classes, index);
              return {
                label: `write ${occurrence} of class ${cls} (${place} of its run; write ${index + 1} of ${writes.length} in the reference)`,
                crashAt: () => atClassOccurrence(cls, occurrence, tables, (c) => died.add(c)),
                cls,
                duckdb: firstOfClass(cls, index),
              };
            });
      // Every class is read through DuckDB after a crash at least once.
      expect(new Set(points.filter((p) => p.duckdb).map((p) => p.cls))).toEqual(new Set(classes));
      if (options.points === 'each-class') {
        // Every class of the reference's writes has a point (a new kind of write is never skipped).
        expect(new Set(points.map((p) => p.cls))).toEqual(new Set(classes));
      }
      let checked = 0;
      // Each point has its own lake; most of a point's time is waiting on I/O (s3rver most of all).
      await forEachConcurrent(
        points.map((point, k) => ({ point, k })),
        kind.concurrentRuns,
        async ({ point, k }) => {
          const at = `after a crash at ${point.label}`;
          const dest = await fresh(`crash-${k + 1}`);
          // The commit reports a crash after publishing as CommitIncompleteError, with the crash as its cause.
          const diedWith = await loadInProcess({
            ...args(after, dest, LOAD),
            store: crashingStore(openStore(dest), point.crashAt()),
          }).then(
            () => undefined,
            (error: unknown) => error,
          );
          const committed = await kind.hasKey(dest, `_dlt_loads/${LOAD}.parquet`);
          // After the commit point the load's outcome is decided: the clean-up that died is not an error.
          if (!committed || diedWith !== undefined) {
            const crashed =
              diedWith instanceof Crash || (diedWith as Error | undefined)?.cause instanceof Crash;
            expect(crashed, `${at}: ${diedWith}`).toBe(true);
          }
          const now = await world.readersSee(dest, { duckdb: point.duckdb });
          expect(now, `what readers see ${at}`).toEqual(committed ? referenceSeen : baseSeen);

          // Alternating over the points taken (for every write: the even-numbered ones re-run).
          if (k % 2 === 1) {
            await loadInProcess(args(after, dest, LOAD, { now: later, owner: 'recovery' }));
            expect(await world.readersSee(dest), `a re-run ${at}`).toEqual(referenceSeen);
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
            const next = await world.readersSee(dest);
            expect(next.loads, at).toEqual(committed ? ['load-1', LOAD, 'load-3'] : ['load-1', 'load-3']);
            expect(counts(next.current), `current state after a new load ${at}`).toEqual(
              counts(referenceSeen.current),
            );
            if (!committed) expect(counts(next.history), at).toEqual(counts(referenceSeen.history));
            expect((await verifyLake(check(dest).deps)).findings, `verify after a new load ${at}`).toEqual(
              [],
            );
          }
          checked++;
        },
      );
      expect(checked).toBe(points.length);
      const { duckdb, same } = world.reads;
      const readsNote = () =>
        `${duckdb} reads through DuckDB, ${same} of lakes holding the very files of a lake read before`;
      if (options.points === 'each-class') {
        // Each run died at a write of its class: every class of the reference was crashed at.
        expect(died).toEqual(new Set(classes));
        console.info(
          `${kind.name}: ${checked} crash points checked (first and last write of each run of a class; ${died.size} classes, ${writes.length} writes; ${readsNote()})`,
        );
      } else {
        console.info(
          `${kind.name}: ${checked} crash points checked (every store write of the load and its commit; ${readsNote()})`,
        );
      }
    }, 600_000);
  });
}

/** A request's key inside its lake (`bucket/label/...` less `bucket/label/`; '' for a bucket-level call). */
const keyInLake = (request: ProxiedRequest, bucket: string, label: string) =>
  request.key.startsWith(`${bucket}/${label}/`)
    ? request.key.slice(`${bucket}/${label}/`.length)
    : request.key.slice(bucket.length + 1);

export function describeWriteRequestFaults(kindFor: KindFor<FaultLakes>): void {
  let scratch: () => string = () => '';
  const kind = kindFor(() => scratch());

  describe(`a load whose write requests fail once (${kind.name})`, () => {
    scratch = scratchFolder();
    const world = crashWorld(kind, scratch);
    const { args, fresh, schemaChanges } = world;

    it('ends exactly as a fault-free load when a write request of each class fails once, before or after S3 applied it', async () => {
      const { referenceSeen, referenceChanges, after } = world;
      const proxy = kind.proxy();
      const { lanes, destIn } = kind;
      // The write requests of one fault-free load, in order (in a bucket of its own, so no other
      // run's request is counted).
      const ownBucket = (bucket: string) => (r: { key: string }) => r.key.split('/')[0] === bucket;
      const probe = await fresh('probe', destIn(lanes[0]!, 'probe'));
      const start = proxy.requests.length;
      await loadInProcess(args(after, probe, LOAD));
      const requests = proxy.requests.slice(start).filter((r) => r.mutating && ownBucket(lanes[0]!)(r));
      expect(await world.readersSee(probe, { duckdb: true })).toEqual(referenceSeen);
      const tables = tablesOf(requests.map((r) => r.key));
      const classOf = (r: ProxiedRequest, bucket: string, label: string) =>
        `${r.operation} ${keyShape(keyInLake(r, bucket, label), LOAD, tables)}`;
      const classes = requests.map((r) => classOf(r, lanes[0]!, 'probe'));
      // The requests of each class taken get 503 before and 500 after in turn (the first of a
      // run before, its last after); a class with one request taken gets both.
      const picked = firstAndLastOfRuns(classes);
      const takenOf = (cls: string) => picked.filter((p) => p.cls === cls).length;
      const turn = new Map<string, number>();
      const faults = picked.flatMap(({ index, cls }) => {
        const k = turn.get(cls) ?? 0;
        turn.set(cls, k + 1);
        const whens =
          takenOf(cls) === 1 ? (['before', 'after'] as const) : ([k % 2 === 0 ? 'before' : 'after'] as const);
        return whens.map((when) => ({ cls, occurrence: occurrenceAt(classes, index), when, index }));
      });
      const failed = new Set<string>();
      let checked = 0;
      /** The first fault of each class is read through DuckDB even when a lake with its files was. */
      const firstOfClass = new Set(classes.map((cls) => faults.findIndex((f) => f.cls === cls)));
      // One run per fault; the runs go side by side, each lane in a bucket of its own, so each
      // fault is matched to its own run's requests (most of a run is waiting on s3rver).
      const failOnce = async (i: number, bucket: string) => {
        const { cls, occurrence, when, index } = faults[i]!;
        const label = `fault-${i}`;
        const dest = await fresh('fault', destIn(bucket, label));
        // The occurrence-th write request of the class in this run: the lane's bucket runs nothing else meanwhile.
        let seenOfClass = 0;
        const from = proxy.requests.length;
        const fault: ProxyFault = {
          when,
          status: when === 'before' ? 503 : 500,
          remaining: 1,
          match: (r) =>
            r.mutating &&
            ownBucket(bucket)(r) &&
            r.n > from &&
            classOf(r, bucket, label) === cls &&
            ++seenOfClass === occurrence,
        };
        proxy.faults.push(fault);
        try {
          await loadInProcess(args(after, dest, LOAD));
        } finally {
          proxy.faults.splice(proxy.faults.indexOf(fault), 1);
        }
        const what = `a ${when === 'before' ? '503 before' : '500 after'} applying ${cls} (request ${index + 1} of ${requests.length} in the probe)`;
        expect(fault.remaining, `the fault at ${what} was answered`).toBe(0);
        failed.add(`${cls} ${when}`);
        // Readers see exactly the fault-free result (no duplicate, no loss, the load committed).
        expect(await world.readersSee(dest, { duckdb: firstOfClass.has(i) }), what).toEqual(referenceSeen);
        expect(await schemaChanges(dest), `schema changes reported after ${what}`).toEqual(referenceChanges);
        checked++;
      };
      await Promise.all(
        lanes.map(async (bucket, lane) => {
          for (let i = lane; i < faults.length; i += lanes.length) await failOnce(i, bucket);
        }),
      );
      expect(checked).toBe(faults.length);
      // Every class of the probe's write requests failed both ways (a new kind of request is never skipped).
      expect(failed).toEqual(new Set(classes.flatMap((c) => [`${c} before`, `${c} after`])));
      console.info(
        `${kind.name}: ${checked} write requests failed once (${new Set(classes).size} classes of ${requests.length} requests; 503 before / 500 after applying; ${world.reads.duckdb} reads through DuckDB, ${world.reads.same} of lakes holding the very files of a lake read before)`,
      );
    }, 600_000);
  });
}
