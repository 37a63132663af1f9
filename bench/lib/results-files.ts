/**
 * Recorded results: a Markdown history (one dated section appended per run, newest last) and
 * the latest run as JSON for tools.
 */
import { appendFile, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchRun } from './report.ts';

const HISTORY_HEADER = `# normalize-encode benchmark results

Appended by \`npm run bench\`, newest last. How to read them and the targets: [../README.md](../README.md).
Compare ratios within one section; absolute figures move with the machine and its load.
`;

export async function saveResults(
  dir: string,
  name: string,
  run: BenchRun,
  markdown: string,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const historyPath = join(dir, `${name}.md`);
  const latestPath = join(dir, `${name}.json`);
  const exists = await stat(historyPath).then(
    () => true,
    () => false,
  );
  await appendFile(historyPath, `${exists ? '' : HISTORY_HEADER}\n${markdown}`);
  await writeFile(latestPath, `${JSON.stringify(run, null, 2)}\n`);
  return [historyPath, latestPath];
}
