/**
 * The synthesized stack, run offline as AWS would run it:
 * - the state machine definition from the synthesized template (intrinsics resolved by
 *   cfn-template.ts), executed by a kept ASL interpreter, aws-local-stepfunctions;
 * - every Lambda task is the esbuild bundle the stack ships, run in a container kept between
 *   invocations as Lambda keeps them (offline-lambda.ts: a Node process per container, one
 *   invocation at a time, a cold start when none is idle), with the function's synthesized
 *   environment and its own role's credentials; `recycle()` ends them (a fresh deployment); the state machine's own calls (Lambda invoke, ListExecutions, the
 *   Map's ItemReader, child executions) are authorized against the state machine role;
 * - every AWS call goes through the gateway (aws-gateway.ts), which evaluates it with
 *   iam-simulate against the caller's synthesized policies and applies S3's semantics, in
 *   front of s3rver and the Secrets Manager and Glue fakes;
 * - what the Lambda service itself does with a function's role is authorized too: writing the
 *   function's logs (logs:CreateLogStream/PutLogEvents on its log group) and, when tracing is
 *   active, sending X-Ray segments.
 *
 * What the interpreter does not model, and how this file stands in for it (each documented):
 * - ItemReader: a Distributed Map's item file is read here, as the state machine role, through
 *   the gateway (s3:GetObject), and handed to the Map as its items.
 * - Map Run redrive: `redrive()` re-runs a failed execution from its failed state with that
 *   state's input, re-running only the Map items that did not succeed (as a Map Run redrive
 *   does), each authorized as states:RedriveExecution on its child execution. The context's
 *   `$$.Execution.RedriveCount` is 1 during a redrive (0 otherwise), in the Map's children too.
 * - Step Functions as the Lambdas call it (the redrive guard's ListExecutions): answered by the
 *   gateway from the executions running here (`running`), authorized against the caller's role.
 * - ToleratedFailurePercentage must be 0 (any failed item fails the Map, as the interpreter does).
 * - Wait states and retry back-off intervals are shortened to milliseconds; counts, error
 *   matching and order are the interpreter's. A retried task waits for the invocations in flight
 *   to end first, as they would within the real back-off (30 s and more for a failed task), so
 *   a Map item failing fast through its retries does not fail the Map before its siblings end.
 * The only deployed value replaced is PAYLINK_BASE_URL (the stack requires https; the
 * simulator is plain loopback http); the SDK checksum settings s3rver needs are added.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { StateMachine } from 'aws-local-stepfunctions';

/** An execution history event of aws-local-stepfunctions (its type is not exported). */
// biome-ignore lint/suspicious/noExplicitAny: event shapes vary by type.
export type EventLog = any;

import type { AwsGateway } from './aws-gateway.ts';
import type { Cfn, ResolvedTemplate } from './cfn-template.ts';
import { type Decision, IamGate, type Principal } from './iam-gate.ts';
import { WarmFunction } from './offline-lambda.ts';
import { timed } from './offline-profile.ts';
import './promise-with-resolvers.ts';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

/** A function of the stack as deployed: its bundle, role, environment and log group. */
export interface OfflineFunction {
  readonly label: string;
  readonly logicalId: string;
  readonly arn: string;
  readonly name: string;
  readonly bundle: string;
  readonly environment: Record<string, string>;
  readonly timeoutSeconds: number;
  readonly traced: boolean;
  readonly logGroupArn: string;
  readonly principal: Principal;
  readonly accessKeyId: string;
}

export interface OfflineStateMachine {
  readonly name: string;
  readonly arn: string;
  readonly definition: Cfn;
  readonly principal: Principal;
  readonly accessKeyId: string;
}

export interface ExecutionOutcome {
  readonly executionArn: string;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  readonly output?: Cfn;
  readonly error?: string;
  readonly cause?: string;
  readonly events: EventLog[];
  /** Each Lambda invocation, in order: task state, function label, outcome. */
  readonly invocations: { state: string; fn: string; ok: boolean; errorType?: string; logs: string }[];
}

