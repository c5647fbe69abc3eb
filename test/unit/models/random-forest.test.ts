import { encodeArtifact, decodeArtifact } from '../../../models/artifact';
import { binEdges, binFeatureRange, binMatrix, binOf, binRows, edgeSampleRows, featureRangeEdges } from '../../../models/trees/binning';
import { buildTrees, randomForest } from '../../../models/trees/random-forest';
import { growTree, type TreeParams } from '../../../models/trees/classification-tree';
import type { BinnedMatrix } from '../../../models/trees/binning';
import { rng } from '../../../lib/random';
import { accuracy, noise, separable } from '../../helpers/datasets';

const context = { featureSetVersion: 'fs-test-000000000000', label: { kind: 'direction', horizon: 5 } };

describe('histogram binning', () => {
  it('gives each distinct value its own bin when few, with midpoint edges, and NaN bin 0', () => {
    const edges = binEdges(Float64Array.from([3, 1, 2, 2, NaN, 1]), 255);
    expect(Array.from(edges)).toEqual([1.5, 2.5]);
    expect([binOf(edges, 1), binOf(edges, 2), binOf(edges, 3), binOf(edges, NaN), binOf(edges, 2.5)]).toEqual([0, 1, 2, 0, 1]);
  });

  it('caps the bins at maxBins with quantile edges', () => {
    const values = Float64Array.from({ length: 10_000 }, (_, i) => i);
    const edges = binEdges(values, 16);
    expect(edges.length).toBe(15);
    const m = binMatrix({ values, rows: 10_000, featureNames: ['x'] }, 16);
    const counts = new Array<number>(16).fill(0);
    m.bins.forEach((b) => counts[b]++);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
  });

  it("gives a range of features the edges of each feature's sampled column, whatever the range's bounds", () => {
    // 120,000 rows: one row of every three sampled; 19 features, ranges not aligned with the gather blocks.
    const rows = 120_000;
    const p = 19;
    let state = 7;
    const values = Float64Array.from({ length: rows * p }, (_, i) => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      const j = i % p;
      return j % 5 === 0 ? state % 3 : j === 7 && state % 11 === 0 ? NaN : state / 2 ** 31 + j;
    });
    const sample = edgeSampleRows(rows);
    expect(sample.length).toBe(40_000);
    expect(sample.filter((r, s) => Math.floor(r / 3) !== s)).toHaveLength(0);
    const column = (j: number) => Float64Array.from(sample, (r) => values[r * p + j]);
    for (const [from, to] of [[0, p], [3, 13], [13, 19], [8, 9]]) {
      const edges = featureRangeEdges(values, rows, p, from, to, 255);
      expect(edges.map((e) => Array.from(e))).toEqual(Array.from({ length: to - from }, (_, k) => Array.from(binEdges(column(from + k), 255))));
    }
  });

  it('places the edges from rows of every symbol: a quarter of the symbols on another scale get bins of their own', () => {
    // Rows ordered by day, then symbol: 10,000 days × 20 symbols, so 200,000 rows and a 50,000-row edge
    // sample. Symbols 1, 5, 9, 13 and 17 have the feature in [1000, 2000), the others in [0, 1). Every
    // fourth row sampled only symbols 0, 4, 8, 12 and 16: no edge above 1 and a quarter of the rows in
    // the last bin.
    const symbols = 20;
    const rows = 10_000 * symbols;
    const next = rng(5);
    const values = Float64Array.from({ length: rows }, (_, r) => (r % symbols) % 4 === 1 ? 1000 + 1000 * next() : next());
    const [edges] = featureRangeEdges(values, rows, 1, 0, 1, 255);
    const above = edges.filter((e) => e > 1000).length;
    expect(above / edges.length).toBeGreaterThan(0.2);
    expect(above / edges.length).toBeLessThan(0.3);
    const bins = binMatrix({ values, rows, featureNames: ['x'] }).bins;
    const counts = new Array<number>(edges.length + 1).fill(0);
    for (const b of bins) counts[b]++;
    expect(Math.max(...counts) / rows).toBeLessThan(0.01);
  });

  it('bins every value as prediction routes it: NaN and values at or below the first edge to 0, +Infinity past the last edge', () => {
    // 2,500 rows (blocks of rows end mid-matrix); features with no edge, one, two, 255 and a heavy tail.
    const rows = 2_500;
    let state = 11;
    const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const special = [NaN, Infinity, -Infinity];
    const columns = [
      () => 4,
      () => (next() < 0.5 ? 0 : 1),
      () => Math.floor(next() * 3),
      () => next(),
      () => Math.exp(12 * next()) * (next() < 0.5 ? -1 : 1),
      // Piled up at its maximum (a drawdown): the last edge is the top value, the gaps below it tiny.
      () => (next() < 0.6 ? 0 : -Math.exp(12 * next())),
    ];
    const p = columns.length;
    const values = new Float64Array(rows * p);
    for (let r = 0; r < rows; r++) for (let j = 0; j < p; j++) values[r * p + j] = r % 97 === 0 ? special[(r / 97 + j) % 3] : columns[j]();
    const x = { values, rows, featureNames: columns.map((_, j) => `f${j}`) };
    const edges = featureRangeEdges(values, rows, p, 0, p, 255);
    expect(edges.map((e) => e.length)).toEqual([0, 1, 2, 254, 254, 102]);
    // Prediction goes left when !(v > threshold): the bin is the count of edges below the value.
    const expected = (j: number, v: number) => (Number.isNaN(v) ? 0 : edges[j].filter((e) => v > e).length);
    const stride = 8;
    const rowMajor = new Uint8Array(rows * stride);
    const columnMajor = new Uint8Array(rows * p);
    binFeatureRange(values, rows, p, 0, 2, 255, stride, rowMajor, columnMajor);
    binFeatureRange(values, rows, p, 2, p, 255, stride, rowMajor, columnMajor);
    const again = binRows(x, edges, stride);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < p; j++) {
        const want = expected(j, values[r * p + j]);
        if (rowMajor[r * stride + j] !== want || columnMajor[j * rows + r] !== want || again[r * stride + j] !== want) {
          throw new Error(`row ${r} feature ${j} (${values[r * p + j]}): ${rowMajor[r * stride + j]} / ${columnMajor[j * rows + r]} / ${again[r * stride + j]}, expected ${want}`);
        }
      }
    }
  });

  it('refuses scratch shorter than the values (typed arrays would drop the writes past its end)', () => {
    expect(() => binEdges(Float64Array.from([1, 2, 3]), 255, new Float64Array(2))).toThrow(/scratch/);
  });
});

