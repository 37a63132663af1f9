import { describe, expect, it } from 'vitest';
import { PaginationLimitError } from '#core/errors.ts';
import { NumberLiteral } from '#core/number-literal.ts';
import { firstPage, nextPage } from '#core/paginate.ts';
import { type Paginator, paginatorSchema } from '#core/resources.ts';
import type { JsonValue } from '#core/types.ts';

const parse = (input: unknown): Paginator => paginatorSchema.parse(input);

describe('single paginator', () => {
  const p = parse({ type: 'single' });

  it('sends no paging parameters and always stops after one page', () => {
    expect(firstPage(p)).toEqual({});
    expect(nextPage(p, { query: {}, body: { items: [1, 2, 3] }, itemCount: 3 })).toBeUndefined();
  });
});

describe('page_number paginator', () => {
  const p = parse({ type: 'page_number', pageSize: 2 });

  it('starts at the first page with the page size', () => {
    expect(firstPage(p)).toEqual({ page: '1', pageSize: '2' });
  });

  it('asks for the next page after a full page', () => {
    expect(nextPage(p, { query: { page: '1', pageSize: '2' }, body: {}, itemCount: 2 })).toEqual({
      page: '2',
      pageSize: '2',
    });
  });

  it('stops after a short page or an empty one', () => {
    expect(nextPage(p, { query: { page: '3', pageSize: '2' }, body: {}, itemCount: 1 })).toBeUndefined();
    expect(nextPage(p, { query: { page: '3', pageSize: '2' }, body: {}, itemCount: 0 })).toBeUndefined();
  });

  it('uses the configured parameter names and first page', () => {
    const custom = parse({ type: 'page_number', pageParam: 'p', sizeParam: 'n', pageSize: 10, firstPage: 0 });
    expect(firstPage(custom)).toEqual({ p: '0', n: '10' });
    expect(nextPage(custom, { query: { p: '0', n: '10' }, body: {}, itemCount: 10 })).toEqual({
      p: '1',
      n: '10',
    });
  });
});

describe('offset paginator', () => {
  const p = parse({ type: 'offset', limit: 3 });

  it('starts at offset 0 with the limit (Atomic limit/skip by default)', () => {
    expect(firstPage(p)).toEqual({ limit: '3', skip: '0' });
  });

  it('advances by the number of items received', () => {
    expect(nextPage(p, { query: { limit: '3', skip: '0' }, body: {}, itemCount: 3 })).toEqual({
      limit: '3',
      skip: '3',
    });
    expect(nextPage(p, { query: { limit: '3', skip: '3' }, body: {}, itemCount: 5 })).toEqual({
      limit: '3',
      skip: '8',
    });
  });

  it('stops after a short or empty page', () => {
    expect(nextPage(p, { query: { limit: '3', skip: '6' }, body: {}, itemCount: 2 })).toBeUndefined();
    expect(nextPage(p, { query: { limit: '3', skip: '6' }, body: {}, itemCount: 0 })).toBeUndefined();
  });
});

describe('cursor paginator', () => {
  const p = parse({ type: 'cursor', cursorPath: 'meta.next' });

  it('sends no cursor on the first page', () => {
    expect(firstPage(p)).toEqual({});
  });

  it('sends the cursor found at the configured path', () => {
    expect(nextPage(p, { query: {}, body: { meta: { next: 'abc' } }, itemCount: 10 })).toEqual({
      cursor: 'abc',
    });
    expect(nextPage(p, { query: { cursor: 'abc' }, body: { meta: { next: 42 } }, itemCount: 10 })).toEqual({
      cursor: '42',
    });
  });

  it('sends a numeric cursor as the body spelled it (a literal JavaScript would respell, such as 1e3)', () => {
    expect(
      nextPage(p, { query: {}, body: { meta: { next: new NumberLiteral('1e3', 1000) } }, itemCount: 10 }),
    ).toEqual({ cursor: '1e3' });
  });

  it('stops when the cursor is missing, null, empty or not a scalar', () => {
    const bodies: JsonValue[] = [
      {},
      { meta: {} },
      { meta: { next: null } },
      { meta: { next: '' } },
      { meta: { next: {} } },
    ];
    for (const body of bodies) {
      expect(nextPage(p, { query: { cursor: 'abc' }, body, itemCount: 10 })).toBeUndefined();
    }
  });

  it('stops when the server repeats the cursor it was sent', () => {
    expect(
      nextPage(p, { query: { cursor: 'abc' }, body: { meta: { next: 'abc' } }, itemCount: 10 }),
    ).toBeUndefined();
  });

  it('keeps going on an empty page that still carries a new cursor', () => {
    expect(nextPage(p, { query: { cursor: 'a' }, body: { meta: { next: 'b' } }, itemCount: 0 })).toEqual({
      cursor: 'b',
    });
  });
});

describe('PaginationLimitError', () => {
  it('names the endpoint and the limit and is not retryable', () => {
    const error = new PaginationLimitError('/pay-link/orders', 1000);
    expect(error.code).toBe('pagination_limit');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('/pay-link/orders');
    expect(error.message).toContain('1000');
  });
});
