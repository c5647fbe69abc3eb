/** One daily OHLCV bar, as stored and as every later step reads it. */
export interface Bar {
  symbol: string;
  date: string; // ISO YYYY-MM-DD
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/**
 * Magnitudes a stored bar's values stay within; beyond them a value is a corrupt field (or a
 * corrupt Adj Close scaling it), rejected as `implausible_value` by the CSV reader, the live
 * decoder and the row rules (lib/quality/rules.ts), so that every path into the store applies them.
 * - MAX_PRICE: no listed security has ever traded above 1e7.
 * - MIN_PRICE: the smallest positive price; no listed security quotes below a millionth of a
 *   currency unit (US quotes below $1 tick at 0.0001). Zero and negative prices are `non_positive_price`.
 * - MAX_VOLUME: no security has traded 1e14 shares in a day.
 */
/**
 * The earliest date a bar may have: no exchange's daily data is older (the NYSE was founded in
 * 1792; Stooq's oldest series start in the 1890s). Older dates are corrupt fields, and the
 * calendar rules (holidays, gaps) would walk millennia of days for them.
 */
export const EARLIEST_BAR_DATE = '1800-01-01';
export const MAX_PRICE = 1e7;
export const MIN_PRICE = 1e-6;
export const MAX_VOLUME = 1e14;

/**
 * The smallest step a price of `price` is quoted in: a cent, or 0.0001 under 1 (US quotes below $1
 * tick at 0.0001, SEC Rule 612). A price written more coarsely than this was rounded by its writer.
 */
export function quoteTick(price: number): number {
  return Math.abs(price) < 1 ? 1e-4 : 0.01;
}

/**
 * Why `value` (a price, or a volume with `volume`) breaks the limits above, or undefined:
 * "is not a finite number", "is beyond 1e+7", "is below 1e-6".
 */
export function limitProblem(value: number, volume = false): string | undefined {
  if (!Number.isFinite(value)) return 'is not a finite number';
  const max = volume ? MAX_VOLUME : MAX_PRICE;
  if (value > max || value < -max) return `is beyond ${max.toExponential()}`;
  if (!volume && value > 0 && value < MIN_PRICE) return `is below ${MIN_PRICE.toExponential()}`;
  return undefined;
}

/** Position of `date` in bars ascending by date: where it is, or where it would go. */
export function indexOfDate(bars: readonly Bar[], date: string): { index: number; found: boolean } {
  let lo = 0;
  let hi = bars.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bars[mid].date < date) lo = mid + 1;
    else hi = mid;
  }
  return { index: lo, found: lo < bars.length && bars[lo].date === date };
}

/** One symbol's bars as columns (typed arrays), the form every computation reads. */
export interface BarSeries {
  symbol: string;
  dates: string[];
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
}

/** Bar `k` of a series as a row object, for the code that reads bars one by one. */
export function barAt(series: BarSeries, k: number): Bar {
  return { symbol: series.symbol, date: series.dates[k], open: series.open[k], high: series.high[k], low: series.low[k], close: series.close[k], volume: series.volume[k] };
}
