/**
 * The process side of a load id's lease (core/lease.ts): who this run is, whether a holder on
 * this host is still alive, and the heartbeat timer that renews the lease.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { LeaseOwner } from '#core/lease.ts';

/** This CLI process as a lease owner. `command` must not carry secrets (flags only, no values of --secret-id). */
export function cliLeaseOwner(command: string): LeaseOwner {
  return { id: randomUUID(), kind: 'cli', host: hostname(), pid: process.pid, command };
}

/**
 * True for a CLI holder on this host whose process no longer runs: its lease need not be
 * waited out. `kill(pid, 0)` probes without signalling; EPERM means alive (another user's).
 * A process killed (`kill -9`) but not yet reaped by its parent is a zombie, which `kill(pid, 0)`
 * still finds: on Linux its state in /proc/<pid>/stat (`Z`, or `X` while it is torn down; proc(5))
 * says it is dead. Elsewhere (no /proc) a zombie reads as alive until it is reaped. A reused pid
 * reads as alive: the lease then simply runs to its expiry.
 */
export function isAbandonedOnThisHost(owner: LeaseOwner): boolean {
  if (owner.kind !== 'cli' || owner.host !== hostname() || owner.pid === undefined) return false;
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  return isDeadProcessState(owner.pid);
}

/** Whether /proc says `pid` is a zombie or being torn down; false where there is no /proc. */
function isDeadProcessState(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return false;
  }
  // `pid (comm) S ...`: comm may hold spaces and parentheses, so the state follows the last ')'.
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'Z' || state === 'X';
}

/** Calls `renew` every `everyMs` until stopped; the timer never keeps the process alive. */
export function startHeartbeat(renew: () => Promise<void>, everyMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void renew().finally(() => {
      running = false;
    });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
