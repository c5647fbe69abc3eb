import { ApplicationFailure } from '@temporalio/activity';
import { ZodError } from 'zod';
import { BadInputError, describeValidationError } from '../lib/errors';

/**
 * Maps domain errors to Temporal failures: bad input and failed gates are non-retryable (retrying
 * cannot help); everything else (database down, network) is rethrown and retried by policy.
 */
export function asTemporalFailure(error: unknown): unknown {
  if (error instanceof BadInputError) return ApplicationFailure.nonRetryable(error.message, error.code);
  if (error instanceof ZodError) {
    return ApplicationFailure.nonRetryable(`Invalid activity input: ${describeValidationError(error)}`, 'INVALID_INPUT');
  }
  return error;
}

export async function withFailureMapping<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw asTemporalFailure(error);
  }
}
