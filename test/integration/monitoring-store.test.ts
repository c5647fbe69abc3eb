/**
 * Monitoring in the real stores (SQLite and MariaDB): the reference profile built at registration
 * from the training files and kept once, a full monitoring report computed from bars, feature rows
 * and the prediction log, and rules turned into alerts whose cool-down is lib/alerts'.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { monitoringActivities, type ComputedMonitoringReport } from '../../activities/monitoring';
import { raiseAlert } from '../../lib/alerts/alert-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { computeModelReport, saveMonitoringReport } from '../../lib/monitoring/model-report';
import { evaluateModelReport, parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { hasReferenceProfile, MAX_PROFILE_BYTES, readReferenceProfile, saveReferenceProfile, serialiseProfile } from '../../lib/monitoring/profile-store';
import { buildReferenceProfile } from '../../lib/monitoring/reference-profile';
import { precomputeDatasetProfile, registrationProfileOf } from '../../lib/monitoring/registration-profile';
import { parseExact, stringifyExact } from '../../lib/artifacts/exact-json';
import { rng } from '../../lib/random';
import { loadRegisteredModel } from '../../lib/registry/model-registry';
import { readBarSeries } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { writeFeatureRows } from '../../lib/store/features';
import { writeDataset } from '../../lib/training/dataset';
import { writePredictions } from '../../lib/training/walk-forward';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { NOISE_COLUMN, ORACLE_COLUMN, ORACLE_COLUMNS, ORACLE_HORIZON, registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';
import { syntheticTrainingDataset } from '../helpers/training-dataset';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

/**
 * A served model with everything monitoring reads: bars (synthetic, to 2017-06-30), a model over
 * the oracle columns that predicts every outcome wrong, its reference profile (the first 60 sessions), live feature
 * rows for the last 12 sessions with the noise column (NOISE_COLUMN) shifted, and 40 days of logged predictions
 * whose outcomes have matured.
 */
async function seedMonitoredModel(store: Database, artifactDir: string, name: string): Promise<{ version: number; featureSetVersion: string }> {
  const market = await setUpOracleMarket(store, new MemoryCache(), 12);
  const featureSetVersion = market.featureSetVersion;
  const next = rng(3);
  const version = await registerOracleModel(store, artifactDir, { name, seed: 3, flip: true, featureSetVersion, metrics: { outOfSample: { classification: { accuracy: 0.6, rocAuc: 0.62 }, backtest: { strategy: { maxDrawdown: 0.1, meanReturn: 0.001 } } } } });
  const { model: loaded } = await loadRegisteredModel(store, localArtifactStore(artifactDir), name, version);
  const scoreOf = (oracle: number, noise: number) => loaded.predictProba({ values: Float64Array.of(oracle, noise), rows: 1, featureNames: ORACLE_COLUMNS })[1];

  // Reference: the first 60 sessions of the market, its real 5-day directions (so rows of a day move together, as live).
  const series = await readBarSeries(store, { symbols: market.symbols });
  const referenceDays = series[0].dates.slice(0, 60);
  const n = referenceDays.length * series.length;
  const ref = new Float64Array(n * 2);
  const day = new Int32Array(n);
  const scores = new Float64Array(n);
  let i = 0;
  for (let d = 0; d < referenceDays.length; d++) {
    for (const s of series) {
      ref[i * 2] = s.close[d + ORACLE_HORIZON] > s.open[d + 1] ? 1 : -1;
      ref[i * 2 + 1] = next() - 0.5;
      day[i] = d;
      scores[i] = scoreOf(ref[i * 2], ref[i * 2 + 1]);
      i++;
    }
  }
  const profile = buildReferenceProfile({
    model: name, version: version, featureSetVersion,
    features: { columns: ORACLE_COLUMNS, rows: n, values: ref, day }, dayLabels: referenceDays, symbols: market.symbols,
    scores: { columns: ['score'], rows: n, values: scores, day, source: 'walk-forward' },
  });
  expect((await saveReferenceProfile(store, profile)).stored).toBe(true);

  // Live feature rows: the last 12 sessions, noise shifted by +3 (far beyond its training range).
  const liveDays = series[0].dates.slice(-12);
  await writeFeatureRows(store, featureSetVersion, market.symbols.flatMap((symbol) => liveDays.map((date) => ({ symbol, date, values: Float64Array.of(next() < 0.5 ? 1 : -1, next() - 0.5 + 3) }))));

  // 40 days of logged predictions, dated so their 5-day outcomes are in the store.
  const now = new Date().toISOString();
  const log = series.flatMap((s) =>
    s.dates.slice(-60, -20).map((asOf, k) => {
      const t = s.dates.length - 60 + k;
      const oracle = s.close[t + ORACLE_HORIZON] > s.open[t + 1] ? 1 : -1;
      const p = scoreOf(oracle, next() - 0.5);
      const requestId = crypto.randomBytes(8).toString('hex');
      return { id: `${requestId}:champion`, request_id: requestId, model: name, version: version, variant: 'champion', served: 1, symbol: s.symbol, routing_key: s.symbol, as_of: asOf, probability: p, predicted_class: p > 0.5 ? 1 : 0, latency_us: 100, error: null, created_at: now };
    }),
  );
  for (let i = 0; i < log.length; i += 200) await store.db.insertInto('prediction_log').values(log.slice(i, i + 200)).execute();
  return { version: version, featureSetVersion };
}

