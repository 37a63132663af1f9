/**
 * Least privilege, proven statement by statement: the offline AWS run (test/helpers/offline-aws.ts)
 * is repeated with each statement of each role left out, and must then record a denied call
 * naming one of that statement's actions. A statement no scenario needs is a statement too many;
 * a statement whose removal goes unnoticed overlaps another.
 *
 * Each load follows a signed webhook event through the receiver's Function URL, so the webhook
 * role's statements are proven the same way, and the loads read and commit stored events.
 *
 * Bounded: a baseline of two loads (the second reads what the first committed) records which
 * load first uses each statement; each withheld run repeats only the loads up to that one, on an
 * emptied lake, with 2 users in one batch, and stops at the denial it looks for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatedEvent } from '#simulator/webhook-sender.ts';
import { generateIdentifiers } from '#simulator/world.ts';
import type { Cfn } from '#test/helpers/cfn-template.ts';
import type { Decision } from '#test/helpers/iam-gate.ts';
import { FAST_HTTP } from '#test/helpers/lake-harness.ts';
import {
  API_SECRET,
  describeDenials,
  type OfflineWorld,
  startOfflineWorld,
} from '#test/helpers/offline-deployment.ts';
import { exampleConfig } from './app-fixture.ts';

const SEED = 'least-privilege';
const USERS = generateIdentifiers(SEED, 2);
const SLOTS = ['2026-12-01T03:00:00.000Z', '2026-12-02T03:00:00.000Z'];

/**
 * Statements no load exercises, with why. Everything else must be needed by a load.
 */
const NOT_EXERCISED_BY_A_LOAD: readonly { actions: RegExp; sid?: string; reason: string }[] = [
  {
    actions: /^logs:CreateLogDelivery$/,
    reason: 'state machine logging set-up: used by Step Functions when the machine is created (deploy time)',
  },
  {
    actions: /^states:(DescribeExecution|StopExecution)$/,
    reason: 'the Distributed Map describing/stopping its child executions: not modelled by the interpreter',
  },
  {
    actions: /^states:RedriveExecution$/,
    reason: 'used by a redrive only: exercised by the redrive scenario of offline-aws.test.ts',
  },
  {
    // By Sid: the state machine's own guard statement grants the same action and is needed.
    actions: /^states:ListExecutions$/,
    sid: 'RedriveGuard',
    reason:
      "load-batch's and commit's redrive guard: used by a redriven run only, exercised (allowed and refused) by the redrive scenario of offline-aws.test.ts",
  },
  {
    actions: /^sqs:SendMessage$/,
    reason: "the Scheduler's dead-letter queue: used only when delivery fails",
  },
];

const excluded = (statement: Cfn) =>
  NOT_EXERCISED_BY_A_LOAD.find(
    (x) =>
      (x.sid === undefined || statement.Sid === x.sid) &&
      [statement.Action].flat().some((a: string) => x.actions.test(a)),
  );

const CONFIG = exampleConfig({
  batchSize: 2,
  requestRate: 2000,
  userConcurrency: 4,
  loaderConfig: { http: FAST_HTTP },
});

let world: OfflineWorld;
/**
 * A second deployment of the same template (its own lake, fakes, simulator and IAM gate; the
 * same bundles), so the withheld-statement runs go two at a time: each run is a chain of
 * Lambda processes, one at a time, that leaves the other core idle.
 */
let second: Promise<OfflineWorld> | undefined;

beforeAll(async () => {
  world = await startOfflineWorld({ config: CONFIG, simulator: { seed: SEED } });
  // Started now, awaited where needed: its set-up overlaps the baseline loads.
  second = startOfflineWorld({ config: CONFIG, simulator: { seed: SEED }, bundles: world.bundles });
  second.catch(() => undefined);
}, 120_000);

afterAll(async () => {
  await Promise.all([world?.close(), second?.then((w) => w.close())]);
});

/** An empty lake (users list kept), empty Glue database, fresh decisions. */
async function resetLake(world: OfflineWorld): Promise<void> {
  const keys = await world.bucket.list(`${world.prefix}/`);
  if (keys.length > 0) await world.bucket.delete(keys);
  world.glue.reset();
  world.gate.decisions.length = 0;
}

/**
 * One signed webhook event for the first user through the receiver's Function URL (the webhook
 * role: its secret read and its create-only write under `_events/`), as Atomic sends it between
 * two loads; the next load plans its user and commits it as `webhook_events`.
 */
async function webhookEvent(world: OfflineWorld, slot: string): Promise<number> {
  const event = simulatedEvent({
    identifier: USERS[0]!,
    type: 'pay-link-accounts-updated',
    time: new Date(slot),
    secret: API_SECRET,
  });
  return (await world.aws.invokeUrl('webhook', { headers: event.headers, body: event.body })).statusCode;
}

/**
 * Runs loads 1..upTo, each after a webhook event, stopping at the first that does not succeed;
 * returns the statuses. With `stopAt`, a load is stopped at the first decision it matches (the
 * denial looked for), and nothing more runs once such a decision is recorded: a denial the
 * receiver's own call drew (its log stream, say, which Lambda writes whatever the denial) would
 * otherwise be followed by whole loads that cannot take it back.
 */
