import { rng } from '../../../lib/random';
import type { BarSeries } from '../../../lib/market-data/bar';
import { evaluatePredictions } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../../lib/training/guards';
import { walkForwardPredict, type WalkForwardRequest } from '../../../lib/training/walk-forward';
import type { TrainingDataset } from '../../../lib/training/dataset';
import { syntheticTrainingDataset } from '../../helpers/training-dataset';

const request: WalkForwardRequest = { algorithm: 'logistic_regression', params: {}, mode: 'expanding', evaluationDays: 100, testDays: 25, trainDays: 100, embargoDays: 0, maxTrainRows: 10_000, seed: 1, threads: 1 };
const options = { backtest: { costBps: 0, slippageBps: 0 }, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 };

function pricesFor(ds: TrainingDataset): BarSeries[] {
  const next = rng(5);
  return ds.symbols.map((symbol) => {
    const n = ds.days.length;
    const close = new Float64Array(n);
    let p = 100;
    for (let i = 0; i < n; i++) close[i] = p *= 1 + (next() - 0.5) * 0.02;
    const open = close.map((c) => c * (1 + (next() - 0.5) * 0.002));
    return { symbol, dates: ds.days, open, high: close.map((c, i) => Math.max(c, open[i]) * 1.01), low: close.map((c, i) => Math.min(c, open[i]) * 0.99), close, volume: new Float64Array(n).fill(1e6) };
  });
}

describe('out-of-sample evaluation report', () => {
  it('scores walk-forward predictions beside the majority baseline, and backtests them', async () => {
    const ds = syntheticTrainingDataset({ days: 300, signal: 0.6 });
    const predictions = await walkForwardPredict(ds, 'td-test', request);
    // The planted signal is far stronger than anything real: widen the bound so it is not a leak alarm.
    const report = evaluatePredictions(ds, predictions, pricesFor(ds), { ...options, plausibility: { maxAuc: 0.9, maxAucAboveBaseline: 0.4, maxAccuracy: 0.9 } });
    expect(report.period.rows).toBe(predictions.rows.length);
    expect(report.period.days).toBe(100);
    expect(report.classification.accuracy).toBeGreaterThan(0.55);
    expect(report.classification.accuracy).toBeLessThan(0.65);
    expect(report.baseline.accuracyLift).toBeCloseTo(report.classification.accuracy - report.baseline.accuracy, 12);
    expect(report.baseline.pValue).toBeLessThan(0.05);
    expect(report.baseline.liftInterval[0]).toBeLessThan(report.baseline.accuracyLift);
    // Every day has a tradable return: bought at the next open, sold at the label's last close.
    expect(report.informationCoefficient.days).toBe(100);
    expect(report.backtest.strategy.periods).toBeGreaterThan(90);
    expect(Number.isFinite(report.backtest.buyAndHold.totalReturn)).toBe(true);
    expect(report.leakageAlarm).toBeUndefined();
  });

  it('raises the leakage alarm when direction accuracy is implausibly high', async () => {
    const ds = syntheticTrainingDataset({ days: 300, leak: true });
    const report = evaluatePredictions(ds, await walkForwardPredict(ds, 'td-test', request), pricesFor(ds), options);
    expect(report.classification.accuracy).toBeGreaterThan(0.95);
    expect(report.guards.find((g) => g.guard === 'plausibility_bound')).toMatchObject({ tripped: true, message: expect.stringMatching(/AUC 1\.0000 \(95% lower bound 1\.0000\) is above the ceiling 0\.5\d+ for direction labels/) });
    expect(report.leakageAlarm).toMatch(/too good to be true/);
  });
});
