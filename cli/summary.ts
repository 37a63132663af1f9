/** The end-of-load summary: a table for people, the same facts as JSON for machines. */
import type { UserConcurrency } from '#core/adaptive-concurrency.ts';
import type { ChangedSources } from '#core/changed-users.ts';
import type { LoadMarker } from '#core/commit.ts';
import { type FailureReason, reasonWords } from './failure-reasons.ts';
import { displayWidth, padDisplay } from './text-width.ts';

export interface LoadSummary {
  readonly loadId: string;
  readonly dest: string;
  readonly dt: string;
  readonly users: number;
  readonly failedUserCount: number;
  readonly failedUsers: readonly string[];
  /** Why they failed: failed `user_loads` rows grouped by error code, most users first. */
  readonly failureReasons?: readonly FailureReason[];
  /** Requests of the whole load: with a resumed load, its earlier attempts' too. */
  readonly requests: number;
  /** A resumed load: the requests this run made (absent when the load was not resumed). */
  readonly requestsThisRun?: number;
  /**
   * Retries this run made: the batches record no retries, so an earlier attempt's are not known.
   * The text line therefore gives a resumed load's requests and retries both for this run.
   */
  readonly retries: number;
  /** A resumed load: the same as `retries`, named as `requestsThisRun` is (absent when not resumed). */
  readonly retriesThisRun?: number;
  readonly seconds: number;
  /** The users in flight at the end of this run: adaptive or set (absent when not known). */
  readonly userConcurrency?: UserConcurrency;
  readonly tables: readonly { table: string; rows: number; files: number; bytes: number }[];
  readonly schemaVersion: number;
  readonly schemaChanges: LoadMarker['schemaChanges'];
  /** Bare NaN / Infinity tokens loaded as null (token kept in the column's text variant). */
  readonly nonFiniteValues: number;
  /** Resources found unusable: not loaded for anybody, users not failed for them. */
  readonly endpointFindings: LoadMarker['endpointFindings'];
  /**
   * Webhook event objects that could not be read (damaged, edited by hand, a user or task id the
   * receiver refuses): set aside, kept in the lake, not committed; each named by key. Absent when
   * there were none.
   */
  readonly unreadableEvents?: readonly { key: string; problem: string }[];
  /**
   * Webhook events committed with the load whose task field named no task id
   * (`webhook_events.task_id_problem`): their users were loaded, no task fetched. The commit
   * Lambda's `committed` line and its TaskIdProblemEvents metric carry the same count.
   */
  readonly taskIdProblemEvents: number;
  /**
   * Tables this load fed at under the quiet fraction of their trailing median over earlier loads
   * of its series (lambdas/core/quality.ts, default settings: `status` judges with the stack's).
   * `[]` when the load was judged and none was quiet; absent when it was not judged (the earlier
   * loads could not be read).
   */
  readonly quietFeeds?: readonly QuietFeedSummary[];
  /**
   * The feed tables judged against their trailing median (enough earlier loads of the series and
   * at least `minExpectedRows` rows expected): a table not named here was too new or too small to
   * judge. Present with `quietFeeds`.
   */
  readonly judgedFeeds?: readonly string[];
  /**
   * A `--users changed` load capped by `--max-users-per-run`: the users with new webhook events
   * (and their events) it left for the next changed load. Absent when it took every one.
   */
  readonly changedUsersDeferred?: {
    readonly users: number;
    readonly events: number;
    /** Of `events`, those another load had committed already (absent: none). */
    readonly committedEarlier?: number;
  };
  /**
   * A `--users changed` load: where its users came from (`ChangedSources` of its report) and the
   * webhook events its commit committed (`events.count`: an uncapped load commits every event
   * new at its commit, received since its selection too). Absent for other loads, and for
   * reports written before it was kept.
   */
  readonly changedUsers?: ChangedSources & { readonly eventsCommitted: number };
  readonly exitCode: number;
}

