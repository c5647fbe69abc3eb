/**
 * `mlp models list` and `show` print every figure beside its rival: a line reading "auc 0.5314
 * sharpe 1.21" hid that market breadth's AUC was 0.5331, buy-and-hold's Sharpe 1.65 and the
 * within-day AUC (what a per-stock model must show) 0.4983, below chance.
 */
import { headline, listFigures } from '../../client/commands/models';
import type { ModelVersion } from '../../lib/registry/model-registry';

function version(metrics: unknown): ModelVersion {
  return { metrics } as unknown as ModelVersion;
}

const STORED = {
  cv: { auc: 0.5403 },
  outOfSample: {
    classification: { accuracy: 0.5312, rocAuc: 0.5314 },
    baseline: { name: 'market_breadth', accuracy: 0.539, pValue: 0.8 },
    auc: {
      versus: 'market_breadth', baselineAuc: 0.5331, difference: { value: -0.0017, interval: [-0.03, 0.027], pValue: 0.55 },
      withinDay: { value: 0.4983, versus: 'pre_period_majority', baselineValue: 0.5, difference: { value: -0.0017, interval: [-0.0111, 0.0077], pValue: 0.64 } },
    },
    informationCoefficient: { mean: 0.0011, tStat: 0.03, baseline: { name: 'momentum_sign', mean: 0.01, tStat: 0.61 } },
    backtest: { strategy: { sharpe: 1.21, maxDrawdown: 0.142, periods: 250 }, buyAndHold: { sharpe: 1.65, maxDrawdown: 0.101, periods: 250 } },
  },
};

describe('model figures beside their rivals', () => {
  it('the list line gives each figure its baseline, the within-day AUC first', () => {
    expect(listFigures(version(STORED))).toBe('oos within-day auc 0.4983 (pre_period_majority 0.5000), auc 0.5314 (market_breadth 0.5331), acc 0.5312 (market_breadth 0.5390), sharpe (net) 1.21 (buy-and-hold 1.65)');
  });
  it('a version evaluated before baselines were stored shows its figures alone, never a made-up rival', () => {
    expect(listFigures(version({ outOfSample: { classification: { accuracy: 0.5012, rocAuc: 0.5034 } } }))).toBe('oos auc 0.5034, acc 0.5012, sharpe (net) -');
  });
  it('show: drawdown beside buy-and-hold, the CV AUC marked as the optimistic best trial', () => {
    const h = headline(version(STORED));
    expect(h['max drawdown']).toBe('0.142 (buy-and-hold 0.101)');
    expect(h['cv auc (best trial)']).toMatch(/^0\.5403 \(the search's best trial .*optimistic, no baseline/);
  });
  it('show: the IC with its dependence-aware t-statistic and the baseline\'s, Sharpe ratios marked net of costs', () => {
    const h = headline(version(STORED));
    expect(h['information coefficient']).toBe('0.0011 (t 0.03, rows dependent by day and symbol; best naive ranking momentum_sign 0.0100, t 0.61)');
    expect(h['backtest sharpe (net)']).toBe('1.21');
    expect(h['buy-and-hold sharpe (net)']).toBe('1.65');
    // A version stored before the t-statistic: the mean alone, as before.
    expect(headline(version({ outOfSample: { informationCoefficient: { mean: 0.02 } } }))['information coefficient']).toBe('0.0200');
  });
});
