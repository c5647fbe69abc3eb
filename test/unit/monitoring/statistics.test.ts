import { chiSquareUpperTail, regularizedGammaQ } from '../../../lib/monitoring/chi-square';
import { benjaminiHochbergAdjusted } from '../../../lib/monitoring/false-discovery';
import { rng } from '../../../lib/random';

describe('chi-square upper tail', () => {
  it('matches tabulated critical values, for integer and fractional degrees of freedom', () => {
    expect(chiSquareUpperTail(3.841459, 1)).toBeCloseTo(0.05, 6);
    expect(chiSquareUpperTail(18.307038, 10)).toBeCloseTo(0.05, 6);
    expect(chiSquareUpperTail(6.634897, 1)).toBeCloseTo(0.01, 6);
    expect(chiSquareUpperTail(2, 2)).toBeCloseTo(Math.exp(-1), 12); // χ²(2) is exponential with mean 2
    // Γ(½, x/2)/Γ(½) = erfc(√(x/2)): χ²(1) at 1 is 2·(1 − Φ(1)).
    expect(chiSquareUpperTail(1, 1)).toBeCloseTo(0.3173105, 6);
    expect(chiSquareUpperTail(0, 3)).toBe(1);
    expect(chiSquareUpperTail(1e6, 3)).toBe(0);
    // Fractional df: Q(0.75, x) decreases smoothly between its integer neighbours.
    const q = regularizedGammaQ(0.75, 1);
    expect(q).toBeLessThan(regularizedGammaQ(1, 1));
    expect(q).toBeGreaterThan(regularizedGammaQ(0.5, 1));
  });
});

describe('Benjamini–Hochberg', () => {
  it('adjusts p-values by the step-up rule, in the input order', () => {
    // Sorted: 0.01·5/1 = 0.05, 0.02·5/2 = 0.05, 0.03·5/3 = 0.05, 0.04·5/4 = 0.05, 0.5·5/5 = 0.5.
    expect(benjaminiHochbergAdjusted([0.5, 0.03, 0.01, 0.04, 0.02]).map((x) => Number(x.toFixed(10)))).toEqual([0.5, 0.05, 0.05, 0.05, 0.05]);
    // Monotone in the p-values and never above 1.
    const adjusted = benjaminiHochbergAdjusted([0.9, 0.95, 0.001]);
    expect(adjusted[0]).toBeCloseTo(0.95, 12);
    expect(adjusted[1]).toBeCloseTo(0.95, 12);
    expect(adjusted[2]).toBeCloseTo(0.003, 12);
  });

  it('keeps the false discovery rate at q: under the global null and with true signals mixed in', () => {
    const next = rng(42);
    const q = 0.05;
    const trials = 4000;
    let anyFalseUnderNull = 0;
    let fdpSum = 0;
    let power = 0;
    for (let t = 0; t < trials; t++) {
      const nulls = Array.from({ length: 50 }, () => next());
      if (benjaminiHochbergAdjusted(nulls).some((a) => a <= q)) anyFalseUnderNull++;
      // 10 real effects (p tiny) among 40 nulls: the share of false ones among the rejections stays below q.
      const mixed = [...Array.from({ length: 10 }, () => next() * 1e-4), ...Array.from({ length: 40 }, () => next())];
      const rejected = benjaminiHochbergAdjusted(mixed).map((a, i) => [a <= q, i < 10] as const).filter(([r]) => r);
      const falses = rejected.filter(([, real]) => !real).length;
      fdpSum += rejected.length > 0 ? falses / rejected.length : 0;
      power += rejected.filter(([, real]) => real).length / 10;
    }
    // Under the global null FDR = FWER = q (binomial sd ≈ 0.0034 at 4000 trials).
    expect(anyFalseUnderNull / trials).toBeLessThan(q + 0.012);
    // With m0/m = 0.8 the rate is q·0.8 = 0.04.
    expect(fdpSum / trials).toBeLessThan(q);
    expect(power / trials).toBeGreaterThan(0.99);
  });
});
