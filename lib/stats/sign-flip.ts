/**
 * The exact sign-flip (randomisation) test of paired differences summed per cluster. Two models
 * scored on the same rows are exchangeable under H0 (neither is better): swapping which is which in
 * one cluster flips the sign of that cluster's sum of differences and leaves the joint distribution
 * as it was. Flipping whole clusters (days: the symbols of one day share the market's move) keeps the
 * dependence inside a cluster intact, so the test is exact whatever that dependence; it needs the
 * clusters to be independent of each other.
 *
 * With at most one non-zero difference per cluster it is the exact McNemar (sign) test of the
 * discordant pairs; a day on which many discordant pairs go the same way (one market move) counts as
 * one flip of a large sum, not as many independent pairs. The smallest attainable one-sided p-value
 * is 2^−(clusters with a non-zero sum), so a test at α needs at least ⌈log₂(1/α)⌉ such clusters.
 */
import { BadInputError } from '../errors';
import { normalCdf } from './normal';

export interface SignFlipTest {
  /** Σ of the cluster sums. */
  statistic: number;
  /** Clusters whose sum is not zero (the others cannot move the statistic). */
  clusters: number;
  /** P(S ≤ statistic) under random signs: small = evidence that the differences are negative. */
  pValueBelow: number;
  /** P(S ≥ statistic): small = evidence that they are positive. */
  pValueAbove: number;
  /** P(|S| ≥ |statistic|). */
  pValueTwoSided: number;
  /** 'exact', or 'normal' (continuity-corrected, variance Σ sum²) when the exact distribution is too large to enumerate. */
  method: 'exact' | 'normal';
}

/** Above this many (clusters × attainable sums) the normal approximation replaces the exact distribution. */
const EXACT_MAX_WORK = 50_000_000;

/** The smallest number of clusters with which a one-sided sign-flip test can reach p < alpha. */
export function signFlipMinClusters(alpha: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new BadInputError(`alpha must be in (0, 1), got ${alpha}`, 'INVALID_METRIC_INPUT');
  return Math.floor(Math.log2(1 / alpha)) + 1;
}

/**
 * The sign-flip test of integer cluster sums (e.g. per day, the symbol-days only model A got right
 * minus those only model B got right). Exact by convolution of the ±|sum| distributions.
 */
export function signFlipTest(clusterSums: readonly number[]): SignFlipTest {
  for (const s of clusterSums) {
    if (!Number.isInteger(s)) throw new BadInputError(`sign-flip cluster sums must be integers, got ${s}`, 'INVALID_METRIC_INPUT');
  }
  const magnitudes = clusterSums.map(Math.abs).filter((a) => a > 0);
  const statistic = clusterSums.reduce((a, b) => a + b, 0);
  const total = magnitudes.reduce((a, b) => a + b, 0);
  const clusters = magnitudes.length;
  if (clusters === 0) return { statistic: 0, clusters: 0, pValueBelow: 1, pValueAbove: 1, pValueTwoSided: 1, method: 'exact' };
  if (clusters * total > EXACT_MAX_WORK) {
    const sd = Math.sqrt(magnitudes.reduce((a, b) => a + b * b, 0));
    const below = normalCdf((statistic + 0.5) / sd);
    const above = normalCdf((-statistic + 0.5) / sd);
    return { statistic, clusters, pValueBelow: Math.min(1, below), pValueAbove: Math.min(1, above), pValueTwoSided: Math.min(1, 2 * normalCdf((-Math.abs(statistic) + 0.5) / sd)), method: 'normal' };
  }
  // probability[s + total] = P(S = s); each cluster adds ±a with probability ½ each.
  let probability = new Float64Array(2 * total + 1);
  probability[total] = 1;
  let reach = 0;
  for (const a of magnitudes) {
    const next = new Float64Array(2 * total + 1);
    for (let s = -reach; s <= reach; s++) {
      const p = probability[s + total];
      if (p === 0) continue;
      next[s + a + total] += p / 2;
      next[s - a + total] += p / 2;
    }
    probability = next;
    reach += a;
  }
  let below = 0;
  let above = 0;
  let extreme = 0;
  for (let s = -total; s <= total; s++) {
    const p = probability[s + total];
    if (s <= statistic) below += p;
    if (s >= statistic) above += p;
    if (Math.abs(s) >= Math.abs(statistic)) extreme += p;
  }
  return { statistic, clusters, pValueBelow: Math.min(1, below), pValueAbove: Math.min(1, above), pValueTwoSided: Math.min(1, extreme), method: 'exact' };
}
