import { ArtifactError, decodeArtifact, encodeArtifact } from '../../../models/artifact';
import { logisticRegression } from '../../../models/baselines/logistic-regression';
import { majority } from '../../../models/baselines/majority';
import type { Algorithm, FeatureMatrix } from '../../../models/model';
import { accuracy, noise, separable } from '../../helpers/datasets';

const context = { featureSetVersion: 'fs-test-000000000000', label: { kind: 'direction', horizon: 5 } };
const algorithms = new Map([
  [majority.name, majority.version],
  [logisticRegression.name, logisticRegression.version],
]);

async function fitBytes(algorithm: Algorithm<Record<string, unknown>>, x: FeatureMatrix, y: Int32Array, seed = 7): Promise<Buffer> {
  const model = await algorithm.fit({ features: x, labels: y, classes: 2, seed }, {});
  return encodeArtifact(model.state(), context);
}

describe('logistic regression', () => {
  it('learns a separable problem to near-perfect accuracy and stays at chance on noise', async () => {
    const train = separable(2000);
    const test = separable(1000, 5, 99);
    const model = await logisticRegression.fit({ features: train.x, labels: train.y, classes: 2, seed: 1 }, { C: 100 });
    expect(accuracy(model.predictProba(test.x), test.y)).toBeGreaterThan(0.98);

    const n = noise(4000);
    const nt = noise(4000, 5, 3);
    const m = await logisticRegression.fit({ features: n.x, labels: n.y, classes: 2, seed: 1 }, {});
    const acc = accuracy(m.predictProba(nt.x), nt.y);
    expect(acc).toBeGreaterThan(0.46);
    expect(acc).toBeLessThan(0.54);
  });

  it('ranks the informative features first', async () => {
    const d = separable(2000);
    const model = await logisticRegression.fit({ features: d.x, labels: d.y, classes: 2, seed: 1 }, {});
    const importance = [...(model.featureImportances?.() ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]).map(([name]) => name);
    expect(importance.slice(0, 2)).toEqual(['f0', 'f1']);
  });
});

describe('majority baseline', () => {
  it('predicts the class frequencies of the training labels', async () => {
    const x: FeatureMatrix = { values: new Float64Array(8), rows: 4, featureNames: ['a', 'b'] };
    const model = await majority.fit({ features: x, labels: Int32Array.from([1, 1, 1, 0]), classes: 2, seed: 0 }, {});
    expect(Array.from(model.predictProba(x).subarray(0, 2))).toEqual([0.25, 0.75]);
  });
});

describe.each([majority, logisticRegression] as Array<Algorithm<Record<string, unknown>>>)('%s artifacts', (algorithm) => {
  const d = separable(500);

  it('are byte-identical for the same data, parameters and seed', async () => {
    expect((await fitBytes(algorithm, d.x, d.y)).equals(await fitBytes(algorithm, d.x, d.y))).toBe(true);
  });

  it('round-trip to identical predictions', async () => {
    const model = await algorithm.fit({ features: d.x, labels: d.y, classes: 2, seed: 7 }, {});
    const { state, header } = decodeArtifact(encodeArtifact(model.state(), context), { featureNames: d.x.featureNames, featureSetVersion: context.featureSetVersion, algorithms });
    expect(header.label).toEqual(context.label);
    const restored = algorithm.restore(state);
    const a = model.predictProba(d.x);
    const b = restored.predictProba(d.x);
    expect(b.every((v, i) => Object.is(v, a[i]))).toBe(true);
  });

  it('refuses tampered, mismatched or unknown artifacts with a clear error', async () => {
    const bytes = await fitBytes(algorithm, d.x, d.y);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 40] ^= 1; // inside the payload
    expect(() => decodeArtifact(flipped)).toThrow(/checksum does not match/);
    const header = Buffer.from(bytes);
    header[20] ^= 1; // inside the JSON header
    expect(() => decodeArtifact(header)).toThrow(ArtifactError);
    expect(() => decodeArtifact(bytes.subarray(0, 100))).toThrow(ArtifactError);
    expect(() => decodeArtifact(Buffer.from('hello world, definitely not a model file'))).toThrow(/bad magic/);
    expect(() => decodeArtifact(bytes, { featureNames: ['f1', 'f0', 'f2', 'f3', 'f4'] })).toThrow(/feature order differs/);
    expect(() => decodeArtifact(bytes, { featureSetVersion: 'fs-other-111111111111' })).toThrow(/trained on feature set fs-test/);
    expect(() => decodeArtifact(bytes, { algorithms: new Map([['svm', 1]]) })).toThrow(/unknown algorithm/);
    expect(() => decodeArtifact(bytes, { algorithms: new Map([[algorithm.name, 99]]) })).toThrow(/payload version 1 is not the one this build reads \(99\)/);
    const model = algorithm.restore(decodeArtifact(bytes).state);
    expect(() => model.predictProba({ ...d.x, featureNames: ['f1', 'f0', 'f2', 'f3', 'f4'] })).toThrow(/features differ from the model's/);
  });
});
