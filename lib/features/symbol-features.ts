/** Per-symbol feature columns: names and values for one declared feature on one symbol's bars. */
import type { SymbolFeatureSpec } from './feature-set';
import {
  accumulationDistribution,
  adx,
  atr,
  bollinger,
  cci,
  macd,
  mfi,
  obv,
  realizedVolatility,
  roc,
  rsi,
  stochastic,
  williamsR,
  type Ohlcv,
} from './indicators/indicators';
import { candlePatterns, CANDLE_PATTERNS, donchianBreakout, volumeConfirmedBreakout } from './indicators/patterns';
import { ema, exactWindowSums, lag, nanArray, rollingCorrelation, rollingMax, rollingMin, rollingStd, seriesOf, sma } from './indicators/rolling';
import { lowerBound } from '../sorted';
import { inScratch } from './indicators/scratch';
import { splitAdjusted } from './split-adjusted';

function suffix(spec: SymbolFeatureSpec): string {
  return spec.normalize === 'none' ? '' : `_${spec.normalize}`;
}

/** Column names a spec produces, in a fixed order. */
export function symbolFeatureColumns(spec: SymbolFeatureSpec): string[] {
  const s = suffix(spec);
  switch (spec.kind) {
    case 'return':
      return [`ret_${spec.horizon}${s}`];
    case 'sma_ratio':
    case 'ema_ratio':
    case 'rsi':
    case 'atr_pct':
    case 'adx':
    case 'cci':
    case 'williams_r':
    case 'roc':
    case 'mfi':
    case 'realized_vol':
    case 'relative_volume':
    case 'volume_zscore':
    case 'obv_trend':
    case 'ad_trend':
    case 'price_volume_corr':
    case 'vwap_distance':
    case 'parkinson_vol':
    case 'garman_klass_vol':
    case 'downside_vol':
      return [`${spec.kind}_${spec.window}${s}`];
    case 'vol_term_structure':
      return [`vol_term_structure_${spec.short}_${spec.long}${s}`];
    case 'vol_persistence':
      return [`vol_persistence_${spec.window}_${spec.trailing}${s}`];
    case 'vol_of_vol':
      return [`vol_of_vol_${spec.window}_${spec.lookback}${s}`];
    case 'macd':
      return ['line', 'signal', 'hist'].map((p) => `macd_${p}_${spec.fast}_${spec.slow}_${spec.signal}${s}`);
    case 'bollinger':
      return [`bb_pctb_${spec.window}${s}`, `bb_bandwidth_${spec.window}${s}`];
    case 'stochastic':
      return [`stoch_k_${spec.window}${s}`, `stoch_d_${spec.window}_${spec.smooth}${s}`];
    case 'candlestick':
      return CANDLE_PATTERNS.map((p) => `cdl_${p}${s}`);
    case 'gap':
      return [`gap_pct${s}`];
    case 'donchian_breakout':
      return [`donchian_breakout_${spec.window}${s}`];
    case 'range_position':
      return [`dist_high_${spec.window}${s}`, `dist_low_${spec.window}${s}`];
    case 'volume_breakout':
      return [`volume_breakout_${spec.window}${s}`];
  }
}

function ratioMinusOne(a: Float64Array, b: Float64Array): Float64Array {
  const out = nanArray(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] / b[i] - 1;
  return out;
}

function divide(a: Float64Array, b: Float64Array): Float64Array {
  const out = nanArray(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] / b[i];
  return out;
}

/** Change of a cumulative line over `window` bars, scaled by the volume traded in that window. */
function trend(line: Float64Array, volume: Float64Array, window: number): Float64Array {
  const traded = exactWindowSums(volume, window);
  const out = nanArray(line.length);
  for (let i = window; i < line.length; i++) out[i] = traded[i] > 0 ? (line[i] - line[i - window]) / traded[i] : 0;
  return out;
}

/** Vol floor (annualised) for log ratios of vols: far below any traded stock's, and finite. */
const VOL_FLOOR = 1e-4;

/** Annualised like realizedVolatility: √(mean of a per-bar variance over `window` bars) × √252. */
function annualisedRootMean(perBarVariance: Float64Array, window: number): Float64Array {
  const mean = sma(perBarVariance, window);
  // max(0, ·): a running sum can end a hair below zero, and a Garman–Klass term is negative only on inconsistent OHLC
  return seriesOf(mean.length, (i) => (Number.isNaN(mean[i]) ? NaN : Math.sqrt(Math.max(0, mean[i])) * Math.sqrt(252)));
}

