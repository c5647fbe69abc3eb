/**
 * Histogram binning shared by every tree: each feature's values are mapped once to at most 255
 * ordered bins (quantile edges), so split finding works on small integer histograms.
 */
import { spreadPosition } from '../../lib/training/thin-rows';
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

/** Index of the bin of `v` given ascending edges (binary search in [lo, hi)); NaN (missing) is bin 0. */
export function binOf(edges: Float64Array, v: number, lo = 0, hi = edges.length): number {
  if (Number.isNaN(v)) return 0;
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
  /** first[c] = bin of cell c's lower bound (c = 0 .. CELLS + 3: the last edge itself falls in cell CELLS + 1); neighbours widen the range against rounding. */
  first: Int32Array;
}

function fastBinner(edges: Float64Array): FastBinner {
  const last = edges.length - 1;
  const low = edges[0] ?? 0;
  const high = edges[last] ?? 0;
  const scale = last >= 1 ? CELLS / (high - low) : 0;
  const first = new Int32Array(CELLS + 4);
  if (last >= 1) for (let c = 0; c <= CELLS + 3; c++) first[c] = binOf(edges, low + (c - 1) / scale);
  return { edges, low, high, scale, first };
}

/**
 * Bins of one feature (column `j` of a row-major matrix with `p` values a row) for rows [r0, r1),
 * written to out[at + (r - r0) * step] and, when given, column[cat + (r - r0)]. NaN and values at
 * or below the first edge get bin 0, values above the last edge (+Infinity too) the last bin, as
 * prediction routes them (`!(v > threshold)` goes left), as binOf does. One feature at a time over a
 * block of rows, so the loop keeps one binner's fields in registers: ~20 ns a value on 200,000 × 61
 * S&P 500 rows, where a call per value, feature after feature within a row, took ~30 ns.
 */
function binColumn(b: FastBinner, values: Float64Array, p: number, j: number, r0: number, r1: number, out: Uint8Array, at: number, step: number, column: Uint8Array | undefined, cat: number): void {
  const { edges, low, high, scale, first } = b;
  const last = edges.length - 1;
  for (let r = r0, o = at, c = cat; r < r1; r++, o += step, c++) {
    const v = values[r * p + j];
    let bin: number;
    if (last < 1) bin = last === 0 && v > low ? 1 : 0;
    else if (!(v > low)) bin = 0;
    else if (v > high) bin = last + 1;
    else {
      const cell = Math.floor((v - low) * scale) + 1;
      let lo = first[cell - 1];
      let hi = first[cell + 2];
      hi = (hi < last ? hi : last) + 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (v <= edges[mid]) hi = mid;
        else lo = mid + 1;
      }
      bin = lo;
    }
    out[o] = bin;
    if (column) column[c] = bin;
  }
}

/** Rows binned per pass over the features (256 to 4,096 measured the same). */
const BIN_BLOCK_ROWS = 1024;

/**
 * Rows used to place the quantile edges at most, like scikit-learn's subsample: one of every
 * ⌈rows / EDGE_SAMPLE_ROWS⌉, spread over days and symbols (spreadPosition).
 */
const EDGE_SAMPLE_ROWS = 50_000;
/** Features gathered per pass over the sampled rows: eight adjacent float64s of a row (one or two cache lines). */
const GATHER_BLOCK = 8;

/** Bin edges of every feature, from the training rows. */
export function featureEdges(x: FeatureMatrix, maxBins = 255): Float64Array[] {
  return featureRangeEdges(x.values, x.rows, x.featureNames.length, 0, x.featureNames.length, maxBins);
}

/**
 * The rows the bin edges are placed from, in order: all of them up to EDGE_SAMPLE_ROWS, else one row
 * of each stretch of ⌈rows / EDGE_SAMPLE_ROWS⌉. Rows come by day, then symbol, so the row is drawn
 * within its stretch (spreadPosition): every k-th row saw only the symbols k apart when k divided
 * their number (20 symbols, 200,000 rows: S0, S4, …, S16), and features whose range differs by
 * symbol got no edges over the other symbols' values.
 */
export function edgeSampleRows(rows: number): Int32Array {
  const sampled = Math.ceil(rows / Math.max(1, Math.ceil(rows / EDGE_SAMPLE_ROWS)));
  const out = new Int32Array(sampled);
  for (let s = 0; s < sampled; s++) out[s] = spreadPosition(s, rows, sampled);
  return out;
}

/** Bin edges of features [from, to) of a row-major matrix (rows × p), from the rows of edgeSampleRows. */
export function featureRangeEdges(values: Float64Array, rows: number, p: number, from: number, to: number, maxBins: number): Float64Array[] {
  const sample = edgeSampleRows(rows);
  const sampled = sample.length;
  // A few columns at a time in scratch reused for every feature, not a fresh column and copy per
  // feature: on the VMs measured, first touching fresh memory costs ~11 µs per 4 KiB page, which
  // made allocation (~800 KiB per feature) cost about as much as the sorts.
  const block = new Float64Array(GATHER_BLOCK * sampled);
  const sorted = new Float64Array(sampled);
  const edges: Float64Array[] = [];
  for (let j0 = from; j0 < to; j0 += GATHER_BLOCK) {
    const width = Math.min(GATHER_BLOCK, to - j0);
    for (let s = 0; s < sampled; s++) {
      const o = sample[s] * p + j0;
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
  for (let r0 = 0; r0 < rows; r0 += BIN_BLOCK_ROWS) {
    const r1 = Math.min(rows, r0 + BIN_BLOCK_ROWS);
    for (let j = from; j < to; j++) binColumn(binners[j - from], values, p, j, r0, r1, rowMajor, r0 * stride + j, stride, columnMajor, j * rows + r0);
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
  for (let r0 = 0; r0 < x.rows; r0 += BIN_BLOCK_ROWS) {
    const r1 = Math.min(x.rows, r0 + BIN_BLOCK_ROWS);
    for (let j = 0; j < p; j++) binColumn(binners[j], x.values, p, j, r0, r1, into, r0 * stride + j, stride, undefined, 0);
  }
  return into;
}
