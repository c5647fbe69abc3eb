/**
 * What a trained algorithm is judged on: its walk-forward (out-of-sample) predictions, scored beside
 * every naive baseline of its label kind, ranked against forward returns (information coefficient),
 * traded in a backtest beside buy-and-hold, and checked by the guards that need its predictions
 * (plausibility bound, degenerate scores).
 *
 * Headline inference respects that rows are not independent (lib/stats/dependent-inference.ts):
 * intervals and p-values of accuracy, lift and AUC come from clusters of consecutive days at least
 * as long as the label horizon; the IC and strategy returns get Newey–West t-statistics. The
 * textbook McNemar p-value, which treats rows as independent, is kept only as `naivePValue`.
 */
import { backtestOf } from '../backtest/backtest';
import type { BacktestInput, BacktestOptionsInput } from '../backtest/input';
import { deflatedSharpeRatio } from '../backtest/sharpe-inference';
import type { BarSeries } from '../market-data/bar';
import { clusteredAuc, clusteredAucDifference, clusteredMean, dayBlockClusters, neweyWestDefaultLags, neweyWestMean, type Estimate } from '../stats/dependent-inference';
import { baselineAccuracyOf, naiveBaselinesOf, strongestBaseline, type BaselineName } from '../validation/baselines';
import { blockBootstrapIntervalsOf, classificationReportOf, informationCoefficient, mcNemarTest, predictedClassesOf } from '../validation/metrics';
import type { TrainingDataset } from './dataset';
import { plausibilityBound, type GuardVerdict, type PlausibilityBound } from './guards';
import type { WalkForwardPredictions } from './walk-forward';

export interface DegenerateScoreLimits {
  /** Share of days on which every symbol gets the same score, above which the scores are degenerate. */
  maxConstantDays: number;
  /** Share of days on which a tie decides who is in the top k, above which the portfolio is chance. */
  maxTiedCutDays: number;
}

export const DEFAULT_DEGENERATE_LIMITS: DegenerateScoreLimits = { maxConstantDays: 0.05, maxTiedCutDays: 0.2 };

export interface EvaluationOptions {
  backtest: BacktestOptionsInput;
  /** What is credible for this label kind (see DEFAULT_PLAUSIBILITY). */
  plausibility: PlausibilityBound;
  degenerate?: DegenerateScoreLimits;
  /** Trials tried for this algorithm and the variance of their Sharpe-like scores, for the deflated Sharpe ratio. */
  trials: number;
  trialSharpeVariance: number;
  seed: number;
  confidence?: number;
}

/** A compact estimate for reports: value, interval, one-sided p-value of "above the null". */
export interface ReportedEstimate {
  value: number;
  interval: [number, number];
  pValue: number;
  standardError: number;
}

const reported = (e: Estimate): ReportedEstimate => ({ value: e.estimate, interval: e.interval, pValue: e.pValueAbove, standardError: e.standardError });

export interface BaselineScore {
  name: BaselineName;
  description: string;
  hindsight: boolean;
  accuracy: number;
  auc: number;
}

export interface EvaluationReport {
  period: { from: string; to: string; days: number; rows: number };
  classification: { accuracy: number; balancedAccuracy: number; precision: number[]; recall: number[]; f1: number[]; macroF1: number; rocAuc: number; logLoss: number; brier: number; mcc: number; confusion: number[] };
  /** How the intervals and p-values below treat dependent rows; `clusters` is the smaller clustering's count. */
  inference: { method: string; blockDays: number; clusters: number; confidence: number };
  /** Every naive baseline on the same rows; hindsight ones are context, never a bar to clear. */
  baselines: BaselineScore[];
  /**
   * The model against the strongest non-hindsight baseline by accuracy. `pValue` is one-sided
   * (model better), day-block clustered; `naivePValue` is McNemar's, which assumes independent rows.
   */
  baseline: {
    name: BaselineName;
    accuracy: number;
    accuracyLift: number;
    liftInterval: [number, number];
    pValue: number;
    liftIntervalBootstrap: [number, number];
    naivePValue: number;
    accuracyInterval: [number, number];
  };
  /** The model's AUC, and its difference to the strongest non-hindsight baseline by AUC (paired, clustered). */
  auc: { value: number; interval: [number, number]; versus: BaselineName; baselineAuc: number; difference: ReportedEstimate };
  informationCoefficient: { mean: number; std: number; ir: number; tStat: number; naiveTStat: number; lags: number; days: number };
  backtest: {
    strategy: Record<string, number>;
    buyAndHold: Record<string, number>;
    informationRatio: number;
    deflatedSharpe: number;
    /** Mean daily net return of the strategy minus buy-and-hold's, Newey–West (one-sided p: strategy better). */
    excessReturn: ReportedEstimate;
    scoreTies: { scoredDays: number; constantDays: number; tiedCutDays: number; constantShare: number; tiedCutShare: number; meanDistinctShare: number };
  };
  /** Guards judged on the predictions: plausibility bound, degenerate scores. */
  guards: GuardVerdict[];
  /** The tripped leakage guard's message (kept for older readers of the report). */
  leakageAlarm?: string;
}