async function loads(
  world: OfflineWorld,
  upTo: number,
  stopAt?: (d: Decision) => boolean,
): Promise<string[]> {
  const statuses: string[] = [];
  const found = () => stopAt !== undefined && world.gate.decisions.some(stopAt);
  for (let i = 0; i < upTo; i++) {
    const received = await webhookEvent(world, SLOTS[i]!);
    if (received !== 200) {
      statuses.push(`webhook ${received}`);
      break;
    }
    if (found()) {
      statuses.push('stopped at the denial');
      break;
    }
    const outcome = await world.aws.execute(
      'daily',
      { schedule: 'daily', scheduledTime: SLOTS[i] },
      stopAt ? { abortWhen: stopAt } : {},
    );
    statuses.push(outcome.status);
    if (outcome.status !== 'SUCCEEDED') break;
  }
  return statuses;
}

describe('every statement of every role is needed by a load', () => {
  /** Statement id -> the load (1-based) that first used it, from a run with every statement. */
  const firstUse = new Map<string, number>();
  const statements: { id: string; principal: string; statement: Cfn }[] = [];

  beforeAll(async () => {
    await world.bucket.put(world.usersKey, `${USERS.join('\n')}\n`);
    await resetLake(world);
    for (let i = 0; i < SLOTS.length; i++) {
      const before = world.gate.decisions.length;
      expect(await webhookEvent(world, SLOTS[i]!)).toBe(200);
      const outcome = await world.aws.execute('daily', { schedule: 'daily', scheduledTime: SLOTS[i] });
      expect(outcome.status, describeDenials(world.gate).join('\n')).toBe('SUCCEEDED');
      for (const d of world.gate.decisions.slice(before))
        for (const id of d.allowedBy) if (!firstUse.has(id)) firstUse.set(id, i + 1);
    }
    expect(describeDenials(world.gate)).toEqual([]);
    const principals = [
      ...[...world.aws.functions.values()].map((f) => f.principal),
      ...[...world.aws.stateMachines.values()].map((m) => m.principal),
      world.aws.scheduler.principal,
    ];
    for (const principal of principals)
      for (const { id, statement } of world.gate.statementsOf(principal))
        statements.push({ id, principal: principal.label, statement });
  }, 120_000);

  it('uses every statement not listed as exercised elsewhere', () => {
    const unused = statements
      .filter((s) => !excluded(s.statement) && !firstUse.has(s.id))
      .map((s) => `${s.principal} ${s.id}: ${JSON.stringify(s.statement.Action)}`);
    expect(unused).toEqual([]);
  });

  it("records a denial naming the statement's action when any one statement is left out", async () => {
    const report: string[] = [];
    /** One withheld-statement run on `world` (statement ids are the template's: the same in both). */
    const withhold = async (
      world: OfflineWorld,
      { id, principal, statement }: (typeof statements)[number],
    ) => {
      const actions = [statement.Action].flat() as string[];
      await resetLake(world);
      // A deployment without a secret statement: no container kept a secret read with it. Every
      // other grant is decided at each call (the gate), not cached by a container, so warm
      // containers meet the withheld statement as cold ones would, without a cold start per run.
      if (actions.some((action) => /^(secretsmanager|kms):/.test(action))) world.aws.recycle();
      world.gate.withheld.add(id);
      const target = (d: Decision) => !d.allowed && d.principal === principal && actions.includes(d.action);
      try {
        await loads(world, firstUse.get(id) ?? SLOTS.length, target);
      } finally {
        world.gate.withheld.delete(id);
      }
      const named = world.gate
        .denied()
        .filter((d) => d.principal === principal && actions.includes(d.action));
      if (named.length === 0)
        report.push(
          `${principal} ${id} ${JSON.stringify(actions)}: no denial; denied were ${describeDenials(world.gate).join('; ') || 'none'}`,
        );
    };
    const pending = statements.filter((s) => !excluded(s.statement));
    const other = await second!;
    await other.bucket.put(other.usersKey, `${USERS.join('\n')}\n`);
    // Each world takes the next statement when its run ends.
    await Promise.all(
      [world, other].map(async (w) => {
        for (let next = pending.shift(); next !== undefined; next = pending.shift()) await withhold(w, next);
      }),
    );
    expect(report).toEqual([]);
  }, 400_000);
});

describe('the grant issue 7 found', () => {
  it('fails the first load with s3:ListBucket named when ListBucket is granted only under an s3:prefix condition', async () => {
    await world.bucket.put(world.usersKey, `${USERS.join('\n')}\n`);
    await resetLake(world);
    const conditioned: string[] = [];
    for (const fn of world.aws.functions.values()) {
      for (const { id, statement } of world.gate.statementsOf(fn.principal)) {
        if (!id.endsWith(':LakeList')) continue;
        world.gate.replaced.set(id, {
          ...statement,
          Condition: { StringLike: { 's3:prefix': [`${world.prefix}/*`] } },
        });
        conditioned.push(id);
      }
    }
    expect(conditioned).toHaveLength(3);
    let status: string[];
    try {
      status = await loads(world, 1);
    } finally {
      world.gate.replaced.clear();
    }
    expect(status).toEqual(['FAILED']);
    // A GetObject carries no s3:prefix: reading a key that does not exist yet answers 403.
    expect(world.gate.denied()).toContainEqual(
      expect.objectContaining({
        action: 's3:ListBucket',
        resource: `arn:aws:s3:::${world.aws.functions.get('plan')!.environment.LAKE_BUCKET}`,
      }),
    );
    expect(world.gateway.calls).toContainEqual(
      expect.objectContaining({ action: 's3:GetObject', status: 403 }),
    );
    expect(await world.bucket.list(`${world.prefix}/_loads/`)).toEqual([]);
  }, 120_000);
});
