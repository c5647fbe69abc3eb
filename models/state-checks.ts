/**
 * Checks every algorithm's restore applies to the parameters it decoded from a stored state, so a
 * model that can never be valid (a NaN or infinite weight or intercept, a zero scale it divides
 * by) is refused wherever a state is restored (registration, verification, the serving loader)
 * instead of serving nonsense: an infinite intercept gives every row probability 1, a NaN weight
 * NaN. The messages name the algorithm and the parameter. Restore is the one path from a state to
 * a model (models/algorithms.ts restoreModel), so nothing restored skips them.
 */
import { ArtifactError } from './artifact';
import type { Standardiser } from './standardiser';

/** Refuses the first non-finite value of `values`; `name(i)` names entry i (e.g. 'intercept of class 1'). */
export function requireFinite(algorithm: string, values: ArrayLike<number>, name: (i: number) => string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new ArtifactError(`${algorithm}: ${name(i)} is ${values[i]}; a stored model parameter must be a finite number`);
  }
}

/**
 * A standardiser's mean must be finite and its scale finite and > 0 (every value is divided by it;
 * fitting maps a constant column to 1, never to 0).
 */
export function requireStandardiser(algorithm: string, s: Standardiser, featureNames: readonly string[]): void {
  requireFinite(algorithm, s.mean, (j) => `standardiser mean of feature ${JSON.stringify(featureNames[j] ?? j)}`);
  for (let j = 0; j < s.scale.length; j++) {
    const v = s.scale[j];
    if (!(Number.isFinite(v) && v > 0)) {
      throw new ArtifactError(`${algorithm}: standardiser scale of feature ${JSON.stringify(featureNames[j] ?? j)} is ${v}; features are divided by it, so it must be a finite number > 0`);
    }
  }
}

/** A count stored in the params (e.g. the number of trees): a whole number ≥ `min`. */
export function requireCount(algorithm: string, value: unknown, what: string, min: number): number {
  const n = typeof value === 'number' ? value : Number.NaN;
  if (!(Number.isInteger(n) && n >= min)) throw new ArtifactError(`${algorithm}: ${what} is ${JSON.stringify(value ?? null)}; it must be a whole number ≥ ${min}`);
  return n;
}

/** How far from 1 a stored probability distribution may sum (rounding of the class shares training divides out). */
export const DISTRIBUTION_SUM_TOLERANCE = 1e-9;

/**
 * Refuses a stored probability distribution (a forest leaf's class shares, a majority model's
 * priors) that is not one: each value in [0, 1] and their sum 1. A model averages or returns these
 * as its probabilities, so a leaf holding [-4, 5] would serve a "probability" of 5. `what` names
 * the distribution ('leaf value of tree 3 node 7').
 */
export function requireDistribution(algorithm: string, values: ArrayLike<number>, offset: number, count: number, what: string): void {
  let sum = 0;
  for (let k = 0; k < count; k++) {
    const v = values[offset + k];
    if (!(Number.isFinite(v) && v >= 0 && v <= 1)) throw new ArtifactError(`${algorithm}: ${what} of class ${k} is ${v}; a class probability must be a number in [0, 1]`);
    sum += v;
  }
  if (!(Math.abs(sum - 1) <= DISTRIBUTION_SUM_TOLERANCE)) throw new ArtifactError(`${algorithm}: ${what} sums to ${sum} over its ${count} classes; class probabilities sum to 1`);
}
