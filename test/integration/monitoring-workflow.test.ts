/**
 * monitoringWorkflow through the real Temporal dev server and a real SQLite store: a served model
 * whose live feature rows drifted and whose matured predictions are all wrong, on stale bars. One
 * run stores the report, raises the alerts and starts the retraining run; two more at the same
 * time find that run (cool-down, memo), and a retrain already running blocks another. One retrain
 * of a model at a time across the retraining schedule, the drift path and runs started by hand.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ScheduleDescription, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { retrainSchedule } from '../../client/schedules';
import type { ImportRequestInput } from '../../lib/ingest/import-request';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { experimentSchema, type ExperimentInput } from '../../lib/experiments/experiment';
import { appRegistry } from '../../lib/metrics/registry';
import { saveReferenceProfile } from '../../lib/monitoring/profile-store';
import { buildReferenceProfile } from '../../lib/monitoring/reference-profile';
import { rng } from '../../lib/random';
import { getModelVersion, loadRegisteredModel, moveAlias, registerModel } from '../../lib/registry/model-registry';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { readBarSeries } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { writeFeatureRows } from '../../lib/store/features';
import { TASK_QUEUES } from '../../lib/task-queues';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { monitoringWorkflow, pipelineStatusQuery, trainingPipeline, type MonitoringSummary, type MonitoringWorkflowInput, type TrainingPipelineResult } from '../../workflows';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { smallExperiment } from '../helpers/experiments';
import { NOISE_COLUMN, ORACLE_COLUMNS, ORACLE_HORIZON, registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';
import { startTemporal, withWorkers, workflowBundle } from '../helpers/temporal';
import { recordHistory } from '../helpers/workflow-histories';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

/**
 * A wrong-every-time model over the oracle columns, served as champion, with a reference profile,
 * drifted live features and matured predictions. Its experiment imports from a folder that does
 * not exist (a retrain starts, then fails at ingest, quickly), or from `importSource`.
 */
async function seedDriftingModel(store: Database, cache: MemoryCache, artifactDir: string, market: OracleMarket, name: string, importSource?: ImportRequestInput['source']): Promise<number> {
  const featureSetVersion = market.featureSetVersion;
  const base = smallExperiment(tempDir('mlp-monitoring-nodata-') + '/missing', name);
  const experiment = experimentSchema.parse({ ...base, ...(importSource ? { import: { source: importSource } } : {}), dates: { cutoff: '2017-03-31' } });
  const next = rng(9);
  const version = await registerOracleModel(store, artifactDir, { name, seed: 9, flip: true, featureSetVersion, metrics: { outOfSample: { classification: { accuracy: 0.6, rocAuc: 0.62 } } }, lineage: { experiment } });
  const { model: loaded } = await loadRegisteredModel(store, localArtifactStore(artifactDir), name, version);
  const scoreOf = (oracle: number, noise: number) => loaded.predictProba({ values: Float64Array.of(oracle, noise), rows: 1, featureNames: ORACLE_COLUMNS })[1];

  const series = await readBarSeries(store, { symbols: market.symbols });
  const referenceDays = series[0].dates.slice(0, 60);
  const n = referenceDays.length * series.length;
  const ref = new Float64Array(n * 2);
  const day = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const d = Math.floor(i / series.length);
    const s = series[i % series.length];
    ref[i * 2] = s.close[d + ORACLE_HORIZON] > s.open[d + 1] ? 1 : -1;
    ref[i * 2 + 1] = next() - 0.5;
    day[i] = d;
  }
  await saveReferenceProfile(store, buildReferenceProfile({ model: name, version, featureSetVersion, features: { columns: ORACLE_COLUMNS, rows: n, values: ref, day }, dayLabels: referenceDays, symbols: market.symbols }));
  await writeFeatureRows(store, featureSetVersion, market.symbols.flatMap((symbol) => series[0].dates.slice(-12).map((date) => ({ symbol, date, values: Float64Array.of(next() < 0.5 ? 1 : -1, next() - 0.5 + 3) }))));
  const now = new Date().toISOString();
  const log = series.flatMap((s) =>
    s.dates.slice(-60, -20).map((asOf, k) => {
      const t = s.dates.length - 60 + k;
      const p = scoreOf(s.close[t + ORACLE_HORIZON] > s.open[t + 1] ? 1 : -1, next() - 0.5);
      const requestId = crypto.randomBytes(8).toString('hex');
      return { id: `${requestId}:champion`, request_id: requestId, model: name, version, variant: 'champion', served: 1, symbol: s.symbol, routing_key: s.symbol, as_of: asOf, probability: p, predicted_class: p > 0.5 ? 1 : 0, latency_us: 100, error: null, created_at: now };
    }),
  );
  for (let i = 0; i < log.length; i += 200) await store.db.insertInto('prediction_log').values(log.slice(i, i + 200)).execute();
  await moveAlias(store, { name, alias: 'champion', version, movedBy: 'test', reason: 'first model' });
  await writeServingRoutes(store, cache, { model: name, mode: 'single', routes: singleRoute(version), updatedBy: 'test', reason: 'first model' });
  return version;
}

