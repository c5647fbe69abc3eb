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
import { backtestOf, type BacktestResult } from '../backtest/backtest';
import type { BacktestOptions } from '../backtest/input';
import type { PerformanceMetrics } from '../backtest/performance';
import { symbolColumnOn, type BacktestInput, type BacktestOptionsInput } from '../backtest/input';
import { deflatedSharpeRatio, sharpeDifference } from '../backtest/sharpe-inference';
import { tradableReturn } from '../labels/labels';
import type { BarSeries } from '../market-data/bar';
import { clusteredAuc, clusteredAucDifference, clusteredMean, neweyWestDefaultLags, neweyWestMean, neweyWestRegression, panelDayUnits, type Estimate, type PanelDependence } from '../stats/dependent-inference';
import { describeMergedSymbols, nearDuplicateSymbolGroups, symbolClustersOf, type SymbolGroups } from '../stats/symbol-clusters';
import { baselineAccuracyOf, baselineVaries, crossSectionalRuleOf, naiveBaselinesOf, strongestBaseline, tradedProbabilitiesOf, type BaselineName, type NaiveBaseline } from '../validation/baselines';
import { blockBootstrapIntervalsOf, classificationReportOf, informationCoefficient, mcNemarTest, predictedClassesOf, strongestIcBaseline, informationCoefficientEstimate, type InformationCoefficient } from '../validation/metrics';
import { withinDayAucs } from '../validation/within-day-auc';
import type { TrainingDataset } from './dataset';
import { GUARD_MIN_CLUSTERS, GUARD_MIN_SYMBOL_CLUSTERS, plausibilityBound, type GuardVerdict, type PlausibilityBound } from './guards';
import type { WalkForwardPredictions } from './walk-forward';

export interface DegenerateScoreLimits {
  /** With top-k: share of days on which every symbol gets the same score, above which the scores are degenerate. */
  maxConstantDays: number;
  /** With top-k: share of days on which a tie decides who is in the top k, above which the portfolio is chance. */
  maxTiedCutDays: number;
  /** Without top-k: share of symbols whose score never changes over the period, above which the scores are degenerate (default maxConstantDays). */
  maxConstantSymbols?: number;
}

export const DEFAULT_DEGENERATE_LIMITS: DegenerateScoreLimits = { maxConstantDays: 0.05, maxTiedCutDays: 0.2 };

export interface EvaluationOptions {
  backtest: BacktestOptionsInput;
  /** What is credible for this label kind (see DEFAULT_PLAUSIBILITY). */
  plausibility: PlausibilityBound;
  degenerate?: DegenerateScoreLimits;
  /**
   * Trials the model was picked from (every algorithm's of the run: activities/experiments.ts
   * deflationTrialsOf), and the variance of their per-period Sharpe ratios where it was measured (0:
   * not measured), for the deflated Sharpe ratio; never taken below the Sharpe ratio's sampling
   * variance, 1 / (T − 1).
   */
  trials: number;
  /** Trials this algorithm's own parameters stand on (its search, or the one a warm start continued): recorded for the next warm start. */
  searchTrials?: number;
  /** Trials this run itself ran (every algorithm's), recorded so that later runs on the same outcomes count them once. */
  runTrials?: number;
  /** Earlier runs on the same outcomes whose trials `trials` includes (lib/registry/challenges.ts earlierRunTrials). */
  earlierTrials?: { runs: number; trials: number };
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
  /** Mean of the daily AUCs across symbols (0.5 for a rule that gives every symbol of a day one score). */
  withinDayAuc?: number;
}

