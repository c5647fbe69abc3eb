/**
 * Keeps the online feature vectors of one feature set current as live bars arrive, with the
 * feature code of the offline store (computeFeatures) run on each symbol's trailing bars.
 *
 * A vector has two parts, computed apart because they cost very differently:
 * - per-symbol columns (indicators, patterns, news) need only the symbol's own bars: recomputed for
 *   every symbol whose bars changed, in the batch that changed them. Recursive indicators (EMA,
 *   Wilder smoothing) read the whole window; the others only their look-back, so they are computed
 *   on the window's tail (two groups: look-backs up to 100 bars, and longer ones), which cuts the
 *   cost per bar by about three without changing a value beyond rounding (see below);
 * - market and cross-sectional (rank/z-score) columns need every symbol's bars on the date: the
 *   date's cross-section, recomputed from all windows at once (tens of ms for 500 symbols).
 *
 * A vector updated by a batch is published at once with the newest cross-section that includes
 * its symbol, normally the previous trading day's, and flagged by nothing else: a provisional
 * vector. The cross-section of a date is recomputed (and every vector of that date republished)
 * as soon as every symbol that traded the previous day has its bar for the date, otherwise at
 * most `crossSectionIntervalMs` after the date first changed, and whenever the stream goes idle.
 * So a late or missing symbol never holds the others back for long, and the values converge to
 * those of a computation over the complete day.
 *
 * As offline (computeFeatures), every symbol's bars count in the market columns, however young it
 * is, and a symbol has a vector, and a place in the cross-sectional ranks, from its minBars-th bar on.
 *
 * Differences from the offline store (materializeFeatures):
 * - recursive indicators (EMA, Wilder smoothing) start from the window's first bar instead of the
 *   symbol's first bar; with 750 bars the difference is below 1e-10 relative on the S&P 500 data;
 * - running sums (SMA and the like) start at the window's tail, so they round differently: about
 *   1e-16 relative, which a difference such as close/sma - 1 keeps in absolute terms (2e-16 vs 0);
 * - a symbol's history is what its window holds: a full window counts as older than minBars bars on
 *   each of its dates; a split before the window, or in its first bars (SPLIT_BARS_BEFORE), is not
 *   adjusted for (windowBars), which scales the window's prices by a constant: last bits only;
 * - offline, a row also waits until every column has had a defined value; online a vector past the
 *   minBars-th bar is published with whatever is undefined (only data with e.g. constant prices
 *   keep a column undefined beyond its look-back).
 */
import type { Cache } from '../cache/cache';
import { previousNyseTradingDay } from '../calendar/nyse';
import { computeFeatures, featureColumns, frameRow, requiredBars, universeMemberOf, warmupBars, type FeatureFrame, type SymbolBars } from '../features/compute-features';
import { isMarketFeature, type FeatureSet, type FeatureSpec, type SymbolFeatureSpec } from '../features/feature-set';
import { computeSymbolFeature } from '../features/symbol-features';
import { inScratch } from '../features/indicators/scratch';
import type { Ohlcv } from '../features/indicators/indicators';
import { splitAdjusted } from '../features/split-adjusted';
import { toSymbolBars } from '../features/materialize';
import type { RowSigning } from '../registry/row-signature';
import { replaceOnlineFeatures, splitWithholding, type OnlineFeatureVector } from '../features/online-features';
import { mayBeSplit, SPLIT_BARS_BEFORE, splitsIn } from '../quality/splits';
import type { Bar } from '../market-data/bar';
import { findVolatilityIndex } from '../market-data/instruments';
import type { Headline } from '../news/headlines';
import { indexOfDate } from '../market-data/bar';
import type { BarWindows, WindowColumns } from './bar-windows';
import { allFinite, lastValues } from './online-indicators';

interface SymbolState {
  /** Per-symbol columns on the symbol's newest bar, one array per per-symbol group. */
  own?: { asOf: string; groups: ArrayLike<number>[] };
  /** Cross-sectional columns of the newest cross-section that included the symbol. */
  cross?: { date: string; values: Float64Array };
}

/**
 * Per-symbol kinds whose value on a bar depends only on the bars of their look-back (warmupBars),
 * not on everything before: computed on the window's tail. Any other kind (EMA, MACD, RSI, ATR,
 * ADX use exponential or Wilder smoothing) is computed on the whole window.
 */
