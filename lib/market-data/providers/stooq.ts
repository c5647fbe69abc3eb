import type { DateRange, HistoricalBarProvider, ProviderResponse } from './provider';
import { ProviderError, ProviderNoDataError } from './provider';
import { decodeCsvBytes } from '../csv-files';
import { normaliseHeader } from '../csv-formats';
import { excerpt } from '../../quality/excerpt';
import { stooqTicker, stooqTickerProblem } from '../stooq-symbols';

export interface StooqOptions {
  /** Default https://stooq.com; tests point it at a local server with recorded responses. */
  baseUrl?: string;
  /** Stooq's market suffix for bare tickers (AAPL -> aapl.us). */
  marketSuffix?: string;
  timeoutMs?: number;
}

const compact = (iso: string): string => iso.replaceAll('-', '');

/** How much of a body that is no price table its error shows (escaped), so the operator sees what came. */
const FIRST_BYTES_SHOWN = 80;

/**
 * Whether a line is the header of a price table: it names a date and a close column (in any
 * separator). One that does but lacks another column is left to the reader, which names what is
 * missing (a final refusal: asking again gives the same table); anything else is not a table at all.
 */
function isPriceHeader(line: string): boolean {
  const names = new Set(line.split(/[,;\t|]/).map(normaliseHeader));
  return names.has('date') && names.has('close');
}

// The mapping is shared with CSV files named as Stooq names them (brk-b.us.csv): lib/market-data/stooq-symbols.ts.
export { stooqTicker };

/** Stooq's free CSV download: GET /q/d/l/?s=aapl.us&i=d[&d1=YYYYMMDD&d2=YYYYMMDD]. */
export class StooqProvider implements HistoricalBarProvider {
  readonly name = 'stooq';
  readonly format = 'stooq' as const;
  private readonly baseUrl: string;
  private readonly suffix: string;
  private readonly timeoutMs: number;

  constructor(options: StooqOptions = {}) {
    this.baseUrl = (options.baseUrl ?? 'https://stooq.com').replace(/\/$/, '');
    this.suffix = options.marketSuffix ?? 'us';
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  get origin(): string {
    return `${this.baseUrl} ${this.suffix}`;
  }

  urlFor(symbol: string, range: DateRange): string {
    const problem = stooqTickerProblem(symbol);
    if (problem !== undefined) throw new ProviderError(problem, false);
    const { ticker } = stooqTicker(symbol, this.suffix);
    const params = new URLSearchParams({ s: ticker, i: 'd' });
    if (range.from) params.set('d1', compact(range.from));
    if (range.to) params.set('d2', compact(range.to));
    return `${this.baseUrl}/q/d/l/?${params.toString()}`;
  }

  async fetchDaily(symbol: string, range: DateRange, signal?: AbortSignal): Promise<ProviderResponse> {
    const url = this.urlFor(symbol, range);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (error) {
      throw new ProviderError(`Stooq request for ${symbol} failed (${url}): ${(error as Error).message}`, true);
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      // A connection cut or a stall mid-body: as transient as a failed request.
      throw new ProviderError(`Stooq response body for ${symbol} could not be read (${url}): ${(error as Error).message}`, true);
    }
    if (response.status === 404 || response.status === 400) {
      throw new ProviderError(`Stooq answered ${response.status} for ${symbol} (${url}); check the symbol`, false);
    }
    if (!response.ok) throw new ProviderError(`Stooq answered ${response.status} for ${symbol} (${url})`, true);
    // Decoded as a file's bytes are (UTF-16 by its byte-order mark; binary or non-UTF-8 refused): read
    // as UTF-8 text, a UTF-16 or compressed body was reported as cut off and retried, and invalid
    // bytes became U+FFFD unseen.
    const decoded = decodeCsvBytes(bytes);
    if ('problem' in decoded) throw new ProviderError(`Stooq response for ${symbol} (${url}) is not CSV text: ${decoded.problem}`, false);
    const body = decoded.text;
    // The whole body, not its start: "No database connection…" is an outage page, and now that "No
    // data" can skip a declared delisting, a prefix match would publish an import over an outage.
    if (/^no data\.?$/i.test(body.trim())) {
      throw new ProviderNoDataError(`Stooq has no data for ${symbol} in ${range.from ?? 'start'}..${range.to ?? 'today'} (${url}); check the symbol and dates`, { symbol: stooqTicker(symbol, this.suffix).stored, source: url, csv: body });
    }
    if (/exceeded the daily hits limit/i.test(body)) {
      throw new ProviderError(`Stooq daily request limit reached while fetching ${symbol}; retry later`, true);
    }
    // A maintenance or error page served with 200, or an empty 200: an outage, not a file to judge.
    // Told by what the body is, not by a few leading tags: an HTML comment, a bare <div> or a JSON
    // error served as text/plain were read as a CSV and refused as unreadable, which is final.
    const start = body.replace(/^\uFEFF/, '').trimStart();
    if (start === '') throw new ProviderError(`Stooq returned an empty body for ${symbol} (${url}); retry later`, true);
    const begins = `it begins "${excerpt(start, FIRST_BYTES_SHOWN)}"`;
    if (/text\/html/i.test(response.headers.get('content-type') ?? '') || start.startsWith('<')) {
      const title = /<title[^>]*>([^<]{0,120})/i.exec(body)?.[1]?.trim();
      throw new ProviderError(`Stooq returned an HTML page instead of CSV for ${symbol} (${url})${title ? `: "${excerpt(title, 120)}"` : ''}: ${begins}; retry later`, true);
    }
    if (!isPriceHeader(start.split(/\r?\n/, 1)[0])) {
      throw new ProviderError(`Stooq returned no price table for ${symbol} (${url}): its first line is not a price header (Date,Open,High,Low,Close,Volume); ${begins}; retry later`, true);
    }
    // Stooq ends every line with a line break. A body without one after its last line was cut off
    // inside a row (a connection closed early without a length to check it against), and that row
    // can still read as a valid bar: a volume of 26 where Stooq sent 2694494.
    const end = body.replace(/[ \t]+$/, '');
    if (!end.endsWith('\n')) {
      const lastLine = end.slice(end.lastIndexOf('\n') + 1);
      throw new ProviderError(`Stooq response for ${symbol} (${url}) ends inside a row: its last line ${JSON.stringify(lastLine.slice(0, 120))} has no line break, so the body was cut off; retry later`, true);
    }
    return { symbol: stooqTicker(symbol, this.suffix).stored, source: url, csv: body };
  }
}
