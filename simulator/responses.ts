/**
 * Turning a route's result into the status and JSON body PayLink would send: error bodies
 * `{"message", "code"}` (docs), optional `limit`/`skip` paging, and the `data` envelope.
 */
import type { JsonValue } from '#core/types.ts';
import type { Shape } from './api-profiles.ts';
import type { DataResult } from './routes.ts';

export interface ApiResponse {
  readonly status: number;
  /** A JSON object, except for the `bare` shape (an array, or a record that may be null). */
  readonly body: JsonValue;
  readonly headers?: Readonly<Record<string, string>>;
}

/** PayLink's error codes: HTTP status * 100 + detail (40104 is the documented expired token). */
export const API_CODES = {
  badRequest: 40000,
  badCredentials: 40100,
  badPublicToken: 40104,
  forbidden: 40300,
  notFound: 40400,
  payloadTooLarge: 41300,
  rateLimited: 42900,
} as const;

export function apiError(
  status: number,
  code: number,
  message: string,
  headers?: Record<string, string>,
): ApiResponse {
  return headers ? { status, body: { message, code }, headers } : { status, body: { message, code } };
}

export interface RenderOptions {
  /** Set: list endpoints honour `?limit=&skip=` (limit defaulting to this). */
  readonly pageSize: number | undefined;
  /** Wrap list bodies as `{"data": {...}}` (the `envelope` fault). */
  readonly dataEnvelope: boolean;
  /** Where the body puts the data (api-profiles.ts). */
  readonly shape?: Shape;
}

export function render(result: DataResult, query: URLSearchParams, options: RenderOptions): ApiResponse {
  switch (result.kind) {
    case 'error':
      return apiError(
        result.status,
        result.status === 404 ? API_CODES.notFound : API_CODES.badRequest,
        result.message,
      );
    case 'object':
      return { status: 200, body: shaped(result.key, result.value, options.shape ?? 'key', false) };
    case 'list': {
      const page =
        options.pageSize === undefined ? result.items : slice(result.items, query, options.pageSize);
      if (page === undefined)
        return apiError(400, API_CODES.badRequest, 'limit and skip must be non-negative integers');
      return {
        status: 200,
        body: shaped(result.key, page as JsonValue[], options.shape ?? 'key', options.dataEnvelope),
      };
    }
  }
}

function shaped(key: string, value: JsonValue, shape: Shape, dataEnvelope: boolean): JsonValue {
  switch (shape) {
    case 'key':
      return dataEnvelope ? { data: { [key]: value } } : { [key]: value };
    case 'data-key':
      return { data: { [key]: value } };
    case 'data':
      return { data: value };
    case 'bare':
      return value;
  }
}

/** The `?skip=&limit=` window. Limit is not capped: a client asking for 100 gets up to 100, so its short-page stop rule holds. */
function slice(
  items: readonly JsonValue[],
  query: URLSearchParams,
  pageSize: number,
): readonly JsonValue[] | undefined {
  const limit = integerParam(query.get('limit'), pageSize);
  const skip = integerParam(query.get('skip'), 0);
  if (limit === undefined || skip === undefined) return undefined;
  return items.slice(skip, skip + limit);
}

function integerParam(raw: string | null, fallback: number): number | undefined {
  if (raw === null || raw === '') return fallback;
  return /^\d{1,9}$/.test(raw) ? Number(raw) : undefined;
}
