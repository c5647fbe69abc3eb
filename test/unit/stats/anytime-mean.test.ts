import { normalCdf } from '../../../lib/stats/normal';
import { MIXTURE_PRECISION, T_MIXTURE_G, meanAboveEvidence, meanBelowEvidence, tMixtureEvidence, tMixtureMinObservations } from '../../../lib/stats/anytime-mean';
import { rng } from '../../../lib/random';

describe('anytime-valid evidence about a clustered mean', () => {
  it('is the half-normal mixture of the self-normalised martingale, kept at its running maximum', () => {
    const clusters = [
      { sum: 3, count: 10 },
      { sum: 5, count: 10 },
      { sum: -1, count: 5 },
    ];
    const closed = (s: number, v: number) => 2 * Math.sqrt(MIXTURE_PRECISION / (v + MIXTURE_PRECISION)) * Math.exp((s * s) / (2 * (v + MIXTURE_PRECISION))) * normalCdf(s / Math.sqrt(v + MIXTURE_PRECISION));
    const e = meanAboveEvidence(clusters, 0);
    expect(e.clusters).toBe(3);
    expect(e.current).toBeCloseTo(closed(7, 9 + 25 + 1), 12);
    expect(e.evidence).toBeCloseTo(Math.max(1, closed(3, 9), closed(8, 34), closed(7, 35)), 12);
    // Below m0 is above on the negated sums; a shifted null subtracts m0 per member.
    expect(meanBelowEvidence(clusters.map((c) => ({ sum: -c.sum, count: c.count })), 0).evidence).toBeCloseTo(e.evidence, 12);
    expect(meanAboveEvidence(clusters, -0.1).current).toBeCloseTo(closed(7 + 2.5, 16 + 36 + 0.25), 12);
    expect(meanAboveEvidence([], 0)).toEqual({ evidence: 1, current: 1, clusters: 0 });
    expect(() => meanAboveEvidence([{ sum: 1, count: 1.5 }], 0)).toThrow(/integer/);
  });

  it('reaches 1/alpha under a symmetric null in at most alpha of paths however long they are looked at', () => {
    // 400 paths of 300 clusters (day sums of 0..30 discordant pairs with random signs), looked at after every cluster.
    const next = rng(42);
    let crossed = 0;
    for (let path = 0; path < 400; path++) {
      const clusters = [];
      for (let t = 0; t < 300; t++) {
        const discordant = Math.floor(next() * 31);
        let sum = 0;
        for (let k = 0; k < discordant; k++) sum += next() < 0.5 ? 1 : -1;
        clusters.push({ sum, count: 40 });
      }
      if (meanBelowEvidence(clusters, 0).evidence >= 20) crossed++;
    }
    expect(crossed / 400).toBeLessThanOrEqual(0.05);
  });

  it('sequential t: the closed-form Bayes factor, kept per side at its running maximum, within alpha under a normal null over every look', () => {
    const xs = [1, 2, 0.5];
    const g = T_MIXTURE_G;
    const bf = (n: number, t2: number) => (1 + n * g) ** -0.5 * ((1 + t2 / (n - 1)) / (1 + t2 / ((n - 1) * (1 + n * g)))) ** (n / 2);
    const t2 = (v: number[]) => {
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      const s2 = v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
      return (v.length * m * m) / s2;
    };
    const e = tMixtureEvidence(xs);
    expect(e.current).toBeCloseTo(bf(3, t2(xs)), 12);
    expect(e.above).toBeCloseTo(Math.max(1, bf(2, t2([1, 2])), bf(3, t2(xs))), 12);
    expect(e.below).toBe(1);
    expect(tMixtureEvidence(xs.map((x) => -x)).below).toBeCloseTo(e.above, 12);
    expect(tMixtureEvidence([2, 2, 2]).above).toBeCloseTo((1 + 3 * g) ** 1, 12); // t → ∞: (1 + n·g)^((n − 1)/2)
    // However clear, 3 observations stay short of 1/α = 20 at α 5%, and 4 reach it.
    expect(tMixtureEvidence([2, 2, 2]).above).toBeLessThan(20);
    expect(tMixtureEvidence([2, 2, 2, 2]).above).toBeGreaterThanOrEqual(20);
    expect(tMixtureEvidence([2, 2, 2, 2], 1).above).toBeLessThan(20); // unit information: 5 needed
    expect(() => tMixtureEvidence([1, NaN])).toThrow(/finite/);
    // 2000 paths of 40 normal observations, looked at after each: either side reaching 20 at most 5%.
    const next = rng(7);
    const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    let crossed = 0;
    for (let path = 0; path < 2000; path++) {
      const r = tMixtureEvidence(Array.from({ length: 40 }, () => 3 * normal()));
      if (Math.max(r.above, r.below) >= 20) crossed++;
    }
    expect(crossed / 2000).toBeLessThanOrEqual(0.05);
  });
});

describe('tMixtureMinObservations', () => {
  it('is the fewest observations, however clear, on which the t mixture reaches the bound', () => {
    const most = (n: number) => tMixtureEvidence(Array.from({ length: n }, () => 1)).above;
    for (const [bound, n] of [[2, 2], [20, 4], [40, 5], [100, 5], [1000, 7]] as const) {
      expect(tMixtureMinObservations(bound)).toBe(n);
      expect(most(n - 1)).toBeLessThan(bound);
      expect(most(n)).toBeGreaterThanOrEqual(bound);
    }
    expect(tMixtureMinObservations(20, 1)).toBe(5);
    expect(() => tMixtureMinObservations(1)).toThrow(/evidence bound must be a finite number above 1/);
  });
});
