/**
 * Input that can never succeed however often it is retried (bad files, failed quality gate,
 * unknown symbols). Activities turn it into a non-retryable Temporal failure; anything else retries.
 */
export class BadInputError extends Error {
  override name = 'BadInputError';
  constructor(
    message: string,
    /** Stable machine-readable reason, e.g. QUALITY_GATE_FAILED. */
    readonly code: string = 'BAD_INPUT',
  ) {
    super(message);
  }
}

/** One line per problem, each with the path of the field: "features.0.window: too small …". */
export function describeValidationError(error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`).join('; ');
}
