import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fitFields, formatDuration, Progress } from '#cli/progress.ts';
import { displayWidth } from '#cli/text-width.ts';
import type { UserResult } from '#core/load-user.ts';
import { answeredUser, failedBy404, userResult as user } from '#test/helpers/user-results.ts';

/** A progress of `total` users with `requests` made, drawn nowhere, on a clock the test moves (ms). */
function clocked(total: number, requests: number, start = 0) {
  const clock = { now: start };
  return {
    progress: new Progress(
      total,
      () => requests,
      process.stderr,
      false,
      () => clock.now,
    ),
    clock,
  };
}

/** A progress of a 100,000-user load, 40 s in, 12,345 users done (7 failed). */
function midLoad(): Progress {
  const { progress, clock } = clocked(100_000, 98_765, 1_000_000);
  for (let i = 0; i < 12_345; i++) progress.onUser(user(3, i < 7));
  clock.now += 40_000;
  return progress;
}

describe('the progress line', () => {
  it('shows users, failures, ETA from the pace so far, and rates', () => {
    expect(midLoad().line()).toBe(
      'users 12345/100000 (12%) · 7 failed · ETA 4m44s · 309 users/s · requests 98765 (2469/s) · rows 37035 (926/s) · 40s',
    );
  });

  it('shows the users in flight, adaptive or set, as they are at each redraw', () => {
    const progress = midLoad();
    let users = 37;
    progress.showConcurrency(() => ({ mode: 'adaptive', users, latencyMs: 120 }));
    expect(progress.line()).toBe(
      'users 12345/100000 (12%) · 7 failed · ETA 4m44s · 309 users/s · concurrency 37 (adaptive, 120 ms a request) · requests 98765 (2469/s) · rows 37035 (926/s) · 40s',
    );
    users = 52;
    expect(progress.line()).toContain('concurrency 52 (adaptive, 120 ms a request)');
    progress.showConcurrency(() => ({ mode: 'set', users: 8 }));
    expect(progress.line()).toContain(' · concurrency 8 (set) · ');
    // On a narrow terminal it goes after the ETA, before the request rate; kept over users/s and rows.
    expect(progress.line(100)).toBe(
      'users 12345/100000 (12%) · 7 failed · ETA 4m44s · concurrency 8 (set) · requests 98765 (2469/s)',
    );
  });

  it('never exceeds the width it is given, dropping the least useful fields first', () => {
    const progress = midLoad();
    for (let width = 1; width <= 140; width++) {
      const line = progress.line(width);
      expect(displayWidth(line), `width ${width}: ${line}`).toBeLessThanOrEqual(width);
    }
    expect(progress.line(60)).toBe('users 12345/100000 (12%) · 7 failed · ETA 4m44s');
    expect(progress.line(80)).toBe(
      'users 12345/100000 (12%) · 7 failed · ETA 4m44s · requests 98765 (2469/s)',
    );
    expect(progress.line(24)).toBe('users 12345/100000 (12%)');
    expect(progress.line(12)).toBe('users 12345…');
  });

  it("gives no ETA before there is a pace, and none for an earlier run's staged users", () => {
    const { progress, clock } = clocked(40, 0);
    progress.onStaged(4);
    clock.now = 5_000;
    expect(progress.line()).toBe('users 4/40 (10%) · 0.0 users/s · requests 0 (0.0/s) · rows 0 (0.0/s) · 5s');
    // Ten users of this run, but all within the first second: no pace measured yet.
    for (let i = 0; i < 10; i++) progress.onUser(user(1));
    expect(progress.line()).not.toContain('ETA');
    // Six more over the 3 s after the first: 15 users done since the first in 3 s, 20 left: 4 s.
    for (let i = 0; i < 6; i++) {
      clock.now += 500;
      progress.onUser(user(1));
    }
    expect(progress.line()).toContain('users 20/40 (50%) · ETA 4s');
  });

  it('paces the ETA from the first users done, not from the start: a slow first answer is no trend', () => {
    // 20,000 users at ~25 users/s once answers flow (a 15-minute load); the first answer took 5 s.
    const { progress, clock } = clocked(20_000, 0);
    clock.now = 5_000;
    for (let i = 0; i < 100; i++) {
      progress.onUser(user(1));
      clock.now += 40;
    }
    const eta = /ETA (\d+)m(\d+)s/.exec(progress.line());
    expect(eta, progress.line()).not.toBeNull();
    const seconds = Number(eta![1]) * 60 + Number(eta![2]);
    // (20,000 - 100) / 25 per second = 796 s; from the start it would have said 1,791 s.
    expect(seconds).toBeGreaterThan(780);
    expect(seconds).toBeLessThan(820);
  });

  it('counts users failed by endpoint symptoms, and takes them back when the resource is found unusable', () => {
    const outcome = (resource: string, status: string, endpoint: boolean) => ({
      resource,
      status,
      rows: 0,
      requests: 1,
      errorCode: status === 'failed' ? 'http_404' : null,
      errorMessage: null,
      httpStatus: status === 'failed' ? 404 : null,
      ...(endpoint ? { endpoint: { resource, symptom: 'not_found' } } : {}),
    });
    const result = (...outcomes: ReturnType<typeof outcome>[]) =>
      ({ ...user(0), outcomes }) as unknown as UserResult;
    const progress = new Progress(100, () => 0, process.stderr, false);
    progress.onUser(result(outcome('orders', 'failed', true)));
    progress.onUser(result(outcome('orders', 'failed', true), outcome('accounts', 'failed', true)));
    progress.onUser(result(outcome('accounts', 'failed', false)));
    progress.onUser(result(outcome('accounts', 'ok', false)));
    expect(progress.counters.failedUsers).toBe(3);
    // orders comes back endpoint_unavailable: the user failed by orders alone was not a failure.
    progress.onUser(result(outcome('orders', 'endpoint_unavailable', false)));
    expect(progress.counters.failedUsers).toBe(2);
    progress.onUser(result(outcome('orders', 'failed', true)));
    expect(progress.counters.failedUsers).toBe(2);
  });

  it("takes back users whose known task ids all 404 once somebody's ids answered, as the summary does", () => {
    const staleTasks = (identifier: string) =>
      failedBy404(identifier, 'tasks', '/task/{id}/details', {
        extra: { missingTaskIds: [`gone-${identifier}`] },
      });
    const answered = answeredUser('fine', 'tasks', 2);
    const progress = new Progress(100, () => 0, process.stderr, false);
    progress.onUser(staleTasks('a'));
    progress.onUser(staleTasks('b'));
    progress.onUser(user(1, true));
    // Not known yet: the endpoint may be missing (they would be endpoint_unavailable) or not.
    expect(progress.counters.failedUsers).toBe(3);
    // An id answered: the batch settles their units as ok/task_not_found, not failed.
    progress.onUser(answered);
    expect(progress.counters.failedUsers).toBe(1);
    progress.onUser(staleTasks('c'));
    expect(progress.counters.failedUsers).toBe(1);
    expect(progress.line()).toContain('1 failed');
  });

  it('takes back users whose parent records all vanished mid-load once the child endpoint answered somebody (ok/parent_not_found)', () => {
    const goneAccount = (identifier: string) =>
      failedBy404(identifier, 'action_history', '/pay-link/action-history', {
        rows: 1,
        extra: { missingParents: { resource: 'accounts', field: '_id', keys: [`acc-${identifier}`] } },
      });
    // The same 404 without vanished parents (a unit that stopped at a 404 of another kind) stays.
    const plain = (identifier: string) =>
      failedBy404(identifier, 'action_history', '/pay-link/action-history', { rows: 1 });
    const answered = answeredUser('fine', 'action_history', 2);
    const progress = new Progress(100, () => 0, process.stderr, false);
    progress.onUser(goneAccount('a'));
    progress.onUser(plain('b'));
    expect(progress.counters.failedUsers).toBe(2);
    progress.onUser(answered);
    expect(progress.counters.failedUsers).toBe(1);
    progress.onUser(goneAccount('c'));
    expect(progress.counters.failedUsers).toBe(1);
  });

  it('redraws on a terminal within its width, read at every redraw', async () => {
    let text = '';
    const tty = Object.assign(
      new Writable({
        write(chunk, _encoding, done) {
          text += String(chunk);
          done();
        },
      }),
      { isTTY: true, columns: 40 },
    ) as unknown as NodeJS.WriteStream;
    const progress = new Progress(100_000, () => 5, tty);
    progress.onUser(user(1));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    (tty as { columns: number }).columns = 20;
    await new Promise((resolve) => setTimeout(resolve, 600));
    progress.stop();
    const frames = text.split('\r\x1b[2K').filter(Boolean);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    expect(frames.every((f) => displayWidth(f) <= 39)).toBe(true);
    expect(frames.at(-1)).toMatch(/^users 1\/100000 \(0%\)$|^users 1\/100000 \(…$/);
    expect(displayWidth(frames.at(-1)!)).toBeLessThanOrEqual(19);
    expect(text.endsWith('\r\x1b[2K')).toBe(true);
  });
});

describe('a line logged while the progress runs', () => {
  it('clears a progress line drawn on a terminal first, and is written as it is elsewhere', async () => {
    const sink = (isTTY: boolean) => {
      const stream = Object.assign(
        new Writable({
          write(chunk, _encoding, done) {
            stream.text += String(chunk);
            done();
          },
        }),
        { isTTY, columns: 80, text: '' },
      );
      return stream;
    };
    const tty = sink(true);
    const progress = new Progress(10, () => 0, tty as unknown as NodeJS.WriteStream);
    progress.log('before any redraw\n');
    await new Promise((resolve) => setTimeout(resolve, 600));
    progress.log('load L into ./lake: 10 users in 1 batch(es)\n');
    progress.stop();
    expect(tty.text).toMatch(
      /^before any redraw\n\r\x1b\[2Kusers 0\/10 \(0%\)[^\n]*\r\x1b\[2Kload L into \.\/lake: 10 users in 1 batch\(es\)\n/,
    );

    const file = sink(false);
    const quiet = new Progress(10, () => 0, file as unknown as NodeJS.WriteStream, false);
    quiet.log('load L\n');
    expect(file.text).toBe('load L\n');
  });
});

describe('fitFields and formatDuration', () => {
  it('cut a single field that is too wide with an ellipsis, counting wide characters', () => {
    expect(fitFields([{ text: '山田太郎山田太郎', keep: 1 }], 7)).toBe('山田太…');
    expect(fitFields([{ text: 'abc', keep: 1 }], 0)).toBe('');
  });

  it('write seconds, minutes and hours short', () => {
    expect([0.4, 45, 185, 7440].map(formatDuration)).toEqual(['0s', '45s', '3m05s', '2h04m']);
  });
});