export interface ExecuteOptions {
  /** Execution name (default: derived from the input's scheduledTime). */
  readonly name?: string;
  /** Stop after reading the Map's items: the output is the Map's input plus `items`. */
  readonly stopAtMap?: boolean;
  /** ListExecutions calls that fail (throttled) before one succeeds. */
  readonly throttleListExecutions?: number;
  /**
   * Stop the execution (StopExecution) at the first decision this matches; the outcome is
   * ABORTED once the Lambdas in flight have finished.
   */
  readonly abortWhen?: (decision: Decision) => boolean;
}

interface RunState {
  readonly executionArn: string;
  readonly invocations: ExecutionOutcome['invocations'];
  /**
   * Map items to run, by their JSON (undefined: all): a redrive's unsucceeded items. By value,
   * not index, so a redrive of a redrive picks the right ones from the item file.
   */
  items?: ReadonlySet<string>;
  childAction: 'states:StartExecution' | 'states:RedriveExecution';
  throttles: number;
  /** Lambda invocations still running (an aborted execution waits for them). */
  readonly inflight: Set<Promise<unknown>>;
  abortWhen?: (decision: Decision) => boolean;
  /** Set once the execution is stopped: no new Lambda invocation starts after that. */
  aborted?: boolean;
  /** `$$.Execution.RedriveCount`: 0 for a first attempt, 1 for a redrive. */
  readonly redriveCount: number;
  /** The Lambda tasks started so far, by state and Map item: a second start is a retry. */
  readonly attempted: Set<string>;
}

export class OfflineAws {
  readonly gate: IamGate;
  readonly functions: Map<string, OfflineFunction>;
  readonly stateMachines: Map<string, OfflineStateMachine>;
  /** The first schedule's role (the only one with one schedule). */
  readonly scheduler: { principal: Principal; accessKeyId: string };
  /** Each schedule's role, by the state machine it starts. */
  readonly schedulers: Map<string, { principal: Principal; accessKeyId: string }>;
  /** Executions Step Functions would list as RUNNING, by state machine ARN (oldest first). */
  readonly running = new Map<string, { executionArn: string; startDate: Date }[]>();
  /** Each function's execution environments, by label. */
  private readonly containers = new Map<string, WarmFunction>();

