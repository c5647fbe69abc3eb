/** Quantiles of samples that are already sorted ascending (callers sort once and ask several). */

/** Linear-interpolated quantile (R type 7, numpy's default); NaN for an empty sample. */
export function interpolatedQuantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile needs q in [0, 1], got ${q}`);
  if (sorted.length === 0) return NaN;
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (at - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Nearest-rank percentile: the smallest observed value with at least q of the sample at or below
 * it. Used for latency, where the answer should be a latency that really happened.
 */
export function nearestRankQuantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile needs q in [0, 1], got ${q}`);
  if (sorted.length === 0) return NaN;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

export function sortedAscending(values: Iterable<number>): Float64Array {
  return Float64Array.from(values).sort();
}
