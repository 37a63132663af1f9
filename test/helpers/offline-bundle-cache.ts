/**
 * The handler bundles of the offline deployments, built once per test run and shared by every
 * test file that deploys offline (the bundles are read-only; each world runs its own processes).
 *
 * Why on disk: vitest runs each test file in a fresh worker, so a bundle memoized in a module was
 * built again by every file (esbuild: seconds of a file's time, every file). The vitest global
 * setup (`setup` below) only creates the run's cache folder and removes it at the end; the first
 * file that needs the bundles builds them under a lock, the others wait for that build. A folder
 * is named by a hash of everything the bundles are built from, so a changed source (watch mode)
 * gets new bundles, never stale ones.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's folder of shared offline bundles (offline-bundle-cache.ts). */
    offlineBundleRoot: string;
  }
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** vitest globalSetup: the run's cache folder, removed when the run ends. */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = await mkdtemp(path.join(tmpdir(), 'paylink-offline-bundles-'));
  project.provide('offlineBundleRoot', root);
  return () => rm(root, { recursive: true, force: true });
}

/** Every file the bundles are built from: the Lambda sources, the build options, the dependencies. */
function sourceHash(): string {
  const hash = createHash('sha256');
  const add = (file: string) => hash.update(file).update('\0').update(readFileSync(file)).update('\0');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) add(full);
    }
  };
  walk(path.join(REPO_ROOT, 'lambdas'));
  walk(path.join(REPO_ROOT, 'infra'));
  for (const file of ['package-lock.json', 'tsconfig.lambda.json']) add(path.join(REPO_ROOT, file));
  return hash.digest('hex').slice(0, 16);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The bundles `build(dir)` lays out in `dir`, built once per run under `root`: the first caller
 * builds (holding a lock folder), the others wait for its `done` marker. A failed build releases
 * the lock, so a waiter builds in turn (and fails with the build's own error if it fails again).
 */
export async function sharedBuild<T>(root: string, build: (dir: string) => Promise<T>): Promise<T> {
  const dir = path.join(root, sourceHash());
  const done = path.join(dir, 'done.json');
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (existsSync(done)) return JSON.parse(readFileSync(done, 'utf8')) as T;
    try {
      await mkdir(lock);
    } catch {
      if (Date.now() > deadline)
        throw new Error(`offline bundles: waited 300 s for the build holding ${lock}`);
      await sleep(200);
      continue;
    }
    try {
      await rm(dir, { recursive: true, force: true });
      const built = await build(dir);
      await writeFile(done, JSON.stringify(built));
      return built;
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }
}
