/**
 * Paginator steps as pure functions: the query of the first page, and the query of the next
 * page given what the previous one returned (undefined = stop). The caller owns the loop and
 * bounds it with DEFAULTS.pagination.maxPages (PaginationLimitError), because a paginator
 * that never stops is an API change we must not spin on.
 */
import { NumberLiteral } from './number-literal.ts';
import type { Paginator } from './resources.ts';
import { readPath } from './select.ts';
import type { JsonValue } from './types.ts';

export interface PageResult {
  /** The page query that was sent (as returned by `firstPage`/`nextPage`). */
  readonly query: Readonly<Record<string, string>>;
  readonly body: JsonValue;
  /** Records selected from the page. */
  readonly itemCount: number;
}

export function firstPage(p: Paginator): Record<string, string> {
  switch (p.type) {
    case 'single':
    case 'cursor':
      return {};
    case 'page_number':
      return { [p.pageParam]: String(p.firstPage), [p.sizeParam]: String(p.pageSize) };
    case 'offset':
      return { [p.limitParam]: String(p.limit), [p.offsetParam]: '0' };
  }
}

export function nextPage(p: Paginator, page: PageResult): Record<string, string> | undefined {
  switch (p.type) {
    case 'single':
      return undefined;
    case 'page_number': {
      // A short (or empty) page is the last one.
      if (page.itemCount < p.pageSize) return undefined;
      const current = integerParam(page.query[p.pageParam]) ?? p.firstPage;
      return { ...page.query, [p.pageParam]: String(current + 1) };
    }
    case 'offset': {
      if (page.itemCount < p.limit) return undefined;
      // Advance by what arrived, not by `limit`: a server that returns more than asked skips nothing.
      const current = integerParam(page.query[p.offsetParam]) ?? 0;
      return { ...page.query, [p.offsetParam]: String(current + page.itemCount) };
    }
    case 'cursor': {
      const cursor = cursorValue(readPath(page.body, p.cursorPath));
      // A repeated cursor would fetch the same page forever.
      if (cursor === undefined || cursor === page.query[p.cursorParam]) return undefined;
      return { ...page.query, [p.cursorParam]: cursor };
    }
  }
}

function integerParam(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** Strings and numbers are cursors; null, empty, objects and booleans mean "no next page". */
function cursorValue(value: JsonValue | undefined): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (value instanceof NumberLiteral) return value.literal;
  return undefined;
}
