import { ApplicationFailure } from '@temporalio/activity';
import { ZodError } from 'zod';
import { BadInputError, describeValidationError } from '../lib/errors';

/**
 * Maps domain errors to Temporal failures: every BadInputError (the base of the domain errors that
 * mean bad input, e.g. RegistryError) and every validation error is non-retryable, typed with its
 * ErrorCode (retrying cannot help); everything else (database down, network) is rethrown and
 * retried by policy.
 */
export function asTemporalFailure(error: unknown): unknown {
  let failure: ApplicationFailure;
  if (error instanceof BadInputError) failure = ApplicationFailure.nonRetryable(error.message, error.code);
  else if (error instanceof ZodError) failure = ApplicationFailure.nonRetryable(`Invalid activity input: ${describeValidationError(error)}`, 'INVALID_INPUT');
  else return error;
  failure.stack = error.stack; // where it was thrown, for the Web UI
  return failure;
}

export async function withFailureMapping<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw asTemporalFailure(error);
  }
}
