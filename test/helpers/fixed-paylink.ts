/**
 * A loopback PayLink that serves fixed response TEXT per user: the token is the identifier,
 * and `GET /pay-link/accounts` answers the body set for that user (raw, so a test can send
 * what JSON.parse would round or refuse: 19-digit integers, bare NaN). Any other path is `{}`.
 */
import { type HttpTestServer, startHttpTestServer } from './http-test-server.ts';

export interface FixedPayLink {
  readonly url: string;
  /** Body text of `GET /pay-link/accounts` per user identifier. */
  readonly accounts: Map<string, string>;
  close(): Promise<void>;
}

export async function startFixedPayLink(): Promise<FixedPayLink> {
  const accounts = new Map<string, string>();
  const server: HttpTestServer = await startHttpTestServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    if (request.method === 'POST' && request.path === '/access-token') {
      const { identifier } = JSON.parse(request.body) as { identifier: string };
      response.end(JSON.stringify({ data: { publicToken: identifier } }));
      return;
    }
    const user = String(request.headers['x-public-token'] ?? '');
    if (request.path === '/pay-link/accounts') {
      response.end(accounts.get(user) ?? '{"accounts": []}');
      return;
    }
    response.end('{}');
  });
  return { url: server.url, accounts, close: () => server.close() };
}
