/**
 * Annualised figures and the probabilistic Sharpe ratio of a few periods: three daily returns of
 * +1%, +2%, +1.5% annualise to a Sharpe ratio of 47.6 and a CAGR of +4,150%, and the asymptotic
 * PSR says 0.998 where the delta method's one-sided p is 0.061. They are marked, or not reported.
 */
import { performanceOf } from '../../../lib/backtest/performance';
import { annualisedText, MIN_ANNUALISED_PERIODS, MIN_PSR_PERIODS, probabilisticSharpeNote } from '../../../lib/backtest/short-sample';
import { headline, listFigures } from '../../../client/commands/models';
import { sharpeCellHtml } from '../../../api/dashboard';
import type { ModelVersion } from '../../../lib/registry/model-registry';

const three = Float64Array.from([0.01, 0.02, 0.015]);

describe('figures of a short backtest', () => {
  it('reports no probabilistic Sharpe ratio below 30 periods, and says why', () => {
    const m = performanceOf(three);
    expect(m.sharpe).toBeGreaterThan(40); // computed, but never shown unmarked
    expect(m.probabilisticSharpe).toBeNaN();
    expect(JSON.parse(JSON.stringify(m)).probabilisticSharpe).toBeNull();
    expect(probabilisticSharpeNote(3)).toMatch(/3 periods: its normal approximation needs 30/);
    expect(probabilisticSharpeNote(30)).toBeUndefined();
    expect(MIN_PSR_PERIODS).toBe(30);
    const month = Float64Array.from({ length: 30 }, (_, i) => 0.001 * Math.sin(i) + 0.0005);
    expect(Number.isFinite(performanceOf(month).probabilisticSharpe)).toBe(true);
  });

  it('marks annualised figures under 20 periods with the count, everywhere they are shown', () => {
    expect(MIN_ANNUALISED_PERIODS).toBe(20);
    expect(annualisedText(47.6191, 3, 2)).toBe('n/a (3 periods; annualised from 20)');
    expect(annualisedText(1.234, 20, 2)).toBe('1.23');
    expect(annualisedText(1.234, undefined, 2)).toBe('1.23'); // stored before periods were: as before
    expect(annualisedText(null, 3, 2)).toBe('-');

    const m = performanceOf(three);
    const v = { metrics: { outOfSample: { backtest: { strategy: { sharpe: m.sharpe, periods: 3, maxDrawdown: 0 }, buyAndHold: { sharpe: 30.1, periods: 3, maxDrawdown: 0 } } } } } as unknown as ModelVersion;
    expect(headline(v)['backtest sharpe (net)']).toBe('n/a (3 periods; annualised from 20)');
    expect(headline(v)['buy-and-hold sharpe (net)']).toBe('n/a (3 periods; annualised from 20)');
    expect(listFigures(v)).toMatch(/sharpe \(net\) n\/a \(3 periods; annualised from 20\)/);
    expect(sharpeCellHtml({ strategy: { sharpe: m.sharpe, periods: 3 }, buyAndHold: { sharpe: 30.1, periods: 3 } })).toMatch(/^n\/a \(3 periods; annualised from 20\)/);
    expect(sharpeCellHtml({ strategy: { sharpe: 1.5, periods: 250 }, buyAndHold: { sharpe: 0.9, periods: 250 } })).toBe('1.50 <span class="note">vs buy-and-hold 0.90</span>');
  });
});