describe('random forest', () => {
  it('learns a separable problem to near-perfect accuracy and stays at chance on noise', async () => {
    const train = separable(3000);
    const test = separable(1000, 5, 99);
    const model = await randomForest.fit({ features: train.x, labels: train.y, classes: 2, seed: 3 }, { nEstimators: 30 });
    expect(accuracy(model.predictProba(test.x), test.y)).toBeGreaterThan(0.97);
    const n = noise(3000);
    const nt = noise(3000, 5, 3);
    const m = await randomForest.fit({ features: n.x, labels: n.y, classes: 2, seed: 3 }, { nEstimators: 30 });
    const acc = accuracy(m.predictProba(nt.x), nt.y);
    expect(acc).toBeGreaterThan(0.46);
    expect(acc).toBeLessThan(0.54);
    const importance = [...(model.featureImportances?.() ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]);
    expect(importance[0][0]).toBe('f0');
  });

  it('records no out-of-bag score: with overlapping labels a tree\'s out-of-bag rows share label windows with its bootstrap rows, which inflates it', async () => {
    const d = separable(500);
    const model = await randomForest.fit({ features: d.x, labels: d.y, classes: 2, seed: 8 }, { nEstimators: 5 });
    expect(model.state().params).not.toHaveProperty('oobScore');
    const warm = await randomForest.continueFit?.(model, { features: d.x, labels: d.y, classes: 2, seed: 9 }, { nEstimators: 5 }, { extraRounds: 0, refreshShare: 0.4, epochs: 1 });
    expect(warm?.state().params).not.toHaveProperty('oobScore');
  });

  it('gives byte-identical artifacts for the same seed and different ones for another seed', async () => {
    const d = separable(800);
    const bytes = async (seed: number) => encodeArtifact((await randomForest.fit({ features: d.x, labels: d.y, classes: 2, seed }, { nEstimators: 10 })).state(), context);
    expect((await bytes(5)).equals(await bytes(5))).toBe(true);
    expect((await bytes(5)).equals(await bytes(6))).toBe(false);
  });

  it('builds the same trees however they are split into batches (what the parallel build relies on)', () => {
    const d = separable(600);
    const input = { features: d.x, labels: d.y, classes: 2, seed: 11 };
    const whole = buildTrees(input, { nEstimators: 8 }, 0, 8);
    const parts = [buildTrees(input, { nEstimators: 8 }, 0, 3), buildTrees(input, { nEstimators: 8 }, 3, 8)];
    expect(parts.flatMap((p) => p.trees)).toEqual(whole.trees);
  });

  it('builds the same forest on 1 and on 3 threads', async () => {
    const d = separable(600);
    const bytes = async (threads: number) => encodeArtifact((await randomForest.fit({ features: d.x, labels: d.y, classes: 2, seed: 4, threads }, { nEstimators: 9 })).state(), context);
    expect((await bytes(3)).equals(await bytes(1))).toBe(true);
  });

  it('round-trips through the artifact to identical predictions', async () => {
    const d = separable(800);
    const model = await randomForest.fit({ features: d.x, labels: d.y, classes: 2, seed: 5 }, { nEstimators: 12, maxDepth: 6 });
    const { state } = decodeArtifact(encodeArtifact(model.state(), context), { featureNames: d.x.featureNames, algorithms: new Map([['random_forest', 1]]) });
    const restored = randomForest.restore(state);
    const a = model.predictProba(d.x);
    expect(restored.predictProba(d.x).every((v, i) => Object.is(v, a[i]))).toBe(true);
    expect(encodeArtifact(restored.state(), context).equals(encodeArtifact(model.state(), context))).toBe(true);
  });
});

