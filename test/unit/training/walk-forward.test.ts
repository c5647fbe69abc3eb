import { tempDir } from '../../helpers/databases';
import { syntheticTrainingDataset } from '../../helpers/training-dataset';
import { readPredictions, walkForwardPredict, writePredictions, type WalkForwardRequest } from '../../../lib/training/walk-forward';
import { crossValidate, searchFoldsOf } from '../../../lib/training/trial';
import { firstEvaluationDay, searchWindowOf } from '../../../lib/training/evaluation-period';
import { localArtifactStore } from '../../../lib/artifacts/artifact-store';
import { TaskPool } from '../../../lib/threads/task-pool';
import { loadModelRuntimes } from '../../../models/algorithms';

const request: WalkForwardRequest = { algorithm: 'logistic_regression', params: {}, mode: 'expanding', evaluationDays: 100, testDays: 20, trainDays: 100, embargoDays: 0, maxTrainRows: 10_000, seed: 1, threads: 1 };

describe('walk-forward predictions', () => {
  it('predicts every row of the evaluation period out of sample, once, retraining every block', async () => {
    const ds = syntheticTrainingDataset({ days: 300, horizon: 5 });
    const out = await walkForwardPredict(ds, 'td-test', request);
    const lastDay = ds.start[ds.rows - 1];
    const expected = [...ds.start.keys()].filter((r) => ds.start[r] > lastDay - 100);
    expect(Array.from(out.rows)).toEqual(expected);
    expect(out.windows).toHaveLength(5);
    expect(out.windows.map((w) => w.testStartDay)).toEqual([195, 215, 235, 255, 275]);
    // Expanding: each window trains on everything whose label ended before its test start.
    expect(out.windows.map((w) => w.trainRows)).toEqual([190, 210, 230, 250, 270].map((d) => d * 4));
    let hits = 0;
    for (let i = 0; i < out.rows.length; i++) if ((out.proba[i * 2 + 1] > 0.5 ? 1 : 0) === ds.labels[out.rows[i]]) hits++;
    expect(hits / out.rows.length).toBeGreaterThan(0.6); // f0 carries the label
  });

  it('predicts a long block of an SVM in parts on two threads, bit for bit as on one', async () => {
    await loadModelRuntimes();
    const ds = syntheticTrainingDataset({ symbols: 100, days: 120, horizon: 5 });
    const svmRequest: WalkForwardRequest = { ...request, algorithm: 'svm', evaluationDays: 40, testDays: 20, maxTrainRows: 300 };
    const run = jest.spyOn(TaskPool.prototype, 'run');
    const one = await walkForwardPredict(ds, 'td-test', svmRequest);
    expect(run.mock.calls.filter(([, task]) => task === 'predictProba')).toHaveLength(0);
    const two = await walkForwardPredict(ds, 'td-test', { ...svmRequest, threads: 2 });
    // Two blocks of 2,000 rows, each half on the other thread.
    expect(run.mock.calls.filter(([, task]) => task === 'predictProba')).toHaveLength(2);
    run.mockRestore();
    expect(two.rows).toEqual(one.rows);
    expect(Buffer.from(two.proba.buffer).equals(Buffer.from(one.proba.buffer))).toBe(true);
  });

  it('rolling windows train on the last trainDays only, and predictions round-trip through their file', async () => {
    const ds = syntheticTrainingDataset({ days: 300, horizon: 5 });
    const out = await walkForwardPredict(ds, 'td-test', { ...request, mode: 'rolling', trainDays: 60 });
    // Rolling: decision days in [testStart - 60, testStart - 6] (labels must end before the test).
    expect(out.windows.every((w) => w.trainRows === 55 * 4)).toBe(true);
    const dir = tempDir('mlp-predictions-');
    const id = await writePredictions(localArtifactStore(dir), out);
    expect(await readPredictions(localArtifactStore(dir), id)).toEqual(out);
  });

  it('cross-validation finds the signal and not a noise feature set', async () => {
    const withSignal = await crossValidate(syntheticTrainingDataset({ days: 200 }), { algorithm: 'logistic_regression', params: {}, folds: 4, embargoDays: 5, maxTrainRows: 5000, maxTestRows: 5000, seed: 1, threads: 1 });
    const noise = await crossValidate(syntheticTrainingDataset({ days: 200, signal: 0 }), { algorithm: 'logistic_regression', params: {}, folds: 4, embargoDays: 5, maxTrainRows: 5000, maxTestRows: 5000, seed: 1, threads: 1 });
    expect(withSignal.score).toBeGreaterThan(0.7);
    expect(Math.abs(noise.score - 0.5)).toBeLessThan(0.06);
    expect(withSignal.folds.map((f) => f.fold)).toEqual([0, 1, 2, 3]);
  });

  it("the search's folds leave out the evaluation period, so no parameter is chosen on the days that judge it", async () => {
    // Noise before the evaluation period, and a feature that carries the label only inside it.
    const ds = syntheticTrainingDataset({ days: 300, signal: 0 });
    const first = firstEvaluationDay(ds, 100);
    for (let r = 0; r < ds.rows; r++) if (ds.start[r] >= first) ds.values[r * ds.columns.length] = ds.labels[r] - 0.5;
    const search = { algorithm: 'logistic_regression', params: {}, folds: 5, embargoDays: 5, maxTrainRows: 5000, maxTestRows: 5000, seed: 1, threads: 1 };
    const folds = searchFoldsOf(ds, { ...search, evaluationDays: 100 });
    const used = folds.flatMap((f) => [...f.train, ...f.test]);
    expect(used.length).toBeGreaterThan(0);
    // Every row the folds use had its label known before the evaluation period began.
    expect(used.every((r) => ds.end[r] < first)).toBe(true);
    expect(new Set(folds.flatMap((f) => [...f.test])).size).toBe([...ds.end].filter((e) => e < first).length);
    const scoped = await crossValidate(ds, { ...search, evaluationDays: 100 });
    const whole = await crossValidate(ds, search);
    expect(Math.abs(scoped.score - 0.5)).toBeLessThan(0.05);
    expect(whole.score).toBeGreaterThan(0.6); // the whole dataset's folds see the evaluation period's signal
    expect(() => searchFoldsOf(ds, { ...search, evaluationDays: 290 })).toThrow(/before the evaluation period/);
    // What a version records of it: the period's first day and the last day a label of the search's rows reached.
    const lastEnd = Math.max(...used.map((r) => ds.end[r]));
    expect(searchWindowOf(ds, 100)).toEqual({ evaluationFrom: ds.days[first], searchThrough: ds.days[lastEnd] });
    expect(ds.days[lastEnd] < ds.days[first]).toBe(true);
    expect(searchWindowOf(ds, 295)).toBeUndefined(); // not shorter than the data's 295 decision days
    expect(searchWindowOf(ds, 294)).toBeUndefined(); // no row's label ends before it
  });
});
