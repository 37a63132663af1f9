import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, type Synthesized, statementsOfRole, synth } from './app-fixture.ts';

const IMPORTED = exampleConfig({
  bucket: { importName: 'bank-lake', kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/lake-key' },
  secret: {
    importArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:paylink-AbCdEf',
    kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/secret-key',
  },
  prefix: 'raw/paylink',
});

let created: Synthesized;
let imported: Synthesized;

beforeAll(() => {
  created = synth(exampleConfig());
  imported = synth(IMPORTED);
});

const id = (s: Synthesized, construct: { node: { defaultChild?: unknown } }) =>
  s.stack.getLogicalId(construct.node.defaultChild as never);
const roleOf = (s: Synthesized, fn: { role?: { node: { defaultChild?: unknown } } }) => id(s, fn.role!);

describe('the lake bucket the stack creates', () => {
  it('is private, TLS-only, encrypted, versioned and kept when the stack is deleted', () => {
    const lake = id(created, created.stack.lake.bucket as never);
    const resource = created.template.toJSON().Resources[lake];
    expect(resource.DeletionPolicy).toBe('Retain');
    expect(resource.UpdateReplacePolicy).toBe('Retain');
    expect(resource.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    created.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: lake },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('keeps staging longer than a run plus the 14-day redrive window, aborts stale uploads, expires old versions', () => {
    const lake = id(created, created.stack.lake.bucket as never);
    const rules = created.template.toJSON().Resources[lake].Properties.LifecycleConfiguration.Rules;
    // A run lasts at most 90% of a 3.5-day period; Step Functions redrives for 14 days after it
    // ends; S3 rounds an expiry up to the next midnight. Staging a redrive reads must still be there.
    const longestRunDays = (3.5 * 0.9 * 86_400) / 86_400;
    expect(rules[0].ExpirationInDays).toBeGreaterThan(longestRunDays + 14 + 1);
    expect(rules).toEqual([
      {
        Id: 'expire-staging',
        Prefix: 'paylink/_staging/',
        ExpirationInDays: 19,
        NoncurrentVersionExpiration: { NoncurrentDays: 1 },
        Status: 'Enabled',
      },
      {
        Id: 'bucket-hygiene',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        NoncurrentVersionExpiration: { NoncurrentDays: 30 },
        ExpiredObjectDeleteMarker: true,
        Status: 'Enabled',
      },
    ]);
  });

  it('logs access to a separate, private, retained logs bucket', () => {
    const lake = id(created, created.stack.lake.bucket as never);
    const logs = id(created, created.stack.lake.accessLogsBucket);
    expect(logs).not.toBe(lake);
    expect(created.template.toJSON().Resources[lake].Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: logs },
      LogFilePrefix: 'lake/',
    });
    created.template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BucketEncryption: Match.anyValue(),
        PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicPolicy: true }),
        LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 365 })] },
      }),
    });
    // Every bucket of the stack: private, encrypted, TLS-only, kept.
    const buckets = created.template.findResources('AWS::S3::Bucket');
    expect(Object.keys(buckets)).toHaveLength(3);
    for (const [name, bucket] of Object.entries(buckets)) {
      expect(bucket.DeletionPolicy, name).toBe('Retain');
      expect(bucket.Properties.BucketEncryption, name).toBeDefined();
      expect(bucket.Properties.PublicAccessBlockConfiguration.BlockPublicAcls, name).toBe(true);
    }
    expect(Object.keys(created.template.findResources('AWS::S3::BucketPolicy'))).toHaveLength(3);
  });
});

