/**
 * Histogram binning shared by every tree: each feature's values are mapped once to at most 255
 * ordered bins (quantile edges), so split finding works on small integer histograms.
 */
import type { FeatureMatrix } from '../model';

export interface BinnedMatrix {
  rows: number;
  features: number;
  /** Column-major bin codes: bins[j * rows + r]. Missing values (NaN) get bin 0. */
  bins: Uint8Array;
  /** Per feature, the upper edge of each bin but the last: value <= edges[b] means bin <= b. */
  edges: Float64Array[];
}

/** Edges from distinct sorted values: every value its own bin when few, quantiles otherwise. */
export function binEdges(values: Float64Array, maxBins: number): Float64Array {
  const finite = values.filter((v) => Number.isFinite(v)).sort();
  if (finite.length === 0) return new Float64Array(0);
  const distinct: number[] = [finite[0]];
  for (let i = 1; i < finite.length; i++) if (finite[i] !== finite[i - 1]) distinct.push(finite[i]);
  if (distinct.length <= maxBins) {
    // Midpoints between neighbours, as scikit-learn thresholds.
    return Float64Array.from(distinct.slice(0, -1), (v, i) => (v + distinct[i + 1]) / 2);
  }
  const edges: number[] = [];
  for (let b = 1; b < maxBins; b++) {
    const q = finite[Math.floor((b * finite.length) / maxBins)];
    if (edges.length === 0 || q > edges[edges.length - 1]) edges.push(q);
  }
  return Float64Array.from(edges);
}

/** Index of the bin of `v` given ascending edges (binary search). */
export function binOf(edges: Float64Array, v: number): number {
  if (!Number.isFinite(v)) return 0;
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= edges[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function binMatrix(x: FeatureMatrix, maxBins = 255): BinnedMatrix {
  const p = x.featureNames.length;
  const bins = new Uint8Array(p * x.rows);
  const edges: Float64Array[] = [];
  const column = new Float64Array(x.rows);
  for (let j = 0; j < p; j++) {
    for (let r = 0; r < x.rows; r++) column[r] = x.values[r * p + j];
    const e = binEdges(column, maxBins);
    edges.push(e);
    for (let r = 0; r < x.rows; r++) bins[j * x.rows + r] = binOf(e, column[r]);
  }
  return { rows: x.rows, features: p, bins, edges };
}
