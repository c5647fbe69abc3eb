/**
 * The read-only dashboard (/ui) in a real browser: Debian's chromium driven by playwright-core
 * against the API started in-process on a loopback port, over a SQLite store seeded with a model
 * (champion v1, challenger v2), a finished canary deployment with its analyses, an open alert, a
 * monitoring report with drift per feature, and run reports built by lib/reports from seeded
 * validation data (dataset, walk-forward predictions and bars filed like a training run files them).
 * Screenshots go to test-results/.
 */
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import { launchChromium, SCREENSHOTS } from '../helpers/browser';
import { logDeploymentAnalysis } from '../../lib/deployment/analysis-log';
import type { Browser, Page } from 'playwright-core';
import { raiseAlert } from '../../lib/alerts/alert-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { apiTokensSchema } from '../../lib/config';
import { parseDeploymentRequest } from '../../lib/deployment/plan';
import { freshnessOf } from '../../lib/monitoring/freshness';
import { backtestPromiseOf, livePerformanceOf } from '../../lib/monitoring/live-performance';
import { saveMonitoringReport, type ModelMonitoringReport } from '../../lib/monitoring/model-report';
import { moveAlias, registerModel } from '../../lib/registry/model-registry';
import { REPORT_SECTIONS } from '../../lib/reports/html';
import { generateVersionReport } from '../../lib/reports/version-report';
import { upsertBars } from '../../lib/store/bars';
import { writeDataset } from '../../lib/training/dataset';
import { writePredictions } from '../../lib/training/walk-forward';
import { encodeArtifact } from '../../models/artifact';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { FIXTURE_FEATURE_SET, fixtureDataset, fixtureModel, fixturePredictions, fixtureSeries, fixtureVersion, MOMENTUM_COLUMN, VOLUME_COLUMN } from '../helpers/report-fixture';
import { saveTestFeatureSet } from '../helpers/registration';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

const READ_TOKEN = 'dashboard-read-token-0001';
const PREDICT_TOKEN = 'dashboard-predict-token-01';
const MODEL = 'demo-direction';

jest.setTimeout(120_000);

