import { computeFeatures, featureColumns, frameRow, type SymbolBars } from '../../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet, isMarketFeature, type FeatureSet } from '../../../lib/features/feature-set';
import { toSymbolBars } from '../../../lib/features/materialize';
import { MemoryCache } from '../../../lib/cache/memory-cache';
import { readOnlineFeatures } from '../../../lib/features/online-features';
import type { Bar } from '../../../lib/market-data/bar';
import { readBarCsv } from '../../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../../lib/market-data/synthetic';
import { BarWindows } from '../../../lib/streaming/bar-windows';
import { CrossSectionThread } from '../../../lib/streaming/cross-section-worker';
import { computeCrossSection, OnlineFeatureUpdater } from '../../../lib/streaming/online-updater';
import { syntheticUniverse } from '../../helpers/universe';

const SET = defineFeatureSet(DEFAULT_FEATURE_SET);
const COLUMNS = featureColumns(SET);
const ALL: Bar[] = generateSyntheticMarket({ symbols: 6, from: '2016-01-04', to: '2018-12-31', seed: 3, plantErrors: false }).files.flatMap((f) =>
  readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })),
);
const SYMBOLS = [...new Set(ALL.map((b) => b.symbol))].sort();
const DATES = [...new Set(ALL.map((b) => b.date))].sort();
const D = DATES[DATES.length - 1];
const BEFORE = DATES[DATES.length - 2];
/** Columns computed across symbols: market columns and the ranked 20-day return. */
const CROSS = new Set(SET.features.flatMap((f) => (isMarketFeature(f) || ('normalize' in f && f.normalize !== 'none') ? featureColumns({ ...SET, features: [f] }) : [])));

/** The offline computation over these bars: each symbol's last row. */
function offline(bars: readonly Bar[]): Map<string, number[]> {
  const universe = SYMBOLS.map((s) => toSymbolBars(s, bars.filter((b) => b.symbol === s)));
  return new Map(computeFeatures(universe, SET).frames.map((f) => [f.symbol, Array.from(frameRow(f, f.dates.length - 1))]));
}

function expectColumns(actual: readonly number[], expected: readonly number[], which: (c: string) => boolean): void {
  COLUMNS.forEach((c, i) => {
    if (!which(c)) return;
    if (Number.isNaN(expected[i])) expect(actual[i]).toBeNaN();
    else if (Math.abs(actual[i] - expected[i]) > 1e-9 * Math.max(1, Math.abs(expected[i]))) throw new Error(`${c}: ${actual[i]} != ${expected[i]}`);
  });
}

