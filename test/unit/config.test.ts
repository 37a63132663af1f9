import { describe, expect, it } from 'vitest';
import {
  configFileSchema,
  loaderSettings,
  parseOrThrow,
  positiveInt,
  resolveCatalog,
  selectResources,
} from '#core/config.ts';
import { ConfigError } from '#core/errors.ts';

const catalog = resolveCatalog();
const tables = (names?: string[]) =>
  selectResources(catalog, names).steps.map((s) => `${s.resource.table}${s.emit ? '' : '(fetch)'}`);

describe('resource selection', () => {
  it('loads every user-scoped feed except account and tasks by default', () => {
    expect(selectResources(catalog).tables).toEqual([
      'accounts',
      'action_history',
      'orders',
      'suggestions',
      'recurring_financial_transactions',
      'financial_transactions_most_recent',
    ]);
  });

  it('fetches a parent that was not selected only to fan out its children', () => {
    expect(tables(['action_history'])).toEqual(['accounts(fetch)', 'action_history']);
  });

  it('orders parents before children whatever order the names are given in', () => {
    expect(tables(['account', 'accounts'])).toEqual(['accounts', 'account']);
  });

  it('names unknown resources and lists the known ones', () => {
    expect(() => selectResources(catalog, ['acounts'])).toThrowError(
      /resources: unknown resource 'acounts'; known: accounts, account/,
    );
  });

  it('includes opt-in resources when named', () => {
    expect(tables(['tasks'])).toEqual(['tasks']);
  });
});

describe('catalog overrides from a config file', () => {
  it('replaces a wrong selector guess without touching the rest of the entry', () => {
    const merged = resolveCatalog({ action_history: { selectors: ['history', 'items'] } });
    const entry = merged.find((r) => r.table === 'action_history')!;
    expect(entry.selectors).toEqual(['history', 'items']);
    expect(entry.parent).toEqual({ resource: 'accounts', field: '_id', queryParam: 'accountId' });
  });

  it('adds a new resource', () => {
    const merged = resolveCatalog({
      identities: {
        path: '/pay-link/identities',
        kind: 'list',
        selectors: ['identities'],
        defaultEnabled: false,
      },
    });
    expect(merged.map((r) => r.table)).toContain('identities');
  });

  it('names the key of an invalid override', () => {
    expect(() => resolveCatalog({ orders: { path: 'pay-link/orders' } })).toThrowError(
      /^resources\.orders\.path: /,
    );
  });

  it('rejects a child without a way to pass the parent key', () => {
    expect(() =>
      resolveCatalog({
        x: {
          path: '/x',
          kind: 'list',
          selectors: ['x'],
          defaultEnabled: true,
          parent: { resource: 'accounts' },
        },
      }),
    ).toThrowError(/resources\.x\.path: a child resource needs \{id\}/);
  });

  it('rejects an unknown parent', () => {
    expect(() =>
      resolveCatalog({
        x: {
          path: '/x/{id}',
          kind: 'list',
          selectors: ['x'],
          defaultEnabled: true,
          parent: { resource: 'nope' },
        },
      }),
    ).toThrowError(/resources\.x\.parent\.resource: unknown resource 'nope'/);
  });

  it('rejects unknown top-level keys by name', () => {
    expect(() =>
      parseOrThrow(configFileSchema, { baseUrl: 'https://x.example', retries: 3 }, 'config'),
    ).toThrowError(ConfigError);
  });

  it('defaults the base URL to the sandbox and takes an override', () => {
    expect(loaderSettings().baseUrl).toBe('https://sandbox-api.atomicfi.com');
    expect(loaderSettings({ baseUrl: 'http://127.0.0.1:9' }).baseUrl).toBe('http://127.0.0.1:9');
  });
});

describe('numeric settings', () => {
  it('names the flag and never echoes its value', () => {
    const error = (() => {
      try {
        positiveInt('--concurrency', 'zero-secret', 4);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toBe('--concurrency: must be a positive integer');
  });
});

describe('declared columns in a config file', () => {
  it('adds declarations to the catalog’s, keeping the catalog’s other fields', () => {
    const catalog = resolveCatalog({
      accounts: { columns: { nickname: 'text', limits: { fields: { monthly: 'double' } } } },
    });
    const accounts = catalog.find((r) => r.table === 'accounts')!;
    expect(accounts.columns.nickname).toBe('text');
    expect(accounts.columns.limits).toEqual({ fields: { monthly: 'double' } });
    expect(accounts.columns.closedAt).toBe('timestamp');
    expect(accounts.fieldAliases).toEqual({ expenses: 'bills' });
  });

  it('names the key of a hint that is not a type, an object or a list', () => {
    expect(() => resolveCatalog({ accounts: { columns: { nickname: 'varchar' as never } } })).toThrow(
      expect.objectContaining({
        name: 'ConfigError',
        message: expect.stringContaining('resources.accounts.columns.nickname'),
      }),
    );
  });
});
