import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each test file's temporary files (and aws-cdk-lib's cdk.out folders) go and are removed.
    setupFiles: ['test/helpers/test-tmpdir.ts'],
    // Integration tests start loopback servers (simulator, s3rver, Secrets Manager fake);
    // the CI machine has 2 cores, so keep the worker count small and timeouts generous.
    maxWorkers: 2,
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
