/**
 * One batch of users: the unit of work of a `load-batch` Lambda (and of one step of a local
 * run). Stages Parquet parts under `_staging/<load_id>/batches/<batch>/` and writes the
 * batch manifest last; nothing is visible in the lake until commit. A retried batch first
 * clears its own staging, so re-running it is safe.
 */
import type { ResourceStep } from './config.ts';
import { LAKE } from './constants.ts';
import {
  ENDPOINT_UNAVAILABLE,
  type EndpointEvidence,
  type EndpointFinding,
  EndpointHealth,
  judgeAcrossBatches,
} from './endpoint-health.ts';
import { rootRowId } from './ids.ts';
import { InOrder } from './in-order.ts';
import { batchManifestKey, stagedPartsPrefix } from './layout.ts';
import {
  loadUser,
  notFoundOutcome,
  type TaskCheck,
  type UnitOutcome,
  USER_LOADS_COLUMNS,
  type UserResult,
} from './load-user.ts';
import { type ConcurrencyControl, forEachConcurrent } from './pool.ts';
import type { ObjectStore, PartWriterFactory, PayLinkApi } from './ports.ts';
import type { NewColumnsDoc, SchemaDoc, SchemaRegistry } from './schema-registry.ts';
import { type PartLimits, type StagedFile, TableSinks } from './table-sinks.ts';
import type { Clock, RawRow } from './types.ts';

export interface BatchUser {
  readonly identifier: string;
  readonly taskIds?: readonly string[];
}

export interface BatchInput {
  readonly loadId: string;
  readonly batch: number;
  readonly dt: string;
  /** When the load started (ISO, from the plan): `user_loads.load_started_at`, the order of loads. */
  readonly startedAt: string;
  readonly users: readonly BatchUser[];
  readonly steps: readonly ResourceStep[];
  /** Shared by all batches of a local run; a Lambda starts from the committed registry. */
  readonly registry: SchemaRegistry;
  /** Users in flight: a number, or a control that adapts it (adaptive-concurrency.ts). */
  readonly concurrency: number | ConcurrencyControl;
  /** Stop starting users after this instant (Lambda deadline minus a safety margin). */
  readonly deadline?: Date;
  /**
   * True once the run was asked to stop (SIGINT): users not started by then are left out of
   * the batch, without a row, and listed in the manifest's `notStarted` for a resume.
   */
  readonly stop?: () => boolean;
  readonly limits?: PartLimits;
  readonly maxPages?: number;
  /**
   * Endpoint verdicts shared with earlier batches (a local run): a resource disabled there is
   * not called here. Omitted (a Lambda): this batch judges on its own, and commit merges findings.
   */
  readonly health?: EndpointHealth;
  /**
   * With a shared `health` (a local run): units of earlier batches still waiting for their
   * endpoint's verdict, and this batch's own when its end comes before the verdict. They are
   * settled in the batch that reaches the verdict (or in the last batch), so a batch of one or two
   * users treats its evidence users as a batch of 200 would. Their `user_loads` rows keep the
   * batch they belong to; a user counted failed this way is listed by the settling batch.
   */
  readonly carried?: CarriedUnits;
  /** No batch of this load comes after this one: every unit still open is settled here. */
  readonly lastBatch?: boolean;
  /**
   * A local run: the result of user `index` when it was started early, while the previous batch's
   * last users finished (user-prefetch.ts). It is this batch's user all the same: typed, written
   * and counted here, in batch order.
   */
  readonly prefetched?: (index: number) => Promise<UserResult> | undefined;
  /**
   * The API's request count this batch's `requests` counts from (default: its count when the batch
   * starts). A local run passes the previous batch's `requestsAt`, so the requests of users started
   * early are counted once, by the batch that was running when they were made.
   */
  readonly requestsFrom?: number;
}

