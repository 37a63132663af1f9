/**
 * Destroy + redeploy, checked on the template: whatever `cdk destroy` keeps (DeletionPolicy
 * Retain) must not hold a fixed physical name, or its name must carry a deploy-unique part (the
 * stack id's UUID), or the next deploy of the same stack would fail on "already exists".
 * And capacity: synth refuses a user count that cannot be loaded before the next run.
 */
import { describe, expect, it } from 'vitest';
import { buildApp, type Cfn, exampleConfig, synth } from './app-fixture.ts';

/** Properties that set a resource's physical name, by resource type. */
const NAME_PROPERTIES: Readonly<Record<string, (p: Cfn) => unknown>> = {
  'AWS::S3::Bucket': (p) => p.BucketName,
  'AWS::Logs::LogGroup': (p) => p.LogGroupName,
  'AWS::Glue::Database': (p) => p.DatabaseInput?.Name,
  'AWS::Athena::WorkGroup': (p) => p.Name,
  'AWS::SecretsManager::Secret': (p) => p.Name,
  'AWS::SNS::Topic': (p) => p.TopicName,
  'AWS::SQS::Queue': (p) => p.QueueName,
  'AWS::StepFunctions::StateMachine': (p) => p.StateMachineName,
  'AWS::Lambda::Function': (p) => p.FunctionName,
  'AWS::IAM::Role': (p) => p.RoleName,
};

describe('destroy + redeploy', () => {
  it('keeps no retained resource under a fixed name', () => {
    const { template } = synth(exampleConfig({ alarmEmail: 'ops@example.com' }));
    const resources = template.toJSON().Resources as Record<string, Cfn>;
    const retained = Object.entries(resources).filter(([, r]) => r.DeletionPolicy === 'Retain');
    expect(retained.length).toBeGreaterThan(0);
    const collisions: string[] = [];
    for (const [id, r] of retained) {
      const name = NAME_PROPERTIES[r.Type]?.(r.Properties ?? {});
      if (name === undefined) continue;
      if (!JSON.stringify(name).includes('AWS::StackId'))
        collisions.push(`${id} (${r.Type}): ${JSON.stringify(name)}`);
    }
    expect(collisions).toEqual([]);
  });

  it('every retained resource type is one whose naming this test knows', () => {
    const { template } = synth(exampleConfig());
    const types = new Set(
      Object.values(template.toJSON().Resources as Record<string, Cfn>)
        .filter((r) => r.DeletionPolicy === 'Retain')
        .map((r) => r.Type as string),
    );
    for (const type of types) expect(Object.keys(NAME_PROPERTIES)).toContain(type);
  });
});

describe('capacity at synth', () => {
  it('accepts 100k users at the default rate', () => {
    expect(() => buildApp(exampleConfig({ expectedUsers: 100_000 }))).not.toThrow();
  });

  it('refuses 300k users at the default rate, naming the numbers', () => {
    expect(() => buildApp(exampleConfig({ expectedUsers: 300_000 }))).toThrow(
      /paylink\.expectedUsers \(schedule daily\): 300000 users x 8 requests at 20 request\/s take .* more than the 21\.6 h/,
    );
  });

  it('refuses a rate at which one user cannot fit a batch, whatever the user count', () => {
    expect(() => buildApp(exampleConfig({ requestRate: 0.01 }))).toThrow(/paylink\.requestRate: .*one user/);
  });
});
