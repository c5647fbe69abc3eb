/**
 * The network kernel's gradients and logits against TF.js's automatic differentiation of the same
 * loss (the oracle), on networks whose widths and batches need every kind of padding: odd widths,
 * batches not divisible by 4 or by the batch parts, a convolution whose filters are not a multiple
 * of 8, dropout masks and unequal row weights.
 */
import type * as TF from '@tensorflow/tfjs';
import { rng } from '../../../lib/random';
import { loadTensorFlow, requestedBackend, tensorFlowInfo, type TensorFlow } from '../../helpers/tensorflow';
import { dropoutWidths, minibatchGradients, normalisedWeights, weightCount, weightShapes, type Architecture, type TrainingData } from '../../../models/neural/network';
import { NetworkKernel } from '../../../models/neural/network-kernel';

let tf: TensorFlow;
beforeAll(async () => {
  tf = await loadTensorFlow();
  const info = tensorFlowInfo();
  console.log(`oracle: the TensorFlow.js "${info?.backend}" backend${info?.skipped.length ? ` (skipped: ${info.skipped.join('; ')})` : ''}`);
});

describe('the TensorFlow.js oracle', () => {
  it('reports the active backend', () => {
    expect(['node', 'wasm', 'cpu']).toContain(tensorFlowInfo()?.backend);
    expect(tf.getBackend()).toBe(tensorFlowInfo()?.backend === 'node' ? 'tensorflow' : tensorFlowInfo()?.backend);
  });

  it('validates TFJS_BACKEND', () => {
    expect(requestedBackend({ TFJS_BACKEND: 'WASM' })).toBe('wasm');
    expect(requestedBackend({})).toBeUndefined();
    expect(() => requestedBackend({ TFJS_BACKEND: 'gpu' })).toThrow(/TFJS_BACKEND="gpu" is not one of node, wasm, cpu/);
  });
});

interface Case {
  name: string;
  a: Architecture;
  rows: number;
  dropout: boolean;
  weighted: boolean;
}
const cases: Case[] = [
  { name: 'the benchmark MLP 61-64-32-2, batch 200', a: { inputs: 61, conv: null, hidden: [64, 32], classes: 2 }, rows: 200, dropout: false, weighted: false },
  { name: 'odd widths 7-5-3-3, 13 rows, dropout, weights', a: { inputs: 7, conv: null, hidden: [5, 3], classes: 3 }, rows: 13, dropout: true, weighted: true },
  { name: 'no hidden layer, 10 inputs, 4 classes, 9 rows', a: { inputs: 10, conv: null, hidden: [], classes: 4 }, rows: 9, dropout: false, weighted: true },
  { name: 'convolution 6×3, kernel 3, 5 filters, dense 4, 11 rows, dropout', a: { inputs: 18, conv: { window: 6, channels: 3, kernelSize: 3, filters: 5 }, hidden: [4], classes: 2 }, rows: 11, dropout: true, weighted: true },
  { name: 'convolution 4×2, kernel 4, 9 filters, no dense layer, 3 rows', a: { inputs: 8, conv: { window: 4, channels: 2, kernelSize: 4, filters: 9 }, hidden: [], classes: 3 }, rows: 3, dropout: false, weighted: false },
];