export interface EvaluationReport {
  period: { from: string; to: string; days: number; rows: number };
  classification: { accuracy: number; balancedAccuracy: number; precision: number[]; recall: number[]; f1: number[]; macroF1: number; rocAuc: number; logLoss: number; brier: number; mcc: number; confusion: number[] };
  /**
   * How the intervals and p-values below treat dependent rows; `clusters` is the smaller clustering's
   * count, `symbolClusters` the symbol clusters after near-duplicate symbols (share classes, a symbol
   * imported twice) were merged, which `mergedSymbols` lists.
   */
  /** `lags`: rows of different symbols up to this many trading days apart are dependent; `blockDays`: the comparison bootstrap's block (lags + 1). */
  inference: { method: string; lags?: number; blockDays: number; clusters: number; confidence: number; symbolClusters?: number; mergedSymbols?: string[][] };
  /** Every naive baseline on the same rows; hindsight ones are context, never a bar to clear. */
  baselines: BaselineScore[];
  /**
   * The model against the strongest non-hindsight baseline by accuracy. `pValue` is one-sided
   * (model better), rows dependent by day and by symbol; `naivePValue` is McNemar's, which assumes independent rows.
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
    /** The lift over the evaluation period's majority class (the no-information rate, hindsight): accuracy evidence must clear it too. */
    noInformation?: { accuracy: number; accuracyLift: number; liftInterval: [number, number]; pValue: number };
  };
  /**
   * The model's AUC, and its difference to the strongest non-hindsight baseline by AUC (paired,
   * clustered): the evidence of promotion metric `auc`. `withinDay`: the mean of the daily AUCs
   * across symbols, the part of the AUC that ranks stocks rather than timing the market, against
   * 0.5 and against the non-hindsight baseline with the best within-day AUC, with the same inference
   * (as evidence): the evidence of promotion metric `within_day_auc` (absent in reports from before
   * it was measured).
   */
  auc: { value: number; interval: [number, number]; versus: BaselineName; baselineAuc: number; difference: ReportedEstimate; withinDay?: WithinDayReport };
  /** Daily Spearman of the score with the tradable return over the label's window (next open to its last close: tradableForwardReturns); close to close in reports of label code version 2 and earlier, from the next open to the open after the window in those of 5 December 2026 (version 2). */
  /**
   * Mean daily IC; tStat over the panel's dependence (rows of a symbol, days within the label's
   * overlap) as AUC's; naiveTStat as if days were independent; the fair baseline with the highest mean IC beside it.
   */
  informationCoefficient: { mean: number; std: number; ir: number; tStat: number; naiveTStat: number; lags: number; days: number; baseline?: { name: string; mean: number; tStat: number } };
  backtest: {
    strategy: Record<string, number>;
    buyAndHold: Record<string, number>;
    informationRatio: number;
    /**
     * P(the strategy's true Sharpe ratio exceeds `deflatedSharpeBenchmark`'s, the stronger of
     * buy-and-hold's and cash's (0), by more than the best of the counted trials would by luck). In
     * reports without `deflatedSharpeBenchmark` it was against 0.
     */
    deflatedSharpe: number;
    /** What `deflatedSharpe` is measured against (absent in reports from before it was the benchmark). */
    deflatedSharpeBenchmark?: { versus: 'buy_and_hold' | 'cash'; sharpe: number; description: string };
    /** The trials `deflatedSharpe` counted, and those this algorithm's parameters stand on (absent in reports from before they were recorded). */
    deflatedSharpeTrials?: { counted: number; search?: number; run?: number; earlier?: { runs: number; trials: number } };
    /**
     * Mean daily net return of the strategy minus that of buy-and-hold held at the strategy's average
     * net exposure, Newey–West (one-sided p: strategy better).
     */
    excessReturn: ReportedEstimate;
    /** What `excessReturn` is measured against (absent in reports from before the exposure was matched). */
    excessReturnBenchmark?: { exposure: number; description: string };
    /**
     * The strategy's daily net returns over the risk-free rate regressed on buy-and-hold's (both net):
     * `alpha` per day beyond `beta` × the market (one-sided p: above 0) and `beta`, the market exposure
     * the strategy actually took, Newey–West. Holding high-beta stocks in a rising market earns more
     * than buy-and-hold, and more than buy-and-hold at the same net exposure, with no skill: the alpha
     * is what is left. Absent in reports from before it was measured.
     */
    marketModel?: { alpha: ReportedEstimate; beta: { value: number; interval: [number, number]; standardError: number }; correlation: number; lags: number; versus: string };
    /**
     * The strategy's annualised Sharpe ratio minus the stronger naive one: buy-and-hold's when positive,
     * else cash's (0), paired by day, Newey–West delta method (Ledoit–Wolf). Absent in reports from
     * before it was measured.
     */
    sharpeDifference?: { versus: 'buy_and_hold' | 'cash'; rivalSharpe: number; difference: ReportedEstimate; lags: number };
    /**
     * Each fair naive rule that ranks or times (momentum or reversal sign, the market rules,
     * persistence) traded exactly as the model's scores are (the same threshold, top-k, strategy,
     * costs and tie draws), with its annualised net Sharpe ratio. Absent in reports from before they were traded.
     */
    naiveStrategies?: Array<{ name: string; description: string; sharpe: number }>;
    /**
     * The strategy's annualised Sharpe ratio minus that of the naive strategy with the highest one
     * (chosen on the period itself, the cautious side), paired by day, Newey–West delta method: a model
     * that trades what a naive rule trades has no skill of its own, however well the rule did.
     * Absent when no naive rule varies, or in reports from before it was measured.
     */
    versusNaiveStrategy?: { versus: string; description: string; rivalSharpe: number; difference: ReportedEstimate; lags: number };
    scoreTies: { scoredDays: number; constantDays: number; tiedCutDays: number; constantShare: number; tiedCutShare: number; meanDistinctShare: number };
    /** How the scores vary over time: symbols with at least 2 scores, and those whose score never changes. */
    scoreVariation?: ScoreVariation;
  };
  /** Guards judged on the predictions: plausibility bound, degenerate scores. */
  guards: GuardVerdict[];
  /** The tripped leakage guard's message (kept for older readers of the report). */
  leakageAlarm?: string;
}

export interface WithinDayReport {
  /** The model's mean daily AUC; `pValue` is one-sided against 0.5. */
  value: number;
  interval: [number, number];
  pValue: number;
  standardError: number;
  /** Days with both classes, which the means are over. */
  days: number;
  versus: BaselineName;
  baselineValue: number;
  baselineInterval: [number, number];
  /** Model minus that baseline, paired by row. */
  difference: ReportedEstimate;
}

/** A backtest's performance as the report stores it: its numbers, the drawdown as its depth (what the run report's headline reads by these names). */
export function storedPerformance(metrics: PerformanceMetrics): Record<string, number> {
  return { ...pickNumbers(metrics), maxDrawdown: metrics.maxDrawdown.depth };
}

function pickNumbers(o: object): Record<string, number> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
}

/**
 * Rows of different symbols up to this many trading days apart are dependent: their label windows
 * overlap (horizon − 1 days), and never fewer than a trading week's 4 (the market's move of a week).
 */
export function inferenceLags(ds: Pick<TrainingDataset, 'label'>): number {
  return Math.max(ds.label.horizon, 5) - 1;
}

