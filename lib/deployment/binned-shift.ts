/**
 * Score statistics from fixed histograms: the PSI, two-sample KS and AUC of scores rounded to the
 * midpoints of equal-width buckets of [0, 1], computed from per-bucket counts in O(buckets).
 *
 * Each is exactly the row-by-row statistic (lib/stats) applied to the rounded scores, which is how
 * the tests check them. What rounding can move, with B buckets (each value moves by ≤ 1/(2B)):
 * - KS D: by at most the largest share of either sample inside one bucket (values there become
 *   ties). With B = 16384 and scores spread over even 0.1 of the range, about 1/1600.
 * - PSI: a value changes bin only if it lies within 1/B of a decile edge, so each share moves by at
 *   most the mass within 1/B of an edge (same order as above); PSI is smooth in the shares.
 * - AUC: pairs of a positive and a negative in one bucket count ½ (ties), so it moves by at most
 *   half the share of such pairs.
 * The canary and A/B analyses no longer need them: they keep one cell per symbol-day with the sum
 * of its probabilities (log-aggregates.ts), so their scores are exact. Kept for score histograms
 * that cannot be keyed that finely.
 */
import { binOf, edgeInGap, kolmogorovSmirnovPValue, type KolmogorovSmirnovTest } from '../stats/distribution-shift';

/** Bucket of a score, as the SQL computes it: floor(p·B), with p ≥ 1 in the last bucket and p ≤ 0 in the first. */
export function bucketOf(p: number, buckets: number): number {
  if (p >= 1) return buckets - 1;
  if (p <= 0) return 0;
  return Math.floor(p * buckets);
}

/** The midpoint a score is rounded to. */
export function bucketMidpoint(k: number, buckets: number): number {
  return (k + 0.5) / buckets;
}

function totalOf(h: ArrayLike<number>): number {
  let n = 0;
  for (let k = 0; k < h.length; k++) n += h[k];
  return n;
}

/** KS test of the rounded samples; same p-value formula as kolmogorovSmirnovTwoSample. NaN if a sample is empty. */
export function ksFromHistograms(a: ArrayLike<number>, b: ArrayLike<number>): KolmogorovSmirnovTest {
  if (a.length !== b.length) throw new RangeError(`KS histograms need the same buckets, got ${a.length} and ${b.length}`);
  const n = totalOf(a);
  const m = totalOf(b);
  if (n === 0 || m === 0) return { statistic: NaN, pValue: NaN };
  let i = 0;
  let j = 0;
  let d = 0;
  for (let k = 0; k < a.length; k++) {
    if (a[k] === 0 && b[k] === 0) continue;
    i += a[k];
    j += b[k];
    d = Math.max(d, Math.abs(i / n - j / m));
  }
  return { statistic: d, pValue: kolmogorovSmirnovPValue(n, m, d) };
}

/** The i-th smallest (0-based) rounded value of a histogram; `cumulative[k]` = count of buckets ≤ k. */
function orderStatistic(cumulative: Float64Array, i: number, buckets: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] > i) hi = mid;
    else lo = mid + 1;
  }
  return bucketMidpoint(lo, buckets);
}

/**
 * populationStabilityIndex of the rounded candidate against the rounded reference: edges midway
 * between the distinct rounded reference values either side of its interpolated quantiles
 * (duplicates dropped), every value of a bucket in the bin of its midpoint. NaN if a sample is empty.
 */
export function psiFromHistograms(reference: ArrayLike<number>, candidate: ArrayLike<number>, options: { bins?: number; floor?: number } = {}): number {
  const bins = options.bins ?? 10;
  const floor = options.floor ?? 1e-4;
  const buckets = reference.length;
  if (candidate.length !== buckets) throw new RangeError(`PSI histograms need the same buckets, got ${buckets} and ${candidate.length}`);
  const n = totalOf(reference);
  const m = totalOf(candidate);
  if (n === 0 || m === 0) return NaN;
  const cumulative = new Float64Array(buckets);
  let run = 0;
  const distinct: number[] = [];
  for (let k = 0; k < buckets; k++) {
    cumulative[k] = run += reference[k];
    if (reference[k] > 0) distinct.push(bucketMidpoint(k, buckets));
  }
  const edges: number[] = [];
  for (let q = 1; q < bins; q++) {
    // interpolatedQuantileOfSorted over the rounded sorted reference.
    const at = (q / bins) * (n - 1);
    const lo = Math.floor(at);
    const hi = Math.min(lo + 1, n - 1);
    const xlo = orderStatistic(cumulative, lo, buckets);
    const e = edgeInGap(distinct, xlo + (at - lo) * (orderStatistic(cumulative, hi, buckets) - xlo));
    if (e !== null && (edges.length === 0 || e > edges[edges.length - 1])) edges.push(e);
  }
  const share = (h: ArrayLike<number>, total: number): number[] => {
    const counts = new Array<number>(edges.length + 1).fill(0);
    for (let k = 0; k < buckets; k++) if (h[k] > 0) counts[binOf(edges, bucketMidpoint(k, buckets))] += h[k];
    return counts.map((c) => c / total);
  };
  const r = share(reference, n);
  const c = share(candidate, m);
  let psi = 0;
  for (let k = 0; k < r.length; k++) {
    const rk = Math.max(r[k], floor);
    const ck = Math.max(c[k], floor);
    psi += (ck - rk) * Math.log(ck / rk);
  }
  return psi;
}

/** ROC AUC (Mann–Whitney, ties half) of the rounded scores; NaN unless both outcomes occur. */
export function aucFromHistograms(positive: ArrayLike<number>, negative: ArrayLike<number>): number {
  if (positive.length !== negative.length) throw new RangeError(`AUC histograms need the same buckets, got ${positive.length} and ${negative.length}`);
  const p = totalOf(positive);
  const q = totalOf(negative);
  if (p === 0 || q === 0) return NaN;
  let below = 0;
  let wins = 0;
  for (let k = 0; k < positive.length; k++) {
    wins += positive[k] * (below + negative[k] / 2);
    below += negative[k];
  }
  return wins / (p * q);
}
