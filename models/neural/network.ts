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
 * column range [t·channels, (t + kernelSize)·channels).
 *
 * Weights, in this order, each row-major float32 (see weightShapes):
 *   conv kernel [kernelSize·channels, filters] (= TF's [kernelSize, channels, filters]), conv bias
 *   [filters]; then per dense layer kernel [in, out], bias [out]; the output layer last.
 *
 * Arithmetic: network-kernel.ts (WebAssembly SIMD) does all of it, training and predictions alike:
 * it holds the float32 weights, computes each minibatch's gradients in BATCH_PARTS parts summed in
 * order, and takes Adam's steps. (TF.js, which did it before, is the tests' oracle now.)
 *
 * Determinism: initial weights (Glorot uniform, zero biases), minibatch order and dropout masks
 * are drawn from mulberry32 streams derived from the seed, and the kernel's sums run in a fixed
 * order: the same data, parameters and seed give the same weights bit for bit, whatever the thread
 * count; a row's prediction depends on that row alone.
 */
import { rng } from '../../lib/random';
import { yieldToEventLoop } from '../../lib/event-loop';
import { NetworkKernel } from './network-kernel';
import { networkPartsJob, RemoteParts } from './network-threads';
import { inSharedMemory, sharedFloat32, sharedInt32 } from '../../lib/threads/shared-memory';
import { idlePoolThreads } from '../../lib/threads/task-pool';
import { evenShares } from '../../lib/threads/shares';

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
export function dropoutWidths(a: Architecture): number[] {
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

/** The largest of a row's logits. */
function rowMax(logits: Float32Array, at: number, classes: number): number {
  let top = -Infinity;
  for (let c = 0; c < classes; c++) top = Math.max(top, logits[at + c]);
  return top;
}

/** exp(logit − top) of a row's logits into out[outAt…], and their sum: a softmax's numerators and denominator. */
function shiftedExps(logits: Float32Array, at: number, classes: number, top: number, out: Float64Array, outAt: number): number {
  let sum = 0;
  for (let c = 0; c < classes; c++) sum += out[outAt + c] = Math.exp(logits[at + c] - top);
  return sum;
}

/** Softmax probabilities (float64) of standardised rows (float32, row-major), block by block through the kernel. */
export function predictNetwork(kernel: NetworkKernel, x: Float32Array, rows: number): Float64Array {
  const classes = kernel.architecture.classes;
  const out = new Float64Array(rows * classes);
  for (let from = 0; from < rows; from += kernel.capacity) {
    const to = Math.min(from + kernel.capacity, rows);
    kernel.loadRows(x, undefined, from, to);
    const { logits, stride } = kernel.forward(false);
    for (let i = 0; i < to - from; i++) {
      const o = (from + i) * classes;
      const sum = shiftedExps(logits, i * stride, classes, rowMax(logits, i * stride, classes), out, o);
      for (let c = 0; c < classes; c++) out[o + c] /= sum;
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
  /** Which rows judged the epochs (models/early-stopping.ts); absent from models trained before it was recorded. */
  earlyStopping?: Record<string, unknown>;
  /**
   * What computed the training: 'kernel' (network-kernel.ts, every model trained since it came);
   * for models trained before, the TF.js backend that did.
   */
  backend: TrainingBackend;
}
export type TrainingBackend = 'kernel' | 'node' | 'wasm' | 'cpu';

/** Weights scaled to mean 1 over [from, to), so a loss is a weighted mean whatever the weights' unit. */
export function normalisedWeights(weights: Float64Array | undefined, from: number, to: number, shared = false): Float32Array {
  const out = (shared ? sharedFloat32(to - from) : new Float32Array(to - from)).fill(1);
  if (!weights) return out;
  let sum = 0;
  for (let i = from; i < to; i++) sum += weights[i];
  if (!(sum > 0)) throw new Error(`the sample weights of rows ${from}..${to - 1} sum to ${sum}; they must be positive`);
  for (let i = from; i < to; i++) out[i - from] = (weights[i] * (to - from)) / sum;
  return out;
}

/**
 * Softmax cross-entropy of logits (rows × stride) for batch rows [from, to) of `order`: returns
 * Σ w · (−log softmax[label]) over them and, given `gradient` (same layout), writes the gradient
 * with respect to the logits of a loss that is the weighted mean over n rows: (softmax − one-hot)·w/n.
 */
function softmaxCrossEntropy(
  out: { logits: Float32Array; stride: number },
  classes: number,
  labels: Int32Array,
  rows: { order: ArrayLike<number>; from: number; to: number; weights: Float32Array; weightOffset: number },
  gradient?: { values: Float32Array; n: number },
): number {
  const { logits, stride } = out;
  const { order, from, to, weights, weightOffset } = rows;
  gradient?.values.fill(0);
  const exps = new Float64Array(classes);
  let loss = 0;
  for (let i = 0; i < to - from; i++) {
    const r = order[from + i];
    const at = i * stride;
    const top = rowMax(logits, at, classes);
    const sum = shiftedExps(logits, at, classes, top, exps, 0);
    const w = weights[r - weightOffset];
    const label = labels[r];
    loss += w * (Math.log(sum) - (logits[at + label] - top));
    if (gradient) {
      const scale = w / gradient.n;
      for (let c = 0; c < classes; c++) gradient.values[at + c] = (exps[c] / sum - (c === label ? 1 : 0)) * scale;
    }
  }
  return loss;
}

/**
 * A minibatch's gradient is summed over this many parts of it, always, in part order: the parts
 * are what threads share out, so the sum (and the model) does not depend on the thread count.
 */
export const BATCH_PARTS = 4;

/** Batch rows [from, to) of part `k` of a batch of n rows starting at `start`. */
export function batchPart(start: number, n: number, k: number): { from: number; to: number } {
  const size = Math.ceil(n / BATCH_PARTS);
  return { from: start + Math.min(n, k * size), to: start + Math.min(n, (k + 1) * size) };
}

export interface Minibatch {
  /** Batch rows are order[start..start + n), indices into the training data. */
  order: Int32Array;
  start: number;
  n: number;
  /** Per training row, mean 1 (normalisedWeights). */
  weights: Float32Array;
  /** Dropout multipliers per hidden representation, n × width each, or none. */
  masks?: readonly Float32Array[];
}

/** Adds part k's gradients (see batchPart) to the kernel's sums. */
export function partGradients(kernel: NetworkKernel, data: TrainingData, batch: Minibatch, k: number): void {
  const { order, start, n, masks } = batch;
  const { from, to } = batchPart(start, n, k);
  if (from === to) return;
  const widths = dropoutWidths(kernel.architecture);
  kernel.loadRows(data.x, order, from, to);
  masks?.forEach((m, i) => kernel.setMask(i, m.subarray((from - start) * widths[i], (to - start) * widths[i]), widths[i]));
  const logits = kernel.forward(masks !== undefined);
  softmaxCrossEntropy(logits, kernel.architecture.classes, data.labels, { order, from, to, weights: batch.weights, weightOffset: 0 }, { values: kernel.logitGradient(), n });
  kernel.backward(masks !== undefined);
}

/**
 * Gradients of the minibatch's weighted mean cross-entropy with respect to every weight the kernel
 * holds, summed over the batch's parts in order into the kernel's gradient sums. Remotes
 * (network-threads.ts) compute their ranges of parts when they are serving; the parts of one that
 * is not (yet) are computed here, in their place in the order.
 */
export function minibatchGradients(kernel: NetworkKernel, data: TrainingData, batch: Minibatch, remotes: readonly RemoteParts[] = []): void {
  if (remotes.length > 0) kernel.exportWeights(remotes[0].job.weights); // one array, read by every remote
  const started = remotes.map((r) => r.start(batch.start, batch.n));
  kernel.clearGradients();
  const own = remotes.length > 0 ? remotes[0].first : BATCH_PARTS;
  for (let k = 0; k < own; k++) partGradients(kernel, data, batch, k);
  remotes.forEach((r, i) => {
    if (started[i]) r.addTo(kernel);
    else for (let k = r.first; k < r.last; k++) partGradients(kernel, data, batch, k);
  });
}

/** Parts [first, last) per pool thread: the training thread keeps the first share. */
function partRanges(threads: number): Array<[number, number]> {
  const bounds = evenShares(0, BATCH_PARTS, Math.max(1, Math.min(threads, BATCH_PARTS)));
  return bounds.slice(1).map((to, i) => [bounds[i], to]);
}

/**
 * Trains with Adam on shuffled minibatches of the training rows; after each epoch measures the
 * validation loss and stops after `patience` epochs without an improvement of `minDelta`, keeping
 * the best epoch's weights. Without validation rows it runs all epochs and keeps the last weights.
 * The kernel holds the weights between steps.
 */
export async function trainNetwork(
  a: Architecture,
  data: TrainingData,
  options: TrainingOptions,
  seed: number,
  signal?: AbortSignal,
  /** Weights to start from instead of the seeded initialisation (a warm start); copied, never modified. */
  initial?: readonly Float32Array[],
  /** Threads to share each batch's parts (this one included); the weights do not depend on it. */
  threads = 1,
): Promise<{ weights: Float32Array[]; summary: TrainingSummary }> {
  const shapes = weightShapes(a);
  if (initial && (initial.length !== shapes.length || initial.some((w, i) => w.length !== weightCount(shapes[i])))) {
    throw new Error(`trainNetwork: the initial weights do not fit the architecture (${initial.map((w) => w.length).join(',')} vs ${shapes.map(weightCount).join(',')})`);
  }
  const { trainRows, validationRows } = data;
  // Batches of fewer than 64 rows are not worth a hand-over per step.
  const helpers = options.batchSize >= 64 ? idlePoolThreads(Math.min(threads, BATCH_PARTS)) : undefined;
  const ranges = partRanges(1 + (helpers?.indices.length ?? 0));
  const pool = helpers?.pool;
  const trainWeights = normalisedWeights(data.weights, 0, trainRows, pool !== undefined);
  const validationWeights = normalisedWeights(data.weights, trainRows, trainRows + validationRows);
  const order = pool ? sharedInt32(trainRows) : new Int32Array(trainRows);
  for (let i = 0; i < trainRows; i++) order[i] = i;
  const shuffle = stream(seed, 2);
  const drop = stream(seed, 3);
  const keep = 1 - options.dropout;
  const widths = dropoutWidths(a);
  const batchSize = Math.min(options.batchSize, trainRows);
  const kernel = new NetworkKernel(a, Math.max(Math.ceil(batchSize / BATCH_PARTS), 512));

  const masks = options.dropout > 0 ? widths.map((width) => (pool ? sharedFloat32(batchSize * width) : new Float32Array(batchSize * width))) : [];
  kernel.setWeights(initial ?? initialWeights(shapes, seed));
  kernel.startAdam(options.learningRate, options.l2);

  const validationOrder = Int32Array.from({ length: validationRows }, (_, i) => trainRows + i);
  const validationLoss = (): number => {
    let total = 0;
    for (let from = 0; from < validationRows; from += kernel.capacity) {
      const to = Math.min(from + kernel.capacity, validationRows);
      kernel.loadRows(data.x, validationOrder, from, to);
      total += softmaxCrossEntropy(kernel.forward(false), a.classes, data.labels, { order: validationOrder, from, to, weights: validationWeights, weightOffset: trainRows });
    }
    return total / validationRows;
  };

  let remotes: RemoteParts[] = [];
  let serving: Array<Promise<void>> = [];
  if (pool) {
    const x = inSharedMemory(data.x);
    data = { ...data, x, labels: inSharedMemory(data.labels) };
    const job = networkPartsJob(kernel, data, trainWeights, order, masks, BATCH_PARTS);
    remotes = ranges.slice(1).map(([first, last]) => new RemoteParts(job, first, last));
    const indices = helpers?.indices ?? [];
    serving = remotes.map((r, i) => pool.run(indices[i], 'networkParts', r.job));
  }
  try {
    let best = Infinity;
    let bestEpoch = 0;
    let bestWeights: Float32Array[] | undefined;
    let sinceBest = 0;
    let epoch = 0;
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
        const n = Math.min(batchSize, trainRows - start);
        // Drawn for the whole batch, representation by representation, row by row.
        for (const [i, m] of masks.entries()) for (let j = 0; j < n * widths[i]; j++) m[j] = drop() < keep ? 1 / keep : 0;
        minibatchGradients(kernel, data, { order, start, n, weights: trainWeights, masks: masks.length > 0 ? masks : undefined }, remotes);
        kernel.adamStep();
      }
      if (validationRows > 0) {
        const loss = validationLoss();
        if (loss < best - options.minDelta) {
          best = loss;
          bestEpoch = epoch;
          bestWeights = kernel.weights();
          sinceBest = 0;
        } else if (++sinceBest >= options.patience) {
          break;
        }
      }
      await yieldToEventLoop(); // lets heartbeats and cancellation through between epochs
    }
    const kept = validationRows > 0 ? bestWeights : kernel.weights();
    if (!kept || kept.some((w) => w.some((v) => !Number.isFinite(v)))) {
      throw new Error('training diverged (non-finite loss or weights); lower learningRate or standardise the inputs');
    }
    return { weights: kept, summary: { epochsRun: epoch, bestEpoch: validationRows > 0 ? bestEpoch : epoch, validationLoss: validationRows > 0 ? best : null, backend: 'kernel' } };
  } finally {
    for (const r of remotes) r.stop();
    // A thread that never started serving takes the stop when it starts; it is not waited for.
    for (const s of serving) s.catch(() => undefined);
    await Promise.all(serving.filter((_, i) => remotes[i].serving));
  }
}
