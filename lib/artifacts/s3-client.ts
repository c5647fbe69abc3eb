/**
 * The project's one S3 client set-up, and how to read the errors it throws. The artifact store
 * (ARTIFACT_URL) and s3:// CSV import sources reach the same S3-compatible server with the same
 * settings (lib/config.ts ObjectStoreSettings) and the SDK's standard credential chain.
 */
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { ObjectStoreSettings } from '../config';

/** Longest wait for a TCP (and TLS) connection to the store, unless S3_CONNECT_TIMEOUT_MS says otherwise. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/**
 * Longest silence of the store within a request, unless S3_IDLE_TIMEOUT_MS says otherwise: a server
 * that accepts the connection and never answers (a hung gateway, a half-dead network path) fails the
 * attempt instead of hanging its caller for ever. An inactivity bound, not a bound on the whole
 * request: a large object that keeps moving over a slow link is not cut.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** Attempts per request: the SDK retries a dropped connection, a timeout or a 5xx before the caller sees it. */
export const MAX_ATTEMPTS = 4;

/** A client for the store; the caller destroys it when done. */
export function createS3Client(settings: ObjectStoreSettings): S3Client {
  return new S3Client({
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: { connectionTimeout: settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, socketTimeout: settings.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS },
  });
}

/** The server, for messages: S3_ENDPOINT, or AWS S3 and its region. */
export function endpointOf(settings: ObjectStoreSettings): string {
  return settings.endpoint ?? `AWS S3 (${settings.region})`;
}

/**
 * A 404 for the object: it is absent (for HEAD, which has no body to say which, possibly its bucket).
 * Not NoSuchBucket: a wrong bucket name is a store failure, not a missing object ("restore it").
 */
export function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException) || error.name === 'NoSuchBucket') return false;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404;
}

/**
 * What a failed request means for the caller:
 *   no_bucket  the bucket does not exist
 *   not_found  the object does not exist
 *   denied     the credentials are wrong or lack the permission
 *   refused    the server refuses the request for another reason that retrying cannot fix
 *   transient  network (refused, reset, timed out), a 5xx or throttling: worth retrying later
 */
export type S3FailureKind = 'no_bucket' | 'not_found' | 'denied' | 'refused' | 'transient';

const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'AccountProblem', 'AllAccessDisabled']);
const THROTTLED = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestLimitExceeded', 'TooManyRequestsException', 'ServiceUnavailable', 'InternalError']);

export function s3FailureKind(error: unknown): S3FailureKind {
  // Not an answer from the server at all: connection refused, DNS, TLS, timeout.
  if (!(error instanceof S3ServiceException)) return 'transient';
  const status = error.$metadata.httpStatusCode;
  if (THROTTLED.has(error.name) || status === undefined || status >= 500 || status === 408 || status === 429) return 'transient';
  if (error.name === 'NoSuchBucket') return 'no_bucket';
  if (isNotFound(error)) return 'not_found';
  if (DENIED.has(error.name) || status === 401 || status === 403) return 'denied';
  return 'refused';
}

/** "Name: message" of a failed request, for messages. */
export function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
  // An answer without a body (any HEAD) has no code or message: the status is all there is.
  if (error.name === 'Unknown' || error.message === 'UnknownError') return `HTTP ${status ?? '?'}`;
  return `${error.name}${status ? ` (HTTP ${status})` : ''}: ${error.message.replace(/\.$/, '')}`;
}
