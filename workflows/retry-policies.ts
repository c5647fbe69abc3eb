/**
 * The one home of activity retry policies. Workflows import these instead of writing their own,
 * so a failure type is final (or retried) the same way everywhere.
 */
import type { RetryPolicy } from '@temporalio/common';
import { ERROR_CODE_LIST } from '../lib/errors';

/**
 * Failure types that retrying cannot fix: every ErrorCode (activities raise BadInputError and its
 * subclasses as non-retryable failures of that type; listing them here keeps them final even when
 * raised as retryable). The class names cover domain errors thrown by an activity that does not map
 * its failures (their type is then the class name). Every other failure (database down, network) is retried.
 */
export const NON_RETRYABLE_ERROR_TYPES: string[] = [...ERROR_CODE_LIST, 'BadInputError', 'RegistryError', 'ZodError'];

/** Pipeline, monitoring and alert steps: up to 8 attempts over ~4 minutes. */
export const ACTIVITY_RETRY: RetryPolicy = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };

/** A step that only saves later work (whoever needs its result computes it without it): one retry, so nothing waits long on it. */
export const SHORTCUT_RETRY: RetryPolicy = { ...ACTIVITY_RETRY, maximumAttempts: 2 };

/** Training trials: fewer attempts, since one attempt can take an hour. */
export const TRIAL_RETRY: RetryPolicy = { ...ACTIVITY_RETRY, maximumAttempts: 5 };

/** Deployment steps move live traffic: retry fast, for longer. */
export const DEPLOYMENT_RETRY: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };

/** Suggesting a trial's parameters is pure computation: a failure is a bug, retried a few times quickly. */
export const SUGGESTION_RETRY: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };
