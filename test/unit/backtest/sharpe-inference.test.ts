import { deflatedSharpeRatio, expectedMaxSharpe, probabilisticSharpeRatio } from '../../../lib/backtest/sharpe-inference';
import { normalCdf, normalInverseCdf } from '../../../lib/stats/normal';

describe('normal distribution', () => {
  it('matches tabulated CDF values', () => {
    expect(normalCdf(0)).toBe(0.5);
    expect(normalCdf(1)).toBeCloseTo(0.841344746068543, 14);
    expect(normalCdf(-1)).toBeCloseTo(0.158655253931457, 14);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 14);
    expect(normalCdf(3)).toBeCloseTo(0.998650101968370, 14);
    expect(normalCdf(-9) / 1.1285884059538422e-19).toBeCloseTo(1, 12); // far tail, relative accuracy
    expect(normalCdf(-40)).toBe(0);
    expect(normalCdf(NaN)).toBeNaN();
  });

  it('inverts the CDF (Acklam + one Halley step)', () => {
    expect(normalInverseCdf(0.975)).toBeCloseTo(1.959964, 6);
    expect(normalInverseCdf(0.975)).toBeCloseTo(1.959963984540054, 12);
    expect(normalInverseCdf(0.5)).toBe(0);
    expect(normalInverseCdf(0.99)).toBeCloseTo(2.326347874040841, 12);
    expect(normalInverseCdf(0.001)).toBeCloseTo(-3.090232306167813, 12);
    expect(normalInverseCdf(1e-12)).toBeCloseTo(-7.034483825301132, 8);
    expect(normalInverseCdf(0)).toBe(-Infinity);
    expect(normalInverseCdf(1)).toBe(Infinity);
    for (const p of [1e-10, 0.01, 0.02425, 0.2, 0.7, 0.97575, 0.999]) expect(normalCdf(normalInverseCdf(p)) / p).toBeCloseTo(1, 10);
    expect(() => normalInverseCdf(1.2)).toThrow('normalInverseCdf needs a probability in [0, 1], got 1.2');
  });
});

describe('probabilistic Sharpe ratio', () => {
  it('follows Φ((SR − SR*)·√(T − 1) / √(1 − γ₃·SR + (γ₄ − 1)/4·SR²))', () => {
    // SR .1, T 253, normal returns: z = .1 · √252 / √(1 + 2/4 · .01) = 1.587451 / 1.002497 = 1.583497 → Φ = .943346
    expect(probabilisticSharpeRatio({ sharpe: 0.1, observations: 253, skewness: 0, kurtosis: 3 })).toBeCloseTo(0.943346, 6);
    // Negative skew and fat tails widen the SR's standard error: SR .1, T 253, γ₃ −1, γ₄ 6:
    // z = 1.587451 / √(1 + .1 + 5/4 · .01) = 1.587451 / 1.054751 = 1.505048 → Φ = .933844
    expect(probabilisticSharpeRatio({ sharpe: 0.1, observations: 253, skewness: -1, kurtosis: 6 })).toBeCloseTo(0.933844, 6);
    // Against a benchmark SR* = .05: z = .05 · √99 / √(1 + .005) = .497494 / 1.002497 = .496255 → Φ = .690143
    expect(probabilisticSharpeRatio({ sharpe: 0.1, observations: 100, skewness: 0, kurtosis: 3 }, 0.05)).toBeCloseTo(0.690143, 6);
    expect(probabilisticSharpeRatio({ sharpe: 0, observations: 50, skewness: 0, kurtosis: 3 })).toBe(0.5);
  });

  it('rejects moments that make the variance non-positive', () => {
    expect(() => probabilisticSharpeRatio({ sharpe: 1, observations: 100, skewness: 4, kurtosis: 3 })).toThrow('non-positive Sharpe ratio variance');
    expect(() => probabilisticSharpeRatio({ sharpe: 1, observations: 1, skewness: 0, kurtosis: 3 })).toThrow('at least 2 observations');
  });
});

describe('deflated Sharpe ratio', () => {
  const sample = { sharpe: 0.1, observations: 253, skewness: 0, kurtosis: 3 };

  it('with one trial is the probabilistic Sharpe ratio against 0', () => {
    expect(expectedMaxSharpe(1, 0.01)).toBe(0);
    expect(deflatedSharpeRatio({ ...sample, trials: 1, trialSharpeVariance: 0.01 })).toBe(probabilisticSharpeRatio(sample));
  });

  it('computes the expected maximum Sharpe ratio with the Euler–Mascheroni constant', () => {
    // N 100, V .01: √V · ((1 − γ)·Φ⁻¹(.99) + γ·Φ⁻¹(1 − 1/(100e))) = .1 · (.4227843 · 2.3263479 + .5772157 · 2.6802104) = .2530603
    expect(expectedMaxSharpe(100, 0.01)).toBeCloseTo(0.253060, 6);
  });

  it("reproduces Bailey & López de Prado's example: SR 2.5/yr, 100 trials, V 0.5/yr, 5 years, skew −3, kurtosis 10 → 0.9004", () => {
    // Per day (250 days a year): SR = 2.5/√250 = .158114, V = .5/250 = .002 → SR₀ = .044721 · 2.530603 = .113172
    // z = (.158114 − .113172) · √1249 / √(1 + 3·.158114 + 9/4·.025) = 1.588316 / 1.237153 = 1.283851 → Φ = .900397
    const dsr = deflatedSharpeRatio({ sharpe: 2.5 / Math.sqrt(250), observations: 1250, skewness: -3, kurtosis: 10, trials: 100, trialSharpeVariance: 0.5 / 250 });
    expect(expectedMaxSharpe(100, 0.002)).toBeCloseTo(0.113172, 6);
    expect(dsr).toBeCloseTo(0.9004, 4);
  });

  it('falls as more trials are tried', () => {
    const dsr = [1, 2, 10, 100, 1000].map((trials) => deflatedSharpeRatio({ ...sample, trials, trialSharpeVariance: 0.001 }));
    for (let k = 1; k < dsr.length; k++) expect(dsr[k]).toBeLessThan(dsr[k - 1]);
    expect(() => expectedMaxSharpe(0, 0.01)).toThrow('whole number >= 1');
    expect(() => expectedMaxSharpe(10, -1)).toThrow('variance of the trial Sharpe ratios must be >= 0');
  });
});