describe('online feature updater', () => {
  it('publishes a provisional vector at once and the complete one when the date is complete', async () => {
    const windows = new BarWindows(750);
    const history = ALL.filter((b) => b.date < D);
    windows.commit(history);
    const updater = new OnlineFeatureUpdater(SET, windows, 60_000);
    expect(updater.refreshCrossSection(updater.datesLackingCrossSection(), 0).sort()).toEqual(SYMBOLS);
    const before = offline(history);
    for (const s of SYMBOLS) expectColumns(updater.vector(s)?.values ?? [], before.get(s) ?? [], () => true);

    // Half the symbols report for D: their own columns are D's, their cross-sectional ones still the day before's.
    const first = ALL.filter((b) => b.date === D && SYMBOLS.slice(0, 3).includes(b.symbol));
    windows.commit(first);
    expect(updater.updateSymbols(first.map((b) => b.symbol), 1000)).toEqual({ ready: SYMBOLS.slice(0, 3), waiting: [] });
    const partial = offline([...history, ...first]);
    const v = updater.vector(SYMBOLS[0]);
    expect(v?.asOf).toBe(D);
    expectColumns(v?.values ?? [], partial.get(SYMBOLS[0]) ?? [], (c) => !CROSS.has(c));
    expectColumns(v?.values ?? [], before.get(SYMBOLS[0]) ?? [], (c) => CROSS.has(c));
    expect(updater.vector(SYMBOLS[5])?.asOf).toBe(BEFORE);
    expect(updater.dueDates(2000, false)).toEqual([]); // incomplete, and the interval has not passed
    expect(updater.dueDates(61_000, false)).toEqual([D]); // the interval has

    // The rest report: the date is complete, its cross-section is due at once and matches the offline one.
    const rest = ALL.filter((b) => b.date === D && !SYMBOLS.slice(0, 3).includes(b.symbol));
    windows.commit(rest);
    updater.updateSymbols(rest.map((b) => b.symbol), 3000);
    expect(updater.dueDates(3000, false)).toEqual([D]);
    expect(updater.refreshCrossSection([D], 3000).sort()).toEqual(SYMBOLS);
    expect(updater.hasDirtyDates()).toBe(false);
    const complete = offline(ALL);
    for (const s of SYMBOLS) expectColumns(updater.vector(s)?.values ?? [], complete.get(s) ?? [], () => true);

    const cache = new MemoryCache();
    expect(await updater.publish(cache, SYMBOLS)).toBe(SYMBOLS.length);
    expect((await readOnlineFeatures(cache, SET.version, SYMBOLS[2]))?.asOf).toBe(D);
    expect(updater.msUntilDue(0)).toBeUndefined();
  });

  it('recomputes what a late correction changes: its symbol now, every cross-section it reaches when due', () => {
    const windows = new BarWindows(750);
    windows.commit(ALL);
    const updater = new OnlineFeatureUpdater(SET, windows, 60_000);
    updater.refreshCrossSection(updater.datesLackingCrossSection(), 0);
    const old = ALL.find((b) => b.symbol === SYMBOLS[1] && b.date === DATES[DATES.length - 10]) as Bar;
    const corrected = { ...old, close: old.close * 1.05, high: Math.max(old.high, old.close * 1.05) };
    windows.commit([corrected]);
    updater.updateSymbols([SYMBOLS[1]], 10);
    updater.markLate(SYMBOLS[1], corrected.date, 10);
    expect(updater.dueDates(20, true)).toEqual([D]);
    updater.refreshCrossSection([D], 20);
    const expected = offline(ALL.map((b) => (b === old ? corrected : b)));
    for (const s of SYMBOLS) expectColumns(updater.vector(s)?.values ?? [], expected.get(s) ?? [], () => true);

    // A correction older than every cross-section's look-back changes no market column: nothing is due.
    updater.markLate(SYMBOLS[1], DATES[DATES.length - 400], 30);
    expect(updater.hasDirtyDates()).toBe(false);
  });

  it('computes a cross-section on its thread exactly as on the loop', async () => {
    const windows = new BarWindows(750);
    windows.commit(ALL);
    const updater = new OnlineFeatureUpdater(SET, windows, 0);
    const job = updater.prepareCrossSection([D], 0);
    if (!job) throw new Error('no job');
    const here = computeCrossSection(job);
    const thread = new CrossSectionThread();
    try {
      const there = await thread.compute(job);
      // (Arrays from the thread belong to another realm than jest's: compare their values.)
      const plain = (rows: typeof here) => rows.map((r) => ({ ...r, values: Array.from(r.values) }));
      expect(plain(there)).toEqual(plain(here));
      expect(there.map((r) => r.symbol).sort()).toEqual(SYMBOLS);
      // The job's arrays moved to the thread; the windows kept theirs.
      expect(job.universe[0].close.length).toBe(0);
      expect(windows.bars(SYMBOLS[0]).length).toBeGreaterThan(0);
      // prepare computed the per-symbol parts it lacked, so every vector changed.
      expect(updater.applyCrossSection(there).sort()).toEqual(SYMBOLS);
    } finally {
      await thread.close();
    }
  });

  it('refuses a window shorter than the feature set needs', () => {
    expect(() => new OnlineFeatureUpdater(SET, new BarWindows(100), 0)).toThrow(/needs 254 bars per symbol, but the stream keeps 100/);
  });
});

/** A symbol listed on `from` (its bars before are cut away), renamed. */
function listedOn(s: SymbolBars, from: string, symbol: string): SymbolBars {
  const i = s.dates.findIndex((d) => d >= from);
  return { symbol, dates: s.dates.slice(i), open: s.open.slice(i), high: s.high.slice(i), low: s.low.slice(i), close: s.close.slice(i), volume: s.volume.slice(i) };
}

function barsOf(s: SymbolBars): Bar[] {
  return s.dates.map((date, i) => ({ symbol: s.symbol, date, open: s.open[i], high: s.high[i], low: s.low[i], close: s.close[i], volume: s.volume[i] }));
}

