import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { rng } from '../../../lib/random';
import { decodeArtifact, encodeArtifact } from '../../../models/artifact';
import type { FeatureMatrix, ModelState } from '../../../models/model';
import { mlp, mlpParamsSchema, sequenceModel, type NeuralAlgorithm } from '../../../models/neural';
import { NetworkKernel } from '../../../models/neural/network-kernel';
import { networkPartsJob, RemoteParts } from '../../../models/neural/network-threads';
import { sharedFloat32, sharedInt32 } from '../../../lib/threads/shared-memory';
import { sharedPool, type TaskPool } from '../../../lib/threads/task-pool';
import { accuracy, independentTimes, noise, separable, type Dataset } from '../../helpers/datasets';

const context = { featureSetVersion: 'fs-test-000000000000', label: { kind: 'direction', horizon: 5 } };
const algorithms = new Map([
  [mlp.name, mlp.version],
  [sequenceModel.name, sequenceModel.version],
]);

/**
 * Windows of `window` days × 2 base features, oldest day first: a random walk starting at a random
 * level, and a noise column. The label is whether the walk rose over the window (last day above
 * the first), which depends on the order of the days, not on their values as a set.
 */
function rising(rows: number, window: number, seed: number): Dataset {
  const next = rng(seed);
  const q = 2;
  const p = window * q;
  const values = new Float64Array(rows * p);
  const y = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let level = next() * 10 - 5;
    const first = level;
    for (let t = 0; t < window; t++) {
      if (t > 0) level += next() * 2 - 1;
      values[r * p + t * q] = level;
      values[r * p + t * q + 1] = next();
    }
    y[r] = level > first ? 1 : 0;
  }
  const featureNames = Array.from({ length: p }, (_, j) => `${j % q === 0 ? 'walk' : 'noise'}_lag${window - 1 - Math.floor(j / q)}`);
  return { x: { values, rows, featureNames }, y };
}

const reversed = (x: FeatureMatrix): FeatureMatrix => ({ ...x, featureNames: [...x.featureNames].reverse() });
const identical = (a: Float64Array, b: Float64Array): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

describe('neural models without TensorFlow.js', () => {
  it('fit, restore and predict in a process that never loads it', () => {
    // A process of its own: Jest's module registry does not show what a real process loads.
    const script = `
      const { mlp } = require('./models/neural');
      const rows = 300, p = 4, values = new Float64Array(rows * p).map((_, i) => Math.sin(i));
      const labels = Int32Array.from({ length: rows }, (_, r) => (values[r * p] > 0 ? 1 : 0));
      const x = { values, rows, featureNames: ['a', 'b', 'c', 'd'] };
      mlp.fit({ features: x, labels, classes: 2, seed: 1 }, { epochs: 2, validationFraction: 0 }).then((m) => {
        const proba = mlp.restore(m.state()).predictProba(x);
        const tensorflow = Object.keys(require.cache).filter((f) => f.includes('@tensorflow'));
        console.log(JSON.stringify({ predictions: proba.length, tensorflow }));
        process.exit(0);
      });`;
    const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: path.join(__dirname, '../../..'), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ predictions: 600, tensorflow: [] });
  });
});

