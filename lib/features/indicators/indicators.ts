/**
 * Standard technical indicators on typed arrays (definitions as in Wilder 1978, Appel, Bollinger,
 * Lane, Lambert, Williams; seeds as TA-Lib and technicalindicators use them). Tests compare them
 * with technicalindicators and with hand-checked series. NaN where history is too short.
 */
import { ema, lag, nanArray, rollingMax, rollingMin, rollingStd, sma, wilder, windowDeviations } from './rolling';
import { newSeries, zeroSeries } from './scratch';

export interface Ohlcv {
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
}

/** RSI with Wilder smoothing of gains and losses; first value at index `window`. Not rounded. */
export function rsi(close: Float64Array, window = 14): Float64Array {
  const n = close.length;
  const gain = nanArray(n);
  const loss = nanArray(n);
  for (let i = 1; i < n; i++) {
    const d = close[i] - close[i - 1];
    gain[i] = d > 0 ? d : 0;
    loss[i] = d < 0 ? -d : 0;
  }
  const ag = wilder(gain, window, 1);
  const al = wilder(loss, window, 1);
  const out = nanArray(n);
  for (let i = window; i < n; i++) out[i] = al[i] === 0 ? (ag[i] === 0 ? 50 : 100) : 100 - 100 / (1 + ag[i] / al[i]);
  return out;
}

/** MACD with exponential averages (12, 26, 9): line = EMA12 - EMA26, signal = EMA9(line). */
export function macd(close: Float64Array, fast = 12, slow = 26, signal = 9): { line: Float64Array; signal: Float64Array; histogram: Float64Array } {
  const f = ema(close, fast);
  const s = ema(close, slow);
  const line = nanArray(close.length);
  for (let i = 0; i < close.length; i++) line[i] = f[i] - s[i];
  const sig = ema(line, signal);
  const histogram = nanArray(close.length);
  for (let i = 0; i < close.length; i++) histogram[i] = line[i] - sig[i];
  return { line, signal: sig, histogram };
}

/** Bollinger bands (SMA ± k population standard deviations): %B and bandwidth. */
export function bollinger(close: Float64Array, window = 20, k = 2): { middle: Float64Array; upper: Float64Array; lower: Float64Array; percentB: Float64Array; bandwidth: Float64Array } {
  const middle = sma(close, window);
  const sd = rollingStd(close, window, 0);
  const n = close.length;
  const upper = nanArray(n);
  const lower = nanArray(n);
  const percentB = nanArray(n);
  const bandwidth = nanArray(n);
  for (let i = 0; i < n; i++) {
    upper[i] = middle[i] + k * sd[i];
    lower[i] = middle[i] - k * sd[i];
    const width = upper[i] - lower[i];
    // 0.5 only for a real zero width; NaN (warm-up) stays NaN
    percentB[i] = width > 0 ? (close[i] - lower[i]) / width : width === 0 ? 0.5 : NaN;
    bandwidth[i] = width / middle[i];
  }
  return { middle, upper, lower, percentB, bandwidth };
}

/** True range from the second bar on (the first has no previous close). */
export function trueRange(b: Pick<Ohlcv, 'high' | 'low' | 'close'>): Float64Array {
  const n = b.close.length;
  const tr = nanArray(n);
  for (let i = 1; i < n; i++) {
    const pc = b.close[i - 1];
    tr[i] = Math.max(b.high[i] - b.low[i], Math.abs(b.high[i] - pc), Math.abs(b.low[i] - pc));
  }
  return tr;
}

/** Average true range, Wilder-smoothed; first value at index `window`. */
export function atr(b: Pick<Ohlcv, 'high' | 'low' | 'close'>, window = 14): Float64Array {
  return wilder(trueRange(b), window, 1);
}

/** Average directional index (Wilder): first value at index 2*window - 1. Also +DI and -DI. */
export function adx(b: Pick<Ohlcv, 'high' | 'low' | 'close'>, window = 14): { adx: Float64Array; plusDi: Float64Array; minusDi: Float64Array } {
  const n = b.close.length;
  const tr = trueRange(b);
  const pdm = nanArray(n);
  const mdm = nanArray(n);
  for (let i = 1; i < n; i++) {
    const up = b.high[i] - b.high[i - 1];
    const down = b.low[i - 1] - b.low[i];
    pdm[i] = up > down && up > 0 ? up : 0;
    mdm[i] = down > up && down > 0 ? down : 0;
  }
  // Wilder's running sums; their ratios equal those of the averages.
  const str = wilder(tr, window, 1);
  const sp = wilder(pdm, window, 1);
  const sm = wilder(mdm, window, 1);
  const plusDi = nanArray(n);
  const minusDi = nanArray(n);
  const dx = nanArray(n);
  for (let i = window; i < n; i++) {
    plusDi[i] = str[i] > 0 ? (100 * sp[i]) / str[i] : 0;
    minusDi[i] = str[i] > 0 ? (100 * sm[i]) / str[i] : 0;
    const sum = plusDi[i] + minusDi[i];
    dx[i] = sum > 0 ? (100 * Math.abs(plusDi[i] - minusDi[i])) / sum : 0;
  }
  return { adx: wilder(dx, window, window), plusDi, minusDi };
}

