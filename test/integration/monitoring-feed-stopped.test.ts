/**
 * Freshness leaves out the symbols whose bars ended before the training period did (delisted then).
 * A feed that died a few sessions before a retrain's cut-off looks the same: its symbol was dropped,
 * and the report said fresh while the API answered that symbol from a week-old vector. A symbol the
 * model is still asked about is live for whoever asks, so it is judged.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import { computeModelReport } from '../../lib/monitoring/model-report';
import { evaluateModelReport, parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { saveReferenceProfile } from '../../lib/monitoring/profile-store';
import { buildReferenceProfile } from '../../lib/monitoring/reference-profile';
import { rng } from '../../lib/random';
import { readBarSeries } from '../../lib/store/bars';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { ORACLE_COLUMNS, registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';

describe('freshness of a symbol whose bars ended just before the training period did', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('is judged (stale) when the model was asked about it since, and left out as delisted when not', async () => {
    const market = await setUpOracleMarket(t.store, new MemoryCache(), 12);
    const version = await registerOracleModel(t.store, tempDir('mlp-feed-stopped-'), { name: 'fresh', seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    const dates = (await readBarSeries(t.store, { symbols: market.symbols }))[0].dates;
    // Training decision days end 5 sessions before the newest bar (5-day labels).
    const refDays = dates.slice(-80, -5);
    const next = rng(1);
    const n = refDays.length * market.symbols.length;
    const values = Float64Array.from({ length: n * 2 }, () => next() - 0.5);
    const day = Int32Array.from({ length: n }, (_, i) => Math.floor(i / market.symbols.length));
    await saveReferenceProfile(t.store, buildReferenceProfile({ model: 'fresh', version, featureSetVersion: market.featureSetVersion, features: { columns: ORACLE_COLUMNS, rows: n, values, day }, dayLabels: refDays, symbols: market.symbols }));
    // One symbol's feed stopped 3 sessions before the training period ended.
    const dead = market.symbols[0];
    const lastBar = refDays[refDays.length - 4];
    await t.store.db.deleteFrom('bars').where('symbol', '=', dead).where('date', '>', lastBar).execute();
    const rules = parseMonitoringRules({});
    const newest = dates[dates.length - 1];
    const now = new Date(`${newest}T23:30:00Z`); // the evening of the newest session: its bar is due
    const report = () => computeModelReport(t.store, { id: 'mr-feed', target: { model: 'fresh', version, variants: ['champion'], champion: true }, windowDays: 10, rules, now, verify: {} });

    // Nobody asked about it: a delisting and a dead feed look alike, and it is left out.
    const quiet = await report();
    expect([quiet.freshness.status, quiet.freshness.symbols]).toEqual(['fresh', market.symbols.length - 1]);

    // The API answered it yesterday (from its old vector): it is live, and stale.
    await t.store.db
      .insertInto('prediction_log')
      .values({ id: 'p1', request_id: 'r1', model: 'fresh', version, variant: 'champion', served: 1, symbol: dead, routing_key: dead, as_of: lastBar, probability: 0.6, predicted_class: 1, latency_us: 100, error: null, created_at: new Date(now.getTime() - 86_400_000).toISOString() })
      .execute();
    const asked = await report();
    expect([asked.freshness.status, asked.freshness.symbols, asked.freshness.staleSymbols]).toEqual(['stale', market.symbols.length, 1]);
    expect(asked.freshness.stalest[0]).toMatchObject({ symbol: dead, newest: lastBar });
    expect(evaluateModelReport(asked, rules).findings.map((f) => f.alert.rule)).toContain('data_stale');
  });
});
