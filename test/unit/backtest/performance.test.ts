import { equityCurveOf, informationRatioOf, maxDrawdownOf, momentsOf, performanceOf, sharpeSampleOf } from '../../../lib/backtest/performance';
import { deflatedSharpeRatio, probabilisticSharpeRatio, sharpeDifference } from '../../../lib/backtest/sharpe-inference';

/**
 * Returns 1%, −2%, 3%, 0%, −1%, 2%.
 *   equity: 1, 1.01, .9898, 1.019494, 1.019494, 1.00929906, 1.0294850412 → total return .0294850412
 *   CAGR = 1.0294850412^(252/6) − 1 = 1.0294850412^42 − 1
 *   mean = .03 / 6 = .005; deviations .005, −.025, .025, −.005, −.015, .015; Σd² = .00175
 *   sample variance = .00175 / 5 = .00035 → vol = √(.00035 · 252) = √.0882 = .296984848
 *   Sharpe = .005 / √.00035 · √252 = √(.000025 / .00035 · 252) = √18 = 4.242640687
 *   downside deviation = √((.02² + .01²) / 6) = √(.0005 / 6); Sortino = √(.000025 / (.0005/6) · 252) = √75.6 = 8.694826048
 *   max drawdown: 1.01 → .9898 = 2% (peak index 1, trough 2, recovered at 3, where equity 1.019494 >= 1.01)
 *   Calmar = CAGR / .02; hit rate = 3 positive of 6
 *   Σd³ = 0 → skewness 0; kurtosis = (Σd⁴/6) / (Σd²/6)² = 6 · 8.8375e-7 / .00175² = 1.731428571
 */
const returns = Float64Array.from([0.01, -0.02, 0.03, 0, -0.01, 0.02]);
const dates = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6'];

