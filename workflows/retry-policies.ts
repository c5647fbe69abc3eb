/**
 * The one home of activity retry policies. Workflows import these instead of writing their own,
 * so a failure type is final (or retried) the same way everywhere.
 */
import type { RetryPolicy } from '@temporalio/common';

/** Failure types that retrying cannot fix; every other failure (database down, network) is retried. */
export const NON_RETRYABLE_ERROR_TYPES: string[] = [
  'BAD_INPUT',
  'INVALID_INPUT',
  'INVALID_SPLIT',
  'FEATURE_INPUT_MISSING',
  'NO_BARS',
  'SOURCE_NOT_FOUND',
  'SOURCE_EMPTY',
  'PROVIDER_REJECTED',
  'QUALITY_GATE_FAILED',
  'SNAPSHOT_NOT_FOUND',
  'RegistryError',
];

/** Pipeline, monitoring and alert steps: up to 8 attempts over ~4 minutes. */
export const ACTIVITY_RETRY: RetryPolicy = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };

/** Training trials: fewer attempts, since one attempt can take an hour. */
export const TRIAL_RETRY: RetryPolicy = { ...ACTIVITY_RETRY, maximumAttempts: 5 };

/** Deployment steps move live traffic: retry fast, for longer. */
export const DEPLOYMENT_RETRY: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };
