/**
 * Invokes a bundled Lambda handler the way the Node.js runtime does, one fresh process per
 * invocation (a cold container): `import()` the bundle's ES module entry, call `handler(event, context)`,
 * and report either the result or the error as Lambda reports it to Step Functions, whose
 * retry policies match on `errorType`, i.e. the thrown error's `name`.
 *
 * The child gets only the environment it is given (plus PATH), like a Lambda function gets
 * only its configured variables.
 */
import { spawn } from 'node:child_process';

export interface InvokeOptions {
  /** What `context.getRemainingTimeInMillis()` starts from; default 900 000 (15 minutes). */
  readonly remainingMs?: number;
  /** The child is killed after this long; default 120 s. */
  readonly timeoutMs?: number;
}

interface Captured {
  /** Everything the handler wrote to stdout and stderr (its logs). */
  readonly logs: string;
}

export type Invocation<T> =
  | (Captured & { readonly ok: true; readonly result: T })
  | (Captured & { readonly ok: false; readonly errorType: string; readonly errorMessage: string });

/** The runtime's part, run with `node -e`: argv = [bundle, event JSON, remaining ms]. */
const RUNTIME = `
const [bundle, eventJson, remainingMs] = process.argv.slice(1);
const started = Date.now();
const context = {
  awsRequestId: 'e2e-request',
  functionName: 'e2e-function',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, Number(remainingMs) - (Date.now() - started)),
};
const report = (message) => process.send(message, () => process.exit(0));
Promise.resolve()
  .then(() => import(require('node:url').pathToFileURL(bundle).href))
  .then((m) => m.handler(JSON.parse(eventJson), context))
  .then(
    (result) => report({ ok: true, result }),
    (error) => report({
      ok: false,
      errorType: error instanceof Error ? error.name : typeof error,
      errorMessage: error instanceof Error ? error.message : String(error),
    }),
  );
`;

/**
 * The functions run on Node.js 22 (loader-function.ts); this process may be Node 20, on which
 * the AWS SDK prints a plain-text NodeVersionSupportWarning that the deployed runtime never
 * prints. Turned off the way AWS documents, on Node 20 only, so the logs are the runtime's.
 */
const NODE_20_ONLY: Record<string, string> =
  Number(process.versions.node.split('.')[0]) < 22
    ? { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
    : {};

export function invokeBundledHandler<T>(
  bundle: string,
  event: unknown,
  env: Readonly<Record<string, string>>,
  options: InvokeOptions = {},
): Promise<Invocation<T>> {
  const child = spawn(
    process.execPath,
    ['-e', RUNTIME, bundle, JSON.stringify(event), String(options.remainingMs ?? 900_000)],
    {
      env: { PATH: process.env.PATH ?? '', ...NODE_20_ONLY, ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  let logs = '';
  const collect = (chunk: Buffer) => {
    logs += chunk.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  return new Promise((resolve, reject) => {
    let outcome: Omit<Invocation<T>, 'logs'> | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('message', (message: Omit<Invocation<T>, 'logs'>) => {
      outcome = message;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (outcome === undefined) {
        reject(
          new Error(`handler process ended (code ${code}, signal ${signal}) without a result:\n${logs}`),
        );
      } else {
        resolve({ ...outcome, logs } as Invocation<T>);
      }
    });
  });
}

/** The result of a successful invocation; otherwise fails with the reported error and the logs. */
export function resultOf<T>(invocation: Invocation<T>, label: string): T {
  if (invocation.ok) return invocation.result;
  throw new Error(
    `${label} failed: ${invocation.errorType}: ${invocation.errorMessage}\n--- logs ---\n${invocation.logs}`,
  );
}
