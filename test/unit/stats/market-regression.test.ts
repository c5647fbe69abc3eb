/**
 * The statistics behind the `sharpe` evidence: Jensen's alpha and beta of a strategy's daily returns
 * on the market's with Newey–West standard errors, and the paired Sharpe ratio difference of
 * Ledoit & Wolf (Jobson–Korkie with Memmel's correction for independent normal returns).
 */
import { deflatedSharpeRatio, expectedMaxSharpe, probabilisticSharpeRatio, sharpeDifference } from '../../../lib/backtest/sharpe-inference';
import { rng } from '../../../lib/random';
import { neweyWestRegression } from '../../../lib/stats/dependent-inference';

function normals(random: () => number) {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

describe('neweyWestRegression', () => {
  it('as evidence, holds its level on a few daily returns: the fitted slope\'s leverage is counted (a null alpha on 4 days passed one-sided 5% in 9.3%)', () => {
    const z = normals(rng(7));
    for (const n of [4, 8]) {
      let rejected = 0;
      let covered = 0;
      let valid = 0;
      for (let s = 0; s < 3000; s++) {
        const x = Float64Array.from({ length: n }, () => 0.0005 + 0.01 * z());
        const y = Float64Array.from(x, (v) => 0.6 * v + 0.004 * z());
        const { alpha } = neweyWestRegression(y, x, { lags: n < 8 ? 1 : 2, evidence: true });
        if (!Number.isFinite(alpha.pValueAbove)) continue;
        valid++;
        if (alpha.pValueAbove < 0.05) rejected++;
        if (alpha.interval[0] <= 0 && alpha.interval[1] >= 0) covered++;
      }
      expect(valid).toBeGreaterThan(2900);
      expect(rejected / valid).toBeLessThan(0.07); // 5.6% and 4.8% now; 9.3% and 7.5% before
      expect(covered / valid).toBeGreaterThan(0.93);
    }
  });

  it('recovers alpha and beta, with the textbook OLS standard errors for independent errors', () => {
    const z = normals(rng(5));
    const n = 2000;
    const x = Float64Array.from({ length: n }, () => 0.0005 + 0.01 * z());
    const y = Float64Array.from(x, (m) => 0.0004 + 1.5 * m + 0.008 * z());
    const fit = neweyWestRegression(y, x, { lags: 0 });
    expect(fit.observations).toBe(n);
    expect(fit.beta.estimate).toBeCloseTo(1.5, 1);
    expect(fit.beta.interval[0]).toBeLessThan(1.5);
    expect(fit.beta.interval[1]).toBeGreaterThan(1.5);
    expect(fit.alpha.interval[0]).toBeLessThan(0.0004);
    expect(fit.alpha.interval[1]).toBeGreaterThan(0.0004);
    // OLS: se(β) = s / √Σ(x − x̄)², se(α) = s·√(1/n + x̄²/Σ(x − x̄)²).
    const mx = x.reduce((a, b) => a + b, 0) / n;
    const sxx = x.reduce((a, b) => a + (b - mx) ** 2, 0);
    const s = Math.sqrt(y.reduce((a, v, t) => a + (v - fit.alpha.estimate - fit.beta.estimate * x[t]) ** 2, 0) / (n - 2));
    expect(fit.beta.standardError / (s / Math.sqrt(sxx))).toBeCloseTo(1, 1);
    expect(fit.alpha.standardError / (s * Math.sqrt(1 / n + (mx * mx) / sxx))).toBeCloseTo(1, 1);
    expect(fit.alpha.degreesOfFreedom).toBe(n - 2);
  });

  it('keeps its size when the residuals are autocorrelated (positions held for days), and drops NaN periods', () => {
    const z = normals(rng(17));
    let rejected = 0;
    const trials = 300;
    for (let k = 0; k < trials; k++) {
      const n = 500;
      const x = Float64Array.from({ length: n }, () => 0.001 + 0.01 * z());
      let e = 0;
      // AR(1) residuals, ρ 0.6: a strategy that holds its bets for days; no alpha.
      const y = Float64Array.from(x, (m) => 1.3 * m + (e = 0.6 * e + 0.006 * z()));
      if (neweyWestRegression(y, x, { lags: 10 }).alpha.pValueAbove < 0.05) rejected++;
    }
    expect(rejected / trials).toBeLessThan(0.09);
    const withGap = neweyWestRegression(Float64Array.from([0.01, NaN, 0.02, -0.01, 0.0]), Float64Array.from([0.01, 0.02, 0.01, -0.01, 0.0]), { lags: 0 });
    expect(withGap.observations).toBe(4);
  });
});

describe('sharpeDifference', () => {
  it("matches Jobson–Korkie with Memmel's correction for independent normal returns", () => {
    const z = normals(rng(23));
    const n = 5000;
    const common = Float64Array.from({ length: n }, () => z());
    const a = Float64Array.from(common, (c) => 0.0008 + 0.01 * (0.8 * c + 0.6 * z()));
    const b = Float64Array.from(common, (c) => 0.0004 + 0.01 * c);
    const d = sharpeDifference(a, b, { lags: 0 });
    const moments = (r: Float64Array) => {
      const m = r.reduce((s, v) => s + v, 0) / n;
      return { m, sd: Math.sqrt(r.reduce((s, v) => s + (v - m) ** 2, 0) / n) };
    };
    const [ma, mb] = [moments(a), moments(b)];
    const rho = a.reduce((s, v, t) => s + (v - ma.m) * (b[t] - mb.m), 0) / n / (ma.sd * mb.sd);
    const [sa, sb] = [ma.m / ma.sd, mb.m / mb.sd];
    const memmel = Math.sqrt((2 - 2 * rho + 0.5 * (sa * sa + sb * sb - 2 * sa * sb * rho * rho)) / n);
    expect(d.estimate).toBeCloseTo(sa - sb, 12);
    expect(d.standardError / memmel).toBeCloseTo(1, 1);
  });

  it('rejects about 5% of equal Sharpe ratios at 5%, and tests a single Sharpe ratio against 0', () => {
    const z = normals(rng(29));
    let rejected = 0;
    const trials = 300;
    for (let k = 0; k < trials; k++) {
      const shocks = Float64Array.from({ length: 500 }, () => z());
      // Two strategies of the same true Sharpe ratio (0.08 a day), correlated 0.7.
      const market = Float64Array.from(shocks, (c) => 0.0008 + 0.01 * c);
      const other = Float64Array.from(shocks, (c) => 0.0008 + 0.01 * (0.7 * c + Math.sqrt(1 - 0.49) * z()));
      if (sharpeDifference(other, market, { lags: 4 }).pValueAbove < 0.05) rejected++;
    }
    expect(rejected / trials).toBeGreaterThan(0.02);
    expect(rejected / trials).toBeLessThan(0.085);
    const single = sharpeDifference(Float64Array.from({ length: 1000 }, () => 0.002 + 0.01 * z()), undefined, { lags: 0 });
    expect(single.estimate).toBeGreaterThan(0.1);
    expect(single.pValueAbove).toBeLessThan(0.001);
  });
});

describe('the deflated Sharpe ratio against a benchmark', () => {
  it("asks for more than the benchmark's Sharpe ratio plus the best of the trials' luck", () => {
    const sample = { sharpe: 0.12, observations: 504, skewness: 0, kurtosis: 3 };
    expect(deflatedSharpeRatio({ ...sample, trials: 1, trialSharpeVariance: 0 })).toBe(probabilisticSharpeRatio(sample));
    expect(deflatedSharpeRatio({ ...sample, trials: 1, trialSharpeVariance: 0, benchmarkSharpe: 0.13 })).toBeLessThan(0.5);
    expect(deflatedSharpeRatio({ ...sample, trials: 8, trialSharpeVariance: 0.002, benchmarkSharpe: 0.05 })).toBe(probabilisticSharpeRatio(sample, 0.05 + expectedMaxSharpe(8, 0.002)));
  });
});
