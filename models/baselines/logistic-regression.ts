/**
 * L2-regularised multinomial logistic regression, features standardised inside the model, fitted
 * by L-BFGS on the full batch (deterministic: no sampling). The linear baseline of every report.
 */
import { z } from 'zod';
import { packFloat64, unpackFloat64 } from '../artifact';
import { assertSameFeatures, type Algorithm, type FeatureMatrix, type FitInput, type ModelState, type TrainedModel } from '../model';
import { lbfgs } from './lbfgs';
import { fitStandardiser, standardise, type Standardiser } from '../standardiser';
import { requireFinite, requireStandardiser } from '../state-checks';

export const logisticParamsSchema = z.object({
  /** Inverse regularisation strength, as scikit-learn's C. */
  C: z.number().positive().default(1),
  maxIterations: z.number().int().min(1).max(10_000).default(200),
  /** Stop when every gradient component is below it (scikit-learn's tol). */
  tolerance: z.number().positive().default(1e-4),
});
export type LogisticParams = z.input<typeof logisticParamsSchema>;

/** Softmax probabilities for standardised rows; `coef` is classes × (p + 1), intercept last. */
function probabilities(x: FeatureMatrix, s: Standardiser, coef: Float64Array, classes: number): Float64Array {
  const p = x.featureNames.length;
  const out = new Float64Array(x.rows * classes);
  const z = new Float64Array(p);
  for (let r = 0; r < x.rows; r++) {
    for (let j = 0; j < p; j++) {
      const v = x.values[r * p + j];
      z[j] = Number.isFinite(v) ? (v - s.mean[j]) / s.scale[j] : 0; // a missing value sits at the mean
    }
    let max = -Infinity;
    for (let k = 0; k < classes; k++) {
      let a = coef[k * (p + 1) + p];
      for (let j = 0; j < p; j++) a += coef[k * (p + 1) + j] * z[j];
      out[r * classes + k] = a;
      if (a > max) max = a;
    }
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += out[r * classes + k] = Math.exp(out[r * classes + k] - max);
    for (let k = 0; k < classes; k++) out[r * classes + k] /= sum;
  }
  return out;
}

class LogisticModel implements TrainedModel {
  readonly algorithm = 'logistic_regression';
  constructor(
    readonly featureNames: readonly string[],
    readonly classes: number,
    private readonly params: z.infer<typeof logisticParamsSchema>,
    private readonly s: Standardiser,
    private readonly coef: Float64Array,
  ) {}

  predictProba(features: FeatureMatrix): Float64Array {
    assertSameFeatures(this.featureNames, features.featureNames, 'logistic_regression.predictProba');
    return probabilities(features, this.s, this.coef, this.classes);
  }

  /** Mean absolute standardised coefficient across classes. */
  featureImportances(): ReadonlyMap<string, number> {
    const p = this.featureNames.length;
    return new Map(this.featureNames.map((name, j) => {
      let sum = 0;
      for (let k = 0; k < this.classes; k++) sum += Math.abs(this.coef[k * (p + 1) + j]);
      return [name, sum / this.classes];
    }));
  }

  state(): ModelState {
    return {
      algorithm: this.algorithm,
      algorithmVersion: logisticRegression.version,
      featureNames: this.featureNames,
      classes: this.classes,
      params: { ...this.params },
      payload: packFloat64([this.s.mean, this.s.scale, this.coef]),
    };
  }
}

export const logisticRegression: Algorithm<LogisticParams> = {
  name: 'logistic_regression',
  version: 1,
  fit(input: FitInput, raw: LogisticParams) {
    const params = logisticParamsSchema.parse(raw);
    const x = input.features;
    const p = x.featureNames.length;
    const K = input.classes;
    const s = fitStandardiser(x);
    const w = input.weights;
    const totalWeight = w ? w.reduce((a, b) => a + b, 0) : x.rows;
    const z = standardise(x, s, new Float64Array(x.rows * p));
    // Two classes need one coefficient vector (sigmoid), as scikit-learn fits them; more need K (softmax).
    const outputs = K === 2 ? 1 : K;
    const logits = new Float64Array(outputs);
    // Objective as scikit-learn: 0.5·||W||² + C·Σ wᵢ·(−log pᵢ[yᵢ]), scaled by 1/Σw for conditioning.
    const objective = (coef: Float64Array, grad: Float64Array): number => {
      grad.fill(0);
      let loss = 0;
      for (let r = 0; r < x.rows; r++) {
        const row = r * p;
        const wr = (w?.[r] ?? 1) * params.C;
        const y = input.labels[r];
        if (outputs === 1) {
          let a = coef[p];
          for (let j = 0; j < p; j++) a += coef[j] * z[row + j];
          // −log p(y) = softplus(a) − y·a, computed without overflow.
          loss += wr * ((a > 0 ? a + Math.log1p(Math.exp(-a)) : Math.log1p(Math.exp(a))) - (y === 1 ? a : 0));
          const g = wr * (1 / (1 + Math.exp(-a)) - (y === 1 ? 1 : 0));
          for (let j = 0; j < p; j++) grad[j] += g * z[row + j];
          grad[p] += g;
          continue;
        }
        let max = -Infinity;
        for (let k = 0; k < K; k++) {
          const base = k * (p + 1);
          let a = coef[base + p];
          for (let j = 0; j < p; j++) a += coef[base + j] * z[row + j];
          logits[k] = a;
          if (a > max) max = a;
        }
        let sum = 0;
        for (let k = 0; k < K; k++) sum += logits[k] = Math.exp(logits[k] - max);
        loss -= wr * Math.log(Math.max(logits[y] / sum, 1e-300));
        for (let k = 0; k < K; k++) {
          const g = wr * (logits[k] / sum - (k === y ? 1 : 0));
          const base = k * (p + 1);
          for (let j = 0; j < p; j++) grad[base + j] += g * z[row + j];
          grad[base + p] += g;
        }
      }
      for (let k = 0; k < outputs; k++) {
        for (let j = 0; j < p; j++) {
          const c = coef[k * (p + 1) + j];
          loss += 0.5 * c * c;
          grad[k * (p + 1) + j] += c;
        }
      }
      for (let i = 0; i < grad.length; i++) grad[i] /= totalWeight;
      return loss / totalWeight;
    };
    const fitted = lbfgs(objective, new Float64Array(outputs * (p + 1)), { maxIterations: params.maxIterations, tolerance: params.tolerance, signal: input.signal });
    // Stored as K rows either way: for two classes, class 0's row is zero (softmax of [0, a] = sigmoid(a)).
    const coef = outputs === K ? fitted : new Float64Array(K * (p + 1));
    if (outputs !== K) coef.set(fitted, p + 1);
    return Promise.resolve(new LogisticModel(x.featureNames, K, params, s, coef));
  },
  restore(state: ModelState) {
    const p = state.featureNames.length;
    const [mean, scale, coef] = unpackFloat64(state.payload, [p, p, state.classes * (p + 1)]);
    const what = 'logistic_regression';
    requireStandardiser(what, { mean, scale }, state.featureNames);
    requireFinite(what, coef, (i) => {
      const k = Math.floor(i / (p + 1));
      const j = i % (p + 1);
      return j === p ? `intercept of class ${k}` : `coefficient of feature ${JSON.stringify(state.featureNames[j])} for class ${k}`;
    });
    return new LogisticModel(state.featureNames, state.classes, logisticParamsSchema.parse(state.params), { mean, scale }, coef);
  },
};