describe('performance metrics of a hand-made return series', () => {
  const m = performanceOf(returns, { dates });
  const cagr = 1.0294850412 ** 42 - 1;

  it('compounds total return and CAGR over 252-day years', () => {
    expect(Array.from(equityCurveOf(returns))).toEqual([1, 1.01, 1.01 * 0.98, 1.01 * 0.98 * 1.03, 1.01 * 0.98 * 1.03, 1.01 * 0.98 * 1.03 * 0.99, 1.01 * 0.98 * 1.03 * 0.99 * 1.02]);
    expect(m.totalReturn).toBeCloseTo(0.0294850412, 12);
    expect(m.cagr).toBeCloseTo(cagr, 10);
    expect(m.periods).toBe(6);
  });

  it('annualises volatility, Sharpe and Sortino', () => {
    expect(m.annualVolatility).toBeCloseTo(Math.sqrt(0.0882), 12);
    expect(m.sharpe).toBeCloseTo(Math.sqrt(18), 10);
    expect(m.sortino).toBeCloseTo(Math.sqrt(75.6), 10);
    expect(m.sharpePerPeriod).toBeCloseTo(0.005 / Math.sqrt(0.00035), 12);
  });

  it('finds the max drawdown with its dates, the Calmar ratio and the hit rate', () => {
    expect(m.maxDrawdown).toEqual({ depth: expect.closeTo(0.02, 12), peak: 1, trough: 2, recovery: 3, peakDate: 'd1', troughDate: 'd2', recoveryDate: 'd3' });
    expect(m.calmar).toBeCloseTo(cagr / 0.02, 8);
    expect(m.hitRate).toBe(0.5);
    // With exposure, idle periods do not count: here the 0% day had no position, so 3 wins of 5.
    expect(performanceOf(returns, { exposure: Float64Array.from([1, 1, 1, 0, 1, 1]) }).hitRate).toBeCloseTo(0.6, 12);
  });

  it('reports the moments the Sharpe inference needs', () => {
    expect(m.skewness).toBeCloseTo(0, 12);
    expect(m.kurtosis).toBeCloseTo(1.731428571, 8);
    expect(momentsOf(returns).std).toBeCloseTo(Math.sqrt(0.00035), 14);
  });

  it('feeds the probabilistic and deflated Sharpe ratios', () => {
    // PSR = Φ(.267261 · √5 / √(1 − 0 + (1.731429 − 1)/4 · .071429)) = Φ(.597614 / 1.006509) = Φ(.593749) = .723660
    expect(probabilisticSharpeRatio(sharpeSampleOf(m))).toBeCloseTo(0.72366, 6);
    expect(deflatedSharpeRatio({ ...sharpeSampleOf(m), trials: 1, trialSharpeVariance: 0.02 })).toBe(probabilisticSharpeRatio(sharpeSampleOf(m)));
    // Six periods are too few for its normal approximation: the metrics do not report it (short-sample.ts).
    expect(m.probabilisticSharpe).toBeNaN();
  });

  it('subtracts the risk-free rate per period', () => {
    // rf 10% a year → per day 1.1^(1/252) − 1 = .000378281; Sharpe = (.005 − .000378281) / √.00035 · √252
    const rf = 1.1 ** (1 / 252) - 1;
    expect(performanceOf(returns, { riskFreeRate: 0.1 }).sharpe).toBeCloseTo(((0.005 - rf) / Math.sqrt(0.00035)) * Math.sqrt(252), 10);
  });

  it('leaves ratios undefined rather than infinite when nothing varies', () => {
    const flat = performanceOf(new Float64Array(4));
    expect(flat.totalReturn).toBe(0);
    expect(flat.sharpe).toBeNaN();
    expect(flat.sortino).toBeNaN();
    expect(flat.calmar).toBeNaN();
    expect(flat.maxDrawdown).toEqual({ depth: 0, peak: 0, trough: 0, recovery: -1 });
    expect(flat.hitRate).toBe(0);
    // A constant non-zero return: its mean computed off by an ulp left a noise deviation and a Sharpe ratio of 10^16.
    for (const [value, n] of [[0.001, 252], [0.1, 3]] as const) {
      const steady = performanceOf(new Float64Array(n).fill(value));
      expect({ value, sharpe: steady.sharpe, psr: steady.probabilisticSharpe, std: momentsOf(new Float64Array(n).fill(value)).std }).toEqual({ value, sharpe: NaN, psr: NaN, std: 0 });
      const difference = sharpeDifference(new Float64Array(n).fill(value), undefined);
      expect(difference.estimate).toBeNaN();
    }
    // The same return made of two legs summed in varying order (values an ulp apart), and an active return of a constant edge.
    const legs = Float64Array.from({ length: 252 }, (_, i) => (0.3 + i * 1e-3) * 0.001 + (0.7 - i * 1e-3) * 0.001);
    expect(new Set(legs).size).toBeGreaterThan(1);
    expect(performanceOf(legs).sharpe).toBeNaN();
    const benchmark = Float64Array.from({ length: 252 }, (_, i) => 0.01 * Math.sin(i));
    expect(informationRatioOf(Float64Array.from(benchmark, (b) => b + 0.0001), benchmark)).toBeNaN();
  });

  it('reports a drawdown that never recovered with recovery -1, and a wipe-out as CAGR −100%', () => {
    expect(maxDrawdownOf(Float64Array.from([1, 1.2, 0.9, 1.1]))).toEqual({ depth: expect.closeTo(0.25, 12), peak: 1, trough: 2, recovery: -1 });
    expect(performanceOf(Float64Array.from([0.1, -1])).cagr).toBe(-1);
  });
});

describe('information ratio', () => {
  it('is the annualised mean active return over the tracking error', () => {
    // active = .01, −.01, .02, 0: mean .005; deviations .005, −.015, .015, −.005; Σd² = .0005; sample var = .0005/3
    // IR = .005 / √(.0005/3) · √252 = √(.000025 · 3 / .0005 · 252) = √37.8 = 6.148170459
    const strategy = Float64Array.from([0.02, 0, 0.01, 0.01]);
    const benchmark = Float64Array.from([0.01, 0.01, -0.01, 0.01]);
    expect(informationRatioOf(strategy, benchmark)).toBeCloseTo(Math.sqrt(37.8), 10);
    expect(() => informationRatioOf(strategy, benchmark.subarray(1))).toThrow('Strategy and benchmark returns must align, got 4 and 3');
  });
});

describe('performance input checks', () => {
  it('says what is wrong with the dates or exposure', () => {
    expect(() => performanceOf(returns, { dates: dates.slice(1) })).toThrow('one more entry than returns');
    expect(() => performanceOf(returns, { exposure: new Float64Array(5) })).toThrow('Exposure must align with returns, got 5 for 6 returns');
    expect(() => performanceOf(new Float64Array(0))).toThrow('at least one return');
  });
});
