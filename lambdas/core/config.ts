/**
 * The loader's typed configuration, parsed once at the edge (CLI flags, Lambda environment,
 * a JSON config file). Errors name the offending key, never its value.
 */
import * as z from 'zod';
import { DEFAULTS } from './constants.ts';
import { ConfigError } from './errors.ts';
import {
  fieldHintsSchema,
  KNOWN_TASKS,
  PAYLINK_RESOURCES,
  paginatorSchema,
  type ResourceDef,
  resourceSchema,
} from './resources.ts';

const httpSchema = z
  .object({
    timeoutMs: z.number().int().positive().max(900_000),
    attempts: z.number().int().min(1).max(20),
    backoffBaseMs: z.number().int().nonnegative(),
    backoffMaxMs: z.number().int().nonnegative(),
    retryAfterMaxMs: z.number().int().nonnegative(),
    requestBudgetMs: z.number().int().positive(),
    maxResponseBytes: z.number().int().positive(),
  })
  .partial()
  .strict();

/**
 * One resource's override: any field, none defaulted. With the catalog schema's defaults, an
 * override naming only `selectors` would also reset `fieldAliases` to {} and `paginator` to
 * single, silently dropping what the catalog says (`expenses` read as `bills`).
 */
const resourceOverrideSchema = resourceSchema
  .extend({
    paginator: paginatorSchema.optional(),
    fieldAliases: z.record(z.string(), z.string()).optional(),
    columns: fieldHintsSchema.optional(),
  })
  .partial()
  .strict();

/**
 * A config file (`--config`): overrides of catalog entries by table name (any field), and new
 * resources. This is how an operator fixes a wrong guess about the API (a selector, a path,
 * a paginator) without a release.
 */
export const configFileSchema = z
  .object({
    baseUrl: z.url().optional(),
    resources: z.record(z.string(), resourceOverrideSchema).optional(),
    http: httpSchema.optional(),
  })
  .strict();
export type ConfigFile = z.input<typeof configFileSchema>;

export type HttpPolicy = { -readonly [K in keyof typeof DEFAULTS.http]: number };

export interface LoaderSettings {
  readonly baseUrl: string;
  readonly catalog: readonly ResourceDef[];
  readonly http: HttpPolicy;
}

/** Formats a zod issue path as the config key a user would write (`resources.orders.path`). */
function keyOf(prefix: string, path: readonly PropertyKey[]): string {
  return [prefix, ...path.map(String)].filter(Boolean).join('.');
}

/**
 * Parses with zod and rethrows the first issue as a ConfigError naming the key, in plain words
 * with the accepted range and the value given (issueWords). An unknown key is named itself
 * (`config.resourcez`, not `config`), with the nearest valid key at that level when one is close.
 */
