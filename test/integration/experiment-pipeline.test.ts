import fs from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { listAlerts } from '../../lib/alerts/alert-store';
import { computeLabels, labelSpecSchema } from '../../lib/labels/labels';
import type { BarSeries } from '../../lib/market-data/bar';
import { readBarSeries } from '../../lib/store/bars';
import { getFeatureSetColumns, readFeatureRows, writeFeatureRows } from '../../lib/store/features';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { aliasHistory, listModelVersions, loadRegisteredModel } from '../../lib/registry/model-registry';
import { writeSyntheticMarket, type SyntheticMarketOptions } from '../../lib/market-data/synthetic';
import { TASK_QUEUES } from '../../lib/task-queues';
import { loadModelRuntimes } from '../../models/algorithms';
import { pipelineStatusQuery, trainingPipeline } from '../../workflows';
import { searchProgressQuery } from '../../workflows/train-algorithm';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { smallExperiment } from '../helpers/experiments';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { REPORT_SECTIONS } from '../../lib/reports/html';
import { readReportFile, recordedReportOf } from '../../lib/reports/version-report';
import { launchChromium, SCREENSHOTS } from '../helpers/browser';

// Whole pipeline runs (import to run report) take 1–2 minutes on a quiet 2-core machine and over 3
// when it is shared; the limit only guards against a hang.
jest.setTimeout(420_000);

const SYMBOLS = Array.from({ length: 12 }, (_, i) => `SYN${String(i + 1).padStart(2, '0')}`);

