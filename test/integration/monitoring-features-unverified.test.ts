/**
 * With MODEL_SIGNING_KEY the drift monitor reads its live window through the row check: a window
 * holding feature rows no held key vouches for is not judged (drift `unavailable`, unverifiedRows
 * naming them) and features_unverified is raised: critical for edited rows, including rows whose
 * values were edited and signature removed (unsigned inside a signed history), a warning only for
 * rows from before signing.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import { computeModelReport } from '../../lib/monitoring/model-report';
import { evaluateModelReport, featuresSubject, parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { saveReferenceProfile } from '../../lib/monitoring/profile-store';
import { buildReferenceProfile } from '../../lib/monitoring/reference-profile';
import { rng } from '../../lib/random';
import { signStoredBars } from '../../lib/store/bar-signature';
import { openDatabase, type Database } from '../../lib/store/database';
import { readBarSeries } from '../../lib/store/bars';
import { packValues, writeFeatureRows } from '../../lib/store/features';
import { signedLogRow } from '../helpers/signed-log';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { ORACLE_COLUMNS, registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';

const SIGNING = { signingKey: 'monitoring-row-signing-key-0123456789abcdef-0' };

describe.each(DRIVERS)('drift on feature rows no key vouches for, on %s', (_driver, create) => {
  let t: TestDatabase;
  let signed: Database;
  let market: Awaited<ReturnType<typeof setUpOracleMarket>>;
  let version: number;
  let dates: string[];
  const rules = parseMonitoringRules({});
  const report = async () => {
    const now = new Date(`${dates[99]}T23:30:00Z`);
    const r = await computeModelReport(signed, { id: `mr-${now.getTime()}-${Math.random()}`, target: { model: 'watched', version, variants: ['champion'], champion: true }, windowDays: 10, rules, now, verify: {} });
    return { report: r, alerts: evaluateModelReport(r, rules).findings.map((f) => f.alert) };
  };

  beforeAll(async () => {
    t = await create();
    signed = await openDatabase(t.url, { signing: SIGNING });
    market = await setUpOracleMarket(t.store, new MemoryCache(), 20);
    version = await registerOracleModel(t.store, tempDir('mlp-features-unverified-'), { name: 'watched', seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    dates = (await readBarSeries(t.store, { symbols: market.symbols }))[0].dates;
    await t.store.db.deleteFrom('bars').where('date', '>', dates[99]).execute();
    const next = rng(5);
    const refDays = dates.slice(0, 80);
    const n = refDays.length * market.symbols.length;
    const values = Float64Array.from({ length: n * 2 }, () => next() - 0.5);
    const day = Int32Array.from({ length: n }, (_, i) => Math.floor(i / market.symbols.length));
    await saveReferenceProfile(t.store, buildReferenceProfile({ model: 'watched', version, featureSetVersion: market.featureSetVersion, features: { columns: ORACLE_COLUMNS, rows: n, values, day }, dayLabels: refDays, symbols: market.symbols }));
    const rows = dates.slice(80, 100).flatMap((d) => market.symbols.map((symbol) => ({ symbol, date: d, values: Float64Array.from([next() - 0.5, next() - 0.5]) })));
    await writeFeatureRows(t.store, market.featureSetVersion, rows, SIGNING);
  });
  afterAll(async () => {
    await signed?.close();
    await t?.drop();
  });

  it('judges a window of signed rows, and reports edited ones unavailable with a critical features_unverified naming them', async () => {
    expect((await report()).report.drift.status).toBe('stable');
    const [a] = market.symbols;
    await signed.db.updateTable('feature_rows').set({ vals: packValues(Float64Array.from([5, 5])) }).where('version', '=', market.featureSetVersion).where('symbol', '=', a).where('date', 'in', [dates[97], dates[98]]).execute();
    const { report: r, alerts } = await report();
    expect(r.drift.status).toBe('unavailable');
    expect(r.drift.unverifiedRows).toEqual({ featureSet: market.featureSetVersion, rows: 2, symbols: [a], problems: ['edited'] });
    expect(alerts.map((x) => [x.rule, x.severity, x.subject])).toEqual([['features_unverified', 'critical', featuresSubject('watched', market.featureSetVersion)]]);
    expect(alerts[0].message).toContain(`${a}, 2 rows from ${dates[97]} to ${dates[98]}`);
  });

  it('raises it critical too when the edit also removed the signature, and a warning only for rows from before signing', async () => {
    const [a, b] = market.symbols;
    // Values edited and signatures removed: unsigned rows dated after a signed row of the same symbol.
    await signed.db.updateTable('feature_rows').set({ signature: null, signature_key_id: null }).where('version', '=', market.featureSetVersion).where('symbol', '=', a).where('date', 'in', [dates[97], dates[98]]).execute();
    const stripped = await report();
    expect(stripped.report.drift.unverifiedRows).toMatchObject({ rows: 2, problems: ['edited'] });
    expect(stripped.alerts.map((x) => [x.rule, x.severity])).toEqual([['features_unverified', 'critical']]);
    // Rows of a symbol none of whose rows is signed (written before signing): a warning.
    await signed.db.deleteFrom('feature_rows').where('version', '=', market.featureSetVersion).where('symbol', '=', a).execute();
    await signed.db.updateTable('feature_rows').set({ signature: null, signature_key_id: null }).where('version', '=', market.featureSetVersion).where('symbol', '=', b).execute();
    const old = await report();
    expect(old.report.drift.unverifiedRows).toMatchObject({ rows: 10, symbols: [b], problems: ['unsigned'] });
    expect(old.alerts.map((x) => [x.rule, x.severity])).toEqual([['features_unverified', 'warning']]);
  });

  it('judges no live performance on bars edited after serving: unavailable, with a critical bars_unverified naming them', async () => {
    // The bars as signed by the deployment (written before signing in this set-up), and served predictions of the version.
    await signStoredBars(signed, SIGNING, { acceptUnsigned: true });
    const logged = dates.slice(80, 95).flatMap((asOf) => market.symbols.map((symbol, k) => ({ id: `${asOf}-${symbol}:champion`, request_id: `${asOf}-${symbol}`, model: 'watched', version, variant: 'champion', served: 1, symbol, routing_key: symbol, as_of: asOf, probability: k % 2 === 0 ? 0.7 : 0.3, predicted_class: k % 2 === 0 ? 1 : 0, latency_us: 100, error: null, created_at: `${asOf}T21:00:00.000Z` })));
    // Signed as the API's log writer signs them.
    await signed.db.insertInto('prediction_log').values(logged.map((r) => signedLogRow(SIGNING, r))).execute();
    const barsAlert = (alerts: Array<{ rule: string }>) => alerts.filter((x) => x.rule === 'bars_unverified');
    const honest = await report();
    expect(honest.report.performance.status).not.toBe('unavailable');
    expect(honest.report.performance.samples).toBeGreaterThan(0);
    expect(barsAlert(honest.alerts)).toEqual([]);

    const [, , c] = market.symbols;
    const edited = [dates[88], dates[89]];
    await t.store.db.updateTable('bars').set({ close: 1 }).where('symbol', '=', c).where('date', 'in', edited).execute();
    const { report: r, alerts } = await report();
    expect(r.performance).toMatchObject({ status: 'unavailable', samples: 0, severity: null, unverifiedBars: { bars: 2, symbols: [c], problems: ['edited'] } });
    expect(r.performance.reasons[0]).toContain(`${c}, 2 bars from ${edited[0]} to ${edited[1]}`);
    expect(alerts.filter((x) => x.rule === 'performance_degraded')).toEqual([]);
    expect(barsAlert(alerts)).toEqual([expect.objectContaining({ rule: 'bars_unverified', severity: 'critical', subject: 'bars of model watched' })]);
  });

  it('judges no live performance on prediction log rows edited after logging: unavailable, with a critical predictions_unverified naming them', async () => {
    await signStoredBars(signed, SIGNING, { acceptUnsigned: true });
    const logged = dates.slice(80, 95).flatMap((asOf) => market.symbols.map((symbol, k) => ({ id: `${asOf}-${symbol}:champion`, request_id: `${asOf}-${symbol}`, model: 'watched', version, variant: 'champion', served: 1, symbol, routing_key: symbol, as_of: asOf, probability: k % 2 === 0 ? 0.7 : 0.3, predicted_class: k % 2 === 0 ? 1 : 0, latency_us: 100, error: null, created_at: `${asOf}T21:00:00.000Z` })));
    // The store is shared by the file's tests: this one's rows alone.
    await t.store.db.deleteFrom('prediction_log').execute();
    await signed.db.insertInto('prediction_log').values(logged.map((r) => signedLogRow(SIGNING, r))).execute();
    const logAlert = (alerts: Array<{ rule: string }>) => alerts.filter((x) => x.rule === 'predictions_unverified');
    expect(logAlert((await report()).alerts)).toEqual([]);
    const [a] = market.symbols;
    await t.store.db.updateTable('prediction_log').set((eb) => ({ probability: eb(eb.val(1), '-', eb.ref('probability')), predicted_class: eb(eb.val(1), '-', eb.ref('predicted_class')) })).where('symbol', '=', a).execute();
    const { report: r, alerts } = await report();
    expect(r.performance).toMatchObject({ status: 'unavailable', severity: null, unverifiedLog: { rows: 15, symbols: [a], problems: ['edited'] } });
    expect(alerts.filter((x) => x.rule === 'performance_degraded')).toEqual([]);
    expect(logAlert(alerts)).toEqual([expect.objectContaining({ rule: 'predictions_unverified', severity: 'critical', subject: 'prediction log of model watched' })]);
  });
});
