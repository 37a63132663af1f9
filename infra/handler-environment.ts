import { HANDLER_ENV } from '#handlers/contract.ts';
import { USERS_LIST_PREFIX } from './constants.ts';

export interface HandlerEnvironmentInput {
  /** May be a CDK token (a bucket the stack creates). */
  readonly bucketName: string;
  readonly prefix: string;
  readonly secretArn: string;
  readonly baseUrl: string;
  readonly usersListKey: string;
  readonly batchSize: number;
  readonly batchRequestRate: number;
  /** Undefined: `adaptive` (load-batch sizes it, adaptive-concurrency.ts). */
  readonly userConcurrency: number | undefined;
  readonly glueDatabase: string;
  readonly loaderConfig?: unknown;
}

/** Object key of the users list: `_config/<key>` at the bucket root (see USERS_LIST_PREFIX). */
export function usersListObjectKey(key: string): string {
  return `${USERS_LIST_PREFIX}${key}`;
}

/**
 * The environment of all three handlers, named by the handler contract. One environment for
 * all: the contract does not bind variables to handlers and none is secret (the secret's ARN,
 * not its value); what each function may *do* is scoped by its IAM role instead.
 */
export function handlerEnvironment(input: HandlerEnvironmentInput): Record<string, string> {
  return {
    [HANDLER_ENV.bucket]: input.bucketName,
    [HANDLER_ENV.prefix]: input.prefix,
    [HANDLER_ENV.secretArn]: input.secretArn,
    [HANDLER_ENV.baseUrl]: input.baseUrl,
    [HANDLER_ENV.usersBucket]: input.bucketName,
    [HANDLER_ENV.usersKey]: usersListObjectKey(input.usersListKey),
    [HANDLER_ENV.batchSize]: String(input.batchSize),
    [HANDLER_ENV.batchRequestRate]: String(input.batchRequestRate),
    [HANDLER_ENV.userConcurrency]:
      input.userConcurrency === undefined ? 'adaptive' : String(input.userConcurrency),
    [HANDLER_ENV.glueDatabase]: input.glueDatabase,
    ...(input.loaderConfig === undefined
      ? {}
      : { [HANDLER_ENV.loaderConfig]: JSON.stringify(input.loaderConfig) }),
  };
}
