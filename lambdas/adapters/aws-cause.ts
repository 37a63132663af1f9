/**
 * Why an AWS SDK call failed, in plain words, for every AWS client we use (S3, Secrets
 * Manager): the service's error code, HTTP status and message; a network error's code and
 * meaning (`ECONNREFUSED`: connection refused); or a client that could not even sign (no region,
 * no credentials); then where the request went (endpoint and region). Never the request, its
 * signature or credentials.
 */
import { systemErrorWords } from '#core/errors.ts';

/** Where a client sends its requests: the endpoint it resolved and its region (undefined: none). */
export interface AwsWhere {
  readonly endpoint: string;
  readonly region: string | undefined;
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 300);

/** `(<code>[, HTTP <status>]): <words> at <endpoint> (region <region>)`; no `at` without `where`. */
export function awsCause(error: unknown, where?: AwsWhere): string {
  const name = error instanceof Error ? error.name : 'error';
  const message = error instanceof Error ? oneLine(error.message) : '';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
  const code = (error as { code?: unknown } | undefined)?.code;
  const at = where === undefined ? '' : ` at ${where.endpoint} (region ${where.region ?? 'none'})`;
  if (message.startsWith('Region is missing'))
    return '(no AWS region): set AWS_REGION, or a region in your AWS profile';
  if (name === 'CredentialsProviderError')
    return `(no AWS credentials): ${message}; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`;
  if (status === undefined && typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) {
    const host = (error as { hostname?: unknown }).hostname;
    const words = systemErrorWords(code);
    return `(${code}): ${code === 'ENOTFOUND' && typeof host === 'string' ? `host ${host} not found` : words}${at}`;
  }
  // The SDK could not parse the answer: not the service (a wrong endpoint, a proxy's page). Its
  // message quotes the answer's text, which says nothing to the reader and is not ours to print.
  if (name === 'SyntaxError')
    return `(not an answer of the AWS service${status === undefined ? '' : `, HTTP ${status}`}: is the endpoint right?)${at}`;
  const detail = message !== '' && message !== name && message !== 'UnknownError' ? `: ${message}` : '';
  return `(${name}${status === undefined ? '' : `, HTTP ${status}`})${detail}${at}`;
}
