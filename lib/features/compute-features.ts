/**
 * Computes a feature set over a universe: per-symbol columns, market-wide columns (one value per
 * date from all symbols' bars up to that date) and cross-sectional normalisation (same date only).
 */
import type { Headline } from '../news/headlines';
import { isMarketFeature, type FeatureSet, type FeatureSpec, type MarketFeatureSpec, type NewsFeatureSpec, type SymbolFeatureSpec } from './feature-set';
import type { BarSeries } from '../market-data/bar';
import { inScratch, newSeries } from './indicators/scratch';
import { exactWindowSums, lag, nanArray, rollingMax, rollingMin, rollingStd, seriesOf, sma } from './indicators/rolling';
import { groupBy } from '../group-by';
import { blockColumns, columnBlocks, fillSymbolColumns, symbolColumns, symbolFeatureColumns, type SymbolColumns } from './symbol-features';
import { closeKindProblem, foreignMarketOf, instrumentKind, universeMember, volatilityIndexLookedFor } from '../market-data/instruments';
import { BadInputError } from '../errors';
import { splitAdjustedCloses } from './split-adjusted';
import { lowerBound, sortWithIndex } from '../sorted';

export type SymbolBars = BarSeries;

/**
 * One symbol's feature rows after the warm-up (every column defined on the first row), stored by
 * column: `columns[c][r]` is column c on dates[r]. Columns are views into the computed series, so
 * building a frame copies nothing; a market-wide column is one series for every frame, so columns
 * are read-only once framed.
 */
export interface FeatureFrame {
  symbol: string;
  dates: string[];
  columns: Float64Array[];
}

/** Row r of a frame as one vector in the set's column order. */
export function frameRow(frame: FeatureFrame, r: number): Float64Array {
  const row = new Float64Array(frame.columns.length);
  for (let c = 0; c < row.length; c++) row[c] = frame.columns[c][r];
  return row;
}

export interface FeatureComputation {
  columns: string[];
  frames: FeatureFrame[];
  skipped: Array<{ symbol: string; bars: number; reason: string }>;
}

/** Bars a spec needs before its first value (its look-back). */
export function warmupBars(spec: FeatureSpec): number {
  switch (spec.kind) {
    case 'return':
      return spec.horizon;
    case 'macd':
      return spec.slow + spec.signal;
    case 'adx':
      return 2 * spec.window;
    case 'stochastic':
      return spec.window + spec.smooth;
    case 'candlestick':
      return 6;
    case 'gap':
    case 'advance_decline':
    case 'dispersion':
      return 1;
    case 'volatility_index':
      return spec.changeWindow;
    case 'market_volatility':
    case 'realized_vol':
      return spec.window + 1;
    case 'vol_term_structure':
      return Math.max(spec.short, spec.long) + 1;
    case 'vol_persistence':
      return spec.window + spec.trailing;
    case 'vol_of_vol':
      return spec.window + spec.lookback;
    default:
      return spec.window + 1;
  }
}

function isNewsFeature(spec: FeatureSpec): spec is NewsFeatureSpec {
  return spec.kind === 'news_sentiment';
}

/** The set's features computed from each symbol's own bars alone, in the set's order. */
export function symbolFeatureSpecs(set: FeatureSet): SymbolFeatureSpec[] {
  return set.features.filter((f): f is SymbolFeatureSpec => !isMarketFeature(f) && !isNewsFeature(f));
}

function columnsOf(spec: FeatureSpec): string[] {
  if (isNewsFeature(spec)) return [`news_sentiment_${spec.window}`, `news_count_${spec.window}`, `news_market_sentiment_${spec.window}`];
  return isMarketFeature(spec) ? marketColumns(spec) : symbolFeatureColumns(spec);
}

export function featureColumns(set: FeatureSet): string[] {
  return set.features.flatMap(columnsOf);
}

/** Each column's look-back in bars (warmupBars of its spec): how long one day's value keeps depending on the same bars. */
export function featureLookbacks(set: FeatureSet): Record<string, number> {
  return Object.fromEntries(set.features.flatMap((spec) => columnsOf(spec).map((c) => [c, warmupBars(spec)])));
}

