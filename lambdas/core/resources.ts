/**
 * The PayLink resource catalog: what to call, where the data sits in the answer, how
 * children hang off parents. Every entry is data, validated by the same schema a config
 * file's overrides go through, because much of the real API is a guess
 * (see docs: selectors marked [3rd] may be wrong) and must be fixable without a release.
 */
import * as z from 'zod';
import { isLakeName } from './naming.ts';
import type { FieldHint, FieldHints } from './schema-registry.ts';
import { COLUMN_TYPES, type ColumnType } from './types.ts';

export const paginatorSchema = z.discriminatedUnion('type', [
  /** One request, no paging: what PayLink does today. */
  z.object({ type: z.literal('single') }),
  /** `?page=N&<sizeParam>=M`, stop on a short or empty page. */
  z.object({
    type: z.literal('page_number'),
    pageParam: z.string().min(1).default('page'),
    sizeParam: z.string().min(1).default('pageSize'),
    pageSize: z.number().int().positive().default(100),
    firstPage: z.number().int().nonnegative().default(1),
  }),
  /** `?limit=M&skip=N` (other Atomic endpoints), stop on a short or empty page. */
  z.object({
    type: z.literal('offset'),
    limitParam: z.string().min(1).default('limit'),
    offsetParam: z.string().min(1).default('skip'),
    limit: z.number().int().positive().default(100),
  }),
  /** Next cursor at a dotted path of the body, sent back as a query parameter; stop when absent. */
  z.object({
    type: z.literal('cursor'),
    cursorPath: z.string().min(1),
    cursorParam: z.string().min(1).default('cursor'),
  }),
]);
export type Paginator = z.infer<typeof paginatorSchema>;

/** A table name: the lake's one naming rule (naming.ts), the one the Glue sync checks. */
const identifier = z
  .string()
  .refine(isLakeName, 'must be a snake_case identifier (a-z, 0-9, _; at most 255)');

const columnType = z.enum(COLUMN_TYPES as [ColumnType, ...ColumnType[]]);
/**
 * A declared field (see `FieldHint`): `"double"`; `{"fields": {...}}` for a nested object;
 * `{"items": ...}` for a list, whose items are a type, `{"fields"}` or another `{"items"}`.
 */
export const fieldHintSchema: z.ZodType<FieldHint> = z.lazy(() =>
  z.union([
    columnType,
    z.object({ fields: fieldHintsSchema }).strict(),
    z.object({ items: fieldHintSchema }).strict(),
  ]),
);
export const fieldHintsSchema: z.ZodType<FieldHints> = z.lazy(() =>
  z.record(z.string().min(1), fieldHintSchema),
);

export const resourceSchema = z
  .object({
    /** Table name in the lake (dlt snake_case). Also the resource's name in config and CLI. */
    table: identifier,
    /**
     * Path under the base URL; `{id}` is replaced by the parent's key and `{identifier}` by the
     * user's identifier (both URL-encoded).
     */
    path: z.string().startsWith('/'),
    /**
     * `user`: the user's public token (`x-public-token`), PayLink's data calls. `server`: our
     * `x-api-key` / `x-api-secret` (Atomic's task and user endpoints).
     */
    auth: z.enum(['user', 'server']).default('user'),
    /**
     * What an HTTP 404 means. `error`: the call failed (the endpoint is missing when it happens
     * for the first users of a load while their other resources work; else that user's failure).
     * `empty`: this user (or parent record) has no data here: zero rows, not a failure.
     */
    notFound: z.enum(['error', 'empty']).default('error'),
    /**
     * More parent keys for a `known_tasks` child: the `field` of each record of `resource`, when
     * that resource is part of the load (discovery; off unless it is selected).
     */
    keysFrom: z.object({ resource: z.string().min(1), field: z.string().min(1).default('_id') }).optional(),
    /** `list`: the selector yields an array of records. `object`: a single record (null = none). */
    kind: z.enum(['list', 'object']),
    /** Where the data sits in the body, tried in order; dotted paths. Then `data.<first>`, then the only list. */
    selectors: z.array(z.string().min(1)).min(1),
    /**
     * Fan-out: one request per parent record. `param` is where the parent key goes:
     * `{id}` in the path, or a query parameter name.
     */
    parent: z
      .object({
        resource: z.string().min(1),
        /** Field of the parent record holding its key. */
        field: z.string().min(1).default('_id'),
        /** Query parameter carrying the key; omitted when the path has `{id}`. */
        queryParam: z.string().min(1).optional(),
      })
      .optional(),
    /** Record field that identifies it, used for deterministic `_dlt_id`s. Position if absent. */
    primaryKey: z.string().min(1).optional(),
    /** Loaded when no resource list is given. */
    defaultEnabled: z.boolean(),
    paginator: paginatorSchema.default({ type: 'single' }),
    /** Renamed fields: `expenses` is read as `bills` (the API renamed it over time). Applied when the target is absent. */
    fieldAliases: z.record(z.string(), z.string()).default({}),
    /**
     * Partition by a record timestamp (dotted path into the raw record) instead of the load
     * date. Rows whose field is missing or unparseable fall back to the load date.
     */
    partitionBy: z.string().min(1).optional(),
    /**
     * Declared fields by raw name (dlt's `columns` hints are the model): their tables and
     * columns exist with these types from the first load, even when every value is null or
     * every list empty. Undeclared fields are still inferred (numbers as double).
     */
    columns: fieldHintsSchema.default({}),
  })
  .strict();
