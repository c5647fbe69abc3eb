import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { aliasHistory, listModelVersions, loadRegisteredModel } from '../../lib/registry/model-registry';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { TASK_QUEUES } from '../../lib/task-queues';
import { loadModelRuntimes } from '../../models/algorithms';
import { pipelineStatusQuery, trainingPipeline } from '../../workflows';
import { searchProgressQuery } from '../../workflows/train-algorithm';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { smallExperiment } from '../helpers/experiments';
import { startTemporal, withWorkers } from '../helpers/temporal';

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

  it('searches, walks forward, validates, registers every algorithm and promotes the best as champion', async () => {
    const data = tempDir('mlp-exp-');
    await writeSyntheticMarket(data, { symbols: 5, from: '2016-01-04', to: '2018-03-29', plantErrors: false });
    const artifactDir = tempDir('mlp-exp-artifacts-');
    const { result, status, progress } = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async () => {
      const handle = await env.client.workflow.start(trainingPipeline, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId: `exp-${Date.now()}`,
        args: [{ experiment: smallExperiment(data) }],
      });
      const r = await handle.result();
      const s = await handle.query(pipelineStatusQuery);
      const child = env.client.workflow.getHandle(s.trainingWorkflows?.gradient_boosting as string);
      return { result: r, status: s, progress: await child.query(searchProgressQuery) };
    });
    expect(status.stages.map((s) => `${s.name}:${s.status}`)).toEqual(['ingest', 'quality-gate', 'features', 'dataset', 'training', 'validation', 'registration'].map((n) => `${n}:completed`));
    expect(progress).toMatchObject({ phase: 'done', trialsDone: 4, budget: 4, running: 0 });
    expect(result.dataset?.symbols).toBe(5);
    const candidates = result.candidates ?? [];
    expect(candidates.map((c) => c.algorithm).sort()).toEqual(['gradient_boosting', 'logistic_regression']);
    for (const c of candidates) {
      expect(c.training.trials).toHaveLength(4);
      expect(c.training.best.folds).toHaveLength(3);
      expect(c.evaluation.report.period.days).toBe(120);
      expect(c.evaluation.shuffledLabel?.passed).toBe(true);
      // Synthetic prices are a random walk: nothing to predict out of sample.
      expect(Math.abs(c.evaluation.report.classification.rocAuc - 0.5)).toBeLessThan(0.1);
    }
    const versions = await listModelVersions(db.store, 'direction-5d');
    expect(versions.map((v) => v.version)).toEqual([1, 2]);
    expect(versions.every((v) => v.snapshotId === result.snapshotId && v.runId && v.codeVersion)).toBe(true);
    // Whether the best passes the floor (AUC ≥ 0.5) on noise is chance; if it does it is champion.
    const history = await aliasHistory(db.store, 'direction-5d');
    if (result.promoted) {
      expect(history).toEqual([expect.objectContaining({ alias: 'champion', toVersion: result.promoted.version })]);
      const { model } = await loadRegisteredModel(db.store, artifactDir, 'direction-5d', result.promoted.version);
      expect(model.algorithm).toBe(result.promoted.algorithm);
    } else expect(history).toEqual([]);
  });

  it('judges a new run against the champion re-run on the same out-of-sample period', async () => {
    const data = tempDir('mlp-exp2-');
    await writeSyntheticMarket(data, { symbols: 5, from: '2016-01-04', to: '2018-03-29', plantErrors: false });
    const artifactDir = tempDir('mlp-exp2-artifacts-');
    // Floors at zero: the first run always becomes champion, whatever noise gives.
    const experiment = { ...smallExperiment(data, 'rerun'), promotion: { minAuc: 0, margin: 0.005 } };
    const run = (id: string) => env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ experiment }] });
    const [first, second] = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async () => [await run(`rerun-1-${Date.now()}`), await run(`rerun-2-${Date.now()}`)]);
    expect(first.promoted?.alias).toBe('champion');
    // Same data, same seed: the second run's best is the champion's recipe, so it scores the same and is not promoted.
    expect(second.promoted).toBeUndefined();
    const best = second.candidates?.find((c) => c.algorithm === first.promoted?.algorithm);
    expect(best?.registration.decision.reason).toMatch(/does not beat the champion's/);
    expect((await listModelVersions(db.store, 'rerun')).map((v) => v.version)).toEqual([1, 2, 3, 4]);
    expect((await aliasHistory(db.store, 'rerun')).map((h) => [h.alias, h.toVersion])).toEqual([['champion', first.promoted?.version]]);
  });
});