describe('the lake permissions of the Lambdas', () => {
  it('give each step only its part of the lake: plan and load-batch write staging, only commit publishes', () => {
    const lake = id(created, created.stack.lake.bucket as never);
    const objects = (path: string) => ({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [lake, 'Arn'] }, `/paylink/${path}`]],
    });
    const { plan, loadBatch, commit } = created.stack.functions;
    const lakeStatements = (fn: typeof plan) =>
      statementsOfRole(created.template, roleOf(created, fn)).filter((s) => String(s.Sid).startsWith('Lake'));
    const list = {
      Sid: 'LakeList',
      Effect: 'Allow',
      Action: 's3:ListBucket',
      // No s3:prefix condition: a GetObject carries none, and without ListBucket S3 answers a
      // missing key with 403 instead of 404 (GetObject API reference, "Permissions").
      Resource: { 'Fn::GetAtt': [lake, 'Arn'] },
    };
    const stagingWrite = {
      Sid: 'LakeStagingWrite',
      Effect: 'Allow',
      Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:PutObject'],
      Resource: objects('_staging/*'),
    };
    expect(lakeStatements(plan)).toEqual(
      expect.arrayContaining([
        list,
        stagingWrite,
        {
          // The previous marker; the stored events and the user registry / changed-users state.
          Sid: 'LakePlanRead',
          Effect: 'Allow',
          Action: 's3:GetObject',
          Resource: expect.arrayContaining([objects('_loads/*'), objects('_events/*'), objects('_state/*')]),
        },
        {
          // The lease of its load id (core/lease.ts): nothing else outside staging.
          Sid: 'LakeLeases',
          Effect: 'Allow',
          Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
          Resource: objects('_leases/*'),
        },
      ]),
    );
    expect(lakeStatements(plan)).toHaveLength(4);
    expect(lakeStatements(loadBatch)).toEqual([
      list,
      {
        Sid: 'LakeBatchRead',
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: [objects('_leases/*'), objects('_schema/*'), objects('_staging/*')],
      },
      stagingWrite,
    ]);
    expect(lakeStatements(commit)).toEqual([
      list,
      {
        Sid: 'LakePublish',
        Effect: 'Allow',
        Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'],
        Resource: objects('*'),
      },
    ]);
    for (const fn of [plan, loadBatch, commit]) {
      for (const s of statementsOfRole(created.template, roleOf(created, fn))) {
        const actions = [s.Action].flat() as string[];
        expect(
          actions.some((a) => a === 's3:*' || a.endsWith('*')),
          JSON.stringify(s),
        ).toBe(false);
      }
    }
  });

  it('let only plan read the users list, which sits outside the lake prefix', () => {
    const lake = id(created, created.stack.lake.bucket as never);
    const usersList = {
      Sid: 'UsersList',
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [lake, 'Arn'] }, '/_config/users.txt']] },
    };
    const { plan, loadBatch, commit } = created.stack.functions;
    expect(statementsOfRole(created.template, roleOf(created, plan))).toContainEqual(usersList);
    expect(statementsOfRole(created.template, roleOf(created, loadBatch))).not.toContainEqual(usersList);
    expect(statementsOfRole(created.template, roleOf(created, commit))).not.toContainEqual(usersList);
  });

  it('let only load-batch read the one PayLink secret', () => {
    const secret = id(created, created.stack.credentials.secret as never);
    const { plan, loadBatch, commit } = created.stack.functions;
    const read = {
      Sid: 'PayLinkSecret',
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: { Ref: secret },
    };
    expect(statementsOfRole(created.template, roleOf(created, loadBatch))).toContainEqual(read);
    for (const fn of [plan, commit]) {
      const actions = statementsOfRole(created.template, roleOf(created, fn)).flatMap((s) =>
        [s.Action].flat(),
      );
      expect(actions.some((a: string) => a.startsWith('secretsmanager:'))).toBe(false);
    }
  });

  it("let only commit manage Glue tables, on this database's tables only", () => {
    const { plan, loadBatch, commit } = created.stack.functions;
    const glue = statementsOfRole(created.template, roleOf(created, commit)).find(
      (s) => s.Sid === 'GlueTables',
    );
    expect(glue.Action).toEqual(['glue:CreateTable', 'glue:GetTable', 'glue:UpdateTable']);
    const resources = JSON.stringify(glue.Resource);
    expect(resources).toContain(':catalog"');
    // The database name carries the stack id's first UUID group (deploy-unique).
    expect(resources).toContain(':database/",{"Fn::Join":["_",["paylink",');
    expect(resources).toContain(':table/",{"Fn::Join":["_",["paylink",');
    expect(resources).toContain('AWS::StackId');
    for (const fn of [plan, loadBatch]) {
      const actions = statementsOfRole(created.template, roleOf(created, fn)).flatMap((s) =>
        [s.Action].flat(),
      );
      expect(actions.some((a: string) => a.startsWith('glue:'))).toBe(false);
    }
  });

  it('give each function a role of its own with no managed policy', () => {
    const roles = Object.values(created.stack.functions).map((fn) => roleOf(created, fn));
    expect(new Set(roles).size).toBe(3);
    for (const role of roles) {
      expect(created.template.toJSON().Resources[role].Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('the PayLink secret', () => {
  it('is created with a placeholder, never a literal credential, and kept on deletion', () => {
    created.template.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      Properties: {
        Description: Match.stringLikeRegexp('put-secret-value'),
        GenerateSecretString: {
          SecretStringTemplate: JSON.stringify({ api_key: 'REPLACE_ME' }),
          GenerateStringKey: 'api_secret',
          ExcludePunctuation: true,
        },
      },
    });
    const [secret] = Object.values(created.template.findResources('AWS::SecretsManager::Secret'));
    expect(secret!.Properties.SecretString).toBeUndefined();
  });
});

describe('an imported bucket and secret', () => {
  it('are used, not created, and scoped the same way, with their KMS keys through the service only', () => {
    imported.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    // Logs and Athena results buckets only.
    imported.template.resourceCountIs('AWS::S3::Bucket', 2);
    const { plan, loadBatch } = imported.stack.functions;
    const batch = statementsOfRole(imported.template, roleOf(imported, loadBatch));
    expect(batch).toContainEqual(
      expect.objectContaining({
        Sid: 'LakeStagingWrite',
        Resource: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::bank-lake/raw/paylink/_staging/*']],
        },
      }),
    );
    expect(batch).toContainEqual({
      Sid: 'LakeList',
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::bank-lake']] },
    });
    expect(batch).toContainEqual({
      Sid: 'PayLinkSecret',
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:paylink-AbCdEf',
    });
    expect(batch).toContainEqual({
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: 'arn:aws:kms:eu-west-1:123456789012:key/secret-key',
      Condition: {
        StringEquals: {
          'kms:ViaService': {
            'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']],
          },
        },
      },
    });
    expect(batch).toContainEqual({
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: 'arn:aws:kms:eu-west-1:123456789012:key/lake-key',
      Condition: {
        StringEquals: {
          'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
        },
      },
    });
    expect(statementsOfRole(imported.template, roleOf(imported, plan))).toContainEqual(
      expect.objectContaining({
        Sid: 'UsersList',
        Resource: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::bank-lake/_config/users.txt']],
        },
      }),
    );
  });
});
