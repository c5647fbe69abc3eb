import { computeFeatures, frameRow } from '../../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../../lib/features/feature-set';
import { toSymbolBars } from '../../../lib/features/materialize';
import type { Bar } from '../../../lib/market-data/bar';
import { readBarCsv } from '../../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../../lib/market-data/synthetic';
import { BarWindows } from '../../../lib/streaming/bar-windows';
import { OnlineFeatureUpdater } from '../../../lib/streaming/online-updater';

const files = generateSyntheticMarket({ symbols: 6, from: '2016-01-04', to: '2018-12-31', seed: 5, plantErrors: false }).files;
// The last two generated series play $SPX and $VIX (no volume), as an importer stores them.
const NAMES = files.map((f, i) => (i === 4 ? '$SPX' : i === 5 ? '$VIX' : f.symbol));
const ALL: Bar[] = files.flatMap((f, i) =>
  readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: NAMES[i], date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: NAMES[i] === '$VIX' ? 0 : b.volume })),
);
const EQUITIES = NAMES.slice(0, 4).sort();
const SET = defineFeatureSet({ ...DEFAULT_FEATURE_SET, name: 'online-vix', features: [...DEFAULT_FEATURE_SET.features, { kind: 'volatility_index' }] });

describe('online features with indices in the stream', () => {
  it('vectors for equities only, equal to the offline rows, with the default volatility_index reading $VIX', () => {
    const windows = new BarWindows(800);
    windows.commit(ALL);
    const updater = new OnlineFeatureUpdater(SET, windows, 60_000);
    updater.updateSymbols(NAMES, 0);
    updater.refreshCrossSection(updater.datesLackingCrossSection(), 0);
    expect(NAMES.filter((s) => updater.vector(s) !== undefined).sort()).toEqual(EQUITIES);

    const universe = NAMES.filter((s) => s !== '$VIX').sort().map((s) => toSymbolBars(s, ALL.filter((b) => b.symbol === s)));
    const vix = toSymbolBars('$VIX', ALL.filter((b) => b.symbol === '$VIX'));
    const offline = computeFeatures(universe, SET, { volatilityIndex: vix });
    expect(offline.frames.map((f) => f.symbol)).toEqual(EQUITIES);
    for (const f of offline.frames) {
      const expected = frameRow(f, f.dates.length - 1);
      const actual = updater.vector(f.symbol)?.values ?? [];
      expected.forEach((e, c) => expect(Math.abs(actual[c] - e)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(e))));
    }
  });
});
