/**
 * The network behind both neural algorithms, described by our own validated JSON (never a TF.js
 * model.json), trained by our own loop so that every random choice comes from our seeded streams:
 *
 *   input (p standardised columns)
 *   [conv front]  1-D convolution over `window` steps of `channels` = p / window features,
 *                 kernel `kernelSize`, `filters` outputs, stride 1, 'valid', ReLU, flattened
 *                 position-major to (window - kernelSize + 1) × filters values;
 *   dense layers  `hidden` sizes, ReLU;
 *   output        `classes` logits, softmax.
 *
 * Dropout (inverted, rate `dropout`) is applied to every hidden representation before the next
 * dense layer, in training only. The convolution is computed as an unfolded matrix product
 * (im2col): the window's columns are oldest first, so the patch at step t is the contiguous
 * column range [t·channels, (t + kernelSize)·channels). This uses only MatMul/Slice/Concat, whose
 * gradients every backend has (tfjs-backend-wasm has no Conv2DBackpropFilter kernel, so tf.conv1d
 * cannot be trained on it).
 *
 * Weights, in this order, each row-major float32 (see weightShapes):
 *   conv kernel [kernelSize·channels, filters] (= TF's [kernelSize, channels, filters]), conv bias
 *   [filters]; then per dense layer kernel [in, out], bias [out]; the output layer last.
 *
 * Training: the weights live in JavaScript as float32 arrays; each minibatch step uploads them,
 * TF.js computes the loss gradients (tf.grads), and Adam updates them in JavaScript (see Adam).
 *
 * Determinism: initial weights (Glorot uniform, zero biases), minibatch order and dropout masks
 * are drawn from mulberry32 streams derived from the seed, nothing from TF.js's own random state.
 * On a given backend the same data, parameters and seed give the same weights bit for bit; other
 * backends may differ in the last bits (different kernels, same arithmetic).
 */
import type * as TF from '@tensorflow/tfjs';
import { rng } from '../../lib/random';
import type { NeuralBackend, TensorFlow } from './tensorflow';
import { yieldToEventLoop } from '../../lib/event-loop';

export interface ConvFront {
  window: number;
  channels: number;
  kernelSize: number;
  filters: number;
}

export interface Architecture {
  inputs: number;
  conv: ConvFront | null;
  hidden: readonly number[];
  classes: number;
}

export interface WeightShape {
  name: string;
  rows: number;
  /** 0 for a bias vector. */
  cols: number;
}

export function weightShapes(a: Architecture): WeightShape[] {
  const shapes: WeightShape[] = [];
  let width = a.inputs;
  if (a.conv) {
    const c = a.conv;
    shapes.push({ name: 'conv.kernel', rows: c.kernelSize * c.channels, cols: c.filters }, { name: 'conv.bias', rows: c.filters, cols: 0 });
    width = (c.window - c.kernelSize + 1) * c.filters;
  }
  [...a.hidden, a.classes].forEach((units, i) => {
    const name = i < a.hidden.length ? `dense${i}` : 'output';
    shapes.push({ name: `${name}.kernel`, rows: width, cols: units }, { name: `${name}.bias`, rows: units, cols: 0 });
    width = units;
  });
  return shapes;
}

export const weightCount = (s: WeightShape): number => s.rows * Math.max(1, s.cols);

/** Widths of the hidden representations that dropout applies to, in forward order. */
function dropoutWidths(a: Architecture): number[] {
  const widths = a.conv ? [(a.conv.window - a.conv.kernelSize + 1) * a.conv.filters] : [];
  return [...widths, ...a.hidden];
}

/** Independent streams for initialisation, minibatch order and dropout, all from one seed. */
function stream(seed: number, purpose: number): () => number {
  return rng(Math.imul((seed >>> 0) ^ Math.imul(purpose, 0x85ebca6b), 0x9e3779b1) >>> 0);
}

