/**
 * Monitoring's live performance leaves out predictions dated on or before the version's last
 * training day, as the canary analysis does: a vector of a day it trained on (a stopped feed's old
 * vector served, a replay) scores the model on a row it may have learnt. Counted in, 708 such
 * predictions lifted a failing model (30% hit rate against a promised 60%) to 75%, and the critical
 * alert and its retrain were gone.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import { computeModelReport } from '../../lib/monitoring/model-report';
import { evaluateModelReport, parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { readBarSeries } from '../../lib/store/bars';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';

describe('live performance and predictions of days the version trained on (SQLite)', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('judges only predictions dated after trainedThrough, and says how many it left out', async () => {
    const market = await setUpOracleMarket(t.store, new MemoryCache(), 12);
    const series = await readBarSeries(t.store, { symbols: market.symbols });
    const dates = series[0].dates;
    const trainedThrough = dates[dates.length - 41];
    const version = await registerOracleModel(t.store, tempDir('mlp-in-training-'), { name: 'mon', seed: 1, flip: false, featureSetVersion: market.featureSetVersion, lineage: { trainedThrough }, metrics: { outOfSample: { classification: { accuracy: 0.6, rocAuc: 0.62 } } } });
    const now = new Date(`${dates[dates.length - 1]}T23:30:00Z`);
    const label = (s: (typeof series)[number], d: string) => {
      const i = s.dates.indexOf(d);
      return s.close[i + 5] > s.open[i + 1] ? 1 : 0;
    };
    let n = 0;
    const log = async (rows: Array<{ symbol: string; asOf: string; p: number }>) => {
      const values = rows.map(({ symbol, asOf, p }) => {
        n++;
        return { id: `r${n}:champion`, request_id: `r${n}`, model: 'mon', version, variant: 'champion', served: 1, symbol, routing_key: symbol, as_of: asOf, probability: p, predicted_class: p >= 0.5 ? 1 : 0, latency_us: 100, error: null, created_at: new Date(now.getTime() - 86_400_000 * (1 + (n % 20))).toISOString() };
      });
      for (let i = 0; i < values.length; i += 200) await t.store.db.insertInto('prediction_log').values(values.slice(i, i + 200)).execute();
    };
    // After training: right 3 times in 10.
    let k = 0;
    await log(series.flatMap((s) => dates.slice(-40, -7).map((d) => ({ symbol: s.symbol, asOf: d, p: (k++ % 10 < 3) === (label(s, d) === 1) ? 0.55 : 0.45 }))));
    // Days it trained on: always right.
    await log(series.flatMap((s) => dates.slice(-100, -41).map((d) => ({ symbol: s.symbol, asOf: d, p: label(s, d) === 1 ? 0.6 : 0.4 }))));
    const rules = parseMonitoringRules({});
    const report = await computeModelReport(t.store, { id: 'mr-in-training', target: { model: 'mon', version, variants: ['champion'], champion: true }, windowDays: 10, rules, now, verify: {} });
    expect(report.performance.from! > trainedThrough).toBe(true);
    expect(report.performance.inTraining).toBe(12 * 59);
    expect(report.performance.status).toBe('degraded');
    expect(report.performance.hitRate).toBeLessThan(0.4);
    expect(report.performance.reasons.at(-1)).toMatch(new RegExp(`^708 predictions dated on or before ${trainedThrough}, the last day the version trained on, are left out`));
    expect(evaluateModelReport(report, rules).findings.map((f) => `${f.alert.rule}/${f.alert.severity}`)).toContain('performance_degraded/critical');
  });
});
