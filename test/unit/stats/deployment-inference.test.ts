/** The statistics behind the canary and A/B analyses: sign-flip test, sequential boundary, stratified difference, exact KS. */
import { binomialLowerTail } from '../../../lib/stats/distributions';
import { kolmogorovSmirnovPValue, kolmogorovUpperTail } from '../../../lib/stats/distribution-shift';
import { stratifiedMeanDifference } from '../../../lib/stats/dependent-inference';
import { obrienFlemingBoundary, zOfOneSidedPValue } from '../../../lib/stats/sequential';
import { signFlipMinClusters, signFlipTest } from '../../../lib/stats/sign-flip';
import { rng } from '../../../lib/random';

describe('sign-flip test of cluster sums', () => {
  it('enumerates the signs exactly', () => {
    // ±1 ±1 ±1 with observed 1 + 1 − 1 = 1: sums 3, 1, 1, 1, −1, −1, −1, −3
    const t = signFlipTest([1, 1, -1, 0]);
    expect(t).toMatchObject({ statistic: 1, clusters: 3, method: 'exact' });
    expect(t.pValueBelow).toBeCloseTo(7 / 8, 15);
    expect(t.pValueAbove).toBeCloseTo(4 / 8, 15);
    expect(t.pValueTwoSided).toBeCloseTo(1, 15);
    // ±3 ±1, observed −4: only (−3, −1)
    expect(signFlipTest([-3, -1]).pValueBelow).toBeCloseTo(1 / 4, 15);
    expect(signFlipTest([-3, -1]).pValueTwoSided).toBeCloseTo(1 / 2, 15);
    expect(signFlipTest([0, 0])).toMatchObject({ statistic: 0, clusters: 0, pValueBelow: 1, pValueTwoSided: 1 });
  });

  it('is the exact sign (McNemar) test when every cluster holds one discordant pair', () => {
    const sums = [...Array(3).fill(1), ...Array(9).fill(-1)];
    expect(signFlipTest(sums).pValueBelow).toBeCloseTo(binomialLowerTail(3, 12, 0.5), 14);
  });

  it('counts a large day as one flip: 20 discordant pairs on 2 days are weaker than 10 on 10 days', () => {
    expect(signFlipTest([-10, -10, 0, 0, 0]).pValueBelow).toBeCloseTo(0.25, 15);
    expect(signFlipTest(Array(10).fill(-1)).pValueBelow).toBeCloseTo(2 ** -10, 15);
  });

  it('falls back to the normal approximation when the exact distribution is too large, and needs integers', () => {
    const sums = Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? 20 : -20));
    const t = signFlipTest(sums);
    expect(t.method).toBe('normal');
    expect(t.pValueTwoSided).toBeGreaterThan(0.5);
    expect(() => signFlipTest([0.5])).toThrow(/integers/);
  });

  it('names the clusters a test at alpha needs', () => {
    expect(signFlipMinClusters(0.05)).toBe(5);
    expect(signFlipMinClusters(0.01)).toBe(7);
    expect(2 ** -signFlipMinClusters(0.05)).toBeLessThan(0.05);
    expect(2 ** -(signFlipMinClusters(0.05) - 1)).toBeGreaterThanOrEqual(0.05);
  });
});

describe('continuous O\'Brien–Fleming boundary', () => {
  it('is c/√t with c = Φ⁻¹(1 − α/2), spending 2(1 − Φ(c/√t)) by information t', () => {
    const end = obrienFlemingBoundary(0.025, 1);
    expect(end.z).toBeCloseTo(2.2414, 4);
    expect(end.alphaSpent).toBeCloseTo(0.025, 12);
    expect(obrienFlemingBoundary(0.025, 0.25).z).toBeCloseTo(2 * 2.2414, 3);
    expect(obrienFlemingBoundary(0.025, 0)).toMatchObject({ z: Infinity, nominalAlpha: 0, alphaSpent: 0 });
    expect(obrienFlemingBoundary(0.025, 1.7).informationFraction).toBe(1);
    expect(zOfOneSidedPValue(0.025)).toBeCloseTo(1.96, 2);
    expect(zOfOneSidedPValue(0)).toBe(Infinity);
  });

  it('keeps the chance of a false crossing within alpha over many looks at any times', () => {
    // A null score path (Brownian motion in information), looked at 60 times at uneven fractions.
    const next = rng(17);
    const normal = () => Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next());
    const looks = Array.from({ length: 60 }, (_, k) => ((k + 1) / 60) ** 1.5);
    let crossed = 0;
    const paths = 4000;
    for (let p = 0; p < paths; p++) {
      let b = 0;
      let t = 0;
      for (const look of looks) {
        b += Math.sqrt(look - t) * normal();
        t = look;
        if (b / Math.sqrt(t) >= obrienFlemingBoundary(0.025, t).z) {
          crossed++;
          break;
        }
      }
    }
    expect(crossed / paths).toBeLessThan(0.025 + 0.006);
    // Peeking at the fixed 1.96 crosses far more often.
    expect(crossed / paths).toBeGreaterThan(0.005);
  });
});

