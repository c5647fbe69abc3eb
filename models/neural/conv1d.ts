/**
 * Sequence model over the last `window` days: a 1-D convolution (ReLU, `filters` outputs,
 * `kernelSize` days) across the window, flattened, an optional dense ReLU layer of `units`, then
 * softmax over the classes (dropout after the convolution and the dense layer).
 *
 * Input layout. A FeatureMatrix has no time axis, so the window is carried in the columns: with
 * params { window: k } the matrix has k·q columns, k blocks of the same q base features, OLDEST
 * FIRST: columns [t·q, (t+1)·q) hold day t of the window (t = 0 is k−1 days before the row's day,
 * t = k−1 is the row's day). The column count must be divisible by k (refused otherwise); inside,
 * rows are read as [rows, k, q]. Each base feature is standardised with one mean and scale shared
 * by its k lags (fitted over all of them), so values stay comparable along the window.
 *
 * Why a convolution and not an LSTM: a convolution is one matrix product over all positions of the
 * window, forward and backward (network-kernel.ts unfolds the patches), where an LSTM unrolls k
 * sequential steps of small products. When TF.js trained these models on its wasm backend, a
 * 16-unit LSTM took ~26 ms a training step (batch 200, k = 10, q = 6) and this convolution with a
 * 32-unit dense layer ~4 ms.
 */
import { z } from 'zod';
import type { FeatureMatrix, FitInput, ModelState } from '../model';
import { fitStandardiser, type Standardiser } from '../standardiser';
import type { Architecture } from './network';
import { fitNeural, parseParams, restoreNeural, trainingParamsShape, type NeuralAlgorithm } from './neural-model';

export const sequenceParamsSchema = z.object({
  /** Days per window k: the matrix has k blocks of q base features, oldest first. Required. */
  window: z.number().int().min(2).max(1024),
  /** Convolution outputs per position. */
  filters: z.number().int().min(1).max(1024).default(16),
  /** Days each filter spans; default min(3, window), at most window. */
  kernelSize: z.number().int().min(1).max(1024).optional(),
  /** Dense ReLU layer after the flattened convolution; 0 goes straight to the output. */
  units: z.number().int().min(0).max(4096).default(32),
  activation: z.literal('relu').default('relu'),
  ...trainingParamsShape,
});
export type SequenceParams = z.input<typeof sequenceParamsSchema>;

const NAME = 'conv1d';
const VERSION = 1;

/** Parameters with kernelSize resolved, in a fixed key order (they are stored as such). */
function resolve(raw: unknown, what: string) {
  const { window, filters, kernelSize, units, activation, ...training } = parseParams(sequenceParamsSchema, raw, what);
  const resolved = { window, filters, kernelSize: kernelSize ?? Math.min(3, window), units, activation, ...training };
  if (resolved.kernelSize > window) throw new Error(`${what}: invalid parameters: kernelSize ${resolved.kernelSize} is larger than window ${window}`);
  return resolved;
}

function architecture(params: ReturnType<typeof resolve>, inputs: number, classes: number, what: string): Architecture {
  if (inputs % params.window !== 0) {
    throw new Error(
      `${what}: ${inputs} feature columns are not divisible by window ${params.window}; ` +
        `the matrix must hold ${params.window} blocks of the same base features, oldest first`,
    );
  }
  const conv = { window: params.window, channels: inputs / params.window, kernelSize: params.kernelSize, filters: params.filters };
  return { inputs, conv, hidden: params.units > 0 ? [params.units] : [], classes };
}

/** One mean and scale per base feature, fitted over all its lags in the training rows. */
function sharedStandardiser(x: FeatureMatrix, trainRows: number, window: number): Standardiser {
  const p = x.featureNames.length;
  const q = p / window;
  // Row-major rows × (window·q) is the same memory as (rows·window) × q.
  const base = fitStandardiser({ values: x.values.subarray(0, trainRows * p), rows: trainRows * window, featureNames: x.featureNames.slice(0, q) });
  const mean = new Float64Array(p);
  const scale = new Float64Array(p);
  for (let t = 0; t < window; t++) {
    mean.set(base.mean, t * q);
    scale.set(base.scale, t * q);
  }
  return { mean, scale };
}

export const sequenceModel: NeuralAlgorithm<SequenceParams> = {
  name: NAME,
  version: VERSION,
  async fit(input: FitInput, raw: SequenceParams) {
    const what = `${NAME}.fit`;
    const params = resolve(raw, what);
    return fitNeural(input, {
      algorithm: NAME,
      version: VERSION,
      params,
      architecture: architecture(params, input.features.featureNames.length, input.classes, what),
      standardiser: (x, trainRows) => sharedStandardiser(x, trainRows, params.window),
    });
  },
  restore(state: ModelState) {
    const what = `${NAME}.restore`;
    const params = resolve(state.params, what);
    return restoreNeural(state, { algorithm: NAME, version: VERSION, params, architecture: architecture(params, state.featureNames.length, state.classes, what) });
  },
};
