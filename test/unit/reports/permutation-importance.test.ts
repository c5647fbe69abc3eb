import { algorithmByName, loadModelRuntimes } from '../../../models/algorithms';
import { permutationImportanceOf } from '../../../lib/reports/report-data';
import { pooledPermutationImportance } from '../../../lib/reports/version-report';
import { TaskPool } from '../../../lib/threads/task-pool';
import { datasetRows } from '../../../lib/training/trial';
import { syntheticTrainingDataset } from '../../helpers/training-dataset';

// A run report's permutation importance is shared out over training threads (an SVM's took 38 s on
// one thread at the end of every full retrain); it must give exactly the one-thread values.
describe('permutation importance on training threads', () => {
  const pool = new TaskPool(2);
  afterAll(() => pool.close());

  it.each(['svm', 'logistic_regression'])('%s: equal to one pass over every column, bit for bit', async (algorithm) => {
    await loadModelRuntimes();
    const ds = syntheticTrainingDataset({ symbols: 4, days: 200, leak: true, seed: 3 });
    const all = Int32Array.from({ length: ds.rows }, (_, r) => r);
    const train = datasetRows(ds, all.subarray(0, 400));
    const model = await algorithmByName(algorithm).fit({ features: train.x, labels: train.y, times: { ...train.times, embargoDays: 5 }, classes: 2, seed: 1 }, {});
    const evaluation = all.subarray(400);
    const here = permutationImportanceOf(model, ds, evaluation, { seed: 7 });
    const pooled = await pooledPermutationImportance(pool, model, ds, evaluation, 7);
    expect(pooled).toEqual(here);
    // The leaked column matters and the noise columns hardly: the values are real, not zeros.
    const byName = Object.fromEntries(pooled.map((f) => [f.name, f.value]));
    expect(byName.f3).toBeGreaterThan(0.1);
    expect(Math.abs(byName.f1)).toBeLessThan(byName.f3 / 5);
    // Another seed shuffles differently.
    expect(await pooledPermutationImportance(pool, model, ds, evaluation, 8)).not.toEqual(here);
  });
});
