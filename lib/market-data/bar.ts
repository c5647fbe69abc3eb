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
