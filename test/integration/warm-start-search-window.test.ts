/**
 * A warm start carries the champion's hyperparameters ("skip", or as the centre of "narrow"), which
 * were chosen on its own search's rows. When those rows reach into this run's evaluation period (here
 * a longer evaluationDays than the champion's run had), the parameters would be judged on days they
 * were picked on: the run falls back to a cold retrain with a full search on the rows before its
 * own period, says why, and records what its parameters were chosen on. On a Temporal dev server.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import type { ExperimentInput } from '../../lib/experiments/experiment';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { getModelVersion } from '../../lib/registry/model-registry';
import { TASK_QUEUES } from '../../lib/task-queues';
import { trainingPipeline, type TrainingPipelineResult } from '../../workflows';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { startTemporal, withWorkers } from '../helpers/temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

function experiment(dir: string, extra: Partial<ExperimentInput>): ExperimentInput {
  return {
    name: 'warm-window',
    seed: 3,
    import: { source: { kind: 'csv', path: dir } },
    label: { kind: 'direction', horizon: 5 },
    algorithms: [{ algorithm: 'gradient_boosting', space: { nRounds: 15, maxDepth: { type: 'int', low: 2, high: 4 }, validationFraction: 0 } }],
    search: { method: 'tpe', trials: 2, parallelism: 2, maxTrainRows: 1500, maxTestRows: 1000 },
    cv: { folds: 3 },
    walkForward: { evaluationDays: 30, retrainDays: 30, maxTrainRows: 2000 },
    guards: { pointInTime: { rows: 30, dates: 3 }, shuffledLabel: false, singleFeatureScan: false },
    promotion: { minAuc: 0, margin: 0, alpha: 1, deploy: 'off', allowBackdatedEvaluation: true, allowRelaxedGuards: { reason: 'a 3-symbol test market, judged without the naive-baseline tests' } },
    ...extra,
  } as ExperimentInput;
}

describe('a warm start whose champion chose its parameters inside this run\'s evaluation period', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let data: string;
  const artifactDir = tempDir('mlp-warm-window-artifacts-');
  beforeAll(async () => {
    [env, db] = await Promise.all([startTemporal(), createSqliteTestDatabase()]);
    data = tempDir('mlp-warm-window-data-');
    await writeSyntheticMarket(data, { symbols: 3, from: '2016-01-04', to: '2018-03-29', plantErrors: false });
  });
  afterAll(async () => {
    await db?.drop();
    await env?.teardown();
  });

  it('searches in full instead, says why, and records the days each version\'s parameters were chosen on', async () => {
    const run = (id: string, e: ExperimentInput) => env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ experiment: e }] });
    const [first, second] = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async (): Promise<[TrainingPipelineResult, TrainingPipelineResult]> => {
      // The champion: a 30-day evaluation period, searched on the rows before it.
      const a = await run('warm-window-first', experiment(data, { dates: { cutoff: '2018-03-28' } }));
      // A month later, judged on 150 days: they start months before the champion's search ended.
      const b = await run('warm-window-second', experiment(data, { walkForward: { evaluationDays: 150, retrainDays: 30, maxTrainRows: 2000 }, warmStart: { search: 'skip', extraRounds: 5, recentDays: 5 } }));
      return [a, b];
    });

    expect(first.promoted).toMatchObject({ version: 1, alias: 'champion' });
    const champion = await getModelVersion(db.store, 'warm-window', 1);
    const championSearch = first.dataset?.searchThrough as string;
    // Its search's labels ended before its evaluation period, and its lineage says through which day.
    expect(championSearch < (first.dataset?.evaluationFrom as string)).toBe(true);
    expect(champion.lineage.searchThrough).toBe(championSearch);
    const evaluationFrom = second.dataset?.evaluationFrom as string;
    expect(evaluationFrom < championSearch).toBe(true);

    const reason = `champion warm-window v1's hyperparameters were chosen on rows whose labels ran through ${championSearch}, not before this run's evaluation period (from ${evaluationFrom}), so they would be judged on days they were picked on; the search runs in full: trained from scratch`;
    expect(second.warmStarts).toEqual([{ algorithm: 'gradient_boosting', warm: false, reason }]);
    expect(second.experiment?.warmStart).toBeDefined();
    const gb = second.candidates?.find((c) => c.algorithm === 'gradient_boosting');
    // A full search (the experiment's 2 trials), not the champion's parameters alone.
    expect(gb?.training.trials.length).toBe(2);
    expect(gb?.training.final.continuedFrom).toBeUndefined();
    const version = await getModelVersion(db.store, 'warm-window', gb?.registration.version.version as number);
    expect(version.lineage.warmStartSkipped).toBe(reason);
    expect(version.lineage.warmStartedFrom).toBeUndefined();
    // Chosen on its own search's rows, all before its own evaluation period.
    expect(version.lineage.searchThrough).toBe(second.dataset?.searchThrough);
    expect((second.dataset?.searchThrough as string) < evaluationFrom).toBe(true);
  }, 600_000);
});