const LOOKBACK_KINDS = new Set<string>([
  'return', 'sma_ratio', 'bollinger', 'stochastic', 'cci', 'williams_r', 'roc', 'mfi', 'realized_vol', 'candlestick', 'gap', 'donchian_breakout',
  'range_position', 'volume_breakout', 'relative_volume', 'volume_zscore', 'obv_trend', 'ad_trend', 'price_volume_corr', 'vwap_distance', 'news_sentiment',
]);

/** Look-back features are computed in two groups, short ones (most) on a much shorter tail than long ones (SMA 200, 52-week range). */
const SHORT_LOOKBACK_BARS = 100;
/** Bars beyond the look-back given to a tail computation, so rounding never meets an edge. */
const TAIL_SLACK_BARS = 10;

function normalisation(spec: FeatureSpec): 'none' | 'rank' | 'zscore' {
  return isMarketFeature(spec) || !('normalize' in spec) ? 'none' : spec.normalize;
}

function isCrossSectional(spec: FeatureSpec): boolean {
  return isMarketFeature(spec) || normalisation(spec) !== 'none';
}

/** A group of per-symbol features computed together on the newest `tail` bars of each window. */
interface SymbolGroup {
  set: FeatureSet;
  tail: number;
  /** Indicators only (computeSymbolFeature on the bars); news needs headlines, so computeFeatures. */
  direct: boolean;
}

/** The per-symbol group of a spec: 0 whole window (recursive), 1 short look-back, 2 long look-back, 3 news. */
function groupOf(spec: FeatureSpec): number {
  if (spec.kind === 'news_sentiment') return 3;
  if (!LOOKBACK_KINDS.has(spec.kind)) return 0;
  return warmupBars(spec) <= SHORT_LOOKBACK_BARS ? 1 : 2;
}

/** The newest `tail` bars of a series, as views (no copy). */
function tailOf(bars: SymbolBars, tail: number): SymbolBars {
  const from = bars.dates.length - tail;
  if (from <= 0) return bars;
  return { symbol: bars.symbol, dates: bars.dates.slice(from), open: bars.open.subarray(from), high: bars.high.subarray(from), low: bars.low.subarray(from), close: bars.close.subarray(from), volume: bars.volume.subarray(from) };
}


/**
 * The last row of a group of indicator features: what computeSymbolFeature, as computeFeatures runs
 * it, gives on the newest `tail` bars. Computed by online-indicators.ts (the same operations on the
 * last index only, identical results, no series built) where it has the kind, else by
 * computeSymbolFeature itself. (computeFeatures adds nothing to per-symbol columns but framing, which
 * costs more than the indicators themselves for one bar of one symbol.) `window` is the symbol's
 * window as the features read it: its columns [start, end), or the split-adjusted bars (windowBars).
 */
function lastRowOf(group: SymbolGroup, window: { series: Ohlcv; start: number; end: number; bars: () => SymbolBars }, finite: boolean): number[] {
  const from = Math.max(window.start, window.end - group.tail);
  const row: number[] = [];
  let view: SymbolBars | undefined;
  for (const spec of group.set.features) {
    if (finite && lastValues(spec as SymbolFeatureSpec, window.series, from, window.end, row)) continue;
    const tail = (view ??= tailOf(window.bars(), group.tail));
    inScratch(() => {
      for (const column of computeSymbolFeature(spec as SymbolFeatureSpec, tail)) row.push(column[column.length - 1]);
    });
  }
  return row;
}

/**
 * A symbol's window as its per-symbol features read it: adjusted at the unadjusted splits found in it
 * (split-adjusted.ts), as offline. The whole window is adjusted before any tail is taken, so a split
 * is judged with the bars before it that offline judges it with, and a tail has the offline tail's
 * values. The columns are scanned first: only a move large enough for a split builds the bars.
 */
function windowBars(symbol: string, bars: readonly Bar[], columns: WindowColumns): { series: Ohlcv; start: number; end: number; bars: () => SymbolBars } {
  let candidate = false;
  for (let k = columns.start + 1; k < columns.end && !candidate; k++) candidate = mayBeSplit(columns.open[k] / columns.close[k - 1]);
  const plain = { series: columns, start: columns.start, end: columns.end, bars: () => toSymbolBars(symbol, bars) };
  if (!candidate) return plain;
  const stored = toSymbolBars(symbol, bars);
  const adjusted = splitAdjusted(stored);
  return adjusted === stored ? plain : { series: adjusted, start: 0, end: adjusted.close.length, bars: () => adjusted };
}

