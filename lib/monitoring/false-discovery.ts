/**
 * Benjamini–Hochberg step-up adjustment: the adjusted p-value (q-value) of the k-th smallest of m
 * p-values is min over j ≥ k of p₍ⱼ₎·m/j. Rejecting where q ≤ α keeps the expected share of false
 * discoveries among the discoveries at most α (independent or positively dependent tests, which is
 * what features computed from the same prices are).
 */
export function benjaminiHochbergAdjusted(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => [Number.isNaN(p) ? 1 : p, i] as const).sort((a, b) => a[0] - b[0]);
  const adjusted = new Array<number>(m);
  let running = 1;
  for (let k = m - 1; k >= 0; k--) {
    const [p, i] = order[k];
    running = Math.min(running, (p * m) / (k + 1));
    adjusted[i] = Math.min(1, running);
  }
  return adjusted;
}
