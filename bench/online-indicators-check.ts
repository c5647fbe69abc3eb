/**
 * Checks that lib/streaming/online-indicators.ts gives, for every per-symbol feature kind it
 * covers, exactly (bit for bit) the last value computeSymbolFeature gives on the same series:
 * every symbol of the data, many end points and tail lengths, plus constructed edge cases (flat
 * prices, zero volume, gaps). Prints the number of comparisons, mismatches and how fast each is.
 *
 *   npx tsx bench/online-indicators-check.ts [--data <dir>] [--stride 5]
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { warmupBars } from '../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet, isMarketFeature, type FeatureSetInput, type SymbolFeatureSpec } from '../lib/features/feature-set';
import { toSymbolBars } from '../lib/features/materialize';
import { computeSymbolFeature } from '../lib/features/symbol-features';
import type { Bar } from '../lib/market-data/bar';
import { generateSyntheticMarket } from '../lib/market-data/synthetic';
import { readBarCsv } from '../lib/market-data/csv-reader';
import { allFinite, lastValues } from '../lib/streaming/online-indicators';
import { loadCsvBarsForReplay } from '../lib/streaming/replay';

const cli = new Command().option('--data <dir>', 'CSV folder (default: the shared S&P 500 data, else a generated market)').option('--stride <n>', 'check every n-th end point', '5').parse();
const opts = cli.opts<{ data?: string; stride: string }>();
const SHARED = path.resolve(__dirname, '../../shared/data/sp500-2013-2018');

/** The default set's per-symbol features and the same kinds with other parameters. */
const EXTRA: FeatureSetInput['features'] = [
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
  // No fast path: lastValues must decline them.
  { kind: 'parkinson_vol', window: 20 },
  { kind: 'vol_persistence', window: 20, trailing: 60 },
];
const SPECS = defineFeatureSet({ ...DEFAULT_FEATURE_SET, features: [...DEFAULT_FEATURE_SET.features, ...EXTRA] }).features.filter((f) => !isMarketFeature(f) && f.kind !== 'news_sentiment') as SymbolFeatureSpec[];

async function series(): Promise<Array<{ symbol: string; bars: Bar[] }>> {
  const dir = opts.data ?? (fs.existsSync(SHARED) ? SHARED : undefined);
  let bars: Bar[];
  if (dir) bars = (await loadCsvBarsForReplay(dir)).bars;
  else bars = generateSyntheticMarket({ symbols: 40, from: '2014-01-02', to: '2018-12-31', seed: 5, plantErrors: false }).files.flatMap((f) => readBarCsv(f.csv, { source: f.fileName }).bars);
  const bySymbol = new Map<string, Map<string, Bar>>();
  for (const b of bars) {
    const m = bySymbol.get(b.symbol) ?? new Map<string, Bar>();
    m.set(b.date, b);
    bySymbol.set(b.symbol, m);
  }
  const out = [...bySymbol].map(([symbol, m]) => ({ symbol, bars: [...m.values()].sort((a, b) => (a.date < b.date ? -1 : 1)) }));
  // Edge cases: flat stretches, zero volume, a constant series.
  const base = out[0].bars.slice(0, 400);
  const flat = base.map((b, i) => (i % 97 < 40 ? { ...b, open: 10, high: 10, low: 10, close: 10 } : b));
  const noVolume = base.map((b, i) => (i % 53 < 30 ? { ...b, volume: 0 } : b));
  const constant = base.map((b) => ({ ...b, open: 5, high: 5, low: 5, close: 5, volume: 0 }));
  out.push({ symbol: 'EDGE_FLAT', bars: flat }, { symbol: 'EDGE_NOVOL', bars: noVolume }, { symbol: 'EDGE_CONST', bars: constant });
  return out;
}

function main2(all: Array<{ symbol: string; bars: Bar[] }>): void {
  const stride = Number(opts.stride);
  let compared = 0;
  let declined = 0;
  const mismatches: string[] = [];
  let fastMs = 0;
  let referenceMs = 0;
  for (const { symbol, bars } of all) {
    const full = toSymbolBars(symbol, bars);
    if (!allFinite(full, 0, bars.length)) throw new Error(`${symbol}: non-finite values`);
    for (let end = 2; end <= bars.length; end += stride) {
      // Tails as the updater takes them: the whole window (750), the long and short groups, and short ones.
      const windowFrom = Math.max(0, end - 750);
      for (const tail of [Number.POSITIVE_INFINITY, 262, 71, 30, 8]) {
        const from = Math.max(windowFrom, end - tail);
        const view = { symbol, dates: full.dates.slice(from, end), open: full.open.subarray(from, end), high: full.high.subarray(from, end), low: full.low.subarray(from, end), close: full.close.subarray(from, end), volume: full.volume.subarray(from, end) };
        for (const spec of SPECS) {
          const got: number[] = [];
          let t = performance.now();
          const ok = lastValues(spec, full, from, end, got);
          fastMs += performance.now() - t;
          if (!ok) {
            declined++;
            if (end - from >= warmupBars(spec) + 2 && !['parkinson_vol', 'vol_persistence'].includes(spec.kind)) mismatches.push(`${symbol} ${spec.kind} declined at ${end - from} bars`);
            continue;
          }
          t = performance.now();
          const want = computeSymbolFeature(spec, view).map((c) => c[c.length - 1]);
          referenceMs += performance.now() - t;
          compared++;
          if (got.length !== want.length || got.some((v, k) => !Object.is(v, want[k]) && !(Number.isNaN(v) && Number.isNaN(want[k])))) {
            mismatches.push(`${symbol} ${JSON.stringify(spec)} ${bars[end - 1].date} bars ${end - from}: ${got.join(',')} vs ${want.join(',')}`);
          }
        }
      }
    }
  }
  console.log(`${compared} comparisons (${SPECS.length} specs, ${all.length} series), ${declined} declined (no fast path or too short), ${mismatches.length} mismatches`);
  console.log(`time: fast ${fastMs.toFixed(0)} ms, reference ${referenceMs.toFixed(0)} ms (the reference for the compared ones only)`);
  for (const m of mismatches.slice(0, 20)) console.log(`  ${m}`);
  if (mismatches.length > 0) process.exitCode = 1;
}

series()
  .then(main2)
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
