#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx paylink-loader` works right after `npm ci`
// with no build step.

// Until a command takes over its own interruption (a load says what it staged and how to
// resume), Ctrl-C or SIGTERM while the CLI starts (tsx compiles it: about a second) ends it
// with one line, never silently: nothing has been read or written yet.
const startingUp = (signal) => {
  process.stderr.write(
    `\n${signal}: stopped while paylink-loader was starting: nothing was read or written.\n`,
  );
  process.exit(signal === 'SIGINT' ? 130 : 143);
};
process.on('SIGINT', startingUp);
process.on('SIGTERM', startingUp);

// The AWS SDK prints a 9-line NodeVersionSupportWarning on Node 20 into the user's terminal
// (SDK releases after January 2027 need Node 22). Node 20.12+ is what this CLI supports, so it
// is silenced the way AWS documents (aws/aws-sdk-js-v3#7983); a value the user set is kept.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
const { processIo } = await import('../cli/io.ts');
process.off('SIGINT', startingUp);
process.off('SIGTERM', startingUp);
const code = await main(process.argv.slice(2), processIo());
// A write failure on stdout (not a closed pipe) already set 1: a successful command keeps it.
process.exitCode = code !== 0 ? code : (process.exitCode ?? 0);
// The command is over and has said so: a handle left open on some failure path (a worker
// thread's port, a socket) must not keep the process alive with its exit code unseen by the
// script or scheduler waiting on it. Unref'd, so a clean exit is not delayed; stdout and stderr
// on a pipe or file are written synchronously on Linux and macOS, so nothing printed is lost.
setTimeout(() => process.exit(), 2000).unref();
