/**
 * Feature scaling stored inside a model (logistic regression, SVM, neural networks): mean and
 * standard deviation learnt at fit time, applied at every prediction. A missing value (NaN) maps
 * to the mean, i.e. 0 after scaling; a constant column is left unscaled.
 */
import type { FeatureMatrix } from './model';

export interface Standardiser {
  mean: Float64Array;
  scale: Float64Array;
}

export function fitStandardiser(x: FeatureMatrix): Standardiser {
  const p = x.featureNames.length;
  const mean = new Float64Array(p);
  const scale = new Float64Array(p);
  const count = new Float64Array(p);
  for (let r = 0; r < x.rows; r++) {
    for (let j = 0; j < p; j++) {
      const v = x.values[r * p + j];
      if (Number.isFinite(v)) {
        mean[j] += v;
        count[j]++;
      }
    }
  }
  for (let j = 0; j < p; j++) mean[j] = count[j] > 0 ? mean[j] / count[j] : 0;
  for (let r = 0; r < x.rows; r++) {
    for (let j = 0; j < p; j++) {
      const v = x.values[r * p + j];
      if (Number.isFinite(v)) scale[j] += (v - mean[j]) ** 2;
    }
  }
  for (let j = 0; j < p; j++) scale[j] = Math.sqrt(count[j] > 0 ? scale[j] / count[j] : 0) || 1;
  return { mean, scale };
}

/** Standardised copy of the rows, row-major, into a new array of the requested type. */
export function standardise<T extends Float64Array | Float32Array>(x: FeatureMatrix, s: Standardiser, out: T): T {
  const p = x.featureNames.length;
  for (let r = 0; r < x.rows; r++) {
    for (let j = 0; j < p; j++) {
      const v = x.values[r * p + j];
      out[r * p + j] = Number.isFinite(v) ? (v - s.mean[j]) / s.scale[j] : 0;
    }
  }
  return out;
}
