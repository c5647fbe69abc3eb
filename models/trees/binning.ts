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

/**
 * Edges from distinct sorted values: every value its own bin when few, quantiles otherwise.
 * `scratch` (at least values.length long) holds the sorted finite values.
 */
export function binEdges(values: Float64Array, maxBins: number, scratch = new Float64Array(values.length)): Float64Array {
  // A loop, not values.filter(callback): V8's typed-array filter costs ~200 ns per element.
  if (scratch.length < values.length) throw new Error(`binEdges: scratch of ${scratch.length} values for ${values.length}`);
  const kept = scratch;
  let count = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) kept[count++] = values[i];
  const finite = kept.subarray(0, count).sort();
  if (finite.length === 0) return new Float64Array(0);
  let distinct = 1;
  for (let i = 1; i < finite.length && distinct <= maxBins; i++) if (finite[i] !== finite[i - 1]) distinct++;
  if (distinct <= maxBins) {
    // Midpoints between neighbouring distinct values, as scikit-learn thresholds.
    const edges = new Float64Array(distinct - 1);
    for (let i = 1, e = 0; i < finite.length; i++) if (finite[i] !== finite[i - 1]) edges[e++] = (finite[i - 1] + finite[i]) / 2;
    return edges;
  }
  const edges: number[] = [];
  for (let b = 1; b < maxBins; b++) {
    const q = finite[Math.floor((b * finite.length) / maxBins)];
    if (edges.length === 0 || q > edges[edges.length - 1]) edges.push(q);
  }
  return Float64Array.from(edges);
}

/** Index of the bin of `v` given ascending edges (binary search in [lo, hi)). */
export function binOf(edges: Float64Array, v: number, lo = 0, hi = edges.length): number {
  if (!Number.isFinite(v)) return 0;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= edges[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const CELLS = 1024;

/** A feature's edges plus a uniform grid over their range: most values then need no search. */
interface FastBinner {
  edges: Float64Array;
  low: number;
  high: number;
  scale: number;
  /** first[c] = bin of cell c's lower bound; neighbours widen the range against rounding. */
  first: Int32Array;
}

function fastBinner(edges: Float64Array): FastBinner {
  const last = edges.length - 1;
  const low = edges[0] ?? 0;
  const high = edges[last] ?? 0;
  const scale = last >= 1 ? CELLS / (high - low) : 0;
  const first = new Int32Array(CELLS + 3);
  if (last >= 1) for (let c = 0; c <= CELLS + 2; c++) first[c] = binOf(edges, low + (c - 1) / scale);
  return { edges, low, high, scale, first };
}

/** Exactly binOf's answer. */
function fastBinOf(b: FastBinner, v: number): number {
  const last = b.edges.length - 1;
  if (last < 1) return binOf(b.edges, v);
  if (!(v > b.low)) return 0; // also NaN
  if (v > b.high) return last + 1;
  const c = Math.floor((v - b.low) * b.scale) + 1;
  return binOf(b.edges, v, b.first[c - 1], Math.min(b.first[c + 2], last) + 1);
}

/** Rows used to place the quantile edges (evenly spaced); like scikit-learn's subsample. */
const EDGE_SAMPLE_ROWS = 50_000;
/** Features gathered per pass over the sampled rows: eight adjacent float64s of a row (one or two cache lines). */
const GATHER_BLOCK = 8;

/** Bin edges of every feature, from the training rows. */
export function featureEdges(x: FeatureMatrix, maxBins = 255): Float64Array[] {
  return featureRangeEdges(x.values, x.rows, x.featureNames.length, 0, x.featureNames.length, maxBins);
}

/** Bin edges of features [from, to) of a row-major matrix (rows × p), from evenly sampled rows. */
export function featureRangeEdges(values: Float64Array, rows: number, p: number, from: number, to: number, maxBins: number): Float64Array[] {
  const step = Math.max(1, Math.ceil(rows / EDGE_SAMPLE_ROWS));
  const sampled = Math.ceil(rows / step);
  // A few columns at a time in scratch reused for every feature, not a fresh column and copy per
  // feature: on the VMs measured, first touching fresh memory costs ~11 µs per 4 KiB page, which
  // made allocation (~800 KiB per feature) cost about as much as the sorts.
  const block = new Float64Array(GATHER_BLOCK * sampled);
  const sorted = new Float64Array(sampled);
  const edges: Float64Array[] = [];
  for (let j0 = from; j0 < to; j0 += GATHER_BLOCK) {
    const width = Math.min(GATHER_BLOCK, to - j0);
    for (let s = 0; s < sampled; s++) {
      const o = s * step * p + j0;
      for (let k = 0; k < width; k++) block[k * sampled + s] = values[o + k];
    }
    for (let k = 0; k < width; k++) edges.push(binEdges(block.subarray(k * sampled, (k + 1) * sampled), maxBins, sorted));
  }
  return edges;
}

/**
 * Edges and bins of features [from, to): row-major codes into `rowMajor` (stride bytes per row)
 * and column-major codes into `columnMajor`. Threads each take a range of the same shared arrays.
 */
export function binFeatureRange(values: Float64Array, rows: number, p: number, from: number, to: number, maxBins: number, stride: number, rowMajor: Uint8Array, columnMajor: Uint8Array): Float64Array[] {
  const edges = featureRangeEdges(values, rows, p, from, to, maxBins);
  const binners = edges.map(fastBinner);
  for (let r = 0; r < rows; r++) {
    for (let j = from; j < to; j++) {
      const b = fastBinOf(binners[j - from], values[r * p + j]);
      rowMajor[r * stride + j] = b;
      columnMajor[j * rows + r] = b;
    }
  }
  return edges;
}

export function binMatrix(x: FeatureMatrix, maxBins = 255): BinnedMatrix {
  const edges = featureEdges(x, maxBins);
  const rowMajor = binRows(x, edges);
  const p = edges.length;
  const bins = new Uint8Array(p * x.rows);
  for (let r = 0; r < x.rows; r++) for (let j = 0; j < p; j++) bins[j * x.rows + r] = rowMajor[r * p + j];
  return { rows: x.rows, features: p, bins, edges };
}

/**
 * Row-major bin codes (bins[r * stride + j]) of any rows, with edges learnt elsewhere; `into` lets
 * the caller choose the memory (e.g. shared between threads), padding bytes stay 0.
 */
export function binRows(x: FeatureMatrix, edges: readonly Float64Array[], stride = edges.length, into: Uint8Array = new Uint8Array(stride * x.rows)): Uint8Array {
  const p = x.featureNames.length;
  const binners = edges.map(fastBinner);
  for (let r = 0; r < x.rows; r++) for (let j = 0; j < p; j++) into[r * stride + j] = fastBinOf(binners[j], x.values[r * p + j]);
  return into;
}