/** A unit that failed with an endpoint symptom before that endpoint had a verdict. */
export interface DeferredUnit {
  readonly batch: number;
  /** The user's position in its batch. */
  readonly index: number;
  readonly identifier: string;
  readonly outcome: UnitOutcome;
  /** The user already counts as failed in its own batch (another unit failed). */
  readonly userFailed: boolean;
}

/** Shared by the batches of one local run (see `BatchInput.carried`). */
export interface CarriedUnits {
  readonly units: DeferredUnit[];
  /** Users of earlier batches already listed as failed by a settling batch (counted once). */
  readonly failedLate: Set<string>;
}

export interface BatchDeps {
  readonly api: PayLinkApi;
  readonly store: ObjectStore;
  readonly parts: PartWriterFactory;
  readonly clock: Clock;
  /** Called after each user (progress reporting); never given payload values. */
  readonly onUser?: (result: UserResult) => void;
}

export interface BatchManifest {
  readonly formatVersion: 1;
  readonly loadId: string;
  readonly batch: number;
  readonly dt: string;
  readonly users: number;
  /** Identifiers with at least one failed unit, in batch order. */
  readonly failedUsers: readonly string[];
  /** Users not started because the deadline came first (also recorded as failed units). */
  readonly deadlineSkipped: number;
  /**
   * Users not started because the run was interrupted: not in this batch's output at all, and
   * not counted in `users`. A resume loads them in batches of their own.
   */
  readonly notStarted?: readonly string[];
  readonly files: readonly StagedFile[];
  readonly rowsByTable: Readonly<Record<string, number>>;
  readonly requests: number;
  /** Bare NaN / Infinity tokens this batch typed (each is null, its token kept in a text variant). */
  readonly nonFiniteValues?: number;
  /** The registry as this batch left it: commit merges the batches' views. */
  readonly schema: SchemaDoc;
  /**
   * The values this batch gave each column new to the lake, by type (schema-registry.ts
   * `NewColumnValues`): the commit settles those columns' types from every batch's counts.
   * Absent when there were none (and in manifests written before batches counted them).
   */
  readonly newColumns?: NewColumnsDoc;
  /** Resources this batch found unusable (endpoint-level), each recorded once. */
  readonly endpointFindings: readonly EndpointFinding[];
  /**
   * A batch that judged alone (a Lambda): units that failed with an endpoint symptom while that
   * endpoint still had no verdict when the batch ended. They have no `user_loads` row yet and do
   * not make their user failed here: commit settles them with every batch's `endpointEvidence`
   * (`judgeAcrossBatches`), writing `endpoint_unavailable` or `failed` rows.
   */
  readonly deferredUnits?: readonly { identifier: string; outcome: UnitOutcome }[];
  /** This batch's verdicts still open, and the resources that worked (batches that judged alone). */
  readonly endpointEvidence?: EndpointEvidence;
  /**
   * What PayLink answered for each user's known task ids, in batch order (users whose known-task
   * resource was called): the commit counts misses and final statuses from it (task-retirement.ts).
   */
  readonly taskChecks?: readonly UserTaskCheck[];
}

/** One user's known task ids as a batch saw them. */
export interface UserTaskCheck extends TaskCheck {
  readonly identifier: string;
}

export const DEADLINE_CODE = 'deadline_exceeded';

/** Finished users that may wait (per worker) for a slower earlier user before workers pause. */
const REORDER_WINDOW_PER_WORKER = 4;

/**
 * A batch whose users are all loaded and whose rows are all handed to its part writers, but
 * whose parts are not closed yet. `stage()` closes them (encoding the last row groups and the
 * footers, the slow part) and writes the manifest: only then is the batch staged. A local run
 * stages batches while the next ones' users load (run-load.ts, staging-window.ts), so requests
 * never wait for the lake; everything a manifest says is fixed before `stage()` starts.
 */