function marketColumns(spec: MarketFeatureSpec): string[] {
  switch (spec.kind) {
    case 'breadth':
      return [`mkt_breadth_${spec.window}`];
    case 'advance_decline':
      return ['mkt_advance_decline'];
    case 'new_highs_lows':
      return [`mkt_new_highs_lows_${spec.window}`];
    case 'dispersion':
      return ['mkt_dispersion'];
    case 'market_volatility':
      return [`mkt_volatility_${spec.window}`];
    case 'volatility_index':
      return [`vix_level`, `vix_change_${spec.changeWindow}`];
  }
}

/** Minimum bars for a symbol to get features at all; shorter series are skipped and reported. */
export function requiredBars(set: FeatureSet): number {
  return Math.max(...set.features.map(warmupBars)) + 1;
}

/**
 * Weight left on a move, in a recursive smoother's value, at which it no longer counts (memoryBars):
 * a 50% phantom move weighted 1e-4 moves an EMA ratio by 5e-5.
 */
const MEMORY_TOLERANCE = 1e-4;

/** Bars until an exponential smoother of weight `alpha` gives a move less than MEMORY_TOLERANCE. */
function smootherMemory(alpha: number): number {
  return Math.ceil(Math.log(MEMORY_TOLERANCE) / Math.log(1 - alpha));
}

/**
 * Bars back a spec's value still reads a price move: its warm-up for a finite look-back; for the
 * recursive smoothers (EMA, MACD, Wilder's RSI, ATR and ADX), which never forget a move, the bars
 * until its weight falls below MEMORY_TOLERANCE (EMA 50: 231 bars; Wilder 14: 125). How far a move
 * the features did not adjust for (an unadjusted split judged only later) reaches into rows.
 */
export function memoryBars(spec: FeatureSpec): number {
  const ema = (w: number) => smootherMemory(2 / (w + 1));
  const wilder = (w: number) => smootherMemory(1 / w);
  switch (spec.kind) {
    case 'ema_ratio':
      return Math.max(warmupBars(spec), ema(spec.window));
    case 'macd':
      return Math.max(warmupBars(spec), Math.max(ema(spec.fast), ema(spec.slow)) + ema(spec.signal));
    case 'rsi':
    case 'atr_pct':
      return Math.max(warmupBars(spec), wilder(spec.window));
    case 'adx':
      return Math.max(warmupBars(spec), 2 * wilder(spec.window));
    default:
      return warmupBars(spec);
  }
}

/** The longest memoryBars of a set's features, plus the bar itself: the rows a move reaches. */
export function memoryReach(set: FeatureSet): number {
  return Math.max(...set.features.map(memoryBars)) + 1;
}

export interface ComputeOptions {
  /** The VIX-like series when the set declares a volatility_index feature. */
  volatilityIndex?: SymbolBars;
  /**
   * Keep only rows dated on or after this date. Values are still computed from the whole history
   * given, so they equal those of a full computation; only the copying is saved.
   */
  fromDate?: string;
  /** Scored headlines for news_sentiment features (effective dates already point-in-time). */
  news?: readonly Headline[];
  /**
   * Per-symbol columns already computed elsewhere (pool threads, materialize.ts), keyed by symbol: the columns
   * of every per-symbol spec, in spec order, from the series' firstKeptRow on. Symbols absent here are computed on this thread.
   */
  symbolColumns?: ReadonlyMap<string, SymbolColumns>;
  /**
   * Frames only for these symbols; the others still count in the market-wide columns but cost no
   * per-symbol work. Only for sets without cross-sectional normalisation, where one symbol's row
   * never depends on another's.
   */
  rowsFor?: ReadonlySet<string>;
}

/** Whether some column is ranked or z-scored across symbols (a symbol's row then depends on the others' rows). */
export function normalisesAcrossSymbols(set: FeatureSet): boolean {
  return set.features.some((f) => !isMarketFeature(f) && !isNewsFeature(f) && f.normalize !== 'none');
}

