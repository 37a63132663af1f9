import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleHandlers, type HandlerName } from '#test/helpers/bundle-handlers.ts';
import { buildApp, type Cfn, exampleConfig } from './app-fixture.ts';

/**
 * The one test that synthesizes like `cdk synth`: esbuild bundling, aws-cdk-lib's CloudFormation
 * validation and cdk-nag as a synth-time plugin. Then it loads each bundle in a fresh Node
 * process, as Lambda does, because a bundle can crash at load while its sources run fine
 * (parquetjs-lite's undeclared globals under "use strict"). Finally it checks that the bundles
 * test/infra/lambda-e2e.test.ts runs (esbuild called directly with LoaderFunction's options)
 * are these assets byte for byte, so that test needs no second bundling synth.
 */
let outdir: string;
let bundles: Map<string, string>;

beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), 'paylink-cdk-out-'));
  // Like /var/task: no package.json "type" above the bundle, so it loads as CommonJS.
  writeFileSync(path.join(outdir, 'package.json'), '{}\n');
  const { app, stack } = buildApp(exampleConfig(), {
    bundle: true,
    schemaValidation: true,
    nag: true,
    outdir,
  });
  const assembly = app.synth();
  const template = assembly.getStackArtifact(stack.artifactId).template as {
    Resources: Record<string, { Type: string; Properties: Record<string, Cfn> }>;
  };
  bundles = new Map();
  for (const [name, fn] of Object.entries(stack.functions)) {
    const code = template.Resources[stack.getLogicalId(fn.node.defaultChild as never)]!.Properties.Code;
    const hash = String(code.S3Key).replace(/\.zip$/, '');
    bundles.set(name, path.join(outdir, `asset.${hash}`, 'index.js'));
  }
}, 120_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('the bundled Lambdas', () => {
  it('are three single-file CommonJS bundles with their dependencies inside and a source map', () => {
    expect([...bundles.keys()].sort()).toEqual(['commit', 'loadBatch', 'plan']);
    for (const [name, file] of bundles) {
      const code = readFileSync(file, 'utf8');
      expect(statSync(`${file}.map`).size, name).toBeGreaterThan(0);
      const required = new Set([...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!));
      // Only Node built-ins stay outside, and the SDK's optional CRT signer (SigV4a, unused).
      expect(
        [...required].filter((r) => !isBuiltin(r)),
        name,
      ).toEqual(['@aws-sdk/signature-v4-crt']);
      expect(/^\s*(import|export)\s/m.test(code), `${name} has ESM syntax`).toBe(false);
    }
  });

  it.each(['plan', 'loadBatch', 'commit'])('%s loads in a fresh Node process and exports handler', (name) => {
    const file = bundles.get(name)!;
    const out = execFileSync(
      process.execPath,
      ['-e', 'const m = require(process.argv[1]); process.stdout.write(typeof m.handler);', file],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
    );
    expect(out).toBe('function');
  });

  it('are byte for byte what the end-to-end test builds by calling esbuild directly', async () => {
    // The options are the same for every handler: one (the one with the most dependencies) proves
    // the translation of LoaderFunction's bundling options, at a third of the cost.
    const name: HandlerName = 'commit';
    const direct = await bundleHandlers(path.join(outdir, 'direct'), [name]);
    const same = readFileSync(direct[name]).equals(readFileSync(bundles.get(name)!));
    expect(same, `${name}: the CDK asset differs from bundleHandlers' output`).toBe(true);
  }, 120_000);
});
