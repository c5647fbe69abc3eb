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
