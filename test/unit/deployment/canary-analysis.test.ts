import { analyseCanary, canaryThresholdsSchema } from '../../../lib/deployment/canary-analysis';
import { binomialProbability } from '../../../lib/validation/metrics';
import type { PredictionWithOutcome } from '../../../lib/deployment/outcomes';
import { row, type RowSpec } from '../../helpers/prediction-rows';

/** n requests, each with a served canary prediction and an unserved reference prediction. */
function pairedRows(n: number, canaryRight: (i: number) => boolean, referenceRight: (i: number) => boolean, extra: Partial<RowSpec> = {}): PredictionWithOutcome[] {
  const rows: PredictionWithOutcome[] = [];
  for (let i = 0; i < n; i++) {
    rows.push(row({ request: i, variant: 'canary', right: canaryRight(i), ...extra }));
    rows.push(row({ request: i, variant: 'champion', served: false, right: referenceRight(i), ...extra, error: false, latencyMs: 5 }));
  }
  return rows;
}

const options = { canary: 'canary', reference: 'champion' } as const;

describe('canary analysis', () => {
  it('fails a canary that is much worse on 200 matured pairs', () => {
    // reference right on 60% of requests, canary on 40%, the canary's hits a subset: b = 0, c = 40
    const a = analyseCanary(pairedRows(200, (i) => i % 5 < 2, (i) => i % 5 < 3), options);
    expect(a.paired).toMatchObject({ pairs: 200, canaryOnlyCorrect: 0, referenceOnlyCorrect: 40, canaryHitRate: 0.4, referenceHitRate: 0.6 });
    expect(a.paired.difference).toBeCloseTo(-0.2, 12);
    expect(a.paired.pValueCanaryWorse).toBeCloseTo(0.5 ** 40, 20);
    expect(a.verdict).toBe('fail');
    expect(a.reasons.join(' ')).toMatch(/paired hit rate canary 40\.0% vs champion 60\.0% on 200 pairs/);
  });

  it('passes a canary that is as good as the reference', () => {
    const a = analyseCanary(pairedRows(200, (i) => i % 5 < 3, (i) => (i + 1) % 5 < 3), options);
    expect(a.paired.canaryHitRate).toBe(0.6);
    expect(a.paired.referenceHitRate).toBe(0.6);
    expect(a.paired.canaryOnlyCorrect).toBe(a.paired.referenceOnlyCorrect);
    expect(a.verdict).toBe('pass');
    expect(a.paired.pValue).toBe(1);
  });

  it('is inconclusive on 10 matured pairs, counting the unmatured ones', () => {
    const rows = [...pairedRows(10, () => false, () => true), ...pairedRows(40, () => true, () => true, { matured: false }).map((r) => ({ ...r, requestId: `late-${r.requestId}` }))];
    const a = analyseCanary(rows, options);
    expect(a.verdict).toBe('inconclusive');
    expect(a.paired.pairs).toBe(10);
    expect(a.unmatured).toBe(40);
    expect(a.reasons[0]).toMatch(/only 10 matured pairs \(need 30\); 40 paired requests await their outcome/);
  });

  it('fails on a 5% error rate even before any outcome has matured', () => {
    const rows = pairedRows(200, () => true, () => true, { matured: false }).map((r, k) => (r.variant === 'canary' && k % 40 === 0 ? row({ request: k / 2, variant: 'canary', right: true, error: true, matured: false }) : r));
    const a = analyseCanary(rows, options);
    const canary = a.variants.find((v) => v.variant === 'canary');
    expect(canary).toMatchObject({ predictions: 200, served: 200, errors: 10, errorRate: 0.05 });
    expect(a.verdict).toBe('fail');
    expect(a.reasons).toEqual([expect.stringMatching(/canary error rate 5\.0% \(10 of 200\) is above 1\.0%/)]);
  });

  it('fails on p99 latency and reports per-variant percentiles', () => {
    const rows = pairedRows(100, () => true, () => true).map((r) => (r.variant === 'canary' ? { ...r, latencyUs: (Number(r.requestId.slice(1)) + 1) * 1000 } : r));
    const a = analyseCanary(rows, { ...options, thresholds: { maxP99LatencyMs: 50 } });
    expect(a.variants.find((v) => v.variant === 'canary')).toMatchObject({ p50LatencyMs: 50, p99LatencyMs: 99 });
    expect(a.variants.find((v) => v.variant === 'champion')).toMatchObject({ served: 0, p99LatencyMs: 5 });
    expect(a.verdict).toBe('fail');
    expect(a.reasons[0]).toMatch(/p99 latency 99\.0 ms is above 50 ms/);
  });

  it('fails on a large, significant score shift and not on equal scores', () => {
    const same = pairedRows(300, () => true, () => true);
    const shifted = same.map((r) => (r.variant === 'canary' ? { ...r, probability: Math.min(1, (r.probability as number) + 0.3) } : r));
    const a = analyseCanary(same, options);
    expect(a.shift.pairs).toBe(300);
    expect(a.shift.psi as number).toBeLessThan(0.25); // sampling noise of PSI on 300 pairs is about 0.06 ± 0.03
    expect(a.verdict).toBe('pass');
    const b = analyseCanary(shifted, options);
    expect(b.shift.psi as number).toBeGreaterThan(0.25);
    expect(b.shift.ksPValue as number).toBeLessThan(0.05);
    expect(b.verdict).toBe('fail');
    expect(b.reasons[0]).toMatch(/score shift on 300 paired requests/);
  });

  it('applies the hit-rate rule as documented: drop beyond the threshold AND significant', () => {
    // b = 1, c = 4 on 30 pairs: a 10-point drop, but P(X <= 1 | 5, ½) = 6/32 is not significant
    const noisy = analyseCanary(pairedRows(30, (i) => i !== 0 && i > 4, (i) => i !== 0 && i !== 5), options);
    expect([noisy.paired.canaryOnlyCorrect, noisy.paired.referenceOnlyCorrect]).toEqual([1, 4]);
    expect(noisy.paired.pValueCanaryWorse).toBeCloseTo(6 / 32, 12);
    expect(noisy.verdict).toBe('pass');
    // b = 0, c = 15 on 1000 pairs: significant, but a 1.5-point drop is within the 2 allowed
    const small = analyseCanary(pairedRows(1000, (i) => i >= 15, () => true), options);
    expect(small.paired.pValueCanaryWorse).toBeLessThan(0.001);
    expect(small.verdict).toBe('pass');
    expect(analyseCanary(pairedRows(1000, (i) => i >= 15, () => true), { ...options, thresholds: { maxHitRateDrop: 0.01 } }).verdict).toBe('fail');
  });

  it('computes exact McNemar p-values that match hand-computed binomial sums', () => {
    // b = 2 (canary only), c = 8 (reference only) of 10 discordant: P(X <= 2) = (1 + 10 + 45) / 1024
    const rows = pairedRows(40, (i) => i < 2 || i >= 10, (i) => i >= 2);
    const a = analyseCanary(rows, options);
    expect([a.paired.canaryOnlyCorrect, a.paired.referenceOnlyCorrect]).toEqual([2, 8]);
    expect(a.paired.pValueCanaryWorse).toBeCloseTo(56 / 1024, 12);
    expect(a.paired.pValue).toBeCloseTo(112 / 1024, 12);
    const byBinomial = [0, 1, 2].reduce((s, k) => s + binomialProbability(k, 10, 0.5), 0);
    expect(a.paired.pValueCanaryWorse).toBeCloseTo(byBinomial, 12);
    // b = 5, c = 0: two-sided 2 / 32; the canary is not worse (one-sided p = 1)
    const better = analyseCanary(pairedRows(40, () => true, (i) => i >= 5), options);
    expect(better.paired.pValue).toBeCloseTo(1 / 16, 12);
    expect(better.paired.pValueCanaryWorse).toBe(1);
  });

  it('only pairs predictions of the same request, skipping failed ones', () => {
    const rows = [...pairedRows(40, () => true, () => true), row({ request: 999, variant: 'canary', right: false }), row({ request: 1, variant: 'shadow', served: false, right: false })];
    const a = analyseCanary(rows, options);
    expect(a.paired.requests).toBe(40);
    expect(a.variants.map((v) => v.variant)).toEqual(['canary', 'champion', 'shadow']);
  });

  it('is inconclusive without canary predictions and validates its thresholds', () => {
    expect(analyseCanary([], options).verdict).toBe('inconclusive');
    expect(canaryThresholdsSchema.parse({})).toEqual({ maxErrorRate: 0.01, maxP99LatencyMs: 50, minMaturedPairs: 30, maxHitRateDrop: 0.02, maxPsi: 0.25, alpha: 0.05 });
    expect(() => analyseCanary([], { ...options, thresholds: { maxErrorRate: 2 } })).toThrow(/invalid canary thresholds: maxErrorRate/);
    expect(() => analyseCanary([], { canary: 'x', reference: 'x' })).toThrow(/different variants/);
  });
});