  constructor(
    readonly template: ResolvedTemplate,
    readonly gateway: AwsGateway,
    gate: IamGate,
    options: {
      bundles: Record<string, string>;
      baseUrl: string;
      handlerFileOf: (logicalId: string) => string;
    },
  ) {
    this.gate = gate;
    // The Lambdas' own ListExecutions (the redrive guard) see the executions run here.
    gateway.runningExecutions = (arn) =>
      [...(this.running.get(arn) ?? [])].reverse().map((e) => e.executionArn);
    const principal = (
      roleLogicalId: string,
      label: string,
    ): { principal: Principal; accessKeyId: string } => {
      const accessKeyId = `AKIAOFFLINE${label.toUpperCase()}`;
      const value: Principal = {
        roleArn: template.resolve({ 'Fn::GetAtt': [roleLogicalId, 'Arn'] }),
        label,
        statements: template.roleStatements(roleLogicalId),
      };
      gate.register(accessKeyId, value);
      return { principal: value, accessKeyId };
    };

    this.functions = new Map();
    for (const id of template.idsOfType('AWS::Lambda::Function')) {
      const p = template.resources[id].Properties;
      const handlerLabel = options.handlerFileOf(id);
      if (!handlerLabel) continue;
      const roleId = p.Role['Fn::GetAtt'][0] as string;
      const who = principal(roleId, handlerLabel);
      const name = template.nameOf(id);
      const environment = template.resolve(p.Environment?.Variables ?? {}) as Record<string, string>;
      this.functions.set(handlerLabel, {
        label: handlerLabel,
        logicalId: id,
        arn: template.resolve({ 'Fn::GetAtt': [id, 'Arn'] }),
        name,
        bundle: options.bundles[handlerLabel]!,
        environment: {
          ...environment,
          PAYLINK_BASE_URL: options.baseUrl,
          AWS_REGION: REGION,
          AWS_DEFAULT_REGION: REGION,
          AWS_ACCESS_KEY_ID: who.accessKeyId,
          AWS_SECRET_ACCESS_KEY: 'offline-secret',
          AWS_ENDPOINT_URL_S3: gateway.url,
          AWS_ENDPOINT_URL_SECRETS_MANAGER: gateway.url,
          AWS_ENDPOINT_URL_GLUE: gateway.url,
          AWS_ENDPOINT_URL_SFN: gateway.url,
          AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
          AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
          AWS_LAMBDA_FUNCTION_NAME: name,
          AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
          // Lambda's advanced logging controls: with the JSON format it filters application logs
          // at ApplicationLogLevel (INFO unless set) and tells the runtime so; Powertools' Logger
          // obeys AWS_LAMBDA_LOG_LEVEL over POWERTOOLS_LOG_LEVEL.
          ...(p.LoggingConfig?.LogFormat === 'JSON'
            ? {
                AWS_LAMBDA_LOG_FORMAT: 'JSON',
                AWS_LAMBDA_LOG_LEVEL: p.LoggingConfig.ApplicationLogLevel ?? 'INFO',
              }
            : {}),
        },
        timeoutSeconds: p.Timeout ?? 3,
        traced: p.TracingConfig?.Mode === 'Active',
        logGroupArn: template.resolve(
          p.LoggingConfig?.LogGroup
            ? { 'Fn::GetAtt': [p.LoggingConfig.LogGroup.Ref, 'Arn'] }
            : `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/${name}:*`,
        ),
        principal: who.principal,
        accessKeyId: who.accessKeyId,
      });
    }

    this.stateMachines = new Map();
    for (const id of template.idsOfType('AWS::StepFunctions::StateMachine')) {
      const p = template.resources[id].Properties;
      const roleId = p.RoleArn['Fn::GetAtt'][0] as string;
      const name = template.nameOf(id);
      const who = principal(roleId, `sm${this.stateMachines.size}`);
      this.stateMachines.set(name, {
        name,
        arn: template.resolve({ Ref: id }),
        definition: JSON.parse(template.resolve(p.DefinitionString)),
        principal: who.principal,
        accessKeyId: who.accessKeyId,
      });
    }
    // Each schedule starts its state machine with the role its target names.
    this.schedulers = new Map();
    for (const id of template.idsOfType('AWS::Scheduler::Schedule')) {
      const target = template.resources[id].Properties.Target;
      const roleId = target.RoleArn['Fn::GetAtt'][0] as string;
      const label = this.schedulers.size === 0 ? 'scheduler' : `scheduler${this.schedulers.size}`;
      this.schedulers.set(template.resolve(target.Arn) as string, principal(roleId, label));
    }
    const first = [...this.schedulers.values()][0];
    if (!first) throw new Error('no EventBridge Scheduler schedule in the template');
    this.scheduler = first;
  }

  /** The containers of a function (started on its first invocation). */
  private containersOf(fn: OfflineFunction): WarmFunction {
    let containers = this.containers.get(fn.label);
    if (!containers) {
      containers = new WarmFunction(fn.bundle, fn.environment);
      this.containers.set(fn.label, containers);
    }
    return containers;
  }

  /** Cold starts so far, by function label. */
  coldStarts(): Record<string, number> {
    return Object.fromEntries([...this.containers].map(([label, c]) => [label, c.coldStarts]));
  }

  /**
   * Ends every function's containers, as a fresh deployment has none: each next invocation is a
   * cold start (what the handlers cache per container, e.g. the PayLink secret, is read again).
   */
  recycle(): void {
    for (const containers of this.containers.values()) containers.recycle();
  }

