/**
 * Progress of a long load on stderr: users done/total, failures, ETA, rates of users, requests
 * and rows. On a terminal it redraws one line fitted to the terminal's width (read at every
 * redraw, so a resized window is followed): fields are dropped, least useful first, and only
 * when the users count alone does not fit is it cut. A line wider than the terminal would wrap,
 * and every redraw would leave its first row behind. Elsewhere (CI, a log file) it prints the
 * whole line every few seconds. Counts only: never an identifier or a value.
 */
import { formatUserConcurrency, type UserConcurrency } from '#core/adaptive-concurrency.ts';
import { ENDPOINT_UNAVAILABLE } from '#core/endpoint-health.ts';
import type { UnitOutcome, UserResult } from '#core/load-user.ts';
import { displayWidth } from './text-width.ts';

/**
 * A failed unit of an endpoint symptom, as the progress remembers it: the resource the symptom
 * is on, marked (after \u0001) when every key the unit fans out over (known task ids, parent
 * records) answered 404: excused once that endpoint answers somebody.
 */
function unitKey(outcome: UnitOutcome): string {
  const resource = outcome.endpoint!.resource;
  const keyed = outcome.missingTaskIds !== undefined || outcome.missingParents !== undefined;
  return keyed ? `${resource}\u0001stale` : resource;
}

export interface ProgressCounters {
  users: number;
  failedUsers: number;
  rows: number;
}

/** One field of the line; `keep` orders what is dropped first (lowest) when space is short. */
interface Field {
  readonly text: string;
  readonly keep: number;
}

const SEPARATOR = ' · ';
/** The ETA's pace is this run's over the last minute. */
const ETA_WINDOW_MS = 60_000;
/** No ETA before this many users of this run are done and this long was measured. */
const ETA_MIN_USERS = 10;
const ETA_MIN_SPAN_MS = 3_000;

/** `45s`, `3m05s`, `2h04m`: short enough for a narrow terminal. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function rate(count: number, seconds: number): string {
  const r = count / seconds;
  return r >= 100 ? String(Math.round(r)) : r.toFixed(1);
}

/**
 * The fields in display order, fitted to `width` columns: the lowest `keep` is dropped until
 * the line fits; a line of the users field alone that is still too wide is cut with `…`.
 */
export function fitFields(fields: readonly Field[], width: number): string {
  const kept = [...fields];
  const join = () => kept.map((f) => f.text).join(SEPARATOR);
  while (kept.length > 1 && displayWidth(join()) > width) {
    const lowest = kept.reduce((low, f) => (f.keep < low.keep ? f : low));
    kept.splice(kept.indexOf(lowest), 1);
  }
  const line = join();
  if (displayWidth(line) <= width) return line;
  if (width <= 0) return '';
  let cut = '';
  for (const char of line) {
    if (displayWidth(`${cut}${char}…`) > width) break;
    cut += char;
  }
  return `${cut}…`;
}

export class Progress {
  readonly counters: ProgressCounters = { users: 0, failedUsers: 0, rows: 0 };
  readonly #startedAt: number;
  readonly #now: () => number;
  /** Users an earlier attempt staged: done, but not part of this run's rate. */
  #staged = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #tty: boolean;
  /** A progress line is on the terminal's current row (drawn since the last `log`). */
  #drawn = false;
  /** (time ms, users done by this run), one a second at most, the last ETA_WINDOW_MS of them. */
  readonly #samples: [number, number][] = [];
  /** Resources found unusable (a unit came back endpoint_unavailable). */
  readonly #disabled = new Set<string>();
  /** Resources that answered somebody (a step `ok`): the batch's `EndpointHealth.works`. */
  readonly #works = new Set<string>();
  /**
   * Users counted failed by endpoint symptoms alone, by their failed units (`unitKey`, joined by
   * NUL): each may yet be excused (see `onUser`).
   */
  readonly #provisional = new Map<string, number>();
  /** The users in flight, read at each redraw (adaptive: it changes during the load). */
  #concurrency: (() => UserConcurrency) | undefined;

  constructor(
    private readonly total: number,
    private readonly requests: () => number,
    private readonly out: NodeJS.WriteStream = process.stderr,
    enabled = true,
    now: () => number = Date.now,
  ) {
    this.#now = now;
    this.#startedAt = now();
    this.#tty = Boolean(out.isTTY);
    if (enabled) {
      this.#timer = setInterval(() => this.#print(), this.#tty ? 500 : 5000);
      this.#timer.unref();
    }
  }

  /** Shows the users in flight on the line, read from `read` at each redraw. */
  showConcurrency(read: () => UserConcurrency): void {
    this.#concurrency = read;
  }

  /** Users an earlier attempt of a resumed load staged: done already. */
  onStaged = (users: number): void => {
    this.counters.users += users;
    this.#staged += users;
  };