describe('an experiment through the real Temporal server', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  beforeAll(async () => {
    [env, db] = await Promise.all([startTemporal(), createSqliteTestDatabase()]);
    await loadModelRuntimes();
  });
  afterAll(async () => {
    await db?.drop();
    await env?.teardown();
  });

  it('searches, walks forward, validates, registers every algorithm and promotes the best only with evidence against its naive baselines', async () => {
    const data = tempDir('mlp-exp-');
    // The market plants an edge no naive baseline sees: tomorrow gives back 6 times today's overnight
    // noise between its open and its close (so an order at the open earns it); the noise shows in the
    // opening gap and in no close. The default market's trends are found by
    // momentum_sign as well as by a model, and 5 symbols' 120 days of 5-day labels (24 independent
    // stretches, 4 degrees of freedom for the symbol clustering) cannot show a small edge beyond chance.
    // Nor can 120 days show this per-stock edge beyond the market-timing rules: one score per day, their
    // AUC over 24 stretches was 0.547 by luck here (an AUC 0.60 model, p 0.095). 360 days (72 stretches)
    // show it, with an edge weak enough for the plausibility bound.
    await writeSyntheticMarket(data, { symbols: SYMBOLS.length, from: '2014-01-06', to: '2018-03-29', plantErrors: false, gapReversal: 6 });
    const artifactDir = tempDir('mlp-exp-artifacts-');
    const { result, status, progress } = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async () => {
      const handle = await env.client.workflow.start(trainingPipeline, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId: `exp-${Date.now()}`,
        args: [{ experiment: { ...smallExperiment(data), walkForward: { ...smallExperiment(data).walkForward, evaluationDays: 360 } } }],
      });
      const r = await handle.result();
      const s = await handle.query(pipelineStatusQuery);
      const child = env.client.workflow.getHandle(s.trainingWorkflows?.gradient_boosting as string);
      return { result: r, status: s, progress: await child.query(searchProgressQuery) };
    });
    expect(status.stages.map((s) => `${s.name}:${s.status}`)).toEqual(['ingest', 'quality-gate', 'features', 'dataset', 'training', 'validation', 'registration'].map((n) => `${n}:completed`));
    expect(progress).toMatchObject({ phase: 'done', trialsDone: 4, budget: 4, running: 0 });
    expect(result.dataset?.symbols).toBe(SYMBOLS.length);
    expect(result.dataset?.universe).toMatchObject({ source: 'snapshot', snapshotId: result.snapshotId, trained: SYMBOLS });
    expect(result.datasetGuards?.verdicts.map((v) => [v.guard, v.tripped])).toEqual([['point_in_time_audit', false], ['single_feature_scan', false]]);
    const candidates = result.candidates ?? [];
    expect(candidates.map((c) => c.algorithm).sort()).toEqual(['gradient_boosting', 'logistic_regression']);
    for (const c of candidates) {
      expect(c.training.trials).toHaveLength(4);
      expect(c.training.best.folds).toHaveLength(3);
      expect(c.evaluation.report.period.days).toBe(360);
      expect(c.evaluation.shuffledLabel?.message).toMatch(/at chance/);
      // The planted edge is not a look-ahead: well short of a leak's AUC.
      expect(Math.abs(c.evaluation.report.classification.rocAuc - 0.5)).toBeLessThan(0.2);
      expect(c.evaluation.report.baselines.map((b) => b.name)).toEqual(['pre_period_majority', 'always_up', 'momentum_sign', 'market_momentum_sign', 'market_breadth', 'evaluation_majority']);
      // The planted edge ranks stocks within each day: the within-day AUC is reported beside the pooled one.
      expect(c.evaluation.report.auc.withinDay).toMatchObject({ days: expect.any(Number), versus: expect.any(String) });
      // The run's best is picked from both algorithms' 4 trials: the deflated Sharpe ratio counts all 8.
      expect(c.evaluation.report.backtest.deflatedSharpeTrials).toEqual({ counted: 8, search: 4, run: 8 });
      expect(c.evaluation.report.guards.map((g) => [g.guard, g.tripped])).toEqual([['plausibility_bound', false], ['degenerate_scores', false]]);
    }
    // Exactly one candidate is the run's best; the others say so in their own words.
    expect(candidates.filter((c) => c.bestOfRun)).toHaveLength(1);
    for (const c of candidates.filter((x) => !x.bestOfRun)) expect(c.registration.decision.reason).toMatch(/not the best algorithm of its run/);
    const versions = await listModelVersions(db.store, 'direction-5d');
    expect(versions.map((v) => v.version)).toEqual([1, 2]);
    expect(versions.every((v) => v.snapshotId === result.snapshotId && v.runId && v.codeVersion)).toBe(true);
    expect(versions.every((v) => JSON.stringify((v.lineage.universe as { trained: string[] }).trained) === JSON.stringify(SYMBOLS))).toBe(true);
    // The best model shows evidence, with rows dependent by day and by stock, against every naive baseline.
    const best = candidates.find((c) => c.bestOfRun);
    expect(result.promoted).toMatchObject({ algorithm: best?.algorithm, alias: 'champion', reason: expect.stringMatching(/^no champion yet; auc 0\.\d+ passes the floors; beats \w+: auc \+0\.\d+ over \w+ \(95% interval from 0\.\d+, one-sided p 0\.0\d+/) });
    expect(best?.evaluation.report.auc.difference.pValue).toBeLessThan(0.05);
    expect(await aliasHistory(db.store, 'direction-5d')).toEqual([expect.objectContaining({ alias: 'champion', toVersion: result.promoted?.version })]);
    const { model } = await loadRegisteredModel(db.store, localArtifactStore(artifactDir), 'direction-5d', result.promoted?.version as number);
    expect(model.algorithm).toBe(result.promoted?.algorithm);

    // The run wrote a report per registered version, recorded in its lineage; the promoted one's has
    // every section with data and is screenshotted in a real browser.
    for (const c of candidates) expect(c.report).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const promoted = versions.find((v) => v.version === result.promoted?.version);
    const recorded = promoted ? recordedReportOf(promoted) : undefined;
    const html = recorded && promoted ? await readReportFile(localArtifactStore(artifactDir), recorded.sha256, promoted) : undefined; // only as the promoted version's report
    expect(html).toBeDefined();
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.setContent(html as string);
      for (const [id] of REPORT_SECTIONS) expect([id, await page.locator(`section#${id}`).getAttribute('data-recorded')]).toEqual([id, 'true']);
      expect(await page.locator('section#promotion').textContent()).toContain('no champion yet');
      expect(await page.locator('section#equity polyline[data-series="buy-and-hold"]').count()).toBeGreaterThan(0);
      await page.screenshot({ path: path.join(SCREENSHOTS, 'report-of-a-run.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('does not promote an edge that only the overnight gap holds: labels start at the next open', async () => {
    // The next open undoes 70% of each day's open-to-close move: a model of the day's move predicts
    // the close-to-close return, and nothing an order placed after the close can earn. Labelled from
    // the close that made the features, this run's logistic regression scored AUC 0.577 and an IC of
    // 0.20 (+0.022 over momentum_sign, p 0.096: not promoted only for want of evidence).
    const data = await renamedMarket('mlp-exp-ovn-', 'OVN', 42, { symbols: 12, from: '2014-01-06', overnightReversal: 0.7 });
    const artifactDir = tempDir('mlp-exp-ovn-artifacts-');
    const experiment = { ...smallExperiment(data, 'overnight'), algorithms: [smallExperiment(data).algorithms[0]], walkForward: { ...smallExperiment(data).walkForward, evaluationDays: 360 } };
    const result = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, () =>
      env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: `ovn-${Date.now()}`, args: [{ experiment }] }),
    );
    const [candidate] = result.candidates ?? [];
    // Bought at the next open, the model's edge is gone, and nothing is promoted.
    expect(candidate.evaluation.report.classification.rocAuc).toBeLessThan(0.53);
    expect(Math.abs(candidate.evaluation.report.informationCoefficient.mean)).toBeLessThan(0.03);
    expect(result.promoted).toBeUndefined();
    expect(candidate.registration.decision.reason).toMatch(/^not promoted/);
  });

  it('judges a new run against the champion re-run on the same out-of-sample period', async () => {
    // Symbols of its own: the first test's SYN01..SYN05 are stored, and this market's prices under
    // those names would be another security's, which the quality gate rejects (series_mismatch).
    const data = await renamedMarket('mlp-exp2-', 'RRN', 42);
    const artifactDir = tempDir('mlp-exp2-artifacts-');
    // Floors at zero and no evidence required: the first run always becomes champion, whatever noise gives.
    const experiment = { ...smallExperiment(data, 'rerun'), promotion: { minAuc: 0, margin: 0.005, alpha: 1, allowRelaxedGuards: { reason: 'a small test market, judged without the naive-baseline tests' } } };
    const run = (id: string) => env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ experiment }] });
    const [first, second] = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async () => [await run(`rerun-1-${Date.now()}`), await run(`rerun-2-${Date.now()}`)]);
    expect(first.promoted?.alias).toBe('champion');
    // Same data, same seed: the same models. They are recognised and not registered again.
    expect(second.promoted).toBeUndefined();
    expect(second.candidates?.every((c) => c.registration.identicalToEarlier)).toBe(true);
    const best = second.candidates?.find((c) => c.algorithm === first.promoted?.algorithm);
    expect(best?.registration.version.version).toBe(first.promoted?.version);
    expect(best?.registration.decision.reason).toMatch(/identical to v\d+, already the champion; nothing new registered/);
    expect((await listModelVersions(db.store, 'rerun')).map((v) => v.version)).toEqual([1, 2]);
    expect((await aliasHistory(db.store, 'rerun')).map((h) => [h.alias, h.toVersion])).toEqual([['champion', first.promoted?.version]]);
  });

  it('trains on the universe of the snapshot it imported, not on everything in the store', async () => {
    // The store already holds SYN01..SYN12 and RRN01..RRN05 from the runs above; this run imports five other symbols.
    const data = await renamedMarket('mlp-exp3-', 'ALT', 99);
    const artifactDir = tempDir('mlp-exp3-artifacts-');
    const experiment = { ...smallExperiment(data, 'universe'), algorithms: [smallExperiment(data).algorithms[0]], guards: { shuffledLabel: false } };
    const result = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, () =>
      env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: `universe-${Date.now()}`, args: [{ experiment }] }),
    );
    expect(result.dataset?.universe).toMatchObject({ source: 'snapshot', trained: ['ALT01', 'ALT02', 'ALT03', 'ALT04', 'ALT05'] });
    const [version] = await listModelVersions(db.store, 'universe');
    expect((version.lineage.universe as { requested: string[] }).requested).toEqual(['ALT01', 'ALT02', 'ALT03', 'ALT04', 'ALT05']);
  });

  it('fails a run whose stored features see the future, raises a critical alert and registers nothing', async () => {
    const data = await renamedMarket('mlp-exp4-', 'LEAK', 5);
    const artifactDir = tempDir('mlp-exp4-artifacts-');
    const experiment = { ...smallExperiment(data, 'leaky'), algorithms: [smallExperiment(data).algorithms[0]], guards: { shuffledLabel: false } };
    await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async () => {
      // The features step first, then a careless change: ret_5 becomes the return over the next 5 bars.
      const features = await env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: `leak-features-${Date.now()}`, args: [{ import: experiment.import }] });
      await plantColumn(db, features.features?.version as string, 'ret_5', ({ close }, t) => close[t + 5] / close[t] - 1);
      const handle = await env.client.workflow.start(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: `leak-${Date.now()}`, args: [{ experiment }] });
      await expect(handle.result()).rejects.toThrow();
      const status = await handle.query(pipelineStatusQuery);
      expect(status.stages.find((s) => s.name === 'dataset')).toMatchObject({ status: 'failed' });
    });
    expect(await listModelVersions(db.store, 'leaky')).toEqual([]);
    const alerts = await listAlerts(db.store, { rule: 'leakage_guard' });
    expect(alerts.find((a) => a.subject === 'model leaky')).toMatchObject({ severity: 'critical', message: expect.stringMatching(/point_in_time_audit: .*ret_5/) });
  });

  it('registers but never promotes a volatility-regime model fed the label, when guards only veto', async () => {
    const data = await renamedMarket('mlp-exp5-', 'VOL', 8);
    const artifactDir = tempDir('mlp-exp5-artifacts-');
    const label = { kind: 'volatility_regime' as const, horizon: 20, trailing: 252 };
    const experiment = { ...smallExperiment(data, 'vol-leaky'), label, algorithms: [smallExperiment(data).algorithms[0]], guards: { shuffledLabel: false, pointInTime: { onMismatch: 'veto' as const } }, promotion: { alpha: 1, minAuc: 0, allowRelaxedGuards: { reason: 'a small test market, judged without the naive-baseline tests' } } };
    const result = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async () => {
      const features = await env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: `vol-features-${Date.now()}`, args: [{ import: experiment.import }] });
      // The label copied into a feature column (a careless target-derived feature).
      // Labels once per series: plantColumn visits every stored row, the first test's 4 years of 12 symbols too.
      const labels = new WeakMap<BarSeries, Float64Array>();
      const labelOf = (s: BarSeries) => labels.get(s) ?? labels.set(s, Float64Array.from(computeLabels(labelSpecSchema.parse(label), s, s.dates).value)).get(s)!;
      await plantColumn(db, features.features?.version as string, 'rsi_14', (s, t) => labelOf(s)[t]);
      return env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: `vol-leak-${Date.now()}`, args: [{ experiment }] });
    });
    expect(result.datasetGuards?.verdicts.filter((v) => v.tripped).map((v) => v.guard)).toEqual(['point_in_time_audit', 'single_feature_scan']);
    const [candidate] = result.candidates ?? [];
    expect(candidate.evaluation.report.classification.rocAuc).toBeGreaterThan(0.95);
    expect(candidate.evaluation.report.guards.find((g) => g.guard === 'plausibility_bound')?.tripped).toBe(true);
    expect(result.promoted).toBeUndefined();
    expect(candidate.registration.decision.reason).toMatch(/^not promoted: guard point_in_time_audit tripped: .*rsi_14.*guard single_feature_scan tripped: suspected leak: rsi_14 alone scores AUC 1\.0000/);
    expect(await aliasHistory(db.store, 'vol-leaky')).toEqual([]);
    const alerts = await listAlerts(db.store, { rule: 'leakage_guard', subject: 'model vol-leaky' });
    expect(alerts.length).toBeGreaterThanOrEqual(1);
    expect(alerts.every((a) => a.severity === 'critical')).toBe(true);
  });
});