export function evaluatePredictions(ds: TrainingDataset, predictions: WalkForwardPredictions, series: readonly BarSeries[], options: EvaluationOptions): EvaluationReport {
  const { rows, proba, classes } = predictions;
  const confidence = options.confidence ?? 0.95;
  const labels = Int32Array.from(rows, (r) => ds.labels[r]);
  const report = classificationReportOf(proba, labels, classes);
  const predicted = predictedClassesOf(proba, classes);
  const score = Float64Array.from(rows, (_, i) => proba[i * classes + classes - 1]);
  const rivals = periodRivalsOf(ds, rows, series);
  const { dayIndex, symbolOfRow, baselines } = rivals;
  const lags = inferenceLags(ds);
  const dayUnits = panelDayUnits(new Set(dayIndex).size, lags);
  // Two-way: rows of one week move together, and so do rows of one stock (its own drift). Symbols
  // whose returns are near duplicates (GOOG and GOOGL) are one stock, not two independent ones.
  const groups = rivals.groups();
  const cluster: PanelDependence = { day: dayIndex, symbol: symbolClustersOf(symbolOfRow, groups), lags };
  // The guards leave out a clustering with too few clusters to judge a leak on (under 20 symbols): see GUARD_MIN_CLUSTERS.
  const guardClusters = dayUnits >= GUARD_MIN_CLUSTERS && groups.groups >= GUARD_MIN_SYMBOL_CLUSTERS ? undefined : { minClusters: GUARD_MIN_CLUSTERS, minSymbolClusters: GUARD_MIN_SYMBOL_CLUSTERS, symbolsAloneOverFewDays: true, confidence };

  // Within-day AUCs of the model and every baseline: the part of each AUC that ranks the day's symbols.
  // As evidence (promotion metric `within_day_auc`), with the same inference as the pooled AUC's.
  const withinDay = classes !== 2 ? undefined : withinDayAucs(score, baselines.map((b) => b.score), labels, cluster, { confidence, evidence: true });
  const baselineScores: BaselineScore[] = baselines.map((b, k) => ({ name: b.name, description: b.description, hindsight: b.hindsight, accuracy: baselineAccuracyOf(b.predicted, labels), auc: clusteredAuc(b.score, labels, cluster).estimate, ...(withinDay ? { withinDayAuc: withinDay.rivalValues[k] } : {}) }));
  const strongest = strongestBaseline(baselines, labels);
  const hits = Float64Array.from(labels, (y, i) => (predicted[i] === y ? 1 : 0) - (strongest.predicted[i] === y ? 1 : 0));
  const lift = clusteredMean(hits, cluster, { confidence, evidence: true });
  const accuracy = clusteredMean(Float64Array.from(labels, (y, i) => (predicted[i] === y ? 1 : 0)), cluster, { confidence, evidence: true });
  // The no-information rate: the evaluation period's own majority class, in hindsight. No model is
  // ranked against it, but accuracy evidence must clear it too: a model that predicts one class on
  // every row has that class's share as its accuracy and no skill, and when the pre-period's majority
  // was the other class no fair baseline predicts it (a constant "down" was promoted on
  // accuracy_lift in 17 of 40 seeds).
  const noInformation = baselines.find((x) => x.name === 'evaluation_majority');
  const noInformationLift = noInformation ? clusteredMean(Float64Array.from(labels, (y, i) => (predicted[i] === y ? 1 : 0) - (noInformation.predicted[i] === y ? 1 : 0)), cluster, { confidence, evidence: true }) : undefined;
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
  const bootstrap = blockBootstrapIntervalsOf(labels, predicted, strongest.predicted, { dayIndex, blockDays: lags + 1, seed: options.seed, resamples: 500, confidence });

  const fairByAuc = baselines.filter((x) => !x.hindsight).map((x) => ({ x, auc: baselineScores.find((s) => s.name === x.name)?.auc ?? NaN }));
  const aucRival = fairByAuc.reduce((best, x) => (x.auc > best.auc ? x : best));
  const modelAuc = clusteredAuc(score, labels, cluster, { confidence, evidence: true });
  const aucDifference = clusteredAucDifference(score, aucRival.x.score, labels, cluster, { confidence, evidence: true });
  let withinDayReport: WithinDayReport | undefined;
  if (withinDay) {
    const fair = baselines.map((b, k) => ({ b, k, value: withinDay.rivalValues[k] })).filter((x) => !x.b.hindsight);
    const rival = fair.reduce((best, x) => (x.value > best.value || !Number.isFinite(best.value) ? x : best));
    const m = withinDay.model;
    const r = withinDay.rival(rival.k);
    withinDayReport = { ...reported(m.estimate), days: m.days, versus: rival.b.name, baselineValue: r.estimate.estimate, baselineInterval: r.estimate.interval, difference: reported(withinDay.differenceTo(rival.k)) };
  }

  const forward = rivals.forward();
  const ic = informationCoefficient(score, forward, dayIndex);
  const icEstimate = informationCoefficientEstimate(ic, cluster);
  const icRival = rivals.icRival();

  const resolvedBacktest = options.backtest;
  const backtest = backtestOf(backtestInputOf(ds, predictions, series), resolvedBacktest, { seed: options.seed });
  const sr = backtest.strategy.metrics;
  // Against buy-and-hold held at the strategy's own average net exposure: a strategy without skill
  // earns about its exposure times the market, so full buy-and-hold made any mostly flat strategy
  // look skilled in a falling market (a model of noise was promoted on `sharpe` in 17 of 40 seeds).
  const matchedExposure = averageNetExposure(backtest.strategy.weights, backtest.symbols.length);
  const excess = Float64Array.from(backtest.strategy.netReturns, (r, i) => r - matchedExposure * backtest.benchmark.netReturns[i]);
  const holding = resolvedBacktest.holdingDays ?? 1;
  const returnLags = Math.max(holding - 1, neweyWestDefaultLags(excess.length));
  const excessReturn = neweyWestMean(excess, { lags: returnLags, confidence, evidence: true });
  // Net exposure is not market exposure: long the 20 highest-beta stocks (trailing 252-day beta, no
  // look-ahead) is exposure 1 but beta ~1.5, and on two real years of the S&P 500 it beat buy-and-hold
  // at exposure 1 by 8e-4 a day (p 0.035) with a Sharpe ratio of 1.76 against buy-and-hold's 2.07.
  // The skill beyond the market is the alpha of the regression on buy-and-hold, with the beta the
  // strategy took; and a Sharpe ratio is shown beside the stronger naive one, tested paired by day.
  const market = pairedExcessReturns(backtest);
  const regression = neweyWestRegression(market.strategy, market.benchmark, { lags: returnLags, confidence, evidence: true });
  const benchmarkSharpe = backtest.benchmark.metrics.sharpePerPeriod;
  const sharpeRival: 'buy_and_hold' | 'cash' = benchmarkSharpe > 0 ? 'buy_and_hold' : 'cash';
  const sharpeVersus = sharpeDifference(market.strategy, sharpeRival === 'buy_and_hold' ? market.benchmark : undefined, { lags: returnLags, confidence, evidence: true });
  const annual = Math.sqrt(backtest.options.periodsPerYear);
  // The naive rules traded as the model is: a model that learnt a rule anyone could apply (reversal,
  // market timing) earns that rule's alpha over the market, and beating the market alone promoted it.
  const naive = predictions.classes === 2 ? rivals.naiveStrategies(backtest.options, options.seed) : [];
  const naiveRival = naive.reduce<(typeof naive)[number] | undefined>((best, x) => (Number.isFinite(x.sharpePerPeriod) && (!best || x.sharpePerPeriod > best.sharpePerPeriod) ? x : best), undefined);
  const versusNaive = naiveRival ? sharpeDifference(market.strategy, naiveRival.returns, { lags: returnLags, confidence, evidence: true }) : undefined;
  // Trials' Sharpe ratios differ by sampling noise alone at least this much (per period, under no
  // skill): the floor when the trials' own spread is unknown or smaller. Deflated above the stronger
  // naive Sharpe ratio: a positive Sharpe ratio in a market that rose more steadily is no skill.
  const samplingVariance = sr.periods > 1 ? 1 / (sr.periods - 1) : 0;
  const deflatedAgainst = sharpeRival === 'buy_and_hold' ? benchmarkSharpe : 0;
  const deflated = deflatedSharpeRatio({ sharpe: sr.sharpePerPeriod, observations: sr.periods, skewness: sr.skewness, kurtosis: sr.kurtosis, trials: Math.max(1, options.trials), trialSharpeVariance: Math.max(options.trialSharpeVariance, samplingVariance), benchmarkSharpe: deflatedAgainst });

  // The guards' own intervals, without the evidence's short-sample widening: for a leak the narrower one is the cautious side.
  const guardAuc = clusteredAuc(score, labels, cluster, guardClusters ?? { confidence });
  const guardAccuracy = clusteredMean(Float64Array.from(labels, (y, i) => (predicted[i] === y ? 1 : 0)), cluster, guardClusters ?? { confidence });
  const guardWithinDay = withinDayReport ? withinDayAucs(score, [], labels, cluster, guardClusters ?? { confidence }).model.estimate : undefined;
  const scoreVariation = scoreVariationOf(symbolOfRow, score);
  const guards: GuardVerdict[] = [
    plausibilityBound(ds.label.kind, options.plausibility, {
      auc: report.rocAuc,
      aucLower: guardAuc.interval[0],
      aucUpper: guardAuc.interval[1],
      accuracy: report.accuracy,
      accuracyLower: guardAccuracy.interval[0],
      accuracyUpper: guardAccuracy.interval[1],
      baselineAuc: aucRival.auc,
      baselineName: aucRival.x.name,
      baselineAccuracy: baselineAccuracyOf(strongest.predicted, labels),
      accuracyBaselineName: strongest.name,
      ...(withinDayReport && guardWithinDay ? { withinDay: { auc: withinDayReport.value, lower: guardWithinDay.interval[0], upper: guardWithinDay.interval[1], baselineAuc: withinDayReport.baselineValue, baselineName: withinDayReport.versus } } : {}),
    }),
    degenerateScores(backtest.scoreTies, options.degenerate ?? DEFAULT_DEGENERATE_LIMITS, resolvedBacktest.topK !== undefined, scoreVariation),
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
    inference: {
      method: `two-way: rows of one symbol, and rows up to ${lags} trading days apart, are dependent (clustered by symbol, Hansen–Hodrick/Driscoll–Kraay over days; Obuchowski for AUC; Student t with ${lift.degreesOfFreedom} df)${groups.merged.length > 0 ? `; near-duplicate symbols clustered as one: ${describeMergedSymbols(groups, ds.symbols)}` : ''}${guardClusters ? `; the guards leave out the symbol clustering below ${GUARD_MIN_SYMBOL_CLUSTERS} symbol clusters and the days below ${GUARD_MIN_CLUSTERS} stretches (${groups.groups} symbol clusters, ${dayUnits} stretches of ${lags + 1} days)` : ''}`,
      lags,
      blockDays: lags + 1,
      clusters: lift.units,
      confidence,
      symbolClusters: groups.groups,
      mergedSymbols: groups.merged.map((m) => m.map((s) => ds.symbols[s])),
    },
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
      ...(noInformation && noInformationLift ? { noInformation: { accuracy: baselineAccuracyOf(noInformation.predicted, labels), accuracyLift: noInformationLift.estimate, liftInterval: noInformationLift.interval, pValue: noInformationLift.pValueAbove } } : {}),
    },
    auc: { value: report.rocAuc, interval: modelAuc.interval, versus: aucRival.x.name, baselineAuc: aucRival.auc, difference: reported(aucDifference), ...(withinDayReport ? { withinDay: withinDayReport } : {}) },
    informationCoefficient: {
      mean: ic.mean,
      std: ic.std,
      ir: ic.ir,
      tStat: icEstimate?.tStat ?? NaN,
      naiveTStat: ic.tStat,
      lags: cluster.lags,
      days: ic.count,
      ...(icRival ? { baseline: { name: icRival.baseline.name, mean: icRival.ic.mean, tStat: informationCoefficientEstimate(icRival.ic, cluster)?.tStat ?? NaN } } : {}),
    },
    backtest: {
      strategy: storedPerformance(sr),
      buyAndHold: storedPerformance(backtest.benchmark.metrics),
      informationRatio: backtest.informationRatio,
      deflatedSharpe: deflated,
      deflatedSharpeBenchmark: {
        versus: sharpeRival,
        sharpe: deflatedAgainst * annual,
        description: sharpeRival === 'buy_and_hold' ? `buy-and-hold's Sharpe ratio (${(deflatedAgainst * annual).toFixed(2)})` : `cash (Sharpe ratio 0; buy-and-hold's was ${Number.isFinite(benchmarkSharpe) ? (benchmarkSharpe * annual).toFixed(2) : 'undefined'})`,
      },
      deflatedSharpeTrials: { counted: Math.max(1, options.trials), ...(options.searchTrials !== undefined ? { search: options.searchTrials } : {}), ...(options.runTrials !== undefined ? { run: options.runTrials } : {}), ...(options.earlierTrials && options.earlierTrials.runs > 0 ? { earlier: options.earlierTrials } : {}) },
      excessReturn: reported(excessReturn),
      excessReturnBenchmark: { exposure: matchedExposure, description: `buy-and-hold at the strategy's average net exposure (${matchedExposure.toFixed(3)})` },
      marketModel: {
        alpha: reported(regression.alpha),
        beta: { value: regression.beta.estimate, interval: regression.beta.interval, standardError: regression.beta.standardError },
        correlation: regression.correlation,
        lags: regression.lags,
        versus: 'equal-weight buy-and-hold of the universe (daily net returns over the risk-free rate)',
      },
      sharpeDifference: { versus: sharpeRival, rivalSharpe: sharpeRival === 'buy_and_hold' ? benchmarkSharpe * annual : 0, difference: reported(annualised(sharpeVersus, annual)), lags: returnLags },
      naiveStrategies: naive.map((x) => ({ name: x.rule.name, description: x.rule.description, sharpe: x.sharpePerPeriod * annual })),
      ...(naiveRival && versusNaive ? { versusNaiveStrategy: { versus: naiveRival.rule.name, description: naiveRival.rule.description, rivalSharpe: naiveRival.sharpePerPeriod * annual, difference: reported(annualised(versusNaive, annual)), lags: returnLags } } : {}),
      scoreTies: backtest.scoreTies,
      scoreVariation,
    },
    guards,
  };
  // Degenerate scores are a defect of the model, not a leak: they are in `guards` only.
  const leak = guards.find((g) => g.tripped && g.guard !== 'degenerate_scores');
  if (leak) out.leakageAlarm = leak.message;
  return out;
}

