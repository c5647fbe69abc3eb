/**
 * Every algorithm's restore refuses stored parameters that can never be valid (NaN or infinite
 * weights, intercepts, leaf values, base scores; a standardiser scale that is not > 0; trees that
 * are not trees), naming the parameter, and keeps restoring every valid model. The states are the
 * models' own, with one value changed and packed back with the project's packing functions.
 */
import { restoreModel } from '../../../models/algorithms';
import { ArtifactError, decodeArtifact, encodeArtifact, packFloat64, unpackFloat64 } from '../../../models/artifact';
import { logisticRegression } from '../../../models/baselines/logistic-regression';
import { majority } from '../../../models/baselines/majority';
import type { ModelState } from '../../../models/model';
import { mlp } from '../../../models/neural';
import { svm } from '../../../models/svm/svm';
import { gradientBoosting } from '../../../models/trees/gradient-boosting';
import { randomForest } from '../../../models/trees/random-forest';
import { independentTimes, separable } from '../../helpers/datasets';

const d = separable(300, 3, 1);
const fitInput = { features: d.x, labels: d.y, classes: 2, seed: 1 };
const context = { featureSetVersion: 'fs-test-000000000000', label: { kind: 'direction', horizon: 5 } };

/** The payload as float64s (the whole payload, or its first `count`). */
const floats = (payload: Uint8Array, count = payload.byteLength / 8): Float64Array => unpackFloat64(payload.subarray(0, count * 8), [count])[0];

/** The state with float64 `index` of its payload set to `value`. */
function withFloat(state: ModelState, index: number, value: number): ModelState {
  const f = floats(state.payload);
  f[index] = value;
  return { ...state, payload: packFloat64([f]) };
}

/** Restored through an artifact, as a loader restores it. */
const restoreViaArtifact = (state: ModelState) => restoreModel(decodeArtifact(encodeArtifact(state, context)).state);

describe('logistic regression and majority states', () => {
  // Layout: mean[p], scale[p], then classes × (p coefficients, intercept).
  const p = 3;
  let state: ModelState;
  beforeAll(async () => {
    state = (await logisticRegression.fit(fitInput, {})).state();
  });

  it('restores a fitted model to the same predictions', async () => {
    const model = await logisticRegression.fit(fitInput, {});
    expect(Array.from(restoreViaArtifact(state).predictProba(d.x))).toEqual(Array.from(model.predictProba(d.x)));
  });

  it.each([
    ['intercept of class 1', 2 * p + (p + 1) + p, -Infinity],
    ['intercept of class 0', 2 * p + p, Infinity],
    ['coefficient of feature "f1" for class 1', 2 * p + (p + 1) + 1, NaN],
    ['standardiser mean of feature "f0"', 0, NaN],
  ])('refuses a non-finite %s, naming it', (name, index, value) => {
    expect(() => restoreViaArtifact(withFloat(state, index, value))).toThrow(ArtifactError);
    expect(() => restoreViaArtifact(withFloat(state, index, value))).toThrow(`logistic_regression: ${name} is ${value}; a stored model parameter must be a finite number`);
  });

  it.each([0, -1, Infinity, NaN])('refuses a standardiser scale of %s', (value) => {
    expect(() => restoreViaArtifact(withFloat(state, p + 2, value))).toThrow(`logistic_regression: standardiser scale of feature "f2" is ${value}; features are divided by it, so it must be a finite number > 0`);
  });

  it('refuses a non-finite majority prior', async () => {
    const prior = (await majority.fit(fitInput, {})).state();
    expect(restoreViaArtifact(prior).predictProba(d.x)[1]).toBeGreaterThan(0);
    expect(() => restoreViaArtifact(withFloat(prior, 1, NaN))).toThrow('majority: prior of class 1 is NaN');
  });

  it('refuses a majority prior that is not a probability distribution (it is what the model predicts)', async () => {
    const prior = (await majority.fit(fitInput, {})).state();
    const shifted = { ...prior, payload: packFloat64([Float64Array.of(-1, 2)]) };
    expect(() => restoreViaArtifact(shifted)).toThrow('majority: prior of class 0 is -1; a class probability must be a number in [0, 1]');
    const scaled = { ...prior, payload: packFloat64([Float64Array.of(0.5, 0.9)]) };
    expect(() => restoreViaArtifact(scaled)).toThrow('majority: prior sums to 1.4 over its 2 classes; class probabilities sum to 1');
  });
});

