/**
 * A function's execution environments, kept between invocations as the Lambda service keeps
 * them: each container is a Node process that imports the bundle once (the init, on its first
 * invocation) and then runs one invocation at a time; an invocation takes an idle container or
 * starts a new one (a cold start), so concurrent invocations (a Map's items) each get their own.
 *
 * Why kept: a fresh process per invocation spent most of an offline run starting Node, compiling
 * the bundle and its source maps and starting load-batch's encoding worker, again for every
 * batch. Lambda reuses containers, and the handlers are written for that (clients, config and
 * secrets cached per container), so a kept container runs what AWS runs. A scenario that needs
 * cold containers (a fresh deployment, a secret changed behind the cached one) calls `recycle()`.
 *
 * The container gets only the environment it is given (plus PATH), like a function gets only its
 * configured variables. Its logs are what it writes to stdout and stderr: an invocation's logs
 * end at a marker the container writes on both streams after the handler settles, so output the
 * handler leaves behind (a write after it returned) shows in the next invocation, as in Lambda.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Invocation, InvokeOptions } from './run-bundled-handler.ts';

/** The runtime's part, run with `node -e`: argv = [bundle, marker]; one message per invocation. */
const RUNTIME = `
const [bundle, marker] = process.argv.slice(1);
let loading;
process.on('disconnect', () => process.exit(0));
process.on('message', async ({ id, event, remainingMs }) => {
  const started = Date.now();
  const context = {
    awsRequestId: 'e2e-request-' + id,
    functionName: 'e2e-function',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, Number(remainingMs) - (Date.now() - started)),
  };
  let outcome;
  try {
    loading ??= import(require('node:url').pathToFileURL(bundle).href);
    const loaded = await loading.catch((error) => {
      loading = undefined; // a failed init is retried by the next invocation, as Lambda does
      throw error;
    });
    outcome = { ok: true, result: await loaded.handler(event, context) };
  } catch (error) {
    outcome = {
      ok: false,
      errorType: error instanceof Error ? error.name : typeof error,
      errorMessage: error instanceof Error ? error.message : String(error),
    };
  }
  process.stdout.write(marker + id + marker);
  process.stderr.write(marker + id + marker);
  process.send({ id, ...outcome });
});
`;

/** Ends an invocation's logs on each stream (a character no log line holds). */
const MARKER = '\u001eoffline-invocation-end\u001e';

/**
 * The functions run on Node.js 22 (loader-function.ts); this process may be Node 20, on which
 * the AWS SDK prints a plain-text NodeVersionSupportWarning that the deployed runtime never
 * prints. Turned off the way AWS documents, on Node 20 only, so the logs are the runtime's.
 */
const NODE_20_ONLY: Record<string, string> =
  Number(process.versions.node.split('.')[0]) < 22
    ? { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
    : {};

type Outcome = { readonly id: number } & (
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly errorType: string; readonly errorMessage: string }
);

interface Pending {
  readonly id: number;
  logs: string;
  outcome?: Outcome;
  /** The streams whose end-of-invocation marker has arrived. */
  readonly ended: Set<'stdout' | 'stderr'>;
  settle(): void;
  fail(error: Error): void;
}

/** One execution environment: a process that ran the init once and takes one invocation at a time. */
class Container {
  readonly child: ChildProcess;
  private pending: Pending | undefined;
  /** Output written after the current invocation's marker: the next invocation's logs. */
  private carried = '';
  /** Undecoded text of each stream that may be the start of a marker split across chunks. */
  private readonly held = { stdout: '', stderr: '' };
  exited = false;
  /** The configuration it was started with (the environment, as JSON). */
  readonly configuration: string;