/** Five synthetic symbols named PREFIX01..05 instead of SYN01..05, so a run imports symbols the store does not hold yet. */
async function renamedMarket(dirPrefix: string, prefix: string, seed: number, options: SyntheticMarketOptions = {}): Promise<string> {
  const data = tempDir(dirPrefix);
  await writeSyntheticMarket(data, { symbols: 5, from: '2016-01-04', to: '2018-03-29', plantErrors: false, seed, ...options });
  for (const file of fs.readdirSync(data).filter((f) => f.endsWith('.csv'))) {
    fs.writeFileSync(path.join(data, file.replace('SYN', prefix)), fs.readFileSync(path.join(data, file), 'utf8').replaceAll('SYN', prefix));
    fs.rmSync(path.join(data, file));
  }
  return data;
}

/** Overwrites one stored feature column with a value computed from the symbol's bars at bar t (NaN drops the row), as a look-ahead bug would. */
async function plantColumn(db: TestDatabase, version: string, column: string, value: (series: BarSeries, t: number) => number): Promise<void> {
  const columns = (await getFeatureSetColumns(db.store, version)) as string[];
  const c = columns.indexOf(column);
  const rows = await readFeatureRows(db.store, version, {});
  const series = new Map((await readBarSeries(db.store, { symbols: [...new Set(rows.map((r) => r.symbol))] })).map((s) => [s.symbol, s]));
  const planted = rows.flatMap((r) => {
    const s = series.get(r.symbol);
    const t = s?.dates.indexOf(r.date) ?? -1;
    const v = s && t >= 0 ? value(s, t) : NaN;
    if (!Number.isFinite(v)) return [];
    const values = r.values.slice();
    values[c] = v;
    return [{ ...r, values }];
  });
  await db.store.db.deleteFrom('feature_rows').where('version', '=', version).where('symbol', 'in', [...series.keys()]).execute();
  await writeFeatureRows(db.store, version, planted);
}