/** Whether a symbol gets rows and counts in the market columns and ranks of `set` (equities unless the set says otherwise). */
export function universeMemberOf(set: Pick<FeatureSet, 'universe' | 'instruments'>): (symbol: string) => boolean {
  return universeMember(set.universe, set.instruments);
}

export function computeFeatures(given: readonly SymbolBars[], set: FeatureSet, options: ComputeOptions = {}): FeatureComputation {
  return frameFeatures(planFeatures(given, set, options), set, options);
}

/**
 * The cross-section's frame before any per-symbol column: which series get rows, the union of
 * dates, each bar's place in it and the market-wide columns. A threaded computation builds it while
 * pool threads compute per-symbol columns (it needs none of them).
 */
export interface FeaturePlan {
  /** Universe members, in the order given. */
  universe: SymbolBars[];
  /** Indices into `universe` of the series that get rows. */
  kept: number[];
  skipped: FeatureComputation['skipped'];
  allDates: string[];
  /** Each bar's index in allDates, per series of `universe`. */
  rowsOf: Int32Array[];
  market: Map<MarketFeatureSpec, Float64Array[]>;
}

export function planFeatures(given: readonly SymbolBars[], set: FeatureSet, options: Omit<ComputeOptions, 'symbolColumns'> = {}): FeaturePlan {
  const minBars = requiredBars(set);
  const skipped: FeatureComputation['skipped'] = [];
  // Indices and other non-equities are no stocks: no rows, and no weight in breadth, dispersion or ranks.
  const member = universeMemberOf(set);
  const universe = given.filter((s) => member(s.symbol));
  // A series of another market counted as a US kind by its name alone ($DAX.DE is an index): the
  // explicit declarations are refused with the set; this one is refused when it would be joined.
  // Checked for late closers too (VIX, ES=F declared equity), in case a set skipped the schema.
  for (const s of universe) {
    const problem = closeKindProblem(s.symbol, instrumentKind(s.symbol, set.instruments));
    if (problem) throw new BadInputError(`feature set ${set.version} would count ${s.symbol} in its universe (${set.universe.join(', ')}): ${problem}; or leave its kind out of the set's universe`);
  }
  oneForeignMarket(set, universe);
  for (const s of given) {
    if (!member(s.symbol)) skipped.push({ symbol: s.symbol, bars: s.dates.length, reason: `${instrumentKind(s.symbol, set.instruments)} series; feature set ${set.version} computes rows for ${set.universe.join(', ')} only` });
  }
  // Point in time: nothing may depend on how many bars a symbol has after a date. So every symbol
  // counts in the market-wide columns (each from its own look-back on), and a symbol gets rows from
  // its minBars-th bar on; one with fewer bars in all gets none and is reported.
  if (options.rowsFor && normalisesAcrossSymbols(set)) throw new Error(`feature set ${set.version} normalises across symbols: rows of some symbols cannot be computed without the others'`);
  const kept: number[] = [];
  universe.forEach((s, k) => {
    if (s.dates.length >= minBars) {
      if (!options.rowsFor || options.rowsFor.has(s.symbol)) kept.push(k);
    } else skipped.push({ symbol: s.symbol, bars: s.dates.length, reason: `${s.dates.length} bars; feature set ${set.version} needs at least ${minBars}` });
  });

  // Union of dates, so market features line up across symbols with different histories.
  const allDates = unionOfDates(universe);
  // Each bar's index in allDates: both lists are sorted, so a walk along both (no string hashing).
  const rowsOf = universe.map((s) => {
    const at = new Int32Array(s.dates.length);
    for (let i = 0, d = 0; i < at.length; i++, d++) {
      while (d < allDates.length && allDates[d] !== s.dates[i]) d++;
      if (d === allDates.length) throw new Error(`${s.symbol}: bar dates are not strictly ascending at ${s.dates[i]}`);
      at[i] = d;
    }
    return at;
  });

  const market = computeMarketColumns(set, universe, rowsOf, allDates, options);
  return { universe, kept, skipped, allDates, rowsOf, market };
}

/**
 * Series of another market (foreign_equity, lib/market-data/instruments.ts) are joined with each
 * other by date: that is point in time only within one market, whose bars of a day all close at
 * the same hour. Refuses a universe holding two (SAP.DE and 7203.JP: Frankfurt's close of day t
 * comes after Tokyo's, so Tokyo's row would see it), naming them.
 */
