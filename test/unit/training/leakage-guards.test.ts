import type { TrainingDataset } from '../../../lib/training/dataset';
import { permutedLabels, shuffledLabelControl } from '../../../lib/training/leakage-guards';
import type { TrialRequest } from '../../../lib/training/trial';
import { syntheticTrainingDataset } from '../../helpers/training-dataset';

const request: TrialRequest = { algorithm: 'logistic_regression', params: {}, folds: 4, embargoDays: 5, maxTrainRows: 10_000, maxTestRows: 10_000, seed: 3, threads: 1 };

describe('shuffled-label control', () => {
  it('permutes labels within each symbol, keeping each symbol class balance', () => {
    const ds = syntheticTrainingDataset({ symbols: 3, days: 100 });
    const shuffled = permutedLabels(ds.labels, ds.symbol, 1);
    expect(shuffled).not.toEqual(ds.labels);
    for (let s = 0; s < 3; s++) {
      const ones = (labels: Int32Array) => labels.filter((_, r) => ds.symbol[r] === s).reduce((a, b) => a + b, 0);
      expect(ones(shuffled)).toBe(ones(ds.labels));
    }
    expect(permutedLabels(ds.labels, ds.symbol, 1)).toEqual(shuffled);
  });

  it('passes an honest pipeline, even with a strong real signal', async () => {
    const ds = syntheticTrainingDataset({ days: 200, signal: 2 });
    const result = await shuffledLabelControl(ds, (labels) => ({ ...ds, labels }), request, 0.05);
    expect(result.passed).toBe(true);
    expect(Math.abs(result.auc - 0.5)).toBeLessThan(0.05);
  });

  it('fails a pipeline in which a feature is derived from the labels', async () => {
    const ds = syntheticTrainingDataset({ days: 200, signal: 0 });
    // A "feature" assembled from the label column (e.g. a careless target encoding).
    const leaking = (labels: Int32Array): TrainingDataset => {
      const values = ds.values.slice();
      const p = ds.columns.length;
      labels.forEach((y, r) => (values[r * p + 1] = y + 0.1 * values[r * p + 2]));
      return { ...ds, values, labels };
    };
    const result = await shuffledLabelControl(ds, leaking, request, 0.05);
    expect(result.passed).toBe(false);
    expect(result.auc).toBeGreaterThan(0.9);
    expect(result.message).toMatch(/fails as leaking/);
  });
});
