import * as fs from 'fs';
import * as path from 'path';
import { decodeArtifact, encodeArtifact } from '../../../models/artifact';
import type { FeatureMatrix, TrainedModel } from '../../../models/model';
import { loadSvmRuntime, svm, type SvmParams } from '../../../models/svm/svm';
import { plattSigmoid } from '../../../models/svm/probability';
import { fitStandardiser, standardise } from '../../../models/standardiser';
import { rng } from '../../../lib/random';
import { accuracy, independentTimes, noise, separable, type Dataset } from '../../helpers/datasets';

const context = { featureSetVersion: 'fs-test-000000000000', label: { kind: 'direction', horizon: 5 } };

/** Three classes around three centres in the (f0, f1) plane, one noise feature; the first row is class 2. */
function threeClasses(rows: number, seed: number): Dataset {
  const next = rng(seed);
  const centres = [[-1, -1], [1, -1], [0, 1]];
  const values = new Float64Array(rows * 3);
  const y = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const k = (r + 2) % 3;
    y[r] = k;
    values[r * 3] = centres[k][0] + (next() - 0.5) * 0.8;
    values[r * 3 + 1] = centres[k][1] + (next() - 0.5) * 0.8;
    values[r * 3 + 2] = next();
  }
  return { x: { values, rows, featureNames: ['f0', 'f1', 'f2'] }, y };
}

const bytes = (model: TrainedModel) => encodeArtifact(model.state(), context);