function oneForeignMarket(set: FeatureSet, universe: readonly SymbolBars[]): void {
  const markets = new Map<string, string>();
  for (const s of universe) {
    if (instrumentKind(s.symbol, set.instruments) !== 'foreign_equity') continue;
    const market = foreignMarketOf(s.symbol) ?? 'US';
    if (!markets.has(market)) markets.set(market, s.symbol);
  }
  if (markets.size <= 1) return;
  const named = [...markets].map(([market, symbol]) => `${market} (${symbol})`).join(', ');
  throw new BadInputError(
    `feature set ${set.version} computes rows for foreign_equity series of ${markets.size} markets, ${named}: their bars of one date close at different hours, so market and rank columns joined by date would hand each the others' later prices; store one market at a time, or map the series of the others to another kind in the feature set's "instruments"`,
  );
}

/**
 * The first row of a series that can be in its frame: past the set's warm-up and not before
 * `fromDate`. Per-symbol columns are kept from there on (ColumnBlocks); the frame may start later,
 * where every column is defined.
 */
export function firstKeptRow(set: FeatureSet, s: SymbolBars, fromDate?: string): number {
  return Math.min(s.dates.length, Math.max(requiredBars(set) - 1, fromDate ? lowerBound(s.dates, fromDate) : 0));
}

/** Frames of the plan's series from their per-symbol columns (given, or computed here), then cross-sectional normalisation. */
export function frameFeatures(plan: FeaturePlan, set: FeatureSet, options: ComputeOptions = {}): FeatureComputation {
  const { universe, kept, skipped, allDates, rowsOf, market } = plan;
  const newsBySymbol = groupBy(options.news ?? [], (h) => h.symbol);
  /** Each frame row's index in allDates. */
  const frameRows: Int32Array[] = [];
  const symbolSpecs = symbolFeatureSpecs(set);
  const keptFrom = kept.map((k) => firstKeptRow(set, universe[k], options.fromDate));
  // Columns computed here go to one allocation (a garbage collection ran about once per 60 MB of separate blocks).
  const blocks = options.symbolColumns ? undefined : columnBlocks(symbolSpecs, kept.map((k) => universe[k]), (n) => new Float64Array(n), keptFrom);
  const computedHere = (s: SymbolBars, f: number): SymbolColumns => {
    if (!blocks) return symbolColumns(symbolSpecs, s, keptFrom[f]); // one the given columns lack
    fillSymbolColumns(symbolSpecs, s, blocks, f);
    return blockColumns(blocks, f);
  };
  const frames: FeatureFrame[] = kept.map((k, f) => {
    const s = universe[k];
    const at = rowsOf[k];
    const own = options.symbolColumns?.get(s.symbol) ?? computedHere(s, f);
    if (own.from !== keptFrom[f]) throw new Error(`internal: ${s.symbol}'s columns start at row ${own.from}, not ${keptFrom[f]}`);
    // The frame starts where every column is defined: the longest leading run of undefined values,
    // over whole series (a market column's through the series' dates), and never before own.from.
    const news = new Map<NewsFeatureSpec, Float64Array[]>();
    let warm = own.lead;
    for (const spec of set.features) {
      if (isNewsFeature(spec)) {
        const columns = newsColumns(spec, s, newsBySymbol.get(s.symbol) ?? [], newsBySymbol.get(null) ?? []);
        news.set(spec, columns);
        for (const column of columns) warm = Math.max(warm, leadingUndefined(column.length, (r) => column[r]));
      } else if (isMarketFeature(spec)) {
        for (const m of market.get(spec) as Float64Array[]) warm = Math.max(warm, leadingUndefined(at.length, (r) => m[at[r]]));
      }
    }
    const first = Math.max(warm, own.from);
    const series: Float64Array[] = [];
    let next = 0;
    for (const spec of set.features) {
      if (isNewsFeature(spec)) {
        for (const column of news.get(spec) as Float64Array[]) series.push(column.subarray(first));
      } else if (isMarketFeature(spec)) {
        // A series without gaps in the union of dates (most) takes a view of the market column,
        // read-only like every frame column but the normalised ones; one with gaps, a copy.
        const contiguous = first < at.length && at[at.length - 1] - at[first] === at.length - 1 - first;
        for (const m of market.get(spec) as Float64Array[]) {
          if (contiguous) {
            series.push(m.subarray(at[first], at[first] + at.length - first));
            continue;
          }
          const aligned = new Float64Array(at.length - first);
          for (let r = first; r < at.length; r++) aligned[r - first] = m[at[r]];
          series.push(aligned);
        }
      } else {
        for (const column of own.columns.slice(next, next + symbolFeatureColumns(spec).length)) series.push(column.subarray(first - own.from));
        next += symbolFeatureColumns(spec).length;
      }
    }
    frameRows.push(at.subarray(first));
    return { symbol: s.symbol, dates: s.dates.slice(first), columns: series };
  });

  normaliseCrossSection(set, frames, frameRows, allDates.length);
  return { columns: featureColumns(set), frames, skipped };
}

