/**
 * Bundles the Lambda handlers with esbuild directly, with the options LoaderFunction hands to
 * CDK (LOADER_BUNDLING), translated the way aws-cdk-lib's NodejsFunction translates them into
 * esbuild flags. Tests that run the bundled code use this instead of a second bundling synth;
 * test/infra/bundle.test.ts checks that the output is byte for byte the CDK asset.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { type BuildOptions, build, type LogLevel } from 'esbuild';
import { LOADER_BUNDLING, REPO_ROOT } from '#infra/constructs/loader-function.ts';

/** The handler files the stack deploys, by the name the stack gives their functions. */
export const HANDLER_FILES = {
  plan: 'plan.ts',
  loadBatch: 'load-batch.ts',
  commit: 'commit.ts',
} as const;
export type HandlerName = keyof typeof HANDLER_FILES;

/**
 * esbuild options equivalent to a NodejsFunction `bundling` block. Throws on an option it does
 * not translate: a new bundling option in LoaderFunction must be added here, or the bundles
 * the tests run would silently differ from the deployed ones.
 */
export function esbuildOptionsFor(bundling: Readonly<BundlingOptions>): BuildOptions {
  const known = new Set([
    'format',
    'target',
    'bundleAwsSDK',
    'externalModules',
    'tsconfig',
    'minify',
    'sourceMap',
    'sourcesContent',
    'logLevel',
    'keepNames',
    'mainFields',
  ]);
  const unknown = Object.keys(bundling).filter((k) => !known.has(k));
  if (unknown.length > 0)
    throw new Error(`bundle-handlers: untranslated bundling options ${unknown.join(', ')}`);
  // NodejsFunction's default externals: the SDK, unless it is bundled.
  const external = bundling.externalModules ?? (bundling.bundleAwsSDK ? [] : ['@aws-sdk/*']);
  return {
    bundle: true,
    platform: 'node',
    absWorkingDir: REPO_ROOT,
    ...(bundling.target === undefined ? {} : { target: bundling.target }),
    ...(bundling.format === undefined ? {} : { format: bundling.format }),
    minify: bundling.minify ?? false,
    sourcemap: bundling.sourceMap ?? false,
    sourcesContent: bundling.sourcesContent ?? true,
    external: [...external],
    keepNames: bundling.keepNames ?? false,
    ...(bundling.mainFields === undefined ? {} : { mainFields: [...bundling.mainFields] }),
    ...(bundling.logLevel === undefined ? {} : { logLevel: bundling.logLevel as LogLevel }),
    ...(bundling.tsconfig === undefined ? {} : { tsconfig: bundling.tsconfig }),
  };
}

/**
 * Bundles each handler to `<outdir>/<name>/index.js` (+ `.map`), as the Lambda asset lays it
 * out, with a `package.json` of `{}` in `outdir` so Node loads the bundles as CommonJS whatever
 * lies above (like /var/task). Returns the bundle path by handler name (only `names`, if given).
 */
export async function bundleHandlers<N extends HandlerName = HandlerName>(
  outdir: string,
  names: readonly N[] = Object.keys(HANDLER_FILES) as N[],
): Promise<Record<N, string>> {
  await mkdir(outdir, { recursive: true });
  await writeFile(path.join(outdir, 'package.json'), '{}\n');
  const options = esbuildOptionsFor(LOADER_BUNDLING);
  const built = await Promise.all(
    names.map(async (name) => {
      const file = HANDLER_FILES[name];
      const outfile = path.join(outdir, name, 'index.js');
      await build({
        ...options,
        entryPoints: [path.join(REPO_ROOT, 'lambdas', 'handlers', file)],
        outfile,
      });
      return [name, outfile] as const;
    }),
  );
  return Object.fromEntries(built) as Record<N, string>;
}
