/**
 * How work is cut between threads: `parts` even shares of a range (boosting's rows per thread,
 * a network batch's parts per thread, a long prediction's rows per thread).
 */

/** Bounds of `parts` even shares of [start, end): share t is [bounds[t], bounds[t + 1]). */
export function evenShares(start: number, end: number, parts: number): number[] {
  return Array.from({ length: parts + 1 }, (_, t) => start + Math.floor((t * (end - start)) / parts));
}