function initialWeights(shapes: readonly WeightShape[], seed: number): Float32Array[] {
  const next = stream(seed, 1);
  return shapes.map((s) => {
    const w = new Float32Array(weightCount(s));
    if (s.cols === 0) return w; // biases start at zero
    const limit = Math.sqrt(6 / (s.rows + s.cols)); // Glorot uniform
    for (let i = 0; i < w.length; i++) w[i] = (next() * 2 - 1) * limit;
    return w;
  });
}

function tensorOf(tf: TensorFlow, s: WeightShape, values: Float32Array): TF.Tensor {
  return s.cols === 0 ? tf.tensor1d(values, 'float32') : tf.tensor2d(values, [s.rows, s.cols], 'float32');
}

type CustomGradient = Parameters<TensorFlow['customGrad']>[0];
type Dense = (x: TF.Tensor2D, w: TF.Tensor2D, b: TF.Tensor1D, relu: boolean) => TF.Tensor2D;

/** Inference: bias and ReLU fused into the product where the backend can. */
const inferenceDense = (tf: TensorFlow): Dense => (x, w, b, relu) => tf.fused.matMul({ a: x, b: w, bias: b, activation: relu ? 'relu' : 'linear' }) as TF.Tensor2D;

/**
 * Training: relu(x·w + b) with its gradient written out. TF.js's own MatMul gradient multiplies by
 * transposed operands (transposeA/transposeB), which the wasm backend runs ~4× slower than an
 * explicit Transpose followed by a plain product. `inputIsData` skips the gradient of x (the
 * first layer's input is the data, a constant).
 */
function trainingDense(tf: TensorFlow, inputIsData: boolean): Dense {
  return (x, w, b, relu) => {
    const value = (wi: TF.Tensor2D, bi: TF.Tensor1D, xi: TF.Tensor2D): TF.Tensor2D => {
      const z = tf.add<TF.Tensor2D>(tf.matMul(xi, wi), bi);
      return relu ? tf.relu(z) : z;
    };
    const dz = (dy: TF.Tensor2D, out: TF.Tensor2D): TF.Tensor2D => (relu ? tf.mul(dy, tf.step(out)) : dy);
    const grads = (d: TF.Tensor2D, xi: TF.Tensor2D) => [tf.matMul(tf.transpose(xi), d), tf.sum(d, 0)];
    if (inputIsData) {
      const op = tf.customGrad(((wi: TF.Tensor2D, bi: TF.Tensor1D, save: TF.GradSaveFunc) => {
        const out = value(wi, bi, x);
        save([out, x]); // x may be an intermediate (the unfolded windows), disposed after the forward pass
        return { value: out, gradFunc: (dy: TF.Tensor2D, saved: TF.Tensor[]) => grads(dz(dy, saved[0] as TF.Tensor2D), saved[1] as TF.Tensor2D) };
      }) as unknown as CustomGradient);
      return op(w, b) as TF.Tensor2D;
    }
    const op = tf.customGrad(((wi: TF.Tensor2D, bi: TF.Tensor1D, xi: TF.Tensor2D, save: TF.GradSaveFunc) => {
      const out = value(wi, bi, xi);
      save([wi, xi, out]);
      return {
        value: out,
        gradFunc: (dy: TF.Tensor2D, saved: TF.Tensor[]) => {
          const d = dz(dy, saved[2] as TF.Tensor2D);
          return [...grads(d, saved[1] as TF.Tensor2D), tf.matMul(d, tf.transpose(saved[0] as TF.Tensor2D))];
        },
      };
    }) as unknown as CustomGradient);
    return op(w, b, x) as TF.Tensor2D;
  };
}

/**
 * Logits for a [rows, inputs] batch. With `training` the layers carry gradients for the trainable
 * weights and `training.masks` (inverted dropout, one per hidden representation) are applied.
 */