/**
 * The sorted union of the series' dates. Most series share one trading calendar, so a walk along
 * the union finds each one's dates there and only a series with a date the union lacks is merged in
 * (a Set of every bar's date took ~30 ms for the S&P 500, its strings hashed once each).
 */
function unionOfDates(universe: readonly SymbolBars[]): string[] {
  let all: string[] = [];
  for (const s of universe) {
    const dates = s.dates;
    let i = 0;
    for (let d = 0; i < dates.length; i++, d++) {
      while (d < all.length && all[d] < dates[i]) d++;
      if (d === all.length || all[d] !== dates[i]) break;
    }
    if (i < dates.length) all = mergeDates(all, s);
  }
  return all;
}

function mergeDates(all: readonly string[], s: SymbolBars): string[] {
  const out: string[] = [];
  let d = 0;
  for (let i = 0; i < s.dates.length; i++) {
    const date = s.dates[i];
    if (i > 0 && !(s.dates[i - 1] < date)) throw new Error(`${s.symbol}: bar dates are not strictly ascending at ${date}`);
    while (d < all.length && all[d] < date) out.push(all[d++]);
    if (d < all.length && all[d] === date) d++;
    out.push(date);
  }
  while (d < all.length) out.push(all[d++]);
  return out;
}

/**
 * Mean headline score and headline count over the last `window` bars, for the symbol and for
 * market-wide news. A headline counts from the first bar on or after its effective trading day.
 */
function newsColumns(spec: NewsFeatureSpec, s: SymbolBars, own: readonly Headline[], marketWide: readonly Headline[]): Float64Array[] {
  const perBar = (items: readonly Headline[]) => {
    const sum = new Float64Array(s.dates.length);
    const count = new Float64Array(s.dates.length);
    for (const h of items) {
      const i = lowerBound(s.dates, h.effectiveDate);
      if (i >= s.dates.length) continue; // not yet tradable within this history
      sum[i] += h.score;
      count[i]++;
    }
    return { sum: exactWindowSums(sum, spec.window), count: exactWindowSums(count, spec.window) };
  };
  const mine = perBar(own);
  const market = perBar(marketWide);
  const mean = (x: { sum: Float64Array; count: Float64Array }) => seriesOf(x.sum.length, (i) => (Number.isNaN(x.sum[i]) ? NaN : x.count[i] > 0 ? x.sum[i] / x.count[i] : 0));
  return [mean(mine), mine.count, mean(market)];
}

/** How many values from the start are not finite (of n, value(r) the r-th). */
function leadingUndefined(n: number, value: (r: number) => number): number {
  let r = 0;
  while (r < n && !Number.isFinite(value(r))) r++;
  return r;
}

