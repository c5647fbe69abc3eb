/**
 * One regression tree on gradients and hessians, grown level by level on the shared histogram
 * bins (the second-order split rule of xgboost / LightGBM). Each level builds the histograms of
 * the smaller children only and derives their siblings by subtraction from the parent; the
 * features are split into ranges worked on by different threads (see gradient-histograms.ts).
 */
import type { Tree } from './classification-tree';
import { partitionRows, unpack, type HistogramData, type HistogramRange, type LevelNode, type RangeSplit, type RemoteHistogramRange } from './gradient-histograms';

export interface GradientTreeParams {
  maxDepth: number;
  /** Minimum hessian sum in a child (xgboost's min_child_weight). */
  minChildWeight: number;
  /** L2 penalty on leaf values. */
  lambda: number;
  /** Leaf values are multiplied by it (shrinkage). */
  learningRate: number;
}

export interface GradientTreeContext {
  data: HistogramData;
  /** Column-major bins (columns[j * rows + r]) for partitioning rows, which stay ascending in a node. */
  columns: Uint8Array;
  edges: readonly Float64Array[];
  /** The calling thread's range (the first features) and the pool threads' ranges, in feature order. */
  local: HistogramRange;
  remotes: readonly RemoteHistogramRange[];
  params: GradientTreeParams;
  scratch: Int32Array;
}

export interface GrownGradientTree {
  tree: Tree;
  /** Per node, the bin threshold (to route binned rows that were not in the tree's sample). */
  binThreshold: Int32Array;
  /** Loss reduction per feature. */
  gain: Float64Array;
  /** (leaf node, start, end) triples: the rows data.order[start..end) fell in that leaf. */
  leaves: number[];
}

/** Grows a tree on the rows data.order[0..count), with this tree's gradients set (ctx.grad/hess, data.packed). */
export function growGradientTree(ctx: GradientTreeContext, count: number): GrownGradientTree {
  const { data, params, columns, scratch } = ctx;
  const n = data.rows;
  const feature: number[] = [];
  const threshold: number[] = [];
  const binThreshold: number[] = [];
  const left: number[] = [];
  const right: number[] = [];
  const value: number[] = [];
  const gain = new Float64Array(ctx.edges.length);
  const leaves: number[] = [];
  const newNode = () => {
    feature.push(-1);
    threshold.push(0);
    binThreshold.push(0);
    left.push(-1);
    right.push(-1);
    value.push(0);
    return feature.length - 1;
  };
  const [, gUnit, hUnit] = data.quantisation;
  const leaf = (node: LevelNode) => {
    // From the quantised sums, as LightGBM does by default: rounding is unbiased and averages out.
    value[node.node] = (-(node.g * gUnit) / (node.h * hUnit + params.lambda)) * params.learningRate;
    leaves.push(node.node, node.start, node.end);
  };

  let sum = 0;
  for (let i = 0; i < count; i++) sum += data.packed[data.order[i]];
  const [g0, h0] = unpack(sum, data.quantisation[0]);
  let level: LevelNode[] = [{ node: newNode(), start: 0, end: count, sibling: -1, parent: -1, g: g0, h: h0 }];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth >= params.maxDepth) {
      level.forEach(leaf);
      break;
    }
    for (const remote of ctx.remotes) remote.startLevel(level);
    const local = ctx.local.level(level);
    const remote = ctx.remotes.map((range) => range.finishLevel(level.length));
    const next: LevelNode[] = [];
    // Ranges in feature order, strictly greater wins: the same split as one sequential scan.
    const splits = level.map((_, i) => {
      let split: RangeSplit = local[i];
      for (const r of remote) if (r[i].gain > split.gain) split = r[i];
      return split;
    });
    // Partitions are shared out between this thread and the pool threads (fewest rows first);
    // each node's result is the same whichever thread does it.
    const splitting = level.map((_, i) => i).filter((i) => splits[i].feature >= 0);
    const workers = 1 + ctx.remotes.length;
    const load = new Array<number>(workers).fill(0);
    const assigned: number[][] = Array.from({ length: workers }, () => []);
    for (const i of splitting) {
      const t = load.indexOf(Math.min(...load));
      assigned[t].push(i);
      load[t] += level[i].end - level[i].start;
    }
    const task = (i: number) => [level[i].start, level[i].end, splits[i].feature, splits[i].bin] as const;
    ctx.remotes.forEach((range, t) => range.startPartition(assigned[t + 1].map(task)));
    const leftCount = new Map<number, number>();
    for (const i of assigned[0]) leftCount.set(i, partitionRows(data.order, columns, n, ...task(i), scratch));
    ctx.remotes.forEach((range, t) => range.finishPartition(assigned[t + 1].length).forEach((nl, k) => leftCount.set(assigned[t + 1][k], nl)));

    level.forEach((node, i) => {
      const split = splits[i];
      if (split.feature < 0) {
        leaf(node);
        return;
      }
      const j = split.feature;
      const bin = split.bin;
      const nl = leftCount.get(i) as number;
      const nr = node.end - node.start - nl;
      feature[node.node] = j;
      threshold[node.node] = ctx.edges[j][bin];
      binThreshold[node.node] = bin;
      gain[j] += split.gain;
      const l = newNode();
      const r = newNode();
      left[node.node] = l;
      right[node.node] = r;
      const leftNode: LevelNode = { node: l, start: node.start, end: node.start + nl, sibling: -1, parent: node.node, g: split.gl, h: split.hl };
      const rightNode: LevelNode = { node: r, start: node.start + nl, end: node.end, sibling: -1, parent: node.node, g: node.g - split.gl, h: node.h - split.hl };
      // Build the smaller child's histogram; the larger one is the parent's minus it.
      if (nl <= nr) rightNode.sibling = l;
      else leftNode.sibling = r;
      next.push(leftNode, rightNode);
    });
    level = next;
  }
  ctx.local.reset();
  for (const remote of ctx.remotes) remote.reset();
  return {
    tree: { feature: Int32Array.from(feature), threshold: Float64Array.from(threshold), left: Int32Array.from(left), right: Int32Array.from(right), value: Float64Array.from(value) },
    binThreshold: Int32Array.from(binThreshold),
    gain,
    leaves,
  };
}

/** Leaf index of a binned row (row-major bins, `stride` bytes per row). */
export function binnedLeafOf(tree: Tree, binThreshold: Int32Array, bins: Uint8Array, offset: number): number {
  let node = 0;
  while (tree.feature[node] >= 0) node = bins[offset + tree.feature[node]] <= binThreshold[node] ? tree.left[node] : tree.right[node];
  return node;
}