/**
 * The split search as one plain scan over every bin of a fresh histogram: the oracle for growTree,
 * which scans only the bins a node's rows occupy.
 */
function referenceTree(data: BinnedMatrix, labels: Int32Array, classes: number, weight: Float64Array, params: TreeParams, random: () => number) {
  const impurityOf = (c: Float64Array, t: number) => {
    let s = 0;
    for (let k = 0; k < classes; k++) {
      const q = c[k] / t;
      s += params.criterion === 'gini' ? q * q : q > 0 ? -q * Math.log2(q) : 0;
    }
    return t <= 0 ? 0 : params.criterion === 'gini' ? 1 - s : s;
  };
  const order = Int32Array.from({ length: data.features }, (_, j) => j);
  const splits: Array<[number, number]> = [];
  const stack: Array<{ rows: number[]; depth: number }> = [{ rows: [...weight.keys()].filter((r) => weight[r] > 0), depth: 0 }];
  while (stack.length > 0) {
    const { rows, depth } = stack.pop() as { rows: number[]; depth: number };
    const totals = new Float64Array(classes);
    let total = 0;
    for (const r of rows) {
      totals[labels[r]] += weight[r];
      total += weight[r];
    }
    const parent = impurityOf(totals, total);
    if (depth >= params.maxDepth || total < 2 * params.minSamplesLeaf || parent === 0) continue;
    for (let i = 0; i < params.maxFeatures; i++) {
      const j = i + Math.floor(random() * (data.features - i));
      [order[i], order[j]] = [order[j], order[i]];
    }
    let best = { gain: params.minGain, feature: -1, bin: -1 };
    for (let c = 0; c < params.maxFeatures; c++) {
      const j = order[c];
      const nb = data.edges[j].length + 1;
      const hist = new Float64Array(256 * classes);
      for (const r of rows) hist[data.bins[j * data.rows + r] * classes + labels[r]] += weight[r];
      const left = new Float64Array(classes);
      let leftTotal = 0;
      for (let b = 0; b < nb - 1; b++) {
        for (let k = 0; k < classes; k++) {
          left[k] += hist[b * classes + k];
          leftTotal += hist[b * classes + k];
        }
        const rightTotal = total - leftTotal;
        if (leftTotal < params.minSamplesLeaf) continue;
        if (rightTotal < params.minSamplesLeaf) break;
        const right = Float64Array.from(totals, (t, k) => t - left[k]);
        const gain = parent - (leftTotal / total) * impurityOf(left, leftTotal) - (rightTotal / total) * impurityOf(right, rightTotal);
        if (gain > best.gain + 1e-12) best = { gain, feature: j, bin: b };
      }
    }
    if (best.feature < 0) continue;
    splits.push([best.feature, best.bin]);
    const goesLeft = (r: number) => data.bins[best.feature * data.rows + r] <= best.bin;
    stack.push({ rows: rows.filter((r) => !goesLeft(r)), depth: depth + 1 }, { rows: rows.filter(goesLeft), depth: depth + 1 });
  }
  return splits;
}

