/** Comparing proportions between independent groups, and Holm's correction for several comparisons. */
import { clusteredMean, type ClusterOptions, type Clusters } from './dependent-inference';
import { studentTQuantile } from './distributions';
import { normalCdf } from './normal';

export interface TwoProportionTest {
  /** p1 − p2. */
  difference: number;
  z: number;
  /** Two-sided, normal approximation with the pooled variance (H0: p1 = p2). */
  pValue: number;
}

/**
 * Pooled two-proportion z-test of x1/n1 against x2/n2. When both groups are all successes or all
 * failures there is no evidence of a difference: z = 0, p = 1.
 */
export function twoProportionZTest(x1: number, n1: number, x2: number, n2: number): TwoProportionTest {
  for (const [x, n] of [[x1, n1], [x2, n2]]) {
    if (!Number.isInteger(x) || !Number.isInteger(n) || n <= 0 || x < 0 || x > n) throw new RangeError(`two-proportion test needs integer counts 0 <= x <= n and n > 0, got ${x} of ${n}`);
  }
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return { difference: p1 - p2, z: 0, pValue: 1 };
  const z = (p1 - p2) / se;
  return { difference: p1 - p2, z, pValue: Math.min(1, 2 * normalCdf(-Math.abs(z))) };
}

/**
 * Holm–Bonferroni adjusted p-values, in the input order: the k-th smallest of m is multiplied by
 * m − k + 1, then made non-decreasing in that order. Rejecting where adjusted < α controls the
 * family-wise error rate at α under any dependence.
 */
export function holmAdjusted(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach(([p, i], k) => {
    running = Math.max(running, Math.min(1, (m - k) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

export interface DependentProportion {
  estimate: number;
  lower: number;
  upper: number;
  /** Independent-row equivalent of the sample: p(1 − p) / Var(p̂), at most the rows. */
  effectiveSamples: number;
  /** Independent units the variance rests on (clusters, or stretches of days), and Student's t degrees of freedom. */
  units: number;
  degreesOfFreedom: number;
}

/**
 * Interval of a proportion of 0/1 outcomes (or of shares of them: an A/B arm's symbol-day is right on
 * a share of its requests) that are not independent (rows of one day share the
 * market's move; outcomes whose horizons overlap share most of it): the Wilson interval on the
 * effective sample size that the dependence-robust variance gives (lib/stats/dependent-inference.ts),
 * with Student's t critical value on that variance's degrees of freedom (its units − 1; as evidence,
 * those of a lagged-products variance) instead of the normal's.
 * Undefined when the variance cannot be estimated (fewer than two units).
 */
export function dependentProportionInterval(outcomes: Float64Array, dependence: Clusters, options: ClusterOptions & { confidence: number }): DependentProportion | undefined {
  const n = outcomes.length;
  if (n === 0) return undefined;
  const e = clusteredMean(outcomes, dependence, options);
  if (!(e.degreesOfFreedom >= 1) || !Number.isFinite(e.standardError)) return undefined;
  const p = e.estimate;
  const effective = e.standardError > 0 ? Math.min(n, (p * (1 - p)) / e.standardError ** 2) : n;
  const z = studentTQuantile(1 - (1 - options.confidence) / 2, e.degreesOfFreedom);
  const z2n = (z * z) / effective;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / effective + (z * z) / (4 * effective * effective));
  return { estimate: p, lower: Math.max(0, centre - half), upper: Math.min(1, centre + half), effectiveSamples: effective, units: e.units, degreesOfFreedom: e.degreesOfFreedom };
}