  constructor(bundle: string, env: Readonly<Record<string, string>>, onExit: (c: Container) => void) {
    this.configuration = JSON.stringify(env);
    this.child = spawn(process.execPath, ['-e', RUNTIME, bundle, MARKER], {
      env: { PATH: process.env.PATH ?? '', ...NODE_20_ONLY, ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = this.child[name]!;
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => this.output(name, text));
    }
    this.child.on('message', (message: Outcome) => {
      if (this.pending?.id !== message.id) return;
      this.pending.outcome = message;
      this.pending.settle();
    });
    const ended = (why: string) => {
      if (this.exited) return;
      this.exited = true;
      onExit(this);
      const pending = this.pending;
      this.pending = undefined;
      pending?.fail(
        new Error(
          `handler process ended (${why}) without a result:\n${pending.logs}${this.held.stdout}${this.held.stderr}${this.carried}`,
        ),
      );
    };
    this.child.on('error', (error) => ended(error.message));
    this.child.on('close', (code, signal) => ended(`code ${code}, signal ${signal}`));
  }

  private output(stream: 'stdout' | 'stderr', text: string): void {
    let rest = this.held[stream] + text;
    this.held[stream] = '';
    const pending = this.pending;
    const end = pending && !pending.ended.has(stream) ? `${MARKER}${pending.id}${MARKER}` : undefined;
    if (pending && end) {
      const at = rest.indexOf(end);
      if (at !== -1) {
        pending.logs += rest.slice(0, at);
        pending.ended.add(stream);
        rest = rest.slice(at + end.length);
        this.carried += rest;
        pending.settle();
        return;
      }
      // Hold back what may be a marker's beginning until the next chunk completes it.
      const start = rest.indexOf(MARKER[0]!);
      if (start !== -1) {
        this.held[stream] = rest.slice(start);
        rest = rest.slice(0, start);
      }
      pending.logs += rest;
      return;
    }
    this.carried += rest;
  }

  invoke(id: number, event: unknown, remainingMs: number): Promise<Omit<Outcome, 'id'> & { logs: string }> {
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        id,
        logs: this.carried,
        ended: new Set(),
        settle: () => {
          if (this.pending !== pending || !pending.outcome || pending.ended.size < 2) return;
          this.pending = undefined;
          const { id: _, ...outcome } = pending.outcome;
          resolve({ ...outcome, logs: pending.logs });
        },
        fail: reject,
      };
      this.carried = '';
      this.pending = pending;
      this.child.send({ id, event, remainingMs });
    });
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** A function's containers: idle ones are reused, busy ones are not shared. */
export class WarmFunction {
  private readonly idle: Container[] = [];
  /** Containers started before the last `recycle()`: ended once their invocation is over. */
  private readonly retired = new Set<Container>();
  private readonly busy = new Set<Container>();
  private invocations = 0;
  /** Containers started so far (cold starts). */
  coldStarts = 0;

  /** `env` is read at each invocation: a changed configuration gets new containers, as in Lambda. */
  constructor(
    readonly bundle: string,
    readonly env: Readonly<Record<string, string>>,
  ) {}

  async invoke<T>(event: unknown, options: InvokeOptions = {}): Promise<Invocation<T>> {
    const configuration = JSON.stringify(this.env);
    for (const stale of this.idle.filter((c) => c.configuration !== configuration)) {
      this.idle.splice(this.idle.indexOf(stale), 1);
      stale.kill();
    }
    let container = this.idle.pop();
    if (!container) {
      this.coldStarts += 1;
      container = new Container(this.bundle, this.env, (c) => {
        const at = this.idle.indexOf(c);
        if (at !== -1) this.idle.splice(at, 1);
      });
    }
    this.busy.add(container);
    this.invocations += 1;
    const timer = setTimeout(() => container.kill(), options.timeoutMs ?? 120_000);
    try {
      const outcome = await container.invoke(this.invocations, event, options.remainingMs ?? 900_000);
      return outcome as Invocation<T>;
    } finally {
      clearTimeout(timer);
      this.busy.delete(container);
      if (this.retired.delete(container)) container.kill();
      else if (!container.exited) this.idle.push(container);
    }
  }

  /**
   * Ends every container, as a new deployment of the function does: the next invocation is a
   * cold start. A container busy now finishes its invocation and is ended then.
   */
  recycle(): void {
    for (const container of this.idle.splice(0)) container.kill();
    for (const container of this.busy) this.retired.add(container);
  }

  /** Ends every container, busy or not (the deployment is torn down). */
  close(): void {
    this.recycle();
    for (const container of this.busy) container.kill();
  }
}