/** Exit codes of `load` (README, "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** Nothing committed. */
  nothingCommitted: 1,
  /** Committed; some users failed (user_loads says why). */
  usersFailed: 3,
  /** Committed; a resource was found unusable and disabled (a config fix, not a retry). */
  resourceDisabled: 4,
  /** Committed; both of the above. */
  usersFailedAndResourceDisabled: 5,
  /**
   * Not committed, but some of its parts were published (invisible to the documented reading
   * paths); a re-run of the load id finishes it, `verify --fix --discard-resumable` removes them.
   */
  commitIncomplete: 6,
  /** Interrupted (SIGINT, 128 + 2 as shells report it): nothing committed, staged batches kept for a resume. */
  interrupted: 130,
  /** Terminated (SIGTERM, 128 + 15): as 130. */
  terminated: 143,
} as const;

export function exitCodeOf(marker: Pick<LoadMarker, 'failedUserCount' | 'endpointFindings'>): number {
  const disabled = marker.endpointFindings.length > 0;
  if (marker.failedUserCount > 0) return disabled ? EXIT.usersFailedAndResourceDisabled : EXIT.usersFailed;
  return disabled ? EXIT.resourceDisabled : EXIT.ok;
}

export function summarize(
  marker: LoadMarker,
  extra: {
    dest: string;
    retries: number;
    seconds: number;
    exitCode: number;
    failureReasons?: readonly FailureReason[];
    requestsThisRun?: number;
    userConcurrency?: UserConcurrency;
    /**
     * Tables earlier loads of the lake had that this load may have written none of (the feed
     * tables its quality judgement compared): shown with 0 rows, so a feed that went empty is
     * in the table, not missing from it.
     */
    knownTables?: readonly string[];
  },
): LoadSummary {
  const byTable = new Map<string, { table: string; rows: number; files: number; bytes: number }>();
  for (const table of extra.knownTables ?? []) byTable.set(table, { table, rows: 0, files: 0, bytes: 0 });
  for (const f of marker.files) {
    const t = byTable.get(f.table) ?? { table: f.table, rows: 0, files: 0, bytes: 0 };
    t.rows += f.rows;
    t.files += 1;
    t.bytes += f.bytes;
    byTable.set(f.table, t);
  }
  return {
    loadId: marker.loadId,
    dest: extra.dest,
    dt: marker.dt,
    users: marker.users,
    failedUserCount: marker.failedUserCount,
    failedUsers: marker.failedUsers,
    failureReasons: extra.failureReasons ?? [],
    requests: marker.requests,
    ...(extra.requestsThisRun === undefined ? {} : { requestsThisRun: extra.requestsThisRun }),
    retries: extra.retries,
    ...(extra.requestsThisRun === undefined ? {} : { retriesThisRun: extra.retries }),
    seconds: Math.round(extra.seconds * 10) / 10,
    ...(extra.userConcurrency === undefined ? {} : { userConcurrency: extra.userConcurrency }),
    tables: [...byTable.values()].sort((a, b) => a.table.localeCompare(b.table)),
    schemaVersion: marker.schemaVersion,
    schemaChanges: marker.schemaChanges,
    // Markers written before this count existed carry none.
    nonFiniteValues: marker.nonFiniteValues ?? 0,
    endpointFindings: marker.endpointFindings,
    ...(marker.events?.unreadable === undefined || marker.events.unreadable.length === 0
      ? {}
      : { unreadableEvents: marker.events.unreadable }),
    // Reports written before it was counted carry none.
    taskIdProblemEvents: marker.events?.taskIdProblemEvents ?? 0,
    // A re-run's report keeps its first run's deferral: that run's news, not this one's.
    ...(marker.changed?.deferred === undefined || marker.changed.rerun === true
      ? {}
      : { changedUsersDeferred: marker.changed.deferred }),
    ...(marker.changed?.sources === undefined
      ? {}
      : { changedUsers: { ...marker.changed.sources, eventsCommitted: marker.events?.count ?? 0 } }),
    exitCode: extra.exitCode,
  };
}

