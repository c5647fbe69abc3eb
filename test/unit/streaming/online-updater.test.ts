import { computeFeatures, featureColumns, frameRow } from '../../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet, isMarketFeature } from '../../../lib/features/feature-set';
import { toSymbolBars } from '../../../lib/features/materialize';
import { MemoryCache } from '../../../lib/cache/memory-cache';
import { readOnlineFeatures } from '../../../lib/features/online-features';
import type { Bar } from '../../../lib/market-data/bar';
import { readBarCsv } from '../../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../../lib/market-data/synthetic';
import { BarWindows } from '../../../lib/streaming/bar-windows';
import { CrossSectionThread } from '../../../lib/streaming/cross-section-worker';
import { computeCrossSection, OnlineFeatureUpdater } from '../../../lib/streaming/online-updater';

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