export interface LoadedBatch {
  /** Users left out because the run was asked to stop (see BatchManifest.notStarted). */
  readonly notStarted: readonly string[];
  /** The API's request count where this batch's `requests` ended. */
  readonly requestsAt: number;
  /**
   * The rows this batch holds until staged (not in a closed part yet) and their estimated bytes
   * (row-group-budget.ts `rowBytes`): what a local run weighs before staging it beside others.
   */
  readonly held: { readonly rows: number; readonly bytes: number };
  /**
   * Closes the parts and writes the manifest; the batch is staged when this resolves. On a
   * failure, `failing` is told before the parts are abandoned (which takes the lake's time), so
   * a run can stop starting users at once; then the error is thrown.
   */
  stage(failing?: (error: unknown) => void): Promise<BatchManifest>;
  /** Abandons the parts (a batch that will never be staged). */
  abort(): Promise<void>;
}

/**
 * Loads one user as a batch of this load does, without typing or writing anything: what the
 * batch's pool runs per user, and what a local run starts early for the next batch's first users
 * (user-prefetch.ts). `routing` is the registry's view from before the load, the same for every
 * batch; `health` is the run's endpoint judge (disabled resources are skipped).
 */
export function userLoader(
  input: Pick<BatchInput, 'loadId' | 'dt' | 'steps' | 'maxPages'>,
  health: EndpointHealth,
  routing: ReturnType<SchemaRegistry['routing']>,
  api: PayLinkApi,
): (user: BatchUser) => Promise<UserResult> {
  const disabled = (resource: string) => health.disabled(resource);
  const undecided = (resource: string) => health.undecided(resource);
  return (user) =>
    loadUser(
      {
        identifier: user.identifier,
        steps: input.steps,
        loadId: input.loadId,
        dt: input.dt,
        disabled,
        undecided,
        routing,
        ...(user.taskIds === undefined ? {} : { taskIds: user.taskIds }),
        ...(input.maxPages === undefined ? {} : { maxPages: input.maxPages }),
      },
      api,
    );
}

/** Loads a batch and stages it: the unit of work of a load-batch Lambda. */
export async function loadBatch(input: BatchInput, deps: BatchDeps): Promise<BatchManifest> {
  const loaded = await loadBatchUsers(input, deps);
  return loaded.stage();
}

/**
 * Loads a batch's users and writes their rows to its part writers (see LoadedBatch). On a
 * systemic failure the parts are abandoned and the error is thrown.
 */