/** A cross-section computation, detached from the updater so that it can run on another thread. */
export interface CrossSectionJob {
  set: FeatureSet;
  fromDate: string;
  /** Each symbol's row is wanted on its newest bar when that bar is dated one of these. */
  wanted: string[];
  /** Every symbol's newest bars (young ones too), from the look-back before fromDate on, in the store's order (by symbol). */
  universe: SymbolBars[];
  /** The universe's dates as epoch days, when at hand (what crosses to the thread; else computed from the dates). */
  universeDays?: Int32Array[];
  /**
   * For each symbol of the universe, the date of its minBars-th bar in the whole feature set: from
   * then on it has a row and a place in the ranks. '' when its history is older than its window,
   * null when it has fewer bars (it then counts in the market columns only).
   */
  rowsFrom: Array<string | null>;
  volatilityIndex?: SymbolBars;
}

export interface CrossSectionRow {
  symbol: string;
  date: string;
  values: Float64Array;
}

/**
 * The market and cross-sectional columns of each symbol on its newest bar, when that bar is dated a
 * wanted date and the symbol has a row on it.
 *
 * The cross-section's own features may need fewer bars than the whole set, so computeFeatures
 * would rank symbols that have no row offline yet. Values are therefore computed unnormalised, and ranks
 * and z-scores taken here, as computeFeatures takes them, among the symbols past their rowsFrom.
 */
export function computeCrossSection(job: CrossSectionJob): CrossSectionRow[] {
  const rowsFrom = new Map(job.universe.map((s, k) => [s.symbol, job.rowsFrom[k]]));
  const raw: FeatureSet = { ...job.set, features: job.set.features.map((f) => (normalisation(f) === 'none' ? f : ({ ...f, normalize: 'none' } as FeatureSpec))) };
  const { frames } = computeFeatures(job.universe, raw, { fromDate: job.fromDate, volatilityIndex: job.volatilityIndex });

  // The rows of each wanted date that count in its ranks, in universe order (the order of offline sums).
  const cells = new Map<string, Array<{ frame: FeatureFrame; row: number }>>(job.wanted.map((d) => [d, []]));
  for (const frame of frames) {
    const from = rowsFrom.get(frame.symbol);
    if (from === null || from === undefined) continue;
    frame.dates.forEach((d, row) => {
      if (d >= from) cells.get(d)?.push({ frame, row });
    });
  }
  let c = 0;
  for (const spec of job.set.features) {
    const width = featureColumns({ ...job.set, features: [spec] }).length;
    const mode = normalisation(spec);
    if (mode !== 'none') for (let k = c; k < c + width; k++) for (const cell of cells.values()) normaliseCell(cell, k, mode);
    c += width;
  }

  const rows: CrossSectionRow[] = [];
  for (const cell of cells.values()) {
    for (const { frame, row } of cell) {
      // Only the symbol's newest bar: older rows of a symbol are in the cell for the ranks alone.
      if (row === frame.dates.length - 1) rows.push({ symbol: frame.symbol, date: frame.dates[row], values: frameRow(frame, row) });
    }
  }
  return rows;
}

/** Rank (0..1, ties averaged) or z-score of column `c` over the finite values of one date, in place: computeFeatures' normalisation. */
function normaliseCell(cell: ReadonlyArray<{ frame: FeatureFrame; row: number }>, c: number, mode: 'rank' | 'zscore'): void {
  const xs: Array<{ column: Float64Array; row: number; value: number }> = [];
  for (const { frame, row } of cell) {
    const value = frame.columns[c][row];
    if (Number.isFinite(value)) xs.push({ column: frame.columns[c], row, value });
  }
  if (xs.length === 0) return;
  if (mode === 'zscore') {
    const mean = xs.reduce((a, x) => a + x.value, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, x) => a + (x.value - mean) ** 2, 0) / xs.length);
    for (const x of xs) x.column[x.row] = sd > 0 ? (x.value - mean) / sd : 0;
    return;
  }
  xs.sort((a, b) => a.value - b.value);
  for (let i = 0; i < xs.length; ) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1].value === xs[i].value) j++;
    const rank = xs.length > 1 ? (i + j) / 2 / (xs.length - 1) : 0.5;
    for (let t = i; t <= j; t++) xs[t].column[xs[t].row] = rank;
    i = j + 1;
  }
}

