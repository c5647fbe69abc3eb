/**
 * Feature rows are materialised by the training pipeline, not by the live stream. Rows that stopped
 * while the bars went on had drift judged "stable" on a window ending weeks before the newest bar,
 * with nothing said: now drift is `stale` past features_stale.maxLagSessions, naming the lag, and a
 * features_stale warning says the feature set is not being materialised.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import { computeModelReport } from '../../lib/monitoring/model-report';
import { evaluateModelReport, featuresSubject, parseMonitoringRules, type MonitoringRulesInput } from '../../lib/monitoring/monitoring-rules';
import { saveReferenceProfile } from '../../lib/monitoring/profile-store';
import { buildReferenceProfile } from '../../lib/monitoring/reference-profile';
import { rng } from '../../lib/random';
import { readBarSeries } from '../../lib/store/bars';
import { writeFeatureRows } from '../../lib/store/features';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { ORACLE_COLUMNS, registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';

describe.each(DRIVERS)('drift on feature rows the bars left behind, on %s', (_driver, create) => {
  let t: TestDatabase;
  let market: Awaited<ReturnType<typeof setUpOracleMarket>>;
  let version: number;
  /** The bars' sessions (2017-01-03..2017-06-30); the training period is the first 80. */
  let dates: string[];
  let next: () => number;
  const rowsFor = (days: readonly string[], shift = 0) => days.flatMap((d) => market.symbols.map((symbol) => ({ symbol, date: d, values: Float64Array.from([next() - 0.5 + shift, next() - 0.5 + shift]) })));
  const report = (now: Date, rules: MonitoringRulesInput = {}) => {
    const parsed = parseMonitoringRules(rules);
    return computeModelReport(t.store, { id: `mr-${now.getTime()}`, target: { model: 'frozen', version, variants: ['champion'], champion: true }, windowDays: 10, rules: parsed, now, verify: {} }).then((r) => ({ report: r, rules: evaluateModelReport(r, parsed).findings.map((f) => f.alert) }));
  };
  /** The evening of a session: its bar is due. */
  const eveningOf = (date: string) => new Date(`${date}T23:30:00Z`);

  beforeAll(async () => {
    t = await create();
    market = await setUpOracleMarket(t.store, new MemoryCache(), 20);
    version = await registerOracleModel(t.store, tempDir('mlp-features-stale-'), { name: 'frozen', seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    dates = (await readBarSeries(t.store, { symbols: market.symbols }))[0].dates;
    next = rng(3);
    const refDays = dates.slice(0, 80);
    const n = refDays.length * market.symbols.length;
    const values = Float64Array.from({ length: n * 2 }, () => next() - 0.5);
    const day = Int32Array.from({ length: n }, (_, i) => Math.floor(i / market.symbols.length));
    await saveReferenceProfile(t.store, buildReferenceProfile({ model: 'frozen', version, featureSetVersion: market.featureSetVersion, features: { columns: ORACLE_COLUMNS, rows: n, values, day }, dayLabels: refDays, symbols: market.symbols }));
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('reports drift stale, naming the lag, and raises features_stale when the rows stop sessions before fresh bars', async () => {
    // The last materialisation: 12 sessions after training, then nothing while the bars went on.
    await writeFeatureRows(t.store, market.featureSetVersion, rowsFor(dates.slice(80, 92)));
    const newest = dates[dates.length - 1];
    const behind = dates.length - 92;
    const { report: r, rules } = await report(eveningOf(newest));
    expect(r.freshness.status).toBe('fresh');
    expect(r.drift).toMatchObject({ status: 'stale', window: { to: dates[91] }, drifted: [], maxPsi: null, features: [] });
    expect(r.drift.featureLag).toEqual({ featureSet: market.featureSetVersion, through: dates[91], newestBar: newest, expectedSession: newest, sessionsBehind: behind, maxLagSessions: 2 });
    expect(r.drift.reason).toContain(`end on ${dates[91]}, ${behind} sessions before the bars (newest ${newest}`);
    expect(rules.map((a) => [a.rule, a.severity, a.subject])).toEqual([['features_stale', 'warning', featuresSubject('frozen', market.featureSetVersion)]]);
    expect(rules[0].message).toMatch(/not being materialised/);

    // Within the tolerance (two sessions behind the newest bar): judged as before.
    const near = await report(eveningOf(dates[93]));
    expect(near.report.drift).toMatchObject({ status: 'stable', featureLag: { sessionsBehind: 2 } });
    expect(near.rules).toEqual([]);
    // A wider tolerance, or the rule turned off: judged on the rows there are.
    expect((await report(eveningOf(newest), { features_stale: { maxLagSessions: behind } })).report.drift.status).toBe('stable');
    const off = await report(eveningOf(newest), { features_stale: { enabled: false } });
    expect([off.report.drift.status, off.rules]).toEqual(['stable', []]);
  });

  it('judges the rows that reach the newest bar even when the bars stopped (data_stale says so), and measures a lag from the bars', async () => {
    // Bars and rows both through the 100th session, the calendar at the newest session: the feed's problem.
    const end = dates[99];
    await writeFeatureRows(t.store, market.featureSetVersion, rowsFor(dates.slice(92, 100)));
    await t.store.db.deleteFrom('bars').where('date', '>', end).execute();
    const stopped = await report(eveningOf(dates[dates.length - 1]));
    expect(stopped.report.freshness.status).toBe('stale');
    expect(stopped.report.drift).toMatchObject({ status: 'stable', featureLag: { through: end, newestBar: end, sessionsBehind: 0 } });
    expect(stopped.rules.map((a) => a.rule)).toEqual(['data_stale']);

    // Rows 10 sessions behind bars that are themselves behind: stale, the lag counted from the bars.
    await t.store.db.deleteFrom('feature_rows').where('version', '=', market.featureSetVersion).where('date', '>', dates[89]).execute();
    const both = await report(eveningOf(dates[dates.length - 1]));
    expect(both.report.drift).toMatchObject({ status: 'stale', featureLag: { through: dates[89], newestBar: end, sessionsBehind: 10 } });
    expect(both.rules.map((a) => a.rule).sort()).toEqual(['data_stale', 'features_stale']);

    // No row after the training period at all: the lag runs from its last day.
    await t.store.db.deleteFrom('feature_rows').where('version', '=', market.featureSetVersion).execute();
    const none = await report(eveningOf(end));
    expect(none.report.drift).toMatchObject({ status: 'stale', window: { to: null }, featureLag: { through: dates[79], sessionsBehind: 20 } });
    expect(none.report.drift.reason).toContain(`have no row after the training period (last day ${dates[79]})`);
  });
});
