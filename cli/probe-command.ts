/**
 * `paylink-loader probe --user <identifier>`: before a first load, see what PayLink really
 * answers for each catalog resource: status, top-level keys, the selector that matched, record
 * count, field paths and types. Never a value (nor a key of a map keyed by data). Exit 0 when
 * every resource was read, 4 when one would be disabled by a load (a miss, with its fix), 1 when
 * PayLink cannot be used at all or does not know the user (the results are then inconclusive).
 */
import { resolveCredentials } from '#adapters/credentials.ts';
import { createPayLinkClient } from '#adapters/paylink-client.ts';
import { createSystemRateLimiter } from '#adapters/system-timers.ts';
import { loaderSettings, selectResources } from '#core/config.ts';
import { DEFAULTS } from '#core/constants.ts';
import { type ProbeReport, probeUser, type ResourceProbe } from '#core/probe.ts';
import { parseTaskIds } from '#core/users.ts';
import { list, parseFlags, required } from './args.ts';
import type { Io } from './io.ts';
import { readConfigFile, readText } from './load-command.ts';
import { EXIT, renderTable } from './summary.ts';

export const PROBE_USAGE = `paylink-loader probe --user <identifier> [options]

  Calls every catalog resource once for one user (a child for one parent) and prints, per
  resource: HTTP status, the body's top-level keys, the selector that matched, the record
  count, and each field's path and type. Never a value from the data.

  --user <identifier>     a user identifier, exactly as given to PayLink
  --base-url <url>        PayLink API (default ${DEFAULTS.baseUrl})
  --config <file.json>    the same catalog overrides as load
  --resources a,b         only these resources (default: the whole catalog)
  --task-ids <file>       JSON lines {"identifier","taskId"}: task ids for tasks
  --secret-id <id|arn>    read {"api_key","api_secret"} from Secrets Manager
  --json                  the same facts as JSON on stdout`;

export async function probeCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, {
    user: { type: 'string' },
    'base-url': { type: 'string' },
    config: { type: 'string' },
    resources: { type: 'string' },
    'task-ids': { type: 'string' },
    'secret-id': { type: 'string' },
    json: { type: 'boolean' },
  });
  const identifier = required(values.user, '--user');
  const file = await readConfigFile(io.cwd, values.config);
  const settings = loaderSettings({
    ...file,
    ...(values['base-url'] === undefined ? {} : { baseUrl: values['base-url'] }),
  });
  const names = list(values.resources);
  const resources =
    names === undefined
      ? settings.catalog
      : selectResources(settings.catalog, names).steps.map((s) => s.resource);
  const taskIds = values['task-ids']
    ? (parseTaskIds(await readText(io.cwd, values['task-ids'], '--task-ids'), '--task-ids').get(identifier) ??
      [])
    : [];
  const credentials = await resolveCredentials({
    env: io.env,
    ...(values['secret-id'] === undefined ? {} : { secretId: values['secret-id'] }),
  });
  const api = createPayLinkClient({
    baseUrl: settings.baseUrl,
    credentials,
    rateLimiter: createSystemRateLimiter(DEFAULTS.rateLimit),
    http: settings.http,
  });
  const report = await probeUser({ identifier, resources, taskIds }, api);
  const exitCode =
    report.user !== 'known'
      ? EXIT.nothingCommitted
      : report.resources.some((p) => p.outcome === 'failed' || p.outcome === 'selector_miss')
        ? EXIT.resourceDisabled
        : EXIT.ok;
  io.stdout.write(
    values.json
      ? `${JSON.stringify({ baseUrl: settings.baseUrl, ...report }, null, 2)}\n`
      : `${formatProbe(settings.baseUrl, report)}\n`,
  );
  if (report.note !== undefined) io.stderr.write(`probe inconclusive: ${report.note}.\n`);
  return exitCode;
}

export function formatProbe(baseUrl: string, report: ProbeReport): string {
  const probes = report.resources;
  const lines = [`PayLink at ${baseUrl}: a token was minted for the user; one call per resource.`, ''];
  if (report.note !== undefined) lines.push(`Inconclusive: ${report.note}.`, '');
  lines.push(
    renderTable(
      ['resource', 'status', 'records', 'selector', 'top-level keys'],
      probes.map((p) => [
        p.resource,
        p.status === null ? (p.notJson === undefined ? '-' : '2xx') : String(p.status),
        p.records === null ? '-' : String(p.records),
        p.selector ?? '-',
        p.topLevelKeys.join(', ') || '-',
      ]),
    ),
  );
  for (const p of probes) {
    lines.push('');
    lines.push(
      `${p.resource} (GET ${p.endpoint}, ${p.auth === 'server' ? 'server key' : 'user token'}): ${describeOutcome(p)}`,
    );
    if (p.detail !== undefined) lines.push(`  ${p.detail}`);
    if (p.fix !== undefined) lines.push(`  fix: ${p.fix}`);
    const width = Math.max(0, ...p.fields.map((f) => f.path.length));
    for (const f of p.fields) lines.push(`  ${f.path.padEnd(width)}  ${f.types.join(' | ')}`);
  }
  return lines.join('\n');
}

function describeOutcome(p: ResourceProbe): string {
  switch (p.outcome) {
    case 'ok':
      return `${p.records} record(s) at '${p.selector}', ${p.fields.length} field path(s)`;
    case 'no_data':
      return 'HTTP 404, read as no data for this user (notFound: empty)';
    case 'selector_miss':
      return 'no selector matched the body';
    case 'failed':
      if (p.notJson !== undefined) return `answered 2xx, but not with JSON (${p.notJson})`;
      return p.status === null ? 'no answer' : `HTTP ${p.status}`;
    case 'skipped':
      return 'not called';
  }
}
