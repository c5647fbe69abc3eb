/**
 * The live path's last-row shortcut (lib/streaming/online-indicators.ts) must give exactly, bit for
 * bit, the last value of the offline computation (computeSymbolFeature) on the same series: a
 * generated market, end points all through it, the tail lengths the updater takes, every
 * per-symbol kind with default and other parameters, and flat, zero-volume and constant series.
 * bench/online-indicators-check.ts runs the same comparison on the real data.
 */
import { warmupBars } from '../../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet, isMarketFeature, type FeatureSetInput, type SymbolFeatureSpec } from '../../../lib/features/feature-set';
import { toSymbolBars } from '../../../lib/features/materialize';
import { computeSymbolFeature } from '../../../lib/features/symbol-features';
import type { Bar } from '../../../lib/market-data/bar';
import { readBarCsv } from '../../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../../lib/market-data/synthetic';
import { allFinite, lastValues } from '../../../lib/streaming/online-indicators';

const OTHER_PARAMETERS: FeatureSetInput['features'] = [
  { kind: 'return', horizon: 3 },
  { kind: 'sma_ratio', window: 2 },
  { kind: 'ema_ratio', window: 7 },
  { kind: 'rsi', window: 5 },
  { kind: 'macd', fast: 5, slow: 13, signal: 4 },
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
];
const SPECS = defineFeatureSet({ ...DEFAULT_FEATURE_SET, features: [...DEFAULT_FEATURE_SET.features, ...OTHER_PARAMETERS] }).features.filter(
  (f) => !isMarketFeature(f) && f.kind !== 'news_sentiment',
) as SymbolFeatureSpec[];

function market(): Array<{ symbol: string; bars: Bar[] }> {
  const bars = generateSyntheticMarket({ symbols: 4, from: '2015-01-02', to: '2017-06-30', seed: 11, plantErrors: false }).files.flatMap((f) => readBarCsv(f.csv, { source: f.fileName }).bars);
  const bySymbol = new Map<string, Bar[]>();
  for (const b of bars) bySymbol.set(b.symbol, [...(bySymbol.get(b.symbol) ?? []), b]);
  const out = [...bySymbol].map(([symbol, list]) => ({ symbol, bars: list.sort((a, b) => (a.date < b.date ? -1 : 1)) }));
  const base = out[0].bars.slice(0, 300);
  out.push(
    { symbol: 'EDGE_FLAT', bars: base.map((b, i) => (i % 97 < 40 ? { ...b, open: 10, high: 10, low: 10, close: 10 } : b)) },
    { symbol: 'EDGE_NOVOL', bars: base.map((b, i) => (i % 53 < 30 ? { ...b, volume: 0 } : b)) },
    { symbol: 'EDGE_CONST', bars: base.map((b) => ({ ...b, open: 5, high: 5, low: 5, close: 5, volume: 0 })) },
  );
  return out;
}

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

describe('online last-row indicators', () => {
  it('equal the offline computation bit for bit, and decline only what they cannot compute', () => {
    let compared = 0;
    const problems: string[] = [];
    for (const { symbol, bars } of market()) {
      const full = toSymbolBars(symbol, bars);
      expect(allFinite(full, 0, bars.length)).toBe(true);
      for (let end = 2; end <= bars.length; end += 13) {
        const windowFrom = Math.max(0, end - 750);
        for (const tail of [Number.POSITIVE_INFINITY, 262, 71, 30, 8]) {
          const from = Math.max(windowFrom, end - tail);
          const view = { symbol, dates: full.dates.slice(from, end), open: full.open.subarray(from, end), high: full.high.subarray(from, end), low: full.low.subarray(from, end), close: full.close.subarray(from, end), volume: full.volume.subarray(from, end) };
          for (const spec of SPECS) {
            const got: number[] = [];
            if (!lastValues(spec, full, from, end, got)) {
              if (end - from >= warmupBars(spec) + 2) problems.push(`${symbol} ${JSON.stringify(spec)} declined with ${end - from} bars`);
              continue;
            }
            compared++;
            const want = computeSymbolFeature(spec, view).map((column) => column[column.length - 1]);
            if (got.length !== want.length || got.some((v, k) => !same(v, want[k]))) problems.push(`${symbol} ${JSON.stringify(spec)} at ${bars[end - 1].date}, ${end - from} bars: ${got.join(',')} vs ${want.join(',')}`);
          }
        }
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
    expect(compared).toBeGreaterThan(10_000);
  });

  it('declines a series with a non-finite value (the caller then computes it offline)', () => {
    const { symbol, bars } = market()[0];
    const broken = bars.slice(0, 120).map((b, i) => (i === 100 ? { ...b, close: Number.NaN } : b));
    const full = toSymbolBars(symbol, broken);
    expect(allFinite(full, 0, broken.length)).toBe(false);
  });
});