/** Median of the last `window` values (mean of the middle two when even, as the volatility_regime label takes it); NaN while any is NaN. */
function rollingMedian(x: Float64Array, window: number): Float64Array {
  const out = nanArray(x.length);
  const sorted: number[] = []; // the window's defined values, ascending
  let undefinedCount = 0;
  const position = (v: number): number => lowerBound(sorted, v);
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) undefinedCount++;
    else sorted.splice(position(x[i]), 0, x[i]);
    if (i >= window) {
      const old = x[i - window];
      if (Number.isNaN(old)) undefinedCount--;
      else sorted.splice(position(old), 1);
    }
    if (i >= window - 1 && undefinedCount === 0) out[i] = window % 2 === 1 ? sorted[(window - 1) / 2] : (sorted[window / 2 - 1] + sorted[window / 2]) / 2;
  }
  return out;
}

/**
 * Where several symbols' columns go, in one allocation: symbol k's columns, each holding its
 * series from row from[k] on, follow one another from values[offsets[k]]. In shared memory the
 * threads that compute them write them in place, and nothing is transferred (one block per symbol,
 * transferred back from a pool thread, had the receiving thread's garbage collector run about once
 * per 60 MB). Rows before from[k] (the warm-up, or rows before an incremental run's first date) are
 * computed but not kept: fresh memory costs a page fault per 4 KiB the first time it is written,
 * ~13 µs on some VMs, which made writing the whole S&P 500's blocks half of the features' time.
 */
export interface ColumnBlocks {
  values: Float64Array;
  offsets: Float64Array;
  /** Columns per symbol. */
  count: number;
  /** Per symbol, the first row of its series the columns hold. */
  from: Int32Array;
  /** Per symbol, the longest leading run of non-finite values among its columns, over the whole series (where its rows may start). */
  lead: Float64Array;
}

/** One symbol's columns from a block: rows from..end of its series. */
export interface SymbolColumns {
  columns: Float64Array[];
  from: number;
  lead: number;
}

/** Blocks for `universe`'s columns, symbol k's kept from row from[k] (default 0: every row). */
export function columnBlocks(specs: readonly SymbolFeatureSpec[], universe: readonly Ohlcv[], allocate: (n: number) => Float64Array, from?: readonly number[]): ColumnBlocks {
  const count = specs.reduce((total, spec) => total + symbolFeatureColumns(spec).length, 0);
  const offsets = new Float64Array(universe.length + 1);
  const first = Int32Array.from(universe, (b, k) => Math.min(b.close.length, Math.max(0, from?.[k] ?? 0)));
  universe.forEach((b, k) => (offsets[k + 1] = offsets[k] + count * (b.close.length - first[k])));
  return { values: allocate(offsets[universe.length]), offsets, count, from: first, lead: allocate(universe.length) };
}

/** Symbol k's columns in `blocks`, as views. */
export function blockColumns(blocks: ColumnBlocks, k: number): SymbolColumns {
  const { count, offsets, values } = blocks;
  const n = (offsets[k + 1] - offsets[k]) / count;
  return { columns: Array.from({ length: count }, (_, c) => values.subarray(offsets[k] + c * n, offsets[k] + (c + 1) * n)), from: blocks.from[k], lead: blocks.lead[k] };
}

/**
 * Computes every spec's columns of the symbols this thread claims into their blocks, `chunk`
 * symbols at a time from a counter shared with the other threads doing the same (Atomics.add on
 * next[0]): a thread that is slower or started later takes fewer. Each symbol's columns depend on
 * its own bars alone, so who computes which does not change them. Returns the symbols claimed.
 */
export function claimSymbolColumns(specs: readonly SymbolFeatureSpec[], universe: readonly Ohlcv[], next: Int32Array, chunk: number, blocks: ColumnBlocks): Int32Array {
  const symbols: number[] = [];
  for (let from = Atomics.add(next, 0, chunk); from < universe.length; from = Atomics.add(next, 0, chunk)) {
    for (let k = from; k < Math.min(from + chunk, universe.length); k++) {
      symbols.push(k);
      fillSymbolColumns(specs, universe[k], blocks, k);
    }
  }
  return Int32Array.from(symbols);
}