describe('svm', () => {
  it('learns a separable problem with the rbf and the linear kernel and stays at chance on noise', async () => {
    const train = separable(1000);
    const test = separable(1000, 5, 99);
    for (const kernel of ['rbf', 'linear'] as const) {
      const model = await svm.fit({ features: train.x, times: independentTimes(train.x.rows), labels: train.y, classes: 2, seed: 1 }, { kernel });
      expect(accuracy(model.predictProba(test.x), test.y)).toBeGreaterThan(0.95);
    }
    const n = noise(1500);
    const nt = noise(2000, 5, 3);
    const m = await svm.fit({ features: n.x, times: independentTimes(n.x.rows), labels: n.y, classes: 2, seed: 1 }, {});
    const acc = accuracy(m.predictProba(nt.x), nt.y);
    expect(acc).toBeGreaterThan(0.45);
    expect(acc).toBeLessThan(0.55);
  });

  it('gives importances (|w|) for the linear kernel only, informative features first', async () => {
    const d = separable(600);
    const linear = await svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 1 }, { kernel: 'linear' });
    const ranked = [...(linear.featureImportances?.() ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]).map(([name]) => name);
    expect(ranked.slice(0, 2)).toEqual(['f0', 'f1']);
    const rbf = await svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 1 }, {});
    expect(rbf.featureImportances).toBeUndefined();
  });

  it('handles three classes (libsvm label order mapped to ours), probabilities summing to 1, and a class never seen', async () => {
    const train = threeClasses(600, 1);
    const test = threeClasses(600, 2);
    const model = await svm.fit({ features: train.x, times: independentTimes(train.x.rows), labels: train.y, classes: 3, seed: 1 }, {});
    const proba = model.predictProba(test.x);
    expect(proba.length).toBe(600 * 3);
    expect(accuracy(proba, test.y, 3)).toBeGreaterThan(0.95);
    for (let r = 0; r < test.x.rows; r++) expect(proba[r * 3] + proba[r * 3 + 1] + proba[r * 3 + 2]).toBeCloseTo(1, 12);

    // classes = 4, but class 3 never appears in training: its column is 0, the others still sum to 1
    const four = await svm.fit({ features: train.x, times: independentTimes(train.x.rows), labels: train.y, classes: 4, seed: 1 }, {});
    const p4 = four.predictProba(test.x);
    expect(accuracy(p4, test.y, 4)).toBeGreaterThan(0.95);
    for (let r = 0; r < test.x.rows; r++) {
      expect(p4[r * 4 + 3]).toBe(0);
      expect(p4[r * 4] + p4[r * 4 + 1] + p4[r * 4 + 2]).toBeCloseTo(1, 12);
    }
  });

  it('gives byte-identical artifacts for the same data, times and parameters, whatever ran before (A, B, A)', async () => {
    const a = separable(400, 5, 7);
    const b = threeClasses(300, 3);
    const fitA = (seed: number) => svm.fit({ features: a.x, times: independentTimes(a.x.rows), labels: a.y, classes: 2, seed }, {});
    const first = bytes(await fitA(1));
    const other = bytes(await svm.fit({ features: b.x, times: independentTimes(b.x.rows), labels: b.y, classes: 3, seed: 2 }, { kernel: 'linear', C: 3 }));
    const again = bytes(await fitA(1));
    expect(again.equals(first)).toBe(true);
    expect(other.equals(first)).toBe(false);
    // The folds of the Platt-scaling cross-validation are cut from the rows' times, not drawn with
    // the seed: another seed gives the same bytes; other times (a longer embargo) other probability
    // parameters, the support vectors staying the same.
    expect(bytes(await fitA(2)).equals(first)).toBe(true);
    const m1 = await fitA(1);
    const m2 = await svm.fit({ features: a.x, times: { ...independentTimes(a.x.rows), embargoDays: 30 }, labels: a.y, classes: 2, seed: 1 }, {});
    const text = (m: TrainedModel) => Buffer.from(m.state().payload.subarray(16 * 5)).toString('utf8');
    expect(text(m2).match(/^probA .*/m)?.[0]).not.toBe(text(m1).match(/^probA .*/m)?.[0]);
    expect(text(m2).slice(text(m2).indexOf('\nSV\n'))).toBe(text(m1).slice(text(m1).indexOf('\nSV\n')));
  });

  it('treats equal weights as unweighted and refuses unequal ones', async () => {
    const d = separable(300);
    const plain = bytes(await svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 4 }, {}));
    const equal = bytes(await svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 4, weights: new Float64Array(300).fill(0.5) }, {}));
    expect(equal.equals(plain)).toBe(true);
    const weights = Float64Array.from({ length: 300 }, (_, i) => 1 + (i % 2));
    await expect(svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 4, weights }, {})).rejects.toThrow(/does not support sample weights/);
  });

  it('round-trips through the artifact to identical predictions and bytes', async () => {
    const d = separable(500);
    const test = separable(300, 5, 42);
    const model = await svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 5 }, { C: 2, gamma: 0.3 });
    const encoded = bytes(model);
    const { state } = decodeArtifact(encoded, { featureNames: d.x.featureNames, algorithms: new Map([[svm.name, svm.version]]) });
    const restored = svm.restore(state);
    const a = model.predictProba(test.x);
    const b = restored.predictProba(test.x);
    expect(b.every((v, i) => Object.is(v, a[i]))).toBe(true);
    expect(bytes(restored).equals(encoded)).toBe(true);
    expect(state.params).toEqual({ kernel: 'rbf', C: 2, gamma: 0.3, tolerance: 1e-3, cacheSizeMb: 200, shrinking: true });
    // one row at a time gives the same numbers as the batch
    const one: FeatureMatrix = { values: test.x.values.subarray(5, 10), rows: 1, featureNames: test.x.featureNames };
    expect(Array.from(restored.predictProba(one))).toEqual(Array.from(a.subarray(2, 4)));
  });

  it('restores a model fitted before its calibration folds were cut in time and predicts exactly what it did then', async () => {
    const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../../fixtures/svm-random-folds-artifact.json'), 'utf8')) as { artifactBase64: string; featureNames: string[]; rows: number[]; probabilities: number[] };
    const encoded = Buffer.from(fixture.artifactBase64, 'base64');
    const { state } = decodeArtifact(encoded, { featureNames: fixture.featureNames, algorithms: new Map([[svm.name, svm.version]]) });
    const restored = svm.restore(state);
    const proba = restored.predictProba({ values: Float64Array.from(fixture.rows), rows: fixture.rows.length / fixture.featureNames.length, featureNames: fixture.featureNames });
    expect(Array.from(proba)).toEqual(fixture.probabilities);
    expect(bytes(restored).equals(encoded)).toBe(true);
  });

  it('refuses a matrix with another feature order, invalid parameters and degenerate labels', async () => {
    const d = separable(200);
    const model = await svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 1 }, {});
    expect(() => model.predictProba({ ...d.x, featureNames: ['f1', 'f0', 'f2', 'f3', 'f4'] })).toThrow(/features differ from the model's/);
    const fit = (params: unknown) => svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed: 1 }, params as SvmParams);
    await expect(fit({ kernel: 'poly' })).rejects.toThrow(/svm: invalid parameters: kernel/);
    await expect(fit({ C: -1 })).rejects.toThrow(/svm: invalid parameters: C/);
    await expect(fit({ gamma: 'auto' })).rejects.toThrow(/svm: invalid parameters: gamma/);
    await expect(fit({ gamma: 0 })).rejects.toThrow(/svm: invalid parameters: gamma/);
    await expect(fit({ probability: false })).rejects.toThrow(/svm: invalid parameters: .*probability/);
    await expect(svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: new Int32Array(200), classes: 2, seed: 1 }, {})).rejects.toThrow(/at least two/);
    await expect(svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y.map((y) => y * 2), classes: 2, seed: 1 }, {})).rejects.toThrow(/outside 0\.\.1/);
  });

  it('predicts two classes exactly as libsvm does from the same model text', async () => {
    const train = noisyLine(600, 31);
    const test = noisyLine(300, 32);
    for (const kernel of ['rbf', 'linear'] as const) {
      const model = await svm.fit({ features: train.x, times: independentTimes(train.x.rows), labels: train.y, classes: 2, seed: 1 }, { kernel });
      const ours = model.predictProba(test.x);
      const text = Buffer.from(model.state().payload.subarray(16 * 2)).toString('utf8');
      const { SVM } = await loadSvmRuntime();
      const theirs = SVM.load(text); // a small model: SVM.load's stack limit does not bite
      const s = fitStandardiser(train.x);
      const zt = standardise(test.x, s, new Float64Array(test.x.values.length));
      let maxDiff = 0;
      for (let r = 0; r < test.x.rows; r++) {
        const p1 = theirs.predictOneProbability(zt.subarray(r * 2, r * 2 + 2)).estimates.find((e) => e.label === 1)?.probability ?? NaN;
        maxDiff = Math.max(maxDiff, Math.abs(p1 - ours[r * 2 + 1]));
      }
      theirs.free();
      expect(maxDiff).toBeLessThan(1e-12);
    }
  });

  it('predicts with a column swapped as predictProba does on the swapped matrix (rbf, linear, three classes), NaN included', async () => {
    const d = separable(400, 5, 21);
    const three = threeClasses(240, 6);
    for (const [data, classes, kernel] of [[d, 2, 'rbf'], [d, 2, 'linear'], [three, 3, 'rbf']] as const) {
      const model = await svm.fit({ features: data.x, times: independentTimes(data.x.rows), labels: data.y, classes, seed: 2 }, { kernel });
      const p = data.x.featureNames.length;
      const next = rng(9);
      // Column 0 shuffled, column 1 with one value per row changed and a missing one, the last column unchanged (the base prediction).
      const swaps = [0, 1, p - 1].map((column, s) => {
        const values = Float64Array.from({ length: data.x.rows }, (_, r) => data.x.values[r * p + column]);
        if (s === 0) for (let i = values.length - 1; i > 0; i--) { const k = Math.floor(next() * (i + 1)); [values[i], values[k]] = [values[k], values[i]]; }
        if (s === 1) { values[3] += 0.5; values[7] = NaN; }
        return { column, values };
      });
      const swapped = model.predictProbaColumnSwaps?.(data.x, swaps) ?? [];
      expect(swapped).toHaveLength(3);
      swaps.forEach(({ column, values }, s) => {
        const x = Float64Array.from(data.x.values);
        values.forEach((v, r) => (x[r * p + column] = v));
        const direct = model.predictProba({ ...data.x, values: x });
        let maxDiff = 0;
        direct.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - swapped[s][i]))));
        expect(maxDiff).toBeLessThan(1e-12);
      });
      expect(() => model.predictProbaColumnSwaps?.(data.x, [{ column: p, values: new Float64Array(data.x.rows) }])).toThrow(/does not fit/);
    }
  });

  it('cannot restore a model of more than two classes before the wasm runtime is loaded, and says what to do', async () => {
    const d = threeClasses(200, 5);
    const { state } = decodeArtifact(bytes(await svm.fit({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 3, seed: 1 }, {})));
    jest.isolateModules(() => {
      // a fresh copy of the module, whose runtime has not been loaded
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fresh = require('../../../models/svm/svm') as typeof import('../../../models/svm/svm');
      expect(() => fresh.svm.restore(state)).toThrow(/await loadSvmRuntime\(\)/);
    });
    await loadSvmRuntime();
    expect(svm.restore(state).predictProba(d.x).length).toBe(600);
  });

  it('spreads its six trainings over threads and gives the same bytes for 1 and 3 threads', async () => {
    const d = separable(500, 5, 11);
    const three = threeClasses(300, 4);
    for (const [data, classes] of [[d, 2], [three, 3]] as const) {
      const one = bytes(await svm.fit({ features: data.x, times: independentTimes(data.x.rows), labels: data.y, classes, seed: 3, threads: 1 }, {}));
      const many = bytes(await svm.fit({ features: data.x, times: independentTimes(data.x.rows), labels: data.y, classes, seed: 3, threads: 3 }, {}));
      expect(many.equals(one)).toBe(true);
    }
  });

  it('gives probabilities close to libsvm\'s own Platt scaling (-b 1) on the same problem', async () => {
    const train = noisyLine(800, 21);
    const test = noisyLine(400, 22);
    const ours = (await svm.fit({ features: train.x, times: independentTimes(train.x.rows), labels: train.y, classes: 2, seed: 1 }, { gamma: 0.5 })).predictProba(test.x);
    // libsvm trains the same standardised rows itself with probability estimates on
    const s = fitStandardiser(train.x);
    const z = standardise(train.x, s, new Float64Array(train.x.values.length));
    const zt = standardise(test.x, s, new Float64Array(test.x.values.length));
    const { SVM } = await loadSvmRuntime();
    const machine = new SVM({ type: SVM.SVM_TYPES.C_SVC, kernel: SVM.KERNEL_TYPES.RBF, gamma: 0.5, cost: 1, probabilityEstimates: true, quiet: true });
    machine.train(Array.from({ length: train.x.rows }, (_, r) => z.subarray(r * 2, r * 2 + 2)), train.y);
    let maxDiff = 0;
    for (let r = 0; r < test.x.rows; r++) {
      const theirs = machine.predictOneProbability(zt.subarray(r * 2, r * 2 + 2)).estimates.find((e) => e.label === 1)?.probability ?? NaN;
      maxDiff = Math.max(maxDiff, Math.abs(theirs - ours[r * 2 + 1]));
    }
    machine.free();
    // libsvm's random folds and our consecutive ones (the rows are independent) give slightly different sigmoids, never different models.
    expect(maxDiff).toBeLessThan(0.05);
  });
});