function pickNumbers(o: object): Record<string, number> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
}

/** Blocks at least as long as the label horizon, and never under 5 days (a trading week). */
export function inferenceBlockDays(ds: TrainingDataset): number {
  return Math.max(ds.label.horizon, 5);
}

export function evaluatePredictions(ds: TrainingDataset, predictions: WalkForwardPredictions, series: readonly BarSeries[], options: EvaluationOptions): EvaluationReport {
  const { rows, proba, classes } = predictions;
  const confidence = options.confidence ?? 0.95;
  const labels = Int32Array.from(rows, (r) => ds.labels[r]);
  const report = classificationReportOf(proba, labels, classes);
  const predicted = predictedClassesOf(proba, classes);
  const score = Float64Array.from(rows, (_, i) => proba[i * classes + classes - 1]);
  const dayIndex = Int32Array.from(rows, (r) => ds.start[r]);
  const blockDays = inferenceBlockDays(ds);
  const blocks = dayBlockClusters(dayIndex, blockDays);
  // Two-way: rows of one week move together, and so do rows of one stock (its own drift).
  const cluster = [blocks.cluster, Int32Array.from(rows, (r) => ds.symbol[r])] as const;

  const baselines = naiveBaselinesOf(ds, rows, series);
  const baselineScores: BaselineScore[] = baselines.map((b) => ({ name: b.name, description: b.description, hindsight: b.hindsight, accuracy: baselineAccuracyOf(b.predicted, labels), auc: clusteredAuc(b.score, labels, cluster).estimate }));
  const strongest = strongestBaseline(baselines, labels);
  const hits = Float64Array.from(labels, (y, i) => (predicted[i] === y ? 1 : 0) - (strongest.predicted[i] === y ? 1 : 0));
  const lift = clusteredMean(hits, cluster, { confidence });
  const accuracy = clusteredMean(Float64Array.from(labels, (y, i) => (predicted[i] === y ? 1 : 0)), cluster, { confidence });
  // For comparison only: McNemar on the paired table (independent rows assumed) and a day-block bootstrap.
  let b = 0;
  let c = 0;
  labels.forEach((y, i) => {
    const m = predicted[i] === y;
    const s = strongest.predicted[i] === y;
    if (m && !s) b++;
    if (s && !m) c++;
  });
  const naivePValue = mcNemarTest(b, c).pValueFirstBetter;
  const bootstrap = blockBootstrapIntervalsOf(labels, predicted, strongest.predicted, { dayIndex, blockDays, seed: options.seed, resamples: 500, confidence });

  const fairByAuc = baselines.filter((x) => !x.hindsight).map((x) => ({ x, auc: baselineScores.find((s) => s.name === x.name)?.auc ?? NaN }));
  const aucRival = fairByAuc.reduce((best, x) => (x.auc > best.auc ? x : best));
  const modelAuc = clusteredAuc(score, labels, cluster, { confidence });
  const aucDifference = clusteredAucDifference(score, aucRival.x.score, labels, cluster, { confidence });

  const ic = informationCoefficient(score, Float64Array.from(rows, (r) => ds.forwardReturn[r]), dayIndex);
  // Daily ICs of overlapping h-day returns are autocorrelated up to h − 1 days.
  const icLags = Math.max(ds.label.horizon - 1, neweyWestDefaultLags(ic.count));
  const icNeweyWest = neweyWestMean(ic.perDay, { lags: icLags });

  const resolvedBacktest = options.backtest;
  const backtest = backtestOf(backtestInputOf(ds, predictions, series), resolvedBacktest, { seed: options.seed });
  const sr = backtest.strategy.metrics;
  const deflated = deflatedSharpeRatio({ sharpe: sr.sharpePerPeriod, observations: sr.periods, skewness: sr.skewness, kurtosis: sr.kurtosis, trials: Math.max(1, options.trials), trialSharpeVariance: options.trialSharpeVariance });
  const excess = Float64Array.from(backtest.strategy.netReturns, (r, i) => r - backtest.benchmark.netReturns[i]);
  const holding = resolvedBacktest.holdingDays ?? 1;
  const excessReturn = neweyWestMean(excess, { lags: Math.max(holding - 1, neweyWestDefaultLags(excess.length)), confidence });

  const guards: GuardVerdict[] = [
    plausibilityBound(ds.label.kind, options.plausibility, { auc: report.rocAuc, aucLower: modelAuc.interval[0], accuracy: report.accuracy, accuracyLower: accuracy.interval[0], baselineAuc: aucRival.auc, baselineName: aucRival.x.name, baselineAccuracy: baselineAccuracyOf(strongest.predicted, labels), accuracyBaselineName: strongest.name }),
    degenerateScores(backtest.scoreTies, options.degenerate ?? DEFAULT_DEGENERATE_LIMITS, resolvedBacktest.topK !== undefined),
  ];

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
    inference: { method: `two-way clustered by blocks of ${blockDays} trading days and by symbol (cluster-robust; Obuchowski for AUC; Student t with ${lift.degreesOfFreedom} df)`, blockDays, clusters: lift.units, confidence },
    baselines: baselineScores,
    baseline: {
      name: strongest.name,
      accuracy: baselineAccuracyOf(strongest.predicted, labels),
      accuracyLift: lift.estimate,
      liftInterval: lift.interval,
      pValue: lift.pValueAbove,
      liftIntervalBootstrap: [bootstrap.difference.lower, bootstrap.difference.upper],
      naivePValue,
      accuracyInterval: accuracy.interval,
    },
    auc: { value: report.rocAuc, interval: modelAuc.interval, versus: aucRival.x.name, baselineAuc: aucRival.auc, difference: reported(aucDifference) },
    informationCoefficient: { mean: ic.mean, std: ic.std, ir: ic.ir, tStat: icNeweyWest.tStat, naiveTStat: ic.tStat, lags: icLags, days: ic.count },
    backtest: {
      strategy: { ...pickNumbers(sr), maxDrawdown: sr.maxDrawdown.depth },
      buyAndHold: { ...pickNumbers(backtest.benchmark.metrics), maxDrawdown: backtest.benchmark.metrics.maxDrawdown.depth },
      informationRatio: backtest.informationRatio,
      deflatedSharpe: deflated,
      excessReturn: reported(excessReturn),
      scoreTies: backtest.scoreTies,
    },
    guards,
  };
  // Degenerate scores are a defect of the model, not a leak: they are in `guards` only.
  const leak = guards.find((g) => g.tripped && g.guard !== 'degenerate_scores');
  if (leak) out.leakageAlarm = leak.message;
  return out;
}

