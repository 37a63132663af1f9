/**
 * Every log line a handler writes is in docs/operations.md's log table, so an operator who
 * finds a message in CloudWatch can look it up (the eighth review found `changed_users_deferred`
 * only in deploy.md). The names are read from the handlers' source (string literals and the
 * contract's *_EVENT constants passed to `log.<level>(`), never a hand list.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as contract from '#handlers/contract.ts';

const root = path.resolve(import.meta.dirname, '../..');

function loggedNames(): Set<string> {
  const constants = new Map(
    Object.entries(contract as Record<string, unknown>).filter(
      (entry): entry is [string, string] => entry[0].endsWith('_EVENT') && typeof entry[1] === 'string',
    ),
  );
  const names = new Set<string>();
  const dir = path.join(root, 'lambdas');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const source = readFileSync(path.join(dir, file), 'utf8');
    for (const m of source.matchAll(
      /\blog\.(?:debug|info|warn|error)\(\s*(?:'([a-z_]+)'|([A-Z_]+_EVENT)\b)/g,
    )) {
      const name = m[1] ?? constants.get(m[2]!);
      expect(name, `${file}: ${m[0]} names no message`).toBeDefined();
      names.add(name!);
    }
  }
  return names;
}

describe('docs/operations.md log table', () => {
  it('has a row for every message a handler logs', () => {
    const names = loggedNames();
    // The handlers do log: a regex that matched nothing would pass any doc.
    expect(names.size).toBeGreaterThanOrEqual(15);
    const doc = readFileSync(path.join(root, 'docs/operations.md'), 'utf8');
    const rows = doc.split('\n').filter((line) => line.startsWith('| `'));
    const documented = new Set(
      rows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!)),
    );
    expect([...names].filter((n) => !documented.has(n)).sort()).toEqual([]);
  });
});