/**
 * A challenger against the champion re-run on the same evaluation rows (paired): AUC and accuracy
 * differences with the report's dependence (rows of one symbol, and rows up to the label's lags
 * apart, are dependent), and the difference of the two strategies' annualised Sharpe ratios, paired by
 * day with Newey–West (Ledoit–Wolf). One-sided p-values: the challenger is better. Rows only one of
 * them predicted are left out.
 */
export interface ChampionComparison {
  rows: number;
  days: number;
  auc: ReportedEstimate;
  /** Within-day AUC difference (means of the daily AUCs across symbols), paired by row as `auc`; absent in comparisons from before it was measured. */
  withinDayAuc?: ReportedEstimate;
  accuracy: ReportedEstimate;
  sharpe: ReportedEstimate;
  method: string;
}

export function championComparisonOf(ds: TrainingDataset, challenger: WalkForwardPredictions, champion: WalkForwardPredictions, series: readonly BarSeries[], options: { backtest: BacktestOptionsInput; seed: number; confidence?: number }): ChampionComparison {
  const confidence = options.confidence ?? 0.95;
  const [a, b] = onCommonRows(challenger, champion);
  const { rows, classes } = a;
  const labels = Int32Array.from(rows, (r) => ds.labels[r]);
  const dayIndex = Int32Array.from(rows, (r) => ds.start[r]);
  const symbolOfRow = Int32Array.from(rows, (r) => ds.symbol[r]);
  const lags = inferenceLags(ds);
  const groups = nearDuplicateSymbolGroups(symbolOfRow, dayIndex, Float64Array.from(rows, (r) => ds.forwardReturn[r]));
  const panel: PanelDependence = { day: dayIndex, symbol: symbolClustersOf(symbolOfRow, groups), lags };
  const scoreOf = (p: WalkForwardPredictions) => Float64Array.from(p.rows, (_, i) => p.proba[i * p.classes + p.classes - 1]);
  const auc = clusteredAucDifference(scoreOf(a), scoreOf(b), labels, panel, { confidence, evidence: true });
  const withinDayAuc = classes === 2 ? withinDayAucs(scoreOf(a), [scoreOf(b)], labels, panel, { confidence, evidence: true }).differenceTo(0) : undefined;
  const hitsA = predictedClassesOf(a.proba, classes);
  const hitsB = predictedClassesOf(b.proba, classes);
  const accuracy = clusteredMean(Float64Array.from(labels, (y, i) => (hitsA[i] === y ? 1 : 0) - (hitsB[i] === y ? 1 : 0)), panel, { confidence, evidence: true });
  const ba = backtestOf(backtestInputOf(ds, a, series), options.backtest, { seed: options.seed });
  const bb = backtestOf(backtestInputOf(ds, b, series), options.backtest, { seed: options.seed });
  const ra = pairedExcessReturns(ba).strategy;
  const rb = pairedExcessReturns(bb).strategy;
  const lagsReturns = Math.max((ba.options.holdingDays ?? 1) - 1, neweyWestDefaultLags(ra.length));
  const sharpe = annualised(sharpeDifference(ra, rb, { lags: lagsReturns, confidence, evidence: true }), Math.sqrt(ba.options.periodsPerYear));
  return {
    rows: rows.length,
    days: new Set(dayIndex).size,
    auc: reported(auc),
    ...(withinDayAuc ? { withinDayAuc: reported(withinDayAuc) } : {}),
    accuracy: reported(accuracy),
    sharpe: reported(sharpe),
    method: `paired on the same rows: AUC${withinDayAuc ? ', within-day AUC' : ''} and accuracy clustered by symbol and by rows up to ${lags} trading days apart; Sharpe ratios paired by day, Newey–West over ${ra.length} days, ${lagsReturns} lags`,
  };
}

