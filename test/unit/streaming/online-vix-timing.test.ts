/**
 * The VIX close dated t is set at 16:15, after the 16:00 equity close at which day t's decision is
 * taken: online as offline, a vector of day t reads the VIX close of the trading day before, whether
 * the VIX bar of t arrives after t's equity bars (as live) or the one of t-1 only after them (late).
 */
import { computeFeatures, featureColumns, frameRow } from '../../../lib/features/compute-features';
import { defineFeatureSet } from '../../../lib/features/feature-set';
import { toSymbolBars } from '../../../lib/features/materialize';
import type { Bar } from '../../../lib/market-data/bar';
import { readBarCsv } from '../../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../../lib/market-data/synthetic';
import { BarWindows } from '../../../lib/streaming/bar-windows';
import { OnlineFeatureUpdater } from '../../../lib/streaming/online-updater';

const files = generateSyntheticMarket({ symbols: 5, from: '2017-01-03', to: '2018-06-29', seed: 9, plantErrors: false }).files;
const NAMES = files.map((f, i) => (i === 4 ? '$VIX' : f.symbol));
const ALL: Bar[] = files.flatMap((f, i) => readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ ...b, symbol: NAMES[i], volume: NAMES[i] === '$VIX' ? 0 : b.volume })));
const EQUITIES = NAMES.filter((s) => s !== '$VIX').sort();
const SET = defineFeatureSet({ name: 'online-vix-timing', features: [{ kind: 'return', horizon: 1 }, { kind: 'breadth', window: 5 }, { kind: 'volatility_index', changeWindow: 2 }] });
const DATES = [...new Set(ALL.map((b) => b.date))].sort();
const VIX_CLOSE = new Map(ALL.filter((b) => b.symbol === '$VIX').map((b) => [b.date, b.close]));

/** The offline row of each equity on its newest date, from every bar given. */
function offlineNewest(bars: readonly Bar[]): Map<string, Float64Array> {
  const universe = EQUITIES.map((s) => toSymbolBars(s, bars.filter((b) => b.symbol === s)));
  const vix = toSymbolBars('$VIX', bars.filter((b) => b.symbol === '$VIX'));
  return new Map(computeFeatures(universe, SET, { volatilityIndex: vix }).frames.map((f) => [f.symbol, frameRow(f, f.dates.length - 1)]));
}

function expectOfflineValues(updater: OnlineFeatureUpdater, bars: readonly Bar[]): void {
  for (const [symbol, expected] of offlineNewest(bars)) {
    const actual = updater.vector(symbol)?.values ?? [];
    expected.forEach((e, c) => expect(Math.abs(actual[c] - e)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(e))));
  }
}

function refresh(updater: OnlineFeatureUpdater, now: number): void {
  updater.refreshCrossSection(updater.dueDates(now, true), now);
}

describe('online volatility_index timing', () => {
  const level = featureColumns(SET).indexOf('vix_level');
  const t = DATES.length - 1;
  const [day, before, twoBefore] = [DATES[t], DATES[t - 1], DATES[t - 2]];

  it('a vector of day t reads the VIX close of t-1, not the one dated t that arrives after it', () => {
    const windows = new BarWindows(400);
    const upTo = ALL.filter((b) => b.date < day);
    windows.commit(upTo);
    const updater = new OnlineFeatureUpdater(SET, windows, 60_000);
    updater.updateSymbols(NAMES, 0);
    refresh(updater, 0);

    const equities = ALL.filter((b) => b.date === day && b.symbol !== '$VIX');
    windows.commit(equities);
    updater.updateSymbols(EQUITIES, 1);
    refresh(updater, 1);
    expect(updater.vector(EQUITIES[0])?.values[level]).toBe(VIX_CLOSE.get(before));

    // 16:15: the VIX close of t changes nothing of day t.
    windows.commit(ALL.filter((b) => b.date === day && b.symbol === '$VIX'));
    updater.updateSymbols(['$VIX'], 2);
    expect(updater.hasDirtyDates()).toBe(false);
    expect(updater.vector(EQUITIES[0])?.values[level]).toBe(VIX_CLOSE.get(before));
    expectOfflineValues(updater, ALL);
  });

  it('a VIX close of t-1 that comes after the equity bars of t refreshes their vectors', () => {
    const windows = new BarWindows(400);
    const withoutLateVix = ALL.filter((b) => b.date <= day && !(b.symbol === '$VIX' && b.date >= before));
    windows.commit(withoutLateVix);
    const updater = new OnlineFeatureUpdater(SET, windows, 60_000);
    updater.updateSymbols(NAMES, 0);
    refresh(updater, 0);
    expect(updater.vector(EQUITIES[0])?.values[level]).toBe(VIX_CLOSE.get(twoBefore));

    windows.commit(ALL.filter((b) => b.symbol === '$VIX' && b.date === before));
    updater.updateSymbols(['$VIX'], 1);
    expect(updater.hasDirtyDates()).toBe(true);
    refresh(updater, 1);
    expect(updater.vector(EQUITIES[0])?.values[level]).toBe(VIX_CLOSE.get(before));
    expectOfflineValues(updater, ALL.filter((b) => b.date <= day && !(b.symbol === '$VIX' && b.date === day)));
  });
});