export function parseOrThrow<T>(schema: z.ZodType<T>, input: unknown, prefix: string): T {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) {
    const unknown = issue.keys[0];
    const near = nearest(unknown, keysAt(schema, issue.path));
    throw new ConfigError(
      keyOf(prefix, [...issue.path, unknown]),
      `unknown key${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
    );
  }
  throw new ConfigError(keyOf(prefix, issue.path) || prefix || 'config', issueWords(issue, schema));
}

/** zod's own messages (`Too small: expected number to be >0`); a schema's own words are kept. */
const ZOD_WORDS = /^(Invalid input|Too small|Too big|Invalid)\b/;

/**
 * A zod issue in the words of a person editing a file: one line with the accepted range and the
 * value given (`must be a whole number from 1 to 512 (got 0)`), never zod's `Too small: expected
 * number to be >=1`. The range is read from the number schema at the issue's path, so a bound
 * the issue does not mention (the maximum of a value too small) is named too. The schema's own
 * message is kept when it has one. Strings are never echoed (a config holds ARNs and e-mail
 * addresses a CI log must not show): numbers, booleans and null are.
 *
 * Parse with `{ reportInput: true }` for the value to be named.
 */
export function issueWords(issue: z.core.$ZodIssue, schema?: z.ZodType): string {
  const got = gotWords(issue);
  if (!ZOD_WORDS.test(issue.message)) return `${issue.message}${got}`;
  const target = schema === undefined ? undefined : schemaAt(schema, issue.path);
  const range = target === undefined ? undefined : numberRange(target);
  const units = (origin: string) =>
    origin === 'string' ? ' characters' : origin === 'array' || origin === 'set' ? ' items' : '';
  switch (issue.code) {
    case 'too_big':
    case 'too_small':
      if (range !== undefined && (issue.origin === 'number' || issue.origin === 'int'))
        return `must be ${range}${got}`;
      return issue.code === 'too_big'
        ? `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum}${units(issue.origin)}${got}`
        : `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${issue.minimum}${units(issue.origin)}${got}`;
    case 'invalid_type':
      if (range !== undefined && (issue.expected === 'number' || issue.expected === 'int'))
        return `must be ${range}${got}`;
      return `must be ${TYPE_WORDS[issue.expected] ?? `of type ${issue.expected}`}${got}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}${got}`;
    case 'invalid_format':
      return issue.format === 'url' ? 'must be an absolute URL' : `must be a valid ${issue.format}`;
    default:
      return `${issue.message}${got}`;
  }
}

/** ` (got 0)`, ` (got null)`, ` (got a string)`; empty when the issue carries no input. */
function gotWords(issue: z.core.$ZodIssue): string {
  // A refinement's own message says what is wrong with the value (logLevel names it itself).
  if (!('input' in issue) || issue.code === 'custom') return '';
  const value = issue.input;
  if (value === null) return ' (got null)';
  if (typeof value === 'number' || typeof value === 'boolean') return ` (got ${String(value)})`;
  // A string, list or object is only named by its kind, and only when the kind is what is wrong.
  if (issue.code !== 'invalid_type') return '';
  if (typeof value === 'string') return ' (got a string)';
  if (Array.isArray(value)) return ' (got a list)';
  if (typeof value === 'object') return ' (got an object)';
  return '';
}

type Check = { check?: string; format?: string; value?: number; inclusive?: boolean };

/**
 * The accepted range of a number schema in words (`a whole number from 1 to 512`, `a number
 * above 0`), from its checks; undefined for any other schema.
 */
function numberRange(schema: z.ZodType): string | undefined {
  const d = schema._zod.def as unknown as { type: string; checks?: { _zod: { def: Check } }[] };
  if (d.type !== 'number') return undefined;
  let whole = false;
  let lower: Check | undefined;
  let upper: Check | undefined;
  for (const c of (d.checks ?? []).map((check) => check._zod.def)) {
    if (c.check === 'number_format' && (c.format === 'safeint' || c.format === 'int32')) whole = true;
    if (c.check === 'greater_than') lower = c;
    if (c.check === 'less_than') upper = c;
  }
  const noun = whole ? 'a whole number' : 'a number';
  if (lower !== undefined && upper !== undefined) {
    if (lower.inclusive && upper.inclusive) return `${noun} from ${lower.value} to ${upper.value}`;
    return `${noun} ${lower.inclusive ? 'from' : 'above'} ${lower.value} and ${upper.inclusive ? 'at most' : 'below'} ${upper.value}`;
  }
  if (lower !== undefined)
    return lower.inclusive ? `${noun}, ${lower.value} or more` : `${noun} above ${lower.value}`;
  if (upper !== undefined)
    return upper.inclusive ? `${noun}, at most ${upper.value}` : `${noun} below ${upper.value}`;
  return noun;
}

const TYPE_WORDS: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object ({...})',
  array: 'a list ([...])',
  record: 'an object ({...})',
};

type SchemaDef = {
  type: string;
  innerType?: z.ZodType;
  valueType?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
};
const defOf = (s: z.ZodType) => s._zod.def as unknown as SchemaDef;

/** A schema through its optional, default and prefault wrappers. */
function unwrapSchema(s: z.ZodType | undefined): z.ZodType | undefined {
  let current = s;
  while (current !== undefined && defOf(current).innerType !== undefined) current = defOf(current).innerType;
  return current;
}

/** The schema of the value at `path` (object keys, list indexes, record values), unwrapped. */
function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let current = unwrapSchema(schema);
  for (const segment of path) {
    if (current === undefined) return undefined;
    const d = defOf(current);
    current = unwrapSchema(
      d.type === 'record' ? d.valueType : d.type === 'array' ? d.element : d.shape?.[String(segment)],
    );
  }
  return current;
}

/** The keys an object schema accepts at `path` (through optional, default and record values, list items). */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const at = schemaAt(schema, path);
  return at === undefined ? [] : Object.keys(defOf(at).shape ?? {});
}

/** The candidate closest to `word` by edit distance, when it is close (a typo, not another word). */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (best === undefined || distance < best.distance) best = { candidate, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(word.length / 3))
    ? best.candidate
    : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = row;
  }
  return previous[b.length]!;
}

/** Merges catalog overrides and new resources into the built-in catalog, and validates parents. */
export function resolveCatalog(overrides: ConfigFile['resources'] = {}): ResourceDef[] {
  const byTable = new Map<string, ResourceDef>();
  for (const entry of PAYLINK_RESOURCES) byTable.set(entry.table, resourceSchema.parse(entry));
  for (const [table, override] of Object.entries(overrides)) {
    const base = byTable.get(table);
    // Declared columns add to the catalog's (a field named in both takes the override's hint).
    const columns = { ...(base?.columns ?? {}), ...(override.columns ?? {}) };
    const merged = parseOrThrow(
      resourceSchema,
      { ...(base ?? {}), table, ...override, columns },
      `resources.${table}`,
    );
    byTable.set(table, merged);
  }
  const catalog = [...byTable.values()];
  for (const resource of catalog) {
    const parent = resource.parent?.resource;
    if (parent !== undefined && parent !== KNOWN_TASKS && !byTable.has(parent)) {
      throw new ConfigError(`resources.${resource.table}.parent.resource`, `unknown resource '${parent}'`);
    }
    if (
      resource.parent &&
      parent !== KNOWN_TASKS &&
      !resource.parent.queryParam &&
      !resource.path.includes('{id}')
    ) {
      throw new ConfigError(
        `resources.${resource.table}.path`,
        'a child resource needs {id} in its path or parent.queryParam',
      );
    }
  }
  return catalog;
}

export function loaderSettings(file: ConfigFile = {}): LoaderSettings {
  return {
    baseUrl: file.baseUrl ?? DEFAULTS.baseUrl,
    catalog: resolveCatalog(file.resources),
    http: { ...DEFAULTS.http, ...file.http },
  };
}

export interface ResourceStep {
  readonly resource: ResourceDef;
  /** False for a parent fetched only to fan out its children (not selected itself). */
  readonly emit: boolean;
}

/** Resources a load runs, in dependency order (parents first). */
export interface ResourcePlan {
  readonly steps: readonly ResourceStep[];
  /** Tables whose rows are written (the selected resources). */
  readonly tables: readonly string[];
}

/**
 * Which resources a load runs. `names` omitted: every default-enabled resource. A selected
 * child pulls its parent in as fetch-only, so `--resources action_history` works on its own.
 */
export function selectResources(catalog: readonly ResourceDef[], names?: readonly string[]): ResourcePlan {
  const byTable = new Map(catalog.map((r) => [r.table, r]));
  let selected: ResourceDef[];
  // An empty selection is a mistake (a script's unset variable: `--resources "$R"`), not "all".
  if (names !== undefined && names.length === 0)
    throw new ConfigError(
      'resources',
      'is empty: name at least one resource, or leave it out for the default set',
    );
  if (names === undefined) {
    selected = catalog.filter((r) => r.defaultEnabled);
  } else {
    const unknown = names.filter((n) => !byTable.has(n));
    if (unknown.length > 0) {
      throw new ConfigError(
        'resources',
        `unknown resource ${unknown.map((n) => `'${n}'`).join(', ')}; known: ${catalog.map((r) => r.table).join(', ')}`,
      );
    }
    selected = [...new Set(names)].map((n) => byTable.get(n)!);
  }
  const wanted = new Set(selected.map((r) => r.table));
  const needed = new Set(wanted);
  for (const r of selected) {
    let parent = r.parent?.resource;
    while (parent !== undefined && parent !== KNOWN_TASKS && !needed.has(parent)) {
      needed.add(parent);
      parent = byTable.get(parent)?.parent?.resource;
    }
  }
  // Catalog order with parents before children: a stable topological order.
  const ordered: ResourceDef[] = [];
  const placed = new Set<string>();
  const place = (r: ResourceDef, depth: number): void => {
    if (placed.has(r.table)) return;
    if (depth > catalog.length)
      throw new ConfigError(`resources.${r.table}.parent`, 'parent chain has a cycle');
    const parent = r.parent?.resource;
    if (parent !== undefined && parent !== KNOWN_TASKS) place(byTable.get(parent)!, depth + 1);
    placed.add(r.table);
    ordered.push(r);
  };
  for (const r of catalog) if (needed.has(r.table)) place(r, 0);
  return {
    steps: ordered.map((resource) => ({ resource, emit: wanted.has(resource.table) })),
    tables: ordered.filter((r) => wanted.has(r.table)).map((r) => r.table),
  };
}

/** Positive integer settings from flags or environment; names the key when invalid. */
export function positiveInt(key: string, raw: string | number | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(key, 'must be a positive integer');
  return n;
}

export function positiveNumber(key: string, raw: string | number | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(key, 'must be a positive number');
  return n;
}