/**
 * Bars before a date each symbol contributes to its cross-section beyond the longest look-back: slack,
 * and the bars the unadjusted_split rule reads before a split (market columns adjust for the splits it
 * finds, and one at the far end of the look-back must be judged as the offline step judges it).
 */
const CROSS_SLACK_BARS = 5 + SPLIT_BARS_BEFORE;

export class OnlineFeatureUpdater {
  readonly columns: string[];
  private readonly groups: SymbolGroup[] = [];
  private readonly cross: FeatureSet | undefined;
  /** For each output column: its group (an index into groups, or -1 for the cross-section) and its index there. */
  private readonly layout: Array<{ group: number; index: number }> = [];
  private readonly minBars: number;
  private readonly crossLookback: number;
  /** The volatility_index feature, if the set declares one: its series is found among the windows (VIX, $VIX, ^VIX). */
  private readonly vixSpec: { symbol?: string } | undefined;
  /** Equities unless the set says otherwise, as offline: only they get vectors and count in the cross-section. */
  private readonly member: (symbol: string) => boolean;
  private readonly states = new Map<string, SymbolState>();
  /** Dates whose cross-section is out of date, with when they first were. */
  private readonly dirty = new Map<string, number>();
  private news: readonly Headline[] | undefined;

  constructor(
    readonly set: FeatureSet,
    private readonly windows: BarWindows,
    private readonly crossSectionIntervalMs: number,
  ) {
    this.columns = featureColumns(set);
    const perSymbol = set.features.filter((f) => !isCrossSectional(f));
    const groupIndex = new Map<number, number>();
    for (const kind of [0, 1, 2, 3]) {
      const features = perSymbol.filter((f) => groupOf(f) === kind);
      if (features.length === 0) continue;
      const part: FeatureSet = { ...set, version: `${set.version}/${kind}`, features };
      groupIndex.set(kind, this.groups.length);
      this.groups.push({ set: part, tail: kind === 0 ? Number.POSITIVE_INFINITY : requiredBars(part) + TAIL_SLACK_BARS, direct: kind !== 3 });
    }
    const crossFeatures = set.features.filter(isCrossSectional);
    this.cross = crossFeatures.length > 0 ? { ...set, version: `${set.version}/cross`, features: crossFeatures } : undefined;
    const counters = new Map<number, number>();
    for (const spec of set.features) {
      const group = isCrossSectional(spec) ? -1 : (groupIndex.get(groupOf(spec)) as number);
      for (let c = featureColumns({ ...set, features: [spec] }).length; c > 0; c--) {
        const index = counters.get(group) ?? 0;
        counters.set(group, index + 1);
        this.layout.push({ group, index });
      }
    }
    this.minBars = requiredBars(set);
    // A ranked recursive indicator depends on every bar before, like the symbol's own ones: it gets the whole window.
    const rankedRecursive = crossFeatures.some((f) => normalisation(f) !== 'none' && !LOOKBACK_KINDS.has(f.kind));
    this.crossLookback = !this.cross ? 0 : rankedRecursive ? Number.POSITIVE_INFINITY : requiredBars(this.cross) + CROSS_SLACK_BARS;
    const vix = set.features.find((f) => f.kind === 'volatility_index');
    this.vixSpec = vix && 'changeWindow' in vix ? { symbol: vix.symbol } : undefined;
    this.member = universeMemberOf(set);
    if (windows.size < this.minBars) throw new Error(`feature set ${set.version} needs ${this.minBars} bars per symbol, but the stream keeps ${windows.size}; raise the window`);
  }

  get usesNews(): boolean {
    return this.set.features.some((f) => f.kind === 'news_sentiment');
  }

  setNews(headlines: readonly Headline[]): void {
    this.news = headlines;
  }

  /** The stored volatility-index series the set reads: the first candidate with bars in the windows. */
  private get vixSymbol(): string | undefined {
    return this.vixSpec ? findVolatilityIndex((s) => this.windows.bars(s).length > 0, this.vixSpec.symbol) : undefined;
  }