/** y = 1 above a line in the plane, with 15% of labels flipped: probabilities well inside (0, 1). */
function noisyLine(rows: number, seed: number): Dataset {
  const next = rng(seed);
  const values = new Float64Array(rows * 2);
  const y = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    values[r * 2] = next() * 2 - 1;
    values[r * 2 + 1] = next() * 2 - 1;
    y[r] = (values[r * 2] + values[r * 2 + 1] > 0) !== next() < 0.15 ? 1 : 0;
  }
  return { x: { values, rows, featureNames: ['a', 'b'] }, y };
}

describe('plattSigmoid', () => {
  it('recovers the sigmoid that generated the labels', () => {
    const next = rng(9);
    const n = 20_000;
    const decisions = new Float64Array(n);
    const positive = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      decisions[i] = next() * 8 - 4;
      positive[i] = next() < 1 / (1 + Math.exp(-1.5 * decisions[i] + 0.3)) ? 1 : 0;
    }
    const { A, B } = plattSigmoid(decisions, positive);
    expect(A).toBeCloseTo(-1.5, 1);
    expect(B).toBeCloseTo(0.3, 1);
  });

  it('stays finite on separable decision values (the regularised targets keep it bounded)', () => {
    const decisions = Float64Array.from({ length: 100 }, (_, i) => (i < 50 ? -2 - i / 50 : 2 + i / 50));
    const positive = Uint8Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1));
    const { A, B } = plattSigmoid(decisions, positive);
    expect(Number.isFinite(A) && Number.isFinite(B)).toBe(true);
    expect(A).toBeLessThan(0);
  });
});
