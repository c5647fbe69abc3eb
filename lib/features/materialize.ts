/**
 * Materialises a feature set into the offline store (rows per symbol and date) and the newest
 * vector per symbol into the online store. Incremental: only dates after the last stored one are
 * written, plus the stored rows that revised or back-filled bars made stale (see Refresh). Values are always computed from each symbol's full stored history, because recursive
 * indicators (EMA, Wilder's RSI/ATR/ADX) depend on all of it: that is what makes an incremental
 * run give exactly the values of a full recomputation.
 */
import type { Cache } from '../cache/cache';
import { BadInputError } from '../errors';
import { barChecking } from '../store/bar-signature';
import { barCountsThrough, barDatesAmong, readBars, readBarSeries } from '../store/bars';
import { readHeadlines } from '../store/news';
import type { Database } from '../store/database';
import { absorbBarRevisions, featureRowDates, lastFeatureDates, marksSince, readFeatureProgress, removeUnverifiedFeatureRows, saveFeatureProgress, saveFeatureSet, unverifiedFeatureRows, writeFeatureBatch, type ClearedRange, type FeatureProgress, type FeatureRow } from '../store/features';
import type { FeatureRowProblem, RefusedFeatureRows } from './vector-signature';
import { computeFeatures, firstKeptRow, frameFeatures, frameRow, normalisesAcrossSymbols, planFeatures, requiredBars, symbolFeatureSpecs, universeMemberOf, type ComputeOptions, type FeatureComputation, type SymbolBars } from './compute-features';
import { findVolatilityIndex, volatilityIndexCandidates, volatilityIndexLookedFor } from '../market-data/instruments';
import type { Headline } from '../news/headlines';
import { isMarketFeature, type FeatureSet, type SymbolFeatureSpec } from './feature-set';
import { idlePoolThreads } from '../threads/task-pool';
import { sharedFloat64, sharedInt32 } from '../threads/shared-memory';
import { blockColumns, claimSymbolColumns, columnBlocks, type SymbolColumns } from './symbol-features';
import type { RowSigning } from '../registry/row-signature';
import { readStoredVectorTexts, splitWithholding, writeOnlineVectors, type OnlineFeatureVector } from './online-features';
import { seriesSplits } from '../quality/splits';
import { upperBound } from '../sorted';

export interface MaterializeOptions {
  /** Symbols to compute (default: every symbol in the bar store). */
  symbols?: readonly string[];
  /** Last date to use (default: everything stored); rows already stored after it are still kept up to date (bars up to the newest stored row are read). */
  to?: string;
  cache?: Cache;
  onProgress?: (p: { symbolsDone: number; symbolsTotal: number; rowsWritten: number }) => void;
  signal?: AbortSignal;
  /** Threads for per-symbol features (this one included); 1 computes everything here. */
  threads?: number;
  /** The deployment's MODEL_SIGNING_KEY: with it the rows written and the vectors published to `cache` are signed (the API refuses unsigned ones). */
  signing?: RowSigning;
  /**
   * Recompute every stored row of the set from the stored bars and write it again (replacing it), not
   * only new and stale ones: `mlp features recompute`, so rows written before signing (or without
   * the key, or edited since) carry the signature of values this process computed. An honest row
   * comes back byte-identical (an incremental run equals a full recomputation).
   */
  recomputeAll?: boolean;
}

/**
 * Per-symbol columns of every series, same order as `universe`: the calling thread and the idle
 * pool threads claim symbols a few at a time (claimSymbolColumns), so a slower thread takes fewer.
 * A fixed half each left this thread idle ~0.3 s of a ~1 s computation of the S&P 500 universe,
 * waiting for the pool thread's half. `meanwhile` runs here first, once the pool threads have
 * their tasks, so that work needing no per-symbol column overlaps theirs.
 */