describe('tree ensembles', () => {
  // Random forest: sizes[T], importance[p], then feature, threshold, left, right (N each), value (N × classes).
  let forest: ModelState;
  let T: number;
  let N: number;
  const p = 3;
  beforeAll(async () => {
    forest = (await randomForest.fit(fitInput, { nEstimators: 3, maxDepth: 3 })).state();
    T = forest.params.trees as number;
    const sizes = floats(forest.payload, T);
    N = sizes.reduce((a, b) => a + b, 0);
  });
  const feature = (i: number) => T + p + i;
  const threshold = (i: number) => T + p + N + i;
  const left = (i: number) => T + p + 2 * N + i;
  const value = (i: number, k: number) => T + p + 4 * N + i * 2 + k;
  const firstLeaf = () => {
    const f = floats(forest.payload);
    for (let i = 0; ; i++) if (f[feature(i)] < 0) return i;
  };

  it('restores a forest, routing a missing value (NaN in a row) as before', async () => {
    const model = await randomForest.fit(fitInput, { nEstimators: 3, maxDepth: 3 });
    const row = { values: Float64Array.of(NaN, 0.2, NaN), rows: 1, featureNames: d.x.featureNames };
    const restored = restoreViaArtifact(forest);
    expect(Array.from(restored.predictProba(d.x))).toEqual(Array.from(model.predictProba(d.x)));
    expect(Array.from(restored.predictProba(row))).toEqual(Array.from(model.predictProba(row)));
    expect(restored.predictProba(row).every(Number.isFinite)).toBe(true);
  });

  it('refuses a non-finite leaf value, naming the tree, node and class', () => {
    const leaf = firstLeaf();
    expect(() => restoreViaArtifact(withFloat(forest, value(leaf, 1), NaN))).toThrow(`random_forest: tree 0 node ${leaf}: leaf value of class 1 is NaN`);
  });

  it('refuses a leaf whose class shares are not probabilities summing to 1 (predictions average them: a leaf of [-4, 5] served a probability of 5)', () => {
    const leaf = firstLeaf();
    const f = floats(forest.payload);
    const [s0, s1] = [f[value(leaf, 0)], f[value(leaf, 1)]];
    expect(s0 + s1).toBeCloseTo(1, 12);
    const both = (a: number, b: number) => withFloat(withFloat(forest, value(leaf, 0), a), value(leaf, 1), b);
    expect(() => restoreViaArtifact(both(-4, 5))).toThrow(`random_forest: tree 0 node ${leaf}: leaf value of class 0 is -4; a class probability must be a number in [0, 1]`);
    expect(() => restoreViaArtifact(both(1, 1))).toThrow(`random_forest: tree 0 node ${leaf}: leaf value sums to 2 over its 2 classes`);
    expect(restoreViaArtifact(both(s1, s0)).predictProba(d.x).every((q) => q >= 0 && q <= 1)).toBe(true);
  });

  it('refuses a NaN split threshold but keeps a one-sided (infinite) one', () => {
    expect(floats(forest.payload)[feature(0)]).toBeGreaterThanOrEqual(0); // the root splits
    expect(() => restoreViaArtifact(withFloat(forest, threshold(0), NaN))).toThrow('random_forest: tree 0 node 0: split threshold is NaN');
    expect(restoreViaArtifact(withFloat(forest, threshold(0), Infinity)).predictProba(d.x).every(Number.isFinite)).toBe(true);
  });

  it('refuses a child that is not a later node (a walk that might never end) and a feature that is no column', () => {
    expect(() => restoreViaArtifact(withFloat(forest, left(0), 0))).toThrow('random_forest: tree 0 node 0: left child 0 is not a later node of the tree');
    expect(() => restoreViaArtifact(withFloat(forest, feature(0), NaN))).toThrow('random_forest: tree 0 node 0: splits on feature NaN, which is neither -1 (a leaf) nor a column 0..2');
    expect(() => restoreViaArtifact(withFloat(forest, feature(0), 3))).toThrow(/splits on feature 3/);
  });

  it('refuses a non-finite importance and a forest of no trees', () => {
    expect(() => restoreViaArtifact(withFloat(forest, T + 1, Infinity))).toThrow('random_forest: importance of feature "f1" is Infinity');
    expect(() => restoreViaArtifact({ ...forest, params: { ...forest.params, trees: 0 } })).toThrow('random_forest: params.trees (the number of trees) is 0; it must be a whole number ≥ 1');
    expect(() => restoreViaArtifact(withFloat(forest, 0, NaN))).toThrow('random_forest: tree 0 has NaN nodes');
  });

  it('refuses a non-finite gradient boosting base score or leaf value', async () => {
    // Gradient boosting: sizes[T], base[1], gain[p], then the tree arrays (one value per node).
    const model = await gradientBoosting.fit(fitInput, { nRounds: 4, validationFraction: 0 });
    const state = model.state();
    const trees = state.params.trees as number;
    const n = floats(state.payload, trees).reduce((a, b) => a + b, 0);
    expect(Array.from(restoreViaArtifact(state).predictProba(d.x))).toEqual(Array.from(model.predictProba(d.x)));
    expect(() => restoreViaArtifact(withFloat(state, trees, -Infinity))).toThrow('gradient_boosting: base score is -Infinity');
    const f = floats(state.payload);
    const leaf = Array.from({ length: n }, (_, i) => i).find((i) => f[trees + 1 + p + i] < 0) as number;
    expect(() => restoreViaArtifact(withFloat(state, trees + 1 + p + 4 * n + leaf, NaN))).toThrow(`gradient_boosting: tree 0 node ${leaf}: leaf value is NaN`);
  });
});