/** Both predictions restricted to the rows both made, in the same order. */
function onCommonRows(a: WalkForwardPredictions, b: WalkForwardPredictions): [WalkForwardPredictions, WalkForwardPredictions] {
  if (a.classes !== b.classes) throw new RangeError(`The challenger predicts ${a.classes} classes and the champion ${b.classes}: they cannot be compared row by row`);
  if (a.rows.length === b.rows.length && a.rows.every((r, i) => r === b.rows[i])) return [a, b];
  const inB = new Map(Array.from(b.rows, (r, i) => [r, i]));
  const keepA = Array.from(a.rows.keys()).filter((i) => inB.has(a.rows[i]));
  if (keepA.length === 0) throw new RangeError('The challenger and the champion re-run predicted no row in common');
  const pick = (p: WalkForwardPredictions, idx: number[]): WalkForwardPredictions => ({
    ...p,
    rows: Int32Array.from(idx, (i) => p.rows[i]),
    proba: Float64Array.from({ length: idx.length * p.classes }, (_, j) => p.proba[idx[Math.floor(j / p.classes)] * p.classes + (j % p.classes)]),
  });
  return [pick(a, keepA), pick(b, keepA.map((i) => inB.get(a.rows[i]) as number))];
}

/**
 * The fair naive rules whose scores vary (constant rules trade as buy-and-hold or cash), each as it
 * predicts and, for a rule that ranks the day's symbols, relative to the day's median too, traded
 * by the same backtest as the model (its options, costs and seed) on the same rows: per rule its
 * daily net returns over the risk-free rate and its per-period Sharpe ratio.
 */