  onUser = (result: UserResult): void => {
    this.counters.users++;
    this.counters.rows += result.rows.length;
    this.#sample();
    for (const o of result.outcomes)
      if (o.status === ENDPOINT_UNAVAILABLE && !this.#disabled.has(o.resource)) this.#disable(o.resource);
    // `observation` is what the batch's endpoint judge saw of this user (a test may leave it out).
    for (const step of result.observation?.steps ?? [])
      if (step.result === 'ok' && !this.#works.has(step.resource)) this.#work(step.resource);
    const failed = result.outcomes.filter((o) => o.status === 'failed');
    if (failed.length === 0) return;
    // A user failed only by endpoint symptoms (a 404 on a resource, say) is counted, but may yet
    // be excused, as the batch settles such units once the verdict is in: when the resource is
    // found unusable for everybody its units become endpoint_unavailable; when a known-task
    // resource answered somebody's ids, a unit whose ids all 404'd is that user's stale ids
    // (ok, task_not_found); a fan-out child unit whose parents all 404'd and are gone from the
    // parent list fetched again is ok (parent_not_found) at once, and only one staged by an
    // earlier loader version is still settled so. Such users are taken back out of the count, so
    // that the line agrees with the summary.
    if (failed.some((o) => o.endpoint === undefined)) {
      this.counters.failedUsers++;
      return;
    }
    const units = [...new Set(failed.map(unitKey))].sort();
    if (this.#excused(units)) return;
    this.counters.failedUsers++;
    const key = units.join('\u0000');
    this.#provisional.set(key, (this.#provisional.get(key) ?? 0) + 1);
  };

  /** Whether failed units (`unitKey`s) are all excused by the verdicts so far. */
  #excused(units: readonly string[]): boolean {
    return units.every((unit) => {
      const [resource, stale] = unit.split('\u0001') as [string, string | undefined];
      return this.#disabled.has(resource) || (stale !== undefined && this.#works.has(resource));
    });
  }

  /** Takes back the users whose failed units the verdicts now excuse. */
  #settle(): void {
    for (const [key, count] of this.#provisional) {
      if (this.#excused(key.split('\u0000'))) {
        this.counters.failedUsers -= count;
        this.#provisional.delete(key);
      }
    }
  }

  /** A resource found unusable: users failed by its symptoms alone were not failures. */
  #disable(resource: string): void {
    this.#disabled.add(resource);
    this.#settle();
  }

  /** A resource that answered somebody: users whose known task ids all 404'd had stale ids. */
  #work(resource: string): void {
    this.#works.add(resource);
    this.#settle();
  }

  /** Records (time, users done by this run) at most once a second, for the ETA's pace. */
  #sample(): void {
    const now = this.#now();
    const done = this.counters.users - this.#staged;
    const last = this.#samples.at(-1);
    if (last === undefined || now - last[0] >= 1000) this.#samples.push([now, done]);
    while (this.#samples.length > 2 && now - this.#samples[1]![0] >= ETA_WINDOW_MS) this.#samples.shift();
  }

  /**
   * Seconds left at the pace of the last minute (or since this run's first user was done), once
   * there is a pace to speak of: at least ETA_MIN_USERS users done and ETA_MIN_SPAN_MS measured.
   * Measuring from the start instead counted the seconds before the first answers came back
   * and, with many users in flight, promised 7 hours for a 15-minute load.
   */
  #etaSeconds(): number | undefined {
    const first = this.#samples[0];
    const done = this.counters.users - this.#staged;
    if (first === undefined || done < ETA_MIN_USERS || this.counters.users >= this.total) return undefined;
    const span = this.#now() - first[0];
    if (span < ETA_MIN_SPAN_MS || done <= first[1]) return undefined;
    return ((this.total - this.counters.users) * span) / 1000 / (done - first[1]);
  }

  /** The line's fields, most important first in `keep`, in the order they are shown. */
  fields(): Field[] {
    const seconds = Math.max((this.#now() - this.#startedAt) / 1000, 0.001);
    const requests = this.requests();
    const c = this.counters;
    const percent = this.total > 0 ? Math.floor((100 * c.users) / this.total) : 100;
    const done = c.users - this.#staged;
    const fields: Field[] = [{ text: `users ${c.users}/${this.total} (${percent}%)`, keep: 100 }];
    if (c.failedUsers > 0) fields.push({ text: `${c.failedUsers} failed`, keep: 90 });
    const eta = this.#etaSeconds();
    if (eta !== undefined) fields.push({ text: `ETA ${formatDuration(eta)}`, keep: 80 });
    fields.push({ text: `${rate(done, seconds)} users/s`, keep: 50 });
    if (this.#concurrency !== undefined)
      fields.push({ text: formatUserConcurrency(this.#concurrency()), keep: 55 });
    fields.push({ text: `requests ${requests} (${rate(requests, seconds)}/s)`, keep: 60 });
    fields.push({ text: `rows ${c.rows} (${rate(c.rows, seconds)}/s)`, keep: 40 });
    fields.push({ text: formatDuration(seconds), keep: 30 });
    return fields;
  }

  /**
   * The progress line; fitted to `width` columns when given. On a terminal the line is kept one
   * column short of the width: writing the last column leaves some terminals in a pending wrap.
   */
  line(width?: number): string {
    const fields = this.fields();
    return width === undefined ? fields.map((f) => f.text).join(SEPARATOR) : fitFields(fields, width);
  }

  /**
   * Writes a whole line (ending with a newline) on the progress's stream. On a terminal a
   * progress line already drawn is cleared first, so the text never lands after it; the next
   * redraw comes below the text.
   */
  log(text: string): void {
    this.out.write(this.#tty && this.#drawn ? `\r\x1b[2K${text}` : text);
    this.#drawn = false;
  }

  #print(): void {
    if (this.#tty) {
      this.#drawn = true;
      const columns = this.out.columns;
      this.out.write(`\r\x1b[2K${this.line(columns > 1 ? columns - 1 : undefined)}`);
    } else this.out.write(`${this.line()}\n`);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#timer && this.#tty) this.out.write('\r\x1b[2K');
    this.#timer = undefined;
  }
}