describe('mlp', () => {
  it('learns a separable problem, stays at chance on noise, and stops early there', async () => {
    const train = separable(2000);
    const test = separable(1000, 5, 99);
    const model = await mlp.fit({ features: train.x, times: independentTimes(train.x.rows), labels: train.y, classes: 2, seed: 1 }, { learningRate: 0.01 });
    expect(accuracy(model.predictProba(test.x), test.y)).toBeGreaterThan(0.95);

    const n = noise(3000);
    const fresh = noise(3000, 5, 3);
    const m = await mlp.fit({ features: n.x, times: independentTimes(n.x.rows), labels: n.y, classes: 2, seed: 1 }, { epochs: 200, patience: 4 });
    const acc = accuracy(m.predictProba(fresh.x), fresh.y);
    expect(acc).toBeGreaterThan(0.45);
    expect(acc).toBeLessThan(0.55);
    expect(m.training.epochsRun).toBeLessThan(200);
    expect(m.training.epochsRun - m.training.bestEpoch).toBe(4); // stopped `patience` epochs after the best
    expect(m.state().params).toMatchObject({ epochs: 200, patience: 4, epochsRun: m.training.epochsRun, bestEpoch: m.training.bestEpoch });
  });

  it('refuses invalid parameters and inputs with a clear error', async () => {
    const d = separable(100);
    const input = { features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 1 };
    await expect(mlp.fit(input, { hiddenLayers: [64, 0] })).rejects.toThrow(/mlp\.fit: invalid parameters: hiddenLayers\.1: /);
    await expect(mlp.fit(input, { dropout: 1 })).rejects.toThrow(/invalid parameters: dropout: /);
    await expect(mlp.fit(input, { learningRate: -1, batchSize: 0.5 })).rejects.toThrow(/learningRate: .*; batchSize: /);
    await expect(mlp.fit(input, { validationFraction: 0.001 })).rejects.toThrow(/leaves no validation row/);
    await expect(mlp.fit({ ...input, labels: d.y.subarray(1) }, {})).rejects.toThrow(/99 labels for 100 rows/);
    await expect(mlp.fit({ ...input, classes: 1 }, {})).rejects.toThrow(/classes must be an integer ≥ 2/);
  });

  it('handles more than two classes, with probabilities summing to one', async () => {
    const make = (rows: number, seed: number): Dataset => {
      const next = rng(seed);
      const values = Float64Array.from({ length: rows * 4 }, () => next());
      const y = Int32Array.from({ length: rows }, (_, r) => {
        const v = values.subarray(r * 4, r * 4 + 3);
        return v.indexOf(Math.max(...v));
      });
      return { x: { values, rows, featureNames: ['a', 'b', 'c', 'd'] }, y };
    };
    const train = make(2000, 1);
    const test = make(500, 2);
    const model = await mlp.fit({ features: train.x, times: independentTimes(train.x.rows), labels: train.y, classes: 3, seed: 1 }, { learningRate: 0.01, epochs: 40 });
    const proba = model.predictProba(test.x);
    expect(proba.length).toBe(500 * 3);
    for (let r = 0; r < 500; r++) expect(proba[r * 3] + proba[r * 3 + 1] + proba[r * 3 + 2]).toBeCloseTo(1, 5);
    expect(accuracy(proba, test.y, 3)).toBeGreaterThan(0.9);
  });

  it('stops when the signal is aborted', async () => {
    const d = separable(200);
    const controller = new AbortController();
    controller.abort(new Error('cancelled by the test'));
    await expect(mlp.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 1, signal: controller.signal }, {})).rejects.toThrow(/cancelled by the test/);
  });

  it('treats sample weights as relative (all 2 is the same as none)', async () => {
    const d = separable(300);
    const bytes = async (weights?: Float64Array) =>
      encodeArtifact((await mlp.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 3, weights }, { epochs: 5 })).state(), context);
    expect((await bytes(new Float64Array(300).fill(2))).equals(await bytes())).toBe(true);
  });
});

describe('conv1d sequence model', () => {
  it('learns a label that depends on the order of the days in the window', async () => {
    const train = rising(2000, 8, 5);
    const test = rising(1000, 8, 6);
    const model = await sequenceModel.fit({ features: train.x, times: independentTimes(train.x.rows), labels: train.y, classes: 2, seed: 1 }, { window: 8, learningRate: 0.01, epochs: 40 });
    expect(accuracy(model.predictProba(test.x), test.y)).toBeGreaterThan(0.9);
    expect(model.state().params).toMatchObject({ window: 8, kernelSize: 3, filters: 16, units: 32 });
  });

  it('refuses a column count not divisible by the window, and bad window parameters', async () => {
    const d = rising(50, 4, 1); // 8 columns
    const input = { features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 1 };
    await expect(sequenceModel.fit(input, { window: 3 })).rejects.toThrow(/8 feature columns are not divisible by window 3/);
    await expect(sequenceModel.fit(input, { window: 4, kernelSize: 5 })).rejects.toThrow(/kernelSize 5 is larger than window 4/);
    await expect(sequenceModel.fit(input, {} as { window: number })).rejects.toThrow(/conv1d\.fit: invalid parameters: window: /);
  });
});

