/**
 * Every relative link of README.md and docs/*.md points to a file of the repo, and every
 * `#anchor` to a heading of its target: a reader following one lands somewhere (a link to a
 * file outside the repo, or one since moved, went unnoticed before).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's heading anchor: lower case, punctuation other than `-` and `_` dropped, spaces to `-`. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** A file's heading anchors, outside code fences; repeats get GitHub's `-1`, `-2` suffixes. */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (m === null) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Inline links `[text](target)` outside code fences and code spans, with their line numbers. */
function links(text: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  let fenced = false;
  text.split('\n').forEach((line, index) => {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) return;
    for (const m of line.replace(/`[^`]*`/g, '``').matchAll(/\]\(([^)\s]+)\)/g))
      out.push({ line: index + 1, target: m[1]! });
  });
  return out;
}

describe('relative links of README.md and docs/', () => {
  it('finds the links it checks', () => {
    const all = DOCS.flatMap((file) => links(readFileSync(join(ROOT, file), 'utf8')));
    expect(all.filter((l) => !/^[a-z]+:/i.test(l.target)).length).toBeGreaterThan(5);
  });

  it.each(DOCS)('%s: every relative link names an existing file, and its anchor a heading there', (file) => {
    const broken: string[] = [];
    for (const { line, target } of links(readFileSync(join(ROOT, file), 'utf8'))) {
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:: not ours to check offline
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const resolved = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path);
      if (!resolved.startsWith(ROOT) || !existsSync(resolved)) {
        broken.push(`${file}:${line}: ${target} (no ${relative(ROOT, resolved)} in the repo)`);
        continue;
      }
      if (anchor !== undefined && anchor !== '' && resolved.endsWith('.md')) {
        if (!anchors(readFileSync(resolved, 'utf8')).has(anchor))
          broken.push(`${file}:${line}: ${target} (no heading #${anchor} there)`);
      }
    }
    expect(broken).toEqual([]);
  });
});
