import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { listModelVersions } from '../../lib/registry/model-registry';
import { openDatabase, type Database } from '../../lib/store/database';
import { TASK_QUEUES } from '../../lib/task-queues';
import { loadModelRuntimes } from '../../models/algorithms';
import { pipelineStatusQuery, searchProgressQuery, trainingPipeline } from '../../workflows';
import { tempDir } from '../helpers/databases';
import { smallExperiment } from '../helpers/experiments';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { freePort, killWorker, startWorkerProcess } from '../helpers/worker-process';

/** Heavier trials than the small experiment, so that the kill lands in the middle of the search. */
function restartExperiment(dir: string, name: string) {
  return {
    ...smallExperiment(dir, name),
    algorithms: [{ algorithm: 'random_forest' as const, space: { maxDepth: { type: 'int' as const, low: 4, high: 10 }, nEstimators: 40 } }],
    search: { method: 'tpe' as const, trials: 6, parallelism: 2, maxTrainRows: 4000, maxTestRows: 2000 },
  };
}

describe('a worker killed in the middle of a hyperparameter search', () => {
  let env: TestWorkflowEnvironment;
  let store: Database;
  let child: ChildProcess | undefined;
  afterAll(async () => {
    child?.kill('SIGKILL');
    await store?.close();
    await env?.teardown();
  });

  it('resumes on a new worker without re-running finished trials and registers what an uninterrupted run registers', async () => {
    await loadModelRuntimes();
    const port = await freePort();
    env = await startTemporal({ port });
    const data = tempDir('mlp-exp-restart-');
    await writeSyntheticMarket(data, { symbols: 12, from: '2016-01-04', to: '2018-03-29', plantErrors: false });
    const state = tempDir('mlp-exp-restart-state-');
    const databaseUrl = `sqlite:${path.join(state, 'store.sqlite')}`;
    const artifactDir = path.join(state, 'artifacts');
    store = await openDatabase(databaseUrl);

    child = await startWorkerProcess({ TEMPORAL_ADDRESS: `127.0.0.1:${port}`, DATABASE_URL: databaseUrl, ARTIFACT_DIR: artifactDir, REDIS_URL: '', METRICS_ADDRESS: `127.0.0.1:${await freePort()}`, TRAINING_CONCURRENCY: '2' });
    const handle = await env.client.workflow.start(trainingPipeline, {
      taskQueue: TASK_QUEUES.pipeline,
      workflowId: `exp-restart-${Date.now()}`,
      args: [{ experiment: restartExperiment(data, 'killed'), timeouts: { trainingHeartbeatSeconds: 5 } }],
    });
    // Kill (no graceful shutdown) once some trials are done and others are in flight.
    let doneAtKill = 0;
    for (let i = 0; i < 6000; i++) {
      const status = await handle.query(pipelineStatusQuery).catch(() => undefined);
      const childId = status?.trainingWorkflows?.random_forest;
      const progress = childId ? await env.client.workflow.getHandle(childId).query(searchProgressQuery).catch(() => undefined) : undefined;
      if (progress && progress.phase === 'search' && progress.trialsDone >= 2 && progress.running > 0) {
        doneAtKill = progress.trialsDone;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await killWorker(child);
    expect(doneAtKill).toBeGreaterThanOrEqual(2);

    const resumed = await withWorkers(env, { store, cache: new MemoryCache(), artifactDir }, async () => {
      const r = await handle.result();
      // The same experiment again, uninterrupted, under another model name.
      const again = await env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: `exp-straight-${Date.now()}`, args: [{ experiment: restartExperiment(data, 'straight') }] });
      return { r, again };
    });

    // Every trial was scheduled once: retries of the in-flight ones are attempts, not new trials.
    const childId = `${handle.workflowId}/random_forest`;
    const events = (await env.client.workflow.getHandle(childId).fetchHistory()).events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runTrial');
    const attempts = events.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
    expect(scheduled).toHaveLength(6);
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);

    const [killed] = await listModelVersions(store, 'killed');
    const [straight] = await listModelVersions(store, 'straight');
    expect(killed.artifactSha256).toBe(straight.artifactSha256);
    expect(killed.params).toEqual(straight.params);
    // The same figures, but for the deflated Sharpe ratio: the straight run, on the same outcomes
    // under another name, counts the killed run's trials as an earlier run's, once (its 6, not the
    // attempts the kill retried).
    type OutOfSample = { backtest: { deflatedSharpe?: unknown; deflatedSharpeTrials?: unknown } & Record<string, unknown> } & Record<string, unknown>;
    const split = (m: unknown) => {
      const { backtest, ...rest } = m as OutOfSample;
      const others: Record<string, unknown> = { ...backtest };
      delete others.deflatedSharpe;
      delete others.deflatedSharpeTrials;
      return { figures: { ...rest, backtest: others }, trials: backtest.deflatedSharpeTrials };
    };
    const [k, s] = [split(killed.metrics.outOfSample), split(straight.metrics.outOfSample)];
    expect(k.figures).toEqual(s.figures);
    const [killedTrials, straightTrials] = [k.trials, s.trials];
    expect(killedTrials).toEqual({ counted: 6, run: 6, search: 6 });
    expect(straightTrials).toEqual({ counted: 12, run: 6, search: 6, earlier: { runs: 1, trials: 6 } });
    expect(resumed.r.candidates?.[0].training.trials.map((t) => t.params)).toEqual(resumed.again.candidates?.[0].training.trials.map((t) => t.params));
  });
});
