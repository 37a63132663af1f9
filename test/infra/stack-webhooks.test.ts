/**
 * The webhook receiver as deployed: the template (Function URL, throttle, a role that may only
 * create events and read the secret, the rejection alarms), then the bundle the stack ships,
 * invoked like Lambda does (fresh process, the template's environment) against s3rver and a
 * fake Secrets Manager on loopback, answering Function URL events.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Store } from '#adapters/s3-store.ts';
import { signWebhookBody } from '#core/webhook.ts';
import { WEBHOOK_DEFAULTS } from '#infra/constants.ts';
import { WEBHOOK_REJECTED_METRIC } from '#infra/constructs/webhook-receiver.ts';
import { bundleHandlerFile } from '#test/helpers/bundle-handlers.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from '#test/helpers/fake-secrets-manager.ts';
import { jsonLines } from '#test/helpers/log-lines.ts';
import { invokeBundledHandler } from '#test/helpers/run-bundled-handler.ts';
import { type RunningS3rver, startS3rver, withS3Env } from '#test/helpers/s3rver.ts';
import { type Cfn, exampleConfig, type Synthesized, statementsOfRole, synth } from './app-fixture.ts';

let built: Synthesized;
let template: Template;
/** The receiver's one line per request: what the metric filter `{ $.webhook = ... }` reads. */
const webhookLine = (logs: string) => jsonLines(logs).find((l) => typeof l.webhook === 'string');

const id = (construct: unknown) =>
  built.stack.getLogicalId((construct as { node: { defaultChild: CfnElement } }).node.defaultChild);

beforeAll(() => {
  built = synth(exampleConfig());
  template = built.template;
});

describe('the webhook receiver in the template', () => {
  it('is a Function URL without AWS auth, throttled by reserved concurrency', () => {
    const fn = id(built.stack.webhooks.function);
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [fn, 'Arn'] },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('receives Atomic webhooks'),
      ReservedConcurrentExecutions: WEBHOOK_DEFAULTS.reservedConcurrency,
      Runtime: 'nodejs22.x',
      Timeout: WEBHOOK_DEFAULTS.timeoutSeconds,
    });
    template.hasOutput('WebhookUrl', {
      Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('FunctionUrl'), 'FunctionUrl'] },
    });
  });

  it('gets the lake, the secret and the stack name, and nothing a load needs', () => {
    const env =
      template.toJSON().Resources[id(built.stack.webhooks.function)].Properties.Environment.Variables;
    expect(Object.keys(env).sort()).toEqual([
      'LAKE_BUCKET',
      'LAKE_PREFIX',
      'NODE_OPTIONS',
      'PAYLINK_SECRET_ARN',
      'PAYLINK_STACK_NAME',
      'POWERTOOLS_LOG_LEVEL',
      'POWERTOOLS_SERVICE_NAME',
      'POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS',
      'POWERTOOLS_TRACER_CAPTURE_RESPONSE',
      'POWERTOOLS_TRACE_ENABLED',
    ]);
  });

  it('may only create objects under _events/ and read the PayLink secret', () => {
    const role = id(built.stack.webhooks.function.role);
    const statements: Cfn[] = statementsOfRole(template, role);
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual(['s3:PutObject']);
    expect(actions.filter((a) => !/^(s3|logs|xray):/.test(a))).toEqual(['secretsmanager:GetSecretValue']);
    const put = statements.find((s) => s.Action === 's3:PutObject');
    expect(JSON.stringify(put.Resource)).toContain(`"/${built.stack.lake.prefix}/_events/*"`);
  });

  it('counts rejections from the log line by stack and reason and alarms to the topic on bad signatures', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: id(built.stack.webhooks.function.logGroup) },
      FilterPattern: '{ $.webhook = "rejected" }',
      MetricTransformations: [
        Match.objectLike({
          MetricNamespace: WEBHOOK_REJECTED_METRIC.namespace,
          MetricName: WEBHOOK_REJECTED_METRIC.name,
          Dimensions: [
            { Key: 'Stack', Value: '$.stack' },
            { Key: 'Reason', Value: '$.reason' },
          ],
        }),
      ],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: WEBHOOK_REJECTED_METRIC.name,
      Dimensions: Match.arrayWith([
        { Name: 'Reason', Value: 'bad-signature' },
        { Name: 'Stack', Value: built.stack.stackName },
      ]),
      Threshold: WEBHOOK_DEFAULTS.badSignaturesPer5Minutes,
      AlarmActions: [
        { Ref: built.stack.getLogicalId(built.stack.operations.topic.node.defaultChild as CfnElement) },
      ],
    });
  });

  it('alarms on the first correctly signed event refused for its content (malformed, bad identifier, bad task id)', () => {
    for (const reason of ['malformed', 'bad-identifier', 'bad-task-id'])
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: WEBHOOK_REJECTED_METRIC.namespace,
        MetricName: WEBHOOK_REJECTED_METRIC.name,
        Dimensions: Match.arrayWith([
          { Name: 'Reason', Value: reason },
          { Name: 'Stack', Value: built.stack.stackName },
        ]),
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [
          { Ref: built.stack.getLogicalId(built.stack.operations.topic.node.defaultChild as CfnElement) },
        ],
      });
  });

  it('alarms on the first request over the body limit (refused before its signature is read) and on any throttle', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: WEBHOOK_REJECTED_METRIC.name,
      Dimensions: Match.arrayWith([
        { Name: 'Reason', Value: 'too-large' },
        { Name: 'Stack', Value: built.stack.stackName },
      ]),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Throttles',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: id(built.stack.webhooks.function) } }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmDescription: Match.stringLikeRegexp(
        'webhooks.reservedConcurrency = 25, caps it near 250 requests/s',
      ),
      AlarmActions: [
        { Ref: built.stack.getLogicalId(built.stack.operations.topic.node.defaultChild as CfnElement) },
      ],
    });
  });

  it("passes a 200 req/s burst by default (10 req/s per reserved unit), and takes cdk.json's webhooks.reservedConcurrency", () => {
    expect(WEBHOOK_DEFAULTS.reservedConcurrency * 10).toBeGreaterThanOrEqual(200);
    const raised = synth({ ...exampleConfig(), webhooks: { reservedConcurrency: 60 } });
    raised.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('receives Atomic webhooks'),
      ReservedConcurrentExecutions: 60,
    });
    for (const bad of [0, 1.5, 1001, '20'])
      expect(() => synth({ ...exampleConfig(), webhooks: { reservedConcurrency: bad } })).toThrow(
        /webhooks\.reservedConcurrency.*must be a whole number from 1 to 1000/,
      );
  });
});

