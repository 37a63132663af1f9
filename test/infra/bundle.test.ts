import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_ENTRY_FILE } from '#infra/constructs/loader-function.ts';
import {
  assetFiles,
  bundleHandlers,
  eagerModules,
  type HandlerName,
  importsOf,
} from '#test/helpers/bundle-handlers.ts';
import { buildApp, type Cfn, exampleConfig } from './app-fixture.ts';

/**
 * The one test that synthesizes like `cdk synth`: esbuild bundling, aws-cdk-lib's CloudFormation
 * validation and cdk-nag as a synth-time plugin. Then it loads each bundle in a fresh Node
 * process, as Lambda does, because a bundle can crash at load while its sources run fine
 * (parquetjs-lite's undeclared globals in a strict ES module). Finally it checks that the bundles
 * test/infra/lambda-e2e.test.ts runs (esbuild called directly with LoaderFunction's options)
 * are these assets byte for byte, so that test needs no second bundling synth.
 */
let outdir: string;
let bundles: Map<string, string>;

beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), 'paylink-cdk-out-'));
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
    bundles.set(name, path.join(outdir, `asset.${hash}`, LAMBDA_ENTRY_FILE));
  }
}, 120_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/** The SDK's optional CRT signer (SigV4a, unused): named in a message of the SDK, never loaded. */
const CRT_SIGNER = '@aws-sdk/signature-v4-crt';

describe('the bundled Lambdas', () => {
  it('are ES module entries with chunks, their dependencies inside and source maps', () => {
    expect([...bundles.keys()].sort()).toEqual(['commit', 'loadBatch', 'plan']);
    for (const [name, entry] of bundles) {
      const dir = path.dirname(entry);
      const modules = assetFiles(dir).filter((f) => f.endsWith('.mjs'));
      expect(modules, name).toContain('index.mjs');
      for (const file of modules) {
        expect(statSync(path.join(dir, `${file}.map`)).size, `${name} ${file}`).toBeGreaterThan(0);
        const code = readFileSync(path.join(dir, file), 'utf8');
        const { static: statics, dynamic } = importsOf(code);
        const required = [...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!);
        for (const spec of [...statics, ...dynamic]) {
          if (spec.startsWith('.'))
            expect(
              existsSync(path.resolve(path.dirname(path.join(dir, file)), spec)),
              `${name} ${file} -> ${spec}`,
            ).toBe(true);
          else expect(isBuiltin(spec) || spec === CRT_SIGNER, `${name} ${file} imports ${spec}`).toBe(true);
        }
        // Only Node built-ins stay outside, and the SDK's optional CRT signer (SigV4a, unused).
        expect(
          required.filter((r) => !isBuiltin(r) && r !== CRT_SIGNER),
          `${name} ${file}`,
        ).toEqual([]);
      }
    }
  });

  it('load the Parquet and Glue code only when a call needs it, not with the entry', () => {
    // Markers of code that must stay in lazily loaded chunks: parquetjs-lite's thrift types (their
    // export, not the banner's `var`), the Glue and Step Functions clients' service names.
    const lazyOnly = [/\.ColumnChunk\s*=/, /"AWSGlue"/, /AWSStepFunctions/];
    for (const [name, entry] of bundles) {
      const eager = eagerModules(entry).map((f) => readFileSync(f, 'utf8'));
      for (const marker of lazyOnly)
        expect(
          eager.some((code) => marker.test(code)),
          `${name} loads ${marker} eagerly`,
        ).toBe(false);
      const all = assetFiles(path.dirname(entry))
        .filter((f) => f.endsWith('.mjs'))
        .map((f) => readFileSync(path.join(path.dirname(entry), f), 'utf8'));
      expect(
        all.some((code) => lazyOnly[0]!.test(code)),
        `${name}: a Parquet writer in the asset`,
      ).toBe(name !== 'plan');
      // The writer encodes in a worker thread, whose entry sits beside the handler's.
      expect(existsSync(path.join(path.dirname(entry), 'parquet-encode-worker.mjs')), name).toBe(
        name !== 'plan',
      );
    }
  });

  it.each(['plan', 'loadBatch', 'commit'])('%s loads in a fresh Node process and exports handler', (name) => {
    const file = bundles.get(name)!;
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        "import(require('node:url').pathToFileURL(process.argv[1]).href).then((m) => process.stdout.write(typeof m.handler));",
        file,
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
    );
    expect(out).toBe('function');
  });

  it('are byte for byte what the end-to-end test builds by calling esbuild directly', async () => {
    // The options are the same for every handler: one (the one with the most dependencies) proves
    // that bundleHandlers builds what the stack ships, at a third of the cost.
    const name: HandlerName = 'commit';
    const direct = path.dirname((await bundleHandlers(path.join(outdir, 'direct'), [name]))[name]);
    const asset = path.dirname(bundles.get(name)!);
    expect(assetFiles(direct)).toEqual(assetFiles(asset));
    for (const file of assetFiles(asset))
      expect(
        readFileSync(path.join(direct, file)).equals(readFileSync(path.join(asset, file))),
        `${name}: the CDK asset's ${file} differs from bundleHandlers' output`,
      ).toBe(true);
  }, 120_000);
});
