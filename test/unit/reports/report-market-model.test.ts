/**
 * The run report's headline shows what `sharpe` promotion reads: the strategy's alpha beyond the
 * market exposure (beta) it took, and the paired test of its Sharpe ratio against buy-and-hold's.
 */
import { performanceOf } from '../../../lib/backtest/performance';
import { renderRunReportHtml } from '../../../lib/reports/html';
import { storedPerformance } from '../../../lib/training/evaluation-report';
import { assembleRunReport } from '../../../lib/reports/report-data';
import { fixtureVersion } from '../../helpers/report-fixture';

describe('run report headline on the sharpe evidence', () => {
  it('shows alpha beside buy-and-hold at the strategy beta, and the Sharpe ratio with its paired p-value', () => {
    const stored = fixtureVersion().metrics.outOfSample as { backtest: Record<string, unknown> };
    const backtest = {
      ...stored.backtest,
      marketModel: { alpha: { value: 0.00012, interval: [-0.0001, 0.00034], pValue: 0.16, standardError: 0.00011 }, beta: { value: 1.52, interval: [1.45, 1.59], standardError: 0.035 }, correlation: 0.9, lags: 7, versus: 'equal-weight buy-and-hold' },
      sharpeDifference: { versus: 'buy_and_hold', rivalSharpe: 0.4, difference: { value: -0.3, interval: [-1.1, 0.5], pValue: 0.77, standardError: 0.4 }, lags: 7 },
    };
    const report = assembleRunReport({ version: fixtureVersion({ metrics: { ...fixtureVersion().metrics, outOfSample: { ...stored, backtest } } }) });
    if (!report.headline.recorded) throw new Error('unreachable');
    const rows = Object.fromEntries(report.headline.data.map((r) => [r.metric, r]));
    expect(rows['alpha (basis points a day, net, beyond beta × buy-and-hold)']).toMatchObject({ model: expect.closeTo(1.2, 10), baseline: 0, baselineName: "buy-and-hold at the strategy's beta 1.52", note: '95% interval -1.00 .. 3.40, one-sided p 0.16, Newey–West' });
    expect(rows['Sharpe ratio (net)']).toMatchObject({ baselineName: 'buy-and-hold (equal weight)', note: "paired difference to buy-and-hold's: one-sided p 0.77, Newey–West" });
    expect(renderRunReportHtml(report)).toContain("buy-and-hold at the strategy&#39;s beta 1.52");
  });

  it('shows the net CAGR, Sharpe ratio and drawdown of a backtest as the evaluation stores it, beside buy-and-hold', () => {
    // Stored as evaluatePredictions stores a real backtest (not hand-written keys, which once named a figure no backtest has).
    // Thirty periods: fewer are not annualised in the headline (the last test).
    const cycle = (x: number[]) => Float64Array.from({ length: 30 }, (_, i) => x[i % x.length]);
    const strategy = storedPerformance(performanceOf(cycle([0.01, -0.005, 0.02, 0.003, -0.01, 0.007])));
    const buyAndHold = storedPerformance(performanceOf(cycle([0.002, 0.001, -0.004, 0.003, 0.001, 0.002])));
    const stored = fixtureVersion().metrics.outOfSample as Record<string, unknown>;
    const report = assembleRunReport({ version: fixtureVersion({ metrics: { ...fixtureVersion().metrics, outOfSample: { ...stored, backtest: { strategy, buyAndHold } } } }) });
    if (!report.headline.recorded) throw new Error('unreachable');
    const rows = Object.fromEntries(report.headline.data.map((r) => [r.metric, r]));
    expect(rows['CAGR (net, compound annual growth)']).toMatchObject({ model: strategy.cagr, baseline: buyAndHold.cagr, baselineName: 'buy-and-hold (equal weight)' });
    expect(rows['Sharpe ratio (net)']).toMatchObject({ model: strategy.sharpe, baseline: buyAndHold.sharpe });
    expect(rows['max drawdown']).toMatchObject({ model: strategy.maxDrawdown, baseline: buyAndHold.maxDrawdown });
  });

  it('shows no annualised figure of a backtest under 20 periods, with the number of periods', () => {
    // Stored as JSON stores it: the probabilistic Sharpe ratio of 6 periods is null.
    const stored6 = (x: number[]) => JSON.parse(JSON.stringify(storedPerformance(performanceOf(Float64Array.from(x))))) as Record<string, number>;
    const strategy = stored6([0.01, -0.005, 0.02, 0.003, -0.01, 0.007]);
    const buyAndHold = stored6([0.002, 0.001, -0.004, 0.003, 0.001, 0.002]);
    expect(strategy.probabilisticSharpe).toBeNull();
    const stored = fixtureVersion().metrics.outOfSample as Record<string, unknown>;
    const report = assembleRunReport({ version: fixtureVersion({ metrics: { ...fixtureVersion().metrics, outOfSample: { ...stored, backtest: { strategy, buyAndHold } } } }) });
    if (!report.headline.recorded) throw new Error('unreachable');
    const rows = Object.fromEntries(report.headline.data.map((r) => [r.metric, r]));
    expect(rows['Sharpe ratio (net)']).toMatchObject({ model: NaN, baseline: NaN, note: 'n/a: annualised from 6 periods (shown from 20)' });
    expect(rows['CAGR (net, compound annual growth)']).toMatchObject({ model: NaN, note: 'n/a: annualised from 6 periods (shown from 20)' });
    expect(rows['max drawdown']).toMatchObject({ model: strategy.maxDrawdown });
  });
});