describe('difference of means within strata', () => {
  it('weights the strata holding both groups by n₀n₁/(n₀ + n₁) and leaves the others out', () => {
    // Stratum 0: group 0 {0, 1}, group 1 {1, 1} → +0.5 with weight 1; stratum 1: group 0 {0}, group 1 {1, 1, 0} → +2/3, weight 3/4; stratum 2: group 1 only.
    const values = Float64Array.from([0, 1, 1, 1, 0, 1, 1, 0, 1, 1]);
    const group = Uint8Array.from([0, 0, 1, 1, 0, 1, 1, 1, 1, 1]);
    const stratum = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
    const cluster = Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
    const e = stratifiedMeanDifference(values, group, stratum, cluster);
    expect(e.estimate).toBeCloseTo((1 * 0.5 + 0.75 * (2 / 3)) / 1.75, 12);
    expect(e).toMatchObject({ strata: 2, rows: 8, units: 3, degreesOfFreedom: 2 });
    // The jackknife by hand: leave each cluster out and recompute.
    const leaveOut = (k: number) => {
      const keep = [...cluster.keys()].filter((r) => cluster[r] !== k);
      return stratifiedMeanDifference(Float64Array.from(keep, (r) => values[r]), Uint8Array.from(keep, (r) => group[r]), Int32Array.from(keep, (r) => stratum[r]), Int32Array.from(keep, () => 0)).estimate;
    };
    const left = [0, 1, 2].map(leaveOut);
    expect(left.every(Number.isFinite)).toBe(true);
    const variance = (2 / 3) * left.reduce((a, d) => a + (d - e.estimate) ** 2, 0);
    expect(e.standardError).toBeCloseTo(Math.sqrt(variance), 12);
  });

  it('is NaN without a stratum holding both groups or with one cluster', () => {
    const none = stratifiedMeanDifference(Float64Array.from([1, 0]), Uint8Array.from([0, 1]), Int32Array.from([0, 1]), Int32Array.from([0, 1]));
    expect(none.estimate).toBeNaN();
    expect(none.strata).toBe(0);
    const one = stratifiedMeanDifference(Float64Array.from([1, 0]), Uint8Array.from([0, 1]), Int32Array.from([0, 0]), Int32Array.from([0, 0]));
    expect(one.estimate).toBe(-1);
    expect(one.standardError).toBeNaN();
  });

  it('holds its level with few day clusters sharing a daily shock', () => {
    // 9 days × 60 symbols, each symbol-day in group 0 or 1 at random; the day moves every value alike.
    const next = rng(5);
    let rejected = 0;
    const trials = 1500;
    for (let trial = 0; trial < trials; trial++) {
      const values: number[] = [];
      const group: number[] = [];
      const stratum: number[] = [];
      const cluster: number[] = [];
      for (let d = 0; d < 9; d++) {
        const ease = (next() - 0.5) * 0.4;
        for (let s = 0; s < 60; s++) {
          values.push(next() < 0.55 + ease + (s % 3) * 0.1 - 0.1 ? 1 : 0);
          group.push(next() < 0.5 ? 1 : 0);
          stratum.push(s);
          cluster.push(d);
        }
      }
      const e = stratifiedMeanDifference(Float64Array.from(values), Uint8Array.from(group), Int32Array.from(stratum), Int32Array.from(cluster));
      if (e.pValueAbove < 0.025) rejected++;
    }
    expect(rejected / trials).toBeLessThan(0.025 + 0.012);
  });
});

describe('exact two-sample Kolmogorov–Smirnov p-value', () => {
  it('counts the lattice paths for small samples', () => {
    // n = m = 3, D = 1: 2 of the C(6, 3) = 20 orderings put one sample wholly above the other.
    expect(kolmogorovSmirnovPValue(3, 3, 1)).toBeCloseTo(2 / 20, 12);
    expect(kolmogorovSmirnovPValue(4, 4, 1)).toBeCloseTo(2 / 70, 12);
    expect(kolmogorovSmirnovPValue(3, 5, 0.4)).toBeCloseTo(kolmogorovSmirnovPValue(5, 3, 0.4), 12);
    expect(kolmogorovSmirnovPValue(3, 3, 0)).toBe(1);
  });

  it('uses the asymptotic formula for large samples, close to the exact one where both apply', () => {
    const ne = Math.sqrt((3000 * 3000) / 6000);
    expect(kolmogorovSmirnovPValue(3000, 3000, 0.03)).toBeCloseTo(kolmogorovUpperTail((ne + 0.12 + 0.11 / ne) * 0.03), 12);
    const exact = kolmogorovSmirnovPValue(1000, 1000, 0.06);
    const asymptotic = kolmogorovUpperTail((Math.sqrt(500) + 0.12 + 0.11 / Math.sqrt(500)) * 0.06);
    expect(Math.abs(exact - asymptotic)).toBeLessThan(0.01);
  });
});