  /** Whether a symbol has a vector: a universe member from its minBars-th bar on (the volatility index only feeds market columns). */
  private isMember(symbol: string): boolean {
    return symbol !== this.vixSymbol && this.member(symbol) && this.windows.bars(symbol).length >= this.minBars;
  }

  /** The date from which a symbol has a vector and a rank (see CrossSectionJob.rowsFrom). */
  private rowsFrom(bars: readonly Bar[]): string | null {
    // A full window may have been cut: its symbol is taken to be older than minBars bars throughout.
    if (bars.length >= this.windows.size) return '';
    return bars.length >= this.minBars ? bars[this.minBars - 1].date : null;
  }

  /**
   * Recomputes the per-symbol columns of `symbols` from their windows and marks their dates' cross-
   * sections out of date. Returns the symbols whose vector can be published now and those that wait
   * for a first cross-section.
   */
  updateSymbols(symbols: Iterable<string>, now: number): { ready: string[]; waiting: string[] } {
    const members: string[] = [];
    const vixSymbol = this.vixSymbol;
    for (const s of new Set(symbols)) {
      if (s === vixSymbol) {
        // A volatility-index bar dated d feeds the market columns of the dates after d only (its close
        // is set at 16:15, after d's 16:00 decision: computeFeatures joins the close dated before each
        // date). Those are out of date when it comes after newer bars of other symbols.
        const d = this.windows.newestDate(s);
        if (d) for (const other of this.windows.symbols()) {
          const newest = this.windows.newestDate(other);
          if (newest !== undefined && newest > d) this.markDirty(newest, now);
        }
        continue;
      }
      if (this.isMember(s)) members.push(s);
      else {
        this.states.delete(s);
        // Too young for a vector of its own, but its bar counts in the market columns of its date.
        const d = this.windows.newestDate(s);
        if (d) this.markDirty(d, now);
      }
    }
    if (members.length === 0) return { ready: [], waiting: [] };
    // News goes through computeFeatures (it needs the headlines), for all the members at once.
    const viaFrames = this.groups.map((g) =>
      g.direct
        ? undefined
        : this.lastRows(
            g.set,
            members.map((m) => toSymbolBars(m, this.windows.bars(m))),
            g.tail,
          ),
    );
    const ready: string[] = [];
    const waiting: string[] = [];
    for (const symbol of members) {
      const bars = this.windows.bars(symbol);
      const asOf = bars[bars.length - 1].date;
      const columns = this.windows.columns(symbol) as WindowColumns;
      const finite = allFinite(columns, columns.start, columns.end);
      const window = windowBars(symbol, bars, columns);
      const groups = this.groups.map((g, i) => (g.direct ? { date: asOf, values: lastRowOf(g, window, finite) } : viaFrames[i]?.get(symbol)));
      if (groups.some((g) => g?.date !== asOf)) continue; // no complete row (a history of undefined values)
      const state: SymbolState = { ...this.states.get(symbol), own: { asOf, groups: groups.map((g) => (g as { values: ArrayLike<number> }).values) } };
      this.states.set(symbol, state);
      if (this.cross) {
        this.markDirty(asOf, now);
        if (!state.cross) {
          waiting.push(symbol);
          continue;
        }
      }
      ready.push(symbol);
    }
    return { ready, waiting };
  }

  /** Each symbol's last feature row of `part` computed by computeFeatures on its newest `tail` bars. */
  private lastRows(part: FeatureSet, series: readonly SymbolBars[], tail: number): Map<string, { date: string; values: Float64Array }> {
    const out = new Map<string, { date: string; values: Float64Array }>();
    const universe = series.map((s) => tailOf(s, tail));
    const last = (u: SymbolBars) => u.dates[u.dates.length - 1];
    const fromDate = universe.reduce((m, u) => (last(u) < m ? last(u) : m), last(universe[0]));
    for (const frame of computeFeatures(universe, part, { fromDate, news: this.news }).frames) {
      const r = frame.dates.length - 1;
      if (r >= 0) out.set(frame.symbol, { date: frame.dates[r], values: frameRow(frame, r) });
    }
    return out;
  }

