/**
 * The features step's vector of a date replaces a live vector of the same date. The live path can
 * miss inputs the step reads (headlines imported after the day's bar, a VIX correction imported
 * later, a lagging symbol's bar in the market columns); its vector of the day was kept by the step,
 * which wrote only newer vectors, so the API served it until the next session.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { readOnlineFeatures, replaceOnlineFeatures, type OnlineFeatureVector } from '../../lib/features/online-features';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';

describe('the features step and a live vector of the same date', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('replaces a live vector of its newest date that differs from its own (the step is the offline row models are judged on)', async () => {
    const set = defineFeatureSet(DEFAULT_FEATURE_SET);
    const dir = tempDir('mlp-step-live-');
    await writeSyntheticMarket(dir, { symbols: 4, from: '2016-01-04', to: '2017-06-30', plantErrors: false });
    await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir } }));
    const cache = new MemoryCache();
    await materializeFeatures(t.store, set, { cache });
    const own = (await readOnlineFeatures(cache, set.version, 'SYN01')) as OnlineFeatureVector;
    // The live path's vector of that date, made without an input the step reads.
    const live: OnlineFeatureVector = { ...own, values: own.values.map((v, i) => (i === 0 ? v + 0.01 : v)) };
    await replaceOnlineFeatures(cache, [live]);
    expect((await readOnlineFeatures(cache, set.version, 'SYN01'))?.values).toEqual(live.values);

    const again = await materializeFeatures(t.store, set, { cache });
    expect(again.onlineWithheld).toBeUndefined();
    const served = await readOnlineFeatures(cache, set.version, 'SYN01');
    expect(served?.asOf).toBe(own.asOf);
    expect(served?.values).toEqual(own.values);
  });
});