function naiveStrategiesOf(ds: TrainingDataset, rows: Int32Array, series: readonly BarSeries[], baselines: readonly NaiveBaseline[], dayOfRow: Int32Array, options: BacktestOptions, seed: number): NaiveStrategy[] {
  const threshold = options.threshold;
  const fair = baselines.filter((b) => !b.hindsight && baselineVaries(b));
  const rules: Array<Pick<NaiveBaseline, 'predicted' | 'score'> & { name: string; description: string }> = [...fair, ...fair.flatMap((b) => crossSectionalRuleOf(b, dayOfRow) ?? [])];
  return rules.map((rule) => {
      const p = tradedProbabilitiesOf(rule, threshold);
      const proba = new Float64Array(p.length * 2);
      p.forEach((v, i) => {
        proba[i * 2] = 1 - v;
        proba[i * 2 + 1] = v;
      });
      const traded = backtestOf(backtestInputOf(ds, { datasetId: '', algorithm: '', classes: 2, rows, proba, windows: [] }, series), options, { seed });
      return { rule: { name: rule.name, description: rule.description }, returns: pairedExcessReturns(traded).strategy, sharpePerPeriod: traded.strategy.metrics.sharpePerPeriod };
    });
}

type NaiveStrategy = { rule: { name: string; description: string }; returns: Float64Array; sharpePerPeriod: number };

/**
 * What a model is compared with on an evaluation period: its rows' days and symbols, the naive
 * baselines, the rows' tradable forward returns, near-duplicate symbol groups, the baselines' best
 * IC and their strategies traded as the model is. None of it depends on the model, and every
 * algorithm of a run is evaluated on the same rows (the guards and the run report's sections ask
 * again), so it is computed once per period: ~2 s of CPU an evaluation on the S&P 500 dataset.
 * Callers only read it.
 */
export interface PeriodRivals {
  readonly dayIndex: Int32Array;
  readonly symbolOfRow: Int32Array;
  readonly baselines: NaiveBaseline[];
  groups(): SymbolGroups;
  forward(): Float64Array;
  /** The fair baseline with the best mean IC against the forward returns (strongestIcBaseline). */
  icRival(): { baseline: NaiveBaseline; ic: InformationCoefficient } | undefined;
  /** The fair varying baselines traded by the backtest with these options and seed (two classes). */
  naiveStrategies(options: BacktestOptions, seed: number): NaiveStrategy[];
}

