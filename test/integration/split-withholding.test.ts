/**
 * Online features that read an unadjusted split are published withheld, with the reason, by the
 * offline features step and by the live updater alike: a model served from them would read the
 * split's move as a crash (the API answers 409 with the reason: prediction-api.test.ts).
 */
import path from 'node:path';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { requiredBars } from '../../lib/features/compute-features';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { OnlineFeatureStore, readOnlineFeatures } from '../../lib/features/online-features';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import type { Bar } from '../../lib/market-data/bar';
import { readBars } from '../../lib/store/bars';
import { BarWindows } from '../../lib/streaming/bar-windows';
import { OnlineFeatureUpdater } from '../../lib/streaming/online-updater';
import { plantSplit } from '../helpers/planted-split';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';

const SET = defineFeatureSet(DEFAULT_FEATURE_SET);
const SHORT = defineFeatureSet({ name: 'split-online-short', features: [{ kind: 'return', horizon: 1 }, { kind: 'sma_ratio', window: 10 }] });
const SYMBOL = 'SYN02';
const SPLIT_DATE = '2017-10-02';

describe('online features over an unadjusted split', () => {
  let t: TestDatabase;
  let bars: Bar[];
  const cache = new MemoryCache();
  beforeAll(async () => {
    const dir = tempDir('mlp-split-online-');
    await writeSyntheticMarket(dir, { symbols: 4, from: '2016-01-04', to: '2017-12-29', plantErrors: false });
    plantSplit(path.join(dir, `${SYMBOL}.csv`), SPLIT_DATE, { steadyVolume: true });
    t = await createSqliteTestDatabase();
    await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir } }));
    await materializeFeatures(t.store, SET, { cache });
    await materializeFeatures(t.store, SHORT, { cache });
    bars = await readBars(t.store);
  }, 120_000);
  afterAll(async () => {
    await t?.drop();
  });

  it('withholds the vector of the symbol whose look-back holds the split, saying why, and no other', async () => {
    const vector = await readOnlineFeatures(cache, SET.version, SYMBOL);
    expect(vector?.asOf).toBe('2017-12-29');
    expect(vector?.withheld).toBe(
      `its features read an unadjusted 2:1 split on ${SPLIT_DATE} (prices ×0.500, volume ×2.000) among the ${requiredBars(SET)} bars they look back, so they read its move as a return no holder had; withheld until the split is ${requiredBars(SET)} bars old, or import split-adjusted prices (Adj Close with adjust)`,
    );
    for (const other of ['SYN01', 'SYN03', 'SYN04']) expect((await readOnlineFeatures(cache, SET.version, other))?.withheld).toBeUndefined();
    // A feature set that looks back 12 bars no longer reads a split 62 sessions old.
    expect((await readOnlineFeatures(cache, SHORT.version, SYMBOL))?.withheld).toBeUndefined();
  });

  it('is withheld the same way when the offline store answers (the cache down or emptied) and when it re-warms the cache', async () => {
    const published = (await readOnlineFeatures(cache, SET.version, SYMBOL))?.withheld;
    expect(published).toContain(`unadjusted 2:1 split on ${SPLIT_DATE}`);
    const emptied = new MemoryCache();
    const features = new OnlineFeatureStore({ cache: emptied, store: t.store, rewarmVersions: () => [SET.version] });
    try {
      expect((await features.read(SET.version, SYMBOL))?.withheld).toBe(published);
      expect((await features.read(SET.version, 'SYN01'))?.withheld).toBeUndefined();
      expect(features.stats().offlineReads).toBe(2);
      expect(await features.rewarm()).toBe(4);
      expect((await readOnlineFeatures(emptied, SET.version, SYMBOL))?.withheld).toBe(published);
      expect((await readOnlineFeatures(emptied, SET.version, 'SYN03'))?.withheld).toBeUndefined();
    } finally {
      features.close();
    }
  });

  it('is withheld the same way by the live updater, bar by bar, from the split day on', async () => {
    const windows = new BarWindows(750);
    const dates = [...new Set(bars.map((b) => b.date))].sort();
    const start = dates.indexOf(SPLIT_DATE) - 3;
    windows.commit(bars.filter((b) => b.date < dates[start]));
    const updater = new OnlineFeatureUpdater(SET, windows, 60_000);
    updater.refreshCrossSection(updater.datesLackingCrossSection(), 0);
    const seen: Array<[string, boolean]> = [];
    for (const date of dates.slice(start, start + 6)) {
      const day = bars.filter((b) => b.date === date);
      windows.commit(day);
      updater.updateSymbols(day.map((b) => b.symbol), 0);
      updater.refreshCrossSection([date], 0);
      seen.push([date, updater.vector(SYMBOL)?.withheld !== undefined]);
      expect(updater.vector('SYN01')?.withheld).toBeUndefined();
    }
    expect(seen).toEqual(dates.slice(start, start + 6).map((d) => [d, d >= SPLIT_DATE]));
    // At the end of the data the live vector says what the offline one says.
    windows.commit(bars.filter((b) => b.date >= dates[start + 6]));
    updater.updateSymbols(['SYN01', 'SYN02', 'SYN03', 'SYN04'], 0);
    updater.refreshCrossSection([dates[dates.length - 1]], 0);
    expect(updater.vector(SYMBOL)?.withheld).toBe((await readOnlineFeatures(cache, SET.version, SYMBOL))?.withheld);
  });
});
