/**
 * The front door of the offline AWS: one loopback HTTP endpoint that every emulated process's
 * real AWS SDK clients talk to (AWS_ENDPOINT_URL_S3 / _SECRETS_MANAGER / _GLUE all point here).
 * For each call it
 *  1. identifies the caller by the access key id in its SigV4 `Authorization` header (each
 *     emulated Lambda signs with its own role's key),
 *  2. maps the request to the IAM action(s) and resource ARN(s) AWS authorizes it against
 *     (Service Authorization Reference: S3, Secrets Manager, Glue) and evaluates them with the
 *     IamGate (iam-simulate over the synthesized policies); a denial is answered as AWS answers
 *     it (S3: 403 AccessDenied XML; JSON services: 400 AccessDeniedException naming the action
 *     and resource),
 *  3. applies the S3 semantics our code depends on that s3rver does not implement:
 *     - a missing key read without s3:ListBucket on the bucket is 403, not 404 (GetObject and
 *       HeadObject API reference, "Permissions");
 *     - `If-None-Match: *` on PutObject answers 412 PreconditionFailed when the key exists
 *       (conditional writes; serialized per key like S3's strong consistency);
 *     - DeleteObjects authorizes each key and reports refused keys in its `Errors`,
 *  4. forwards what is allowed to s3rver, the Secrets Manager fake or the Glue fake.
 * Faults can be injected per call (a 500 for a matching key) to exercise retries.
 */

import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Cfn } from './cfn-template.ts';
import { IamGate, type Principal } from './iam-gate.ts';
import { record, timed } from './offline-profile.ts';

export interface GatewayCall {
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly status: number;
}

export interface GatewayFault {
  /** Which calls fail. */
  readonly match: (call: { action: string; resource: string }) => boolean;
  readonly status: number;
  readonly code: string;
  /** How many matching calls fail; unset: until removed. */
  remaining?: number;
}

/** Every `action` (`s3:GetObject`, ...) on an S3 resource that matches `resource` answered 500. */
export function s3InternalErrors(action: string, resource: RegExp): GatewayFault {
  return {
    match: (c) => c.action === action && resource.test(c.resource),
    status: 500,
    code: 'InternalError',
  };
}

/** `run` with `fault` in place; the fault is removed when `run` ends, however it ends. */
export async function withFault<T>(
  gateway: Pick<AwsGateway, 'faults'>,
  fault: GatewayFault,
  run: () => Promise<T>,
): Promise<T> {
  gateway.faults.push(fault);
  try {
    return await run();
  } finally {
    gateway.faults.splice(gateway.faults.indexOf(fault), 1);
  }
}

export interface AwsGatewayOptions {
  readonly gate: IamGate;
  readonly region: string;
  readonly account: string;
  /** s3rver, Secrets Manager fake, Glue fake. */
  readonly s3: string;
  readonly secretsManager: string;
  readonly glue: string;
  /** Bucket policies by bucket name (resolved from the template). */
  readonly bucketPolicies?: Readonly<Record<string, Cfn>>;
}

export interface AwsGateway {
  readonly url: string;
  readonly calls: GatewayCall[];
  readonly faults: GatewayFault[];
  /**
   * Step Functions as a Lambda sees it (the redrive guard's ListExecutions): the RUNNING
   * executions of a state machine, newest first. Set by OfflineAws, which runs them.
   */
  runningExecutions?: (stateMachineArn: string) => string[];
  close(): Promise<void>;
}

const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
function xmlUnescape(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&');
}

