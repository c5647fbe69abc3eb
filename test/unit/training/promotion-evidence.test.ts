/**
 * Evidence for promotion that a model without skill cannot fake. On `sharpe`, the strategy is
 * compared with buy-and-hold held at its own average net exposure: against full buy-and-hold, a
 * mostly flat model of noise "beat" a falling market by holding cash and was promoted in 17 of 40
 * seeds. On `accuracy_lift`, the lift must also clear the evaluation period's majority class: a
 * model predicting "down" on every row beat every fair baseline when the pre-period had risen.
 */
import { rng } from '../../../lib/random';
import { deflatedSharpeRatio } from '../../../lib/backtest/sharpe-inference';
import { candidateScoresOf, promotionDecision } from '../../../lib/registry/promotion';
import { evaluatePredictions } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../../lib/training/guards';
import { datasetFromBars, predictionsForLastDays } from '../../helpers/training-dataset';
import { fallingMarket } from '../../helpers/evaluated-reports';
import { PASSED_GUARDS } from '../../helpers/passed-guards';

const direction = { kind: 'direction', horizon: 5, deadZone: 0 } as const;
const policy = { metric: 'sharpe' as const, margin: 0.005, minAuc: 0.5, alpha: 0.05 };
const options = { backtest: {}, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 };

describe('evidence on the sharpe metric', () => {
  it('never promotes a mostly flat model of noise in a falling market, and names the exposure it matched', () => {
    let promoted = 0;
    let againstFull = 0;
    let checked = 0;
    const seeds = 30;
    for (let seed = 1; seed <= seeds; seed++) {
      const series = fallingMarket(seed);
      const ds = datasetFromBars(series, direction);
      const noise = rng(500 + seed);
      // P(up) 0.40–0.51, independent of every row: long a few symbols on a few days.
      const report = evaluatePredictions(ds, predictionsForLastDays(ds, 400, () => 0.4 + 0.11 * noise()), series, options);
      const benchmark = report.backtest.excessReturnBenchmark;
      expect(benchmark?.exposure).toBeGreaterThan(0);
      expect(benchmark?.exposure).toBeLessThan(0.5);
      const decision = promotionDecision({ ...candidateScoresOf(report, PASSED_GUARDS), bestOfRun: true, candidatesCompared: 1 }, undefined, policy);
      if (decision.promote) promoted++;
      if (!/below the floor/.test(decision.reason)) {
        checked++;
        // Every naive way of holding the market is named: the same exposure, the same beta, the stronger Sharpe ratio.
        expect(decision.reason).toMatch(/over buy-and-hold at the strategy's average net exposure \(0\.\d+\), daily net return difference/);
        expect(decision.reason).toMatch(/over buy-and-hold at the strategy's beta \(-?\d\.\d\d\), alpha per day/);
        expect(decision.reason).toMatch(/over cash's Sharpe ratio 0 \(buy-and-hold's was not positive\), annualised Sharpe difference/);
      }
      // What the old evidence said: the same returns against buy-and-hold at full exposure.
      const s = report.backtest.strategy;
      if (s.meanReturn > report.backtest.buyAndHold.meanReturn) againstFull++;
    }
    console.log(`model of noise in a falling market: promoted on sharpe in ${promoted} of ${seeds} seeds; its return above full buy-and-hold's in ${againstFull}`);
    expect(checked).toBeGreaterThan(5); // seeds past the AUC floor, judged on the evidence
    expect(againstFull).toBeGreaterThan(seeds / 2);
    expect(promoted).toBeLessThanOrEqual(1);
  });
});

describe('evidence on the accuracy_lift metric', () => {
  it('never promotes a model that predicts one class on every row, where no fair baseline predicts that class', () => {
    const policy = { metric: 'accuracy_lift' as const, margin: 0.005, minAuc: 0.5, alpha: 0.05 };
    let promoted = 0;
    let beatFair = 0;
    let judged = 0;
    const seeds = 30;
    for (let seed = 1; seed <= seeds; seed++) {
      const series = fallingMarket(seed);
      const ds = datasetFromBars(series, direction);
      const noise = rng(900 + seed);
      // P(up) 0.40–0.49: "down" on every row, in an order that means nothing.
      const report = evaluatePredictions(ds, predictionsForLastDays(ds, 400, () => 0.4 + 0.09 * noise()), series, options);
      if (report.baseline.pValue < 0.05) beatFair++;
      const decision = promotionDecision({ ...candidateScoresOf(report, PASSED_GUARDS), bestOfRun: true, candidatesCompared: 1 }, undefined, policy);
      if (decision.promote) promoted++;
      if (!/below the floor/.test(decision.reason) && report.baseline.pValue < 0.05) {
        judged++;
        expect(decision.reason).toMatch(/no evidence .*over evaluation_majority \(the period's own majority class, the no-information rate\)/);
      }
      expect(report.baseline.noInformation?.accuracyLift).toBeCloseTo(0, 10);
    }
    console.log(`one class on every row: its lift over the strongest fair baseline significant in ${beatFair} of ${seeds} seeds; promoted on accuracy_lift in ${promoted}`);
    expect(beatFair).toBeGreaterThan(seeds / 2);
    expect(judged).toBeGreaterThan(3);
    expect(promoted).toBe(0);
  });
});

describe('evidence on the accuracy_lift metric, a model that says "up" now and then', () => {
  it("is not promoted for predicting the period's majority class on most rows", () => {
    const policy = { metric: 'accuracy_lift' as const, margin: 0.005, minAuc: 0.5, alpha: 0.05 };
    let promoted = 0;
    let varied = 0;
    const seeds = 20;
    for (let seed = 1; seed <= seeds; seed++) {
      const series = fallingMarket(seed);
      const ds = datasetFromBars(series, direction);
      const noise = rng(1300 + seed);
      // "Down" on 90% of rows, "up" on a random tenth: no skill, but not constant.
      const report = evaluatePredictions(ds, predictionsForLastDays(ds, 400, () => (noise() < 0.9 ? 0.3 + 0.1 * noise() : 0.6 + 0.1 * noise())), series, options);
      const nir = report.baseline.noInformation;
      if (nir && Number.isFinite(nir.pValue) && nir.liftInterval[1] > nir.liftInterval[0]) varied++;
      if (promotionDecision({ ...candidateScoresOf(report, PASSED_GUARDS), bestOfRun: true, candidatesCompared: 1 }, undefined, policy).promote) promoted++;
    }
    expect(varied).toBe(seeds);
    expect(promoted).toBe(0);
  });
});

describe('the deflated Sharpe ratio', () => {
  it('deflates by at least the Sharpe ratio sampling variance, whatever spread the trials report (CV AUCs spread far less)', () => {
    const series = fallingMarket(3);
    const ds = datasetFromBars(series, direction);
    const noise = rng(77);
    const predictions = predictionsForLastDays(ds, 400, () => 0.3 + 0.4 * noise());
    const one = evaluatePredictions(ds, predictions, series, { ...options, trials: 1 });
    const many = evaluatePredictions(ds, predictions, series, { ...options, trials: 60, trialSharpeVariance: 1.6e-5 });
    const s = many.backtest.strategy;
    const floor = deflatedSharpeRatio({ sharpe: s.sharpePerPeriod, observations: s.periods, skewness: s.skewness, kurtosis: s.kurtosis, trials: 60, trialSharpeVariance: 1 / (s.periods - 1) });
    expect(many.backtest.deflatedSharpe).toBeCloseTo(floor, 12);
    expect(many.backtest.deflatedSharpe).toBeLessThan(one.backtest.deflatedSharpe);
  });
});
