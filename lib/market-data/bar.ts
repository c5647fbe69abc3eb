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