export function forward(tf: TensorFlow, a: Architecture, w: readonly TF.Tensor[], x: TF.Tensor2D, training?: { masks?: readonly TF.Tensor2D[] }): TF.Tensor2D {
  const rows = x.shape[0];
  let h: TF.Tensor2D = x;
  let wi = 0;
  let mi = 0;
  const masks = training?.masks;
  const dropout = (t: TF.Tensor2D): TF.Tensor2D => (masks ? tf.mul(t, masks[mi++]) : t);
  const first = training ? trainingDense(tf, true) : inferenceDense(tf);
  const next = training ? trainingDense(tf, false) : first;
  const dense = (layer: Dense, input: TF.Tensor2D, relu: boolean): TF.Tensor2D => layer(input, w[wi++] as TF.Tensor2D, w[wi++] as TF.Tensor1D, relu);
  let layer = first;
  if (a.conv) {
    const { window, channels, kernelSize, filters } = a.conv;
    const steps = window - kernelSize + 1;
    const patches: TF.Tensor2D[] = [];
    for (let t = 0; t < steps; t++) patches.push(tf.slice(x, [0, t * channels], [rows, kernelSize * channels]));
    // [rows, steps·kernelSize·channels] → one patch per (row, step) → [rows·steps, filters]
    const unfolded = tf.reshape<TF.Rank.R2>(steps === 1 ? patches[0] : tf.concat(patches, 1), [rows * steps, kernelSize * channels]);
    h = dropout(tf.reshape<TF.Rank.R2>(dense(layer, unfolded, true), [rows, steps * filters]));
    layer = next;
  }
  for (let i = 0; i < a.hidden.length; i++) {
    h = dropout(dense(layer, h, true));
    layer = next;
  }
  return dense(layer, h, false);
}

/** Softmax probabilities for standardised rows (float32, row-major), computed in chunks. */
export function predictNetwork(tf: TensorFlow, a: Architecture, weights: readonly Float32Array[], x: Float32Array, rows: number): Float64Array {
  const shapes = weightShapes(a);
  const out = new Float64Array(rows * a.classes);
  const chunk = 8192;
  for (let start = 0; start < rows; start += chunk) {
    const n = Math.min(chunk, rows - start);
    const proba = tf.tidy(() => {
      const w = shapes.map((s, i) => tensorOf(tf, s, weights[i]));
      const input = tf.tensor2d(x.subarray(start * a.inputs, (start + n) * a.inputs), [n, a.inputs], 'float32');
      return tf.softmax(forward(tf, a, w, input));
    });
    try {
      out.set(proba.dataSync(), start * a.classes);
    } finally {
      proba.dispose();
    }
  }
  return out;
}

export interface TrainingOptions {
  dropout: number;
  learningRate: number;
  batchSize: number;
  epochs: number;
  patience: number;
  minDelta: number;
  l2: number;
}

export interface TrainingData {
  /** Standardised rows, row-major float32: the first `trainRows` train, the rest validate. */
  x: Float32Array;
  labels: Int32Array;
  /** Per-row weights, or undefined for equal weights. */
  weights?: Float64Array;
  trainRows: number;
  validationRows: number;
}

export interface TrainingSummary {
  epochsRun: number;
  /** The epoch whose weights were kept (the best validation loss; the last without validation). */
  bestEpoch: number;
  /** Weighted mean cross-entropy on the validation rows at bestEpoch, null without validation. */
  validationLoss: number | null;
  backend: NeuralBackend;
}

/** Weights scaled to mean 1 over [from, to), so a loss is a weighted mean whatever the weights' unit. */
function normalisedWeights(weights: Float64Array | undefined, from: number, to: number): Float32Array {
  const out = new Float32Array(to - from).fill(1);
  if (!weights) return out;
  let sum = 0;
  for (let i = from; i < to; i++) sum += weights[i];
  if (!(sum > 0)) throw new Error(`the sample weights of rows ${from}..${to - 1} sum to ${sum}; they must be positive`);
  for (let i = from; i < to; i++) out[i - from] = (weights[i] * (to - from)) / sum;
  return out;
}

