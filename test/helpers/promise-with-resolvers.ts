/**
 * aws-local-stepfunctions 3 calls Promise.withResolvers (Node >= 22); Node 20, which the README
 * supports, lacks it. Importing this module installs the standard behaviour when it is missing.
 */
(Promise as unknown as { withResolvers?: unknown }).withResolvers ??= <T>() => {
  let resolve!: (value: T) => void;
  let reject!: (reason?: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};
