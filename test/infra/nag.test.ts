import { App, type PolicyValidationPluginReport, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { parseStackConfig } from '#infra/config.ts';
import { nagAcknowledgements } from '#infra/nag-acknowledgements.ts';
import { composePaylinkApp } from '#infra/paylink-app.ts';
import { PaylinkLoaderStack } from '#infra/paylink-stack.ts';
import { buildApp, CDK_JSON, exampleConfig } from './app-fixture.ts';

/** The other shape of the stack: imports with KMS keys, no tracing, several schedules, an e-mail. */
const VARIANT = exampleConfig({
  bucket: { importName: 'bank-lake', kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/lake-key' },
  secret: {
    importArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:paylink-AbCdEf',
    kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/secret-key',
  },
  tracing: false,
  alarmEmail: 'data-ops@example.com',
  schedules: [
    { name: 'daily', expression: 'cron(0 3 * * ? *)', expectedPeriodHours: 24 },
    { name: 'hourly-accounts', expression: 'rate(1 hour)', resources: ['accounts'] },
  ],
});

const describeViolations = (report: PolicyValidationPluginReport) =>
  report.violations.map(
    (v) => `${v.ruleName} @ ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
  );

/** The stack as composePaylinkApp builds it, minus the acknowledgements. */
function unacknowledged(paylink: unknown): App {
  const app = new App({
    context: { ...CDK_JSON.context, 'aws:cdk:bundling-stacks': [] },
    builtinCloudFormationValidation: false,
  });
  new PaylinkLoaderStack(app, 'Unacknowledged', { config: parseStackConfig(paylink) });
  return app;
}

describe.each([
  ['the cdk.json example', exampleConfig()],
  ['imports, no tracing, two schedules', VARIANT],
])('cdk-nag AwsSolutions on %s', (_, config) => {
  it('reports zero unacknowledged findings', () => {
    const { app } = buildApp(config);
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(describeViolations(report)).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('gives every acknowledgement a specific reason, once', () => {
    const { stack } = buildApp(config);
    const acks = nagAcknowledgements(stack);
    expect(acks.length).toBeGreaterThan(5);
    const keys = acks.map((a) => `${a.scope.node.path} ${a.id}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const ack of acks) {
      expect(ack.id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(ack.reason.length, ack.id).toBeGreaterThanOrEqual(60);
    }
  });

  it('acknowledges only findings that exist, each on the construct that has it', () => {
    const app = unacknowledged(config);
    const stack = app.node.findChild('Unacknowledged') as PaylinkLoaderStack;
    const report = new AwsSolutionsChecks(app).validateScope(app);
    const found = report.violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`),
    );
    // Without acknowledgements the checks do fail: the zero above is earned.
    expect(found.length).toBeGreaterThan(0);
    for (const ack of nagAcknowledgements(stack)) {
      const hit = found.some((f) => f.startsWith(`${ack.id} @ ${ack.scope.node.path}/`));
      expect(hit, `${ack.id} on ${ack.scope.node.path} matches no finding`).toBe(true);
    }
  });
});

describe('cdk synth', () => {
  it('runs the AwsSolutions checks as a validation plugin and passes them', () => {
    const app = new App({
      context: { ...CDK_JSON.context, 'aws:cdk:bundling-stacks': [] },
      builtinCloudFormationValidation: false,
    });
    composePaylinkApp(app);
    expect(() => app.synth()).not.toThrow();
  });

  it('fails when a finding is not acknowledged', () => {
    const app = unacknowledged(exampleConfig());
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-SMG4/);
  });
});