describe('svm and neural network states', () => {
  it('refuses an svm with a zero standardiser scale or a non-finite number in its model text', async () => {
    const state = (await svm.fit({ ...fitInput, features: { ...d.x, values: d.x.values.subarray(0, 120 * 3), rows: 120 }, labels: d.y.subarray(0, 120), times: independentTimes(120) }, {})).state();
    expect(restoreViaArtifact(state).predictProba(d.x).every(Number.isFinite)).toBe(true);
    const scaling = floats(state.payload, 6);
    const text = new TextDecoder().decode(state.payload.subarray(48));
    const withText = (t: string): ModelState => ({ ...state, payload: new Uint8Array(Buffer.concat([packFloat64([scaling]), Buffer.from(t)])) });
    scaling[3] = 0;
    expect(() => restoreViaArtifact(withText(text))).toThrow('svm: standardiser scale of feature "f0" is 0');
    scaling[3] = floats(state.payload, 6)[3];
    expect(() => restoreViaArtifact(withText(text.replace(/^rho .*$/m, 'rho nan')))).toThrow('svm: the model text\'s rho is "nan"; a stored model parameter must be a finite number');
    expect(() => restoreViaArtifact(withText(text.replace(/^probA .*$/m, 'probA -inf')))).toThrow('svm: the model text\'s probA is "-inf"');
    const sv = text.indexOf('\nSV\n') + 4;
    const line = text.slice(sv, text.indexOf('\n', sv));
    expect(() => restoreViaArtifact(withText(text.slice(0, sv) + line.replace(/^\S+/, 'inf') + text.slice(sv + line.length)))).toThrow('svm: the model text\'s support vector 0 coefficient 0 is "inf"');
    expect(() => restoreViaArtifact(withText(text.slice(0, sv) + line.replace(/ 2:\S+/, ' 2:nan') + text.slice(sv + line.length)))).toThrow('svm: the model text\'s support vector 0 value of feature 2 is "nan"');
  });

  it('refuses a neural network with a non-finite weight or standardiser mean, naming the weight', async () => {
    const model = await mlp.fit(fitInput, { hiddenLayers: [4], epochs: 2, validationFraction: 0 });
    const state = model.state();
    expect(Array.from(restoreViaArtifact(state).predictProba(d.x))).toEqual(Array.from(model.predictProba(d.x)));
    const payload = Buffer.from(state.payload);
    payload.writeFloatLE(NaN, 48 + 4 * 5); // dense0.kernel [3 × 4], entry 5
    expect(() => restoreViaArtifact({ ...state, payload: new Uint8Array(payload) })).toThrow('mlp: weight dense0.kernel[5] is NaN');
    expect(() => restoreViaArtifact(withFloatPrefix(state, 1, -Infinity))).toThrow('mlp: standardiser mean of feature "f1" is -Infinity');
  });
});

/** The state with float64 `index` of the payload's leading float64s (mean and scale, 6 of them) set to `value`. */
function withFloatPrefix(state: ModelState, index: number, value: number): ModelState {
  const head = floats(state.payload, 6);
  head[index] = value;
  return { ...state, payload: new Uint8Array(Buffer.concat([packFloat64([head]), state.payload.subarray(48)])) };
}