async function seed(t: TestDatabase, artifactDir: string): Promise<void> {
  const ds = fixtureDataset();
  const artifacts = localArtifactStore(artifactDir);
  const datasetId = (await writeDataset(artifacts, ds)).id;
  const predictionsId = await writePredictions(artifacts, { ...fixturePredictions(), datasetId });
  await upsertBars(t.store, fixtureSeries().flatMap((s) => s.dates.map((date, i) => ({ symbol: s.symbol, date, open: s.open[i], high: s.high[i], low: s.low[i], close: s.close[i], volume: s.volume[i] }))));
  const model = await fixtureModel(ds);
  const template = fixtureVersion();
  expect((await saveTestFeatureSet(t.store, FIXTURE_FEATURE_SET)).version).toBe(template.featureSetVersion); // the reports load the model, which verifies its feature set and order against it
  const register = (version: number, metrics: Record<string, unknown>, lineage: Record<string, unknown>) =>
    registerModel(t.store, artifacts, {
      name: MODEL,
      version,
      artifact: encodeArtifact(model.state(), { featureSetVersion: template.featureSetVersion, label: template.label }),
      algorithm: template.algorithm,
      params: template.params,
      seed: template.seed,
      featureSetVersion: template.featureSetVersion,
      label: template.label,
      snapshotId: null,
      snapshotHash: null,
      codeVersion: 'test',
      workflowId: `pipeline-ui-${version}`,
      runId: 'run-1',
      registrationKey: `pipeline-ui-${version}/run-1/logistic_regression`,
      metrics,
      lineage,
    });
  // v1 as an older version registers it: no stored evaluation or trials. v2 as a training run does today.
  await register(1, {}, {});
  await register(2, template.metrics, { ...template.lineage, datasetId, walkForward: { predictionsId, rows: 12, windows: 1 } });
  await moveAlias(t.store, { name: MODEL, alias: 'champion', version: 1, movedBy: 'test', reason: 'first model' });
  await moveAlias(t.store, { name: MODEL, alias: 'challenger', version: 2, movedBy: 'workflow pipeline-ui-2', reason: 'auc 0.80 beats the champion by 0.05' });
  await generateVersionReport(t.store, artifacts, { name: MODEL, version: 1, record: true });
  await generateVersionReport(t.store, artifacts, {
    name: MODEL,
    version: 2,
    record: true,
    decision: { promote: true, reason: 'auc 0.80 beats the champion by 0.05' },
    datasetGuards: [{ guard: 'point_in_time_audit', tripped: false, message: '30 sampled rows recomputed from bars: all equal' }],
  });

  const plan = parseDeploymentRequest({ model: MODEL, challengerVersion: 2, startedBy: 'pipeline pipeline-ui-2', canary: { steps: [5, 25, 50, 100] } });
  const analyses = [
    { at: '2024-02-07T10:05:00.000Z', phase: 'canary', weight: 0.05, verdict: 'pass', reasons: ['error rate 0.0% vs 0.0%', 'latency p99 12 ms vs 11 ms'] },
    { at: '2024-02-07T10:10:00.000Z', phase: 'canary', weight: 0.25, verdict: 'inconclusive', reasons: ['hit rate 51.0% vs 52.5% on 180 matured pairs: not enough evidence'] },
  ];
  await t.store.db
    .insertInto('deployments')
    .values({
      id: `deploy-${MODEL}-v2`,
      model: MODEL,
      mode: 'canary',
      champion_version: 1,
      challenger_version: 2,
      status: 'kept-champion',
      plan: JSON.stringify(plan),
      outcome: JSON.stringify({ deploymentId: `deploy-${MODEL}-v2`, model: MODEL, mode: 'canary', championVersion: 1, challengerVersion: 2, status: 'kept-champion', step: 1, steps: [5, 25, 50, 100], challengerWeight: 0, failures: 0, analyses, analysisCount: 2, decisions: [{ at: '2024-02-07T10:12:00.000Z', message: 'kept the champion: step 2 inconclusive past its deadline' }], decisionCount: 1, blockers: [], run: 1 }),
      started_by: plan.startedBy,
      started_at: '2024-02-07T10:00:00.000Z',
      ended_at: '2024-02-07T10:12:00.000Z',
    })
    .execute();

  // A rollout still running: no final state, its analyses only in the analysis log.
  const runningId = `deploy-${MODEL}-v3`;
  await t.store.db
    .insertInto('deployments')
    .values({ id: runningId, model: MODEL, mode: 'canary', champion_version: 1, challenger_version: 2, status: 'running', plan: JSON.stringify(plan), outcome: null, started_by: 'a person', started_at: '2024-02-08T09:00:00.000Z', ended_at: null })
    .execute();
  await logDeploymentAnalysis(t.store, { deploymentId: runningId, seq: 1, phase: 'canary', weight: 0.05 }, { verdict: 'pass', reasons: ['canary error rate 0.0% is within 1.0%'], detail: {} }, new Date('2024-02-08T09:05:00.000Z'));
  await logDeploymentAnalysis(t.store, { deploymentId: runningId, seq: 2, phase: 'canary', weight: 0.25 }, { verdict: 'inconclusive', reasons: ['only 12 matured pairs (need 30); 140 paired requests await their outcome'], detail: {} }, new Date('2024-02-08T09:10:00.000Z'));

  await raiseAlert(t.store, { rule: 'data_drift', severity: 'warning', subject: `model ${MODEL} v1`, message: `feature ${MOMENTUM_COLUMN} drifted: PSI 0.31 (q 0.002)`, evidence: { features: [MOMENTUM_COLUMN] } });

  const now = new Date('2024-02-08T12:00:00.000Z');
  const report: ModelMonitoringReport = {
    id: 'mon-ui-1',
    model: MODEL,
    version: 1,
    variants: ['champion'],
    champion: true,
    createdAt: now.toISOString(),
    windowDays: 20,
    reference: { available: true, reason: 'profile of 18 training rows over 6 days' },
    drift: {
      status: 'drift',
      reason: '1 of 2 features drifted (q < 0.05 and PSI ≥ 0.1)',
      window: { from: '2024-02-01', to: '2024-02-07', days: 5, rows: 15 },
      q: 0.05,
      minPsi: 0.1,
      drifted: [MOMENTUM_COLUMN],
      maxPsi: 0.31,
      features: [
        { name: MOMENTUM_COLUMN, psi: 0.31, pValue: 0.001, qValue: 0.002, drifted: true, referenceMean: 0.01, liveMean: 0.09, referenceStd: 0.2, liveStd: 0.25, referenceMissingShare: 0, liveMissingShare: 0 },
        { name: VOLUME_COLUMN, psi: 0.02, pValue: 0.6, qValue: 0.6, drifted: false, referenceMean: 2, liveMean: 2.1, referenceStd: 1.4, liveStd: 1.3, referenceMissingShare: 0, liveMissingShare: 0 },
      ],
      missingColumns: [],
    },
    predictionDrift: { status: 'stable', reason: 'score PSI 0.03', rows: 15, days: 5, psi: 0.03, pValue: 0.4, referenceMean: 0.5, liveMean: 0.51 },
    performance: { ...livePerformanceOf([], backtestPromiseOf({})), since: '2024-01-09T12:00:00.000Z', predictions: 0, unmatured: 0, noLabel: 0 },
    freshness: freshnessOf(new Map([['AAA', '2024-02-07'], ['BBB', '2024-02-07'], ['CCC', '2024-02-07']]), now),
  };
  await saveMonitoringReport(t.store, report);
}

