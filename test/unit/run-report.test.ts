import { describeCandidates } from '../../client/commands/run-pipeline';
import type { TrainingPipelineResult } from '../../workflows/training-pipeline';

/** The parts of a run result the report reads (a real run returns far more). */
function candidate(algorithm: string, bestOfRun: boolean, reason: string, report?: { path: string; sha256: string; bytes: number } | { error: string }) {
  return {
    report,
    algorithm,
    bestOfRun,
    training: { best: { score: 0.53 } },
    evaluation: {
      report: {
        period: { from: '2016-02-02', to: '2018-01-31' },
        classification: { accuracy: 0.5417, rocAuc: 0.5339 },
        baseline: { name: 'always_up', accuracy: 0.5593, accuracyLift: -0.0176, liftInterval: [-0.05, 0.014], pValue: 0.86, naivePValue: 1 },
        auc: { versus: 'momentum_sign', baselineAuc: 0.51, difference: { value: 0.0239, interval: [-0.004, 0.05], pValue: 0.046 }, ...(bestOfRun ? { withinDay: { value: 0.5123, versus: 'reversal_sign', baselineValue: 0.5031, difference: { value: 0.0092, interval: [-0.002, 0.0204], pValue: 0.052 } } } : {}) },
        informationCoefficient: { mean: 0.01, tStat: 1.1 },
        backtest: { strategy: { sharpe: 1.2, maxDrawdown: 0.1 }, buyAndHold: { sharpe: 1.9 } },
        inference: { method: 'two-way clustered by blocks of 5 trading days and by symbol' },
        guards: [],
      },
    },
    registration: { version: { name: 'sp500-direction-5d', version: bestOfRun ? 8 : 7 }, decision: { promote: false, reason } },
  };
}

describe('run report', () => {
  it("names the run's best candidate's own reason when nothing is promoted", () => {
    const result = {
      dataset: { datasetId: 'td-1', rows: 1000, symbols: 10 },
      candidates: [
        candidate('random_forest', false, 'not promoted: not the best algorithm of its run (gradient_boosting is)', { error: 'disk full' }),
        candidate('gradient_boosting', true, "not promoted: auc 0.5339 does not beat the champion's 0.5745 by 0.005", { path: '/data/artifacts/reports/ab/abcd.html', sha256: 'abcd', bytes: 100 }),
      ],
    } as unknown as TrainingPipelineResult;
    const text = describeCandidates(result);
    expect(text).toContain("nothing promoted: gradient_boosting (the run's best) was not promoted: auc 0.5339 does not beat the champion's 0.5745 by 0.005");
    // Headline numbers: the strongest baseline by name, day-aware p-values, and the naive one labelled as such.
    expect(text).toContain('lift -0.0176 over always_up 0.5593 (95% [-0.0500, 0.0140], p 0.86; naive p 1.0 if rows were independent)');
    expect(text).toContain('AUC 0.5339 vs momentum_sign 0.5100 (+0.0239');
    // The within-day AUC (each day's stocks ranked) beside the fair baseline with the best one, where the report has it.
    expect(text).toContain('p 0.046); within-day AUC 0.5123 vs reversal_sign 0.5031 (+0.0092, 95% [-0.0020, 0.0204], p 0.052); acc 0.5417');
    expect(text.match(/within-day AUC/g)).toHaveLength(1);
    // Sharpe ratios are net of costs, and say so as the HTML report does.
    expect(text).toMatch(/ \| Sharpe \(net\) [-0-9.]+ vs buy-and-hold /);
    expect(text).toContain('intervals and p-values: two-way clustered by blocks of 5 trading days and by symbol');
    // Each candidate points at its run report, or says why it has none.
    expect(text).toContain('report: /data/artifacts/reports/ab/abcd.html (mlp report sp500-direction-5d@8 --out report.html)');
    expect(text).toContain('report: not written (disk full); try "mlp report sp500-direction-5d@7 --regenerate"');
  });
});
