/**
 * `status`'s data-quality settings from the stack's own config: the `dataQuality` of a cdk.json
 * (`context.paylink.dataQuality`), read with the schema `cdk synth` uses (core/quality-config.ts),
 * so `status` judges a lake with the values its deployed alarms and commit were built with.
 *
 * Which file: `--stack-config <cdk.json>`, else `./cdk.json` when the working folder has one
 * with a `paylink` context (a CDK app's folder). Not the `--config` of `load`: that file is
 * the loader's resource overrides, a different document.
 */
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { issueWords, parseOrThrow } from '#core/config.ts';
import { ConfigError } from '#core/errors.ts';
import { QUALITY_DEFAULTS, type QualitySettings } from '#core/quality.ts';
import { type DataQualityConfig, dataQualitySchema } from '#core/quality-config.ts';
import {
  DEFAULT_STACK_NAME,
  knownResourcesOf,
  type ScheduleConfig,
  scheduleListIssues,
  scheduleListWarnings,
  schedulesSchema,
} from '#core/schedule-config.ts';
import {
  parseScheduleExpression,
  runDeadlineSeconds,
  stalenessWindowSeconds,
} from '#core/schedule-expression.ts';
import { pathFrom } from './args.ts';

/** The CDK context key of the stack's config (infra/constants.ts CONTEXT_KEY). */
const CONTEXT_KEY = 'paylink';

/** The settings `status` takes from `dataQuality`, by their cdk.json names. */
export const STACK_QUALITY_KEYS = [
  'trailingLoads',
  'minTrailingLoads',
  'quietFeedFraction',
  'failedUserSharePercent',
  'minExpectedRows',
  'minUsersForFailedShare',
] as const;

export type StackQualityKey = (typeof STACK_QUALITY_KEYS)[number];

export interface StackQualityConfig {
  /** The file as the user typed it, or `./cdk.json`. */
  readonly file: string;
  /** Whether it was found in the working folder rather than given with --stack-config. */
  readonly implicit: boolean;
  /** The stack's settings, defaults filled in as `cdk synth` fills them. */
  readonly dataQuality: DataQualityConfig;
  /** The keys the file sets itself (the others are the stack's defaults). */
  readonly given: ReadonlySet<StackQualityKey>;
  /**
   * Each schedule's run window (seconds from its slot to the commit), as the stack's
   * RunOutsideWindow alarm has it (core/schedule-expression.ts `runDeadlineSeconds`), by schedule
   * name; empty when `dataQuality.runOutsideWindow` is false (the alarm is off).
   */
  readonly runWindows: Readonly<Record<string, number>>;
  /**
   * Each schedule's NoRecentSuccess window (seconds: two periods, core/schedule-expression.ts
   * `stalenessWindowSeconds`, as infra/ builds the alarm), by schedule name: `status
   * --fail-on-signals` flags a schedule whose newest committed load is older than this.
   */
  readonly stalenessWindows: Readonly<Record<string, number>>;
}

/**
 * The quality settings `status` and `load` judge with, read the same way for both: the stack's
 * `dataQuality` (--stack-config, else ./cdk.json when it is the stack's; a note for one that is
 * ignored goes to stderr), else the defaults. `status`'s flags go over them (quality-report.ts).
 */
export async function readQualitySettings(
  io: { readonly cwd: string; readonly stderr: { write(text: string): unknown } },
  typed: string | undefined,
): Promise<{ readonly stack: StackQualityConfig | undefined; readonly settings: QualitySettings }> {
  const stack = await readStackQualityConfig(io.cwd, typed, (line) => io.stderr.write(`note: ${line}\n`));
  return { stack, settings: stackQualitySettings(stack) };
}

/** The settings of the judgement from the stack's dataQuality (cdk.json names), or the defaults. */
export function stackQualitySettings(stack: StackQualityConfig | undefined): QualitySettings {
  if (stack === undefined) return QUALITY_DEFAULTS;
  const q = stack.dataQuality;
  return {
    trailingLoads: q.trailingLoads,
    minTrailingLoads: q.minTrailingLoads,
    quietFraction: q.quietFeedFraction,
    failedUserSharePercent: q.failedUserSharePercent,
    minExpectedRows: q.minExpectedRows,
    minUsersForFailedShare: q.minUsersForFailedShare,
  };
}

/**
 * The file's stack settings; undefined when none is given and ./cdk.json is absent or not the
 * stack's (not JSON, unreadable, or no `paylink` context: another app's, said in one line to
 * `note`). A file given with --stack-config must be the stack's: anything else is an error.
 */