export async function loadBatchUsers(input: BatchInput, deps: BatchDeps): Promise<LoadedBatch> {
  const { store } = deps;
  const stale = await store.list(stagedPartsPrefix(input.loadId, input.batch));
  if (stale.length > 0) await store.delete(stale);

  const registry = input.registry;
  // New columns are staged as their values are, and typed at commit from every batch's values.
  registry.stageNewColumns();
  // Counts left by an earlier batch of a shared registry that never staged are not this batch's.
  registry.takeNewColumnValues();
  if (!registry.hasTable(LAKE.userLoadsTable))
    registry.declareTable(LAKE.userLoadsTable, [...USER_LOADS_COLUMNS]);
  // Declared tables and columns exist from the first load, even if no value ever arrives.
  for (const step of input.steps)
    if (step.emit) registry.declareResource(step.resource.table, step.resource.columns);
  const nonFiniteBefore = registry.nonFiniteValues();
  const routing = registry.routing();
  const sinks = new TableSinks({ store, parts: deps.parts, registry }, input, input.limits);
  const failed: boolean[] = new Array(input.users.length).fill(false);
  const rowsByTable: Record<string, number> = {};
  const requestsBefore = input.requestsFrom ?? deps.api.stats().requests;
  let deadlineSkipped = 0;
  const notStarted: boolean[] = new Array(input.users.length).fill(false);
  const health = input.health ?? new EndpointHealth(input.steps.map((s) => s.resource));
  health.startBatch(input.batch);
  /** Units that failed with an endpoint symptom before that endpoint's verdict: settled at the end. */
  const pending: { index: number; identifier: string; outcome: UnitOutcome }[] = [];
  const taskChecks: UserTaskCheck[] = [];

  const emit = (tableKey: string, dt: string, raw: RawRow) => {
    const { table, row } = registry.typeRow(tableKey, raw);
    rowsByTable[table] = (rowsByTable[table] ?? 0) + 1;
    return { table, dt, row };
  };
  // `user_loads` rows are ours, keyed by column name already (not by source path).
  const emitOutcome = (raw: RawRow) => {
    rowsByTable[LAKE.userLoadsTable] = (rowsByTable[LAKE.userLoadsTable] ?? 0) + 1;
    return { table: LAKE.userLoadsTable, dt: input.dt, row: registry.coerceRow(LAKE.userLoadsTable, raw) };
  };
  // Typing happens in user order, synchronously, so every run of the same users stages the same parts.
  const ordered = new InOrder<{ index: number; result: UserResult }>(
    async ({ index, result }) => {
      const typed = result.rows.map((r) => emit(r.table, r.dt, r.row));
      if (result.tasks !== undefined) taskChecks.push({ identifier: result.identifier, ...result.tasks });
      for (const given of result.outcomes) {
        if (given.endpoint !== undefined && !health.works(given.endpoint.resource)) {
          pending.push({ index, identifier: result.identifier, outcome: given });
          continue;
        }
        // The endpoint answered somebody: this user's all-404 task ids are stale: not a failure.
        // All-404 parents the parent list still names are no proof: the user's failure
        // (child_not_found). (All-404 parents it no longer names were settled ok by loadUser.)
        const outcome = keysNotFound(given, health) ? notFoundOutcome(given) : given;
        if (outcome.status === 'failed') failed[index] = true;
        typed.push(emitOutcome(userLoadsRow(input, input.batch, result.identifier, outcome)));
      }
      await sinks.write(typed);
      if (!notStarted[index]) deps.onUser?.(result);
    },
    REORDER_WINDOW_PER_WORKER *
      (typeof input.concurrency === 'number' ? input.concurrency : input.concurrency.max),
  );

  try {
    const load = userLoader(input, health, routing, deps.api);
    await forEachConcurrent(input.users, input.concurrency, async (user, index) => {
      try {
        let result: UserResult;
        const early = input.prefetched?.(index);
        if (early !== undefined) {
          // Already loaded (or loading): kept even when the run is stopping, its requests are made.
          result = await early;
          health.observe(result.observation);
        } else if (input.stop?.()) {
          notStarted[index] = true;
          result = {
            identifier: user.identifier,
            outcomes: [],
            rows: [],
            failed: false,
            observation: { identifier: user.identifier, minted: false, steps: [] },
          };
        } else if (input.deadline !== undefined && deps.clock().getTime() >= input.deadline.getTime()) {
          deadlineSkipped++;
          result = skippedUser(user.identifier, input.steps);
        } else {
          result = await load(user);
          // Completion order: the verdicts must see users as they finish. May throw (systemic).
          health.observe(result.observation);
        }
        await ordered.put(index, { index, result });
      } catch (error) {
        ordered.close();
        throw error;
      }
    });
    health.finishBatch();
    // Verdicts are in: an endpoint found unusable excuses its users; otherwise they failed.
    // Units of earlier batches (a local run) are settled with this batch's own.
    const carried = input.carried;
    const waiting: DeferredUnit[] = [
      ...(carried?.units.splice(0) ?? []),
      ...pending.map(({ index, identifier, outcome }) => ({
        batch: input.batch,
        index,
        identifier,
        outcome,
        userFailed: failed[index]!,
      })),
    ];
    const lateFailed = new Set<string>();
    const settled: ReturnType<typeof emitOutcome>[] = [];
    const deferred: { identifier: string; outcome: UnitOutcome }[] = [];
    // Every user of the load was tried: a known-task 404 no answered id contradicted is judged
    // now, with the whole load's users (endpoint-health.ts maybeStaleIds).
    if (carried !== undefined && input.lastBatch === true) health.finishLoad();
    /** A settled unit that is its user's failure: counted by its own batch, or late by this one. */
    const failUser = (unit: DeferredUnit) => {
      if (unit.batch === input.batch) failed[unit.index] = true;
      else if (!unit.userFailed && !carried?.failedLate.has(unit.identifier)) {
        lateFailed.add(unit.identifier);
        carried?.failedLate.add(unit.identifier);
      }
    };
    for (const unit of waiting) {
      const resource = unit.outcome.endpoint!.resource;
      const finding = health.disabled(resource);
      // An interrupted batch is the last this run loads: it settles every unit still open.
      const last = input.lastBatch === true || notStarted.some(Boolean);
      if (keysNotFound(unit.outcome, health)) {
        const outcome = notFoundOutcome(unit.outcome);
        if (outcome.status === 'failed') failUser(unit);
        settled.push(emitOutcome(userLoadsRow(input, unit.batch, unit.identifier, outcome)));
        continue;
      }
      if (finding === undefined && carried !== undefined && !last && health.undecided(resource)) {
        carried.units.push(unit);
        continue;
      }
      // Judging alone (a Lambda), the other batches' evidence is at commit: it settles the unit.
      if (finding === undefined && carried === undefined && health.undecided(resource)) {
        deferred.push({ identifier: unit.identifier, outcome: unit.outcome });
        continue;
      }
      if (finding === undefined) failUser(unit);
      const final = finding === undefined ? unit.outcome : excusedOutcome(unit.outcome, resource, finding);
      settled.push(emitOutcome(userLoadsRow(input, unit.batch, unit.identifier, final)));
    }
    if (settled.length > 0) await sinks.write(settled);
    const requestsAt = deps.api.stats().requests;
    // From here nothing reads the shared registry: the next batch may type rows meanwhile.
    await sinks.seal();
    const newColumns = registry.takeNewColumnValues();
    const described: Omit<BatchManifest, 'files'> = {
      formatVersion: 1,
      loadId: input.loadId,
      batch: input.batch,
      dt: input.dt,
      users: input.users.length - notStarted.filter(Boolean).length,
      failedUsers: [
        ...input.users.filter((_, i) => failed[i]).map((u) => u.identifier),
        // Users of earlier batches whose carried units turned out to be their own failures.
        ...lateFailed,
      ],
      deadlineSkipped,
      ...(notStarted.some(Boolean)
        ? { notStarted: input.users.filter((_, i) => notStarted[i]).map((u) => u.identifier) }
        : {}),
      rowsByTable,
      requests: requestsAt - requestsBefore,
      nonFiniteValues: registry.nonFiniteValues() - nonFiniteBefore,
      schema: registry.toJSON(),
      ...(Object.keys(newColumns).length > 0 ? { newColumns } : {}),
      // A copy: the shared judge goes on recording later batches into its findings.
      endpointFindings: structuredClone(health.findings().filter((f) => f.batches.includes(input.batch))),
      ...(deferred.length > 0 ? { deferredUnits: deferred } : {}),
      ...(carried === undefined ? { endpointEvidence: health.evidence() } : {}),
      ...(taskChecks.length > 0 ? { taskChecks } : {}),
    };
    return {
      notStarted: described.notStarted ?? [],
      requestsAt,
      held: sinks.held(),
      async stage(failing) {
        try {
          const files = await sinks.close();
          // The manifest's fields in their usual order (`files` after the users').
          const {
            rowsByTable: rows,
            requests,
            nonFiniteValues,
            schema,
            newColumns: values,
            endpointFindings,
            deferredUnits,
            endpointEvidence,
            taskChecks: checks,
            ...head
          } = described;
          const manifest: BatchManifest = {
            ...head,
            files,
            rowsByTable: rows,
            requests,
            ...(nonFiniteValues === undefined ? {} : { nonFiniteValues }),
            schema,
            ...(values === undefined ? {} : { newColumns: values }),
            endpointFindings,
            ...(deferredUnits === undefined ? {} : { deferredUnits }),
            ...(endpointEvidence === undefined ? {} : { endpointEvidence }),
            ...(checks === undefined ? {} : { taskChecks: checks }),
          };
          await store.put(batchManifestKey(input.loadId, input.batch), JSON.stringify(manifest));
          return manifest;
        } catch (error) {
          failing?.(error);
          await sinks.abort();
          throw error;
        }
      },
      abort: () => sinks.abort(),
    };
  } catch (error) {
    // Systemic failures (ApiKeyRejectedError, a store error) end the batch with nothing staged as done.
    await sinks.abort();
    throw error;
  }
}

