/**
 * `load --dry-run`: everything a load checks before it writes, plus what it can check without
 * writing, then the plan. Writes nothing to the lake (a local --dest gets a probe file created
 * and removed at once, by the same writability check a load makes).
 */
import { dirname } from 'node:path';
import { isAbandonedOnThisHost } from '#adapters/lease-owner.ts';
import { LeaseHeldError } from '#core/errors.ts';
import { readCommittedSchema } from '#core/lake-schema.ts';
import { dltLoadsKey, leasesPrefix, loadDate, parseLeaseKey, planKey } from '#core/layout.ts';
import { describeHolder, isLive, readLease } from '#core/lease.ts';
import type { BatchUser } from '#core/load-batch.ts';
import type { ObjectStore, PayLinkApi } from '#core/ports.ts';
import { missingFolders } from './dest-folder.ts';

export interface DryRunInput {
  readonly loadId: string;
  readonly startedAt: Date;
  readonly users: readonly BatchUser[];
  readonly resources: readonly string[];
  readonly batchSize: number;
  /** Users at once, or `adaptive` (set from the rate limit and the measured latency). */
  readonly concurrency: number | 'adaptive';
  readonly rateLimit: number;
  readonly store: ObjectStore;
  readonly api: PayLinkApi;
  readonly baseUrl: string;
  /** Where the credentials came from (`environment`, `secret <id>`): never their values. */
  readonly credentialsFrom: string;
  /** Where the users came from (a file, a failed load). */
  readonly usersFrom: string;
  /**
   * How many of `users` a load of a list adds because webhook events named them and the list
   * does not (learned-users.ts): counted apart, so 20 listed users are not reported as 225.
   */
  readonly learnedUsers?: number;
  /** Notes the users' source has (the first `changed` load loads every event's user). */
  readonly notes?: readonly string[];
  readonly now: Date;
}

export interface DryRunReport {
  readonly dryRun: true;
  /** What was checked, in order, each in one sentence. */
  readonly checks: readonly string[];
  /** Worth knowing, not a reason to stop (other loads running on the lake). */
  readonly notes: readonly string[];
  readonly plan: {
    readonly loadId: string;
    readonly dest: string;
    readonly dt: string;
    /** `new`, `replaces a committed load`, `resumes or replaces staged batches`. */
    readonly loadIdState: string;
    readonly users: number;
    /** Where `users` came from, each source counted apart (the list, users learned from webhook events). */
    readonly usersBySource: readonly { readonly from: string; readonly users: number }[];
    readonly batches: number;
    readonly batchSize: number;
    readonly concurrency: number | 'adaptive';
    readonly rateLimit: number;
    readonly resources: readonly string[];
  };
}

/**
 * Runs the checks; throws the error a load would (LeaseHeldError, LakeStateError, a PayLink
 * or credentials error) at the first that fails.
 */
export async function dryRunReport(input: DryRunInput): Promise<DryRunReport> {
  const { store, loadId, now } = input;
  const checks: string[] = [];
  const notes: string[] = [...(input.notes ?? [])];
  const users = new Set(input.users.map((u) => u.identifier)).size;
  const learned = input.learnedUsers ?? 0;
  const usersBySource = [
    { from: input.usersFrom, users: users - learned },
    ...(learned > 0 ? [{ from: LEARNED_FROM_EVENTS, users: learned }] : []),
  ];
  checks.push('flags and config: valid');
  checks.push(
    learned > 0
      ? `users: ${users} in all, ${users - learned} from ${input.usersFrom} and ${learned} learned from webhook events that it does not list`
      : `users: ${users} from ${input.usersFrom}`,
  );
  const missing = await missingFolders(store.description);
  checks.push(
    store.description.startsWith('s3://')
      ? `lake ${store.description}: listable (S3 write permission cannot be checked without writing)`
      : missing.length > 0
        ? `lake ${store.description}: does not exist yet, a load would create it (its nearest existing parent ${dirname(missing[0]!)} is writable: a probe folder was created and removed)`
        : `lake ${store.description}: writable (a probe file was created and removed)`,
  );
  const registry = await readCommittedSchema(store);
  checks.push(
    registry.version === 0
      ? 'schema registry: none yet (a new lake)'
      : `schema registry: readable, version ${registry.version}, ${registry.tables().length} tables`,
  );
  const lease = await readLease(store, loadId);
  if (lease !== undefined && isLive(lease, now) && !isAbandonedOnThisHost(lease.owner))
    throw new LeaseHeldError(loadId, describeHolder(lease, now));
  checks.push(`load id ${loadId}: no run holds it`);
  for (const other of await runningLoads(store, now))
    if (other.loadId !== loadId)
      notes.push(
        `load ${other.loadId} is running on this lake (${other.holder}); loads of other ids may run alongside`,
      );
  const loadIdState =
    (await store.get(dltLoadsKey(loadId))) !== undefined
      ? 'replaces the committed load of this id'
      : (await store.get(planKey(loadId))) !== undefined
        ? 'staged already: the same users and options resume it, other input replans it'
        : 'new';
  await input.api.openSession(input.users[0]!.identifier);
  checks.push(
    `credentials (${input.credentialsFrom}): ${input.baseUrl} minted a public token for the first user`,
  );
  return {
    dryRun: true,
    checks,
    notes,
    plan: {
      loadId,
      dest: store.description,
      dt: loadDate(loadId, input.startedAt),
      loadIdState,
      users,
      usersBySource,
      batches: Math.ceil(users / input.batchSize),
      batchSize: input.batchSize,
      concurrency: input.concurrency,
      rateLimit: input.rateLimit,
      resources: input.resources,
    },
  };
}

/** The source `usersBySource` names for users a list load adds from stored webhook events. */
export const LEARNED_FROM_EVENTS = 'webhook events';

/** Load ids whose newest lease is live: runs writing this lake now. */
async function runningLoads(store: ObjectStore, now: Date): Promise<{ loadId: string; holder: string }[]> {
  const ids = new Set<string>();
  for (const key of await store.list(leasesPrefix)) {
    const parsed = parseLeaseKey(key);
    if (parsed !== undefined) ids.add(parsed.loadId);
  }
  const running: { loadId: string; holder: string }[] = [];
  for (const loadId of ids) {
    const doc = await readLease(store, loadId).catch(() => undefined);
    if (doc !== undefined && isLive(doc, now) && !isAbandonedOnThisHost(doc.owner))
      running.push({ loadId, holder: describeHolder(doc, now) });
  }
  return running;
}

export function formatDryRun(report: DryRunReport): string {
  const p = report.plan;
  return [
    'Dry run: nothing was loaded or written.',
    '',
    'Checked:',
    ...report.checks.map((c) => `  ok  ${c}`),
    ...(report.notes.length > 0 ? ['', 'Notes:', ...report.notes.map((n) => `  ${n}`)] : []),
    '',
    'Plan:',
    `  load id      ${p.loadId} (${p.loadIdState})`,
    `  into         ${p.dest}, partition dt=${p.dt}`,
    `  users        ${p.users} in ${p.batches} batch(es) of up to ${p.batchSize}`,
    `  resources    ${p.resources.join(', ')}`,
    p.concurrency === 'adaptive'
      ? `  concurrency  adapts to the rate limit and PayLink's latency, at most ${p.rateLimit} requests/s`
      : `  concurrency  ${p.concurrency} users at once, at most ${p.rateLimit} requests/s`,
  ].join('\n');
}