function once<T>(compute: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: compute() }).v;
}

function sameInts(a: Int32Array, b: Int32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The last period's rivals per dataset object (readDataset keeps the last dataset read): rows equal in content, the same bars. */
const lastRivals = new WeakMap<TrainingDataset, { rows: Int32Array; series: readonly BarSeries[]; rivals: PeriodRivals }>();

export function periodRivalsOf(ds: TrainingDataset, rows: Int32Array, series: readonly BarSeries[]): PeriodRivals {
  const last = lastRivals.get(ds);
  if (last && last.series === series && sameInts(last.rows, rows)) return last.rivals;
  // A copy: the caller's array may be changed after this returns.
  const kept = Int32Array.from(rows);
  const dayIndex = Int32Array.from(kept, (r) => ds.start[r]);
  const symbolOfRow = Int32Array.from(kept, (r) => ds.symbol[r]);
  const baselines = naiveBaselinesOf(ds, kept, series);
  const forward = once(() => tradableForwardReturns(ds, kept, series));
  const strategies = new Map<string, NaiveStrategy[]>();
  const rivals: PeriodRivals = {
    dayIndex,
    symbolOfRow,
    baselines,
    groups: once(() => nearDuplicateSymbolGroups(symbolOfRow, dayIndex, Float64Array.from(kept, (r) => ds.forwardReturn[r]))),
    forward,
    icRival: once(() => strongestIcBaseline(baselines, forward(), dayIndex)),
    naiveStrategies(options, seed) {
      const key = `${JSON.stringify(options)} ${seed}`;
      let found = strategies.get(key);
      if (!found) strategies.set(key, (found = naiveStrategiesOf(ds, kept, series, baselines, dayIndex, options, seed)));
      return found;
    },
  };
  lastRivals.set(ds, { rows: kept, series, rivals });
  return rivals;
}

/** Daily net returns of the strategy and of buy-and-hold over the risk-free rate the Sharpe ratios use. */
function pairedExcessReturns(backtest: BacktestResult): { strategy: Float64Array; benchmark: Float64Array } {
  const { periodsPerYear, riskFreeRate } = backtest.options;
  const rf = (1 + riskFreeRate) ** (1 / periodsPerYear) - 1;
  return { strategy: Float64Array.from(backtest.strategy.netReturns, (r) => r - rf), benchmark: Float64Array.from(backtest.benchmark.netReturns, (r) => r - rf) };
}

/** A per-period Sharpe ratio estimate scaled to a year (p-values unchanged). */
function annualised(e: Estimate, factor: number): Estimate {
  return { ...e, estimate: e.estimate * factor, standardError: e.standardError * factor, interval: [e.interval[0] * factor, e.interval[1] * factor] };
}

/** Mean over periods of the signed sum of weights (long minus short) of a weights matrix, periods × symbols. */
function averageNetExposure(weights: Float64Array, symbols: number): number {
  const periods = symbols > 0 ? weights.length / symbols : 0;
  if (periods === 0) return 0;
  let sum = 0;
  for (const w of weights) sum += w;
  return sum / periods;
}

/** How a model's scores vary over time, per symbol. */
export interface ScoreVariation {
  /** Symbols with at least 2 scores. */
  scoredSymbols: number;
  /** Of those, symbols whose score is the same on every day. */
  constantSymbols: number;
  /** constantSymbols / scoredSymbols; 0 when there are none. */
  constantSymbolShare: number;
}

/** Per symbol, whether its (non-NaN) scores ever change over the period. */
export function scoreVariationOf(symbolOfRow: Int32Array, score: Float64Array): ScoreVariation {
  const first = new Map<number, number>();
  const count = new Map<number, number>();
  const varies = new Set<number>();
  for (let i = 0; i < symbolOfRow.length; i++) {
    const v = score[i];
    if (Number.isNaN(v)) continue;
    const s = symbolOfRow[i];
    const f = first.get(s);
    if (f === undefined) first.set(s, v);
    else if (f !== v) varies.add(s);
    count.set(s, (count.get(s) ?? 0) + 1);
  }
  let scoredSymbols = 0;
  let constantSymbols = 0;
  for (const [s, n] of count) {
    if (n < 2) continue;
    scoredSymbols++;
    if (!varies.has(s)) constantSymbols++;
  }
  return { scoredSymbols, constantSymbols, constantSymbolShare: scoredSymbols > 0 ? constantSymbols / scoredSymbols : 0 };
}

/**
 * Scores the backtest cannot use, judged by what the backtest does with them. With top-k the
 * strategy ranks symbols each day: scores equal for every symbol on many days, or a tie at the cut on
 * many days, leave the portfolio to the seeded draw, not the model. Without top-k it trades each
 * score's level against the threshold (long/flat or long/short by side), so a score shared by every
 * symbol on a day (a market-timing model) is a legitimate signal; there the scores are degenerate
 * only when they do not move in time: a symbol whose score never changes over the period holds one
 * position throughout, which is buy-and-hold (or nothing), not the model.
 */
export function degenerateScores(ties: EvaluationReport['backtest']['scoreTies'], limits: DegenerateScoreLimits, topK: boolean, variation: ScoreVariation): GuardVerdict {
  const problems: string[] = [];
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const maxConstantSymbols = limits.maxConstantSymbols ?? limits.maxConstantDays;
  if (topK) {
    if (ties.constantShare > limits.maxConstantDays) problems.push(`every symbol got the same score on ${ties.constantDays} of ${ties.scoredDays} days (${pct(ties.constantShare)}, limit ${(limits.maxConstantDays * 100).toFixed(0)}%)`);
    if (ties.tiedCutShare > limits.maxTiedCutDays) problems.push(`a tie decided who was in the top k on ${ties.tiedCutDays} of ${ties.scoredDays} days (${pct(ties.tiedCutShare)}, limit ${(limits.maxTiedCutDays * 100).toFixed(0)}%)`);
  } else if (variation.constantSymbolShare > maxConstantSymbols) {
    problems.push(`the score never changed over the period for ${variation.constantSymbols} of ${variation.scoredSymbols} symbols (${pct(variation.constantSymbolShare)}, limit ${(maxConstantSymbols * 100).toFixed(0)}%), so the strategy holds a fixed position in them`);
  }
  if (problems.length > 0) {
    const consequence = topK ? 'the backtest then reflects a random draw, not the model' : 'the backtest then reflects a fixed allocation, not the model';
    return { guard: 'degenerate_scores', tripped: true, message: `degenerate scores: ${problems.join('; ')}; ${consequence}` };
  }
  return topK
    ? { guard: 'degenerate_scores', tripped: false, message: `scores rank symbols: ${pct(ties.constantShare)} constant days, ${pct(ties.tiedCutShare)} of days with a tie at the top-k cut, ${(ties.meanDistinctShare * 100).toFixed(0)}% distinct scores per day` }
    : { guard: 'degenerate_scores', tripped: false, message: `scores move in time: ${variation.constantSymbols} of ${variation.scoredSymbols} symbols have a score that never changes; without top-k each score's level is traded, so the ${pct(ties.constantShare)} of days with one score for every symbol (market timing) are no defect` };
}

/** Prices of the evaluation period per symbol, with each row's P(up) as the score on its decision day. */
/**
 * The return a trader could earn on each row's signal over its label's window (tradableReturn): bought
 * at the open after the decision day (its features use that day's close), sold at the close of the
 * label's last day, as the label itself (label code version 3); NaN where either price is not stored.
 * Reports before 5 December 2026 measured the close-to-close return from the close that made the features, which no order can fill, and credited
 * a score with the overnight gap it cannot trade (S&P 500 2013–2018, 5-day horizon, 1-day reversal:
 * mean daily IC 0.0107 close to close, 0.0027 from the next open, 0.0435 with the gap alone).
 */
export function tradableForwardReturns(ds: Pick<TrainingDataset, 'days' | 'symbols' | 'symbol' | 'start' | 'end'>, rows: Int32Array, series: readonly BarSeries[]): Float64Array {
  const bySymbol = new Map(series.map((s) => [s.symbol, { prices: s, index: new Map(s.dates.map((d, i) => [d, i])) }]));
  return Float64Array.from(rows, (r) => {
    const s = bySymbol.get(ds.symbols[ds.symbol[r]]);
    const i = s?.index.get(ds.days[ds.start[r]]);
    const j = ds.end[r] >= 0 ? s?.index.get(ds.days[ds.end[r]]) : undefined;
    if (s === undefined || i === undefined || j === undefined) return NaN;
    return tradableReturn(s.prices, i, j);
  });
}

export function backtestInputOf(ds: TrainingDataset, predictions: WalkForwardPredictions, series: readonly BarSeries[]): BacktestInput {
  const { rows, proba, classes } = predictions;
  const firstDay = ds.start[rows[0]];
  const lastDay = ds.start[rows[rows.length - 1]];
  // One more day of prices after the last decision: its trades execute at the next open.
  const dates = ds.days.slice(firstDay, Math.min(ds.days.length, lastDay + 3));
  const dateIndex = new Map(dates.map((d, i) => [d, i]));
  const bySymbol = new Map(series.map((s) => [s.symbol, s]));
  const symbols = ds.symbols.map((symbol) => symbolColumnOn(symbol, bySymbol.get(symbol), dateIndex, dates.length));
  rows.forEach((r, i) => {
    const at = ds.start[r] - firstDay;
    symbols[ds.symbol[r]].score[at] = proba[i * classes + classes - 1];
  });
  // A series that ends inside the period (a delisting) has no rows for its last days: their labels
  // would need bars that never came. Scoring them NaN would sell the position days before the end,
  // knowing it comes; the last score stands instead until the last bar, as a live model would have
  // had no reason to change its mind.
  const lastDecision = lastDay - firstDay;
  const dataEnd = ds.days[ds.days.length - 1];
  for (const { symbol, open, close, score } of symbols) {
    const seriesEnd = bySymbol.get(symbol)?.dates.at(-1);
    if (seriesEnd === undefined || seriesEnd >= dataEnd) continue; // trades to the end of the data: its last rows lack labels like everyone's
    let lastBar = -1;
    let lastScored = -1;
    for (let d = 0; d <= lastDecision; d++) {
      if (Number.isFinite(open[d]) || Number.isFinite(close[d])) lastBar = d;
      if (!Number.isNaN(score[d])) lastScored = d;
    }
    if (lastScored < 0) continue;
    for (let d = lastScored + 1; d <= lastBar; d++) score[d] = score[lastScored];
  }
  // So does a day inside a series that has a bar but no row: its label's horizon crosses a session
  // missing from the bars (a halt, a rejected bar), which is known only when that session comes.
  // Scored NaN, the position was sold up to h days ahead of the gap, and kept out of the move over it.
  for (const { open, close, score } of symbols) {
    let last = NaN;
    for (let d = 0; d <= lastDecision; d++) {
      if (!Number.isNaN(score[d])) last = score[d];
      else if (!Number.isNaN(last) && (Number.isFinite(open[d]) || Number.isFinite(close[d]))) score[d] = last;
    }
  }
  return { dates, symbols };
}