/** Scores that cannot rank stocks: the same for every symbol on many days, or top-k picked by ties. */
export function degenerateScores(ties: EvaluationReport['backtest']['scoreTies'], limits: DegenerateScoreLimits, topK: boolean): GuardVerdict {
  const problems: string[] = [];
  if (ties.constantShare > limits.maxConstantDays) problems.push(`every symbol got the same score on ${ties.constantDays} of ${ties.scoredDays} days (${(ties.constantShare * 100).toFixed(1)}%, limit ${(limits.maxConstantDays * 100).toFixed(0)}%)`);
  if (topK && ties.tiedCutShare > limits.maxTiedCutDays) problems.push(`a tie decided who was in the top k on ${ties.tiedCutDays} of ${ties.scoredDays} days (${(ties.tiedCutShare * 100).toFixed(1)}%, limit ${(limits.maxTiedCutDays * 100).toFixed(0)}%)`);
  return problems.length > 0
    ? { guard: 'degenerate_scores', tripped: true, message: `degenerate scores: ${problems.join('; ')}; the backtest then reflects a random draw, not the model` }
    : { guard: 'degenerate_scores', tripped: false, message: `scores rank symbols: ${(ties.constantShare * 100).toFixed(1)}% constant days, ${(ties.tiedCutShare * 100).toFixed(1)}% of days with a tie at the top-k cut, ${(ties.meanDistinctShare * 100).toFixed(0)}% distinct scores per day` };
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

