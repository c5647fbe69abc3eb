/**
 * Every error the API answers with has one JSON shape, `{ error, message }`: a stable code a client
 * can branch on and a sentence a person can act on.
 */
import type { ZodError } from 'zod';
import { excerpt } from '../lib/quality/excerpt';
import type { ErrorResponse } from './schemas';

/** Longest error message sent (characters). */
export const MAX_MESSAGE = 1000;

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** The wire form; the message is bounded (it may quote input, e.g. a zod issue per bad field). */
  body(): ErrorResponse {
    return { error: this.code, message: this.message.length > MAX_MESSAGE ? excerpt(this.message, MAX_MESSAGE) : this.message };
  }
}

/** "body.symbols.3: must be 1 to 32 letters…; body.key: must not be empty". */
export function describeZodError(where: string, error: ZodError): string {
  return error.issues
    .map((issue) => {
      const field = [where, ...issue.path.map(String)].join('.');
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

/** Parses request input with a zod schema; a mismatch is a 400 that names each field and problem. */
export function parseInput<T>(schema: { safeParse(input: unknown): { success: true; data: T } | { success: false; error: ZodError } }, input: unknown, where: 'body' | 'query' | 'params'): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new ApiError(400, 'invalid_request', describeZodError(where, parsed.error));
}
