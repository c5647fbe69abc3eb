/**
 * A warm-started experiment end to end on a Temporal dev server: a first run registers a gradient
 * boosting champion; a second run, with later data and warmStart, continues it (one trial with its
 * parameters, walk-forward as a chain, final model = its trees plus new ones), registers the result
 * with warmStartedFrom in its lineage after the same validation and promotion, and trains the
 * algorithm that cannot warm-start from scratch, saying why. Both runs replay deterministically.
 *
 * Re-record the committed histories of these runs (replayed by replay-training.test.ts too) with
 *   RECORD_HISTORIES=1 npx jest test/integration/warm-start.test.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { LocalArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import type { ExperimentInput } from '../../lib/experiments/experiment';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { readArtifact } from '../../lib/registry/artifact-store';
import { getModelVersion } from '../../lib/registry/model-registry';
import { TASK_QUEUES } from '../../lib/task-queues';
import { decodeArtifact } from '../../models/artifact';
import { gradientBoosting, GradientBoostingModel } from '../../models/trees/gradient-boosting';
import { trainingPipeline, type TrainingPipelineResult } from '../../workflows';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { startTemporal, withWorkers, workflowBundle } from '../helpers/temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

function experiment(dir: string, extra: Partial<ExperimentInput>): ExperimentInput {
  return {
    name: 'warm-it',
    seed: 3,
    import: { source: { kind: 'csv', path: dir } },
    label: { kind: 'direction', horizon: 5 },
    algorithms: [{ algorithm: 'gradient_boosting', space: { nRounds: 15, maxDepth: { type: 'int', low: 2, high: 4 }, validationFraction: 0 } }],
    search: { method: 'tpe', trials: 2, parallelism: 2, maxTrainRows: 1500, maxTestRows: 1000 },
    cv: { folds: 3 },
    walkForward: { evaluationDays: 60, retrainDays: 30, maxTrainRows: 2000 },
    guards: { pointInTime: { rows: 30, dates: 3 }, shuffledLabel: false },
    promotion: { minAuc: 0, margin: 0, alpha: 1, deploy: 'off', allowRelaxedGuards: { reason: 'a small test market, judged without the naive-baseline tests' } },
    ...extra,
  } as ExperimentInput;
}

describe('warm-started experiment runs', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let data: string;
  const artifactDir = tempDir('mlp-warm-artifacts-');
  beforeAll(async () => {
    [env, db] = await Promise.all([startTemporal(), createSqliteTestDatabase()]);
    data = tempDir('mlp-warm-data-');
    await writeSyntheticMarket(data, { symbols: 3, from: '2016-01-04', to: '2018-03-29', plantErrors: false });
  });
  afterAll(async () => {
    await db?.drop();
    await env?.teardown();
  });

  it('continues the champion, records it in the lineage, retrains the others in full, and replays', async () => {
    const run = (id: string, e: ExperimentInput) => env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ experiment: e }] });
    // Named as their recordings: a pipeline's replay is given the file name as its workflow id.
    const ids = ['training-pipeline-experiment-warm-start-first.json', 'training-pipeline-experiment-warm-start-second.json'];
    const [first, second] = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async (): Promise<[TrainingPipelineResult, TrainingPipelineResult]> => {
      // Even asking for a warm start, a model without a champion trains from scratch.
      // The cut-off leaves a month of stored bars after the evaluation, and the guards are cut down for
      // speed: promoted by explicit choice only.
      const a = await run(ids[0], experiment(data, { dates: { cutoff: '2018-02-28' }, warmStart: {}, promotion: { minAuc: 0, margin: 0, alpha: 1, deploy: 'off', allowBackdatedEvaluation: true, allowRelaxedGuards: { reason: 'a 3-symbol test market: smaller audit, no shuffled-label refit' } } }));
      const b = await run(ids[1], experiment(data, { algorithms: [...experiment(data, {}).algorithms, { algorithm: 'logistic_regression', space: { C: 1 } }], warmStart: { search: 'skip', extraRounds: 5, recentDays: 5 } }));
      return [a, b];
    });

    expect(first.warmStarts).toEqual([{ algorithm: 'gradient_boosting', warm: false, reason: 'model warm-it has no champion to start from: trained from scratch' }]);
    expect(first.promoted).toMatchObject({ algorithm: 'gradient_boosting', version: 1, alias: 'champion' });
    const champion = await getModelVersion(db.store, 'warm-it', 1);
    // The champion learnt only from labels known at the cut-off: 5-day labels end 5 trading days later.
    const championThrough = first.candidates?.find((c) => c.algorithm === 'gradient_boosting')?.training.final.trainedThrough;
    expect(championThrough).toBe('2018-02-21');
    expect(first.dataset?.lastDay).toBe('2018-02-28');
    // What a warm start compares a champion with: a champion trained through it has seen every row.
    expect(first.dataset?.lastKnownDay).toBe('2018-02-21');
    expect(champion.lineage.trainedThrough).toBe(championThrough);
    expect(champion.lineage.warmStartedFrom).toBeUndefined();
    // Its parameters were chosen on the rows whose labels ended before its evaluation period.
    expect(champion.lineage.searchThrough).toBe(first.dataset?.searchThrough);
    expect((first.dataset?.searchThrough as string) < (first.dataset?.evaluationFrom as string)).toBe(true);

    const [gbDecision, lrDecision] = second.warmStarts ?? [];
    expect(gbDecision).toMatchObject({ algorithm: 'gradient_boosting', warm: true, search: 'skip', from: { model: 'warm-it', version: 1, trainedThrough: championThrough, searched: { through: first.dataset?.searchThrough } } });
    // Carried only because they were chosen before this run's evaluation period.
    expect((first.dataset?.searchThrough as string) < (second.dataset?.evaluationFrom as string)).toBe(true);
    expect(lrDecision).toEqual({ algorithm: 'logistic_regression', warm: false, reason: 'logistic_regression cannot warm-start: trained from scratch' });
    const gb = second.candidates?.find((c) => c.algorithm === 'gradient_boosting');
    const lr = second.candidates?.find((c) => c.algorithm === 'logistic_regression');
    // Search skipped: one trial, with the champion's parameters.
    expect(gb?.training.trials.map((t) => t.params)).toEqual([champion.params]);
    // Its parameters stand on the champion's search of 2 trials, recorded with it, not on the 1 trial
    // run here; the run's best is picked from those and logistic regression's 2.
    expect((champion.metrics.outOfSample as { backtest: { deflatedSharpeTrials: unknown } }).backtest.deflatedSharpeTrials).toEqual({ counted: 2, search: 2, run: 2 });
    // This run ran 3 (the skipped search's one and logistic regression's 2), after the first run's 2
    // on the same outcomes, which its carried search is: 5, not 4 + 2.
    expect(gb?.evaluation.report.backtest.deflatedSharpeTrials).toEqual({ counted: 5, search: 2, run: 3, earlier: { runs: 1, trials: 2 } });
    expect(gb?.training.final.continuedFrom).toBeDefined();
    // Validated like any candidate: walk-forward out of sample, an evaluation report, a promotion decision.
    expect(gb?.training.walkForward.windows).toBeGreaterThan(1);
    expect(gb?.evaluation.report.classification.rocAuc).toBeGreaterThan(0);
    expect(gb?.registration.decision.reason).toEqual(expect.any(String));

    const warmVersion = await getModelVersion(db.store, 'warm-it', gb?.registration.version.version as number);
    expect(warmVersion.lineage.warmStartedFrom).toMatchObject({ model: 'warm-it', version: 1, search: 'skip', trainedThrough: championThrough, continuedFrom: gb?.training.final.continuedFrom });
    // Continued from the day after the champion's last, through the last day whose label this run knows.
    expect(gb?.training.final.continuedFrom).toBe('2018-02-22');
    expect(warmVersion.lineage.trainedThrough).toBe(gb?.training.final.trainedThrough);
    // Its parameters are the champion's: chosen on the champion's search, whose last day it carries.
    expect(warmVersion.lineage.searchThrough).toBe(champion.lineage.searchThrough);
    expect(gb?.training.final.trainedThrough).toBe(second.dataset?.lastDay); // no cut-off: bars end there, every label is known
    const lrVersion = await getModelVersion(db.store, 'warm-it', lr?.registration.version.version as number);
    expect(lrVersion.lineage.warmStartSkipped).toBe('logistic_regression cannot warm-start: trained from scratch');
    expect(lrVersion.lineage.searchThrough).toBe(second.dataset?.searchThrough);

    // The registered model is the champion's ensemble plus new trees.
    const artifacts = new LocalArtifactStore(artifactDir);
    const restore = async (sha: string) => gradientBoosting.restore(decodeArtifact(await readArtifact(artifacts, sha)).state) as GradientBoostingModel;
    const before = await restore(champion.artifactSha256);
    const after = await restore(warmVersion.artifactSha256);
    expect(after.trees.length).toBeGreaterThanOrEqual(before.trees.length);
    expect(after.trees.slice(0, before.trees.length)).toEqual(before.trees);
    expect([...after.base]).toEqual([...before.base]);

    const histories = await Promise.all([...ids, `${ids[1]}/gradient_boosting`].map(async (workflowId) => ({ workflowId, history: await env.client.workflow.getHandle(workflowId).fetchHistory() })));
    if (process.env.RECORD_HISTORIES === '1') {
      const dir = path.join(__dirname, '..', 'fixtures', 'histories');
      const names = [...ids, 'train-algorithm-warm-start-passed.json'];
      histories.forEach((h, i) => fs.writeFileSync(path.join(dir, names[i]), historyToJSON(h.history)));
    }
    let replayed = 0;
    for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle(), replayName: 'replay-warm-start' }, histories)) {
      expect({ workflowId: r.workflowId, error: r.error }).toEqual({ workflowId: r.workflowId, error: undefined });
      replayed++;
    }
    expect(replayed).toBe(3);
  }, 600_000);
});