describe.each([
  ['mlp', mlp as NeuralAlgorithm<Record<string, unknown>>, separable(600), {}],
  ['conv1d', sequenceModel as NeuralAlgorithm<Record<string, unknown>>, rising(600, 5, 9), { window: 5, kernelSize: 2 }],
] as const)('%s artifacts', (_, algorithm, d, params) => {
  const fit = (seed: number) => algorithm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed }, { ...params, epochs: 15 });

  it('are byte-identical for the same data, parameters and seed (A, B, A in one process)', async () => {
    const a = encodeArtifact((await fit(1)).state(), context);
    const b = encodeArtifact((await fit(2)).state(), context);
    const again = encodeArtifact((await fit(1)).state(), context);
    expect(again.equals(a)).toBe(true);
    expect(b.equals(a)).toBe(false);
  });

  it('are byte-identical on 1, 2, 3 and 4 threads (batch parts summed in one order), with dropout, weights and early stopping', async () => {
    const weights = Float64Array.from({ length: d.x.rows }, (_, i) => 0.5 + (i % 7) / 4);
    const bytes = async (threads: number) =>
      encodeArtifact((await algorithm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 5, weights, threads }, { ...params, epochs: 6, dropout: 0.2, batchSize: 90, validationFraction: 0.2, patience: 2 })).state(), context);
    const one = await bytes(1);
    for (const threads of [2, 3, 4]) expect((await bytes(threads)).equals(one)).toBe(true);
  });

  it('train without waiting for a pool thread that is busy (fewer threads, the same bytes)', async () => {
    const bytes = async (threads: number) => encodeArtifact((await algorithm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 5, threads }, { ...params, epochs: 3, batchSize: 90 })).state(), context);
    const alone = await bytes(1);
    // Occupy the pool's first thread with a served job that runs until it is told to stop.
    const pool = sharedPool(2) as TaskPool;
    const kernel = new NetworkKernel({ inputs: 1, conv: null, hidden: [], classes: 2 }, 4);
    const one = sharedFloat32(4);
    const blocker = new RemoteParts(networkPartsJob(kernel, { x: one, labels: sharedInt32(4), trainRows: 4, validationRows: 0 }, one, sharedInt32(4), [], 4), 0, 0);
    const blocked = pool.run(0, 'networkParts', blocker.job);
    await blocker.untilServing(60_000);
    try {
      expect(pool.idleThreads(1)).toEqual([]);
      expect((await bytes(2)).equals(alone)).toBe(true);
    } finally {
      blocker.stop();
      await blocked;
    }
  });

  it('round-trip to identical predictions and identical bytes', async () => {
    const model = await fit(7);
    const bytes = encodeArtifact(model.state(), context);
    const { state } = decodeArtifact(bytes, { featureNames: d.x.featureNames, featureSetVersion: context.featureSetVersion, algorithms });
    const restored = algorithm.restore(state);
    expect(identical(restored.predictProba(d.x), model.predictProba(d.x))).toBe(true);
    expect(encodeArtifact(restored.state(), context).equals(bytes)).toBe(true);
    expect(restored.training).toEqual(model.training);
  });

  it('refuses a different feature order, a mismatched payload and another algorithm', async () => {
    const model = await fit(7);
    expect(() => model.predictProba(reversed(d.x))).toThrow(/features differ from the model's/);
    const state: ModelState = model.state();
    expect(() => algorithm.restore({ ...state, payload: state.payload.subarray(4) })).toThrow(/payload holds \d+ bytes; the network of the stored parameters needs/);
    expect(() => algorithm.restore({ ...state, algorithm: 'svm' })).toThrow(/the state is of algorithm "svm"/);
  });

  it('predict each row from that row alone: a batch gives the bits of its rows one at a time (rowwise)', async () => {
    const model = await fit(7);
    expect(model.rowwise).toBe(true);
    const p = d.x.featureNames.length;
    const batch = model.predictProba(d.x);
    for (const r of [0, 1, 5, 299, d.x.rows - 1]) {
      const one = model.predictProba({ ...d.x, rows: 1, values: d.x.values.subarray(r * p, (r + 1) * p) });
      expect(identical(one, batch.subarray(2 * r, 2 * r + 2))).toBe(true);
    }
    // Latency is measured by bench/models-vs-sklearn.ts, never in a unit test.
  });
});

describe('mlp parameters from a search space', () => {
  it('accepts hidden layers written as "64,32" (search-space choices hold plain values)', () => {
    expect(mlpParamsSchema.parse({ hiddenLayers: '64,32' }).hiddenLayers).toEqual([64, 32]);
    expect(mlpParamsSchema.parse({ hiddenLayers: '' }).hiddenLayers).toEqual([]);
    expect(() => mlpParamsSchema.parse({ hiddenLayers: '64,x' })).toThrow();
  });
});