/**
 * Every spec's columns of series `stored` into its block k, in spec order, computed on its bars
 * adjusted at its unadjusted splits (split-adjusted.ts). Intermediate series live in scratch memory.
 */
export function fillSymbolColumns(specs: readonly SymbolFeatureSpec[], stored: Ohlcv, blocks: ColumnBlocks, k: number): void {
  const b = splitAdjusted(stored);
  const n = b.close.length;
  const { count, offsets, values } = blocks;
  const from = blocks.from[k];
  const kept = n - from;
  if (offsets[k + 1] - offsets[k] !== count * kept) throw new Error(`internal: block ${k} holds ${offsets[k + 1] - offsets[k]} values for ${count} columns of ${kept} bars`);
  let c = 0;
  let lead = 0;
  for (const spec of specs) {
    inScratch(() => {
      for (const column of computeSymbolFeature(spec, b)) {
        if (column.length !== n || c === count) throw new Error(`internal: ${spec.kind} gave a column of ${column.length} values for ${n} bars, or more columns than it declares`);
        let r = 0;
        while (r < n && !Number.isFinite(column[r])) r++;
        if (r > lead) lead = r;
        values.set(from === 0 ? column : column.subarray(from), offsets[k] + kept * c++);
      }
    });
  }
  if (c !== count) throw new Error(`internal: ${c} feature columns computed where ${count} are declared`);
  blocks.lead[k] = lead;
}

/** Every spec's columns for one series from row `from` on, as views of one allocation. */
export function symbolColumns(specs: readonly SymbolFeatureSpec[], b: Ohlcv, from = 0): SymbolColumns {
  const blocks = columnBlocks(specs, [b], (n) => new Float64Array(n), [from]);
  fillSymbolColumns(specs, b, blocks, 0);
  return blockColumns(blocks, 0);
}

