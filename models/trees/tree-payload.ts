/**
 * How an ensemble of flat trees is laid out in an artifact payload (float64 little-endian):
 * tree sizes, then every tree's feature, threshold, left, right and value arrays concatenated in
 * tree order. Shared by the random forest and gradient boosting.
 */
import { ArtifactError } from '../artifact';
import { requireDistribution } from '../state-checks';
import type { Tree } from './classification-tree';

/** [sizes, feature, threshold, left, right, value] for packFloat64. */
export function treeArrays(trees: readonly Tree[]): Float64Array[] {
  const cat = (pick: (t: Tree) => ArrayLike<number>) => {
    const parts = trees.map(pick);
    const out = new Float64Array(parts.reduce((n, a) => n + a.length, 0));
    let o = 0;
    for (const a of parts) for (let i = 0; i < a.length; i++) out[o++] = a[i];
    return out;
  };
  return [Float64Array.from(trees, (t) => t.feature.length), cat((t) => t.feature), cat((t) => t.threshold), cat((t) => t.left), cat((t) => t.right), cat((t) => t.value)];
}

/** Lengths of the tree arrays for unpackFloat64, given the sizes array and values per node (a size that is no whole number ≥ 1 is refused). */
export function treeArrayLengths(sizes: Float64Array, valuesPerNode: number, algorithm: string): number[] {
  sizes.forEach((n, t) => {
    if (!(Number.isInteger(n) && n >= 1)) throw new ArtifactError(`${algorithm}: tree ${t} has ${n} nodes; a tree has a whole number ≥ 1 of them`);
  });
  const nodes = sizes.reduce((a, b) => a + b, 0);
  return [sizes.length, nodes, nodes, nodes, nodes, nodes * valuesPerNode];
}

/**
 * Refuses tree arrays no training can produce, before they become trees (the integer arrays would
 * silently turn NaN into 0): a node's feature is -1 (a leaf) or a column 0..features-1; a split's
 * children are later nodes of the same tree (so every walk ends at a leaf) and its threshold is a
 * number (±Infinity is a one-sided split, harmless; NaN is never a bin edge, while NaN in a row is
 * a missing value and goes left); a leaf's values are finite, and with `distribution` (a forest's
 * leaves: the class shares of its training rows, which predictions average) each in [0, 1] and
 * summing to 1. A leaf's threshold and children and a split's values are never read and not checked.
 */
function checkTrees([sizes, feature, threshold, left, right, value]: Float64Array[], valuesPerNode: number, shape: TreeShape): void {
  const fail = (t: number, i: number, what: string): never => {
    throw new ArtifactError(`${shape.algorithm}: tree ${t} node ${i}: ${what}`);
  };
  let o = 0;
  sizes.forEach((n, t) => {
    for (let i = 0; i < n; i++) {
      const f = feature[o + i];
      if (!(Number.isInteger(f) && f >= -1 && f < shape.features)) fail(t, i, `splits on feature ${f}, which is neither -1 (a leaf) nor a column 0..${shape.features - 1}`);
      if (f < 0) {
        for (let k = 0; k < valuesPerNode; k++) {
          const v = value[(o + i) * valuesPerNode + k];
          if (!Number.isFinite(v)) fail(t, i, `leaf value${valuesPerNode > 1 ? ` of class ${k}` : ''} is ${v}; a stored model parameter must be a finite number`);
        }
        if (shape.distribution) requireDistribution(shape.algorithm, value, (o + i) * valuesPerNode, valuesPerNode, `tree ${t} node ${i}: leaf value`);
        continue;
      }
      if (Number.isNaN(threshold[o + i])) fail(t, i, 'split threshold is NaN');
      for (const [side, c] of [['left', left[o + i]], ['right', right[o + i]]] as const) {
        if (!(Number.isInteger(c) && c > i && c < n)) fail(t, i, `${side} child ${c} is not a later node of the tree (${i + 1}..${n - 1})`);
      }
    }
    o += n;
  });
}

/** What the stored trees must be: over `features` columns; with `distribution`, leaves holding class probabilities (a forest's). */
export interface TreeShape {
  algorithm: string;
  features: number;
  distribution?: boolean;
}

/** Splits the concatenated arrays back into trees, refusing arrays that are not valid trees over `shape.features` columns (see checkTrees). */
export function treesFrom(arrays: Float64Array[], valuesPerNode: number, shape: TreeShape): Tree[] {
  checkTrees(arrays, valuesPerNode, shape);
  const [sizes, feature, threshold, left, right, value] = arrays;
  const trees: Tree[] = [];
  let o = 0;
  for (const n of sizes) {
    trees.push({
      feature: Int32Array.from(feature.subarray(o, o + n)),
      threshold: threshold.slice(o, o + n),
      left: Int32Array.from(left.subarray(o, o + n)),
      right: Int32Array.from(right.subarray(o, o + n)),
      value: value.slice(o * valuesPerNode, (o + n) * valuesPerNode),
    });
    o += n;
  }
  return trees;
}
