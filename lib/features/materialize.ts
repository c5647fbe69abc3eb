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
import { computeFeatures, frameRow, universeMemberOf, type ComputeOptions, type FeatureComputation, type SymbolBars } from './compute-features';
import { findVolatilityIndex, volatilityIndexCandidates, volatilityIndexLookedFor } from '../market-data/instruments';
import type { Headline } from '../news/headlines';
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

/**
 * What a feature computation reads from the store, as of a date: one bar series per symbol (the
 * volatility index apart), the VIX-like series when the set declares one, and the scored headlines
 * when it has news features. Shared by the materialiser and by audits that recompute its rows.
 */
export interface FeatureInputs {
  universe: SymbolBars[];
  volatilityIndex?: SymbolBars;
  news?: Headline[];
}

/** Loads the inputs of a feature set from the store: `symbols` (default every stored symbol) with everything dated <= `to`. */
export async function loadFeatureInputs(store: Database, set: FeatureSet, options: { symbols?: readonly string[]; to?: string } = {}): Promise<FeatureInputs> {
  const vixSpec = volatilityIndexSpec(set);
  const vixCandidates = vixSpec ? volatilityIndexCandidates(vixSpec.symbol) : [];
  const symbols = options.symbols ? [...new Set([...options.symbols, ...vixCandidates])] : undefined;
  const series = await readBarSeries(store, { symbols, to: options.to });
  const news = set.features.some((f) => f.kind === 'news_sentiment') ? await readHeadlines(store, options.to) : undefined;
  return featureInputsOf(set, series, news);
}

/**
 * The inputs loadFeatureInputs would load with `to`, cut from inputs loaded up to a later date
 * (bars as views, nothing read again): what an audit of many dates needs.
 */
export function featureInputsUpTo(set: FeatureSet, inputs: FeatureInputs, to: string): FeatureInputs {
  // The universe keeps its order: market columns sum over symbols in it.
  const series = [...inputs.universe, ...(inputs.volatilityIndex ? [inputs.volatilityIndex] : [])].map((s) => barsUpTo(s, to)).filter((s) => s.dates.length > 0);
  // The series resolved at load time, so an early cut never switches to another candidate.
  return featureInputsOf(set, series, inputs.news?.filter((h) => h.effectiveDate <= to), inputs.volatilityIndex?.symbol);
}

function volatilityIndexSpec(set: FeatureSet): Extract<FeatureSet['features'][number], { kind: 'volatility_index' }> | undefined {
  return set.features.find((f): f is Extract<FeatureSet['features'][number], { kind: 'volatility_index' }> => f.kind === 'volatility_index');
}

/** The stored symbol a set's volatility_index feature reads (the first candidate present), if it declares one. */
export function volatilityIndexSymbolOf(set: FeatureSet, available: (symbol: string) => boolean): string | undefined {
  const spec = volatilityIndexSpec(set);
  if (!spec) return undefined;
  const found = findVolatilityIndex(available, spec.symbol);
  if (found === undefined) throw new BadInputError(`Feature set ${set.version} uses a volatility index, but the bar store holds none: looked for ${volatilityIndexLookedFor(spec.symbol)}; import one or remove the feature`, 'FEATURE_INPUT_MISSING');
  return found;
}

function featureInputsOf(set: FeatureSet, series: SymbolBars[], news: Headline[] | undefined, resolvedVix?: string): FeatureInputs {
  const have = new Set(series.map((s) => s.symbol));
  const vixSymbol = volatilityIndexSymbolOf(set, (s) => have.has(s) && (resolvedVix === undefined || s === resolvedVix));
  const volatilityIndex = vixSymbol === undefined ? undefined : series.find((s) => s.symbol === vixSymbol);
  // Non-equities stay in the universe given to computeFeatures, which keeps them out of rows and market columns.
  const universe = series.filter((s) => s.symbol !== vixSymbol);
  if (universe.length === 0) throw new BadInputError('No bars in the store for the requested symbols; run an import first', 'NO_BARS');
  return { universe, volatilityIndex, news };
}

function barsUpTo(s: SymbolBars, to: string): SymbolBars {
  let n = s.dates.length;
  while (n > 0 && s.dates[n - 1] > to) n--;
  if (n === s.dates.length) return s;
  return { symbol: s.symbol, dates: s.dates.slice(0, n), open: s.open.subarray(0, n), high: s.high.subarray(0, n), low: s.low.subarray(0, n), close: s.close.subarray(0, n), volume: s.volume.subarray(0, n) };
}

/** Computes a feature set from loaded inputs, per-symbol columns on `threads` threads (1: all here). */
export async function computeFromInputs(set: FeatureSet, inputs: FeatureInputs, options: Pick<ComputeOptions, 'fromDate' | 'rowsFor'> & { threads?: number } = {}): Promise<FeatureComputation> {
  const { universe, volatilityIndex, news } = inputs;
  const { fromDate, rowsFor } = options;
  let symbolColumns: Map<string, Float64Array[]> | undefined;
  const member = universeMemberOf(set);
  const framed = universe.filter((s) => member(s.symbol) && (!rowsFor || rowsFor.has(s.symbol)));
  if ((options.threads ?? 1) > 1 && framed.length > 1) {
    const specs = set.features.filter((f): f is SymbolFeatureSpec => !isMarketFeature(f) && f.kind !== 'news_sentiment');
    const columns = await symbolColumnsInThreads(specs, framed, options.threads as number);
    symbolColumns = new Map(framed.map((s, i) => [s.symbol, columns[i]]));
  }
  return computeFeatures(universe, set, { volatilityIndex, fromDate, news, symbolColumns, rowsFor });
}

export async function materializeFeatures(store: Database, set: FeatureSet, options: MaterializeOptions = {}): Promise<MaterializeReport> {
  const started = Date.now();
  const inputs = await loadFeatureInputs(store, set, { symbols: options.symbols, to: options.to });
  const last = await lastFeatureDates(store, set.version);
  // Rows from the earliest date any symbol still lacks; older rows are computed but not copied.
  const fromDate = inputs.universe.every((s) => last.has(s.symbol)) ? inputs.universe.map((s) => last.get(s.symbol) as string).sort()[0] : undefined;
  const computed = await computeFromInputs(set, inputs, { fromDate, threads: options.threads });
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
