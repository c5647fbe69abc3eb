/**
 * Indices are no stocks (issue 13, problems 4 and 5): $SPX and $VIX stay out of the training
 * universe and of the market and cross-sectional columns, and the default volatility_index finds $VIX.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { featureActivities, type ComputeFeaturesResult } from '../../activities/features';
import { resolveUniverse } from '../../activities/training';
import { computeFeatures, featureColumns, type SymbolBars } from '../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { computeFromInputs, loadFeatureInputs } from '../../lib/features/materialize';
import { describeInstrumentKinds, instrumentKind } from '../../lib/market-data/instruments';
import { upsertBars } from '../../lib/store/bars';
import { saveFeatureSet } from '../../lib/store/features';
import { saveSnapshot, setSnapshotStatus } from '../../lib/store/snapshots';
import type { QualityReport } from '../../lib/quality/report';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';
import { syntheticUniverse } from '../helpers/universe';

const equities = syntheticUniverse(4, '2016-01-04', '2017-12-29');
function renamed(s: SymbolBars, symbol: string, zeroVolume: boolean): SymbolBars {
  return { ...s, symbol, volume: zeroVolume ? new Float64Array(s.dates.length) : s.volume };
}
// An index and a volatility index with real-looking prices; $VIX trades no volume.
const spx = renamed(syntheticUniverse(6, '2016-01-04', '2017-12-29')[4], '$SPX', false);
const vix = renamed(syntheticUniverse(6, '2016-01-04', '2017-12-29')[5], '$VIX', true);
const mixed = [spx, vix, ...equities];
const withVix = defineFeatureSet({ ...DEFAULT_FEATURE_SET, name: 'default-vix', features: [...DEFAULT_FEATURE_SET.features, { kind: 'volatility_index' }] });

describe('instrument kinds', () => {
  it('follow the documented convention, explicit kinds first', () => {
    expect(['AAPL', 'BRK.B', 'BF-B', '$SPX', '^GSPC', '$DJI', '$VIX', '^VIX', 'VIX', 'ES=F'].map((s) => instrumentKind(s))).toEqual(['equity', 'equity', 'equity', 'index', 'index', 'index', 'volatility_index', 'volatility_index', 'volatility_index', 'future']);
    expect(instrumentKind('SPY', { SPY: 'etf' })).toBe('etf');
    // What `snapshots show` prints for a snapshot's series.
    expect(describeInstrumentKinds(['AAPL', '$VIX', '$SPX', 'SPY', '$DJI', 'BRK.B'], { SPY: 'etf' })).toBe('2 equity; 1 etf (SPY); 2 index ($DJI, $SPX); 1 volatility_index ($VIX)');
  });
});

describe('features over a universe holding $SPX, $VIX and equities', () => {
  it('rows, breadth, advance/decline, dispersion and the return rank come from the equities only', () => {
    const set = defineFeatureSet(DEFAULT_FEATURE_SET);
    const all = computeFeatures(mixed, set);
    const alone = computeFeatures(equities, set);
    expect(all.frames.map((f) => f.symbol)).toEqual(equities.map((s) => s.symbol));
    expect(all.skipped.map((s) => s.symbol).sort()).toEqual(['$SPX', '$VIX']);
    const columns = featureColumns(set);
    for (const name of ['mkt_breadth_50', 'mkt_advance_decline', 'mkt_dispersion', 'mkt_new_highs_lows_252', 'mkt_volatility_20', 'ret_20_rank', 'relative_volume_20', 'vwap_distance_20']) {
      const c = columns.indexOf(name);
      expect(c).toBeGreaterThanOrEqual(0);
      all.frames.forEach((f, k) => expect(Array.from(f.columns[c])).toEqual(Array.from(alone.frames[k].columns[c])));
    }
  });

  it('a feature set may train on indices too when it says so', () => {
    const set = defineFeatureSet({ ...DEFAULT_FEATURE_SET, name: 'with-indices', universe: ['equity', 'index'] });
    expect(computeFeatures(mixed, set).frames.map((f) => f.symbol)).toEqual(['$SPX', ...equities.map((s) => s.symbol)]);
  });
});

describe('with a store', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    const bars = mixed.flatMap((s) => s.dates.map((date, i) => ({ symbol: s.symbol, date, open: s.open[i], high: s.high[i], low: s.low[i], close: s.close[i], volume: s.volume[i] })));
    await upsertBars(t.store, bars);
    await saveSnapshot(t.store, {
      id: 'snap-mixed', contentHash: 'x', source: { kind: 'csv', path: 'x' }, symbols: mixed.map((s) => s.symbol).sort(), firstDate: '2016-01-04', lastDate: '2017-12-29',
      rowsRead: bars.length, rowCount: bars.length, rejectedCount: 0, flaggedCount: 0, qualityReport: {} as QualityReport,
    });
  });
  afterAll(async () => t?.drop());

  it('the training universe of a snapshot holds its equities only', async () => {
    const set = defineFeatureSet(DEFAULT_FEATURE_SET);
    await saveFeatureSet(t.store, set, featureColumns(set));
    const universe = await resolveUniverse(t.store, { featureSetVersion: set.version, label: { kind: 'direction', horizon: 5 }, snapshotId: 'snap-mixed' });
    expect(universe.requested).toEqual(equities.map((s) => s.symbol).sort());
    await expect(resolveUniverse(t.store, { featureSetVersion: set.version, label: { kind: 'direction', horizon: 5 }, symbols: ['$SPX', equities[0].symbol] })).rejects.toThrow(/\$SPX \(index\)/);
  });

  it('volatility_index with default settings finds $VIX, and the materialised rows are equities only', async () => {
    const inputs = await loadFeatureInputs(t.store, withVix, { symbols: equities.map((s) => s.symbol) });
    expect(inputs.volatilityIndex?.symbol).toBe('$VIX');
    const everything = await loadFeatureInputs(t.store, withVix);
    expect(everything.volatilityIndex?.symbol).toBe('$VIX');
    const computed = await computeFromInputs(withVix, everything);
    expect(computed.frames.map((f) => f.symbol)).toEqual(equities.map((s) => s.symbol));
    const level = computed.columns.indexOf('vix_level');
    const f = computed.frames[0];
    // The $VIX close of the trading day before (its own day's close is set at 16:15, after the decision).
    expect(f.columns[level][f.dates.length - 1]).toBe(vix.close[vix.dates.indexOf(f.dates[f.dates.length - 1]) - 1]);
  });

  it('kinds declared by an import request decide which series get feature rows and count in market columns', async () => {
    const etf = equities[3].symbol;
    const { computeFeatures: materialise } = featureActivities({ store: t.store, cache: new MemoryCache() });
    const env = new MockActivityEnvironment();
    const before: ComputeFeaturesResult = await env.run(materialise, { snapshotId: 'snap-mixed' });
    await saveSnapshot(t.store, {
      id: 'snap-declared', contentHash: 'y', source: { kind: 'csv', path: 'y', instruments: { [etf]: 'etf' } }, symbols: [etf], firstDate: '2016-01-04', lastDate: '2017-12-29',
      rowsRead: 0, rowCount: 0, rejectedCount: 0, flaggedCount: 0, qualityReport: {} as QualityReport,
    });
    // Only a published snapshot's declaration counts: a rejected import must change nothing.
    const unpublished: ComputeFeaturesResult = await env.run(materialise, { snapshotId: 'snap-declared' });
    expect(unpublished.version).toBe(before.version);
    await setSnapshotStatus(t.store, 'snap-declared', 'published', null);
    const after: ComputeFeaturesResult = await env.run(materialise, { snapshotId: 'snap-declared' });
    expect(after.version).not.toBe(before.version);
    const symbolsOf = async (version: string) => (await t.store.db.selectFrom('feature_rows').select('symbol').distinct().where('version', '=', version).execute()).map((r) => r.symbol).sort();
    expect(await symbolsOf(before.version)).toEqual(equities.map((s) => s.symbol).sort());
    expect(await symbolsOf(after.version)).toEqual(equities.slice(0, 3).map((s) => s.symbol).sort());
    const universe = await resolveUniverse(t.store, { featureSetVersion: after.version, label: { kind: 'direction', horizon: 5 }, snapshotId: 'snap-mixed' });
    expect(universe.requested).toEqual(equities.slice(0, 3).map((s) => s.symbol).sort());
  });

  it('a training universe never counts a series closing after the NYSE as a US kind, even when an old snapshot declared it so', async () => {
    const set = defineFeatureSet(DEFAULT_FEATURE_SET);
    await saveFeatureSet(t.store, set, featureColumns(set));
    const label = { kind: 'direction' as const, horizon: 5 };
    await expect(resolveUniverse(t.store, { featureSetVersion: set.version, label, symbols: ['$VIX', equities[0].symbol] })).rejects.toThrow(/\$VIX \(volatility_index\).*volatility_index series close after the NYSE's 16:00 \(the VIX at 16:15\)/);
    // Recorded before such declarations were refused (not published, so the feature steps above never read it).
    await saveSnapshot(t.store, {
      id: 'snap-legacy', contentHash: 'z', source: { kind: 'csv', path: 'z', instruments: { $VIX: 'equity' } }, symbols: mixed.map((s) => s.symbol).sort(), firstDate: '2016-01-04', lastDate: '2017-12-29',
      rowsRead: 0, rowCount: 0, rejectedCount: 0, flaggedCount: 0, qualityReport: {} as QualityReport,
    });
    await expect(resolveUniverse(t.store, { featureSetVersion: set.version, label, snapshotId: 'snap-legacy' })).rejects.toThrow(/snapshot snap-legacy's import request declared \$VIX as equity: \$VIX is by its name a volatility index \(volatility_index\), whose bar of a date closes at 16:15 New York/);
    // The feature set's own declaration wins over the snapshot's.
    const own = defineFeatureSet({ ...DEFAULT_FEATURE_SET, name: 'own-vix', instruments: { $VIX: 'volatility_index' } });
    await saveFeatureSet(t.store, own, featureColumns(own));
    expect((await resolveUniverse(t.store, { featureSetVersion: own.version, label, snapshotId: 'snap-legacy' })).requested).toEqual(equities.map((s) => s.symbol).sort());
  });

  it('names what it looked for when no volatility index is stored', async () => {
    const other = await createSqliteTestDatabase();
    try {
      const s = equities[0];
      await upsertBars(other.store, s.dates.map((date, i) => ({ symbol: s.symbol, date, open: s.open[i], high: s.high[i], low: s.low[i], close: s.close[i], volume: s.volume[i] })));
      await expect(loadFeatureInputs(other.store, withVix)).rejects.toThrow(/looked for any of VIX, \$VIX, \^VIX/);
    } finally {
      await other.drop();
    }
  });
});
