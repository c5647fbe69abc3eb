/**
 * A binary SVM's decision function f(x) = Σ coef_k · K(sv_k, x) − rho, evaluated in JavaScript on
 * a dense support-vector matrix: the decision values of the cross-validation folds that Platt
 * scaling is fitted on (probability.ts). libsvm-js exports no decision values, only labels and
 * probabilities. (Prediction stays in libsvm: evaluating this per row was measured no faster.)
 */

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

/** f(x) for each row of a row-major matrix; positive means the model's first label. */
export function decisionValues(e: KernelExpansion, rows: Float64Array): Float64Array {
  const { p, sv, norms, coef, gamma } = e;
  const m = coef.length;
  const rbf = e.kernel === 'rbf';
  const out = new Float64Array(rows.length / p);
  for (let r = 0; r < out.length; r++) {
    const at = r * p;
    let xNorm = 0;
    for (let j = at; j < at + p; j++) xNorm += rows[j] * rows[j];
    let sum = 0;
    for (let k = 0, base = 0; k < m; k++, base += p) {
      // Four partial sums: independent adds the CPU can overlap (about 1.5× faster than one).
      let d0 = 0;
      let d1 = 0;
      let d2 = 0;
      let d3 = 0;
      let j = 0;
      for (; j + 3 < p; j += 4) {
        d0 += sv[base + j] * rows[at + j];
        d1 += sv[base + j + 1] * rows[at + j + 1];
        d2 += sv[base + j + 2] * rows[at + j + 2];
        d3 += sv[base + j + 3] * rows[at + j + 3];
      }
      for (; j < p; j++) d0 += sv[base + j] * rows[at + j];
      const dot = d0 + d1 + d2 + d3;
      sum += coef[k] * (rbf ? Math.exp(-gamma * Math.max(0, xNorm + norms[k] - 2 * dot)) : dot);
    }
    out[r] = sum - e.rho;
  }
  return out;
}

/** The header value(s) of a libsvm model text line such as "rho 0.5" or "label 1 0". */
export function headerValues(text: string, key: string): number[] {
  const match = new RegExp(`^${key} (.*)$`, 'm').exec(text);
  if (!match) throw new Error(`svm: the model text has no "${key}" line`);
  return match[1].trim().split(' ').map(Number);
}