/**
 * NaN equals NaN; otherwise exact, or (unless `exact`) within 1e-12 relative to max(1, |expected|):
 * look-back indicators computed on a window's tail round their running sums differently, and a
 * difference such as close/sma - 1 leaves that rounding (~1e-16) on values near zero (2e-16 vs 0).
 */
function sameValue(actual: number, expected: number, exact: boolean): boolean {
  if (Number.isNaN(expected) || Number.isNaN(actual)) return Number.isNaN(expected) && Number.isNaN(actual);
  return actual === expected || (!exact && Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)));
}

describe('online vectors with young listings, streamed day by day', () => {
  // Histories shorter than the 750-bar window, so recursive indicators start on the same bar online and offline.
  const base = syntheticUniverse(5, '2016-01-04', '2018-04-30', 11);
  const other = syntheticUniverse(2, '2016-01-04', '2018-04-30', 12);
  const days = base[0].dates;
  const streamFrom = days[days.length - 90];
  // YOUNG reaches its 254th bar half-way through the streamed days; RECENT never has 254 bars.
  const young = listedOn(other[0], days[days.length - 45 - 253], 'YOUNG');
  const recent = listedOn(other[1], days[days.length - 60], 'RECENT');
  // In the store's order (by symbol), as materializeFeatures reads it.
  const universe = [...base, young, recent].sort((a, b) => (a.symbol < b.symbol ? -1 : 1));

  /**
   * Streams the bars from `streamFrom` on one day at a time, RECENT's last (after the others' cross-
   * section), and compares every vector with the offline row of its date.
   */
  function streamAndCompare(set: FeatureSet): { compared: number; vectors: Map<string, Map<string, number[]>> } {
    const columns = featureColumns(set);
    // Market and cross-sectional columns are computed from the same bars in the same order as offline: bit for bit.
    const crossColumns = new Set(set.features.flatMap((f) => (isMarketFeature(f) || ('normalize' in f && f.normalize !== 'none') ? featureColumns({ ...set, features: [f] }) : [])));
    const offline = computeFeatures(universe, set);
    const rows = new Map<string, Map<string, Float64Array>>();
    for (const f of offline.frames) rows.set(f.symbol, new Map(f.dates.map((d, r) => [d, frameRow(f, r)] as const)));
    const all = universe.flatMap(barsOf);
    const windows = new BarWindows(750);
    windows.commit(all.filter((b) => b.date < streamFrom));
    const updater = new OnlineFeatureUpdater(set, windows, 60_000);
    updater.refreshCrossSection(updater.datesLackingCrossSection(), 0);
    const vectors = new Map<string, Map<string, number[]>>();
    let compared = 0;
    let now = 1000;
    for (const day of days.filter((d) => d >= streamFrom)) {
      const today = all.filter((b) => b.date === day);
      for (const part of [today.filter((b) => b.symbol !== 'RECENT'), today.filter((b) => b.symbol === 'RECENT')]) {
        windows.commit(part);
        updater.updateSymbols(part.map((b) => b.symbol), (now += 10));
        updater.refreshCrossSection(updater.dueDates((now += 10), true), now);
      }
      const expectedSymbols = universe.filter((s) => rows.get(s.symbol)?.has(day)).map((s) => s.symbol);
      const onlineSymbols = universe.filter((s) => updater.vector(s.symbol)?.asOf === day).map((s) => s.symbol);
      expect({ day, symbols: onlineSymbols }).toEqual({ day, symbols: expectedSymbols });
      for (const symbol of expectedSymbols) {
        const expected = rows.get(symbol)?.get(day) as Float64Array;
        const actual = updater.vector(symbol)?.values ?? [];
        expected.forEach((v, c) => {
          if (!sameValue(actual[c], v, crossColumns.has(columns[c]))) throw new Error(`${symbol} ${day} ${columns[c]}: ${actual[c]} online, ${v} offline`);
        });
        const bySymbol = vectors.get(symbol) ?? new Map<string, number[]>();
        bySymbol.set(day, [...actual]);
        vectors.set(symbol, bySymbol);
        compared++;
      }
    }
    return { compared, vectors };
  }

  it('gives every vector exactly the offline row, with the young symbols counted in the market columns', () => {
    const { compared, vectors } = streamAndCompare(SET);
    expect(compared).toBeGreaterThan(90 * 5);
    // YOUNG has vectors from its 254th bar on, like its offline rows.
    expect([...(vectors.get('YOUNG')?.keys() ?? [])][0]).toBe(young.dates[253]);
    expect(vectors.has('RECENT')).toBe(false);
    // RECENT, with fewer bars than the set needs, still moves the market columns on its dates.
    const without = computeFeatures([...base, young], SET);
    const frame = without.frames[0];
    const col = COLUMNS.indexOf('mkt_advance_decline');
    const traded = recent.dates.filter((d) => d >= streamFrom);
    const moved = traded.filter((d) => vectors.get(frame.symbol)?.get(d)?.[col] !== frame.columns[col][frame.dates.indexOf(d)]);
    expect(moved.length).toBeGreaterThan(traded.length / 2);
  });

  it('ranks among the symbols with a row on the date when the cross-sectional columns need fewer bars than the set, and computes recursive ranked indicators from the whole window', () => {
    const set = defineFeatureSet({ name: 'short-cross', features: [{ kind: 'sma_ratio', window: 200 }, { kind: 'rsi', window: 14, normalize: 'rank' }, { kind: 'return', horizon: 5, normalize: 'zscore' }, { kind: 'breadth', window: 20 }, { kind: 'advance_decline' }] });
    const { compared } = streamAndCompare(set);
    expect(compared).toBeGreaterThan(90 * 5);
  });
});