describe('the bundled webhook handler, with the environment the stack gives it', () => {
  const BUCKET = 'paylink-webhooks';
  const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:paylink-wh-AbCdEf';
  const API_SECRET = 'wh-api-secret-Qx7';
  let scratch: string;
  let bundle: string;
  let s3rver: RunningS3rver;
  let secrets: FakeSecretsManager;
  let restoreEnv: () => void;
  let env: Record<string, string>;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'webhook-bundle-'));
    bundle = await bundleHandlerFile('webhook.ts', path.join(scratch, 'webhook'));
    s3rver = await startS3rver({ buckets: [BUCKET] });
    restoreEnv = withS3Env(s3rver.endpoint);
    secrets = await startFakeSecretsManager({
      [SECRET_ARN]: JSON.stringify({ api_key: 'wh-key', api_secret: API_SECRET }),
    });
    const fromTemplate = template.toJSON().Resources[id(built.stack.webhooks.function)].Properties.Environment
      .Variables as Record<string, unknown>;
    env = {
      NODE_OPTIONS: String(fromTemplate.NODE_OPTIONS),
      LAKE_BUCKET: BUCKET,
      LAKE_PREFIX: String(fromTemplate.LAKE_PREFIX),
      PAYLINK_SECRET_ARN: SECRET_ARN,
      PAYLINK_STACK_NAME: String(fromTemplate.PAYLINK_STACK_NAME),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_S3: s3rver.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    };
  }, 120_000);
  afterAll(async () => {
    restoreEnv?.();
    await secrets?.close();
    await s3rver?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /** A Function URL event (payload 2.0): lower-cased headers, the body as text or base64. */
  function urlEvent(
    body: string,
    headers: Record<string, string>,
    options: { base64?: boolean; method?: string; path?: string } = {},
  ) {
    const requestPath = options.path ?? '/';
    return {
      version: '2.0',
      rawPath: requestPath,
      rawQueryString: '',
      headers: { 'content-type': 'application/json', ...headers },
      requestContext: {
        http: { method: options.method ?? 'POST', path: requestPath, sourceIp: '192.0.2.1' },
      },
      body: options.base64 ? Buffer.from(body).toString('base64') : body,
      isBase64Encoded: options.base64 ?? false,
    } as unknown as LambdaFunctionURLEvent;
  }

  const event = (identifier: string) =>
    JSON.stringify({
      eventType: 'pay-link-accounts-updated',
      eventTime: '2026-11-30T10:00:00.000Z',
      user: { _id: 'atomic-1', identifier },
      data: {},
    });

  async function invoke(e: LambdaFunctionURLEvent) {
    const run = await invokeBundledHandler<APIGatewayProxyStructuredResultV2>(bundle, e, env, {
      timeoutMs: 60_000,
    });
    if (!run.ok) throw new Error(`${run.errorType}: ${run.errorMessage}\n${run.logs}`);
    return run;
  }

  it('stores a signed event (text and base64 bodies) under the lake prefix and answers 200', async () => {
    const text = event('wh-user-text');
    const binary = event('wh-user-b64');
    const first = await invoke(
      urlEvent(text, { 'x-hmac-signature-sha-256': signWebhookBody(text, API_SECRET), 'ce-id': 'evt-text' }),
    );
    const second = await invoke(
      urlEvent(binary, { 'x-hmac-signature-sha-256': signWebhookBody(binary, API_SECRET) }, { base64: true }),
    );

    expect([first.result.statusCode, second.result.statusCode]).toEqual([200, 200]);
    const store = createS3Store({ bucket: BUCKET, prefix: env.LAKE_PREFIX! });
    const keys = await store.list('_events/');
    expect(keys).toHaveLength(2);
    const stored = await Promise.all(
      keys.map(async (k) => JSON.parse(new TextDecoder().decode(await store.get(k)))),
    );
    expect(stored.map((s) => s.event.user.identifier).sort()).toEqual(['wh-user-b64', 'wh-user-text']);
    // The log line the metric filter reads, with no payload value in it.
    expect(webhookLine(first.logs)).toMatchObject({
      webhook: 'accepted',
      stored: 'created',
      stack: env.PAYLINK_STACK_NAME,
    });
    expect(first.logs).not.toContain('wh-user-text');
  }, 60_000);

  it('rejects a bad signature with 401 and a log line the metric filter counts, storing nothing', async () => {
    const store = createS3Store({ bucket: BUCKET, prefix: env.LAKE_PREFIX! });
    const before = await store.list('_events/');
    const body = event('wh-user-forged');
    const run = await invoke(
      urlEvent(body, { 'x-hmac-signature-sha-256': signWebhookBody(body, 'not-the-secret') }),
    );
    const notPost = await invoke(urlEvent(body, {}, { method: 'GET' }));

    expect(run.result).toMatchObject({ statusCode: 401, body: 'unauthorized' });
    expect(notPost.result.statusCode).toBe(405);
    const line = webhookLine(run.logs);
    // What `{ $.webhook = "rejected" }` with dimensions $.stack and $.reason needs.
    expect(line).toMatchObject({
      webhook: 'rejected',
      reason: 'bad-signature',
      stack: env.PAYLINK_STACK_NAME,
    });
    expect(run.logs).not.toContain(API_SECRET);
    expect(await store.list('_events/')).toEqual(before);
  }, 60_000);

  it('answers 404 on any other path and 405 to another method on its own, with fixed bodies, before reading the secret, storing nothing', async () => {
    const store = createS3Store({ bucket: BUCKET, prefix: env.LAKE_PREFIX! });
    const before = await store.list('_events/');
    const reads = secrets.calls();
    // A correctly signed event: only the path or the method is wrong.
    const body = event('wh-user-elsewhere');
    const signature = { 'x-hmac-signature-sha-256': signWebhookBody(body, API_SECRET) };
    const answers = [];
    for (const [method, where] of [
      ['POST', '/webhooks'],
      ['POST', '//'],
      ['GET', '/.env'],
      ['GET', '/'],
      ['PUT', '/'],
    ] as const) {
      const run = await invoke(urlEvent(body, signature, { method, path: where }));
      answers.push([method, where, run.result.statusCode, run.result.body, run.result.headers?.allow]);
      // Counted by the metric filter under its own reason, never as an unsigned webhook.
      expect(webhookLine(run.logs)).toMatchObject({
        webhook: 'rejected',
        reason: run.result.statusCode === 404 ? 'not-found' : 'method-not-allowed',
        stack: env.PAYLINK_STACK_NAME,
      });
    }
    expect(answers).toEqual([
      ['POST', '/webhooks', 404, 'not found', undefined],
      ['POST', '//', 404, 'not found', undefined],
      ['GET', '/.env', 404, 'not found', undefined],
      ['GET', '/', 405, 'method not allowed', 'POST'],
      ['PUT', '/', 405, 'method not allowed', 'POST'],
    ]);
    expect(secrets.calls()).toBe(reads);
    expect(await store.list('_events/')).toEqual(before);
    // The same event on the one path is stored.
    expect((await invoke(urlEvent(body, signature))).result.statusCode).toBe(200);
    expect(await store.list('_events/')).toHaveLength(before.length + 1);
  }, 60_000);
});