/**
 * Where a changed load's users came from, in the words of its dry run and start line (counted
 * again at the commit), and the events this load committed.
 */
export function changedSourcesLine(c: NonNullable<LoadSummary['changedUsers']>): string {
  const who = changedUsersWords(
    c.usersWithEvents + c.retriedUsers,
    c.eventsSelected,
    c.retriedUsers,
    // Reports written before the events committed earlier were counted: the users alone.
    c.eventsCommittedEarlier === undefined
      ? { users: c.usersOnlyWithEventsCommittedEarlier }
      : { events: c.eventsCommittedEarlier, users: c.usersOnlyWithEventsCommittedEarlier },
  );
  return `Users: ${who}; ${c.eventsCommitted} webhook event(s) committed with this load`;
}

/**
 * Of a changed load's events (new to its schedule), those another load had committed already,
 * and of its users taken for events, those with no other event (`ChangedSources`). `events`
 * absent: not counted (a report written before it was).
 */
export interface CommittedEarlier {
  readonly events?: number;
  readonly users: number;
}

/**
 * Who a changed load takes: the users of its events, and apart from them the users retried
 * once because the last changed load failed them or switched a resource off (they have no new
 * event: counting them as the events' users misread the line). "New" events are new to the lake:
 * the events another load committed already (received while it ran) are counted apart, and the
 * users who have only those are counted as users, so no count reads as another's.
 */
export function changedUsersWords(
  users: number,
  events: number,
  retried: number,
  earlier: CommittedEarlier = { events: 0, users: 0 },
): string {
  const withEvents = users - retried;
  const retriedWords = `${retried} user(s) retried once (the last changed load failed them, or switched a resource off for them)`;
  if (withEvents === 0) return retriedWords;
  const fresh = earlier.events === undefined ? undefined : events - earlier.events;
  const eventsWords =
    fresh === undefined
      ? `${events} webhook event(s) its schedule had not seen`
      : fresh === events
        ? `${events} new webhook event(s)`
        : fresh === 0
          ? `${events} webhook event(s) an earlier load had committed already`
          : `${fresh} new webhook event(s) and ${events - fresh} webhook event(s) an earlier load had committed already`;
  const onlyEarlier =
    earlier.users === 0 || fresh === 0
      ? ''
      : ` (${earlier.users} of these ${withEvents} users ${earlier.users === 1 ? 'has' : 'have'} no new event, only events an earlier load committed)`;
  const withEventsWords = `the ${withEvents} users of ${eventsWords}${onlyEarlier}`;
  return retried === 0 ? withEventsWords : `${withEventsWords} and ${retriedWords}`;
}

/**
 * The users and events a capped changed load left for the next one: events an earlier load had
 * committed counted apart from the new ones (new to the lake, still to commit), as the load's
 * `Users:` words count them.
 */
export function deferredWords(
  d: { users: number; events: number; committedEarlier?: number },
  /** `N more user(s)`: said where the users taken were just counted. */
  more = false,
): string {
  const earlier = d.committedEarlier ?? 0;
  const who = `${d.users}${more ? ' more' : ''} user(s) with ${d.events - earlier} new webhook event(s)`;
  return earlier === 0 ? who : `${who} and ${earlier} webhook event(s) an earlier load had committed already`;
}

/** Whether a cap left events another load had committed: none of them, some, or every one. */
export function deferredCommitted(d: { events: number; committedEarlier?: number }): 'none' | 'some' | 'all' {
  const earlier = d.committedEarlier ?? 0;
  return earlier === 0 ? 'none' : earlier < d.events ? 'some' : 'all';
}