function s3Error(res: ServerResponse, status: number, code: string, message: string, head: boolean): void {
  res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'offline' });
  if (head) res.end();
  else
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message><RequestId>offline</RequestId></Error>`,
    );
}

function jsonError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
  res.end(JSON.stringify({ __type: type, Message: message }));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Upstream {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** Sends a request to an emulator, signed as its own account (s3rver checks only the key id). */
function forward(
  target: string,
  method: string,
  path: string,
  headers: IncomingMessage['headers'],
  body: Buffer,
): Promise<Upstream> {
  const url = new URL(target);
  const sent = { ...headers, host: url.host, 'content-length': String(body.length) };
  if (typeof sent.authorization === 'string')
    sent.authorization = sent.authorization.replace(/Credential=[^/]+\//, 'Credential=S3RVER/');
  delete sent['transfer-encoding'];
  delete sent.connection;
  return new Promise((resolve, reject) => {
    const out = request({ host: url.hostname, port: url.port, method, path, headers: sent }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () =>
        resolve({ status: answer.statusCode ?? 500, headers: answer.headers, body: Buffer.concat(chunks) }),
      );
      answer.on('error', reject);
    });
    out.on('error', reject);
    out.end(body);
  });
}

/** Headers of a request the gateway itself sends to s3rver on a caller's behalf (HEAD, DELETE). */
function internalHeaders(req: IncomingMessage): IncomingMessage['headers'] {
  return {
    authorization: req.headers.authorization,
    'x-amz-date': req.headers['x-amz-date'],
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
  };
}

function relay(res: ServerResponse, upstream: Upstream): void {
  const headers = { ...upstream.headers };
  delete headers['transfer-encoding'];
  delete headers.connection;
  headers['content-length'] = String(upstream.body.length);
  res.writeHead(upstream.status, headers);
  res.end(upstream.body);
}

export async function startAwsGateway(options: AwsGatewayOptions): Promise<AwsGateway> {
  const { gate, region, account } = options;
  const calls: GatewayCall[] = [];
  const faults: GatewayFault[] = [];
  /** Conditional writes to one key are serialized (S3 decides them atomically). */
  const keyLocks = new Map<string, Promise<void>>();

  async function withKeyLock<T>(key: string, run: () => Promise<T>): Promise<T> {
    const previous = keyLocks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((r) => {
      release = r;
    });
    keyLocks.set(
      key,
      previous.then(() => current),
    );
    await previous;
    try {
      return await run();
    } finally {
      release();
      if (keyLocks.get(key) === current) keyLocks.delete(key);
    }
  }

  function faultFor(action: string, resource: string): GatewayFault | undefined {
    const fault = faults.find(
      (f) => (f.remaining === undefined || f.remaining > 0) && f.match({ action, resource }),
    );
    if (fault?.remaining !== undefined) fault.remaining -= 1;
    return fault;
  }

  async function allowed(
    principal: Principal,
    action: string,
    resource: string,
    context?: Record<string, string>,
    resourcePolicy?: Cfn,
  ): Promise<boolean> {
    const decision = await timed(
      'iam',
      () =>
        gate.authorize(principal, {
          action,
          resource,
          ...(context ? { context } : {}),
          ...(resourcePolicy ? { resourcePolicy } : {}),
        }),
      { action },
    );
    return decision.allowed;
  }

  async function handleJson(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    target: string,
  ): Promise<void> {
    const body = await readBody(req);
    const input = JSON.parse(body.toString('utf8') || '{}') as Record<string, Cfn>;
    const [service, operation] = target.split('.') as [string, string];
    let action: string;
    let resources: string[];
    let upstream: string;
    if (service === 'secretsmanager') {
      action = `secretsmanager:${operation}`;
      const id = String(input.SecretId ?? '');
      resources = [id.startsWith('arn:') ? id : `arn:aws:secretsmanager:${region}:${account}:secret:${id}-*`];
      upstream = options.secretsManager;
    } else if (service === 'AWSGlue') {
      action = `glue:${operation}`;
      // Glue authorizes table calls on the catalog, the database and the table (Glue developer
      // guide, "Specifying AWS Glue resource ARNs").
      const database = String(input.DatabaseName ?? '');
      const table = String(input.Name ?? input.TableInput?.Name ?? '');
      const glueArn = (r: string) => `arn:aws:glue:${region}:${account}:${r}`;
      resources = [glueArn('catalog'), glueArn(`database/${database}`)];
      if (table) resources.push(glueArn(`table/${database}/${table}`));
      upstream = options.glue;
    } else if (target === 'AWSStepFunctions.ListExecutions' && gateway.runningExecutions) {
      // Served here, not forwarded: the executions are the offline state machine's.
      action = 'states:ListExecutions';
      const machine = String(input.stateMachineArn ?? '');
      if (!(await allowed(principal, action, machine))) {
        calls.push({ principal: principal.label, action, resource: machine, status: 400 });
        return jsonError(
          res,
          400,
          'AccessDeniedException',
          IamGate.denialMessage(principal, action, machine),
        );
      }
      const fault = faultFor(action, machine);
      if (fault) {
        calls.push({ principal: principal.label, action, resource: machine, status: fault.status });
        return jsonError(res, fault.status, fault.code, 'injected');
      }
      calls.push({ principal: principal.label, action, resource: machine, status: 200 });
      const executions = gateway.runningExecutions(machine).map((executionArn) => ({
        executionArn,
        stateMachineArn: machine,
        name: executionArn.split(':').at(-1),
        status: 'RUNNING',
        startDate: 0,
      }));
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      return void res.end(JSON.stringify({ executions }));
    } else {
      return jsonError(res, 400, 'UnknownOperationException', `offline AWS does not serve ${target}`);
    }
    for (const resource of resources) {
      if (!(await allowed(principal, action, resource))) {
        calls.push({ principal: principal.label, action, resource, status: 400 });
        return jsonError(
          res,
          400,
          'AccessDeniedException',
          IamGate.denialMessage(principal, action, resource),
        );
      }
    }
    const fault = faultFor(action, resources.at(-1)!);
    if (fault) {
      calls.push({ principal: principal.label, action, resource: resources.at(-1)!, status: fault.status });
      return jsonError(res, fault.status, fault.code, 'injected');
    }
    const answer = await forward(upstream, 'POST', '/', req.headers, body);
    calls.push({ principal: principal.label, action, resource: resources.at(-1)!, status: answer.status });
    relay(res, answer);
  }

  async function handleS3(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    const bucketArn = `arn:aws:s3:::${bucket}`;
    const objectArn = (k: string) => `${bucketArn}/${k}`;
    const policy = options.bucketPolicies?.[bucket];
    const body = await readBody(req);
    const path = req.url ?? '/';
    const record = (action: string, resource: string, status: number) =>
      calls.push({ principal: principal.label, action, resource, status });
    const deny = (action: string, resource: string) => {
      record(action, resource, 403);
      s3Error(res, 403, 'AccessDenied', IamGate.denialMessage(principal, action, resource), head);
    };
    const injected = (action: string, resource: string) => {
      const fault = faultFor(action, resource);
      if (!fault) return false;
      record(action, resource, fault.status);
      s3Error(res, fault.status, fault.code, 'injected fault', head);
      return true;
    };
    /** A read of a missing key: 404 only for a caller that may list the bucket. */
    const missingKeyAnswer = async (action: string, resource: string, upstream: Upstream) => {
      if (
        upstream.status === 404 &&
        !(await allowed(principal, 's3:ListBucket', bucketArn, undefined, policy))
      ) {
        record(action, resource, 403);
        return s3Error(res, 403, 'AccessDenied', 'Access Denied', head);
      }
      record(action, resource, upstream.status);
      relay(res, upstream);
    };

    if (!key) {
      if (method === 'GET' && q.get('list-type') === '2') {
        const prefix = q.get('prefix');
        const context = prefix === null ? undefined : { 's3:prefix': prefix };
        if (!(await allowed(principal, 's3:ListBucket', bucketArn, context, policy)))
          return deny('s3:ListBucket', bucketArn);
        if (injected('s3:ListBucket', bucketArn)) return;
        const answer = await forward(options.s3, method, path, req.headers, body);
        record('s3:ListBucket', bucketArn, answer.status);
        return relay(res, answer);
      }
      if (method === 'POST' && q.has('delete')) {
        const keys = [...body.toString('utf8').matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) =>
          xmlUnescape(m[1]!),
        );
        const refused: string[] = [];
        for (const k of keys) {
          if (!(await allowed(principal, 's3:DeleteObject', objectArn(k), undefined, policy))) {
            refused.push(k);
            record('s3:DeleteObject', objectArn(k), 403);
          }
        }
        if (refused.length === 0) {
          if (injected('s3:DeleteObject', objectArn(keys[0] ?? ''))) return;
          const answer = await forward(options.s3, method, path, req.headers, body);
          for (const k of keys) record('s3:DeleteObject', objectArn(k), answer.status);
          return relay(res, answer);
        }
        // Partly refused: delete the allowed keys one by one, report the refused ones the way
        // S3 does, in the 200 answer's Errors.
        for (const k of keys.filter((k) => !refused.includes(k))) {
          const encoded = `/${bucket}/${k.split('/').map(encodeURIComponent).join('/')}`;
          const answer = await forward(options.s3, 'DELETE', encoded, internalHeaders(req), Buffer.alloc(0));
          record('s3:DeleteObject', objectArn(k), answer.status);
        }
        const errors = refused
          .map(
            (k) =>
              `<Error><Key>${xmlEscape(k)}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`,
          )
          .join('');
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="${S3_XMLNS}">${errors}</DeleteResult>`,
        );
        return;
      }
      return s3Error(res, 501, 'NotImplemented', `offline S3 does not serve ${method} on a bucket`, head);
    }

    const resource = objectArn(key);
    if (method === 'GET' || method === 'HEAD') {
      if (q.has('uploadId')) return s3Error(res, 501, 'NotImplemented', 'ListParts is not served', head);
      if (!(await allowed(principal, 's3:GetObject', resource, undefined, policy)))
        return deny('s3:GetObject', resource);
      if (injected('s3:GetObject', resource)) return;
      return missingKeyAnswer(
        's3:GetObject',
        resource,
        await forward(options.s3, method, path, req.headers, body),
      );
    }
    if (method === 'DELETE') {
      const action = q.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject';
      if (!(await allowed(principal, action, resource, undefined, policy))) return deny(action, resource);
      if (injected(action, resource)) return;
      const answer = await forward(options.s3, method, path, req.headers, body);
      record(action, resource, answer.status);
      return relay(res, answer);
    }
    if (method === 'PUT' || method === 'POST') {
      // PutObject also authorizes CreateMultipartUpload, UploadPart and CompleteMultipartUpload.
      const copySource = req.headers['x-amz-copy-source'];
      if (typeof copySource === 'string' && !q.has('partNumber')) {
        const source = decodeURIComponent(copySource.replace(/^\//, '').split('?')[0]!);
        const sourceArn = `arn:aws:s3:::${source}`;
        if (!(await allowed(principal, 's3:GetObject', sourceArn, undefined, policy)))
          return deny('s3:GetObject', sourceArn);
        if (!(await allowed(principal, 's3:PutObject', resource, undefined, policy)))
          return deny('s3:PutObject', resource);
        if (injected('s3:PutObject', resource)) return;
        return missingKeyAnswer(
          's3:PutObject',
          resource,
          await forward(options.s3, method, path, req.headers, body),
        );
      }
      if (!(await allowed(principal, 's3:PutObject', resource, undefined, policy)))
        return deny('s3:PutObject', resource);
      if (injected('s3:PutObject', resource)) return;
      if (req.headers['if-none-match'] === '*') {
        return withKeyLock(`${bucket}/${key}`, async () => {
          const exists = await forward(
            options.s3,
            'HEAD',
            `/${bucket}/${rest.join('/')}`,
            internalHeaders(req),
            Buffer.alloc(0),
          );
          if (exists.status === 200) {
            record('s3:PutObject', resource, 412);
            return s3Error(
              res,
              412,
              'PreconditionFailed',
              'At least one of the pre-conditions you specified did not hold',
              false,
            );
          }
          const headers = { ...req.headers };
          delete headers['if-none-match'];
          const answer = await forward(options.s3, method, path, headers, body);
          record('s3:PutObject', resource, answer.status);
          relay(res, answer);
        });
      }
      const answer = await forward(options.s3, method, path, req.headers, body);
      record('s3:PutObject', resource, answer.status);
      return relay(res, answer);
    }
    return s3Error(res, 501, 'NotImplemented', `offline S3 does not serve ${method}`, head);
  }

  const server = createServer((req, res) => {
    const started = performance.now();
    res.on('finish', () =>
      record('gateway', performance.now() - started, {
        call: String(req.headers['x-amz-target'] ?? `s3 ${req.method}`),
      }),
    );
    const authorization = String(req.headers.authorization ?? '');
    const keyId = /Credential=([^/]+)\//.exec(authorization)?.[1];
    const principal = keyId === undefined ? undefined : gate.principalOf(keyId);
    const target = req.headers['x-amz-target'];
    const work = async () => {
      if (principal === undefined) {
        if (typeof target === 'string')
          return jsonError(res, 400, 'UnrecognizedClientException', 'unknown access key');
        return s3Error(res, 403, 'InvalidAccessKeyId', 'unknown access key', req.method === 'HEAD');
      }
      if (typeof target === 'string') return handleJson(req, res, principal, target);
      return handleS3(req, res, principal);
    };
    work().catch((error: unknown) => {
      if (!res.headersSent) s3Error(res, 500, 'InternalError', `offline AWS failed: ${String(error)}`, false);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const gateway: AwsGateway = {
    url: `http://127.0.0.1:${port}`,
    calls,
    faults,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
  return gateway;
}
