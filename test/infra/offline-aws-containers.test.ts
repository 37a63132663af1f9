/**
 * The offline Lambda containers (test/helpers/offline-lambda.ts), on a handler written here: a
 * container runs its init once and then one invocation at a time, concurrent invocations get
 * their own containers, each invocation's logs are its own, and a recycled or reconfigured
 * function starts cold. The offline AWS runs rely on each of these.
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WarmFunction } from '#test/helpers/offline-lambda.ts';

/** A handler that counts its invocations per container (module state, like a cached client). */
const HANDLER = `
const containerId = process.pid;
let invocations = 0;
console.log('init ' + process.env.GREETING);
export async function handler(event, context) {
  invocations += 1;
  if (event.wait) await new Promise((resolve) => setTimeout(resolve, event.wait));
  console.log('event ' + event.n);
  process.stderr.write('stderr ' + event.n + '\\n');
  if (event.later) setTimeout(() => console.log('left behind by ' + event.n), 0);
  if (event.fail) throw Object.assign(new Error('failed ' + event.n), { name: 'BatchError' });
  if (event.exit) process.exit(3);
  return { containerId, invocations, remainingMs: context.getRemainingTimeInMillis() };
}
`;

let fn: WarmFunction | undefined;
afterEach(() => fn?.close());

async function warmFunction(env: Record<string, string> = { GREETING: 'hello' }): Promise<WarmFunction> {
  const bundle = path.join(tmpdir(), `handler-${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(bundle, HANDLER);
  fn = new WarmFunction(bundle, env);
  return fn;
}

type Result = { containerId: number; invocations: number; remainingMs: number };

describe('offline Lambda containers', () => {
  it('runs the init once and reuses an idle container, with each invocation its own logs', async () => {
    const f = await warmFunction();
    const first = await f.invoke<Result>({ n: 1 }, { remainingMs: 30_000 });
    const second = await f.invoke<Result>({ n: 2 }, { remainingMs: 30_000 });
    if (!first.ok || !second.ok) throw new Error('an invocation failed');
    expect(second.result.containerId).toBe(first.result.containerId);
    expect(second.result.invocations).toBe(2);
    expect(first.result.remainingMs).toBeLessThanOrEqual(30_000);
    expect(first.result.remainingMs).toBeGreaterThan(20_000);
    // The init's line belongs to the first invocation, as Lambda logs it before that invocation.
    expect(first.logs.split('\n').filter(Boolean).sort()).toEqual(['event 1', 'init hello', 'stderr 1']);
    expect(second.logs.split('\n').filter(Boolean).sort()).toEqual(['event 2', 'stderr 2']);
    expect(f.coldStarts).toBe(1);
  });

  it('gives concurrent invocations their own containers', async () => {
    const f = await warmFunction();
    const [a, b] = await Promise.all([
      f.invoke<Result>({ n: 1, wait: 200 }),
      f.invoke<Result>({ n: 2, wait: 200 }),
    ]);
    if (!a.ok || !b.ok) throw new Error('an invocation failed');
    expect(a.result.containerId).not.toBe(b.result.containerId);
    expect(f.coldStarts).toBe(2);
  });

  it('shows what a handler writes after it returned in the next invocation of its container', async () => {
    const f = await warmFunction();
    const first = await f.invoke({ n: 1, later: true });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await f.invoke({ n: 2 });
    expect(first.logs).not.toContain('left behind');
    expect(second.logs).toContain('left behind by 1');
  });

  it('reports a thrown error by its name and keeps the container; a process that exits fails the invocation', async () => {
    const f = await warmFunction();
    const failed = await f.invoke({ n: 1, fail: true });
    expect(failed).toMatchObject({ ok: false, errorType: 'BatchError', errorMessage: 'failed 1' });
    await f.invoke({ n: 2 });
    expect(f.coldStarts).toBe(1);
    await expect(f.invoke({ n: 3, exit: true })).rejects.toThrow(/ended \(code 3.*without a result/s);
    const after = await f.invoke<Result>({ n: 4 });
    expect(after.ok && after.result.invocations).toBe(1);
    expect(f.coldStarts).toBe(2);
  });

  it('starts cold after recycle() and after a change of its environment', async () => {
    const env = { GREETING: 'hello' };
    const f = await warmFunction(env);
    await f.invoke({ n: 1 });
    f.recycle();
    const recycled = await f.invoke<Result>({ n: 2 });
    expect(recycled.ok && recycled.result.invocations).toBe(1);
    env.GREETING = 'changed';
    const reconfigured = await f.invoke<Result>({ n: 3 });
    expect(reconfigured.ok && reconfigured.result.invocations).toBe(1);
    expect(reconfigured.logs).toContain('init changed');
    expect(f.coldStarts).toBe(3);
  });
});