const DEFERRED_COMMIT_WORDS = {
  none: 'their events not committed yet',
  some: 'the new events not committed yet',
  all: 'their events committed already',
} as const;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  // A loop, not Math.max(...cells): spreading a very long table overflows the call stack.
  const widths = header.map((h, i) =>
    rows.reduce((w, r) => Math.max(w, displayWidth(r[i] ?? '')), displayWidth(h)),
  );
  // A `-` (no value: a table not judged) neither makes a column text nor numeric, so a numbers
  // column with one stays right-aligned, its `-` under the numbers' last digit.
  const isNumber = (cell: string) => /^[\d.,]+( [KMG]?i?B)?$/.test(cell);
  const numeric = header.map((_, i) => {
    const cells = rows.map((r) => r[i] ?? '').filter((c) => c !== '-');
    return cells.length > 0 && cells.every(isNumber);
  });
  const fmt = (cells: readonly string[]) =>
    cells
      .map((c, i) => padDisplay(c, widths[i]!, numeric[i]))
      .join('  ')
      .trimEnd();
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

export function formatSummary(s: LoadSummary): string {
  const lines: string[] = [];
  const parts: string[] = [];
  if (s.failedUserCount > 0) parts.push(`${s.failedUserCount} of ${s.users} users failed`);
  const disabled = s.endpointFindings.length;
  if (disabled > 0) parts.push(`${disabled} resource${disabled === 1 ? '' : 's'} disabled`);
  const status = parts.length === 0 ? 'committed' : `committed with ${parts.join(' and ')}`;
  lines.push(`Load ${s.loadId} ${status} to ${s.dest} (dt=${s.dt}) in ${s.seconds}s`);
  // Both figures over the same run: retries are known for this run only (LoadSummary.retries).
  lines.push(
    s.requestsThisRun === undefined
      ? `${s.users} users · ${s.requests} requests · ${s.retries} retries`
      : `${s.users} users · this run: ${s.requestsThisRun} requests · ${s.retries} retries (the load's attempts together: ${s.requests} requests)`,
  );
  if (s.changedUsers !== undefined) lines.push(changedSourcesLine(s.changedUsers));
  lines.push('');
  const total = s.tables.reduce(
    (t, r) => ({ rows: t.rows + r.rows, files: t.files + r.files, bytes: t.bytes + r.bytes }),
    { rows: 0, files: 0, bytes: 0 },
  );
  lines.push(
    renderTable(
      ['table', 'rows', 'files', 'bytes'],
      [
        ...s.tables.map((t) => [t.table, String(t.rows), String(t.files), formatBytes(t.bytes)]),
        ['total', String(total.rows), String(total.files), formatBytes(total.bytes)],
      ],
    ),
  );
  if (s.schemaChanges.length > 0) {
    lines.push('');
    lines.push(`Schema version ${s.schemaVersion}: ${s.schemaChanges.length} change(s)`);
    lines.push(...describeChanges(s.schemaChanges));
  }
  if (s.nonFiniteValues > 0) {
    lines.push('');
    lines.push(
      `${s.nonFiniteValues} NaN/Infinity value(s) loaded as null; each token is kept in its column's __v_text variant`,
    );
  }
  if (disabled > 0) {
    lines.push('');
    lines.push(
      `Resources disabled (${disabled}; not loaded for anybody this time, users not failed for them, previous data kept):`,
    );
    for (const f of s.endpointFindings) lines.push(`  ${f.message}`);
  }
  if (s.unreadableEvents !== undefined) {
    lines.push('');
    lines.push(
      `Webhook events set aside (${s.unreadableEvents.length}; unreadable, or naming a user or task id the receiver refuses; kept in the lake and not committed; repair or remove them, then the next load takes them):`,
    );
    for (const u of s.unreadableEvents.slice(0, 20)) lines.push(`  ${u.problem}`);
    if (s.unreadableEvents.length > 20) lines.push(`  ... and ${s.unreadableEvents.length - 20} more`);
  }
  if (s.taskIdProblemEvents > 0) {
    lines.push('');
    lines.push(
      `${s.taskIdProblemEvents} webhook event(s) committed naming no usable task id (a task field that is no id, or a task event with none): their users were loaded, no task fetched for them (the reason is in webhook_events.task_id_problem)`,
    );
  }
  if (s.changedUsersDeferred !== undefined) {
    const d = s.changedUsersDeferred;
    lines.push('');
    lines.push(
      `Deferred to the next changed load: ${deferredWords(d)}, over --max-users-per-run (not loaded, ${DEFERRED_COMMIT_WORDS[deferredCommitted(d)]}; the next 'load --users changed' takes them first)`,
    );
  }
  if (s.quietFeeds !== undefined && s.quietFeeds.length > 0) {
    lines.push('');
    lines.push(
      `Quiet feeds (${s.quietFeeds.length}; far fewer rows than the trailing median of earlier loads of this series; 'paylink-loader status' has the details):`,
    );
    for (const q of s.quietFeeds)
      lines.push(
        `  ${q.table}: ${q.rows} rows, trailing median ${q.trailingMedian}${q.since === undefined ? '' : `, quiet since load ${q.since}`}`,
      );
  }
  if (s.failedUserCount > 0) {
    lines.push('');
    lines.push(`Failed users (${s.failedUserCount}; details per resource in the user_loads table):`);
    if (s.failureReasons !== undefined && s.failureReasons.length > 0) {
      const table = renderTable(
        ['reason', 'users', 'resources', 'meaning'],
        s.failureReasons.map((r) => [r.code, String(r.users), String(r.units), reasonWords(r.code)]),
      );
      lines.push(...table.split('\n').map((line) => `  ${line}`));
    }
    for (const u of s.failedUsers.slice(0, 20)) lines.push(`  ${JSON.stringify(u)}`);
    if (s.failedUserCount > 20) lines.push(`  ... and ${s.failedUserCount - 20} more`);
  }
  return lines.join('\n');
}

