import { backtestOf } from '../../../lib/backtest/backtest';
import type { BarSeries } from '../../../lib/market-data/bar';
import { liveBookOf, recordedBacktestOptionsOf } from '../../../lib/monitoring/live-book';
import { DEFAULT_PERFORMANCE_OPTIONS, livePerformanceOf, type OutcomeSample } from '../../../lib/monitoring/live-performance';
import { rng } from '../../../lib/random';

/**
 * 100 symbols over 80 sessions; the market falls 0.8% a day for 25 of them (days 20–44), else
 * drifts up 0.05%, each stock ±1% of its own. The model knows the sign of a stock's next 5-session
 * move 55% of the time. The experiment traded long_flat top 20 at 6 bps: its book is about fully
 * invested, where the costless signal check (long every up-call, averaged over every symbol,
 * divided by the horizon) holds about half the book a fifth of the time.
 */
function fallingMarket(seed: number): { samples: OutcomeSample[]; series: BarSeries[]; dates: string[]; score: Float64Array[]; open: Float64Array[] } {
  const symbols = 100;
  const days = 80;
  const horizon = 5;
  const next = rng(seed);
  const gauss = () => {
    let u = 0;
    for (let i = 0; i < 12; i++) u += next();
    return u - 6;
  };
  const dates = Array.from({ length: days }, (_, i) => new Date(Date.UTC(2024, 0, 1) + i * 86_400_000).toISOString().slice(0, 10));
  const open = Array.from({ length: symbols }, () => {
    const o = new Float64Array(days);
    o[0] = 100;
    for (let t = 1; t < days; t++) o[t] = o[t - 1] * (1 + (t >= 20 && t < 45 ? -0.008 : 0.0005) + 0.01 * gauss());
    return o;
  });
  const score = open.map(() => new Float64Array(days).fill(NaN));
  const samples: OutcomeSample[] = [];
  for (let t = 0; t + 1 + horizon < days; t++) {
    for (let s = 0; s < symbols; s++) {
      const forward = open[s][t + 1 + horizon] / open[s][t + 1] - 1;
      const up = forward > 0 ? 1 : 0;
      const predicted = next() < 0.55 ? up : 1 - up;
      const p = predicted === 1 ? 0.501 + 0.1 * next() : 0.499 - 0.1 * next();
      score[s][t] = p;
      samples.push({ symbol: `S${s}`, asOf: dates[t], probability: p, predictedClass: predicted as 0 | 1, outcome: up as 0 | 1, forwardReturn: forward });
    }
  }
  const series = open.map((o, s) => ({ symbol: `S${s}`, dates, open: o, high: o, low: o, close: o, volume: new Float64Array(days).fill(1e6) }));
  return { samples, series, dates, score, open };
}

const experimentBacktest = { strategy: 'long_flat' as const, topK: 20, costBps: 1, slippageBps: 5 };
const options = { ...DEFAULT_PERFORMANCE_OPTIONS, horizon: 5 };
const promise = { accuracy: 0.55, auc: 0.55, maxDrawdown: 0.12, meanDailyReturn: 0.0005 };

describe('the live book: the backtest strategy re-traded on the live period', () => {
  const market = fallingMarket(7);

  it('is the backtest engine on the served scores and the stored bars, under the recorded options', () => {
    const book = liveBookOf(market.samples, market.series, experimentBacktest);
    if (book.status !== 'traded') throw new Error(book.reason);
    const direct = backtestOf({ dates: market.dates, symbols: market.open.map((o, s) => ({ symbol: `S${s}`, open: o, close: o, score: market.score[s] })) }, experimentBacktest);
    expect(book.maxDrawdown).toBeCloseTo(direct.strategy.metrics.maxDrawdown.depth, 4);
    expect(book.maxDrawdown).toBeGreaterThan(0.2);
    expect(book.averageExposure).toBeGreaterThan(0.9);
    expect(book.totalCosts).toBeGreaterThan(0);
    expect(book.strategy).toBe('long_flat top 20, 6 bps per unit of turnover');
    expect(book.symbols).toBe(100);
  });

  it('sounds the drawdown alarm when the traded book falls beyond the promise, naming both strategies', () => {
    const book = liveBookOf(market.samples, market.series, experimentBacktest);
    const report = livePerformanceOf(market.samples, promise, options, book);
    // The signal check fell 8.6% here and the report said "ok" while the book traded fell 23.5%.
    expect(report.strategy?.maxDrawdown).toBeLessThan(0.12);
    expect(report.status).toBe('degraded');
    expect(report.severity).toBe('warning');
    const reason = report.reasons.find((r) => /drawdown/.test(r));
    expect(reason).toMatch(/^live drawdown 2\d\.\d% of the backtest's strategy \(long_flat top 20, 6 bps per unit of turnover\) re-traded on 100 symbols' served predictions over \d+ sessions exceeds 1\.5× the 12\.0% the same strategy drew down in the backtest/);
  });

  it('compares no drawdown when the live predictions cannot form the book, and says why', () => {
    const few = market.samples.filter((s) => Number(s.symbol.slice(1)) < 12);
    const book = liveBookOf(few, market.series, experimentBacktest);
    expect(book).toEqual({ status: 'unavailable', reason: expect.stringMatching(/12 symbols, fewer than the top 20 the backtest holds/) });
    const report = livePerformanceOf(few, promise, options, book);
    expect(report.reasons.join(' ')).toMatch(/drawdown not compared with the backtest's 12\.0%: .*12 symbols/);
    expect(report.reasons.join(' ')).not.toMatch(/exceeds/);
    // Nor without recorded options (a version registered outside a training run).
    expect(liveBookOf(market.samples, market.series, undefined)).toEqual({ status: 'unavailable', reason: expect.stringMatching(/records no backtest options/) });
    // And never against the costless signal check, a different strategy.
    expect(livePerformanceOf(market.samples, { ...promise, maxDrawdown: 0.01 }, options).reasons.join(' ')).toMatch(/drawdown not compared/);
  });

  it('reads the backtest options the version was evaluated with from its lineage', () => {
    expect(recordedBacktestOptionsOf({ experiment: { name: 'x', backtest: experimentBacktest } })).toMatchObject(experimentBacktest);
    // An experiment recorded without them was evaluated with the defaults.
    const defaults = liveBookOf(market.samples, market.series, recordedBacktestOptionsOf({ experiment: { name: 'x' } }));
    expect(defaults).toMatchObject({ status: 'traded', strategy: 'long_flat, 6 bps per unit of turnover', options: { strategy: 'long_flat', costBps: 1, slippageBps: 5, holdingDays: 1 } });
    expect(recordedBacktestOptionsOf({})).toBeUndefined();
  });
});
