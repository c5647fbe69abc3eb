/** Comparing proportions between independent groups, and Holm's correction for several comparisons. */
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