export async function readStackQualityConfig(
  cwd: string,
  typed: string | undefined,
  note: (line: string) => void = () => {},
): Promise<StackQualityConfig | undefined> {
  const implicit = typed === undefined;
  const file = typed ?? './cdk.json';
  // Named as given; the implicit file in the words the user would look for it.
  const source = implicit ? `${file} (read because it is in the working folder)` : `--stack-config ${file}`;
  let text: string;
  try {
    text = await readFile(pathFrom(cwd, file), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (implicit) {
      if (code !== 'ENOENT')
        note(`${file} in the working folder is ignored: it cannot be read (${code ?? 'error'})`);
      return undefined;
    }
    throw new ConfigError(
      '--stack-config',
      code === 'ENOENT' ? `file not found: ${file}` : `cannot read ${file} (${code ?? 'error'})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Another app's file, or one being edited: not a reason to refuse every `status`.
    if (implicit) {
      note(`${file} in the working folder is ignored: it is not valid JSON (not this stack's config)`);
      return undefined;
    }
    throw new ConfigError(source, 'is not valid JSON');
  }
  const context = objectAt(parsed, 'context');
  let stack = context?.[CONTEXT_KEY];
  // `cdk -c paylink='{...}'` stores it as a JSON string; a cdk.json may too.
  if (typeof stack === 'string') {
    try {
      stack = JSON.parse(stack);
    } catch {
      throw new ConfigError(source, `context.${CONTEXT_KEY} is a string that is not valid JSON`);
    }
  }
  if (stack === undefined || stack === null || typeof stack !== 'object' || Array.isArray(stack)) {
    // Another CDK app's cdk.json: nothing of this stack in it.
    if (implicit) {
      note(
        `${file} in the working folder is ignored: it has no context.${CONTEXT_KEY} (not this stack's config)`,
      );
      return undefined;
    }
    throw new ConfigError(
      source,
      `has no context.${CONTEXT_KEY} object (the stack's config, docs/deploy.md)`,
    );
  }
  // Absent: the stack's defaults. null is refused, as synth refuses it (one schema).
  const raw = (stack as Record<string, unknown>).dataQuality;
  const dataQuality = parseAs(dataQualitySchema, raw, `context.${CONTEXT_KEY}.dataQuality`, source);
  const set = raw !== null && typeof raw === 'object' ? Object.keys(raw) : [];
  const schedules = checkedSchedules(stack as Record<string, unknown>, source);
  // A cron period synth could not check against its runs: said, as synth warns, not guessed.
  for (const line of scheduleListWarnings(schedules)) note(line);
  return {
    file,
    implicit,
    dataQuality,
    given: new Set(STACK_QUALITY_KEYS.filter((k) => set.includes(k))),
    runWindows: dataQuality.runOutsideWindow ? runWindowsOf(schedules) : {},
    stalenessWindows: Object.fromEntries(
      schedules.map((x) => [
        x.name,
        stalenessWindowSeconds(parseScheduleExpression(x.expression)!, x.expectedPeriodHours),
      ]),
    ),
  };
}

/**
 * The stack's `schedules`, checked as `cdk synth` checks them: each with its schema, then the
 * checks across schedules (core/schedule-config.ts `scheduleListIssues`, the function synth's
 * schema runs), so a schedule synth refuses is refused here in its words.
 *
 * @throws ConfigError naming the schedule's key when synth would refuse it.
 */
function checkedSchedules(stack: Record<string, unknown>, source: string): ScheduleConfig[] {
  // Absent: no schedules to judge by (a cdk.json for status may carry dataQuality only).
  if (stack.schedules === undefined) return [];
  const at = `context.${CONTEXT_KEY}.schedules`;
  const schedules = parseAs(schedulesSchema, stack.schedules, at, source);
  const loaderResources = objectAt(stack.loaderConfig, 'resources');
  const issue = scheduleListIssues(schedules, {
    // As synth fills it in; an invalid one synth refuses first, reported by synth.
    stackName: typeof stack.stackName === 'string' ? stack.stackName : DEFAULT_STACK_NAME,
    knownResources: knownResourcesOf(Object.keys(loaderResources ?? {})),
  })[0];
  if (issue !== undefined) {
    const [index, ...rest] = issue.path;
    throw new ConfigError(source, `${[`${at}[${index}]`, ...rest.map(String)].join('.')}: ${issue.message}`);
  }
  return schedules;
}

/** Run windows by schedule name, computed as synth computes them (the schedules are checked). */
function runWindowsOf(schedules: readonly ScheduleConfig[]): Record<string, number> {
  return Object.fromEntries(
    schedules.map((x) => [
      x.name,
      runDeadlineSeconds(parseScheduleExpression(x.expression)!, x.expectedPeriodHours),
    ]),
  );
}

/**
 * A part of the stack config parsed with synth's schema, its first issue in the words `cdk
 * synth` reports the same key with (infra/config.ts, core/config.ts issueWords); an unknown key in parseOrThrow's,
 * which names the nearest known one.
 */
function parseAs<T>(schema: z.ZodType<T>, raw: unknown, at: string, source: string): T {
  const checked = schema.safeParse(raw, { reportInput: true });
  if (checked.success) return checked.data;
  const issue = checked.error.issues[0]!;
  if (issue.code !== 'unrecognized_keys')
    throw new ConfigError(
      source,
      `${bracketed([at, ...issue.path.map(String)].join('.'))}: ${issueWords(issue, schema)}`,
    );
  try {
    return parseOrThrow(schema, raw, at);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const colon = error.message.indexOf(': ');
    const message =
      colon < 0 ? error.message : `${bracketed(error.message.slice(0, colon))}${error.message.slice(colon)}`;
    throw new ConfigError(source, message, error);
  }
}

/** A key as a person finds it in the file: `schedules[0].name` for synth's `schedules.0.name`. */
const bracketed = (key: string) => key.replace(/\.(\d+)(?=\.|$)/g, '[$1]');

function objectAt(value: unknown, key: string): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const inner = (value as Record<string, unknown>)[key];
  return inner !== null && typeof inner === 'object' && !Array.isArray(inner)
    ? (inner as Record<string, unknown>)
    : undefined;
}
