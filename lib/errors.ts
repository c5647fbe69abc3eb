/**
 * Every machine-readable failure reason of the project, one line each. A code names a failure that
 * retrying cannot fix: activities raise it as a non-retryable Temporal failure of that type, and
 * workflows fail with it. Anything without a code (database down, network) is retried by policy.
 * No imports: workflows use these codes too.
 */
export const ERROR_CODES = {
  BAD_INPUT: 'input that can never succeed, with no more specific code',
  INVALID_INPUT: 'an activity or workflow input fails validation (the message names the fields)',
  INVALID_SPLIT: 'a cross-validation or walk-forward split that cannot be built from the data',
  INVALID_RULES: 'monitoring rules that fail validation',
  INVALID_METRIC_INPUT: 'metric or statistical-test input of the wrong shape (lengths differ, no rows, bad labels)',
  INVALID_BACKTEST_INPUT: 'backtest input of the wrong shape',
  INVALID_BACKTEST_OPTIONS: 'backtest options out of range (costs, thresholds)',
  INVALID_LIVE_BAR: 'a live bar message that fails validation',
  FEATURE_INPUT_MISSING: 'a feature needs a series that is not in the snapshot (e.g. the volatility index)',
  NO_BARS: 'no bars in the store for the requested symbols',
  BARS_UNVERIFIED: 'stored bars whose signature MODEL_SIGNING_KEY does not confirm (edited, unsigned or another key\'s): nothing is computed from them',
  FEATURE_ROWS_UNVERIFIED: 'stored feature rows whose signature MODEL_SIGNING_KEY does not confirm (edited, unsigned or another key\'s): no dataset or drift verdict is computed from them',
  SOURCE_NOT_FOUND: 'the file, folder or provider symbol to import does not exist',
  SOURCE_EMPTY: 'the import source holds no files or rows',
  SOURCE_REFUSED: 'the import source is refused (a symbolic link without followLinks, a pipe)',
  SOURCE_UNREADABLE: 'the import source cannot be opened (permissions, I/O error)',
  UNREADABLE_SOURCE: 'a file opens but cannot be read as a price table (encoding, binary, long lines, no symbol)',
  SYMBOL_TOO_LONG: 'a symbol longer than the store allows',
  PROVIDER_REJECTED: 'the market-data provider rejects the request (unknown symbol, bad range)',
  QUALITY_GATE_FAILED: 'the snapshot fails the data-quality gate',
  SNAPSHOT_NOT_FOUND: 'the snapshot id is unknown',
  SNAPSHOT_NOT_STAGED: 'the snapshot is still being staged: its import has not finished',
  ALERT_NOT_FOUND: 'the alert id is unknown',
  ARTIFACT_INVALID: 'a model artifact fails verification (sha256, header, feature order)',
  SERVING_VETOED: 'a model version whose recorded evaluation tripped a guard was asked to take traffic',
  REGISTRY_REJECTED: 'the model registry refuses the request (unknown version or alias, immutable version, bad name)',
  LEAKAGE_DETECTED: 'a leakage guard tripped and the experiment says to fail',
  ALL_TRIALS_FAILED: 'every trial of an algorithm\'s hyperparameter search failed',
  PIPELINE_STEP_FAILED: 'a pipeline step failed for good without a more specific code',
  DEPLOYMENT_NOT_RECORDED: 'a traffic or alias move for a deployment no running deployments row records for that model and those versions (a workflow that skipped beginDeployment), or asked by a run of another execution chain than the one that began it: nothing is moved',
  DECISION_NOT_APPLIED: 'a deployment decision (approve, pause, resume, abort) was refused or overtaken and not applied',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

/**
 * The base of every domain error that means "retrying cannot help" (bad files, failed quality gate,
 * unknown symbols, registry refusals). Activities turn it into a non-retryable Temporal failure of
 * type `code`; anything else retries.
 */
export class BadInputError extends Error {
  override name = 'BadInputError';
  constructor(
    message: string,
    /** Stable machine-readable reason: the Temporal failure type. */
    readonly code: ErrorCode = 'BAD_INPUT',
  ) {
    super(message);
  }
}

/** One line per problem, each with the path of the field: "features.0.window: too small …". */
export function describeValidationError(error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`).join('; ');
}

/**
 * The code and message of an error that means bad input (a BadInputError, or a zod validation error),
 * else undefined. Structural for zod so this file stays import-free; used where errors cross a
 * boundary that loses their class (Temporal failures, training threads).
 */
export function badInputOf(error: unknown): { code: ErrorCode; message: string } | undefined {
  if (error instanceof BadInputError) return { code: error.code, message: error.message };
  if (error instanceof Error && error.name === 'ZodError' && Array.isArray((error as { issues?: unknown }).issues)) {
    return { code: 'INVALID_INPUT', message: `invalid input: ${describeValidationError(error as unknown as Parameters<typeof describeValidationError>[0])}` };
  }
  return undefined;
}