  /** Ends every container. */
  close(): void {
    for (const containers of this.containers.values()) containers.close();
    this.containers.clear();
  }

  private fail(name: string, message: string): Error {
    const error = new Error(message);
    error.name = name;
    return error;
  }

  /** Invokes a function as Lambda does for a synchronous invoke from Step Functions. */
  private async invoke(
    state: string,
    fnArn: string,
    payload: Cfn,
    run: RunState,
    machine: OfflineStateMachine,
  ): Promise<Cfn> {
    const invoke = await this.gate.authorize(machine.principal, {
      action: 'lambda:InvokeFunction',
      resource: fnArn,
    });
    if (!invoke.allowed)
      throw this.fail(
        'Lambda.AWSLambdaException',
        IamGate.denialMessage(machine.principal, 'lambda:InvokeFunction', fnArn),
      );
    const fn = [...this.functions.values()].find((f) => f.arn === fnArn || fnArn.startsWith(`${f.arn}:`));
    if (!fn) throw this.fail('Lambda.ResourceNotFoundException', `Function not found: ${fnArn}`);
    // What the Lambda service does with the function's role: its log stream, its trace segments.
    const stream = `${fn.logGroupArn.replace(/:\*$/, '')}:log-stream:offline`;
    for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents'])
      await this.gate.authorize(fn.principal, { action, resource: stream });
    if (fn.traced)
      for (const action of ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'])
        await this.gate.authorize(fn.principal, { action, resource: '*' });
    // A stopped execution starts nothing new (its in-flight work is awaited by the caller).
    if (run.aborted) throw this.fail('States.Aborted', 'the execution was stopped');
    const containers = this.containersOf(fn);
    const cold = containers.coldStarts;
    const running = timed(
      'invoke',
      () => containers.invoke<Cfn>(payload, { remainingMs: fn.timeoutSeconds * 1000, timeoutMs: 120_000 }),
      {
        fn: fn.label,
        get cold() {
          return containers.coldStarts > cold;
        },
      },
    );
    run.inflight.add(running);
    const invocation = await running.finally(() => run.inflight.delete(running));
    run.invocations.push({
      state,
      fn: fn.label,
      ok: invocation.ok,
      ...(invocation.ok ? {} : { errorType: invocation.errorType }),
      logs: invocation.logs,
    });
    // Lambda reports a function error to Step Functions with the error as JSON in its Cause.
    if (!invocation.ok)
      throw this.fail(
        invocation.errorType,
        JSON.stringify({ errorType: invocation.errorType, errorMessage: invocation.errorMessage, trace: [] }),
      );
    return { ExecutedVersion: '$LATEST', Payload: invocation.result, StatusCode: 200 };
  }

  /**
   * A request to a function's URL, as the Lambda service hands it over: only when the template
   * gives the function a URL with auth NONE and the resource-based permission such a URL needs
   * (lambda:InvokeFunctionUrl for `*`, FunctionUrlAuthType NONE); otherwise 403, as AWS answers.
   * The event is the Function URL payload (version 2.0): lower-cased headers, a text body for a
   * JSON content type, base64 otherwise. Run in the function's kept containers, as every invocation.
   */
  async invokeUrl(
    label: string,
    request: { readonly method?: string; readonly headers: Record<string, string>; readonly body: string },
  ): Promise<{ statusCode: number; body: string; logs: string }> {
    const fn = this.functions.get(label);
    if (!fn) throw new Error(`no function ${label}`);
    const resources = this.template.resources;
    const targets = (ref: Cfn) => JSON.stringify(ref).includes(`"${fn.logicalId}"`);
    const url = Object.values(resources).find(
      (r: Cfn) => r.Type === 'AWS::Lambda::Url' && targets(r.Properties.TargetFunctionArn),
    ) as Cfn;
    const permitted = Object.values(resources).some(
      (r: Cfn) =>
        r.Type === 'AWS::Lambda::Permission' &&
        r.Properties.Action === 'lambda:InvokeFunctionUrl' &&
        r.Properties.Principal === '*' &&
        r.Properties.FunctionUrlAuthType === 'NONE' &&
        targets(r.Properties.FunctionName),
    );
    if (url?.Properties.AuthType !== 'NONE' || !permitted)
      return { statusCode: 403, body: '{"Message":"Forbidden"}', logs: '' };
    const stream = `${fn.logGroupArn.replace(/:\*$/, '')}:log-stream:offline`;
    for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents'])
      await this.gate.authorize(fn.principal, { action, resource: stream });
    if (fn.traced)
      for (const action of ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'])
        await this.gate.authorize(fn.principal, { action, resource: '*' });
    const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
    const text = /json|text/.test(headers['content-type'] ?? '');
    const event = {
      version: '2.0',
      routeKey: '$default',
      rawPath: '/',
      rawQueryString: '',
      headers,
      requestContext: {
        accountId: 'anonymous',
        domainName: 'offline.lambda-url.us-east-1.on.aws',
        http: { method: request.method ?? 'POST', path: '/', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' },
        requestId: 'offline-url-request',
        routeKey: '$default',
        stage: '$default',
        time: new Date().toUTCString(),
        timeEpoch: Date.now(),
      },
      body: text ? request.body : Buffer.from(request.body).toString('base64'),
      isBase64Encoded: !text,
    };
    const invocation = await this.containersOf(fn).invoke<{ statusCode: number; body: string }>(event, {
      remainingMs: fn.timeoutSeconds * 1000,
      timeoutMs: 60_000,
    });
    // An unhandled error: the Function URL answers 502 with no detail.
    if (!invocation.ok) return { statusCode: 502, body: 'Internal Server Error', logs: invocation.logs };
    return { ...invocation.result, logs: invocation.logs };
  }

  /** The Map's ItemReader, as Step Functions runs it with the state machine's role. */
  private async readItems(
    machine: OfflineStateMachine,
    reader: Cfn,
    input: { Bucket: string; Key: string },
  ): Promise<Cfn[]> {
    if (
      !String(reader.Resource).endsWith(':states:::s3:getObject') ||
      reader.ReaderConfig?.InputType !== 'JSON'
    )
      throw new Error(`ItemReader ${reader.Resource} ${JSON.stringify(reader.ReaderConfig)} is not modelled`);
    const client = new S3Client({
      region: REGION,
      endpoint: this.gateway.url,
      forcePathStyle: true,
      credentials: { accessKeyId: machine.accessKeyId, secretAccessKey: 'offline-secret' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      const object = await client.send(new GetObjectCommand({ Bucket: input.Bucket, Key: input.Key }));
      const items = JSON.parse(await object.Body!.transformToString()) as unknown;
      if (!Array.isArray(items))
        throw this.fail('States.ItemReaderFailed', 'the item file is not a JSON array');
      return items;
    } catch (error) {
      if ((error as Error).name === 'States.ItemReaderFailed') throw error;
      throw this.fail('States.ItemReaderFailed', `S3 getObject failed: ${(error as Error).name}`);
    } finally {
      client.destroy();
    }
  }

  /**
   * The definition as the interpreter can run it: each Distributed Map with an ItemReader gets
   * a preceding `<Map>.ItemReader` task (handled in executeDefinition) whose result the Map
   * iterates instead.
   */
  private runnable(definition: Cfn, stopAtMap: boolean): Cfn {
    const copy = structuredClone(definition);
    for (const [name, state] of Object.entries(copy.States as Record<string, Cfn>)) {
      if (state.Type !== 'Map' || !state.ItemReader) continue;
      if ((state.ToleratedFailurePercentage ?? 0) !== 0 || state.ToleratedFailureCount)
        throw new Error(`${name}: tolerated failures are not modelled by the interpreter`);
      const readerName = `${name}.ItemReader`;
      copy.States[readerName] = {
        Type: 'Task',
        Resource: 'arn:aws:states:::s3:getObject',
        Parameters: state.ItemReader.Parameters,
        ResultPath: '$.items',
        TimeoutSeconds: 60,
        ...(stopAtMap ? { End: true } : { Next: name }),
      };
      for (const [otherName, other] of Object.entries(copy.States as Record<string, Cfn>)) {
        if (otherName === readerName) continue;
        if (other.Next === name) other.Next = readerName;
        for (const choice of other.Choices ?? []) if (choice.Next === name) choice.Next = readerName;
        if (other.Default === name) other.Default = readerName;
      }
      if (copy.StartAt === name) copy.StartAt = readerName;
      state.ItemsPath = '$.items';
      delete state.ItemReader;
    }
    return copy;
  }

  private overrides(machine: OfflineStateMachine, definition: Cfn, run: RunState) {
    const handlers: Record<string, (input: Cfn) => Promise<Cfn>> = {};
    const waits: Record<string, number> = {};
    const retries: Record<string, number> = {};
    // `inMap`: the label of the Map whose item processor holds the states (its child executions' name).
    const visit = (states: Record<string, Cfn>, inMap: string | undefined) => {
      for (const [name, state] of Object.entries(states)) {
        if (state.Retry) retries[name] = 1;
        if (state.Type === 'Wait') waits[name] = 1;
        if (state.Type === 'Map') visit(state.ItemProcessor.States, state.Label ?? name);
        if (state.Type !== 'Task') continue;
        const resource = String(state.Resource);
        if (resource.endsWith(':states:::lambda:invoke')) {
          handlers[name] = async (input) => {
            const item = input.Payload?.batch ?? input.Payload?.mergeGroup?.table ?? 'item';
            const attempt = `${name}\n${inMap === undefined ? '' : item}`;
            if (run.attempted.has(attempt)) {
              // A retry: the real back-off outlasts the work in flight; let it end first.
              await Promise.allSettled([...run.inflight]);
              await new Promise((resolve) => setImmediate(resolve));
            }
            run.attempted.add(attempt);
            if (inMap !== undefined) {
              // The Distributed Map starts (or, on redrive, redrives) a child execution per item.
              const child = `arn:aws:states:${REGION}:${ACCOUNT}:execution:${machine.name}/${inMap}:${item}`;
              const resourceArn = run.childAction === 'states:StartExecution' ? machine.arn : child;
              const start = await this.gate.authorize(machine.principal, {
                action: run.childAction,
                resource: resourceArn,
              });
              if (!start.allowed)
                throw this.fail(
                  'States.Runtime',
                  IamGate.denialMessage(machine.principal, run.childAction, resourceArn),
                );
            }
            return this.invoke(name, input.FunctionName, input.Payload, run, machine);
          };
        } else if (resource.endsWith(':states:::aws-sdk:sfn:listExecutions')) {
          handlers[name] = async (input) => {
            const decision = await this.gate.authorize(machine.principal, {
              action: 'states:ListExecutions',
              resource: input.StateMachineArn,
            });
            if (!decision.allowed)
              throw this.fail(
                'Sfn.SfnException',
                IamGate.denialMessage(machine.principal, 'states:ListExecutions', input.StateMachineArn),
              );
            if (run.throttles > 0) {
              run.throttles -= 1;
              throw this.fail('Sfn.SfnException', 'Rate exceeded (ThrottlingException)');
            }
            // ListExecutions lists newest first (API reference).
            const running = [...(this.running.get(input.StateMachineArn) ?? [])].reverse();
            return { Executions: running.map((e) => ({ ExecutionArn: e.executionArn, Status: 'RUNNING' })) };
          };
        } else if (resource === 'arn:aws:states:::s3:getObject') {
          const mapName = name.replace(/\.ItemReader$/, '');
          const reader = findState(machine.definition, mapName).ItemReader;
          handlers[name] = async (input) => {
            const items = await this.readItems(machine, reader, input);
            const pending = run.items;
            return pending === undefined ? items : items.filter((item) => pending.has(JSON.stringify(item)));
          };
        } else {
          throw new Error(`task ${name} (${resource}) is not modelled`);
        }
      }
    };
    visit(definition.States, undefined);
    return { taskResourceLocalHandlers: handlers, waitTimeOverrides: waits, retryIntervalOverrides: retries };
  }

  private async executeDefinition(
    machine: OfflineStateMachine,
    definition: Cfn,
    input: Cfn,
    executionArn: string,
    run: RunState,
  ): Promise<ExecutionOutcome> {
    const interpreter = new StateMachine(definition, { validationOptions: { noValidate: true } });
    const execution = interpreter.run(input, {
      overrides: this.overrides(machine, definition, run),
      context: {
        Execution: {
          Id: executionArn,
          Name: executionArn.split(':').at(-1),
          RoleArn: machine.principal.roleArn,
          RedriveCount: run.redriveCount,
        },
        StateMachine: { Id: machine.arn, Name: machine.name },
      },
    });
    const events: EventLog[] = [];
    const collecting = (async () => {
      for await (const event of execution.eventLogs) events.push(event);
    })();
    let aborted = false;
    const listener = (decision: Decision) => {
      if (!aborted && run.abortWhen?.(decision)) {
        aborted = true;
        run.aborted = true;
        execution.abort();
      }
    };
    this.gate.listeners.add(listener);
    try {
      const output = await execution.result;
      await collecting;
      return { executionArn, status: 'SUCCEEDED', output, events, invocations: run.invocations };
    } catch (error) {
      await collecting;
      if (aborted) {
        // Like StopExecution: Lambdas already running finish on their own; wait for them.
        while (run.inflight.size > 0) await Promise.allSettled([...run.inflight]);
        return { executionArn, status: 'ABORTED', events, invocations: run.invocations };
      }
      const failed = [...events].reverse().find((e) => e.type === 'ExecutionFailed') as
        | { Error: string; Cause: unknown }
        | undefined;
      const timedOut = (error as Error).name === 'ExecutionTimeoutError';
      while (run.inflight.size > 0) await Promise.allSettled([...run.inflight]);
      return {
        executionArn,
        status: timedOut ? 'TIMED_OUT' : 'FAILED',
        error: failed?.Error ?? (error as Error).name,
        cause: String(failed?.Cause ?? (error as Error).message),
        events,
        invocations: run.invocations,
      };
    } finally {
      this.gate.listeners.delete(listener);
    }
  }

  /**
   * The input the schedule's EventBridge Scheduler target sends for a slot: its `Target.Input`
   * from the template, with the scheduled time in place of `<aws.scheduler.scheduled-time>`.
   */
  scheduledInput(scheduleName: string, scheduledTime: string): Cfn {
    const machine = [...this.stateMachines.values()].find((m) => m.name.endsWith(`-${scheduleName}`));
    if (!machine) throw new Error(`no state machine for schedule ${scheduleName}`);
    const target = this.template
      .idsOfType('AWS::Scheduler::Schedule')
      .map((id) => this.template.resources[id].Properties.Target)
      .find((t) => this.template.resolve(t.Arn) === machine.arn);
    if (!target) throw new Error(`no schedule targets ${machine.name}`);
    return JSON.parse(
      String(this.template.resolve(target.Input)).replaceAll('<aws.scheduler.scheduled-time>', scheduledTime),
    );
  }

  /**
   * Starts an execution as EventBridge Scheduler does (states:StartExecution as the scheduler
   * role) and runs it to its end.
   */
  async execute(scheduleName: string, input: Cfn, options: ExecuteOptions = {}): Promise<ExecutionOutcome> {
    const machine = [...this.stateMachines.values()].find((m) => m.name.endsWith(`-${scheduleName}`));
    if (!machine) throw new Error(`no state machine for schedule ${scheduleName}`);
    const scheduler = this.schedulers.get(machine.arn) ?? this.scheduler;
    const start = await this.gate.authorize(scheduler.principal, {
      action: 'states:StartExecution',
      resource: machine.arn,
    });
    const name =
      options.name ?? `slot-${String(input.scheduledTime ?? 'manual').replace(/[^0-9A-Za-z-]/g, '')}`;
    const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:${machine.name}:${name}`;
    if (!start.allowed) {
      return {
        executionArn,
        status: 'FAILED',
        error: 'Scheduler.AccessDenied',
        cause: IamGate.denialMessage(scheduler.principal, 'states:StartExecution', machine.arn),
        events: [],
        invocations: [],
      };
    }
    const running = this.running.get(machine.arn) ?? [];
    running.push({ executionArn, startDate: new Date() });
    this.running.set(machine.arn, running);
    const run: RunState = {
      executionArn,
      invocations: [],
      childAction: 'states:StartExecution',
      throttles: options.throttleListExecutions ?? 0,
      inflight: new Set(),
      redriveCount: 0,
      attempted: new Set(),
      ...(options.abortWhen ? { abortWhen: options.abortWhen } : {}),
    };
    try {
      return await timed(
        'execute',
        () =>
          this.executeDefinition(
            machine,
            this.runnable(machine.definition, options.stopAtMap ?? false),
            input,
            executionArn,
            run,
          ),
        { schedule: scheduleName },
      );
    } finally {
      running.splice(
        running.findIndex((e) => e.executionArn === executionArn),
        1,
      );
    }
  }

  /**
   * Redrives a failed execution (RedriveExecution): restarts it at the state that failed, with
   * that state's input; a Distributed Map re-runs only its items that did not succeed.
   */
  async redrive(scheduleName: string, failed: ExecutionOutcome): Promise<ExecutionOutcome> {
    const machine = [...this.stateMachines.values()].find((m) => m.name.endsWith(`-${scheduleName}`))!;
    const topLevel = new Set(Object.keys(machine.definition.States));
    const failedState = [...failed.events]
      .reverse()
      .find((e) => e.type === 'StateFailed' && topLevel.has((e as { state: { name: string } }).state.name)) as
      | { state: { name: string; input: Cfn } }
      | undefined;
    if (!failedState) throw new Error('nothing to redrive: no top-level state failed');
    const definition = this.runnable(machine.definition, false);
    const state = failedState.state;
    let start = state.name;
    let input = state.input;
    const run: RunState = {
      executionArn: failed.executionArn,
      invocations: [],
      childAction: 'states:StartExecution',
      throttles: 0,
      inflight: new Set(),
      redriveCount: 1,
      attempted: new Set(),
    };
    if (machine.definition.States[state.name].Type === 'Map') {
      // Restart at the item reader with the Map's input; only unsucceeded items run again.
      start = `${state.name}.ItemReader`;
      input = { ...state.input };
      delete input.items;
      const succeeded = new Set(
        failed.events
          .filter(
            (e) =>
              e.type === 'MapIterationSucceeded' &&
              (e as { parentState: { name: string } }).parentState.name === state.name,
          )
          .map((e) => (e as { index: number }).index),
      );
      run.items = new Set(
        (state.input.items as unknown[])
          .filter((_, i) => !succeeded.has(i))
          .map((item) => JSON.stringify(item)),
      );
      run.childAction = 'states:RedriveExecution';
    }
    const running = this.running.get(machine.arn) ?? [];
    running.push({ executionArn: failed.executionArn, startDate: new Date() });
    this.running.set(machine.arn, running);
    try {
      return await timed('redrive', () =>
        this.executeDefinition(machine, { ...definition, StartAt: start }, input, failed.executionArn, run),
      );
    } finally {
      running.splice(
        running.findIndex((e) => e.executionArn === failed.executionArn),
        1,
      );
    }
  }
}

function findState(definition: Cfn, name: string): Cfn {
  const state = definition.States[name];
  if (!state) throw new Error(`no state ${name}`);
  return state;
}
