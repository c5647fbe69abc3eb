/**
 * Materialises a feature set into the offline store (rows per symbol and date) and the newest
 * vector per symbol into the online store. Incremental: only dates after the last stored one are
 * written. Values are always computed from each symbol's full stored history, because recursive
 * indicators (EMA, Wilder's RSI/ATR/ADX) depend on all of it: that is what makes an incremental
 * run give exactly the values of a full recomputation.
 */
import type { Cache } from '../cache/cache';
import { BadInputError } from '../errors';
import { readBarSeries } from '../store/bars';
import { readHeadlines } from '../store/news';
import type { Database } from '../store/database';
import { lastFeatureDates, saveFeatureSet, writeFeatureRows, type FeatureRow } from '../store/features';
import { computeFeatures, frameRow, type SymbolBars } from './compute-features';
import { isMarketFeature, type FeatureSet, type SymbolFeatureSpec } from './feature-set';
import { sharedPool, type TaskPool } from '../threads/task-pool';
import { computeSymbolFeature } from './symbol-features';
import { publishOnlineFeatures, type OnlineFeatureVector } from './online-features';

export interface MaterializeOptions {
  /** Symbols to compute (default: every symbol in the bar store). */
  symbols?: readonly string[];
  /** Last date to use (point in time; default: everything stored). */
  to?: string;
  cache?: Cache;
  onProgress?: (p: { symbolsDone: number; symbolsTotal: number; rowsWritten: number }) => void;
  signal?: AbortSignal;
  /** Threads for per-symbol features (this one included); 1 computes everything here. */
  threads?: number;
}

/** Splits the universe over the calling thread and the shared pool; same order as `universe`. */
async function symbolColumnsInThreads(specs: SymbolFeatureSpec[], universe: readonly SymbolBars[], threads: number): Promise<Float64Array[][]> {
  const pool = sharedPool(threads);
  const parts = pool ? Math.min(threads, universe.length) : 1;
  const size = Math.ceil(universe.length / parts);
  const slices = Array.from({ length: parts }, (_, p) => universe.slice(p * size, (p + 1) * size));
  // Dates stay here: per-symbol features read only prices and volumes, and cloning strings is slow.
  const remote = slices.slice(1).map((slice, i) => (pool as TaskPool).run(i, 'symbolColumns', { specs, universe: slice.map((s) => ({ ...s, dates: [] })) }));
  const local = slices[0].map((s) => specs.flatMap((spec) => computeSymbolFeature(spec, s)));
  return [local, ...(await Promise.all(remote))].flat();
}

export interface MaterializeReport {
  version: string;
  columns: number;
  symbols: number;
  rowsWritten: number;
  onlineUpdated: number;
  lastDate: string | null;
  skipped: Array<{ symbol: string; bars: number; reason: string }>;
  durationMs: number;
}

export function toSymbolBars(symbol: string, bars: ReadonlyArray<{ date: string; open: number; high: number; low: number; close: number; volume: number }>): SymbolBars {
  const n = bars.length;
  const s: SymbolBars = { symbol, dates: new Array<string>(n), open: new Float64Array(n), high: new Float64Array(n), low: new Float64Array(n), close: new Float64Array(n), volume: new Float64Array(n) };
  bars.forEach((b, i) => {
    s.dates[i] = b.date;
    s.open[i] = b.open;
    s.high[i] = b.high;
    s.low[i] = b.low;
    s.close[i] = b.close;
    s.volume[i] = b.volume;
  });
  return s;
}

export async function materializeFeatures(store: Database, set: FeatureSet, options: MaterializeOptions = {}): Promise<MaterializeReport> {
  const started = Date.now();
  const vixSpec = set.features.find((f) => f.kind === 'volatility_index');
  const vixSymbol = vixSpec && 'symbol' in vixSpec ? vixSpec.symbol : undefined;
  const series = await readBarSeries(store, { symbols: options.symbols && vixSymbol ? [...options.symbols, vixSymbol] : options.symbols, to: options.to });
  let volatilityIndex: SymbolBars | undefined;
  if (vixSymbol) {
    volatilityIndex = series.find((s) => s.symbol === vixSymbol);
    if (!volatilityIndex) throw new BadInputError(`Feature set ${set.version} uses the volatility index ${vixSymbol}, which is not in the bar store; import it or remove the feature`, 'FEATURE_INPUT_MISSING');
  }
  const universe = series.filter((s) => s.symbol !== vixSymbol);
  if (universe.length === 0) throw new BadInputError('No bars in the store for the requested symbols; run an import first', 'NO_BARS');

  const last = await lastFeatureDates(store, set.version);
  // Rows from the earliest date any symbol still lacks; older rows are computed but not copied.
  const fromDate = universe.every((s) => last.has(s.symbol)) ? universe.map((s) => last.get(s.symbol) as string).sort()[0] : undefined;
  const news = set.features.some((f) => f.kind === 'news_sentiment') ? await readHeadlines(store, options.to) : undefined;
  let symbolColumns: Map<string, Float64Array[]> | undefined;
  if ((options.threads ?? 1) > 1 && universe.length > 1) {
    const specs = set.features.filter((f): f is SymbolFeatureSpec => !isMarketFeature(f) && f.kind !== 'news_sentiment');
    const columns = await symbolColumnsInThreads(specs, universe, options.threads as number);
    symbolColumns = new Map(universe.map((s, i) => [s.symbol, columns[i]]));
  }
  const computed = computeFeatures(universe, set, { volatilityIndex, fromDate, news, symbolColumns });
  await saveFeatureSet(store, set, computed.columns);
  const width = computed.columns.length;
  let rowsWritten = 0;
  const online: OnlineFeatureVector[] = [];
  let batch: FeatureRow[] = [];
  for (const [i, frame] of computed.frames.entries()) {
    options.signal?.throwIfAborted();
    const after = last.get(frame.symbol) ?? '';
    for (let r = 0; r < frame.dates.length; r++) {
      if (frame.dates[r] <= after) continue;
      batch.push({ symbol: frame.symbol, date: frame.dates[r], values: frameRow(frame, r) });
    }
    const lastRow = frame.dates.length - 1;
    if (lastRow >= 0) {
      online.push({ version: set.version, symbol: frame.symbol, asOf: frame.dates[lastRow], columns: computed.columns, values: Array.from(frameRow(frame, lastRow)) });
    }
    if (batch.length >= 20_000 || i === computed.frames.length - 1) {
      await writeFeatureRows(store, set.version, batch);
      rowsWritten += batch.length;
      batch = [];
    }
    options.onProgress?.({ symbolsDone: i + 1, symbolsTotal: computed.frames.length, rowsWritten });
  }
  const onlineUpdated = options.cache ? await publishOnlineFeatures(options.cache, online) : 0;
  const lastDate = online.reduce<string | null>((m, v) => (m === null || v.asOf > m ? v.asOf : m), null);
  return { version: set.version, columns: width, symbols: computed.frames.length, rowsWritten, onlineUpdated, lastDate, skipped: computed.skipped, durationMs: Date.now() - started };
}
