/**
 * Progress of a long load on stderr: users done/total, requests, rows and rates. On a
 * terminal it redraws one line; otherwise (CI, a log file) it prints a line every few seconds.
 * Counts only: never an identifier or a value.
 */
import type { UserResult } from '#core/load-user.ts';

export interface ProgressCounters {
  users: number;
  failedUsers: number;
  rows: number;
}

export class Progress {
  readonly counters: ProgressCounters = { users: 0, failedUsers: 0, rows: 0 };
  readonly #startedAt = Date.now();
  #timer: NodeJS.Timeout | undefined;
  readonly #tty: boolean;

  constructor(
    private readonly total: number,
    private readonly requests: () => number,
    private readonly out: NodeJS.WriteStream = process.stderr,
    enabled = true,
  ) {
    this.#tty = Boolean(out.isTTY);
    if (enabled) {
      this.#timer = setInterval(() => this.#print(), this.#tty ? 500 : 5000);
      this.#timer.unref();
    }
  }

  /** Users an earlier attempt of a resumed load staged: done already. */
  onStaged = (users: number): void => {
    this.counters.users += users;
  };

  onUser = (result: UserResult): void => {
    this.counters.users++;
    // Endpoint symptoms are not counted: the batch may yet excuse them (endpoint_unavailable).
    if (result.outcomes.some((o) => o.status === 'failed' && o.endpoint === undefined))
      this.counters.failedUsers++;
    this.counters.rows += result.rows.length;
  };

  line(): string {
    const seconds = Math.max((Date.now() - this.#startedAt) / 1000, 0.001);
    const requests = this.requests();
    const c = this.counters;
    return (
      `users ${c.users}/${this.total}` +
      (c.failedUsers ? ` (${c.failedUsers} failed)` : '') +
      ` · requests ${requests} (${(requests / seconds).toFixed(1)}/s)` +
      ` · rows ${c.rows} (${Math.round(c.rows / seconds)}/s) · ${seconds.toFixed(0)}s`
    );
  }

  #print(): void {
    if (this.#tty) this.out.write(`\r\x1b[2K${this.line()}`);
    else this.out.write(`${this.line()}\n`);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#timer && this.#tty) this.out.write('\r\x1b[2K');
    this.#timer = undefined;
  }
}