/** Market-wide series indexed by position in `allDates`; each uses only bars dated <= that date. */
function computeMarketColumns(
  set: FeatureSet,
  universe: readonly SymbolBars[],
  rowsOf: readonly Int32Array[],
  allDates: readonly string[],
  options: ComputeOptions,
): Map<MarketFeatureSpec, Float64Array[]> {
  const out = new Map<MarketFeatureSpec, Float64Array[]>();
  const n = allDates.length;
  const specs = set.features.filter(isMarketFeature);
  if (specs.length === 0) return out;

  // Per-date accumulation of a per-symbol 0/1/NaN series into a share of defined values.
  const share = (perSymbol: (s: SymbolBars) => Float64Array): Float64Array => {
    const sum = new Float64Array(n);
    const count = new Float64Array(n);
    universe.forEach((s, k) =>
      inScratch(() => {
        const x = perSymbol(s);
        const at = rowsOf[k];
        for (let i = 0; i < x.length; i++) if (!Number.isNaN(x[i])) {
          sum[at[i]] += x[i];
          count[at[i]]++;
        }
      }),
    );
    const result = nanArray(n);
    for (let i = 0; i < n; i++) if (count[i] > 0) result[i] = sum[i] / count[i];
    return result;
  };
  // A member's unadjusted split would read as its crash or jump in every market column (a 2:1 split
  // is a -50% return in the mean and the dispersion, and its close stays below its moving average
  // for a window): the columns read closes adjusted for the splits the rule finds on their own day,
  // as the per-symbol features do (split-adjusted.ts).
  const closes = new Map(universe.map((s) => [s, splitAdjustedCloses(s)] as const));
  const closeOf = (s: SymbolBars) => closes.get(s) as Float64Array;
  const dailyReturns = universe.map((s) => {
    const c = closeOf(s);
    const r = nanArray(c.length);
    for (let i = 1; i < r.length; i++) r[i] = c[i] / c[i - 1] - 1;
    return r;
  });

  for (const spec of specs) {
    switch (spec.kind) {
      case 'breadth':
        out.set(spec, [share((s) => {
          const c = closeOf(s);
          const m = sma(c, spec.window);
          const above = newSeries(c.length);
          for (let i = 0; i < c.length; i++) above[i] = Number.isNaN(m[i]) ? NaN : c[i] > m[i] ? 1 : 0;
          return above;
        })]);
        break;
      case 'advance_decline':
        out.set(spec, [share((s) => {
          const c = closeOf(s);
          const sign = nanArray(c.length);
          for (let i = 1; i < c.length; i++) sign[i] = Math.sign(c[i] - c[i - 1]);
          return sign;
        })]);
        break;
      case 'new_highs_lows':
        out.set(spec, [share((s) => {
          const c = closeOf(s);
          const hi = rollingMax(c, spec.window);
          const lo = rollingMin(c, spec.window);
          const extreme = newSeries(c.length);
          for (let i = 0; i < c.length; i++) extreme[i] = Number.isNaN(hi[i]) ? NaN : c[i] >= hi[i] ? 1 : c[i] <= lo[i] ? -1 : 0;
          return extreme;
        })]);
        break;
      case 'dispersion': {
        const sum = new Float64Array(n);
        const sq = new Float64Array(n);
        const count = new Float64Array(n);
        dailyReturns.forEach((r, k) => {
          for (let i = 1; i < r.length; i++) {
            const d = rowsOf[k][i];
            sum[d] += r[i];
            sq[d] += r[i] * r[i];
            count[d]++;
          }
        });
        const dispersion = nanArray(n);
        // One symbol's returns have zero spread (population std), not an undefined one.
        for (let d = 0; d < n; d++) if (count[d] > 0) dispersion[d] = Math.sqrt(Math.max(0, sq[d] / count[d] - (sum[d] / count[d]) ** 2));
        out.set(spec, [dispersion]);
        break;
      }
      case 'market_volatility': {
        const returnsOf = new Map(universe.map((s, k) => [s, dailyReturns[k]] as const));
        const mean = share((s) => returnsOf.get(s) as Float64Array);
        const logRet = seriesOf(mean.length, (i) => Math.log(1 + mean[i]));
        const vol = rollingStd(logRet, spec.window, 1);
        for (let i = 0; i < n; i++) vol[i] = i < spec.window ? NaN : vol[i] * Math.sqrt(252);
        out.set(spec, [vol]);
        break;
      }
      case 'volatility_index': {
        const vix = options.volatilityIndex;
        if (!vix) throw new Error(`feature set ${set.version} declares volatility_index ${volatilityIndexLookedFor(spec.symbol)}, but no such series was given`);
        // As-of join on the last VIX close dated strictly before each date (the previous trading
        // day's): the VIX's daily close is set at 16:15 ET, after the 16:00 equity close at which
        // day t's decision is taken, so the close dated t is not known then.
        const level = nanArray(n);
        let j = -1;
        for (let i = 0; i < n; i++) {
          while (j + 1 < vix.dates.length && vix.dates[j + 1] < allDates[i]) j++;
          if (j >= 0) level[i] = vix.close[j];
        }
        const prev = lag(level, spec.changeWindow);
        out.set(spec, [level, seriesOf(level.length, (i) => level[i] / prev[i] - 1)]);
        break;
      }
    }
  }
  return out;
}