async function symbolColumnsInThreads<T>(specs: SymbolFeatureSpec[], universe: readonly SymbolBars[], from: readonly number[], threads: number, meanwhile: () => T): Promise<{ columns: SymbolColumns[]; meanwhile: T }> {
  const helpers = idlePoolThreads(threads);
  const next = sharedInt32(1);
  const chunk = 4;
  // Dates stay here: per-symbol features read only prices and volumes, and cloning strings is slow.
  const bars = helpers ? universe.map((s) => ({ ...s, dates: [] })) : [];
  const blocks = columnBlocks(specs, universe, helpers ? sharedFloat64 : (n) => new Float64Array(n), from);
  const remote = helpers ? helpers.indices.map((i) => helpers.pool.run(i, 'symbolColumns', { specs, universe: bars, next, chunk, blocks })) : [];
  remote.forEach((r) => r.catch(() => undefined)); // awaited below
  let done: T;
  try {
    done = meanwhile();
  } catch (error) {
    Atomics.store(next, 0, universe.length); // the pool threads claim nothing more
    throw error;
  }
  claimSymbolColumns(specs, universe, next, chunk, blocks);
  await Promise.all(remote);
  return { columns: universe.map((_, k) => blockColumns(blocks, k)), meanwhile: done };
}

export interface MaterializeReport {
  version: string;
  columns: number;
  symbols: number;
  /** New rows (dates after each symbol's last stored one). */
  rowsWritten: number;
  /** Rows recomputed because bars under them were revised or back-filled (replacing the stored ones; a back-filled day's row is new). */
  rowsRecomputed: number;
  /** Earliest date recomputed (null when nothing was). */
  recomputedFrom: string | null;
  /**
   * With a key: stored rows no held key vouched for (edited in the database, unsigned, another key's),
   * recomputed from the verified bars and written again signed; absent when none. Counted apart from
   * rowsRecomputed. `repaired` names them per symbol and problem (at most 50 groups).
   */
  rowsRepaired?: number;
  repaired?: Array<{ symbol: string; problem: FeatureRowProblem; rows: number; from: string; to: string }>;
  /**
   * With a key: stored rows no held key vouched for that no computation from the verified bars
   * produces (dated where their symbol has no bar, a symbol without bars, a date in no row's reach):
   * no honest writer made them, so they were deleted, and are named here per symbol and problem
   * (at most 50 groups, 20 dates each; `rows` counts all). Absent when none.
   */
  rowsRemoved?: number;
  removed?: Array<{ symbol: string; problem: FeatureRowProblem; rows: number; dates: string[] }>;
  /** Refused rows neither written again nor deleted (checked again, signed meanwhile by another run's write): absent when none. */
  unrepaired?: Array<{ symbol: string; dates: string[] }>;
  onlineUpdated: number;
  /** Vectors not published because bars under them were marked changed while the run computed (absent when none). */
  onlineWithheld?: number;
  /**
   * Vectors not published because the online store's vector changed after the run's last check
   * (the live path wrote one from a newer or corrected bar): that one stays (absent when none).
   */
  onlineSuperseded?: number;
  /** The series so marked, from the date their bars changed (absent when no vector was withheld). */
  changedDuringRun?: Array<{ symbol: string; from: string }>;
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

/**
 * Loads the inputs of a feature set from the store: `symbols` (default every stored symbol) with
 * everything dated <= `to`. `signing`: the step's key; the bars read are checked with it, else with
 * the store handle's (barChecking), and a bar no held key vouches for is refused (UnverifiedBarsError).
 */
export async function loadFeatureInputs(store: Database, set: FeatureSet, options: { symbols?: readonly string[]; to?: string; signing?: RowSigning } = {}): Promise<FeatureInputs> {
  const vixSpec = volatilityIndexSpec(set);
  const vixCandidates = vixSpec ? volatilityIndexCandidates(vixSpec.symbol) : [];
  const symbols = options.symbols ? [...new Set([...options.symbols, ...vixCandidates])] : undefined;
  const series = await readBarSeries(store, { symbols, to: options.to }, { verify: barChecking(store, options.signing) });
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
  const compute: ComputeOptions = { volatilityIndex, fromDate, news, rowsFor };
  const member = universeMemberOf(set);
  const framed = universe.filter((s) => member(s.symbol) && (!rowsFor || rowsFor.has(s.symbol)));
  if ((options.threads ?? 1) <= 1 || framed.length <= 1) return computeFeatures(universe, set, compute);
  // The dates and market columns are worked out here while the pool threads start on the symbols.
  const { columns, meanwhile: plan } = await symbolColumnsInThreads(symbolFeatureSpecs(set), framed, framed.map((s) => firstKeptRow(set, s, fromDate)), options.threads as number, () => planFeatures(universe, set, compute));
  return frameFeatures(plan, set, { ...compute, symbolColumns: new Map(framed.map((s, i) => [s.symbol, columns[i]])) });
}

/**
 * Where a back-filled (or removed) bar sits: the first date on which the series and the stored rows
 * disagree within the rows' span, else (the change lies in the warm-up or before the first bar)
 * the series' first date, which recomputes all of it.
 */
function firstDisagreement(dates: readonly string[], rowDates: readonly string[], through: string): string {
  if (rowDates.length === 0) return dates[0];
  let i = 0;
  while (i < dates.length && dates[i] < rowDates[0]) i++;
  for (let j = 0; j < rowDates.length && rowDates[j] <= through; i++, j++) {
    if (i >= dates.length || dates[i] > through) return rowDates[j];
    if (dates[i] !== rowDates[j]) return dates[i] < rowDates[j] ? dates[i] : rowDates[j];
  }
  return dates[0];
}

/**
 * Keeping stored rows equal to a full recomputation when bars change under them:
 * - a publish that revises bars logs them in bar_revisions; each run first absorbs the revisions of
 *   snapshots this version has not seen (absorbBarRevisions: a stale mark per series, from its
 *   earliest revised date, and the snapshot marked once);
 * - a bar added inside a history (a back-fill) is logged nowhere, so feature_progress records per
 *   (version, series) how many bars the series had up to the date its rows reflect. Bars are only
 *   ever added or updated, so a back-fill raises that count: checking it costs one binary search
 *   over dates already loaded, and only a changed series reads its row dates to find where.
 * - when the set has market or cross-sectional columns, a bar added after the date a series was
 *   last counted through (its progress, else its last row; a series never counted: its first bar)
 *   still changes the cross-section of its date if some series already has stored rows dated on or
 *   after it: a late file of one symbol, the day of one symbol that comes after the others', a newly
 *   listed or back-filled symbol. The first such bar marks the series changed from its date. Bars
 *   appended after every stored row (the daily case) change nothing stored: one binary search per
 *   series, nothing proportional to the history.
 * Rows from such a date on are recomputed (EMA and Wilder smoothing carry a change to every later
 * date, so not just a look-back) and replace the stored ones. When the set has market or
 * cross-sectional columns, a series' change reaches every symbol's rows from that date on.
 */
interface Refresh {
  /** Per symbol with stored rows: recompute and replace its rows dated >= this. */
  from: Map<string, string>;
  /** Earliest such date (null when nothing is stale). */
  earliest: string | null;
}

/** `to`, or the newest date stored rows or counted bars reach when that is later (undefined: everything). */
function throughStoredRows(to: string | undefined, last: ReadonlyMap<string, string>, progress: ReadonlyMap<string, FeatureProgress>): string | undefined {
  if (to === undefined) return undefined;
  let through = to;
  for (const date of last.values()) if (date > through) through = date;
  for (const p of progress.values()) if (p.through !== null && p.through > through) through = p.through;
  return through;
}

/** Whether a series' change can reach other symbols' rows (market columns, ranks or z-scores). */
function crossesSymbols(set: FeatureSet): boolean {
  return set.features.some(isMarketFeature) || normalisesAcrossSymbols(set);
}

async function staleFrom(store: Database, set: FeatureSet, inputs: FeatureInputs, last: ReadonlyMap<string, string>, progress: ReadonlyMap<string, FeatureProgress>): Promise<Map<string, string>> {
  const member = universeMemberOf(set);
  const crosses = crossesSymbols(set);
  const changed = new Map<string, string>();
  // The newest stored row of any symbol: a new bar dated after it changes no stored row.
  let newestRow: string | undefined;
  if (crosses) for (const date of last.values()) if (newestRow === undefined || date > newestRow) newestRow = date;
  const series = [...inputs.universe, ...(inputs.volatilityIndex ? [inputs.volatilityIndex] : [])];
  for (const s of series) {
    // Other series (indices the set does not count) feed no row.
    if (s !== inputs.volatilityIndex && !member(s.symbol)) continue;
    if (s.dates.length === 0) continue;
    const end = s.dates[s.dates.length - 1];
    const p = progress.get(s.symbol);
    let from: string | undefined = p?.staleFrom ?? undefined;
    if (p && p.through !== null && p.bars !== null && p.through <= end && upperBound(s.dates, p.through) !== p.bars) {
      const at = firstDisagreement(s.dates, last.has(s.symbol) ? await featureRowDates(store, set.version, s.symbol) : [], p.through);
      if (from === undefined || at < from) from = at;
    }
    if (newestRow !== undefined) {
      // Bars after the date this series was counted through, the first of them dated on or before a
      // stored row: the cross-section of its date (and every later one) changed under stored rows.
      // A series new to the version (no progress, no rows) was counted through nothing.
      const counted = p?.through ?? last.get(s.symbol);
      const k = counted === undefined ? 0 : upperBound(s.dates, counted);
      if (k < s.dates.length && s.dates[k] <= newestRow && (from === undefined || s.dates[k] < from)) from = s.dates[k];
    }
    if (from !== undefined && from <= end) changed.set(s.symbol, from);
  }
  return changed;
}

function refreshOf(set: FeatureSet, changed: ReadonlyMap<string, string>, last: ReadonlyMap<string, string>): Refresh {
  const from = new Map<string, string>();
  if (crossesSymbols(set)) {
    const earliest = [...changed.values()].sort()[0];
    if (earliest !== undefined) for (const [symbol, after] of last) if (earliest <= after) from.set(symbol, earliest);
  } else {
    for (const [symbol, date] of changed) if (last.has(symbol) && date <= (last.get(symbol) as string)) from.set(symbol, date);
  }
  return { from, earliest: [...from.values()].sort()[0] ?? null };
}

export async function materializeFeatures(store: Database, set: FeatureSet, options: MaterializeOptions = {}): Promise<MaterializeReport> {
  const started = Date.now();
  // Before the bars are read: a publish after this is absorbed by the next run.
  await absorbBarRevisions(store, set.version);
  const progress = await readFeatureProgress(store, set.version);
  let last = await lastFeatureDates(store, set.version);
  // With the key, the stored rows of the symbols this run covers whose signature fails: written again
  // below from the verified bars, signed (an incremental run equals a full recomputation, so an
  // honest row comes back byte-identical), recomputeAll included; left alone they were refused by
  // every read for good. Those dated where their symbol has no bar can come from no computation
  // (rows are per bar): forged, they are deleted first, as a forged row dated after the last bar
  // made the symbol's last stored date later than its real rows, which were then never written.
  const checked = [...last.keys()].filter((s) => !options.symbols || options.symbols.includes(s));
  let bad = (await unverifiedFeatureRows(store, set.version, checked, options.signing)).refused;
  const removed: RefusedFeatureRows[] = [];
  if (bad.length > 0 && options.signing) {
    const barless = await barlessRows(store, bad);
    if (barless.length > 0) {
      removed.push(...(await removeUnverifiedFeatureRows(store, set.version, barless, options.signing)));
      bad = withoutRows(bad, removed);
      last = await lastFeatureDates(store, set.version);
    }
  }
  // A run up to an earlier date than rows already stored (the features step runs up to the
  // import's last date, and a late or back-filled day is older than the others' newest rows) still
  // reads the bars under every stored row: a change it finds reaches those later rows too (EMA and
  // market columns carry it), and rows left stale would feed a dataset with nothing marking them.
  const to = throughStoredRows(options.to, last, progress);
  // Checked with the key the rows are signed with: nothing is signed from bars it does not vouch for.
  let inputs = await loadFeatureInputs(store, set, { symbols: options.symbols, to, signing: options.signing });
  let changed = await staleFrom(store, set, inputs, last, progress);
  if (changed.size > 0 && options.symbols && crossesSymbols(set)) {
    // Every symbol with rows gets its rows recomputed, so the market they are computed over is all of them.
    const symbols = [...new Set([...options.symbols, ...last.keys(), ...progress.keys()])];
    if (symbols.length > options.symbols.length) {
      inputs = await loadFeatureInputs(store, set, { symbols, to, signing: options.signing });
      changed = await staleFrom(store, set, inputs, last, progress);
    }
  }
  if (options.recomputeAll) {
    // Every series with stored rows, from its first bar: each of its rows is recomputed and replaced.
    for (const s of inputs.universe) if (s.dates.length > 0 && last.has(s.symbol)) changed.set(s.symbol, s.dates[0]);
  }
  const refresh = refreshOf(set, changed, last);
  const repair = new Map<string, Set<string>>();
  for (const g of bad) {
    const dates = repair.get(g.symbol) ?? new Set<string>();
    g.dates.forEach((d) => dates.add(d));
    repair.set(g.symbol, dates);
  }
  const repairFrom = bad.reduce<string | undefined>((m, g) => (m === undefined || g.dates[0] < m ? g.dates[0] : m), undefined);
  // Rows from the earliest date any symbol still lacks; older rows are computed but not copied.
  let fromDate = inputs.universe.every((s) => last.has(s.symbol)) ? inputs.universe.map((s) => last.get(s.symbol) as string).sort()[0] : undefined;
  if (fromDate !== undefined && refresh.earliest !== null && refresh.earliest < fromDate) fromDate = refresh.earliest;
  if (fromDate !== undefined && repairFrom !== undefined && repairFrom < fromDate) fromDate = repairFrom;
  const computed = await computeFromInputs(set, inputs, { fromDate, threads: options.threads });
  await saveFeatureSet(store, set, computed.columns);
  const width = computed.columns.length;
  let rowsWritten = 0;
  let rowsRecomputed = 0;
  let rowsRepaired = 0;
  const repairedDates = new Map<string, Set<string>>();
  const online: OnlineFeatureVector[] = [];
  const republish: OnlineFeatureVector[] = [];
  // A vector whose features read an unadjusted split is published withheld (the API answers why).
  const seriesOf = new Map(inputs.universe.map((s) => [s.symbol, s]));
  const lookback = requiredBars(set);
  let added: FeatureRow[] = [];
  let replaced: FeatureRow[] = [];
  /** Rows whose stored signature failed, written again (counted in rowsRepaired, not rowsRecomputed). */
  let repairs: FeatureRow[] = [];
  let cleared: ClearedRange[] = [];
  for (const [i, frame] of computed.frames.entries()) {
    options.signal?.throwIfAborted();
    const after = last.get(frame.symbol) ?? '';
    const from = refresh.from.get(frame.symbol);
    const toRepair = repair.get(frame.symbol);
    const repaired = (date: string) => {
      if (!toRepair?.has(date)) return false;
      rowsRepaired++;
      const done = repairedDates.get(frame.symbol) ?? new Set<string>();
      repairedDates.set(frame.symbol, done.add(date));
      return true;
    };
    let r = 0;
    for (; r < frame.dates.length && frame.dates[r] <= after; r++) {
      if (from !== undefined && frame.dates[r] >= from) break;
      if (repaired(frame.dates[r])) repairs.push({ symbol: frame.symbol, date: frame.dates[r], values: frameRow(frame, r) });
    }
    // Stored rows the recomputation no longer has (its first row moved later) go.
    if (from !== undefined && r < frame.dates.length && frame.dates[r] > from) cleared.push({ symbol: frame.symbol, from, to: frame.dates[r] });
    for (; r < frame.dates.length; r++) {
      const row = { symbol: frame.symbol, date: frame.dates[r], values: frameRow(frame, r) };
      if (frame.dates[r] > after) added.push(row);
      else if (repaired(frame.dates[r])) repairs.push(row);
      else replaced.push(row);
    }
    const lastRow = frame.dates.length - 1;
    if (lastRow >= 0) {
      const vector: OnlineFeatureVector = { version: set.version, symbol: frame.symbol, asOf: frame.dates[lastRow], columns: computed.columns, values: Array.from(frameRow(frame, lastRow)) };
      const series = seriesOf.get(frame.symbol);
      const known = series && barsUpTo(series, vector.asOf);
      const withheld = known && splitWithholding(seriesSplits(known), known.dates.length - 1, lookback);
      if (withheld !== undefined) vector.withheld = withheld;
      // A recomputed newest row replaces the vector of the same date; otherwise only newer vectors go out.
      if (from !== undefined && frame.dates[lastRow] <= after) republish.push(vector);
      else online.push(vector);
    }
    if (added.length + replaced.length + repairs.length >= 20_000 || i === computed.frames.length - 1) {
      await writeFeatureBatch(store, set.version, { added, replaced: [...replaced, ...repairs], cleared }, options.signing);
      rowsWritten += added.length;
      rowsRecomputed += replaced.length;
      added = [];
      replaced = [];
      repairs = [];
      cleared = [];
    }
    options.onProgress?.({ symbolsDone: i + 1, symbolsTotal: computed.frames.length, rowsWritten });
  }
  const saved = await recordProgress(store, set, inputs, last, progress, changed);
  // Bars marked changed while this run computed (a live correction, a publish another run absorbed)
  // make its vectors from that date on stale: they are withheld, leaving the online store's vector
  // (the live path's, or the one before) in place; the mark stays, so the next run recomputes them.
  // Checked again just before publishing, for a mark set after the progress write.
  const touched = saved.touched;
  const touch = (symbol: string, from: string) => {
    if (!touched.has(symbol) || from < (touched.get(symbol) as string)) touched.set(symbol, from);
  };
  // What the online store holds, read before the last check: a vector is written only where that is
  // still there, so one the live path writes after the check (its mark then too late to see) stays.
  const seen = options.cache ? await readStoredVectorTexts(options.cache, [...online, ...republish]) : [];
  if (options.cache) {
    // A bar added inside a history (a live back-fill) sets no mark: count the bars under each vector date.
    for (const [symbol, from] of await barsAddedSince(store, inputs, [...online, ...republish], options.symbols !== undefined)) touch(symbol, from);
    for (const [symbol, from] of await marksSince(store.db, set.version, progress, saved.own)) touch(symbol, from);
  }
  const crosses = crossesSymbols(set);
  const earliestTouch = [...touched.values()].sort()[0];
  const withheld = (v: OnlineFeatureVector) => (crosses ? earliestTouch !== undefined && earliestTouch <= v.asOf : (touched.get(v.symbol) ?? '9999') <= v.asOf);
  const onlineWithheld = [...online, ...republish].filter(withheld).length;
  let onlineUpdated = 0;
  let onlineSuperseded = 0;
  if (options.cache) {
    // A live vector of the same date is replaced too: the step's is the offline row models are judged
    // on, and the live path can miss inputs the step reads (headlines imported after the bar, a
    // correction of the VIX by import, a lagging symbol's bar in the market columns); kept, such a
    // vector was served until the next session. A live write after the step's checks stays (`seen`).
    for (const [vectors, sameDate, offset] of [[online, 'replaces', 0], [republish, 'replaces', online.length]] as const) {
      const go = vectors.flatMap((v, i) => (withheld(v) ? [] : [i]));
      if (go.length === 0) continue;
      const out = await writeOnlineVectors(options.cache, go.map((i) => vectors[i]), { sameDate, seen: go.map((i) => seen[offset + i]), signing: options.signing });
      onlineUpdated += out.written;
      onlineSuperseded += out.superseded;
    }
  }
  const lastDate = [...online, ...republish].reduce<string | null>((m, v) => (m === null || v.asOf > m ? v.asOf : m), null);
  // Refused rows the computation did not produce (before a symbol's first row, a series with no rows
  // in this set): no honest writer made them either.
  const notProduced = withoutRows(bad, [...repairedDates].map(([symbol, dates]) => ({ symbol, dates: [...dates] })));
  if (notProduced.length > 0 && options.signing) removed.push(...(await removeUnverifiedFeatureRows(store, set.version, notProduced, options.signing)));
  const repairReport = repairReportOf(withoutRows(bad, removed), repairedDates, rowsRepaired, removed);
  return {
    version: set.version,
    columns: width,
    symbols: computed.frames.length,
    rowsWritten,
    rowsRecomputed,
    recomputedFrom: refresh.earliest,
    ...repairReport,
    onlineUpdated,
    ...(onlineSuperseded > 0 ? { onlineSuperseded } : {}),
    ...(options.cache && onlineWithheld > 0 ? { onlineWithheld, changedDuringRun: [...touched].map(([symbol, from]) => ({ symbol, from })).sort((a, b) => (a.symbol < b.symbol ? -1 : 1)) } : {}),
    lastDate,
    skipped: computed.skipped,
    durationMs: Date.now() - started,
  };
}

/**
 * Series with bars stored, dated on or before some vector's date, that the run did not load (added
 * while it computed), each from the first such date: one count per distinct vector date (usually
 * one), and a read of the dates only of a series whose count moved.
 */
async function barsAddedSince(store: Database, inputs: FeatureInputs, vectors: readonly OnlineFeatureVector[], onlyLoaded: boolean): Promise<Map<string, string>> {
  const added = new Map<string, string>();
  const loaded = new Map([...inputs.universe, ...(inputs.volatilityIndex ? [inputs.volatilityIndex] : [])].map((s) => [s.symbol, s.dates]));
  for (const asOf of new Set(vectors.map((v) => v.asOf))) {
    for (const [symbol, n] of await barCountsThrough(store, asOf)) {
      const dates = loaded.get(symbol);
      // A run over some symbols left the others out on purpose; over all, a new one counts too.
      if ((dates === undefined && onlyLoaded) || n === upperBound(dates ?? [], asOf) || added.has(symbol)) continue;
      const known = new Set(dates ?? []);
      const first = (await readBars(store, { symbols: [symbol], to: asOf })).find((b) => !known.has(b.date));
      if (first) added.set(symbol, first.date);
    }
  }
  return added;
}

/**
 * After the rows are written: each loaded series' bar count up to its last date, and its stale
 * mark cleared, where the run covered all of that series' stored rows. A run up to an earlier date
 * (`to`) leaves both as they were, so rows after it are checked and recomputed by a later run; with
 * market or cross-sectional columns that holds unless every series was covered.
 */
async function recordProgress(store: Database, set: FeatureSet, inputs: FeatureInputs, last: ReadonlyMap<string, string>, progress: ReadonlyMap<string, FeatureProgress>, changed: ReadonlyMap<string, string>): Promise<{ touched: Map<string, string>; own: { at: string; symbols: Set<string> } }> {
  const series = [...inputs.universe, ...(inputs.volatilityIndex ? [inputs.volatilityIndex] : [])].filter((s) => s.dates.length > 0);
  const covers = (s: SymbolBars) => {
    const end = s.dates[s.dates.length - 1];
    return end >= (last.get(s.symbol) ?? '') && end >= (progress.get(s.symbol)?.through ?? '');
  };
  const covered = crossesSymbols(set) ? (series.every(covers) ? series : []) : series.filter(covers);
  const consumed = covered.flatMap((s) => {
    const p = progress.get(s.symbol);
    return p?.staleFrom ? [{ symbol: s.symbol, staleFrom: p.staleFrom, updatedAt: p.updatedAt }] : [];
  });
  // Progress rows are written for every covered series that changed or whose count moved on.
  const entries = covered
    .filter((s) => {
      const p = progress.get(s.symbol);
      return !p || changed.has(s.symbol) || p.through !== s.dates[s.dates.length - 1] || p.bars !== s.dates.length;
    })
    .map((s) => ({ symbol: s.symbol, through: s.dates[s.dates.length - 1], bars: s.dates.length }));
  const { touched, at } = await saveFeatureProgress(store, set.version, entries, consumed, progress);
  return { touched, own: { at, symbols: new Set(entries.map((e) => e.symbol)) } };
}

/** Refused groups a report names: enough to find them, bounded for a workflow's history. */
const REPAIRED_GROUPS_NAMED = 50;

/**
 * The refused rows of `bad` dated where their symbol has no stored bar (a symbol without bars: all
 * of its rows), per symbol.
 */
async function barlessRows(store: Database, bad: readonly RefusedFeatureRows[]): Promise<Array<{ symbol: string; dates: string[] }>> {
  const out: Array<{ symbol: string; dates: string[] }> = [];
  for (const symbol of new Set(bad.map((g) => g.symbol))) {
    const dates = bad.filter((g) => g.symbol === symbol).flatMap((g) => g.dates);
    const withBar = await barDatesAmong(store, symbol, dates);
    const none = dates.filter((d) => !withBar.has(d));
    if (none.length > 0) out.push({ symbol, dates: none.sort() });
  }
  return out;
}

/** `groups` without the dates of `rows` (per symbol); emptied groups go. */
function withoutRows(groups: readonly RefusedFeatureRows[], rows: ReadonlyArray<{ symbol: string; dates: readonly string[] }>): RefusedFeatureRows[] {
  const gone = new Map<string, Set<string>>();
  for (const r of rows) gone.set(r.symbol, new Set([...(gone.get(r.symbol) ?? []), ...r.dates]));
  return groups.map((g) => ({ ...g, dates: g.dates.filter((d) => !gone.get(g.symbol)?.has(d)) })).filter((g) => g.dates.length > 0);
}

/** Dates a report names per removed group. */
const REMOVED_DATES_NAMED = 20;

/**
 * The report's rowsRepaired, repaired, rowsRemoved, removed and unrepaired: refused rows the run wrote
 * again, per symbol and problem, those it deleted, and those it did neither to (nothing when none).
 */
function repairReportOf(bad: ReadonlyArray<{ symbol: string; problem: FeatureRowProblem; dates: string[] }>, written: ReadonlyMap<string, ReadonlySet<string>>, rowsRepaired: number, removed: readonly RefusedFeatureRows[]): Pick<MaterializeReport, 'rowsRepaired' | 'repaired' | 'rowsRemoved' | 'removed' | 'unrepaired'> {
  // Deleted before and after the computation: one group per symbol and problem.
  const merged = new Map<string, { symbol: string; problem: FeatureRowProblem; dates: string[] }>();
  for (const g of removed) {
    const k = `${g.symbol}\u0000${g.problem}`;
    merged.set(k, { symbol: g.symbol, problem: g.problem, dates: [...(merged.get(k)?.dates ?? []), ...g.dates].sort() });
  }
  const rowsRemoved = removed.reduce((n, g) => n + g.dates.length, 0);
  const removedReport: Pick<MaterializeReport, 'rowsRemoved' | 'removed'> =
    rowsRemoved > 0 ? { rowsRemoved, removed: [...merged.values()].sort((x, y) => (x.symbol < y.symbol ? -1 : x.symbol > y.symbol ? 1 : x.problem < y.problem ? -1 : 1)).slice(0, REPAIRED_GROUPS_NAMED).map((g) => ({ symbol: g.symbol, problem: g.problem, rows: g.dates.length, dates: g.dates.slice(0, REMOVED_DATES_NAMED) })) } : {};
  if (bad.length === 0) return removedReport;
  const repaired: NonNullable<MaterializeReport['repaired']> = [];
  const unrepaired = new Map<string, string[]>();
  for (const g of bad) {
    const done = g.dates.filter((d) => written.get(g.symbol)?.has(d));
    if (done.length > 0) repaired.push({ symbol: g.symbol, problem: g.problem, rows: done.length, from: done[0], to: done[done.length - 1] });
    const left = g.dates.filter((d) => !written.get(g.symbol)?.has(d));
    if (left.length > 0) unrepaired.set(g.symbol, [...(unrepaired.get(g.symbol) ?? []), ...left].sort());
  }
  return {
    ...(rowsRepaired > 0 ? { rowsRepaired, repaired: repaired.slice(0, REPAIRED_GROUPS_NAMED) } : {}),
    ...removedReport,
    ...(unrepaired.size > 0 ? { unrepaired: [...unrepaired].slice(0, REPAIRED_GROUPS_NAMED).map(([symbol, dates]) => ({ symbol, dates: dates.slice(0, 20) })) } : {}),
  };
}