describe('online vectors of a symbol with an unadjusted split in its window', () => {
  // Histories shorter than the 750-bar window: recursive indicators start on the same bar online and offline.
  const [plainSeries, other] = syntheticUniverse(2, '2016-01-04', '2018-04-30', 21);
  const days = plainSeries.dates;
  const AT = 400;
  // Steady volumes, so the unadjusted_split rule finds the 2:1 split on its own day.
  const volume = Float64Array.from(plainSeries.volume, (_, k) => 1_000_000 + (k % 7) * 10_000);
  const plain: SymbolBars = { ...plainSeries, volume };
  const half = (x: Float64Array) => Float64Array.from(x, (v, k) => (k >= AT ? v / 2 : v));
  const split: SymbolBars = { ...plain, open: half(plain.open), high: half(plain.high), low: half(plain.low), close: half(plain.close), volume: Float64Array.from(volume, (v, k) => (k >= AT ? v * 2 : v)) };
  const set = defineFeatureSet({
    name: 'split-online',
    features: [{ kind: 'rsi', window: 14 }, { kind: 'ema_ratio', window: 50 }, { kind: 'adx', window: 14 }, { kind: 'macd' }, { kind: 'return', horizon: 5 }, { kind: 'sma_ratio', window: 20 }, { kind: 'obv_trend', window: 20 }],
  });

  it('read the split-adjusted bars, as the offline rows do, long after the split', () => {
    const universe = [split, other];
    const rowsOf = (u: SymbolBars[]) => {
      const frame = computeFeatures(u, set).frames[0];
      return new Map(frame.dates.map((d, r) => [d, frameRow(frame, r)] as const));
    };
    const offline = rowsOf(universe);
    const unsplit = rowsOf([plain, other]);
    const all = universe.flatMap(barsOf);
    const streamFrom = days[days.length - 90];
    const windows = new BarWindows(750);
    windows.commit(all.filter((b) => b.date < streamFrom));
    const updater = new OnlineFeatureUpdater(set, windows, 60_000);
    const columns = featureColumns(set);
    let compared = 0;
    for (const day of days.filter((d) => d >= streamFrom)) {
      const today = all.filter((b) => b.date === day);
      windows.commit(today);
      updater.updateSymbols(today.map((b) => b.symbol), 0);
      const actual = updater.vector(split.symbol)?.values ?? [];
      expect(updater.vector(split.symbol)?.asOf).toBe(day);
      (offline.get(day) as Float64Array).forEach((v, c) => {
        if (!sameValue(actual[c], v, false)) throw new Error(`${day} ${columns[c]}: ${actual[c]} online, ${v} offline`);
        const without = (unsplit.get(day) as Float64Array)[c];
        if (Math.abs(actual[c] - without) > 1e-9 * Math.max(1, Math.abs(without))) throw new Error(`${day} ${columns[c]}: ${actual[c]} online, ${without} without the split`);
      });
      compared++;
    }
    expect(compared).toBe(90);
  });
});