/** Stochastic oscillator: %K over `window`, %D = SMA(%K, smooth). */
export function stochastic(b: Pick<Ohlcv, 'high' | 'low' | 'close'>, window = 14, smooth = 3): { k: Float64Array; d: Float64Array } {
  const hh = rollingMax(b.high, window);
  const ll = rollingMin(b.low, window);
  const k = nanArray(b.close.length);
  for (let i = 0; i < k.length; i++) {
    const range = hh[i] - ll[i];
    k[i] = range > 0 ? (100 * (b.close[i] - ll[i])) / range : 50;
    if (Number.isNaN(hh[i])) k[i] = NaN;
  }
  return { k, d: sma(k, smooth) };
}

/** Williams %R in [-100, 0]. */
export function williamsR(b: Pick<Ohlcv, 'high' | 'low' | 'close'>, window = 14): Float64Array {
  const hh = rollingMax(b.high, window);
  const ll = rollingMin(b.low, window);
  const out = nanArray(b.close.length);
  for (let i = window - 1; i < out.length; i++) {
    const range = hh[i] - ll[i];
    out[i] = range > 0 ? (-100 * (hh[i] - b.close[i])) / range : -50;
  }
  return out;
}

/** Commodity channel index: (TP - SMA(TP)) / (0.015 × mean absolute deviation). */
export function cci(b: Pick<Ohlcv, 'high' | 'low' | 'close'>, window = 20): Float64Array {
  const n = b.close.length;
  const tp = newSeries(n);
  for (let i = 0; i < n; i++) tp[i] = (b.high[i] + b.low[i] + b.close[i]) / 3;
  // Mean of the deviations from tp[i] (= SMA - tp[i]): a flat window gives exact zeros, so the
  // dev > 0 guard works (a running-sum SMA of 0.1s is not exactly 0.1: CCI was ±66.7, not 0).
  const { mean, spread } = windowDeviations(tp, window, 'absolute');
  const out = nanArray(n);
  for (let i = window - 1; i < n; i++) {
    const dev = spread[i] / window;
    out[i] = dev > 0 ? -mean[i] / (0.015 * dev) : 0;
  }
  return out;
}

/** Rate of change in percent over `window` bars. */
export function roc(close: Float64Array, window = 10): Float64Array {
  const prev = lag(close, window);
  const out = nanArray(close.length);
  for (let i = window; i < out.length; i++) out[i] = (100 * (close[i] - prev[i])) / prev[i];
  return out;
}

/** Money flow index: volume-weighted RSI on the typical price. First value at index `window`. */
export function mfi(b: Ohlcv, window = 14): Float64Array {
  const n = b.close.length;
  const pos = nanArray(n);
  const neg = nanArray(n);
  let prevTp = (b.high[0] + b.low[0] + b.close[0]) / 3;
  for (let i = 1; i < n; i++) {
    const tp = (b.high[i] + b.low[i] + b.close[i]) / 3;
    const flow = tp * b.volume[i];
    pos[i] = tp > prevTp ? flow : 0;
    neg[i] = tp < prevTp ? flow : 0;
    prevTp = tp;
  }
  const out = nanArray(n);
  for (let i = window; i < n; i++) {
    // Window sums taken directly (a running sum leaves a residue once the flows leave the window),
    // so "no flow at all" is exact and gives the neutral 50, as rsi does for a flat window.
    let sp = 0;
    let sn = 0;
    for (let j = i - window + 1; j <= i; j++) {
      sp += pos[j];
      sn += neg[j];
    }
    out[i] = sn === 0 ? (sp === 0 ? 50 : 100) : 100 - 100 / (1 + sp / sn);
  }
  return out;
}

/** On-balance volume, starting at 0 on the first bar. */
export function obv(b: Pick<Ohlcv, 'close' | 'volume'>): Float64Array {
  const out = zeroSeries(b.close.length);
  for (let i = 1; i < out.length; i++) {
    const d = b.close[i] - b.close[i - 1];
    out[i] = out[i - 1] + (d > 0 ? b.volume[i] : d < 0 ? -b.volume[i] : 0);
  }
  return out;
}

/** Accumulation/distribution line (Chaikin): cumulative money-flow multiplier × volume. */
export function accumulationDistribution(b: Ohlcv): Float64Array {
  const out = newSeries(b.close.length);
  let acc = 0;
  for (let i = 0; i < out.length; i++) {
    const range = b.high[i] - b.low[i];
    const mfm = range > 0 ? (b.close[i] - b.low[i] - (b.high[i] - b.close[i])) / range : 0;
    acc += mfm * b.volume[i];
    out[i] = acc;
  }
  return out;
}

/** Annualised realised volatility: sample std of daily log returns over `window` × sqrt(252). */
export function realizedVolatility(close: Float64Array, window = 20): Float64Array {
  const r = nanArray(close.length);
  for (let i = 1; i < close.length; i++) r[i] = Math.log(close[i] / close[i - 1]);
  const sd = rollingStd(r, window, 1);
  for (let i = 0; i < sd.length; i++) sd[i] = i < window ? NaN : sd[i] * Math.sqrt(252);
  return sd;
}
