/**
 * A deployed schedule's plan (the plan Lambda's handler, over S3 on loopback) warns of users
 * learned from webhook events whose identifiers start or end with whitespace, as the CLI's loads
 * do on stderr: one WARN line per run, `learned_identifiers_whitespace`, with the count and never
 * an identifier; for a `changed` run's users and for those an `all` run adds to its list. A run
 * with none such says nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEARNED_WHITESPACE_EVENT } from '#handlers/contract.ts';
import type { LogRecord } from '#test/helpers/log-lines.ts';
import { type PlanWorld, planLogged, startPlanWorld } from '#test/helpers/plan-handler-world.ts';

const PADDED = [' padded-lead', 'padded-trail\t'];

let world: PlanWorld;
const receive = (identifier: string, at: string) => world.receive(identifier, at);

const plan = async (schedule: string, scheduledTime: string, users?: 'changed') =>
  (await planLogged(schedule, scheduledTime, users)).lines;

const warnings = (lines: LogRecord[]) => lines.filter((l) => l.message === LEARNED_WHITESPACE_EVENT);

beforeAll(async () => {
  world = await startPlanWorld('plan-learned-whitespace');
}, 60_000);

afterAll(async () => {
  await world?.close();
});

describe('the deployed plan and learned identifiers with surrounding whitespace', () => {
  it('says nothing when no learned identifier has any', async () => {
    await receive('plain-user', '2026-12-01T08:00:00.000Z');
    const lines = await plan('hourly', '2026-12-01T09:00:00.000Z', 'changed');
    expect(lines.some((l) => l.message === 'planned')).toBe(true);
    expect(warnings(lines)).toEqual([]);
  });

  it('warns once, counted, without the identifiers, for a changed run and for an all run', async () => {
    for (const identifier of PADDED) await receive(identifier, '2026-12-01T09:30:00.000Z');
    for (const lines of [
      await plan('hourly', '2026-12-01T10:00:00.000Z', 'changed'),
      await plan('daily', '2026-12-02T03:00:00.000Z'),
    ]) {
      const found = warnings(lines);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({
        level: 'WARN',
        event: LEARNED_WHITESPACE_EVENT,
        users: 2,
        detail:
          '2 identifier(s) of the users learned from webhook events start or end with whitespace; they are loaded exactly as written (a different user from the same identifier without it)',
      });
      const text = JSON.stringify(lines);
      expect(text).not.toContain('padded-lead');
      expect(text).not.toContain('padded-trail');
    }
  });
});
