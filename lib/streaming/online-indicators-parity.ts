/**
 * The check that online-indicators.ts keeps its promise: for each series, end point, tail length
 * and per-symbol spec, lastValues equals (bit for bit) the last value of computeSymbolFeature on the
 * same bars, and declines only kinds without a fast path or series shorter than their warm-up.
 * Used by the unit test (a generated market) and bench/online-indicators-check.ts (the real data).
 */
import { warmupBars } from '../features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet, isMarketFeature, type FeatureSetInput, type SymbolFeatureSpec } from '../features/feature-set';
import { toSymbolBars } from '../features/materialize';
import { computeSymbolFeature } from '../features/symbol-features';
import type { Bar } from '../market-data/bar';
import { allFinite, lastValues } from './online-indicators';

/** The default set's per-symbol features, the same kinds with other parameters, and two kinds without a fast path. */
const OTHER_PARAMETERS: FeatureSetInput['features'] = [
  { kind: 'return', horizon: 3 },
  { kind: 'sma_ratio', window: 2 },
  { kind: 'ema_ratio', window: 7 },
  { kind: 'rsi', window: 5 },
  { kind: 'macd', fast: 5, slow: 13, signal: 4 },
  { kind: 'macd', fast: 13, slow: 5, signal: 3 },
  { kind: 'bollinger', window: 10, k: 1.5 },
  { kind: 'atr_pct', window: 5 },
  { kind: 'adx', window: 7 },
  { kind: 'stochastic', window: 5, smooth: 2 },
  { kind: 'cci', window: 7 },
  { kind: 'williams_r', window: 30 },
  { kind: 'roc', window: 3 },
  { kind: 'mfi', window: 5 },
  { kind: 'realized_vol', window: 2 },
  { kind: 'donchian_breakout', window: 5 },
  { kind: 'range_position', window: 20 },
  { kind: 'volume_breakout', window: 5, volumeRatio: 1.1 },
  { kind: 'relative_volume', window: 5 },
  { kind: 'volume_zscore', window: 5 },
  { kind: 'obv_trend', window: 5 },
  { kind: 'ad_trend', window: 5 },
  { kind: 'price_volume_corr', window: 5 },
  { kind: 'vwap_distance', window: 5 },
  { kind: 'parkinson_vol', window: 20 },
  { kind: 'vol_persistence', window: 20, trailing: 60 },
];
const NO_FAST_PATH = new Set(['parkinson_vol', 'vol_persistence']);
export const PARITY_SPECS = defineFeatureSet({ ...DEFAULT_FEATURE_SET, features: [...DEFAULT_FEATURE_SET.features, ...OTHER_PARAMETERS] }).features.filter(
  (f) => !isMarketFeature(f) && f.kind !== 'news_sentiment',
) as SymbolFeatureSpec[];

/** Flat stretches, zero volume and a constant series cut from `bars`, as extra series. */
export function edgeCaseSeries(bars: readonly Bar[]): Array<{ symbol: string; bars: Bar[] }> {
  const base = bars.slice(0, 400);
  return [
    { symbol: 'EDGE_FLAT', bars: base.map((b, i) => (i % 97 < 40 ? { ...b, open: 10, high: 10, low: 10, close: 10 } : b)) },
    { symbol: 'EDGE_NOVOL', bars: base.map((b, i) => (i % 53 < 30 ? { ...b, volume: 0 } : b)) },
    { symbol: 'EDGE_CONST', bars: base.map((b) => ({ ...b, open: 5, high: 5, low: 5, close: 5, volume: 0 })) },
  ];
}

export interface ParityResult {
  compared: number;
  declined: number;
  /** Each a readable line: a different value, or a decline that should not have happened. */
  problems: string[];
  fastMs: number;
  referenceMs: number;
}

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

/** Compares at every `stride`-th end point, with the updater's tail lengths (the 750-bar window and shorter). */
export function checkParity(all: ReadonlyArray<{ symbol: string; bars: readonly Bar[] }>, stride: number, specs: readonly SymbolFeatureSpec[] = PARITY_SPECS): ParityResult {
  const result: ParityResult = { compared: 0, declined: 0, problems: [], fastMs: 0, referenceMs: 0 };
  for (const { symbol, bars } of all) {
    const full = toSymbolBars(symbol, [...bars]);
    if (!allFinite(full, 0, bars.length)) throw new Error(`${symbol}: non-finite values`);
    for (let end = 2; end <= bars.length; end += stride) {
      const windowFrom = Math.max(0, end - 750);
      for (const tail of [Number.POSITIVE_INFINITY, 262, 71, 30, 8]) {
        const from = Math.max(windowFrom, end - tail);
        const view = { symbol, dates: full.dates.slice(from, end), open: full.open.subarray(from, end), high: full.high.subarray(from, end), low: full.low.subarray(from, end), close: full.close.subarray(from, end), volume: full.volume.subarray(from, end) };
        for (const spec of specs) {
          const got: number[] = [];
          let t = performance.now();
          const ok = lastValues(spec, full, from, end, got);
          result.fastMs += performance.now() - t;
          if (!ok) {
            result.declined++;
            if (end - from >= warmupBars(spec) + 2 && !NO_FAST_PATH.has(spec.kind)) result.problems.push(`${symbol} ${JSON.stringify(spec)} declined with ${end - from} bars`);
            continue;
          }
          t = performance.now();
          const want = computeSymbolFeature(spec, view).map((column) => column[column.length - 1]);
          result.referenceMs += performance.now() - t;
          result.compared++;
          if (got.length !== want.length || got.some((v, k) => !same(v, want[k]))) result.problems.push(`${symbol} ${JSON.stringify(spec)} at ${bars[end - 1].date}, ${end - from} bars: ${got.join(',')} vs ${want.join(',')}`);
        }
      }
    }
  }
  return result;
}
