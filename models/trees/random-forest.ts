/**
 * Random forest on the histogram engine: features binned once and shared by every tree, bootstrap
 * samples, feature subsampling per split, out-of-bag score. Tree t draws from its own seeded
 * stream, so a forest is the same however its trees are scheduled.
 */
import { z } from 'zod';
import { rng } from '../../lib/random';
import { sharedPool, type TaskPool } from '../../lib/threads/task-pool';
import { packFloat64, unpackFloat64 } from '../artifact';
import { assertSameFeatures, type Algorithm, type FeatureMatrix, type FitInput, type ModelState, type TrainedModel } from '../model';
import { binMatrix } from './binning';
import { growTree, leafOf, type Tree } from './classification-tree';

export const randomForestParamsSchema = z.object({
  nEstimators: z.number().int().min(1).max(5000).default(100),
  maxDepth: z.number().int().min(1).max(64).default(16),
  minSamplesLeaf: z.number().int().min(1).default(1),
  minGain: z.number().min(0).default(0),
  /** Features tried per split: 'sqrt', 'log2', a share (0..1] or a count. */
  maxFeatures: z.union([z.enum(['sqrt', 'log2']), z.number().positive()]).default('sqrt'),
  criterion: z.enum(['gini', 'entropy']).default('gini'),
  bootstrap: z.boolean().default(true),
  maxBins: z.number().int().min(2).max(255).default(255),
});
export type RandomForestParams = z.input<typeof randomForestParamsSchema>;

function featuresPerSplit(setting: number | 'sqrt' | 'log2', p: number): number {
  if (setting === 'sqrt') return Math.max(1, Math.floor(Math.sqrt(p)));
  if (setting === 'log2') return Math.max(1, Math.floor(Math.log2(p)));
  return Math.max(1, Math.min(p, setting <= 1 ? Math.round(setting * p) : Math.floor(setting)));
}

class RandomForestModel implements TrainedModel {
  readonly algorithm = 'random_forest';
  constructor(
    readonly featureNames: readonly string[],
    readonly classes: number,
    private readonly params: Record<string, unknown>,
    private readonly trees: Tree[],
    private readonly importance: Float64Array,
  ) {}

  predictProba(features: FeatureMatrix): Float64Array {
    assertSameFeatures(this.featureNames, features.featureNames, 'random_forest.predictProba');
    const p = this.featureNames.length;
    const K = this.classes;
    const out = new Float64Array(features.rows * K);
    for (let r = 0; r < features.rows; r++) {
      const row = features.values.subarray(r * p, (r + 1) * p);
      for (const tree of this.trees) {
        const leaf = leafOf(tree, row);
        for (let k = 0; k < K; k++) out[r * K + k] += tree.value[leaf * K + k];
      }
      for (let k = 0; k < K; k++) out[r * K + k] /= this.trees.length;
    }
    return out;
  }

  featureImportances(): ReadonlyMap<string, number> {
    const total = this.importance.reduce((a, b) => a + b, 0) || 1;
    return new Map(this.featureNames.map((name, j) => [name, this.importance[j] / total]));
  }

  state(): ModelState {
    const sizes = Float64Array.from(this.trees, (t) => t.feature.length);
    const cat = (pick: (t: Tree) => ArrayLike<number>) => {
      const parts = this.trees.map(pick);
      const out = new Float64Array(parts.reduce((n, a) => n + a.length, 0));
      let o = 0;
      for (const a of parts) for (let i = 0; i < a.length; i++) out[o++] = a[i];
      return out;
    };
    return {
      algorithm: this.algorithm,
      algorithmVersion: randomForest.version,
      featureNames: this.featureNames,
      classes: this.classes,
      params: { ...this.params, trees: this.trees.length },
      payload: packFloat64([sizes, this.importance, cat((t) => t.feature), cat((t) => t.threshold), cat((t) => t.left), cat((t) => t.right), cat((t) => t.value)]),
    };
  }
}

/** Builds trees [from, to) of a forest; used directly and by the parallel builder. */
export function buildTrees(input: FitInput, raw: RandomForestParams, from: number, to: number): { trees: Tree[]; importances: Float64Array[] } {
  const params = randomForestParamsSchema.parse(raw);
  const data = binMatrix(input.features, params.maxBins);
  const p = data.features;
  const treeParams = { maxDepth: params.maxDepth, minSamplesLeaf: params.minSamplesLeaf, minGain: params.minGain, maxFeatures: featuresPerSplit(params.maxFeatures, p), criterion: params.criterion };
  const importances: Float64Array[] = [];
  const trees: Tree[] = [];
  for (let t = from; t < to; t++) {
    input.signal?.throwIfAborted();
    const random = rng(input.seed * 1_000_003 + t);
    const weight = new Float64Array(data.rows);
    if (params.bootstrap) for (let i = 0; i < data.rows; i++) weight[Math.floor(random() * data.rows)] += 1;
    else weight.fill(1);
    if (input.weights) for (let i = 0; i < data.rows; i++) weight[i] *= input.weights[i];
    const grown = growTree(data, input.labels, input.classes, weight, treeParams, random);
    trees.push(grown.tree);
    importances.push(grown.importance);
  }
  return { trees, importances };
}

export const randomForest: Algorithm<RandomForestParams> = {
  name: 'random_forest',
  version: 1,
  async fit(input: FitInput, raw: RandomForestParams) {
    const params = randomForestParamsSchema.parse(raw);
    const pool = sharedPool(input.threads ?? 1);
    const batches = pool ? Math.min(input.threads as number, params.nEstimators) : 1;
    // Contiguous tree ranges per thread; tree t's randomness depends on t only, so the forest is
    // identical for any number of threads.
    const bounds = Array.from({ length: batches + 1 }, (_, b) => Math.round((b * params.nEstimators) / batches));
    const { signal, ...fit } = input;
    const remote = bounds.slice(1, -1).map((from, i) => (pool as TaskPool).run(i, 'forestTrees', { fit, params, from, to: bounds[i + 2] }));
    const local = buildTrees({ ...fit, signal }, params, 0, bounds[1]);
    const parts = [local, ...(await Promise.all(remote))];
    // Summed tree by tree in tree order, so rounding does not depend on the batching either.
    const importance = new Float64Array(input.features.featureNames.length);
    for (const tree of parts.flatMap((part) => part.importances)) for (let j = 0; j < importance.length; j++) importance[j] += tree[j];
    return new RandomForestModel(input.features.featureNames, input.classes, params, parts.flatMap((part) => part.trees), importance);
  },
  restore(state: ModelState) {
    const p = state.featureNames.length;
    const K = state.classes;
    const treesCount = Number(state.params.trees);
    const head = unpackFloat64(state.payload.subarray(0, treesCount * 8), [treesCount])[0];
    const nodes = head.reduce((a, b) => a + b, 0);
    const [sizes, importance, feature, threshold, left, right, value] = unpackFloat64(state.payload, [treesCount, p, nodes, nodes, nodes, nodes, nodes * K]);
    const trees: Tree[] = [];
    let o = 0;
    for (let t = 0; t < treesCount; t++) {
      const n = sizes[t];
      trees.push({
        feature: Int32Array.from(feature.subarray(o, o + n)),
        threshold: threshold.slice(o, o + n),
        left: Int32Array.from(left.subarray(o, o + n)),
        right: Int32Array.from(right.subarray(o, o + n)),
        value: value.slice(o * K, (o + n) * K),
      });
      o += n;
    }
    const params: Record<string, unknown> = { ...state.params };
    delete params.trees; // derived from the payload, re-added by state()
    return new RandomForestModel(state.featureNames, K, params, trees, importance);
  },
};
