/**
 * How an ensemble of flat trees is laid out in an artifact payload (float64 little-endian):
 * tree sizes, then every tree's feature, threshold, left, right and value arrays concatenated in
 * tree order. Shared by the random forest and gradient boosting.
 */
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

/** Lengths of the tree arrays for unpackFloat64, given the sizes array and values per node. */
export function treeArrayLengths(sizes: Float64Array, valuesPerNode: number): number[] {
  const nodes = sizes.reduce((a, b) => a + b, 0);
  return [sizes.length, nodes, nodes, nodes, nodes, nodes * valuesPerNode];
}

/** Splits the concatenated arrays back into trees. */
export function treesFrom([sizes, feature, threshold, left, right, value]: Float64Array[], valuesPerNode: number): Tree[] {
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