/**
 * Schema changes grouped per table: a new table is one line with its column count; columns
 * added to an existing table are named; variants are always named, since they mean some
 * values did not fit their column's type.
 */
export function describeChanges(changes: LoadSummary['schemaChanges']): string[] {
  const newTables = new Set(changes.filter((c) => c.kind === 'new_table').map((c) => c.table));
  const perTable = new Map<string, { columns: string[]; variants: string[]; shapes: string[] }>();
  for (const c of changes) {
    if (c.kind === 'new_table') continue;
    const entry = perTable.get(c.table) ?? { columns: [], variants: [], shapes: [] };
    if (c.kind === 'shape_change')
      entry.shapes.push(`${c.field} was ${article(c.was)}, now ${article(c.now)} (${c.column}); both kept`);
    else if (c.kind === 'new_variant')
      entry.variants.push(`${c.column} (${c.type}, values of ${c.variantOf} that did not fit)`);
    else if (c.kind === 'json_column')
      entry.shapes.push(
        `${c.field ?? '(fields without a column of their own)'} kept as JSON text in ${c.column} (${c.reason.replace('_', ' ')})`,
      );
    else entry.columns.push(`${c.column} ${c.type}`);
    perTable.set(c.table, entry);
  }
  const lines: string[] = [];
  for (const table of [...new Set([...newTables, ...perTable.keys()])].sort()) {
    const entry = perTable.get(table) ?? { columns: [], variants: [], shapes: [] };
    if (newTables.has(table))
      lines.push(`  + table ${table} (${entry.columns.length + entry.variants.length} columns)`);
    else if (entry.columns.length > 0) lines.push(`  ~ table ${table}: + ${entry.columns.join(', ')}`);
    for (const v of entry.variants) lines.push(`      variant ${v}`);
    for (const shape of entry.shapes) lines.push(`  ! table ${table}: field ${shape}`);
  }
  return lines;
}

function article(shape: string): string {
  return `${/^[aeiou]/.test(shape) ? 'an' : 'a'} ${shape}`;
}

/** A quiet feed of a load's summary (`load --json` quietFeeds), as `status` shows it. */
export interface QuietFeedSummary {
  readonly table: string;
  readonly rows: number;
  /** Rounded as status rounds it (2 decimals). */
  readonly trailingMedian: number;
  /** The first load of the quiet run (this one when it starts here). */
  readonly since?: string;
}
