import { aucFromHistograms, bucketMidpoint, bucketOf, ksFromHistograms, psiFromHistograms } from '../../../lib/deployment/binned-shift';
import { binaryAucOf } from '../../../lib/stats/binary-scores';
import { kolmogorovSmirnovTwoSample, populationStabilityIndex } from '../../../lib/stats/distribution-shift';
import { rng } from '../../../lib/random';

const B = 64;
const histogram = (values: number[]) => {
  const h = new Float64Array(B);
  for (const v of values) h[bucketOf(v, B)]++;
  return h;
};
const rounded = (values: number[]) => values.map((v) => bucketMidpoint(bucketOf(v, B), B));

describe('score statistics from histograms', () => {
  const next = rng(5);
  // Ties, the ends of [0, 1], and a shifted candidate.
  const reference = Array.from({ length: 400 }, (_, i) => (i % 17 === 0 ? 0.5 : i % 29 === 0 ? 1 : i % 31 === 0 ? 0 : next()));
  const candidate = Array.from({ length: 300 }, () => Math.min(1, next() * 0.8 + 0.3));

  it('equal the row-by-row statistics of the rounded scores', () => {
    const ks = kolmogorovSmirnovTwoSample(rounded(candidate), rounded(reference));
    const binnedKs = ksFromHistograms(histogram(candidate), histogram(reference));
    expect(binnedKs.statistic).toBeCloseTo(ks.statistic, 12);
    expect(binnedKs.pValue).toBeCloseTo(ks.pValue, 12);
    expect(psiFromHistograms(histogram(reference), histogram(candidate))).toBeCloseTo(populationStabilityIndex(rounded(reference), rounded(candidate)).psi, 12);
    const outcome = candidate.map((p) => (next() < p ? 1 : 0));
    const auc = binaryAucOf(rounded(candidate), outcome);
    expect(aucFromHistograms(histogram(candidate.filter((_, i) => outcome[i] === 1)), histogram(candidate.filter((_, i) => outcome[i] === 0)))).toBeCloseTo(auc, 12);
  });

  it('stay within a bucket’s mass of the exact ones', () => {
    const ks = kolmogorovSmirnovTwoSample(candidate, reference).statistic;
    const maxMass = Math.max(...histogram(candidate).map((c) => c / candidate.length), ...histogram(reference).map((c) => c / reference.length));
    expect(Math.abs(ksFromHistograms(histogram(candidate), histogram(reference)).statistic - ks)).toBeLessThanOrEqual(maxMass);
  });

  it('are NaN for an empty sample and refuse histograms of different sizes', () => {
    expect(ksFromHistograms(new Float64Array(B), histogram(reference)).pValue).toBeNaN();
    expect(psiFromHistograms(histogram(reference), new Float64Array(B))).toBeNaN();
    expect(aucFromHistograms(histogram(reference), new Float64Array(B))).toBeNaN();
    expect(() => ksFromHistograms(new Float64Array(3), new Float64Array(4))).toThrow(/same buckets/);
  });
});
