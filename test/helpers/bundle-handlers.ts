/**
 * Bundles the Lambda handlers the way LoaderFunction bundles its assets (bundleLambdaSync), without
 * a synth. Tests that run the bundled code use this instead of a
 * bundling synth; test/infra/bundle.test.ts checks that the output is byte for byte the CDK asset.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { bundleLambdaSync, LAMBDA_ENTRY_FILE } from '#infra/constructs/loader-function.ts';

/** The handler files the stack deploys, by the name the stack gives their functions. */
export const HANDLER_FILES = {
  plan: 'plan.ts',
  loadBatch: 'load-batch.ts',
  commit: 'commit.ts',
} as const;
export type HandlerName = keyof typeof HANDLER_FILES;

/**
 * Bundles one handler file into `outdir` as its Lambda asset lays it out (`index.mjs`, its
 * `chunks/`, source maps, a `{}` package.json); returns the entry file's path.
 */
export async function bundleHandlerFile(handlerFile: string, outdir: string): Promise<string> {
  await mkdir(outdir, { recursive: true });
  bundleLambdaSync(handlerFile, outdir);
  return path.join(outdir, LAMBDA_ENTRY_FILE);
}

/**
 * Bundles each handler to `<outdir>/<name>/index.mjs` (+ chunks and maps), as the Lambda asset
 * lays it out. Returns the entry file by handler name (only `names`, if given).
 */
export async function bundleHandlers<N extends HandlerName = HandlerName>(
  outdir: string,
  names: readonly N[] = Object.keys(HANDLER_FILES) as N[],
): Promise<Record<N, string>> {
  const built = await Promise.all(
    names.map(
      async (name) => [name, await bundleHandlerFile(HANDLER_FILES[name], path.join(outdir, name))] as const,
    ),
  );
  return Object.fromEntries(built) as Record<N, string>;
}

/** Every file of an asset folder, relative to it, sorted. */
export function assetFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[])
    .filter((f) => statSync(path.join(dir, f)).isFile())
    .sort();
}

/**
 * What a minified ES module imports: static (`from"x"`, `import"x"`) and dynamic (`import("x")`).
 * A keyword right after a quote is the end of a string (`"from":"above"` in a message), not code.
 */
export function importsOf(code: string): { static: string[]; dynamic: string[] } {
  const statics = [...code.matchAll(/(?<!["'`])(?:\bfrom|\bimport)\s*"([^"]+)"/g)].map((m) => m[1]!);
  const dynamics = [...code.matchAll(/\bimport\("([^"]+)"\)/g)].map((m) => m[1]!);
  return { static: statics, dynamic: dynamics };
}

/**
 * The module files a process loads with `entry` before any lazy `import()` runs: the closure of
 * its static imports inside the asset (absolute paths, the entry first).
 */
export function eagerModules(entry: string): string[] {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    for (const spec of importsOf(readFileSync(file, 'utf8')).static) {
      if (!spec.startsWith('.')) continue;
      const next = path.resolve(path.dirname(file), spec);
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return [...seen];
}