/**
 * A unit whose keys all 404'd (known task ids, or parent records of a fan-out), once its endpoint
 * answered somebody: the route exists, so the ids are stale, the parents vanished, or (parents
 * still listed) the user's failure (notFoundOutcome).
 */
function keysNotFound(outcome: UnitOutcome, health: EndpointHealth): boolean {
  // A child of a unit whose parents vanished carries them too: judged by that unit's endpoint.
  return allKeysMissing(outcome) && health.works(outcome.endpoint?.resource ?? outcome.resource);
}

const allKeysMissing = (outcome: UnitOutcome) =>
  outcome.missingTaskIds !== undefined ||
  outcome.missingParents !== undefined ||
  outcome.listedParents !== undefined;

function skippedUser(identifier: string, steps: readonly ResourceStep[]): UserResult {
  const outcomes: UnitOutcome[] = steps
    .filter((s) => s.emit)
    .map((s) => ({
      resource: s.resource.table,
      status: 'failed',
      rows: 0,
      requests: 0,
      errorCode: DEADLINE_CODE,
      errorMessage: 'not started: the batch reached its deadline',
      httpStatus: null,
    }));
  return {
    identifier,
    outcomes,
    rows: [],
    failed: true,
    observation: { identifier, minted: false, steps: [] },
  };
}

