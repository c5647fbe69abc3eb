/**
 * The run report's headline shows what `sharpe` promotion reads: the strategy's alpha beyond the
 * market exposure (beta) it took, and the paired test of its Sharpe ratio against buy-and-hold's.
 */
import { renderRunReportHtml } from '../../../lib/reports/html';
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
});
