/**
 * trainAlgorithm and trainingPipeline with an experiment on a real Temporal dev server: a search
 * whose every trial fails ends the runs (ALL_TRIALS_FAILED) instead of retrying a workflow task for
 * ever; suggestions come from the suggestTrials local activity and repeat for a seed; and the
 * recorded histories of these paths replay without non-determinism.
 *
 * Re-record the committed histories (after a deliberate, patched change to these workflows):
 *   RECORD_HISTORIES=1 npx jest test/integration/replay-training.test.ts
 * Recordings are named after RECORDING_TAG; bump it for a new shape so older recordings stay and keep replaying.
 * training-pipeline-experiment-deployment-id-per-run-promoted.json is a run that promotes its version and
 * starts the deployment (patched('deployment-id-per-run')); its own test records it, alone with -t.
 * train-algorithm-in-workflow-search-passed.json was recorded by the code before suggestions moved to
 * the activity (commit 36473f0, same tiny experiment); it cannot be re-recorded and keeps the
 * patched('search-in-activity') path for runs started before that change under test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { MemoryCache } from '../../lib/cache/memory-cache';
import type { ExperimentInput } from '../../lib/experiments/experiment';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { TASK_QUEUES } from '../../lib/task-queues';
import { deploymentWorkflow, pipelineStatusQuery, trainAlgorithm, trainingPipeline, type TrainAlgorithmInput, type TrainingPipelineResult } from '../../workflows';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { startTemporal, withWorkers, workflowBundle } from '../helpers/temporal';
import { recordHistory } from '../helpers/workflow-histories';

const HISTORY_DIR = path.join(__dirname, '..', 'fixtures', 'histories');
const RECORDING_TAG = 'search-before-evaluation';
const PREFIXES = ['train-algorithm-', 'training-pipeline-experiment-'];
/**
 * A pipeline run's workflow id is the name of its recording: replay is given the file name as the
 * workflow id, and the pipeline names its child workflows after its own id.
 */
const pipelineRecording = (outcome: string) => `training-pipeline-experiment-${RECORDING_TAG}-${outcome}.json`;
/**
 * A run that promotes a version and starts its deployment (patched('deployment-id-per-run'), with
 * patched('deployment-step')). Made alone, without rewriting the others, with
 *   RECORD_HISTORIES=1 npx jest test/integration/replay-training.test.ts -t "starts the deployment of the version it promotes"
 */
const promotedRecording = 'training-pipeline-experiment-deployment-id-per-run-promoted.json';

/** A deliberately small experiment (3 symbols, one algorithm, 3 trials) so its recorded history stays small. */
function tinyExperiment(dir: string, name: string, space: Record<string, unknown>): ExperimentInput {
  return {
    name,
    seed: 3,
    import: { source: { kind: 'csv', path: dir } },
    label: { kind: 'direction', horizon: 5 },
    algorithms: [{ algorithm: 'logistic_regression', space }],
    search: { method: 'tpe', trials: 3, parallelism: 2, maxTrainRows: 1500, maxTestRows: 1000 },
    cv: { folds: 3 },
    walkForward: { evaluationDays: 60, retrainDays: 30, maxTrainRows: 2000 },
    final: { maxTrainRows: 2000 },
    guards: { pointInTime: { rows: 30, dates: 3 }, shuffledLabel: false },
    promotion: { deploy: 'off' },
  } as ExperimentInput;
}

/** The promise's outcome, or a failure naming what did not finish: the old code never ended these runs. */
function within<T>(promise: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not end within ${seconds}s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const events = (h: temporal.api.history.v1.IHistory) => h.events ?? [];
/** Names of the local activities a history recorded (their results are markers). */
function localActivities(h: temporal.api.history.v1.IHistory): string[] {
  return events(h)
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
    .map((e) => {
      const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
      return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string }).activity_type ?? '?' : '?';
    });
}

