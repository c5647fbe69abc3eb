/**
 * The deflated Sharpe ratio asks whether the best of the trials looked at beats the benchmark by
 * more than luck would. Re-running a model on the same outcomes (another seed, another search
 * space, the experiment renamed) is more of the same search: the trials of earlier runs on those
 * outcomes count, not only the last run's. evaluateAlgorithm, the real activity in a mock activity
 * context, on SQLite, after registrations recorded as any run records them.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities, type AlgorithmEvaluation, type EvaluateInput, type RegisterInput } from '../../activities/experiments';
import type { EvaluationReport } from '../../lib/training/evaluation-report';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { experimentSchema } from '../../lib/experiments/experiment';
import type { BarSeries } from '../../lib/market-data/bar';
import { rng } from '../../lib/random';
import { putArtifact } from '../../lib/registry/artifact-store';
import type { TaskPool } from '../../lib/threads/task-pool';
import { writeDataset } from '../../lib/training/dataset';
import { writePredictions } from '../../lib/training/walk-forward';
import { algorithmByName, loadModelRuntimes } from '../../models/algorithms';
import { encodeArtifact } from '../../models/artifact';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet, type TestFeatureSet } from '../helpers/registration';
import { datasetFromBars, predictionsForLastDays } from '../helpers/training-dataset';

const label = { kind: 'direction', horizon: 5, deadZone: 0 } as const;

/** 10 drifting random walks on NYSE sessions. */
function market(): BarSeries[] {
  const random = rng(7);
  const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const dates = nyseTradingDaysBetween('2016-01-04', '2017-12-29');
  return Array.from({ length: 10 }, (_, s) => {
    const close = new Float64Array(dates.length);
    let p = 50;
    for (let d = 0; d < dates.length; d++) close[d] = p *= Math.exp(0.0004 + 0.012 * z());
    return { symbol: `DF${s}`, dates, open: close.slice(), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(dates.length).fill(1e6) };
  });
}

describe('trials of earlier runs on the same outcomes', () => {
  let t: TestDatabase;
  const artifacts = localArtifactStore(tempDir('mlp-deflation-'));
  let featureSet: TestFeatureSet;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await loadModelRuntimes();
    // Registration refuses a model of a feature set the store does not hold: one column, stored.
    featureSet = await saveTestFeatureSet(t.store, returnsFeatureSet('deflation', 1));
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('counts them in the deflated Sharpe ratio, beside the run\'s own', async () => {
    const series = market();
    const n = series[0].dates.length;
    const ds = { ...datasetFromBars(series, label, 'f0', (r) => r % 7), featureSetVersion: featureSet.version, columns: featureSet.columns, bars: { open: Float64Array.from({ length: series.length * n }, (_, i) => series[Math.floor(i / n)].open[i % n]), close: Float64Array.from({ length: series.length * n }, (_, i) => series[Math.floor(i / n)].close[i % n]) } };
    const { id: datasetId } = await writeDataset(artifacts, ds);
    const noise = rng(11);
    // Right on 56% of rows (it reads the label): a positive Sharpe ratio for the deflation to judge.
    const predictions = predictionsForLastDays(ds, 250, (r) => 0.5 + (noise() < 0.56 ? 0.1 : -0.1) * (ds.labels[r] === 1 ? 1 : -1));
    const predictionsId = await writePredictions(artifacts, { ...predictions, datasetId });
    const activities = experimentActivities({ store: t.store, artifacts, trainingPool: {} as TaskPool });
    const experiment = (name: string) => experimentSchema.parse({ name, label, seed: 1, algorithms: [{ algorithm: 'logistic_regression', trials: 20 }], promotion: { alpha: 0.05 } });
    const evaluate = async (name: string): Promise<EvaluationReport> => {
      const input: EvaluateInput = { datasetId, predictionsId, experiment: experiment(name), trialScores: [], algorithm: 'logistic_regression', runSearches: [{ algorithm: 'logistic_regression', trials: 20 }] };
      return ((await new MockActivityEnvironment().run(activities.evaluateAlgorithm, input)) as AlgorithmEvaluation).report;
    };

    const first = await evaluate('deflate');
    expect(first.backtest.deflatedSharpeTrials).toEqual({ counted: 20, search: 20, run: 20 });
    const period = first.period;

    // Three runs of 20 trials each registered on these outcomes: two under the name, one renamed
    // (another dataset id: its file differs by one revised bar), as registration records them.
    // Each run's model has its own C (a parameter the row states, as the artifact's header does), so no run is another's identical re-run.
    const register = async (name: string, run: string, id: string, C: number) => {
      const model = await algorithmByName('logistic_regression').fit({ features: { values: ds.values, rows: ds.rows, featureNames: ds.columns }, labels: ds.labels, classes: 2, seed: 1 }, { C });
      const { sha256 } = await putArtifact(artifacts, encodeArtifact(model.state(), { featureSetVersion: ds.featureSetVersion, label }));
      const input: RegisterInput = {
        experiment: experiment(name),
        algorithm: 'logistic_regression',
        params: { C },
        artifactSha256: sha256,
        datasetId: id,
        featureSetVersion: ds.featureSetVersion,
        metrics: { outOfSample: { period, backtest: first.backtest } },
        lineage: {},
        scores: { auc: 0.5, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, bestOfRun: true, candidatesCompared: 1 },
        workflowId: `wf-${name}-${run}`,
        runId: run,
        universe: { source: 'declared', requested: ds.symbols, trained: ds.symbols },
      };
      return new MockActivityEnvironment().run(activities.registerAndPromote, input);
    };
    await register('deflate', 'a', datasetId, 1);
    await register('deflate', 'b', datasetId, 2);
    await register('deflate-renamed', 'c', 'td-one-bar-revised', 3);
    // Another universe's outcomes are not this search.
    await register('other-universe', 'd', 'td-other', 4);
    await t.store.db.updateTable('model_versions').set({ lineage: JSON.stringify({ universe: { source: 'declared', requested: ['XX1', 'XX2'], trained: ['XX1', 'XX2'] } }) }).where('name', '=', 'other-universe').execute();

    const again = await evaluate('deflate');
    expect(again.backtest.deflatedSharpeTrials).toEqual({ counted: 80, search: 20, run: 20, earlier: { runs: 3, trials: 60 } });
    expect(again.backtest.deflatedSharpe).toBeLessThan(first.backtest.deflatedSharpe);
    // Renamed once more: the same four runs came before it.
    expect((await evaluate('deflate-renamed-again')).backtest.deflatedSharpeTrials?.counted).toBe(80);

    // The challenge ledger is a table anyone with the database can empty: the registry's rows of the
    // model's own runs still count them (emptied, the model's two runs were gone from the count: 40).
    await t.store.db.deleteFrom('promotion_challenges').execute();
    expect((await evaluate('deflate')).backtest.deflatedSharpeTrials).toEqual({ counted: 80, search: 20, run: 20, earlier: { runs: 3, trials: 60 } });
  });
});
