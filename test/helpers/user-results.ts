/**
 * Users as a load's fetch leaves them, written by hand: what endpoint health observed of one
 * (`UserObservation`) and what the batch made of them (`UserResult`), for the unit tests of
 * endpoint judgement, task retirement and progress.
 */
import { endpointSymptom, type UserObservation } from '#core/endpoint-health.ts';
import { PayLinkHttpError } from '#core/errors.ts';
import type { UnitOutcome, UserResult } from '#core/load-user.ts';

/** The error the client throws for a 404 of `endpoint` (a path PayLink does not have). */
export const notFound = (endpoint: string): PayLinkHttpError => new PayLinkHttpError(endpoint, 404, 40400);

/**
 * A minted user whose accounts answered and whose `resource` answered too, or, given the error
 * it failed with, showed that error's endpoint symptom.
 */
export function accountsAnd(identifier: string, resource: string, error?: PayLinkHttpError): UserObservation {
  return {
    identifier,
    minted: true,
    steps: [
      { resource: 'accounts', result: 'ok' },
      error === undefined ? { resource, result: 'ok' } : { resource, result: endpointSymptom(error)!, error },
    ],
  };
}

/** A user done with `rows` rows of accounts; failed (`http_500`) when `failed`. */
export function userResult(rows: number, failed = false): UserResult {
  return {
    identifier: 'u',
    outcomes: [
      {
        resource: 'accounts',
        status: failed ? 'failed' : 'ok',
        rows,
        requests: 2,
        errorCode: failed ? 'http_500' : null,
        errorMessage: null,
        httpStatus: null,
      },
    ],
    rows: Array.from({ length: rows }, () => ({ table: 'accounts', dt: '2026-11-30', row: {} })),
    failed,
    observation: {} as UserResult['observation'],
  };
}

/**
 * A user whose accounts gave `rows` rows and whose `resource` then answered (`accountsAnd`), in
 * the user's result: the witness that the endpoint works.
 */
export function answeredUser(identifier: string, resource: string, rows: number): UserResult {
  return { ...userResult(rows), observation: accountsAnd(identifier, resource) };
}

/**
 * A user failed by `resource` alone, a 404 of `endpoint` (an endpoint symptom: the path may be
 * missing) after accounts gave `rows` rows; `extra` goes on the failed unit's outcome (the task
 * ids or parent records found missing).
 */
export function failedBy404(
  identifier: string,
  resource: string,
  endpoint: string,
  options: {
    readonly rows?: number;
    readonly extra?: Pick<UnitOutcome, 'missingTaskIds' | 'missingParents'>;
  } = {},
): UserResult {
  const error = notFound(endpoint);
  const observation = accountsAnd(identifier, resource, error);
  return {
    ...userResult(options.rows ?? 0),
    identifier,
    outcomes: [
      {
        resource,
        status: 'failed',
        rows: 0,
        requests: 1,
        errorCode: 'http_404',
        errorMessage: null,
        httpStatus: 404,
        endpoint: { resource, symptom: endpointSymptom(error)! },
        ...options.extra,
      },
    ],
    failed: true,
    observation,
  };
}