/** A unit's `user_loads` row (its `_dlt_id` is a function of load, user and resource). */
export function userLoadsRow(
  input: { readonly loadId: string; readonly startedAt: string },
  batch: number,
  identifier: string,
  o: UnitOutcome,
): RawRow {
  return {
    [LAKE.loadIdColumn]: input.loadId,
    [LAKE.idColumn]: rootRowId(input.loadId, identifier, LAKE.userLoadsTable, o.resource),
    [LAKE.userColumn]: identifier,
    resource: o.resource,
    status: o.status,
    rows: o.rows,
    requests: o.requests,
    error_code: o.errorCode,
    error_message: o.errorMessage,
    http_status: o.httpStatus,
    batch,
    load_started_at: input.startedAt,
  };
}

/**
 * A unit excused by the finding that disabled `resource` (its own endpoint, or, for a child
 * unit, the parent's it could not fan out from: `parent_unavailable`).
 */
function excusedOutcome(outcome: UnitOutcome, resource: string, finding: EndpointFinding): UnitOutcome {
  return {
    ...outcome,
    status: ENDPOINT_UNAVAILABLE,
    errorCode: resource === outcome.resource ? outcome.errorCode : 'parent_unavailable',
    errorMessage: finding.message,
  };
}

/** The error code a failure derived from its parent's carries (load-user.ts): never a user's primary code. */
export const PARENT_FAILED_CODE = 'parent_failed';

/**
 * The one code a failed user is counted under (the FailedUsers metric by ErrorCode, which then
 * adds up to the load's failed users): its first failed unit's code, passing over units that
 * only failed because their parent did (`parent_failed` says nothing of its own).
 */
