import type { TrainingDataset } from '../../../lib/training/dataset';
import { permutedLabels, shuffledLabelControl } from '../../../lib/training/leakage-guards';
import type { TrialRequest } from '../../../lib/training/trial';
import { syntheticTrainingDataset } from '../../helpers/training-dataset';

const request: TrialRequest = { algorithm: 'logistic_regression', params: {}, folds: 4, embargoDays: 5, maxTrainRows: 10_000, maxTestRows: 10_000, seed: 3, threads: 1 };

describe('shuffled-label control', () => {
  it('permutes labels across all rows (class balance kept), reproducibly', () => {
    const ds = syntheticTrainingDataset({ symbols: 3, days: 100 });
    const shuffled = permutedLabels(ds.labels, 1);
    expect(shuffled).not.toEqual(ds.labels);
    const ones = (labels: Int32Array) => labels.reduce((a, b) => a + b, 0);
    expect(ones(shuffled)).toBe(ones(ds.labels));
    expect(permutedLabels(ds.labels, 1)).toEqual(shuffled);
    expect(permutedLabels(ds.labels, 2)).not.toEqual(shuffled);
  });

  it('is not fooled by symbols with different up-rates that the features identify', async () => {
    // Symbol s is up with probability 0.3 + 0.4·s/3 and feature f1 names the symbol: no leak, and
    // a within-symbol permutation would keep those rates for the model to find.
    const ds = syntheticTrainingDataset({ symbols: 4, days: 300, signal: 0 });
    const p = ds.columns.length;
    const rates = [0.3, 0.43, 0.57, 0.7];
    let state = 17;
    const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let r = 0; r < ds.rows; r++) {
      ds.labels[r] = next() < rates[ds.symbol[r]] ? 1 : 0;
      ds.values[r * p + 1] = ds.symbol[r];
    }
    const result = await shuffledLabelControl(ds, (labels) => ({ ...ds, labels }), request, 0.03);
    expect(result.passed).toBe(true);
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