/**
 * Rank (0..1, ties averaged) or z-score across symbols on the same date, for columns that ask for it.
 * Each column's finite values are grouped by date in flat typed arrays (one object per value had
 * made the ranks a quarter of the universe's feature time, most of it garbage collection); a value's
 * rank comes from its tie block in the date's sorted values, found by binary search.
 */
function normaliseCrossSection(set: FeatureSet, frames: FeatureFrame[], rowsOf: readonly Int32Array[], n: number): void {
  let col = 0;
  for (const spec of set.features) {
    const names = columnsOf(spec);
    const mode = isMarketFeature(spec) || isNewsFeature(spec) ? 'none' : spec.normalize;
    if (mode !== 'none') for (let c = col; c < col + names.length; c++) normaliseColumn(frames, rowsOf, n, c, mode);
    col += names.length;
  }
}

function normaliseColumn(frames: FeatureFrame[], rowsOf: readonly Int32Array[], n: number, c: number, mode: 'rank' | 'zscore'): void {
  const target = frames.map((f) => f.columns[c]);
  // Values of date d at [start[d], start[d + 1]), frames in order (as the cross-section is read).
  const start = new Int32Array(n + 1);
  target.forEach((column, k) => {
    for (let r = 0; r < column.length; r++) if (Number.isFinite(column[r])) start[rowsOf[k][r] + 1]++;
  });
  for (let d = 0; d < n; d++) start[d + 1] += start[d];
  const values = new Float64Array(start[n]);
  const frameOf = new Int32Array(start[n]);
  const rowOf = new Int32Array(start[n]);
  const next = start.slice(0, n);
  target.forEach((column, k) => {
    for (let r = 0; r < column.length; r++) {
      if (!Number.isFinite(column[r])) continue;
      const at = next[rowsOf[k][r]]++;
      values[at] = column[r];
      frameOf[at] = k;
      rowOf[at] = r;
    }
  });
  // Ranks: each date's values sorted along with their positions (an argsort), in place.
  const sorted = values;
  const position = new Int32Array(mode === 'rank' ? values.length : 0);
  for (let t = 0; t < position.length; t++) position[t] = t;
  for (let d = 0; d < n; d++) {
    const from = start[d];
    const to = start[d + 1];
    const count = to - from;
    if (count === 0) continue;
    if (mode === 'zscore') {
      let sum = 0;
      for (let t = from; t < to; t++) sum += values[t];
      const mean = sum / count;
      let squares = 0;
      for (let t = from; t < to; t++) squares += (values[t] - mean) ** 2;
      const sd = Math.sqrt(squares / count);
      for (let t = from; t < to; t++) target[frameOf[t]][rowOf[t]] = sd > 0 ? (values[t] - mean) / sd : 0;
      continue;
    }
    sortWithIndex(sorted, position, from, to);
    for (let i = from; i < to; ) {
      // The tie block [i, j) shares one rank; -0 and 0 compare equal here, as ties.
      let j = i + 1;
      while (j < to && sorted[j] === sorted[i]) j++;
      const rank = count > 1 ? (i + j - 1 - 2 * from) / 2 / (count - 1) : 0.5;
      for (; i < j; i++) target[frameOf[position[i]]][rowOf[position[i]]] = rank;
    }
  }
}
