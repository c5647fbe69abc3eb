/**
 * A binary SVM's decision function f(x) = Σ coef_k · K(sv_k, x) − rho on a dense support-vector
 * matrix (dot products and exp in SIMD wasm, the rest in JavaScript): the decision values of the
 * cross-validation folds that Platt scaling is fitted on (probability.ts), and the reading of a
 * two-class model text that svm.ts predicts from.
 */

import { SimdDots } from './simd-dots';
import { simdExp } from '../simd-exp';

export interface KernelExpansion {
  p: number;
  kernel: 'rbf' | 'linear';
  gamma: number;
  /** Row-major support vectors (m × p). */
  sv: Float64Array;
  /** ||sv_k||², for the RBF kernel. */
  norms: Float64Array;
  coef: Float64Array;
  rho: number;
}

export function kernelExpansion(sv: Float64Array, p: number, coef: Float64Array, rho: number, kernel: 'rbf' | 'linear', gamma: number): KernelExpansion {
  const m = coef.length;
  const norms = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    let n = 0;
    for (let j = k * p; j < k * p + p; j++) n += sv[j] * sv[j];
    norms[k] = n;
  }
  return { p, kernel, gamma, sv, norms, coef, rho };
}

/**
 * Σ coef_k · K(sv_k, x) for one row x (length p), from its dot products with the support vectors
 * (SimdDots.dots). With `kept`, each ‖x − sv_k‖² (rbf, before clamping at 0) or x·sv_k (linear) is
 * also written at kept[at + k]: what a later change of one coordinate can start from.
 */
export function kernelSum(e: KernelExpansion, x: Float64Array, dots: Float64Array, kept?: Float64Array, at = 0): number {
  const { norms, coef, gamma } = e;
  const m = coef.length;
  let sum = 0;
  if (e.kernel === 'rbf') {
    let xNorm = 0;
    for (let j = 0; j < x.length; j++) xNorm += x[j] * x[j];
    const args = simdExp().input(m);
    for (let k = 0; k < m; k++) {
      const distance = xNorm + norms[k] - 2 * dots[k];
      if (kept) kept[at + k] = distance;
      args[k] = -gamma * Math.max(0, distance);
    }
    sum = expWeightedSum(coef, m);
  } else {
    for (let k = 0; k < m; k++) {
      if (kept) kept[at + k] = dots[k];
      sum += coef[k] * dots[k];
    }
  }
  return sum;
}

/**
 * Σ coef_k · exp(a_k) for the m arguments just written to simdExp().input(m), summed in k order:
 * the bits of the same sum over Math.exp (simd-exp.ts).
 */
export function expWeightedSum(coef: Float64Array, m: number): number {
  const values = simdExp().run(m);
  let sum = 0;
  for (let k = 0; k < m; k++) sum += coef[k] * values[k];
  return sum;
}

/** f(x) for each row of a row-major matrix; positive means the model's first label. Dot products in SIMD wasm (simd-dots.ts). */
export function decisionValues(e: KernelExpansion, rows: Float64Array): Float64Array {
  const { p } = e;
  const out = new Float64Array(rows.length / p);
  const simd = new SimdDots(e.sv, e.coef.length, p);
  for (let r = 0; r < out.length; r++) {
    const x = rows.subarray(r * p, r * p + p);
    out[r] = kernelSum(e, x, simd.dots(x)) - e.rho;
  }
  return out;
}

/** The header value(s) of a libsvm model text line such as "rho 0.5" or "label 1 0". */
export function headerValues(text: string, key: string): number[] {
  const match = new RegExp(`^${key} (.*)$`, 'm').exec(text);
  if (!match) throw new Error(`svm: the model text has no "${key}" line`);
  return match[1].trim().split(' ').map(Number);
}

/** A two-class model text (svm_save_model format) as dense support vectors, its labels and Platt sigmoid. */
export interface BinaryModelText {
  kernel: 'rbf' | 'linear';
  gamma: number;
  sv: Float64Array;
  coef: Float64Array;
  rho: number;
  /** libsvm's label order: a positive decision value means labels[0]. */
  labels: [number, number];
  probA: number;
  probB: number;
}

export function binaryModelFromText(text: string, p: number): BinaryModelText {
  const kernel = /^kernel_type (\w+)$/m.exec(text)?.[1];
  if (kernel !== 'rbf' && kernel !== 'linear') throw new Error(`svm: unsupported kernel_type "${kernel}" in the model text`);
  const [first, second] = headerValues(text, 'label');
  const [rho] = headerValues(text, 'rho');
  const [probA] = headerValues(text, 'probA');
  const [probB] = headerValues(text, 'probB');
  const gamma = kernel === 'rbf' ? headerValues(text, 'gamma')[0] : 0;
  const lines = text.slice(text.indexOf('\nSV\n') + 4).split('\n').filter((line) => line.trim() !== '');
  const sv = new Float64Array(lines.length * p);
  const coef = new Float64Array(lines.length);
  lines.forEach((line, k) => {
    const tokens = line.trim().split(' ');
    coef[k] = Number(tokens[0]);
    for (const token of tokens.slice(1)) {
      const colon = token.indexOf(':');
      const index = Number(token.slice(0, colon));
      if (!(Number.isInteger(index) && index >= 1 && index <= p)) throw new Error(`svm: support vector ${k} has feature index ${token.slice(0, colon)} outside 1..${p}`);
      sv[k * p + index - 1] = Number(token.slice(colon + 1)); // omitted indices are zeros
    }
  });
  if ([first, second, rho, probA, probB, gamma, ...coef, ...sv].some((v) => !Number.isFinite(v))) throw new Error('svm: the model text holds a value that is not a finite number');
  return { kernel, gamma, sv, coef, rho, labels: [first, second], probA, probB };
}

/** libsvm's sigmoid_predict, clipped as svm_predict_probability clips pairwise probabilities. */
export function plattProbability(decision: number, A: number, B: number): number {
  const fApB = decision * A + B;
  const p = fApB >= 0 ? Math.exp(-fApB) / (1 + Math.exp(-fApB)) : 1 / (1 + Math.exp(fApB));
  return Math.min(Math.max(p, 1e-7), 1 - 1e-7);
}
