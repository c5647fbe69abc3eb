import { binaryAucOf, brierScoreOf } from '../../../lib/stats/binary-scores';
import { excessRateEvidence } from '../../../lib/stats/excess-rate';
import { kolmogorovSmirnovTwoSample, kolmogorovUpperTail, meanQuantileShift, populationStabilityIndex } from '../../../lib/stats/distribution-shift';
import { holmAdjusted, twoProportionZTest } from '../../../lib/stats/proportions';
import { interpolatedQuantileOfSorted, nearestRankQuantileOfSorted } from '../../../lib/stats/quantiles';
import { rng } from '../../../lib/random';

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe('population stability index', () => {
  const reference = range(100, (i) => i);

  it('is 0 for identical samples and puts a tenth of the reference in each decile bin', () => {
    const r = populationStabilityIndex(reference, reference);
    expect(r.psi).toBe(0);
    expect(r.edges).toHaveLength(9);
    expect(r.referenceShare).toEqual(range(10, () => 0.1));
  });

  it('matches the hand-computed value when the candidate lies wholly above the reference', () => {
    const r = populationStabilityIndex(reference, range(50, (i) => 200 + i));
    // nine bins empty (floored to 1e-4), the top bin holds everything
    const expected = 9 * (1e-4 - 0.1) * Math.log(1e-4 / 0.1) + (1 - 0.1) * Math.log(1 / 0.1);
    expect(r.candidateShare).toEqual([...range(9, () => 0), 1]);
    expect(r.psi).toBeCloseTo(expected, 12);
  });

  it('stays small for two draws of one distribution and grows with a shift', () => {
    const next = rng(7);
    const a = range(2000, () => next());
    const b = range(2000, () => next());
    const shifted = b.map((x) => x + 0.3);
    expect(populationStabilityIndex(a, b).psi).toBeLessThan(0.02);
    expect(populationStabilityIndex(a, shifted).psi).toBeGreaterThan(0.5);
  });

  it('merges bins when the reference has ties instead of leaving empty ones', () => {
    const r = populationStabilityIndex([...range(80, () => 0.5), ...range(20, (i) => i / 100)], range(100, () => 0.5));
    expect(r.edges.length).toBeLessThan(9);
    expect(Number.isFinite(r.psi)).toBe(true);
  });
});

describe('population stability index at tied reference values', () => {
  const rep = (v: number, n: number) => range(n, () => v);
  const tied = [...rep(0.98783, 14), ...rep(0.01038, 8)];

  it('puts edges midway between distinct values, so a tiny nudge either way changes nothing', () => {
    const edges = populationStabilityIndex(tied, tied).edges;
    expect(edges).toHaveLength(1);
    expect(edges[0]).toBeCloseTo((0.01038 + 0.98783) / 2, 12);
    for (const eps of [0.0008, -0.0008, 1e-9, -1e-9]) expect(populationStabilityIndex(tied, tied.map((x) => x + eps)).psi).toBe(0);
    // discrete scores on a grid of five values, every one nudged up or down
    const grid = range(100, (i) => [0.1, 0.3, 0.5, 0.7, 0.9][i % 5]);
    for (const eps of [0.001, -0.001]) expect(populationStabilityIndex(grid, grid.map((x) => x + eps)).psi).toBe(0);
  });

  it('still sees a real move of the tied values', () => {
    expect(populationStabilityIndex(tied, tied.map((x) => (x < 0.5 ? x + 0.6 : x))).psi).toBeGreaterThan(1);
  });
});

describe('mean quantile shift', () => {
  it('is the distance every value moved, however tied, and the hand-computed area otherwise', () => {
    const tied = [...range(14, () => 0.98783), ...range(8, () => 0.01038)];
    expect(meanQuantileShift(tied, tied.map((x) => x + 0.0008))).toBeCloseTo(0.0008, 12);
    expect(meanQuantileShift(tied, tied)).toBe(0);
    // F_a − F_b: ½ on [1, 2) and on [3, 4): area 1
    expect(meanQuantileShift([1, 3], [2, 4])).toBeCloseTo(1, 12);
    expect(meanQuantileShift([0, 1], [0.5])).toBeCloseTo(0.5, 12);
    expect(meanQuantileShift([], [1])).toBeNaN();
  });
});

