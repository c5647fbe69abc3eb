/**
 * The promised drawdown and mean return against the live book: a backtest whose equity never fell
 * (drawdown 0) must not switch the drawdown alarm off, and a live book losing money against a
 * promised gain is flagged on its mean return, without alarming on books drawn from the promise.
 */
import { bookReturnEstimateOf, type LiveBook } from '../../../lib/monitoring/live-book';
import { livePerformanceOf, plausibleDrawdownOf, DEFAULT_PERFORMANCE_OPTIONS, type BacktestPromise, type OutcomeSample } from '../../../lib/monitoring/live-performance';
import { maxDrawdownOf, equityCurveOf } from '../../../lib/backtest/performance';
import { backtestOptionsSchema } from '../../../lib/backtest/input';
import { rng } from '../../../lib/random';
import { studentTQuantile } from '../../../lib/stats/distributions';

const day = (d: number) => `2024-${String(1 + Math.floor(d / 28)).padStart(2, '0')}-${String(1 + (d % 28)).padStart(2, '0')}`;

/** A model as good as promised (56% right against 55%), `symbols` symbols × `days` days. */
function samples(days: number, seed: number, symbols = 30): OutcomeSample[] {
  const next = rng(seed);
  const out: OutcomeSample[] = [];
  for (let d = 0; d < days; d++)
    for (let s = 0; s < symbols; s++) {
      const outcome = (next() < 0.5 ? 1 : 0) as 0 | 1;
      const predictedClass = (next() < 0.56 ? outcome : 1 - outcome) as 0 | 1;
      out.push({ symbol: `S${s}`, asOf: day(d), probability: predictedClass ? 0.6 : 0.4, predictedClass, outcome, forwardReturn: 0 });
    }
  return out;
}

function normals(next: () => number, n: number, mean: number, vol: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + vol * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return out;
}

const options = backtestOptionsSchema.parse({ strategy: 'long_flat', topK: 5 });

/** The live book of these daily net returns, as liveBookOf reports it. */
function bookOf(returns: Float64Array): LiveBook {
  const equity = equityCurveOf(returns);
  const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
  return { status: 'traded', strategy: 'long_flat top 5', options, symbols: 30, sessions: returns.length, totalReturn: equity[equity.length - 1] - 1, maxDrawdown: maxDrawdownOf(equity).depth, meanDailyReturn: mean, averageExposure: 1, totalCosts: 0, meanDailyReturnEstimate: bookReturnEstimateOf(returns, options.holdingDays) };
}

const rows = samples(84, 7);

