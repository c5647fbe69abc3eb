/**
 * One classification tree grown on binned features with class histograms (Gini or entropy).
 * Nodes are stored in flat arrays so a forest serialises as typed arrays.
 */
import type { BinnedMatrix } from './binning';

export interface TreeParams {
  maxDepth: number;
  minSamplesLeaf: number;
  minGain: number;
  /** Features tried per split. */
  maxFeatures: number;
  criterion: 'gini' | 'entropy';
}

/** Flat tree: feature < 0 marks a leaf; leaves hold class probabilities in `value`. */
export interface Tree {
  feature: Int32Array;
  /** Split threshold in raw feature units: value <= threshold goes left. */
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  /** nodes × classes probabilities (only meaningful at leaves). */
  value: Float64Array;
}

export interface GrownTree {
  tree: Tree;
  /** Weighted impurity decrease per feature (mean decrease in impurity). */
  importance: Float64Array;
}

function impurity(counts: Float64Array, offset: number, classes: number, total: number, criterion: TreeParams['criterion']): number {
  if (total <= 0) return 0;
  let s = 0;
  for (let k = 0; k < classes; k++) {
    const q = counts[offset + k] / total;
    s += criterion === 'gini' ? q * q : q > 0 ? -q * Math.log2(q) : 0;
  }
  return criterion === 'gini' ? 1 - s : s;
}

/**
 * Grows a tree on rows with integer sample weights (bootstrap counts; 0 = not drawn).
 * `random` drives feature subsampling only, so the same seed gives the same tree.
 */
export function growTree(data: BinnedMatrix, labels: Int32Array, classes: number, sampleWeight: Float64Array, params: TreeParams, random: () => number): GrownTree {
  const feature: number[] = [];
  const threshold: number[] = [];
  const left: number[] = [];
  const right: number[] = [];
  const value: number[] = [];
  const p = data.features;
  const n = data.rows;
  const hist = new Float64Array(256 * classes);
  const order = Int32Array.from({ length: p }, (_, j) => j);
  const importance = new Float64Array(p);

  let rows = new Int32Array(n);
  let count = 0;
  for (let r = 0; r < n; r++) if (sampleWeight[r] > 0) rows[count++] = r;
  rows = rows.subarray(0, count);

  const stack: Array<{ node: number; rows: Int32Array; depth: number }> = [];
  const newNode = (): number => {
    feature.push(-1);
    threshold.push(0);
    left.push(-1);
    right.push(-1);
    for (let k = 0; k < classes; k++) value.push(0);
    return feature.length - 1;
  };
  stack.push({ node: newNode(), rows, depth: 0 });
  const classTotals = new Float64Array(classes);

  while (stack.length > 0) {
    const { node, rows: nodeRows, depth } = stack.pop() as { node: number; rows: Int32Array; depth: number };
    classTotals.fill(0);
    let total = 0;
    for (const r of nodeRows) {
      classTotals[labels[r]] += sampleWeight[r];
      total += sampleWeight[r];
    }
    for (let k = 0; k < classes; k++) value[node * classes + k] = classTotals[k] / total;
    const parentImpurity = impurity(classTotals, 0, classes, total, params.criterion);
    if (depth >= params.maxDepth || total < 2 * params.minSamplesLeaf || parentImpurity === 0) continue;

    // Partial Fisher–Yates: the first maxFeatures entries of `order` are this split's candidates.
    for (let i = 0; i < params.maxFeatures; i++) {
      const j = i + Math.floor(random() * (p - i));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    let bestGain = params.minGain;
    let bestFeature = -1;
    let bestBin = -1;
    const leftCounts = new Float64Array(classes);
    for (let c = 0; c < params.maxFeatures; c++) {
      const j = order[c];
      const nb = data.edges[j].length + 1;
      if (nb < 2) continue;
      hist.fill(0, 0, nb * classes);
      const base = j * n;
      for (const r of nodeRows) hist[data.bins[base + r] * classes + labels[r]] += sampleWeight[r];
      leftCounts.fill(0);
      let leftTotal = 0;
      for (let b = 0; b < nb - 1; b++) {
        for (let k = 0; k < classes; k++) {
          leftCounts[k] += hist[b * classes + k];
          leftTotal += hist[b * classes + k];
        }
        const rightTotal = total - leftTotal;
        if (leftTotal < params.minSamplesLeaf) continue;
        if (rightTotal < params.minSamplesLeaf) break;
        let rightImpurity: number;
        if (params.criterion === 'gini') {
          let s = 0;
          for (let k = 0; k < classes; k++) {
            const q = (classTotals[k] - leftCounts[k]) / rightTotal;
            s += q * q;
          }
          rightImpurity = 1 - s;
        } else {
          const rc = new Float64Array(classes);
          for (let k = 0; k < classes; k++) rc[k] = classTotals[k] - leftCounts[k];
          rightImpurity = impurity(rc, 0, classes, rightTotal, 'entropy');
        }
        const gain = parentImpurity - (leftTotal / total) * impurity(leftCounts, 0, classes, leftTotal, params.criterion) - (rightTotal / total) * rightImpurity;
        if (gain > bestGain + 1e-12) {
          bestGain = gain;
          bestFeature = j;
          bestBin = b;
        }
      }
    }
    if (bestFeature < 0) continue;
    const base = bestFeature * n;
    let nl = 0;
    for (const r of nodeRows) if (data.bins[base + r] <= bestBin) nl++;
    const lr = new Int32Array(nl);
    const rr = new Int32Array(nodeRows.length - nl);
    let a = 0;
    let b2 = 0;
    for (const r of nodeRows) {
      if (data.bins[base + r] <= bestBin) lr[a++] = r;
      else rr[b2++] = r;
    }
    feature[node] = bestFeature;
    threshold[node] = data.edges[bestFeature][bestBin];
    importance[bestFeature] += total * bestGain;
    const l = newNode();
    const rnode = newNode();
    left[node] = l;
    right[node] = rnode;
    stack.push({ node: rnode, rows: rr, depth: depth + 1 }, { node: l, rows: lr, depth: depth + 1 });
  }
  return {
    tree: { feature: Int32Array.from(feature), threshold: Float64Array.from(threshold), left: Int32Array.from(left), right: Int32Array.from(right), value: Float64Array.from(value) },
    importance,
  };
}

/** Leaf probabilities for one row (`row[j]` raw values; NaN goes left, as bin 0). */
export function leafOf(tree: Tree, row: ArrayLike<number>): number {
  let node = 0;
  while (tree.feature[node] >= 0) {
    const v = row[tree.feature[node]];
    node = !(v > tree.threshold[node]) ? tree.left[node] : tree.right[node];
  }
  return node;
}
