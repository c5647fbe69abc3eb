/**
 * Binary searches in ascending arrays (numbers, or ISO date strings, which sort as text). With ties
 * (or -0 and 0), [lowerBound, upperBound) is the block of values equal to the target.
 */

/** First index whose value is >= target (sorted.length when none is). */
export function lowerBound<T extends number | string>(sorted: ArrayLike<T>, target: T): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose value is > target (sorted.length when none is). */
export function upperBound<T extends number | string>(sorted: ArrayLike<T>, target: T): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