describe('two-sample Kolmogorov–Smirnov', () => {
  it('computes the hand-worked statistic with ties', () => {
    // F_a − F_b at 2, 3, 4, 5: 0.4, 0.6 − 1/6, 0.8 − 2/6, 1 − 3/6 → sup 0.5
    expect(kolmogorovSmirnovTwoSample([1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8]).statistic).toBeCloseTo(0.5, 12);
    expect(kolmogorovSmirnovTwoSample([1, 2, 3], [1, 2, 3])).toEqual({ statistic: 0, pValue: 1 });
  });

  it('uses the Kolmogorov distribution: λ = 1.358 is its 5% point', () => {
    expect(kolmogorovUpperTail(1.358)).toBeCloseTo(0.05, 3);
    expect(kolmogorovUpperTail(1.628)).toBeCloseTo(0.01, 3);
    expect(kolmogorovUpperTail(0.1)).toBe(1);
  });

  it('is not significant for two draws of one distribution and is for a shift', () => {
    const next = rng(3);
    const a = range(500, () => next());
    const b = range(500, () => next());
    expect(kolmogorovSmirnovTwoSample(a, b).pValue).toBeGreaterThan(0.05);
    expect(kolmogorovSmirnovTwoSample(a, b.map((x) => x + 0.2)).pValue).toBeLessThan(1e-6);
  });
});

describe('proportions', () => {
  it('computes the pooled two-proportion z-test by hand', () => {
    // pooled 0.5, se = √(0.25 · 0.02), z = 0.2 / se = 2√2
    const t = twoProportionZTest(60, 100, 40, 100);
    expect(t.difference).toBeCloseTo(0.2, 12);
    expect(t.z).toBeCloseTo(2 * Math.SQRT2, 10);
    expect(t.pValue).toBeCloseTo(0.0046777, 6);
    expect(twoProportionZTest(10, 10, 5, 5)).toEqual({ difference: 0, z: 0, pValue: 1 });
    expect(() => twoProportionZTest(3, 0, 1, 2)).toThrow(/n > 0/);
  });

  it('Holm-adjusts in the input order and keeps the adjusted values monotone', () => {
    const adjusted = holmAdjusted([0.01, 0.04, 0.03]);
    // sorted 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.06, 0.04·1) = 0.06
    [0.03, 0.06, 0.06].forEach((v, i) => expect(adjusted[i]).toBeCloseTo(v, 12));
    expect(holmAdjusted([0.2])).toEqual([0.2]);
    expect(holmAdjusted([0.6, 0.7])).toEqual([1, 1]);
  });
});

describe('binary scores and quantiles', () => {
  it('computes AUC and Brier by hand', () => {
    expect(binaryAucOf([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    expect(binaryAucOf([0.5, 0.5], [0, 1])).toBe(0.5);
    expect(binaryAucOf([0.2, 0.3], [1, 1])).toBeNaN();
    expect(brierScoreOf([0.9, 0.2], [1, 1])).toBeCloseTo((0.01 + 0.64) / 2, 12);
  });

  it('takes nearest-rank and interpolated quantiles', () => {
    const sorted = range(100, (i) => i + 1);
    expect(nearestRankQuantileOfSorted(sorted, 0.99)).toBe(99);
    expect(nearestRankQuantileOfSorted(sorted, 0.5)).toBe(50);
    expect(nearestRankQuantileOfSorted([7], 0.99)).toBe(7);
    expect(interpolatedQuantileOfSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(nearestRankQuantileOfSorted([], 0.5)).toBeNaN();
  });
});

describe('excess-rate evidence', () => {
  it('is 1 without events, grows with events beyond the allowed rate, and refuses bad counts', () => {
    expect(excessRateEvidence(0, 0, 0.01)).toBe(1);
    expect(excessRateEvidence(1, 40, 0.01)).toBeLessThan(2);
    expect(excessRateEvidence(12, 60, 0.01)).toBeGreaterThan(1e6);
    expect(excessRateEvidence(1, 10, 0)).toBe(Infinity);
    expect(excessRateEvidence(10, 10, 1)).toBe(1);
    expect(() => excessRateEvidence(5, 4, 0.01)).toThrow(/0 <= k <= n, got 5 of 4/);
    expect(() => excessRateEvidence(1, 4, 1.5)).toThrow(/allowed rate in \[0, 1\], got 1.5/);
  });

  it('reaches 1/alpha at most alpha of the time at the allowed rate, however often a growing window is looked at', () => {
    const next = rng(5);
    let crossed = 0;
    for (let run = 0; run < 500; run++) {
      let k = 0;
      for (let n = 1; n <= 2000; n++) {
        if (next() < 0.01) k++;
        if (excessRateEvidence(k, n, 0.01) >= 20) {
          crossed++;
          break;
        }
      }
    }
    expect(crossed / 500).toBeLessThanOrEqual(0.05);
  });
});
