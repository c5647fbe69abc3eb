/**
 * Bars adjusted at the unadjusted splits the unadjusted_split rule finds on their own day
 * (splitMovesAsOfTheirDay), as every feature reads them: a split's move is no crash or jump of the
 * symbol, and recursive smoothers (EMA, MACD, Wilder RSI and ADX) would otherwise carry it long past
 * their warm-up. Adjusted forward: from each split's bar on, prices are divided by its ratio and
 * volumes multiplied by it (the basis before the split). So the bars before a split are the stored
 * ones, bit for bit, and a value for a date still reads no bar after it (each split is judged on the
 * bars up to its own day). Splits of ratios an ordinary day moves by (isSmallSplit) are left as stored.
 */
import type { Ohlcv } from './indicators/indicators';
import { splitMovesAsOfTheirDay } from '../quality/splits';

type Splits = ReadonlyArray<{ index: number; ratio: number }>;

/** x with, from each split's bar on, each value divided by its ratio (`inverse`: multiplied), splits applied in order. */
function adjusted(x: Float64Array, splits: Splits, inverse: boolean): Float64Array {
  const out = Float64Array.from(x);
  for (const split of splits) {
    if (inverse) for (let i = split.index; i < out.length; i++) out[i] *= split.ratio;
    else for (let i = split.index; i < out.length; i++) out[i] /= split.ratio;
  }
  return out;
}

/** `b` adjusted at its splits: `b` itself when it has none (most series; nothing is copied). */
export function splitAdjusted<T extends Ohlcv>(b: T): T {
  const splits = splitMovesAsOfTheirDay(b);
  if (splits.length === 0) return b;
  return { ...b, open: adjusted(b.open, splits, false), high: adjusted(b.high, splits, false), low: adjusted(b.low, splits, false), close: adjusted(b.close, splits, false), volume: adjusted(b.volume, splits, true) };
}

/** The closes of splitAdjusted(b) alone (the market columns read no other field). */
export function splitAdjustedCloses(b: Ohlcv): Float64Array {
  const splits = splitMovesAsOfTheirDay(b);
  return splits.length === 0 ? b.close : adjusted(b.close, splits, false);
}