  /**
   * A late (or corrected) bar of `symbol` dated `date` changes the market columns of the newer dates
   * within the cross-sections' look-back; older than that, it changes none of them.
   */
  markLate(symbol: string, date: string, now: number): void {
    if (!this.cross) return;
    const bars = this.windows.bars(symbol);
    if (bars.length - indexOfDate(bars, date).index > this.crossLookback) return;
    for (const s of this.windows.symbols()) {
      const d = this.windows.newestDate(s);
      if (d !== undefined && d >= date) this.markDirty(d, now);
    }
  }

  private markDirty(date: string, now: number): void {
    if (this.cross && !this.dirty.has(date)) this.dirty.set(date, now);
  }

  /** Dates whose cross-section should be recomputed now. */
  dueDates(now: number, idle: boolean): string[] {
    const due: string[] = [];
    for (const [date, since] of this.dirty) {
      if (idle || now - since >= this.crossSectionIntervalMs || this.isComplete(date)) due.push(date);
    }
    return due;
  }

  hasDirtyDates(): boolean {
    return this.dirty.size > 0;
  }

  /** Milliseconds until the oldest dirty date falls due by time (undefined when none is dirty). */
  msUntilDue(now: number): number | undefined {
    let first: number | undefined;
    for (const since of this.dirty.values()) first = first === undefined ? since : Math.min(first, since);
    return first === undefined ? undefined : Math.max(0, first + this.crossSectionIntervalMs - now);
  }

  /**
   * As many symbols have a bar on `date` as on the trading day before: every symbol that traded
   * then has reported (a new listing can make this true early, which only brings the refresh forward).
   */
  private isComplete(date: string): boolean {
    return this.windows.symbolsOn(date) >= this.windows.symbolsOn(previousNyseTradingDay(date));
  }

  /** Newest dates of the symbols that were never part of a cross-section yet (at start, new symbols). */
  datesLackingCrossSection(): string[] {
    const dates = new Set<string>();
    for (const s of this.windows.symbols()) {
      const newest = this.windows.newestDate(s);
      if (newest !== undefined && this.isMember(s) && !this.states.get(s)?.cross) dates.add(newest);
    }
    return [...dates];
  }

  /**
   * Recomputes the cross-section of `dates` from every window, here; returns the symbols whose
   * vector changed. (The consumer runs the computation on a thread: prepare, computeCrossSection, apply.)
   */
  refreshCrossSection(dates: readonly string[], now: number): string[] {
    const job = this.prepareCrossSection(dates, now);
    return job ? this.applyCrossSection(computeCrossSection(job)) : [];
  }

  /**
   * What recomputing the cross-section of `dates` needs, detached from this updater (the bars are
   * copies), and the dates stop being due. Symbols dated on those dates whose per-symbol part this
   * process has not computed yet (bars stored before it started) get it now, so their vectors are
   * republished too.
   */
  prepareCrossSection(dates: readonly string[], now: number): CrossSectionJob | undefined {
    if (!this.cross || dates.length === 0) return undefined;
    const wanted = new Set(dates);
    const missingOwn = this.windows.symbols().filter((s) => {
      const newest = this.windows.newestDate(s);
      return newest !== undefined && wanted.has(newest) && this.isMember(s) && this.states.get(s)?.own?.asOf !== newest;
    });
    if (missingOwn.length > 0) this.updateSymbols(missingOwn, now);
    for (const d of dates) this.dirty.delete(d);
    const fromDate = dates.reduce((m, d) => (d < m ? d : m));
    // Every symbol counts in the market columns, young ones too, as offline; in the store's order
    // (readBarSeries sorts by symbol) so that sums over symbols round as they do offline.
    // The copies share one buffer per field (views per symbol): a handful of allocations, and buffers
    // that move to the thread whole.
    const rowsFrom: Array<string | null> = [];
    const vixSymbol = this.vixSymbol;
    const parts: Array<{ symbol: string; columns: WindowColumns; first: number }> = [];
    let total = 0;
    for (const s of this.windows.symbols().sort()) {
      const bars = this.windows.bars(s);
      if (s === vixSymbol || !this.member(s) || bars.length === 0) continue;
      const first = Math.max(0, indexOfDate(bars, fromDate).index - this.crossLookback);
      parts.push({ symbol: s, columns: this.windows.columns(s) as WindowColumns, first });
      total += bars.length - first;
      rowsFrom.push(this.rowsFrom(bars));
    }
    if (!rowsFrom.some((from) => from !== null)) return undefined;
    const days = new Int32Array(total);
    const open = new Float64Array(total);
    const high = new Float64Array(total);
    const low = new Float64Array(total);
    const close = new Float64Array(total);
    const volume = new Float64Array(total);
    const universe: SymbolBars[] = [];
    const universeDays: Int32Array[] = [];
    let at = 0;
    for (const { symbol, columns: c, first } of parts) {
      const from = c.start + first;
      const end = at + c.end - from;
      days.set(c.days.subarray(from, c.end), at);
      open.set(c.open.subarray(from, c.end), at);
      high.set(c.high.subarray(from, c.end), at);
      low.set(c.low.subarray(from, c.end), at);
      close.set(c.close.subarray(from, c.end), at);
      volume.set(c.volume.subarray(from, c.end), at);
      universe.push({ symbol, dates: c.dates.slice(from, c.end), open: open.subarray(at, end), high: high.subarray(at, end), low: low.subarray(at, end), close: close.subarray(at, end), volume: volume.subarray(at, end) });
      universeDays.push(days.subarray(at, end));
      at = end;
    }
    const volatilityIndex = vixSymbol ? toSymbolBars(vixSymbol, this.windows.bars(vixSymbol)) : undefined;
    return { set: this.cross, fromDate, wanted: [...wanted], universe, universeDays, rowsFrom, volatilityIndex };
  }