describe('dashboard in a browser', () => {
  let t: TestDatabase;
  let stack: ApiStack;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    browser = await launchChromium();
    t = await createSqliteTestDatabase();
    const artifactDir = tempDir('mlp-ui-artifacts-');
    await seed(t, artifactDir);
    // The API process as api/main.ts builds it, reports read from the same artifact store.
    stack = await startApiStack({ store: t.store, cache: new MemoryCache(), artifactDir, tokens: apiTokensSchema.parse(`ui:${READ_TOKEN}=read,svc:${PREDICT_TOKEN}=predict`) });
    await stack.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await t?.drop();
  });

  async function login(token: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`${base}/ui/models`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await page.fill('#token', token);
    await Promise.all([page.waitForLoadState('load'), page.click('#login-submit')]);
    return page;
  }

  it('refuses a token without the read scope, at the form and on every page', async () => {
    const page = await login(PREDICT_TOKEN);
    expect(await page.textContent('#login-error')).toContain('lacks the read scope');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-refused.png'), fullPage: true });
    // A predict-only token given directly (header) is refused too; no token is sent to the login form.
    const forbidden = await fetch(`${base}/ui/alerts`, { headers: { authorization: `Bearer ${PREDICT_TOKEN}` }, redirect: 'manual' });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.text()).not.toContain(`feature ${MOMENTUM_COLUMN} drifted`);
    const anonymous = await fetch(`${base}/ui/alerts`, { redirect: 'manual' });
    expect([anonymous.status, anonymous.headers.get('location')]).toEqual([303, '/ui/login']);
    // The read token is no prediction token.
    const predict = await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    expect(predict.status).toBe(403);
    await page.close();
  });

  it('shows models, versions, champion and challenger, and serves each run report', async () => {
    const page = await login(READ_TOKEN);
    expect(new URL(page.url()).pathname).toBe('/ui/models');
    const card = page.locator(`.model[data-model="${MODEL}"]`);
    expect(await card.locator('h2').textContent()).toBe(MODEL);
    const rows = card.locator('tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.nth(0).locator('.version').textContent()).toBe('v2');
    expect(await rows.nth(0).locator('[data-alias]').allTextContents()).toEqual(['challenger']);
    expect(await rows.nth(1).locator('.version').textContent()).toBe('v1');
    expect(await rows.nth(1).locator('[data-alias]').allTextContents()).toEqual(['champion']);
    expect(await rows.nth(0).textContent()).toContain('vs always_up 0.4200');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-models.png'), fullPage: true });

    await Promise.all([page.waitForLoadState('load'), rows.nth(0).locator('a.report-link').click()]);
    expect(new URL(page.url()).pathname).toBe(`/ui/models/${MODEL}/versions/2/report`);
    expect(await page.locator('h1').textContent()).toContain(`${MODEL} v2`);
    for (const [id, heading] of REPORT_SECTIONS) {
      const section = page.locator(`section#${id}`);
      expect([id, await section.getAttribute('data-recorded')]).toEqual([id, 'true']);
      expect(await section.locator('h2').textContent()).toBe(heading);
    }
    for (const id of ['equity', 'monthly-returns', 'ic', 'monthly-accuracy', 'roc', 'calibration', 'confusion', 'importance', 'trials']) {
      const charts = page.locator(`section#${id} svg.chart`);
      expect([id, (await charts.count()) > 0]).toEqual([id, true]);
      // Rendered: the browser laid the chart out with a size, and it has drawn marks.
      const box = await charts.first().boundingBox();
      expect([id, (box?.width ?? 0) > 100 && (box?.height ?? 0) > 100]).toEqual([id, true]);
      expect([id, await charts.first().locator('polyline, rect.bar, rect.cell').count()]).not.toEqual([id, 0]);
    }
    expect(await page.locator('section#equity polyline[data-series="buy-and-hold"]').count()).toBeGreaterThan(0);
    expect(await page.locator('section#promotion').textContent()).toContain('auc 0.80 beats the champion by 0.05');
    expect(await page.locator('section#guards').textContent()).toContain('point_in_time_audit');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'report-v2.png'), fullPage: true });

    // The older version's report says what it lacks instead of failing.
    await page.goto(`${base}/ui/models/${MODEL}/versions/1/report`);
    expect(await page.locator('section#equity').getAttribute('data-recorded')).toBe('false');
    expect(await page.locator('section#equity').textContent()).toContain('not recorded for this version');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'report-v1-older.png'), fullPage: true });
    await page.close();
  });

  it('shows the deployment step timeline and analyses, open alerts and drift per feature', async () => {
    const page = await login(READ_TOKEN);
    await page.click('nav >> text=Deployments');
    const deployment = page.locator(`.deployment[data-deployment="deploy-${MODEL}-v2"]`);
    expect(await deployment.locator('.status').textContent()).toBe('kept-champion');
    expect(await deployment.locator('ol.timeline li').allTextContents()).toEqual(['step 1: 5%', 'step 2: 25%', 'step 3: 50%', 'step 4: 100%']);
    expect(await deployment.locator('ol.timeline li.done').allTextContents()).toEqual(['step 1: 5%']);
    expect(await deployment.locator('ol.timeline li.current').allTextContents()).toEqual(['step 2: 25%']);
    expect(await deployment.locator('.verdict').allTextContents()).toEqual(['pass', 'inconclusive']);
    expect(await deployment.textContent()).toContain('hit rate 51.0% vs 52.5% on 180 matured pairs');
    expect(await deployment.textContent()).toContain('kept the champion: step 2 inconclusive past its deadline');
    // The running one, from its analysis log: the step its newest analysis ran at is current.
    const running = page.locator(`.deployment[data-deployment="deploy-${MODEL}-v3"]`);
    expect(await running.locator('.status').textContent()).toBe('running');
    expect(await running.locator('ol.timeline li.done').allTextContents()).toEqual(['step 1: 5%']);
    expect(await running.locator('ol.timeline li.current').allTextContents()).toEqual(['step 2: 25%']);
    expect(await running.locator('.verdict').allTextContents()).toEqual(['pass', 'inconclusive']);
    expect(await running.textContent()).toContain('only 12 matured pairs (need 30)');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-deployments.png'), fullPage: true });

    await page.click('nav >> text=Alerts');
    expect(await page.locator('.alert-message').allTextContents()).toEqual([`feature ${MOMENTUM_COLUMN} drifted: PSI 0.31 (q 0.002)`]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-alerts.png'), fullPage: true });

    await page.click('nav >> text=Monitoring');
    const monitoring = page.locator(`.monitoring[data-model="${MODEL}"]`);
    expect(await monitoring.locator('h2').textContent()).toContain('v1');
    expect(await monitoring.locator('.feature').allTextContents()).toEqual([MOMENTUM_COLUMN, VOLUME_COLUMN]);
    expect(await monitoring.locator('.drifted').allTextContents()).toEqual(['drifted']);
    expect(await monitoring.textContent()).toContain('1 of 2 features drifted');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-monitoring.png'), fullPage: true });

    // Logging out drops the cookie: the next page asks for a token again.
    await page.click('nav >> text=Log out');
    await page.goto(`${base}/ui/models`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await page.close();
  });
});
