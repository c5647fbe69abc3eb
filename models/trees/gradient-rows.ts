/**
 * A boosting round's per-row steps, each over a share of the rows, so the grower's threads split
 * them (see gradient-histograms.ts): gradients and hessians from the raw scores, their
 * quantisation to packed integers, and adding a tree's leaf values to the raw scores. Every row's
 * result depends on that row alone (its random draw is numbered by its position in the sample:
 * lib/random.ts drawAt), so the model is the same whichever thread computes which rows.
 */
import { drawAt } from '../../lib/random';
import { simdExp } from '../simd-exp';

/** What the steps read and write; arrays are shared between the threads. */
export interface RowState {
  /** Outputs per row: 1 for two classes (a sigmoid), else one per class (a softmax). */
  K: number;
  classes: number;
  /** Raw scores, rows × K. */
  raw: Float64Array;
  /** Probabilities, rows × classes, when K > 1. */
  proba: Float64Array;
  labels: Int32Array;
  weights: Float64Array | undefined;
  /** 1 for the rows in this round's sample. */
  inSample: Uint8Array;
  grad: Float64Array;
  hess: Float64Array;
  order: Int32Array;
  /** Per row: quantised gradient · shift + quantised hessian. */
  packed: Float64Array;
  gMax: number;
  hMax: number;
  shift: number;
}

/**
 * The quantisation's widths for n rows. The bit widths follow the row count so that every sum
 * stays an exact integer below 2^53: 8 bits up to ~250,000 rows, fewer above, refused beyond 8
 * million rows.
 */
export function quantisationWidths(n: number): { gMax: number; hMax: number; shift: number } {
  const bits = Math.min(8, Math.floor((52 - 2 * Math.log2(Math.max(n, 2))) / 2));
  if (bits < 3) throw new Error(`gradient_boosting: ${n} rows exceed what quantised histograms can sum exactly (8 million); subsample the rows`);
  const hMax = 2 ** bits - 1;
  return { gMax: 2 ** (bits - 1) - 1, hMax, shift: 2 ** Math.ceil(Math.log2(n * hMax + 1)) };
}

/** Raw scores → probabilities: sigmoid for one output, softmax for several. */
export function toProbabilities(raw: Float64Array, offset: number, outputs: number, out: Float64Array, outOffset: number): void {
  if (outputs === 1) {
    const p1 = 1 / (1 + Math.exp(-raw[offset]));
    out[outOffset] = 1 - p1;
    out[outOffset + 1] = p1;
    return;
  }
  let max = -Infinity;
  for (let k = 0; k < outputs; k++) max = Math.max(max, raw[offset + k]);
  let sum = 0;
  for (let k = 0; k < outputs; k++) sum += out[outOffset + k] = Math.exp(raw[offset + k] - max);
  for (let k = 0; k < outputs; k++) out[outOffset + k] /= sum;
}

/**
 * Gradients and hessians of output k for rows [from, to) (for k = 0 with several outputs, the
 * rows' probabilities first). Returns the largest |gradient| and hessian among sampled rows.
 * When every row is sampled it also puts these rows back in order for the next tree.
 */
export function rowGradients(s: RowState, k: number, from: number, to: number, allSampled: boolean): [number, number] {
  const { K, classes, proba, labels, weights, inSample, grad, hess, order } = s;
  if (allSampled) for (let r = from; r < to; r++) order[r] = r;
  const cls = K === 1 ? 1 : k;
  if (K > 1 && k === 0) for (let r = from; r < to; r++) toProbabilities(s.raw, r * K, K, proba, r * classes);
  // Two classes: the sigmoid's exp for every row at once, with Math.exp's bits.
  const e = K === 1 ? negatedExp(s.raw, from, to) : proba;
  let gAbs = 0;
  let hTop = 0;
  for (let r = from; r < to; r++) {
    const q = K === 1 ? 1 / (1 + e[r - from]) : proba[r * classes + cls];
    const w = weights?.[r] ?? 1;
    const g = (grad[r] = w * (q - (labels[r] === cls ? 1 : 0)));
    const h = (hess[r] = w * Math.max(q * (1 - q), 1e-16));
    if (!inSample[r]) continue;
    if (g > gAbs) gAbs = g;
    else if (-g > gAbs) gAbs = -g;
    if (h > hTop) hTop = h;
  }
  return [gAbs, hTop];
}

/** exp(−v[r]) for r in [from, to), from this thread's SIMD exp (a view valid until its next use). */
function negatedExp(v: Float64Array, from: number, to: number): Float64Array {
  const exp = simdExp();
  const input = exp.input(to - from);
  for (let r = from; r < to; r++) input[r - from] = -v[r];
  return exp.run(to - from);
}

/** Scales that map the largest |gradient| and hessian to the widths' largest integers. */
export function quantisationScales(s: RowState, gAbs: number, hTop: number): [number, number] {
  return [gAbs > 0 ? s.gMax / gAbs : 1, hTop > 0 ? s.hMax / hTop : 1];
}

/**
 * Stochastic rounding (as LightGBM's quantised training) of the sampled rows at positions
 * [from, to) of the order: each rounds up with probability equal to its fraction, one draw
 * serving both, so the rounding is unbiased. Position i takes draw i of the run at drawState.
 * Returns the sum of these rows' packed values: an exact integer (see quantisationWidths), so the
 * threads' sums add up to the root's sum in any order.
 */
export function quantiseRows(s: RowState, from: number, to: number, gScale: number, hScale: number, drawState: number): number {
  const { order, grad, hess, packed, gMax, hMax, shift } = s;
  let sum = 0;
  for (let i = from; i < to; i++) {
    const r = order[i];
    const u = drawAt(drawState, i);
    let gq = Math.floor(grad[r] * gScale + u);
    if (gq > gMax) gq = gMax;
    else if (gq < -gMax) gq = -gMax;
    let hq = Math.floor(hess[r] * hScale + u);
    if (hq > hMax) hq = hMax;
    sum += packed[r] = gq * shift + hq;
  }
  return sum;
}

/** raw[row · K + k] += value for the rows at positions [start, end) of the order. */
export function addLeafValue(s: RowState, k: number, value: number, start: number, end: number): void {
  const { raw, order, K } = s;
  for (let i = start; i < end; i++) raw[order[i] * K + k] += value;
}