/** Values of the spec's columns (same order as symbolFeatureColumns), before any normalisation. */
export function computeSymbolFeature(spec: SymbolFeatureSpec, b: Ohlcv): Float64Array[] {
  const c = b.close;
  switch (spec.kind) {
    case 'return':
      return [ratioMinusOne(c, lag(c, spec.horizon))];
    case 'sma_ratio':
      return [ratioMinusOne(c, sma(c, spec.window))];
    case 'ema_ratio':
      return [ratioMinusOne(c, ema(c, spec.window))];
    case 'rsi':
      return [rsi(c, spec.window)];
    case 'macd': {
      const m = macd(c, spec.fast, spec.slow, spec.signal);
      return [divide(m.line, c), divide(m.signal, c), divide(m.histogram, c)]; // scale-free across price levels
    }
    case 'bollinger': {
      const bb = bollinger(c, spec.window, spec.k);
      return [bb.percentB, bb.bandwidth];
    }
    case 'atr_pct':
      return [divide(atr(b, spec.window), c)];
    case 'adx':
      return [adx(b, spec.window).adx];
    case 'stochastic': {
      const st = stochastic(b, spec.window, spec.smooth);
      return [st.k, st.d];
    }
    case 'cci':
      return [cci(b, spec.window)];
    case 'williams_r':
      return [williamsR(b, spec.window)];
    case 'roc':
      return [roc(c, spec.window)];
    case 'mfi':
      return [mfi(b, spec.window)];
    case 'realized_vol':
      return [realizedVolatility(c, spec.window)];
    case 'parkinson_vol': {
      const k = 1 / (4 * Math.log(2));
      return [annualisedRootMean(seriesOf(c.length, (i) => k * Math.log(b.high[i] / b.low[i]) ** 2), spec.window)];
    }
    case 'garman_klass_vol': {
      const k = 2 * Math.log(2) - 1;
      return [annualisedRootMean(seriesOf(c.length, (i) => 0.5 * Math.log(b.high[i] / b.low[i]) ** 2 - k * Math.log(c[i] / b.open[i]) ** 2), spec.window)];
    }
    case 'downside_vol': {
      // Root mean square of the negative log returns (positive ones count as 0): no mean is removed.
      const down = nanArray(c.length);
      for (let i = 1; i < c.length; i++) down[i] = Math.min(0, Math.log(c[i] / c[i - 1])) ** 2;
      return [annualisedRootMean(down, spec.window)];
    }
    case 'vol_term_structure': {
      const short = realizedVolatility(c, spec.short);
      const long = realizedVolatility(c, spec.long);
      // Prices that did not move at all in the long window have no term structure to speak of: 1.
      return [seriesOf(long.length, (i) => (long[i] > 0 ? short[i] / long[i] : short[i] === 0 ? 1 : NaN))];
    }
    case 'vol_persistence': {
      const vol = realizedVolatility(c, spec.window);
      const median = rollingMedian(vol, spec.trailing);
      // Vols floored, so a series that did not move gives a finite value (0 when neither moved), not ±∞.
      return [seriesOf(vol.length, (i) => (Number.isNaN(vol[i]) || Number.isNaN(median[i]) ? NaN : Math.log(Math.max(vol[i], VOL_FLOOR) / Math.max(median[i], VOL_FLOOR))))];
    }
    case 'vol_of_vol': {
      const vol = realizedVolatility(c, spec.window);
      const logVol = seriesOf(vol.length, (i) => (Number.isNaN(vol[i]) ? NaN : Math.log(Math.max(vol[i], VOL_FLOOR))));
      return [rollingStd(logVol, spec.lookback, 1)];
    }
    case 'candlestick': {
      const p = candlePatterns(b);
      return CANDLE_PATTERNS.map((name) => p[name]);
    }
    case 'gap':
      return [ratioMinusOne(b.open, lag(c, 1))];
    case 'donchian_breakout':
      return [donchianBreakout(b, spec.window)];
    case 'range_position':
      return [ratioMinusOne(c, rollingMax(b.high, spec.window)), ratioMinusOne(c, rollingMin(b.low, spec.window))];
    case 'volume_breakout':
      return [volumeConfirmedBreakout(b, spec.window, spec.volumeRatio)];
    case 'relative_volume': {
      const traded = exactWindowSums(b.volume, spec.window);
      // No volume in the window (an index): today's volume is its average, 1, not 0/0.
      return [seriesOf(traded.length, (i) => (Number.isNaN(traded[i]) ? NaN : traded[i] > 0 ? (b.volume[i] * spec.window) / traded[i] : 1))];
    }
    case 'volume_zscore': {
      const mean = sma(b.volume, spec.window);
      const sd = rollingStd(b.volume, spec.window, 1);
      const out = nanArray(c.length);
      for (let i = 0; i < out.length; i++) out[i] = sd[i] > 0 ? (b.volume[i] - mean[i]) / sd[i] : 0;
      for (let i = 0; i < Math.min(spec.window - 1, out.length); i++) out[i] = NaN;
      return [out];
    }
    case 'obv_trend':
      return [trend(obv(b), b.volume, spec.window)];
    case 'ad_trend':
      return [trend(accumulationDistribution(b), b.volume, spec.window)];
    case 'price_volume_corr': {
      const r = nanArray(c.length);
      const dv = nanArray(c.length);
      for (let i = 1; i < c.length; i++) {
        r[i] = Math.log(c[i] / c[i - 1]);
        dv[i] = Math.log((b.volume[i] + 1) / (b.volume[i - 1] + 1));
      }
      const corr = rollingCorrelation(r, dv, spec.window);
      // A flat price or volume window has no co-movement: 0 rather than undefined once the window is full.
      for (let i = spec.window; i < corr.length; i++) if (Number.isNaN(corr[i])) corr[i] = 0;
      return [corr];
    }
    case 'vwap_distance': {
      const tp = seriesOf(c.length, (i) => (b.high[i] + b.low[i] + c[i]) / 3);
      const pv = seriesOf(tp.length, (i) => tp[i] * b.volume[i]);
      const value = exactWindowSums(pv, spec.window);
      const traded = exactWindowSums(b.volume, spec.window);
      const plain = exactWindowSums(tp, spec.window);
      // Without volume in the window every bar weighs the same: the mean typical price.
      const vwap = seriesOf(traded.length, (i) => (traded[i] > 0 ? value[i] / traded[i] : plain[i] / spec.window));
      return [ratioMinusOne(c, vwap)];
    }
  }
}
