import { rng } from '../../lib/random';
import { independentRowTimes, type FeatureMatrix, type FitTimes } from '../../models/model';

export interface Dataset {
  x: FeatureMatrix;
  y: Int32Array;
}

function matrix(rows: number, p: number, fill: (r: number, j: number) => number): FeatureMatrix {
  const values = new Float64Array(rows * p);
  for (let r = 0; r < rows; r++) for (let j = 0; j < p; j++) values[r * p + j] = fill(r, j);
  return { values, rows, featureNames: Array.from({ length: p }, (_, j) => `f${j}`) };
}

/** Two classes separated by a margin along a direction mixing the first two features. */
export function separable(rows: number, p = 5, seed = 1): Dataset {
  const next = rng(seed);
  const x = matrix(rows, p, () => next() * 2 - 1);
  const y = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const score = x.values[r * p] + 0.5 * x.values[r * p + 1];
    y[r] = score > 0 ? 1 : 0;
    x.values[r * p] += score > 0 ? 0.3 : -0.3; // margin
  }
  return { x, y };
}

/** Features and labels drawn independently: no model can beat chance. */
export function noise(rows: number, p = 5, seed = 2): Dataset {
  const next = rng(seed);
  const x = matrix(rows, p, () => next());
  const y = Int32Array.from({ length: rows }, () => (next() < 0.5 ? 1 : 0));
  return { x, y };
}

/**
 * Times of independent rows (these synthetic datasets draw every row on its own): each row its own
 * day, its label resolved that day, no embargo. Folds cut from them are plain consecutive blocks.
 */
export const independentTimes: (rows: number) => FitTimes = independentRowTimes;

export function accuracy(proba: Float64Array, y: Int32Array, classes = 2): number {
  let hits = 0;
  for (let r = 0; r < y.length; r++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (proba[r * classes + k] > proba[r * classes + best]) best = k;
    if (best === y[r]) hits++;
  }
  return hits / y.length;
}
