/**
 * A loopback stand-in for AWS Secrets Manager's GetSecretValue (AWS JSON 1.1), good enough for
 * the real @aws-sdk/client-secrets-manager pointed at it with AWS_ENDPOINT_URL_SECRETS_MANAGER.
 * No emulator exists in the npm registry (see docs/toolchain-notes.md).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An error the fake answers for a secret id instead of a value (e.g. AccessDeniedException). */
export interface FakeSecretError {
  readonly errorType: string;
  readonly message?: string;
  readonly status?: number;
}

export interface FakeSecretsManager {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** GetSecretValue calls received so far. */
  calls(): number;
  close(): Promise<void>;
}

const AMZ_JSON = 'application/x-amz-json-1.1';

export async function startFakeSecretsManager(
  secrets: Readonly<Record<string, string | FakeSecretError>>,
): Promise<FakeSecretsManager> {
  let calls = 0;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const reply = (status: number, body: object): void => {
      res.writeHead(status, { 'content-type': AMZ_JSON }).end(JSON.stringify(body));
    };
    if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
      reply(400, { __type: 'UnknownOperationException', Message: 'only GetSecretValue is faked' });
      return;
    }
    calls++;
    const { SecretId: id } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
      SecretId?: string;
    };
    const secret = id === undefined ? undefined : secrets[id];
    if (secret === undefined) {
      reply(400, {
        __type: 'ResourceNotFoundException',
        Message: "Secrets Manager can't find the specified secret.",
      });
    } else if (typeof secret !== 'string') {
      reply(secret.status ?? 400, { __type: secret.errorType, Message: secret.message ?? secret.errorType });
    } else {
      reply(200, {
        ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${id}-AbCdEf`,
        Name: id,
        SecretString: secret,
        VersionId: '00000000-0000-4000-8000-000000000001',
        VersionStages: ['AWSCURRENT'],
        CreatedDate: 1_700_000_000,
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls: () => calls,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