export type ResourceDef = z.infer<typeof resourceSchema>;
export type ResourceInput = z.input<typeof resourceSchema>;

/** Fields every PayLink action carries [docs][sdk]. */
const ACTION: FieldHint = {
  items: { fields: { actionId: 'text', type: 'text', automated: 'bool' } },
};
const LINE_ITEMS: FieldHint = {
  items: { fields: { description: 'text', amount: 'double', quantity: 'double' } },
};
const COMPANY: FieldHint = {
  fields: {
    _id: 'text',
    name: 'text',
    branding: { fields: { logo: { fields: { _id: 'text', url: 'text' } } } },
  },
};

/**
 * What is known of an account's fields (docs/paylink-api.md, Atomic's apps): ids as text,
 * amounts as double, timestamps, booleans, child lists. `closedAt` and `dueAmount` are named by
 * the API's prose; declaring them makes `SELECT closed_at` work on a fresh lake.
 */
const ACCOUNT_COLUMNS: FieldHints = {
  _id: 'text',
  status: 'text',
  company: COMPANY,
  lastSyncedAt: 'timestamp',
  closedAt: 'timestamp',
  actions: ACTION,
  bills: {
    items: {
      fields: {
        name: 'text',
        dueAmount: 'double',
        dueDate: 'timestamp',
        currency: 'text',
        actions: ACTION,
        lineItems: LINE_ITEMS,
      },
    },
  },
  tags: { items: 'text' },
  lineItems: LINE_ITEMS,
};

/** What is known about PayLink (docs/paylink-api.md), with the confidence noted per selector. */
export const PAYLINK_RESOURCES: readonly ResourceInput[] = [
  {
    table: 'accounts',
    path: '/pay-link/accounts',
    kind: 'list',
    // [docs][sdk]: v2 answers top-level `accounts`, not `data.accounts`.
    selectors: ['accounts'],
    primaryKey: '_id',
    defaultEnabled: true,
    fieldAliases: { expenses: 'bills' },
    columns: ACCOUNT_COLUMNS,
  },
  {
    table: 'account',
    path: '/pay-link/accounts/{id}',
    kind: 'object',
    // [3rd]: envelope unknown.
    selectors: ['account'],
    parent: { resource: 'accounts', field: '_id' },
    primaryKey: '_id',
    defaultEnabled: false,
    fieldAliases: { expenses: 'bills' },
    columns: ACCOUNT_COLUMNS,
  },
  {
    table: 'action_history',
    path: '/pay-link/action-history',
    kind: 'list',
    // [3rd]: key unknown.
    selectors: ['actionHistory'],
    parent: { resource: 'accounts', field: '_id', queryParam: 'accountId' },
    primaryKey: '_id',
    defaultEnabled: true,
    columns: {
      _id: 'text',
      _accounts__id: 'text',
      accountId: 'text',
      type: 'text',
      status: 'text',
      automated: 'bool',
      requestedAt: 'timestamp',
      completedAt: 'timestamp',
    },
  },
  {
    table: 'orders',
    path: '/pay-link/orders',
    kind: 'list',
    selectors: ['orders'],
    primaryKey: '_id',
    defaultEnabled: true,
    columns: { _id: 'text', accountId: 'text', company: COMPANY, placedAt: 'timestamp' },
  },
  {
    table: 'suggestions',
    path: '/pay-link/suggestions',
    kind: 'list',
    selectors: ['suggestions'],
    primaryKey: '_id',
    defaultEnabled: true,
    columns: { _id: 'text' },
  },
  {
    table: 'recurring_financial_transactions',
    path: '/pay-link/recurring-financial-transactions',
    kind: 'list',
    selectors: ['recurringFinancialTransactions'],
    primaryKey: '_id',
    defaultEnabled: true,
    columns: { _id: 'text' },
  },
  {
    table: 'financial_transactions_most_recent',
    path: '/pay-link/financial-transactions/most-recent',
    kind: 'object',
    selectors: ['financialTransaction'],
    primaryKey: '_id',
    defaultEnabled: true,
    columns: { _id: 'text' },
  },
  {
    table: 'user_tasks',
    // low-medium (two machine-made summaries, no Atomic code): a user's task list. Off by
    // default; select it (`--resources tasks,user_tasks`) to discover task ids per user.
    // Before `tasks` in the catalog: a load runs resources in catalog order, parents first.
    path: '/user/{identifier}/tasks',
    auth: 'server',
    kind: 'list',
    selectors: ['data', 'tasks'],
    primaryKey: '_id',
    defaultEnabled: false,
  },
  {
    table: 'tasks',
    // [3rd client, docs anchor] medium: Atomic's own clients call this with the API key and
    // secret, and the task is under `data`. `/pay-link/tasks/{id}` appears in no source.
    path: '/task/{id}/details',
    auth: 'server',
    kind: 'object',
    selectors: ['data'],
    // Task ids come from a task-id list (webhooks or --task-ids), plus `user_tasks` when loaded.
    parent: { resource: 'known_tasks', field: 'taskId' },
    keysFrom: { resource: 'user_tasks', field: '_id' },
    primaryKey: '_id',
    defaultEnabled: false,
    columns: { _id: 'text', status: 'text', failReason: 'text' },
  },
];

/** Pseudo-parent of `tasks`: the known task ids of a user, supplied by the caller, not fetched. */
export const KNOWN_TASKS = 'known_tasks';