describe('monitoringWorkflow (real Temporal server, SQLite)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  let cache: MemoryCache;
  let artifactDir: string;
  let market: OracleMarket;

  beforeAll(async () => {
    env = await startTemporal();
    t = await createSqliteTestDatabase();
    cache = new MemoryCache();
    artifactDir = tempDir('mlp-monitoring-wf-');
    market = await setUpOracleMarket(t.store, cache, 12);
  });
  afterAll(async () => {
    await t?.drop();
    await env?.teardown();
  });

  const monitor = (id: string, input: MonitoringWorkflowInput): Promise<MonitoringSummary> => env.client.workflow.execute(monitoringWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [input] });
  /** Executions of a workflow id, once visibility has caught up with `expected` of them. */
  async function executionsOf(workflowId: string, expected: (n: number) => boolean): Promise<Array<{ runId: string; status: string }>> {
    let found: Array<{ runId: string; status: string }> = [];
    for (let i = 0; i < 100; i++) {
      found = [];
      for await (const e of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) found.push({ runId: e.runId, status: e.status.name });
      if (expected(found.length)) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    return found;
  }

  it('reports, alerts, and starts exactly one retraining run however often it is triggered', async () => {
    const version = await seedDriftingModel(t.store, cache, artifactDir, market, 'mon-drift');
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const first = await monitor(`monitor-1-${Date.now()}`, { models: ['mon-drift'], retrainOnDrift: true });
      expect(first.windowDays).toBe(10);
      expect(first.versions).toHaveLength(1);
      const v = first.versions[0];
      expect(v).toMatchObject({ model: 'mon-drift', version, variants: ['champion'], champion: true });
      expect(v.drift).toMatchObject({ status: 'drift', drifted: [NOISE_COLUMN] });
      expect(v.performance).toMatchObject({ status: 'degraded', hitRate: 0 });
      expect(v.freshness.status).toBe('stale');
      expect(v.alerts.map((a) => `${a.rule}:${a.severity}:${a.suppressed}`).sort()).toEqual(['data_drift:critical:false', 'data_stale:critical:false', 'performance_degraded:critical:false']);
      expect(first.blockDeployments).toEqual(['data for model mon-drift']);
      const driftAlert = v.alerts.find((a) => a.rule === 'data_drift');
      expect(first.retraining).toEqual([{ model: 'mon-drift', status: 'started', workflowId: 'retrain-mon-drift', runId: expect.any(String), reason: expect.stringMatching(/^data_drift: /) }]);

      // The report is stored, the gauges are set, the alerts carry their evidence.
      const stored = await t.store.db.selectFrom('monitoring_reports').selectAll().where('id', '=', v.reportId).executeTakeFirstOrThrow();
      expect(JSON.parse(stored.report)).toMatchObject({ model: 'mon-drift', version, drift: { drifted: [NOISE_COLUMN] }, performance: { status: 'degraded' } });
      expect(await appRegistry.getSingleMetricAsString('monitoring_hit_rate')).toMatch(/monitoring_hit_rate\{model="mon-drift",variant="champion"\} 0/);
      const alertRow = await t.store.db.selectFrom('alerts').selectAll().where('id', '=', driftAlert?.alertId as string).executeTakeFirstOrThrow();
      expect(JSON.parse(alertRow.evidence)).toMatchObject({ reportId: v.reportId, drifted: [{ name: NOISE_COLUMN }] });

      // The run is the champion's experiment, cut-off dropped, with the alert in its memo.
      const retrain = env.client.workflow.getHandle('retrain-mon-drift');
      const described = await retrain.describe();
      expect(described.type).toBe('trainingPipeline');
      expect(described.memo).toMatchObject({ alertId: driftAlert?.alertId });
      const history = await retrain.fetchHistory();
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      expect(started?.input?.payloads?.length).toBe(1);
      const input = JSON.parse(Buffer.from(started?.input?.payloads?.[0]?.data as Uint8Array).toString('utf8')) as { experiment: { name: string; dates: Record<string, unknown> } };
      expect(input.experiment.name).toBe('mon-drift');
      expect(input.experiment.dates.cutoff).toBeUndefined();

      // Triggered twice more at the same moment: the alerts are suppressed (cool-down) and both find the run.
      const again = await Promise.all([monitor(`monitor-2-${Date.now()}`, { models: ['mon-drift'], retrainOnDrift: true }), monitor(`monitor-3-${Date.now()}`, { models: ['mon-drift'], retrainOnDrift: true })]);
      for (const s of again) {
        expect(s.versions[0].alerts.every((a) => a.suppressed)).toBe(true);
        expect(s.versions[0].alerts.find((a) => a.rule === 'data_drift')?.alertId).toBe(driftAlert?.alertId);
        expect(s.retraining).toEqual([expect.objectContaining({ model: 'mon-drift', status: 'already-started', workflowId: 'retrain-mon-drift' })]);
      }
      expect(await executionsOf('retrain-mon-drift', (n) => n >= 1)).toHaveLength(1);

      // The retrain fails at ingest (no data there); pipeline health sees it.
      await expect(retrain.result()).rejects.toThrow();
      expect((await executionsOf('retrain-mon-drift', (n) => n >= 1)).map((e) => e.status)).toEqual(['FAILED']);

      // A retrain that is running blocks another, even for a new alert (no cool-down here).
      const blocker = await env.client.workflow.start('trainingPipeline', { workflowId: 'retrain-mon-drift', taskQueue: 'monitoring-test-no-worker', args: [{}], memo: { alertId: 'manual' } });
      try {
        const noCooldown = { data_drift: { cooldownSeconds: 0 }, performance_degraded: { cooldownSeconds: 0 }, data_stale: { cooldownSeconds: 0 } };
        const fourth = await monitor(`monitor-4-${Date.now()}`, { models: ['mon-drift'], retrainOnDrift: true, rules: noCooldown });
        expect(fourth.versions[0].alerts.every((a) => !a.suppressed)).toBe(true);
        expect(fourth.retraining).toEqual([expect.objectContaining({ status: 'already-running', runId: blocker.firstExecutionRunId })]);
        expect(fourth.pipeline.status).toBe('failing');
        expect(fourth.pipeline.alerts.map((a) => a.rule)).toEqual(['pipeline_failed']);
        expect(await executionsOf('retrain-mon-drift', (n) => n >= 2)).toHaveLength(2);
      } finally {
        await blocker.terminate('test over');
      }
    });
  });

  it('starts one retrain per condition: none again once a retrain for it completed and the champion stayed', async () => {
    const version = await seedDriftingModel(t.store, cache, artifactDir, market, 'mon-again');
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const noCooldown = { data_drift: { cooldownSeconds: 0 }, performance_degraded: { cooldownSeconds: 0 }, data_stale: { cooldownSeconds: 0 }, pipeline_failed: { enabled: false } };
      // A retrain for the drift of the champion before this one (a quick stand-in workflow under its id and memo) is another matter: one starts.
      const older = await env.client.workflow.start(monitoringWorkflow, { workflowId: 'retrain-mon-again', taskQueue: TASK_QUEUES.pipeline, args: [{ models: ['no-such-model'] }], memo: { alertId: 'older-alert', reason: 'data_drift: older', championVersion: version - 1, rule: 'data_drift' } });
      await older.result();
      const first = await monitor(`monitor-again-1-${Date.now()}`, { models: ['mon-again'], retrainOnDrift: true, rules: noCooldown });
      expect(first.retraining).toEqual([expect.objectContaining({ status: 'started', workflowId: 'retrain-mon-again' })]);
      const started = env.client.workflow.getHandle('retrain-mon-again');
      expect((await started.describe()).memo).toMatchObject({ championVersion: version, rule: 'data_drift' });
      await started.result().catch(() => undefined);
      // A retrain monitoring started for this drift of this champion, completed (a stand-in again).
      const earlier = await env.client.workflow.start(monitoringWorkflow, { workflowId: 'retrain-mon-again', taskQueue: TASK_QUEUES.pipeline, args: [{ models: ['no-such-model'] }], memo: { alertId: 'earlier-alert', reason: 'data_drift: earlier', championVersion: version, rule: 'data_drift' } });
      await earlier.result();
      // The drift is still there twelve hours later (a new alert): no second retrain on it.
      const again = await monitor(`monitor-again-${Date.now()}`, { models: ['mon-again'], retrainOnDrift: true, rules: noCooldown });
      expect(again.versions[0].alerts.find((a) => a.rule === 'data_drift')?.suppressed).toBe(false);
      expect(again.retraining).toEqual([expect.objectContaining({ model: 'mon-again', status: 'skipped', workflowId: 'retrain-mon-again', reason: expect.stringMatching(/a retrain for data_drift of v\d+ completed .* still the champion/) })]);
      expect(await executionsOf('retrain-mon-again', (n) => n >= 3)).toHaveLength(3);
    });
  });

  it('starts none again for a condition a retrain completed for, even when a retrain for another rule ran after it', async () => {
    const version = await seedDriftingModel(t.store, cache, artifactDir, market, 'mon-alt');
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const noCooldown = { data_drift: { cooldownSeconds: 0 }, performance_degraded: { cooldownSeconds: 0 }, data_stale: { cooldownSeconds: 0 }, pipeline_failed: { enabled: false } };
      // Completed retrains of this champion (quick stand-ins under the id and memo monitoring gives them): one for its drift, then one for its hit rate.
      const standIn = async (rule: string) => (await env.client.workflow.start(monitoringWorkflow, { workflowId: 'retrain-mon-alt', taskQueue: TASK_QUEUES.pipeline, args: [{ models: ['no-such-model'] }], memo: { alertId: `${rule}-alert`, reason: `${rule}: earlier`, championVersion: version, rule } }));
      const drift = await standIn('data_drift');
      await drift.result();
      await (await standIn('performance_degraded')).result();
      // The drift is still there: the retrain for it completed and the champion stayed, so none again.
      const again = await monitor(`monitor-alt-${Date.now()}`, { models: ['mon-alt'], retrainOnDrift: true, rules: noCooldown });
      expect(again.retraining).toEqual([expect.objectContaining({ model: 'mon-alt', status: 'skipped', runId: drift.firstExecutionRunId, reason: expect.stringMatching(/a retrain for data_drift of v\d+ completed/) })]);
      expect(await executionsOf('retrain-mon-alt', (n) => n >= 2)).toHaveLength(2);
    });
  });

  it('never alarms on what it cannot judge: no reference profile, no matured outcomes; no retrain unless asked', async () => {
    const version = await registerOracleModel(t.store, artifactDir, { name: 'mon-bare', seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    await moveAlias(t.store, { name: 'mon-bare', alias: 'champion', version, movedBy: 'test', reason: 'first model' });
    await writeServingRoutes(t.store, cache, { model: 'mon-bare', mode: 'single', routes: singleRoute(version), updatedBy: 'test', reason: 'first model' });
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const summary = await monitor(`monitor-bare-${Date.now()}`, { models: ['mon-bare'], rules: { pipeline_failed: { enabled: false } } });
      const v = summary.versions[0];
      expect(v.drift.status).toBe('unavailable');
      expect(v.predictionDrift.status).toBe('unavailable');
      expect(v.performance).toMatchObject({ status: 'insufficient-data', samples: 0 });
      // Only the bars' age is judged, and it is stale.
      expect(v.alerts.map((a) => a.rule)).toEqual(['data_stale']);
      expect(summary.retraining).toEqual([]);
      expect(summary.pipeline.alerts).toEqual([]);
      // A model that is not served is not monitored, and that is alerted (a misspelt --models watched nothing while every run said healthy).
      const noneId = `monitor-none-${Date.now()}`;
      const none = await monitor(noneId, { models: ['not-served'] });
      // Replayed by test/integration/replay-deployment.test.ts (a run with patched('unserved-models-alert')); recorded alone with
      //   RECORD_HISTORIES=1 npx jest test/integration/monitoring-workflow.test.ts -t "never alarms on what it cannot judge"
      await recordHistory(env, 'monitoring-v3-unserved-models-alert', noneId);
      expect(none.versions).toEqual([]);
      expect(none.unserved).toMatchObject({ models: ['not-served'], alerts: [{ rule: 'monitoring_target_unserved', severity: 'critical', subject: 'model not-served', suppressed: false }] });
      // Bad rules fail the run with the field named.
      const failure = await monitor(`monitor-bad-rules-${Date.now()}`, { models: ['mon-bare'], rules: { data_drift: { q: 5 } } }).then(() => undefined, (error: Error & { cause?: Error & { cause?: Error } }) => error);
      expect(failure?.cause?.cause?.message).toMatch(/invalid monitoring rules: data_drift\.q/);
    });
  });

  it('keeps monitoring the other versions when one cannot be judged', async () => {
    // A version whose label spec this code cannot read: its report fails (not retryable), the other one is made.
    const model = await logisticRegression.fit({ features: { values: Float64Array.of(1, 0, -1, 0), rows: 2, featureNames: ORACLE_COLUMNS }, labels: Int32Array.of(1, 0), classes: 2, seed: 1 }, {});
    const label = { kind: 'no-such-label', horizon: 5 };
    const broken = await registerModel(t.store, localArtifactStore(artifactDir), {
      name: 'mon-broken', artifact: encodeArtifact(model.state(), { featureSetVersion: market.featureSetVersion, label }), algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion: market.featureSetVersion, label,
      snapshotId: null, snapshotHash: null, codeVersion: 'test', workflowId: null, runId: null, registrationKey: `mon-broken/${crypto.randomUUID()}`, metrics: {}, lineage: {},
    });
    await writeServingRoutes(t.store, cache, { model: 'mon-broken', mode: 'single', routes: singleRoute(broken.version), updatedBy: 'test', reason: 'test' });
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const summary = await monitor(`monitor-partial-${Date.now()}`, { models: ['mon-broken', 'mon-bare'], rules: { pipeline_failed: { enabled: false } } });
      expect(summary.failed).toEqual([{ model: 'mon-broken', version: broken.version, error: expect.stringMatching(/label spec this code cannot read/) }]);
      expect(summary.versions.map((v) => v.model)).toEqual(['mon-bare']);
    });
  });
  it('runs one retrain of a model at a time, whoever starts it: schedule, drift alert or by hand', async () => {
    // A data source that never answers: a retrain that gets past its first activity stays in its ingest step.
    const hanging = http.createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    const model = 'mon-excl';
    const version = await seedDriftingModel(t.store, cache, artifactDir, market, model, { kind: 'stooq', symbols: ['SYN01'], baseUrl });
    const experiment = (await getModelVersion(t.store, model, version)).lineage.experiment as ExperimentInput;
    const scheduleId = `retrain-${model}`;
    const schedule = env.client.schedule.getHandle(scheduleId);
    await env.client.schedule.create(retrainSchedule({ experiment, paused: true }));
    const open: WorkflowHandle[] = [];
    /** Triggers the schedule and returns the handle of the run it started. */
    const trigger = async (): Promise<WorkflowHandle<typeof trainingPipeline>> => {
      const before = new Set((await schedule.describe()).info.recentActions.map((a) => a.action.workflow.workflowId));
      await schedule.trigger();
      let d: ScheduleDescription | undefined;
      for (let i = 0; i < 300; i++) {
        d = await schedule.describe();
        const action = d.info.recentActions.find((a) => !before.has(a.action.workflow.workflowId));
        if (action) return env.client.workflow.getHandle(action.action.workflow.workflowId, action.action.workflow.firstExecutionRunId) as WorkflowHandle<typeof trainingPipeline>;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`schedule ${scheduleId} started nothing: ${JSON.stringify(d?.info)}`);
    };
    /** Waits until the run is in its ingest step (past the exclusion check). */
    const ingesting = async (handle: WorkflowHandle<typeof trainingPipeline>) => {
      for (let i = 0; i < 600; i++) {
        const status = await handle.query(pipelineStatusQuery).catch(() => undefined);
        if (status?.stages.find((x) => x.name === 'ingest')?.status === 'running') return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${handle.workflowId} never reached its ingest step`);
    };
    /** The run's result once it ends, or 'ingesting' as soon as it is past its first activity into the ingest step. */
    const outcome = async (handle: WorkflowHandle<typeof trainingPipeline>): Promise<TrainingPipelineResult | 'ingesting'> => {
      for (let i = 0; i < 600; i++) {
        if ((await handle.describe()).status.name !== 'RUNNING') return handle.result();
        const status = await handle.query(pipelineStatusQuery).catch(() => undefined);
        if (status?.stages.find((x) => x.name === 'ingest')?.status === 'running') return 'ingesting';
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${handle.workflowId} neither ended nor reached its ingest step`);
    };
    /** Activity types a run scheduled, from its history. */
    const activitiesOf = async (handle: WorkflowHandle) => ((await handle.fetchHistory()).events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
    try {
      await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
        try {
          // 1. The scheduled retrain (16:30) is running; the 16:35 monitoring run's drift alert starts no second one.
          const scheduled = await trigger();
          open.push(scheduled);
          expect(scheduled.workflowId).toMatch(new RegExp(`^${scheduleId}-`));
          await ingesting(scheduled);
          const during = await monitor(`monitor-excl-1-${Date.now()}`, { models: [model], retrainOnDrift: true });
          expect(during.versions[0].alerts.some((a) => a.rule === 'data_drift' && !a.suppressed)).toBe(true);
          expect(during.retraining).toEqual([{ model, status: 'already-running', workflowId: scheduled.workflowId, runId: expect.any(String), reason: expect.stringContaining(`schedule ${scheduleId}`) }]);
          expect(during.retraining[0].reason).toContain(`a retrain of ${model} is already running: ${scheduled.workflowId}`);
          expect(await executionsOf(`retrain-${model}`, () => true)).toEqual([]);
          await scheduled.terminate('test: the scheduled retrain is over');

          // 2. A drift retrain is running; the schedule's next run (and one started by hand) ends skipped, naming it.
          const noCooldown = { data_drift: { cooldownSeconds: 0 }, performance_degraded: { cooldownSeconds: 0 }, data_stale: { cooldownSeconds: 0 } };
          const drifted = await monitor(`monitor-excl-2-${Date.now()}`, { models: [model], retrainOnDrift: true, rules: noCooldown });
          expect(drifted.retraining).toEqual([expect.objectContaining({ model, status: 'started', workflowId: `retrain-${model}` })]);
          const drift = env.client.workflow.getHandle(`retrain-${model}`, drifted.retraining[0].runId) as WorkflowHandle<typeof trainingPipeline>;
          open.push(drift);
          await ingesting(drift);

          const next = await trigger();
          open.push(next);
          const ended = await outcome(next);
          expect(ended).not.toBe('ingesting');
          const skipped = ended as TrainingPipelineResult;
          expect(skipped.skipped?.running).toMatchObject({ workflowId: `retrain-${model}`, runId: drifted.retraining[0].runId, startedBy: expect.stringMatching(/^monitoring monitor-excl-2-/) });
          expect(skipped.skipped?.reason).toMatch(new RegExp(`^skipped: another retrain of ${model} is running, retrain-${model} \\(run `));
          expect(skipped.ingest).toBeUndefined();
          expect((await next.describe()).status.name).toBe('COMPLETED');
          expect(await activitiesOf(next)).toEqual(['resolveExperiment']);
          expect((await next.query(pipelineStatusQuery)).skipped).toBe(skipped.skipped?.reason);

          const byHand = await env.client.workflow.start(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: `pipeline-by-hand-${Date.now()}`, args: [{ experiment }] });
          open.push(byHand);
          expect(await outcome(byHand)).toMatchObject({ skipped: { running: { workflowId: `retrain-${model}` } } });

          // The drift retrain itself goes on: started first, it is the one that trains.
          expect((await drift.describe()).status.name).toBe('RUNNING');
          expect(await activitiesOf(drift)).toEqual(['resolveExperiment', 'ingestBars']);

          // A skipped run replays deterministically (recorded for test/integration/replay-training.test.ts with RECORD_HISTORIES=1).
          await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await next.fetchHistory(), next.workflowId);
          await recordHistory(env, 'training-pipeline-experiment-retrain-skipped', next.workflowId);

          // 3. Another model's retrain is not in the way.
          const other = await env.client.workflow.start(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: `pipeline-other-${Date.now()}`, args: [{ experiment: { ...experiment, name: 'mon-excl-other' } }] });
          open.push(other);
          await ingesting(other);
        } finally {
          for (const h of open) await h.terminate('test over').catch(() => undefined);
          hanging.closeAllConnections();
        }
      });
    } finally {
      await schedule.delete().catch(() => undefined);
      hanging.close();
    }
  });
});