function randomProblem(c: Case, seed: number) {
  const next = rng(seed);
  const x = Float32Array.from({ length: c.rows * c.a.inputs }, () => next() * 4 - 2);
  const labels = Int32Array.from({ length: c.rows }, () => Math.floor(next() * c.a.classes));
  const weights = c.weighted ? Float64Array.from({ length: c.rows }, () => 0.1 + next() * 3) : undefined;
  const shapes = weightShapes(c.a);
  const w = shapes.map((s) => Float32Array.from({ length: weightCount(s) }, () => (next() * 2 - 1) * (s.cols === 0 ? 0.3 : 0.8)));
  const masks = c.dropout ? dropoutWidths(c.a).map((width) => Float32Array.from({ length: c.rows * width }, () => (next() < 0.7 ? 1 / 0.7 : 0))) : undefined;
  // Rows in a shuffled order, as a minibatch takes them.
  const order = Int32Array.from({ length: c.rows }, (_, i) => i);
  for (let i = c.rows - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const data: TrainingData = { x, labels, weights, trainRows: c.rows, validationRows: 0 };
  return { data, w, masks, order, rowWeights: normalisedWeights(weights, 0, c.rows) };
}

/** The loss written with TF.js operations, differentiated by TF.js. */
function oracle(c: Case, p: ReturnType<typeof randomProblem>): { gradients: Float32Array[]; logits: Float32Array } {
  const { a } = c;
  const n = c.rows;
  const xs = new Float32Array(n * a.inputs);
  const ys = new Float32Array(n * a.classes);
  const ws = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = p.order[i];
    xs.set(p.data.x.subarray(r * a.inputs, (r + 1) * a.inputs), i * a.inputs);
    ys[i * a.classes + p.data.labels[r]] = 1;
    ws[i] = p.rowWeights[r];
  }
  const shapes = weightShapes(a);
  return tf.tidy(() => {
    const x = tf.tensor2d(xs, [n, a.inputs]);
    const widths = dropoutWidths(a);
    const masks = p.masks?.map((m, i) => tf.tensor2d(m, [n, widths[i]]));
    const logitsOf = (params: TF.Tensor[], masked: boolean): TF.Tensor2D => {
      let h: TF.Tensor2D = x;
      let k = 0;
      let m = 0;
      const dense = (input: TF.Tensor2D, relu: boolean): TF.Tensor2D => {
        const z = tf.add(tf.matMul(input, params[k++] as TF.Tensor2D), params[k++]) as TF.Tensor2D;
        return relu ? tf.relu(z) : z;
      };
      const drop = (t: TF.Tensor2D): TF.Tensor2D => (masked && masks ? tf.mul(t, masks[m++]) : t);
      if (a.conv) {
        const { window, channels, kernelSize, filters } = a.conv;
        const steps = window - kernelSize + 1;
        const patches = Array.from({ length: steps }, (_, t) => tf.slice(x, [0, t * channels], [n, kernelSize * channels]));
        const unfolded = tf.reshape(tf.concat(patches, 1), [n * steps, kernelSize * channels]) as TF.Tensor2D;
        h = drop(tf.reshape(dense(unfolded, true), [n, steps * filters]) as TF.Tensor2D);
      }
      for (let i = 0; i < a.hidden.length; i++) h = drop(dense(h, true));
      return dense(h, false);
    };
    const params = shapes.map((s, i) => (s.cols === 0 ? tf.tensor1d(p.w[i]) : tf.tensor2d(p.w[i], [s.rows, s.cols])));
    const y = tf.tensor2d(ys, [n, a.classes]);
    const w = tf.tensor1d(ws);
    const loss = (...ps: TF.Tensor[]) => tf.div(tf.sum(tf.mul(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(logitsOf(ps, true))), 1)), w)), n) as TF.Scalar;
    const gradients = tf.grads(loss)(params).map((g: TF.Tensor) => g.dataSync() as Float32Array);
    return { gradients, logits: logitsOf(params, false).dataSync() as Float32Array };
  });
}

function kernelGradients(c: Case, p: ReturnType<typeof randomProblem>, kernel = new NetworkKernel(c.a, 64)): Float32Array[] {
  kernel.setWeights(p.w);
  minibatchGradients(kernel, p.data, { order: p.order, start: 0, n: c.rows, weights: p.rowWeights, masks: p.masks });
  return kernel.gradients();
}

