import { packFloat64, unpackFloat64 } from '../artifact';
import { requireDistribution, requireFinite } from '../state-checks';
import { assertSameFeatures, type Algorithm, type FeatureMatrix, type ModelState, type TrainedModel } from '../model';

/** Predicts the (weighted) class frequencies of the training labels: the floor every model must beat. */
class MajorityModel implements TrainedModel {
  readonly algorithm = 'majority';
  constructor(
    readonly featureNames: readonly string[],
    readonly classes: number,
    private readonly prior: Float64Array,
  ) {}

  predictProba(features: FeatureMatrix): Float64Array {
    assertSameFeatures(this.featureNames, features.featureNames, 'majority.predictProba');
    const out = new Float64Array(features.rows * this.classes);
    for (let r = 0; r < features.rows; r++) out.set(this.prior, r * this.classes);
    return out;
  }

  state(): ModelState {
    return { algorithm: this.algorithm, algorithmVersion: majority.version, featureNames: this.featureNames, classes: this.classes, params: {}, payload: packFloat64([this.prior]) };
  }
}

export const majority: Algorithm<Record<string, never>> = {
  name: 'majority',
  version: 1,
  fit(input) {
    const prior = new Float64Array(input.classes);
    let total = 0;
    input.labels.forEach((y, i) => {
      const w = input.weights?.[i] ?? 1;
      prior[y] += w;
      total += w;
    });
    for (let k = 0; k < prior.length; k++) prior[k] /= total;
    return Promise.resolve(new MajorityModel(input.features.featureNames, input.classes, prior));
  },
  restore(state) {
    const [prior] = unpackFloat64(state.payload, [state.classes]);
    requireFinite('majority', prior, (k) => `prior of class ${k}`);
    requireDistribution('majority', prior, 0, prior.length, 'prior');
    return new MajorityModel(state.featureNames, state.classes, prior);
  },
};