/** The rows `rows` (indices into data) as batch arrays: inputs, one-hot labels, normalised weights. */
function gatherRows(data: TrainingData, a: Architecture, rows: ArrayLike<number>, rowWeights: Float32Array, weightOffset: number) {
  const n = rows.length;
  const p = a.inputs;
  const x = new Float32Array(n * p);
  const y = new Float32Array(n * a.classes);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    for (let j = 0, from = r * p, to = i * p; j < p; j++) x[to + j] = data.x[from + j];
    y[i * a.classes + data.labels[r]] = 1;
    w[i] = rowWeights[r - weightOffset];
  }
  return { x, y, w, n };
}

/** Weighted mean cross-entropy of softmax(logits) against one-hot labels, as a scalar tensor. */
function crossEntropy(tf: TensorFlow, logits: TF.Tensor2D, y: TF.Tensor2D, w: TF.Tensor1D): TF.Scalar {
  const perRow = tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1));
  return tf.div(tf.sum(tf.mul(perRow, w)), w.shape[0]);
}

/**
 * Adam (Kingma & Ba; β1 0.9, β2 0.999, ε 1e-8) on the float32 weights, in plain JavaScript: the
 * update is a few flops per weight, where TF.js's optimiser dispatches a dozen kernels per weight
 * array per step, which dominates the step time on wasm for networks of this size. The L2 term's
 * gradient (2·l2·w, kernels only) is added here too.
 */
class Adam {
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private t = 0;
  constructor(
    private readonly weights: Float32Array[],
    private readonly penalised: readonly boolean[],
    private readonly learningRate: number,
    private readonly l2: number,
  ) {
    this.m = weights.map((w) => new Float64Array(w.length));
    this.v = weights.map((w) => new Float64Array(w.length));
  }

  step(gradients: readonly Float32Array[]): void {
    this.t++;
    const c1 = 1 - 0.9 ** this.t;
    const c2 = 1 - 0.999 ** this.t;
    this.weights.forEach((w, k) => {
      const g = gradients[k];
      const m = this.m[k];
      const v = this.v[k];
      const decay = this.penalised[k] ? 2 * this.l2 : 0;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] + decay * w[i];
        m[i] = 0.9 * m[i] + 0.1 * gi;
        v[i] = 0.999 * v[i] + 0.001 * gi * gi;
        w[i] -= (this.learningRate * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + 1e-8);
      }
    });
  }
}


/**
 * Trains with Adam on shuffled minibatches of the training rows; after each epoch measures the
 * validation loss and stops after `patience` epochs without an improvement of `minDelta`, keeping
 * the best epoch's weights. Without validation rows it runs all epochs and keeps the last weights.
 * The weights live in JavaScript (float32); each step uploads them, lets TF.js compute the
 * gradients of the minibatch loss, and applies Adam.
 */
