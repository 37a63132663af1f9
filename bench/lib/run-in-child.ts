/** Parent side of case-child.ts: one fresh Node process per case, so memory figures start clean. */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildReply } from './case-child.ts';
import type { CaseResult, CaseSpec } from './cases.ts';

const CHILD_ENTRY = fileURLToPath(new URL('./case-child.ts', import.meta.url));
/** The flags `npm run bench` gives the parent: tsx for TypeScript, gc() for a clean baseline. */
const CHILD_EXEC_ARGV = ['--expose-gc', '--import', 'tsx'];

export function runInChild(spec: CaseSpec): Promise<CaseResult> {
  const child = fork(CHILD_ENTRY, [], {
    execArgv: CHILD_EXEC_ARGV,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    let answer: ChildReply | undefined;
    child.once('message', (message: ChildReply) => {
      answer = message;
    });
    child.once('error', reject);
    // 'close', not 'exit': the IPC message and stderr are fully delivered by then.
    child.once('close', (code, signal) => {
      if (answer?.ok) resolve(answer.result);
      else
        reject(
          new Error(answer?.error ?? `case process exited (${signal ?? `code ${code}`}) without a result`),
        );
    });
    child.send(spec);
  });
}