describe('trainAlgorithm and the experiment pipeline: failures, search activities and replay', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let data: string;
  const artifactDir = tempDir('mlp-replay-artifacts-');
  const recorded: Record<string, string> = {};
  let passed: TrainingPipelineResult | undefined;
  beforeAll(async () => {
    [env, db] = await Promise.all([startTemporal(), createSqliteTestDatabase()]);
    data = tempDir('mlp-replay-data-');
    await writeSyntheticMarket(data, { symbols: 3, from: '2016-01-04', to: '2018-03-29', plantErrors: false });
  });
  afterAll(async () => {
    await db?.drop();
    await env?.teardown();
  });

  it('trains an experiment with suggestions from the suggestTrials local activity', async () => {
    const id = pipelineRecording('passed');
    const { result, status } = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async () => {
      const handle = await env.client.workflow.start(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ experiment: tinyExperiment(data, 'replay-ok', { C: { type: 'float', low: 0.01, high: 10, log: true } }) }] });
      return { result: await within(handle.result(), 300, 'the pipeline'), status: await handle.query(pipelineStatusQuery) };
    });
    passed = result;
    expect(status.stages.every((s) => s.status === 'completed')).toBe(true);
    const training = result.candidates?.[0].training;
    expect(training?.trials.map((t) => [t.trial, Number.isFinite(t.score)])).toEqual([[0, true], [1, true], [2, true]]);
    const child = await env.client.workflow.getHandle(`${id}/logistic_regression`).fetchHistory();
    // One suggestion step per batch of parallel trials (2 + 1), recorded as local-activity markers.
    expect(localActivities(child)).toEqual(['suggestTrials', 'suggestTrials']);
    recorded[id.replace(/\.json$/, '')] = id;
    recorded[`train-algorithm-${RECORDING_TAG}-passed`] = `${id}/logistic_regression`;
  });

  it('suggests the same trial parameters for the same seed, and others for another seed', async () => {
    const training = passed?.candidates?.[0].training;
    expect(training).toBeDefined();
    const input = (seed: number): TrainAlgorithmInput => ({
      datasetId: passed?.dataset?.datasetId as string,
      algorithm: 'logistic_regression',
      space: { C: { type: 'float', low: 0.01, high: 10, log: true } },
      method: 'tpe',
      trials: 3,
      parallelism: 2,
      maxMinutes: 10,
      seed,
      trial: { folds: 3, embargoDays: 5, maxTrainRows: 1500, maxTestRows: 1000, threads: 1, evaluationDays: 60 },
      walkForward: { mode: 'expanding', evaluationDays: 60, testDays: 30, trainDays: 756, embargoDays: 0, maxTrainRows: 2000, threads: 1 },
      final: { maxTrainRows: 2000, threads: 1 },
    });
    const runs = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, () =>
      Promise.all([3, 3, 4].map((seed, i) => within(env.client.workflow.execute(trainAlgorithm, { taskQueue: TASK_QUEUES.pipeline, workflowId: `train-seed-${seed}-${i}-${Date.now()}`, args: [input(seed)] }), 300, 'trainAlgorithm'))),
    );
    const paramsOf = (r: { trials: Array<{ params: unknown }> }) => r.trials.map((t) => t.params);
    // The pipeline's child ran with seed 3 on the same dataset and the same search scope (its embargo may differ;
    // the later batch's params depend on the first batch's scores, which the folds' scope changes).
    expect(paramsOf(runs[0])).toEqual(paramsOf(training as { trials: Array<{ params: unknown }> }));
    expect(paramsOf(runs[1])).toEqual(paramsOf(runs[0]));
    expect(runs[1].trials.map((t) => t.score)).toEqual(runs[0].trials.map((t) => t.score));
    expect(paramsOf(runs[2])).not.toEqual(paramsOf(runs[0]));
  });

  // The old code never ended this run: its workflow task failed and was retried for ever.
  it('ends an experiment whose every trial fails with ALL_TRIALS_FAILED, in the child and the pipeline, without retrying', async () => {
    const id = pipelineRecording('all-trials-failed');
    // Passes the experiment's validation (a search space may fix any value) but fails inside every trial.
    const experiment = tinyExperiment(data, 'replay-fail', { C: { type: 'float', low: 0.01, high: 10, log: true }, maxIterations: 0 });
    const { error, status, child } = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async () => {
      const handle = await env.client.workflow.start(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ experiment }] });
      const e = await within(handle.result(), 150, 'the pipeline whose trials all fail').then(
        () => undefined,
        (x: unknown) => x,
      );
      const childError = await within(env.client.workflow.getHandle(`${id}/logistic_regression`).result(), 30, 'trainAlgorithm').then(
        () => undefined,
        (x: unknown) => x,
      );
      return { error: e, status: await handle.query(pipelineStatusQuery), child: childError };
    });
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause).toMatchObject({ type: 'ALL_TRIALS_FAILED', nonRetryable: true });
    expect(cause?.message).toMatch(/^training failed: all 3 trials of logistic_regression failed; first error \(trial 0\): trialFold: invalid input: maxIterations: /);
    expect(status.stages.map((s) => `${s.name}:${s.status}`)).toEqual(['ingest:completed', 'quality-gate:completed', 'features:completed', 'dataset:completed', 'training:failed', 'validation:pending', 'registration:pending']);
    expect(status.stages.find((s) => s.name === 'training')?.detail).toMatch(/all 3 trials of logistic_regression failed/);
    // The child workflow itself failed (not its workflow task), with the same type.
    expect(child).toBeInstanceOf(WorkflowFailedError);
    expect((child as WorkflowFailedError).cause).toMatchObject({ type: 'ALL_TRIALS_FAILED', nonRetryable: true });
    const childHistory = await env.client.workflow.getHandle(`${id}/logistic_regression`).fetchHistory();
    expect(events(childHistory).filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
    // Impossible parameters are bad input: each trial ran once.
    expect(events(childHistory).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes?.attempt)).toEqual([1, 1, 1]);
    const parentHistory = await env.client.workflow.getHandle(id).fetchHistory();
    expect(events(parentHistory).some((e) => e.childWorkflowExecutionFailedEventAttributes)).toBe(true);
    recorded[id.replace(/\.json$/, '')] = id;
    recorded[`train-algorithm-${RECORDING_TAG}-all-trials-failed`] = `${id}/logistic_regression`;
  }, 240_000);

  it('starts the deployment of the version it promotes under an id naming the run', async () => {
    const id = promotedRecording;
    // No evidence needed and no single-feature scan (3 symbols' noise trips it): the first run's best
    // becomes the champion whatever noise gives, and its deployment starts at once.
    const tiny = tinyExperiment(data, 'replay-deploy', { C: { type: 'float', low: 0.01, high: 10, log: true } });
    const experiment = {
      ...tiny,
      guards: { ...tiny.guards, singleFeatureScan: false },
      promotion: { minAuc: 0, margin: 0, alpha: 1, allowRelaxedGuards: { reason: 'a tiny test market, judged without the naive-baseline tests' }, deploy: 'auto' },
    } as ExperimentInput;
    const { result, runId, deployment } = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async () => {
      const handle = await env.client.workflow.start(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ experiment }] });
      const r = await within(handle.result(), 300, 'the pipeline');
      // A first model is served at once: the deployment ends promoted.
      const d = r.deploymentWorkflowId ? await within(env.client.workflow.getHandle<typeof deploymentWorkflow>(r.deploymentWorkflowId).result(), 120, 'the deployment') : undefined;
      return { result: r, runId: handle.firstExecutionRunId, deployment: d };
    });
    expect(result.promoted).toMatchObject({ version: 1, alias: 'champion' });
    // patched('deployment-id-per-run'): another run promoting v1 again (after a rollback) starts its own deployment.
    expect(result.deploymentWorkflowId).toBe(`deploy-replay-deploy-v1-${runId.slice(0, 8)}`);
    expect(deployment).toMatchObject({ deploymentId: result.deploymentWorkflowId, status: 'promoted', challengerVersion: 1 });
    const history = await env.client.workflow.getHandle(id).fetchHistory();
    expect(events(history).map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId).filter(Boolean)).toEqual([`${id}/logistic_regression`, result.deploymentWorkflowId]);
    // Recorded here as well, so that this recording alone can be made (-t) without rewriting the others.
    await recordHistory(env, id.replace(/\.json$/, ''), id);
    recorded[id.replace(/\.json$/, '')] = id;
  }, 420_000);

  it('replays these runs and the committed recordings of every path without non-determinism', async () => {
    expect(Object.keys(recorded)).toHaveLength(5);
    const fresh = await Promise.all(Object.entries(recorded).map(async ([name, workflowId]) => ({ name, workflowId, history: await env.client.workflow.getHandle(workflowId).fetchHistory() })));
    if (process.env.RECORD_HISTORIES === '1') {
      fs.mkdirSync(HISTORY_DIR, { recursive: true });
      for (const h of fresh) fs.writeFileSync(path.join(HISTORY_DIR, `${h.name}.json`), historyToJSON(h.history));
    }
    const committed = fs
      .readdirSync(HISTORY_DIR)
      .filter((f) => f.endsWith('.json') && PREFIXES.some((p) => f.startsWith(p)))
      .map((f) => ({ workflowId: f, history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORY_DIR, f), 'utf8'))) }));
    // Both workflow types, each passed and all-trials-failed, and a search recorded before the activity.
    for (const name of Object.keys(recorded)) expect(committed.map((c) => c.workflowId)).toContain(`${name}.json`);
    const beforeActivity = committed.find((c) => c.workflowId === 'train-algorithm-in-workflow-search-passed.json');
    expect(beforeActivity && localActivities(beforeActivity.history)).toEqual([]);
    const results = Worker.runReplayHistories({ workflowBundle: await workflowBundle(), replayName: 'replay-training' }, [...fresh.map(({ workflowId, history }) => ({ workflowId, history })), ...committed]);
    let replayed = 0;
    for await (const r of results) {
      expect({ workflowId: r.workflowId, error: r.error }).toEqual({ workflowId: r.workflowId, error: undefined });
      replayed++;
    }
    expect(replayed).toBe(fresh.length + committed.length);
  });
});