describe('the live book against the promised drawdown and return', () => {
  it('alarms on a 35% live drawdown whatever the promised drawdown, including 0 (equity that never fell)', () => {
    // 84 sessions losing 0.5% a day on 1% daily volatility: about 35% down.
    const losing = normals(rng(3), 84, -0.005, 0.01);
    const book = bookOf(losing);
    expect(book.status === 'traded' && book.maxDrawdown).toBeGreaterThan(0.3);
    for (const maxDrawdown of [0, 1e-9, 0.05]) {
      for (const volatility of [{}, { annualVolatility: 0.005 * Math.sqrt(252), periods: 250 }]) {
        const promised: BacktestPromise = { accuracy: 0.55, auc: 0.56, maxDrawdown, meanDailyReturn: 0.002, ...volatility };
        const p = livePerformanceOf(rows, promised, DEFAULT_PERFORMANCE_OPTIONS, book);
        expect(p.status).toBe('degraded');
        expect(p.reasons.some((r) => /^live drawdown .* exceeds/.test(r))).toBe(true);
        expect(p.reasons.some((r) => /mean daily return .* is significantly below/.test(r))).toBe(true);
      }
    }
  });

  it('judges a live mean daily return significantly below the promise, day-dependence-robust', () => {
    // Losing 0.3% a day against a promised +0.2%, with a drawdown the promise allowed: only the return alarms.
    const book = bookOf(normals(rng(5), 84, -0.003, 0.01));
    const p = livePerformanceOf(rows, { accuracy: 0.55, auc: 0.56, maxDrawdown: 0.9, meanDailyReturn: 0.002 }, DEFAULT_PERFORMANCE_OPTIONS, book);
    expect(p.status).toBe('degraded');
    expect(p.severity).toBe('warning');
    expect(p.reasons.find((r) => /mean daily return/.test(r))).toMatch(/is significantly below the promised 0\.200%/);
  });

  it('says why the return is not compared without a standard error (a book stored before it was measured)', () => {
    const book = bookOf(normals(rng(5), 84, -0.003, 0.01));
    if (book.status !== 'traded') throw new Error('traded');
    const older = { ...book };
    delete older.meanDailyReturnEstimate;
    const p = livePerformanceOf(rows, { accuracy: 0.55, auc: 0.56, maxDrawdown: 0.9, meanDailyReturn: 0.002 }, DEFAULT_PERFORMANCE_OPTIONS, older);
    expect(p.reasons.find((r) => /mean daily return/.test(r))).toMatch(/not compared/);
  });

  it('rarely alarms on live books drawn from the promise (same mean and volatility), at the documented 99%', () => {
    // Promise: a 250-session backtest of +0.05%/day on 1% daily volatility, its own drawdown and mean as measured.
    // (the documented rates are of 1000 runs; 60 here, on a thin panel, to keep the test quick.)
    const runs = 60;
    const thin = samples(84, 7, 3);
    let drawdownAlarms = 0;
    let returnAlarms = 0;
    for (let seed = 1; seed <= runs; seed++) {
      const next = rng(1000 + seed);
      const backtest = normals(next, 250, 0.0005, 0.01);
      const promisedMean = backtest.reduce((a, b) => a + b, 0) / 250;
      const vol = Math.sqrt(backtest.reduce((a, b) => a + (b - promisedMean) ** 2, 0) / 249);
      const promised: BacktestPromise = { accuracy: 0.55, auc: 0.56, maxDrawdown: maxDrawdownOf(equityCurveOf(backtest)).depth, meanDailyReturn: promisedMean, annualVolatility: vol * Math.sqrt(252), periods: 250 };
      const p = livePerformanceOf(thin, promised, DEFAULT_PERFORMANCE_OPTIONS, bookOf(normals(next, 84, 0.0005, 0.01)));
      if (p.reasons.some((r) => /^live drawdown .* exceeds/.test(r))) drawdownAlarms++;
      if (p.reasons.some((r) => /mean daily return .* is significantly below/.test(r))) returnAlarms++;
    }
    // Measured: see docs/live-bars-and-monitoring.md.
    expect(returnAlarms / runs).toBeLessThan(0.02);
    expect(drawdownAlarms / runs).toBeLessThan(0.03);
  });

  it('gives a mean of overlapping 10-day holdings a standard error at its level, and the variance inflation the promise is widened by', () => {
    // Daily P&L as a 10-day overlapping sum (true variance inflation 10). With 9 Bartlett lags the
    // one-sided 0.5% test rejected a true mean in 1.65% of 2,000 runs (inflation read 6.5); now 0.9% (7.8).
    const h = 10;
    let rejected = 0;
    let inflation = 0;
    const runs = 2000;
    for (let seed = 1; seed <= runs; seed++) {
      const e = normals(rng(9000 + seed), 84 + h, 0, 1);
      const x = Float64Array.from({ length: 84 }, (_, i) => {
        let s = 0;
        for (let j = 0; j < h; j++) s += e[i + j];
        return (0.01 * s) / Math.sqrt(h);
      });
      const mean = x.reduce((a, b) => a + b, 0) / x.length;
      const estimate = bookReturnEstimateOf(x, h);
      inflation += estimate.varianceInflation as number;
      if (mean + studentTQuantile(0.995, estimate.degreesOfFreedom) * estimate.standardError < 0) rejected++;
    }
    expect(rejected / runs).toBeLessThan(0.0125);
    expect(inflation / runs).toBeGreaterThan(7.5);
  });

  it('makes the drawdown a promised volatility allows grow with the live sessions and fall with the promised mean', () => {
    const short = plausibleDrawdownOf(0, 0.01, 20, 0.99);
    const long = plausibleDrawdownOf(0, 0.01, 250, 0.99);
    expect(long).toBeGreaterThan(short);
    expect(plausibleDrawdownOf(0.002, 0.01, 250, 0.99)).toBeLessThan(long);
    expect(plausibleDrawdownOf(0, 0, 250, 0.99)).toBe(0);
  });
});
