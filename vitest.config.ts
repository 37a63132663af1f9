import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The slowest files, slowest first. Without vitest's cache of past durations (a fresh CI
 * checkout: the cache lives in node_modules) files start largest first, and the three slowest
 * are among the smallest (each only calls a shared suite): they started last and ran on alone
 * after everything else, one core idle. Started first, the short files fill in around them.
 */
export const SLOWEST_FIRST = [
  'test/integration/crash-points-s3.test.ts',
  'test/integration/write-request-faults-s3.test.ts',
  'test/infra/offline-aws-observability.test.ts',
  'test/infra/offline-aws-merge-fanout.test.ts',
  'test/infra/offline-aws.test.ts',
  'test/integration/crash-points-local.test.ts',
  'test/infra/offline-aws-changed.test.ts',
  'test/infra/offline-aws-manual-subset.test.ts',
  'test/infra/lambda-e2e.test.ts',
  // About half its former time since its withheld-statement runs keep warm containers.
  'test/infra/offline-aws-iam.test.ts',
  'test/infra/offline-aws-failing-logs.test.ts',
  'test/integration/load-interrupt.test.ts',
];

export class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const at = SLOWEST_FIRST.indexOf(relative(this.ctx.config.root, file.moduleId));
      return at === -1 ? SLOWEST_FIRST.length : at;
    };
    // A stable sort: the other files keep vitest's order (cached durations, else size).
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each test file's temporary files (and aws-cdk-lib's cdk.out folders) go and are removed.
    setupFiles: ['test/helpers/test-tmpdir.ts'],
    // The offline deployments' handler bundles, built once per run (not once per test file).
    globalSetup: ['test/helpers/offline-bundle-cache.ts'],
    // Integration tests start loopback servers (simulator, s3rver, Secrets Manager fake);
    // the CI machine has 2 cores, so keep the worker count small and timeouts generous.
    maxWorkers: 2,
    sequence: { sequencer: SlowestFirst },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: {
      // s3rver stores aws-chunked framing inside objects unless checksums are only sent when required.
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      CDK_DISABLE_CLI_TELEMETRY: 'true',
      // In-process tests use the SDK clients directly, as bin/paylink-loader.mjs does after it sets
      // this; spawned-CLI tests strip AWS_* (cli-process.test.ts) and so still check the bin's own.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