/** Adam as network.ts once did it in JavaScript (float64 moments, float32 weights): the kernel's must give its bits. */
function referenceAdam(weights: Float32Array[], penalised: boolean[], learningRate: number, l2: number) {
  const m = weights.map((w) => new Float64Array(w.length));
  const v = weights.map((w) => new Float64Array(w.length));
  let t = 0;
  return (gradients: Float32Array[]) => {
    t++;
    const c1 = 1 - 0.9 ** t;
    const c2 = 1 - 0.999 ** t;
    weights.forEach((w, k) => {
      const decay = penalised[k] ? 2 * l2 : 0;
      for (let i = 0; i < w.length; i++) {
        const gi = gradients[k][i] + decay * w[i];
        m[k][i] = 0.9 * m[k][i] + 0.1 * gi;
        v[k][i] = 0.999 * v[k][i] + 0.001 * gi * gi;
        w[i] -= (learningRate * (m[k][i] / c1)) / (Math.sqrt(v[k][i] / c2) + 1e-8);
      }
    });
  };
}

/** Largest |ours − oracle| relative to the array's largest oracle magnitude. */
function worst(ours: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 1e-3;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  let err = 0;
  for (let i = 0; i < expected.length; i++) err = Math.max(err, Math.abs(ours[i] - expected[i]));
  return err / scale;
}

describe('network kernel', () => {
  it.each(cases)('gives the gradients TF.js differentiates: $name', (c) => {
    for (const seed of [1, 2]) {
      const p = randomProblem(c, seed);
      const expected = oracle(c, p).gradients;
      const ours = kernelGradients(c, p);
      expect(ours.map((g) => g.length)).toEqual(expected.map((g) => g.length));
      ours.forEach((g, i) => expect(worst(g, expected[i])).toBeLessThan(1e-5));
      // Not all zero: the comparison is not vacuous.
      expect(ours.every((g) => g.some((v) => v !== 0))).toBe(true);
    }
  });

  it.each(cases)('gives the logits TF.js computes: $name', (c) => {
    const p = randomProblem(c, 3);
    const expected = oracle(c, p).logits;
    const kernel = new NetworkKernel(c.a, 256);
    kernel.setWeights(p.w);
    kernel.loadRows(p.data.x, p.order, 0, c.rows);
    const { logits, stride } = kernel.forward(false);
    const ours = Float32Array.from({ length: c.rows * c.a.classes }, (_, i) => logits[Math.floor(i / c.a.classes) * stride + (i % c.a.classes)]);
    expect(worst(ours, expected)).toBeLessThan(1e-5);
  });

  it('gives the same bits whatever the kernel held before (padding rows and columns are cleared)', () => {
    const c = cases[3];
    const p = randomProblem(c, 4);
    const fresh = kernelGradients(c, p);
    const kernel = new NetworkKernel(c.a, 64);
    const other = randomProblem({ ...c, rows: 40 }, 5);
    kernelGradients({ ...c, rows: 40 }, other, kernel);
    const reused = kernelGradients(c, p, kernel);
    reused.forEach((g, i) => expect(Buffer.from(g.buffer).equals(Buffer.from(fresh[i].buffer))).toBe(true));
  });

  it.each([cases[1], cases[3]])('takes Adam steps bit for bit as the JavaScript reference: $name', (c) => {
    const p = randomProblem(c, 8);
    const kernel = new NetworkKernel(c.a, 64);
    kernel.setWeights(p.w);
    kernel.startAdam(0.01, 0.05);
    const expected = p.w.map((w) => w.slice());
    const step = referenceAdam(expected, weightShapes(c.a).map((s) => s.cols > 0), 0.01, 0.05);
    for (let t = 0; t < 5; t++) {
      minibatchGradients(kernel, p.data, { order: p.order, start: 0, n: c.rows, weights: p.rowWeights, masks: p.masks });
      step(kernel.gradients());
      kernel.adamStep();
      kernel.weights().forEach((w, i) => expect(Buffer.from(w.buffer).equals(Buffer.from(expected[i].buffer))).toBe(true));
    }
    // The weights moved.
    expect(expected.some((w, i) => w.some((v, j) => v !== p.w[i][j]))).toBe(true);
  });

  it('refuses a block larger than its capacity', () => {
    const c = cases[0];
    const p = randomProblem(c, 6);
    expect(() => new NetworkKernel(c.a, 16).loadRows(p.data.x, p.order, 0, 17)).toThrow(/a block holds 1\.\.16 rows, not 17/);
  });
});
