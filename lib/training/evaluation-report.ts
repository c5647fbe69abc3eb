/**
 * What a trained algorithm is judged on: its walk-forward (out-of-sample) predictions, scored
 * beside the majority-class baseline (with intervals and a paired test), ranked against forward
 * returns (information coefficient), traded in a backtest beside buy-and-hold, and checked for
 * implausibly good direction accuracy (a leakage alarm, not a success).
 */
import { backtestOf } from '../backtest/backtest';
import type { BacktestInput, BacktestOptionsInput } from '../backtest/input';
import { deflatedSharpeRatio } from '../backtest/sharpe-inference';
import type { BarSeries } from '../market-data/bar';
import { blockBootstrapIntervalsOf, classificationReportOf, compareWithBaseline, informationCoefficient, majorityClassOf } from '../validation/metrics';
import type { TrainingDataset } from './dataset';
import type { WalkForwardPredictions } from './walk-forward';

export interface EvaluationOptions {
  backtest: BacktestOptionsInput;
  /** Direction accuracy above this is reported as a leakage alarm. */
  plausibleDirectionAccuracy: number;
  /** Trials tried for this algorithm and the variance of their Sharpe-like scores, for the deflated Sharpe ratio. */
  trials: number;
  trialSharpeVariance: number;
  seed: number;
}

export interface EvaluationReport {
  period: { from: string; to: string; days: number; rows: number };
  classification: { accuracy: number; balancedAccuracy: number; precision: number[]; recall: number[]; f1: number[]; macroF1: number; rocAuc: number; logLoss: number; brier: number; mcc: number; confusion: number[] };
  baseline: { class: number; accuracy: number; accuracyLift: number; liftInterval: [number, number]; liftIntervalBootstrap: [number, number]; pValue: number; accuracyInterval: [number, number] };
  informationCoefficient: { mean: number; std: number; ir: number; tStat: number; days: number };
  backtest: {
    strategy: Record<string, number>;
    buyAndHold: Record<string, number>;
    informationRatio: number;
    deflatedSharpe: number;
  };
  /** Set when the result is too good to be believed for its target. */
  leakageAlarm?: string;
}

function pickNumbers(o: object): Record<string, number> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
}

export function evaluatePredictions(ds: TrainingDataset, predictions: WalkForwardPredictions, series: readonly BarSeries[], options: EvaluationOptions): EvaluationReport {
  const { rows, proba, classes } = predictions;
  const labels = Int32Array.from(rows, (r) => ds.labels[r]);
  const report = classificationReportOf(proba, labels, classes);
  // The baseline's class comes from the data before the evaluation period, as a model's would.
  const firstTestDay = ds.start[rows[0]];
  const trainLabels = ds.labels.filter((_, r) => ds.end[r] < firstTestDay);
  const baselineClass = majorityClassOf(trainLabels.length > 0 ? trainLabels : labels, classes);
  const comparison = compareWithBaseline(labels, { proba, classes }, baselineClass);
  const dayIndex = Int32Array.from(rows, (r) => ds.start[r]);
  const bootstrap = blockBootstrapIntervalsOf(labels, { proba, classes }, baselineClass, { dayIndex, blockDays: Math.max(ds.label.horizon, 5), seed: options.seed, resamples: 500 });
  const score = Float64Array.from(rows, (_, i) => proba[i * classes + classes - 1]);
  const ic = informationCoefficient(score, Float64Array.from(rows, (r) => ds.forwardReturn[r]), dayIndex);

  const backtest = backtestOf(backtestInputOf(ds, predictions, series), options.backtest);
  const sr = backtest.strategy.metrics;
  const deflated = deflatedSharpeRatio({ sharpe: sr.sharpePerPeriod, observations: sr.periods, skewness: sr.skewness, kurtosis: sr.kurtosis, trials: Math.max(1, options.trials), trialSharpeVariance: options.trialSharpeVariance });

  const days = new Set(dayIndex).size;
  const out: EvaluationReport = {
    period: { from: ds.days[dayIndex[0]], to: ds.days[dayIndex[dayIndex.length - 1]], days, rows: rows.length },
    classification: {
      accuracy: report.accuracy,
      balancedAccuracy: report.balancedAccuracy,
      precision: Array.from(report.precision),
      recall: Array.from(report.recall),
      f1: Array.from(report.f1),
      macroF1: report.macroF1,
      rocAuc: report.rocAuc,
      logLoss: report.logLoss,
      brier: report.brier,
      mcc: report.mcc,
      confusion: Array.from(report.confusion),
    },
    baseline: {
      class: baselineClass,
      accuracy: comparison.baselineAccuracy,
      accuracyLift: comparison.difference,
      liftInterval: [comparison.differenceInterval.lower, comparison.differenceInterval.upper],
      liftIntervalBootstrap: [bootstrap.difference.lower, bootstrap.difference.upper],
      pValue: comparison.pValue,
      accuracyInterval: [comparison.modelAccuracyInterval.lower, comparison.modelAccuracyInterval.upper],
    },
    informationCoefficient: { mean: ic.mean, std: ic.std, ir: ic.ir, tStat: ic.tStat, days: ic.count },
    backtest: {
      strategy: { ...pickNumbers(sr), maxDrawdown: sr.maxDrawdown.depth },
      buyAndHold: { ...pickNumbers(backtest.benchmark.metrics), maxDrawdown: backtest.benchmark.metrics.maxDrawdown.depth },
      informationRatio: backtest.informationRatio, deflatedSharpe: deflated },
  };
  if (ds.label.kind === 'direction' && report.accuracy > options.plausibleDirectionAccuracy) {
    out.leakageAlarm = `out-of-sample direction accuracy ${(report.accuracy * 100).toFixed(1)}% is above the plausibility bound of ${(options.plausibleDirectionAccuracy * 100).toFixed(0)}% (published daily direction hit rates are 51–58%): look for a feature that sees the future`;
  }
  return out;
}

/** Prices of the evaluation period per symbol, with each row's P(up) as the score on its decision day. */
export function backtestInputOf(ds: TrainingDataset, predictions: WalkForwardPredictions, series: readonly BarSeries[]): BacktestInput {
  const { rows, proba, classes } = predictions;
  const firstDay = ds.start[rows[0]];
  const lastDay = ds.start[rows[rows.length - 1]];
  // One more day of prices after the last decision: its trades execute at the next open.
  const dates = ds.days.slice(firstDay, Math.min(ds.days.length, lastDay + 3));
  const dateIndex = new Map(dates.map((d, i) => [d, i]));
  const bySymbol = new Map(series.map((s) => [s.symbol, s]));
  const symbols = ds.symbols.map((symbol) => {
    const open = new Float64Array(dates.length).fill(NaN);
    const close = new Float64Array(dates.length).fill(NaN);
    const s = bySymbol.get(symbol);
    s?.dates.forEach((d, i) => {
      const at = dateIndex.get(d);
      if (at === undefined) return;
      open[at] = s.open[i];
      close[at] = s.close[i];
    });
    return { symbol, open, close, score: new Float64Array(dates.length).fill(NaN) };
  });
  rows.forEach((r, i) => {
    const at = ds.start[r] - firstDay;
    symbols[ds.symbol[r]].score[at] = proba[i * classes + classes - 1];
  });
  return { dates, symbols };
}
