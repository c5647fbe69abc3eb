/** A date range for provider requests; both ends inclusive, ISO dates. */
export interface DateRange {
  from?: string;
  to?: string;
}

/** One symbol's history as the provider sent it, before parsing. */
export interface ProviderResponse {
  symbol: string;
  /** URL or other locator, recorded in quarantine and lineage. */
  source: string;
  csv: string;
}

/**
 * A remote source of daily bars. Adapters return raw CSV so that the same reader and quality rules
 * apply to every source; a team plugs its vendor in by implementing this.
 */
export interface HistoricalBarProvider {
  readonly name: string;
  /** Where its answers come from (the server and market asked): cached answers are reused only from the same. */
  readonly origin?: string;
  /** The CSV format of `csv` in responses. */
  readonly format: 'sp500' | 'yahoo' | 'stooq';
  fetchDaily(symbol: string, range: DateRange, signal?: AbortSignal): Promise<ProviderResponse>;
}

export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    message: string,
    /** false when asking again cannot help (unknown symbol, bad request). */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/**
 * The provider says it holds nothing for the symbol in the range asked (Stooq's "No data"): final
 * for a symbol it does not know, and the expected answer for a range wholly after a declared
 * delisting, which the import judges (lib/ingest/provider-answer.ts, judgeNoDataAnswer). Carries
 * the answer as sent, so a range empty by right is recorded with the snapshot as any answer is.
 */
export class ProviderNoDataError extends ProviderError {
  override name = 'ProviderNoDataError';
  constructor(
    message: string,
    readonly response: ProviderResponse,
  ) {
    super(message, false);
  }
}