describe('classification tree split search', () => {
  it('finds the splits of a scan over every bin, on features whose rows occupy few of many bins, for both criteria and 2 or 3 classes', () => {
    const next = rng(7);
    const rows = 1500;
    // Many-bin features that small nodes occupy sparsely, few-bin flags, and one feature with a single bin.
    const binsPer = [255, 200, 40, 3, 2, 255, 1, 120];
    const data: BinnedMatrix = {
      rows,
      features: binsPer.length,
      bins: new Uint8Array(binsPer.length * rows),
      edges: binsPer.map((nb) => Float64Array.from({ length: nb - 1 }, (_, b) => b)),
    };
    binsPer.forEach((nb, j) => {
      for (let r = 0; r < rows; r++) data.bins[j * rows + r] = Math.min(nb - 1, Math.floor(next() ** (j % 2 === 0 ? 1 : 3) * nb));
    });
    for (const classes of [2, 3]) {
      const labels = Int32Array.from({ length: rows }, (_, r) => (data.bins[r] + data.bins[3 * rows + r] * 40 + Math.floor(next() * 90)) % classes);
      const weight = Float64Array.from({ length: rows }, () => Math.floor(next() * 3)); // bootstrap counts, some 0
      for (const criterion of ['gini', 'entropy'] as const) {
        for (const minSamplesLeaf of [1, 4]) {
          const params: TreeParams = { maxDepth: 14, minSamplesLeaf, minGain: 0, maxFeatures: 5, criterion };
          const grown = growTree(data, labels, classes, weight, params, rng(11));
          const splits: Array<[number, number]> = [];
          // The grower's nodes in its depth-first order (the reference's order): left child first.
          const walk = (node: number) => {
            if (grown.tree.feature[node] < 0) return;
            splits.push([grown.tree.feature[node], grown.tree.threshold[node]]);
            walk(grown.tree.left[node]);
            walk(grown.tree.right[node]);
          };
          walk(0);
          const expected = referenceTree(data, labels, classes, weight, params, rng(11));
          expect(splits.length).toBeGreaterThan(50);
          expect(splits).toEqual(expected);
        }
      }
    }
  });
});
