/**
 * One regression tree on gradients and hessians, grown level by level on the shared histogram
 * bins (the second-order split rule of xgboost / LightGBM). Each level builds the histograms of
 * the smaller children only and derives their siblings by subtraction from the parent; the
 * features are split into ranges worked on by different threads (see gradient-histograms.ts).
 */
import { evenShares } from '../../lib/threads/shares';
import type { Tree } from './classification-tree';
import { unpack, type HistogramData, type HistogramRange, type LevelNode, type RangeSplit, type RemoteHistogramRange } from './gradient-histograms';

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

/**
 * Grows a tree on the rows data.order[0..count), with this tree's gradients set (ctx.grad/hess,
 * data.packed) and `packedSum` the sum of those rows' packed values (quantiseRows gives it).
 */
export function growGradientTree(ctx: GradientTreeContext, count: number, packedSum: number): GrownGradientTree {
  const { data, params } = ctx;
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

  const [g0, h0] = unpack(packedSum, data.quantisation[0]);
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
    const leftCount = partitionLevel(ctx, level, splits);
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

/**
 * Partitions the rows of every node of a level that splits, shared out between this thread and
 * the pool threads (fewest rows first). A node with more than a thread's fair share of the level's
 * rows (the root, always) is cut into one chunk per thread, and the chunks' left and right parts
 * are joined after: the same order as one pass over the node, whichever thread does what.
 * Returns each splitting node's count of left rows.
 */
function partitionLevel(ctx: GradientTreeContext, level: readonly LevelNode[], splits: readonly RangeSplit[]): Map<number, number> {
  const { data, scratch } = ctx;
  const order = data.order;
  const splitting = level.map((_, i) => i).filter((i) => splits[i].feature >= 0);
  const workers = 1 + ctx.remotes.length;
  const fair = splitting.reduce((a, i) => a + level[i].end - level[i].start, 0) / workers;
  const load = new Array<number>(workers).fill(0);
  const pieces: Array<Array<{ node: number; start: number; end: number }>> = Array.from({ length: workers }, () => []);
  for (const i of splitting) {
    const { start, end } = level[i];
    if (workers > 1 && end - start > fair) {
      const bounds = evenShares(start, end, workers);
      for (let t = 0; t < workers; t++) {
        pieces[t].push({ node: i, start: bounds[t], end: bounds[t + 1] });
        load[t] += bounds[t + 1] - bounds[t];
      }
      continue;
    }
    const t = load.indexOf(Math.min(...load));
    pieces[t].push({ node: i, start, end });
    load[t] += end - start;
  }
  const task = (pc: { node: number; start: number; end: number }) => [pc.start, pc.end, splits[pc.node].feature, splits[pc.node].bin] as const;
  ctx.remotes.forEach((range, t) => range.startPartition(pieces[t + 1].map(task)));
  const done = new Map<number, Array<[number, number]>>(); // node → (chunk start, its left count)
  const record = (pc: { node: number; start: number }, nl: number) => {
    const chunks = done.get(pc.node);
    if (chunks) chunks.push([pc.start, nl]);
    else done.set(pc.node, [[pc.start, nl]]);
  };
  for (const pc of pieces[0]) record(pc, ctx.local.partition(...task(pc)));
  ctx.remotes.forEach((range, t) => range.finishPartition(pieces[t + 1].length).forEach((nl, k) => record(pieces[t + 1][k], nl)));
  const leftCount = new Map<number, number>();
  for (const [i, chunks] of done) {
    chunks.sort((a, b) => a[0] - b[0]);
    const start = level[i].start;
    let nl = 0;
    // [start, cs) holds the chunks so far, left rows then right ones; move this chunk's left rows
    // in front of their right ones.
    for (const [cs, cnl] of chunks) {
      if (cnl > 0 && cs > start + nl) {
        const right = cs - (start + nl);
        scratch.set(order.subarray(start + nl, cs));
        order.copyWithin(start + nl, cs, cs + cnl);
        order.set(scratch.subarray(0, right), start + nl + cnl);
      }
      nl += cnl;
    }
    leftCount.set(i, nl);
  }
  return leftCount;
}

/** Leaf index of a binned row (row-major bins, `stride` bytes per row). */
export function binnedLeafOf(tree: Tree, binThreshold: Int32Array, bins: Uint8Array, offset: number): number {
  let node = 0;
  while (tree.feature[node] >= 0) node = bins[offset + tree.feature[node]] <= binThreshold[node] ? tree.left[node] : tree.right[node];
  return node;
}