describe.each(DRIVERS)('monitoring on %s', (_driver, create) => {
  let t: TestDatabase;
  let artifactDir: string;
  beforeAll(async () => {
    t = await create();
    artifactDir = tempDir('mlp-monitoring-store-');
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('stores the reference profile of a registration once, from its training dataset and walk-forward predictions', async () => {
    const ds = syntheticTrainingDataset({ symbols: 20, days: 300, seed: 4 });
    const { id: datasetId } = await writeDataset(localArtifactStore(artifactDir), ds);
    const predicted = Int32Array.from({ length: ds.rows }, (_, r) => r).filter((r) => ds.start[r] >= 200);
    const proba = new Float64Array(predicted.length * 2);
    predicted.forEach((_, i) => {
      proba[i * 2 + 1] = 0.3 + 0.4 * ((i * 7919) % 100) / 100;
      proba[i * 2] = 1 - proba[i * 2 + 1];
    });
    const predictionsId = await writePredictions(localArtifactStore(artifactDir), { datasetId, algorithm: 'logistic_regression', classes: 2, rows: predicted, proba, windows: [] });

    const profile = await registrationProfileOf(localArtifactStore(artifactDir), { model: 'profiled', version: 1, featureSetVersion: ds.featureSetVersion, datasetId, predictionsId });
    expect(profile.scoreSource).toBe('walk-forward');
    expect(profile.period).toEqual({ from: ds.days[0], to: ds.days[ds.start[ds.rows - 1]], days: new Set(ds.start).size, rows: ds.rows });
    expect(profile.features.map((f) => f.name)).toEqual(ds.columns);
    expect(profile.score?.count).toBe(predicted.length);
    expect(Buffer.byteLength(serialiseProfile(profile) as string)).toBeLessThan(MAX_PROFILE_BYTES);

    expect(await hasReferenceProfile(t.store, 'profiled', 1)).toBe(false);
    expect(await saveReferenceProfile(t.store, profile)).toMatchObject({ stored: true });
    // A retried or repeated registration keeps the first.
    expect(await saveReferenceProfile(t.store, { ...profile, createdAt: '2030-01-01T00:00:00.000Z' })).toEqual({ stored: false, reason: 'already stored' });
    expect(await readReferenceProfile(t.store, 'profiled', 1)).toEqual(JSON.parse(JSON.stringify(profile)));
    expect(await readReferenceProfile(t.store, 'profiled', 2)).toBeUndefined();

    // Without walk-forward predictions the registered model scores its training rows.
    const model = await logisticRegression.fit({ features: { values: ds.values, rows: ds.rows, featureNames: ds.columns }, labels: ds.labels, classes: 2, seed: 1 }, {});
    const fallback = await registrationProfileOf(localArtifactStore(artifactDir), { model: 'profiled', version: 2, featureSetVersion: ds.featureSetVersion, datasetId, trainedModel: () => model });
    expect(fallback.scoreSource).toBe('final-model');
    expect(fallback.score?.count).toBe(ds.rows);
    expect(fallback.features).toEqual(profile.features);

    // The dataset's profile built beside the training: registration reads it (the same profile to the
    // byte) when the file is intact and of this dataset, bins and format, and builds it otherwise.
    const artifacts = localArtifactStore(artifactDir);
    const { sha256: sha } = await precomputeDatasetProfile(artifacts, datasetId);
    const at = '2030-01-01T00:00:00.000Z';
    const request = { model: 'profiled', version: 1, featureSetVersion: ds.featureSetVersion, datasetId, predictionsId };
    const fromFile = await registrationProfileOf(artifacts, { ...request, datasetProfile: { sha256: sha } });
    expect(serialiseProfile({ ...fromFile, createdAt: at })).toBe(serialiseProfile({ ...profile, createdAt: at }));
    expect({ ...fromFile, createdAt: at }).toEqual({ ...profile, createdAt: at });
    const file = path.join(artifactDir, 'reference-profiles', sha.slice(0, 2), `${sha}.json`);
    const craft = (patch: (f: { datasetId: string; bins: number; format: number; codeVersion: string; profile: { features: Array<{ name: string }> } }) => void) => {
      const f = parseExact(fs.readFileSync(file, 'utf8')) as Parameters<typeof patch>[0];
      f.profile.features[0].name = 'crafted';
      patch(f);
      const bytes = Buffer.from(stringifyExact(f));
      const craftedSha = crypto.createHash('sha256').update(bytes).digest('hex');
      fs.mkdirSync(path.join(artifactDir, 'reference-profiles', craftedSha.slice(0, 2)), { recursive: true });
      fs.writeFileSync(path.join(artifactDir, 'reference-profiles', craftedSha.slice(0, 2), `${craftedSha}.json`), bytes);
      return craftedSha;
    };
    const firstFeature = async (sha256: string) => (await registrationProfileOf(artifacts, { ...request, datasetProfile: { sha256 } })).features[0].name;
    expect(await firstFeature(craft(() => undefined))).toBe('crafted');
    expect(await firstFeature(craft((f) => (f.datasetId = 'td-another')))).toBe(ds.columns[0]);
    expect(await firstFeature(craft((f) => (f.bins = 12)))).toBe(ds.columns[0]);
    expect(await firstFeature(craft((f) => (f.format = 99)))).toBe(ds.columns[0]);
    expect(await firstFeature(craft((f) => (f.codeVersion = 'other code')))).toBe(ds.columns[0]);
    expect(await firstFeature('0'.repeat(64))).toBe(ds.columns[0]);
    fs.appendFileSync(file, ' ');
    expect(await firstFeature(sha)).toBe(ds.columns[0]);
  });

  it('computes a report from the store: feature drift, degraded live performance, stale bars; stored once', async () => {
    const { version } = await seedMonitoredModel(t.store, artifactDir, 'monitored');
    const rules = parseMonitoringRules({});
    const report = await computeModelReport(t.store, { id: `mr-test-${version}`, target: { model: 'monitored', version, variants: ['champion'], champion: true }, windowDays: 10, rules, now: new Date() });

    expect(report.reference.available).toBe(true);
    expect(report.drift.status).toBe('drift');
    expect(report.drift.drifted).toEqual([NOISE_COLUMN]);
    expect(report.drift.window.days).toBe(10);
    expect(report.drift.features.find((f) => f.name === ORACLE_COLUMN)?.drifted).toBe(false);

    expect(report.performance.status).toBe('degraded');
    expect(report.performance.severity).toBe('critical');
    expect(report.performance.samples + report.performance.noLabel).toBe(12 * 40); // a flat 5-day close has no direction label
    expect(report.performance.hitRate).toBe(0);
    expect(report.performance.promised.accuracy).toBe(0.6);
    // Scores of the latest 10 feature days of served predictions (the market's direction moves them: judged, not asserted here).
    expect(report.predictionDrift).toMatchObject({ rows: 120, days: 10 });
    expect(report.predictionDrift.status === 'drift').toBe((report.predictionDrift.pValue as number) <= 0.01 && (report.predictionDrift.psi as number) >= 0.2);

    // The bars end in 2017: years of sessions behind.
    expect(report.freshness.status).toBe('stale');
    expect(report.freshness.staleSymbols).toBe(12);

    await saveMonitoringReport(t.store, report);
    await saveMonitoringReport(t.store, report);
    const rows = await t.store.db.selectFrom('monitoring_reports').selectAll().where('model', '=', 'monitored').execute();
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0].report)).toMatchObject({ id: report.id, drift: { drifted: [NOISE_COLUMN] } });

    // Rules → alerts; the cool-down is lib/alerts': the same finding again is suppressed, with the first alert's id.
    const evaluation = evaluateModelReport(report, rules);
    expect(evaluation.findings.map((f) => f.alert.rule).sort()).toEqual(['data_drift', 'data_stale', 'performance_degraded']);
    expect(evaluation.actions).toMatchObject({ retrain: true, blockDeployments: true });
    // One after the other, as the workflow raises them.
    const raiseAll = async () => {
      const out = [];
      for (const f of evaluation.findings) out.push(await raiseAlert(t.store, f.alert));
      return out;
    };
    const first = await raiseAll();
    expect(first.every((a) => !a.suppressed)).toBe(true);
    const again = await raiseAll();
    expect(again).toEqual(first.map((a) => ({ id: a.id, suppressed: true })));
    const stored = await t.store.db.selectFrom('alerts').select(['rule', 'evidence']).where('subject', '=', `model monitored v${version}`).execute();
    expect(stored.map((a) => a.rule).sort()).toEqual(['data_drift', 'performance_degraded']);
    expect(JSON.parse(stored.find((a) => a.rule === 'data_drift')?.evidence as string)).toMatchObject({ reportId: report.id, drifted: [{ name: NOISE_COLUMN, drifted: true }] });
    // With no cool-down the same condition is a new alert every time.
    const noCooldown = await raiseAlert(t.store, { ...evaluation.findings[0].alert, cooldownSeconds: 0 });
    expect(noCooldown.suppressed).toBe(false);
  });

  it('a retried report activity judges the report its first attempt stored, not a later computation', async () => {
    const { version } = await seedMonitoredModel(t.store, artifactDir, 'retried');
    let clock = new Date('2017-06-30T23:00:00Z'); // after the close and grace of the bars' last session: fresh
    const activities = monitoringActivities({ store: t.store, now: () => clock, signing: { signingKey: undefined } });
    const env = new MockActivityEnvironment(); // one workflow run and activity: every attempt has the same report id
    const input = { target: { model: 'retried', version, variants: ['champion'], champion: true }, windowDays: 10 };
    const attempt = (): Promise<ComputedMonitoringReport> => env.run(activities.computeMonitoringReport, input);
    const first = await attempt();
    expect(first.summary.freshness.status).toBe('fresh');
    // The answer was lost; Temporal retries it a week later (three sessions behind by then).
    clock = new Date('2017-07-06T23:00:00Z');
    const retried = await attempt();
    expect(retried.summary).toEqual(first.summary);
    expect(retried.findings.map((f) => f.alert.rule).sort()).toEqual(first.findings.map((f) => f.alert.rule).sort());
    const rows = await t.store.db.selectFrom('monitoring_reports').select(['id', 'report']).where('model', '=', 'retried').execute();
    expect(rows.map((r) => [r.id, (JSON.parse(r.report) as { freshness: { status: string } }).freshness.status])).toEqual([[first.summary.reportId, 'fresh']]);
  });

  it("judges live predictions by a registry row's label and backtest metrics only once the row verifies: an edited row is refused with the key or the artifact store", async () => {
    const { version } = await seedMonitoredModel(t.store, artifactDir, 'monitored');
    const request = { id: `mr-verify-${version}`, target: { model: 'monitored', version, variants: ['champion'], champion: true }, windowDays: 10, rules: parseMonitoringRules({}), now: new Date() };
    const artifacts = localArtifactStore(artifactDir);
    const verified = await computeModelReport(t.store, { ...request, verify: { artifacts } });
    expect(verified.rowVerification).toEqual({ signature: false, artifactHeader: true });
    expect(verified.performance.hitRate).toBe(0);

    // The label's horizon edited in the row (the artifact says 5): the outcomes would be another target's.
    const row = await t.store.db.selectFrom('model_versions').select('label').where('name', '=', 'monitored').where('version', '=', version).executeTakeFirstOrThrow();
    await t.store.db.updateTable('model_versions').set({ label: JSON.stringify({ ...(JSON.parse(row.label) as object), horizon: 1 }) }).where('name', '=', 'monitored').where('version', '=', version).execute();
    await expect(computeModelReport(t.store, { ...request, verify: { artifacts } })).rejects.toThrow(/monitored v\d+ is not monitored from this registry row .*label differs: the artifact has .*"horizon":5.*the registry says .*"horizon":1/);
    await expect(computeModelReport(t.store, { ...request, verify: { signing: { signingKey: 'monitoring-report-key-0123456789abcdef' } } })).rejects.toThrow(expect.objectContaining({ code: 'ARTIFACT_INVALID', message: expect.stringMatching(/no signature/) }));
    // Nothing to check it against (no key, no artifact store): the row as it stands, and the report says it was not verified.
    expect((await computeModelReport(t.store, { ...request, verify: {} })).rowVerification).toEqual({ signature: false, artifactHeader: false });
  });
});