  /** Takes a computed cross-section in; returns the symbols whose current vector it changed. */
  applyCrossSection(rows: readonly CrossSectionRow[]): string[] {
    const changed: string[] = [];
    for (const row of rows) {
      const state = this.states.get(row.symbol) ?? {};
      // Bars may have arrived while it was computed: never replace a newer cross-section.
      if (state.cross && state.cross.date > row.date) continue;
      state.cross = { date: row.date, values: row.values };
      this.states.set(row.symbol, state);
      if (state.own?.asOf === row.date) changed.push(row.symbol);
    }
    return changed;
  }

  /** A computation that failed: its dates are due again. */
  markDirtyAgain(dates: readonly string[], now: number): void {
    for (const d of dates) this.markDirty(d, now);
  }

  /** The current vector of a symbol (undefined until both parts exist). */
  vector(symbol: string): OnlineFeatureVector | undefined {
    const state = this.states.get(symbol);
    if (!state?.own || (this.cross && !state.cross)) return undefined;
    const own = state.own.groups;
    const cross = state.cross?.values ?? new Float64Array(0);
    const values = this.layout.map((l) => (l.group < 0 ? cross[l.index] : own[l.group][l.index]));
    const vector: OnlineFeatureVector = { version: this.set.version, symbol, asOf: state.own.asOf, columns: this.columns, values };
    // As the offline features step does: features that read an unadjusted split are published withheld.
    const withheld = this.splitWithholding(symbol, state.own.asOf);
    if (withheld !== undefined) vector.withheld = withheld;
    return vector;
  }

  /**
   * splitWithholding of the symbol's vector dated `asOf`. The window's columns are scanned first:
   * the bars' own objects come in several shapes (decoded, loaded), so reading their fields for
   * every bar of the look-back cost ~30 µs a vector; only a move large enough for a split reads them.
   */
  private splitWithholding(symbol: string, asOf: string): string | undefined {
    const bars = this.windows.bars(symbol);
    const columns = this.windows.columns(symbol) as WindowColumns;
    const newest = indexOfDate(bars, asOf).index;
    const from = Math.max(1, newest - this.minBars + 1);
    let candidate = false;
    for (let k = columns.start + from; k <= columns.start + newest && !candidate; k++) candidate = mayBeSplit(columns.open[k] / columns.close[k - 1]);
    return candidate ? splitWithholding(splitsIn(bars, from, newest + 1), newest, this.minBars) : undefined;
  }

  /** Publishes the vectors of `symbols` to the online store, signed with `signing`'s key when set; returns how many were written. */
  async publish(cache: Cache, symbols: readonly string[], signing?: RowSigning): Promise<number> {
    const vectors = symbols.map((s) => this.vector(s)).filter((v): v is OnlineFeatureVector => v !== undefined);
    return vectors.length === 0 ? 0 : replaceOnlineFeatures(cache, vectors, signing);
  }
}