export async function trainNetwork(
  tf: TensorFlow,
  backend: NeuralBackend,
  a: Architecture,
  data: TrainingData,
  options: TrainingOptions,
  seed: number,
  signal?: AbortSignal,
  /** Weights to start from instead of the seeded initialisation (a warm start); copied, never modified. */
  initial?: readonly Float32Array[],
): Promise<{ weights: Float32Array[]; summary: TrainingSummary }> {
  const shapes = weightShapes(a);
  if (initial && (initial.length !== shapes.length || initial.some((w, i) => w.length !== weightCount(shapes[i])))) {
    throw new Error(`trainNetwork: the initial weights do not fit the architecture (${initial.map((w) => w.length).join(',')} vs ${shapes.map(weightCount).join(',')})`);
  }
  const { trainRows, validationRows } = data;
  const trainWeights = normalisedWeights(data.weights, 0, trainRows);
  const validationWeights = normalisedWeights(data.weights, trainRows, trainRows + validationRows);
  const order = Int32Array.from({ length: trainRows }, (_, i) => i);
  const shuffle = stream(seed, 2);
  const drop = stream(seed, 3);
  const keep = 1 - options.dropout;
  const widths = dropoutWidths(a);
  const batchSize = Math.min(options.batchSize, trainRows);

  const weights = initial ? initial.map((w) => w.slice()) : initialWeights(shapes, seed);
  const adam = new Adam(weights, shapes.map((s) => s.cols > 0), options.learningRate, options.l2); // biases are not penalised
  const upload = (): TF.Tensor[] => shapes.map((s, i) => tensorOf(tf, s, weights[i]));

  const validationLoss = (): number => {
    let total = 0;
    const chunk = 8192;
    for (let start = 0; start < validationRows; start += chunk) {
      const rows = Int32Array.from({ length: Math.min(chunk, validationRows - start) }, (_, i) => trainRows + start + i);
      const batch = gatherRows(data, a, rows, validationWeights, trainRows);
      const sum = tf.tidy(() => {
        const logits = forward(tf, a, upload(), tf.tensor2d(batch.x, [batch.n, a.inputs]));
        return tf.mul(crossEntropy(tf, logits, tf.tensor2d(batch.y, [batch.n, a.classes]), tf.tensor1d(batch.w)), batch.n);
      });
      total += sum.dataSync()[0];
      sum.dispose();
    }
    return total / validationRows;
  };

  let best = Infinity;
  let bestEpoch = 0;
  let bestWeights: Float32Array[] | undefined;
  let sinceBest = 0;
  let epoch = 0;
  const gradients: Float32Array[] = [];
  while (epoch < options.epochs) {
    epoch++;
    for (let i = trainRows - 1; i > 0; i--) {
      const j = Math.floor(shuffle() * (i + 1));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    for (let start = 0; start < trainRows; start += batchSize) {
      signal?.throwIfAborted();
      const batch = gatherRows(data, a, order.subarray(start, Math.min(start + batchSize, trainRows)), trainWeights, 0);
      const masks = options.dropout > 0
        ? widths.map((width) => {
            const m = new Float32Array(batch.n * width);
            for (let i = 0; i < m.length; i++) m[i] = drop() < keep ? 1 / keep : 0;
            return m;
          })
        : undefined;
      tf.tidy(() => {
        const x = tf.tensor2d(batch.x, [batch.n, a.inputs]);
        const y = tf.tensor2d(batch.y, [batch.n, a.classes]);
        const w = tf.tensor1d(batch.w);
        const m = masks?.map((values, i) => tf.tensor2d(values, [batch.n, widths[i]]));
        const grads = tf.grads((...params: TF.Tensor[]) => crossEntropy(tf, forward(tf, a, params, x, { masks: m }), y, w))(upload());
        grads.forEach((g, i) => (gradients[i] = (g.dataSync() as Float32Array).slice()));
      });
      adam.step(gradients);
    }
    if (validationRows > 0) {
      const loss = validationLoss();
      if (loss < best - options.minDelta) {
        best = loss;
        bestEpoch = epoch;
        bestWeights = weights.map((w) => w.slice());
        sinceBest = 0;
      } else if (++sinceBest >= options.patience) {
        break;
      }
    }
    await yieldToEventLoop(); // lets heartbeats and cancellation through between epochs
  }
  const kept = validationRows > 0 ? bestWeights : weights;
  if (!kept || kept.some((w) => w.some((v) => !Number.isFinite(v)))) {
    throw new Error('training diverged (non-finite loss or weights); lower learningRate or standardise the inputs');
  }
  return { weights: kept, summary: { epochsRun: epoch, bestEpoch: validationRows > 0 ? bestEpoch : epoch, validationLoss: validationRows > 0 ? best : null, backend } };
}