export function primaryFailureCode(failedCodes: readonly (string | null | undefined)[]): string {
  const codes = failedCodes.map((c) => c ?? 'unknown');
  return codes.find((c) => c !== PARENT_FAILED_CODE) ?? codes[0] ?? 'unknown';
}

/** The deferred units of batches that judged alone, settled at commit. */
export interface DeferredSettlement {
  /**
   * Every endpoint finding of the load, by resource: the batches' own and those reached only
   * once the batches' evidence was taken together.
   */
  readonly findings: readonly EndpointFinding[];
  /** Each deferred unit with its final outcome, in batch order. */
  readonly units: readonly { batch: number; identifier: string; outcome: UnitOutcome }[];
  /** Users failed only by deferred units (not in their batch's `failedUsers`), each once, in batch order. */
  readonly lateFailed: readonly string[];
  /** `lateFailed` counted by each user's primary code (`primaryFailureCode` of its deferred units). */
  readonly lateFailedByCode: Readonly<Record<string, number>>;
}

/**
 * Settles what batches that judged alone left open (`deferredUnits`), given the findings the
 * batches reached: a unit whose endpoint a batch, or the batches' evidence taken together
 * (`judgeAcrossBatches`), found unusable becomes `endpoint_unavailable` (a child unit:
 * `parent_unavailable`), as in a local run; any other is the user's own failure. Pure.
 */
export function settleDeferredUnits(
  manifests: readonly BatchManifest[],
  batchFindings: readonly EndpointFinding[],
): DeferredSettlement {
  const findings = judgeAcrossBatches(
    manifests.map((m) => ({ batch: m.batch, evidence: m.endpointEvidence })),
    batchFindings,
  );
  const all = [...batchFindings, ...findings].sort((a, b) => (a.resource < b.resource ? -1 : 1));
  const byResource = new Map(all.map((f) => [f.resource, f]));
  // An endpoint that answered in any batch: all-404 units are stale task ids or vanished parents.
  const works = new Set(manifests.flatMap((m) => m.endpointEvidence?.works ?? []));
  const units: { batch: number; identifier: string; outcome: UnitOutcome }[] = [];
  const lateFailed: string[] = [];
  const counted = new Set<string>();
  for (const m of [...manifests].sort((a, b) => a.batch - b.batch)) {
    const failed = new Set(m.failedUsers);
    for (const unit of m.deferredUnits ?? []) {
      const resource = unit.outcome.endpoint?.resource ?? unit.outcome.resource;
      const finding = byResource.get(resource);
      if (finding === undefined) {
        // An endpoint that answered: all-404 keys are the keys' (stale, vanished, or parents
        // still listed: the user's failure); otherwise the unit is as the batch left it.
        const outcome =
          allKeysMissing(unit.outcome) && works.has(resource) ? notFoundOutcome(unit.outcome) : unit.outcome;
        units.push({ batch: m.batch, identifier: unit.identifier, outcome });
        if (outcome.status !== 'failed') continue;
        if (!failed.has(unit.identifier) && !counted.has(unit.identifier)) {
          counted.add(unit.identifier);
          lateFailed.push(unit.identifier);
        }
        continue;
      }
      units.push({
        batch: m.batch,
        identifier: unit.identifier,
        outcome: excusedOutcome(unit.outcome, resource, finding),
      });
    }
  }
  const late = new Set(lateFailed);
  const codesOf = new Map<string, (string | null)[]>();
  for (const u of units)
    if (late.has(u.identifier) && u.outcome.status === 'failed')
      codesOf.set(u.identifier, [...(codesOf.get(u.identifier) ?? []), u.outcome.errorCode]);
  const lateFailedByCode: Record<string, number> = {};
  for (const identifier of lateFailed) {
    const code = primaryFailureCode(codesOf.get(identifier) ?? []);
    lateFailedByCode[code] = (lateFailedByCode[code] ?? 0) + 1;
  }
  return { findings: all, units, lateFailed, lateFailedByCode };
}
