/**
 * What `status` costs on a big `changed` backlog: a generated `_events/` of N signed events
 * (received through the receiver's own core, spread over `--days` days, two events a user), none
 * seen by the `local` schedule (its state opens at the first day), then the schedule's backlog
 * as status computes it (cli/changed-backlog.ts) at three read limits: 0 (counts from the
 * listing only), the default `--max-event-reads` (10,000), and every event (what the changed
 * load itself reads). Counted: LIST calls (S3: one per 1,000 keys of a partition), event GETs,
 * wall time on the local disk; then the unreadable check on the same cache (the GETs it adds),
 * and one whole `status` command.
 *
 *   node --import tsx bench/changed-backlog.ts [--events 10000,100000] [--days 7] [--quick] [--no-save]
 *
 * Results are appended to bench/results/changed-backlog.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLocalStore } from '#adapters/local-store.ts';
import { BACKLOG_READS_DEFAULT, changedBacklog, sharedEventReads } from '#cli/changed-backlog.ts';
import { changedStateKey } from '#core/changed-users.ts';
import { unreadableEventsWithin } from '#core/event-claims.ts';
import { forEachConcurrent } from '#core/pool.ts';
import type { ObjectStore } from '#core/ports.ts';
import { WEBHOOK } from '#core/webhook.ts';
import { runCli } from '#test/helpers/lake-harness.ts';
import { receiveSigned, webhookEventBody } from '#test/helpers/signed-webhook.ts';
import { integer, markdownTable, seconds } from './lib/format.ts';
import { describeMachine, recordRun } from './lib/history.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string' },
    days: { type: 'string', default: '7' },
    quick: { type: 'boolean', default: false },
    'no-save': { type: 'boolean', default: false },
  },
});
const sizes = (values.events ?? (values.quick ? '2000' : '10000,100000')).split(',').map(Number);
const days = Number(values.days);
const SECRET = 'bench-backlog-secret';
/** S3 returns at most this many keys a LIST page. */
const LIST_PAGE = 1000;

/** A store counting LIST pages (as S3 would page them) and event GETs. */
function counting(store: ObjectStore): { store: ObjectStore; lists: () => number; gets: () => number } {
  let lists = 0;
  let gets = 0;
  return {
    store: {
      ...store,
      description: store.description,
      async list(prefix) {
        const keys = await store.list(prefix);
        lists += Math.max(1, Math.ceil(keys.length / LIST_PAGE));
        return keys;
      },
      async get(key) {
        if (key.startsWith(WEBHOOK.eventsPrefix)) gets++;
        return store.get(key);
      },
    },
    lists: () => lists,
    gets: () => gets,
  };
}

async function generate(lake: string, events: number, start: Date): Promise<number> {
  const store = createLocalStore(lake);
  const spacing = (days * 24 * 3600_000) / events;
  const began = performance.now();
  await forEachConcurrent(
    Array.from({ length: events }, (_, i) => i),
    16,
    async (i) => {
      const at = new Date(start.getTime() + Math.floor(i * spacing));
      const body = webhookEventBody({
        identifier: `user-${i % Math.ceil(events / 2)}`,
        eventTime: at,
        data: { i },
      });
      const outcome = await receiveSigned(body, { store, secret: SECRET, receivedAt: at });
      if (outcome.kind !== 'accepted') throw new Error(`event ${i}: ${outcome.kind}`);
    },
  );
  // The schedule has a state that has seen nothing since the first day: every event is pending.
  await store.put(
    changedStateKey('local'),
    JSON.stringify({ formatVersion: 1, from: start.toISOString().slice(0, 10), dts: {} }),
  );
  return performance.now() - began;
}

const rows: string[][] = [];
const notes: string[] = [];
const startedAt = new Date();
for (const events of sizes) {
  const lake = await mkdtemp(path.join(tmpdir(), 'bench-backlog-'));
  try {
    const now = new Date();
    const start = new Date(now.getTime() - days * 24 * 3600_000 - 3600_000);
    const generatedMs = await generate(lake, events, start);
    notes.push(
      `- ${integer(events)} events generated in ${seconds(generatedMs)} s (receiver core, 16 at a time)`,
    );
    for (const maxReads of [...new Set([0, Math.min(BACKLOG_READS_DEFAULT, events), events])]) {
      const c = counting(createLocalStore(lake));
      const shared = sharedEventReads(c.store);
      const began = performance.now();
      const backlog = await changedBacklog(shared, 'local', now, maxReads);
      const backlogMs = performance.now() - began;
      const getsBefore = c.gets();
      const listsBefore = c.lists();
      const checkBegan = performance.now();
      const check = await unreadableEventsWithin(shared, now.toISOString().slice(0, 10), maxReads);
      const checkMs = performance.now() - checkBegan;
      rows.push([
        integer(events),
        maxReads === events ? `${integer(maxReads)} (all)` : integer(maxReads),
        integer(backlog.events ?? 0),
        `${backlog.complete ? '' : '>='}${integer(backlog.pendingUsers.length)}`,
        integer(listsBefore),
        integer(getsBefore),
        seconds(backlogMs),
        `${integer(c.lists() - listsBefore)} / ${integer(check.checked)} / +${integer(c.gets() - getsBefore)}`,
        seconds(checkMs),
      ]);
    }
    const cliBegan = performance.now();
    const cli = await runCli(['status', '--dest', lake]);
    const cliMs = performance.now() - cliBegan;
    if (cli.code !== 0) throw new Error(`status exited ${cli.code}: ${cli.stderr}`);
    notes.push(
      `- ${integer(events)} events: one whole \`status --dest <lake>\` (default reads) took ${seconds(cliMs)} s`,
    );
  } finally {
    await rm(lake, { recursive: true, force: true });
  }
}

await recordRun('changed-backlog', {
  machine: describeMachine(),
  command: `node --import tsx bench/changed-backlog.ts ${process.argv.slice(2).join(' ')}`.trim(),
  startedAt,
  notes: [
    `- local disk (${tmpdir()}); events over ${days} days (${days + 1} partitions), two events a user; every event pending for the schedule`,
    '- LIST calls counted as S3 pages them (1,000 keys a page, at least one a partition); GETs are event objects read',
    "- the lake has no committed-events record (no load committed), so the unreadable check lists all of _events/; in a lake with one it lists the 35-day window's partitions",
    ...notes,
  ],
  table: markdownTable(
    [
      'events',
      'max reads',
      'pending events',
      'pending users',
      'backlog LIST pages',
      'backlog event GETs',
      'backlog s',
      'unreadable check: LIST pages / read / extra GETs',
      'check s',
    ],
    rows,
  ),
  save: !values['no-save'],
});
