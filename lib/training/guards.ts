/**
 * What a guard reports, and the plausibility bound per label kind that the model's scores and each
 * single feature are held to. Kept free of model code so configs and the CLI can read it cheaply;
 * the guards themselves live in leakage-guards.ts, point-in-time-audit.ts and evaluation-report.ts.
 */
import type { LabelSpec } from '../labels/labels';

export type GuardName = 'point_in_time_audit' | 'single_feature_scan' | 'plausibility_bound' | 'shuffled_label' | 'degenerate_scores' | 'survivorship' | 'unadjusted_splits';

/** One guard's verdict: a tripped guard vetoes promotion (or fails the run, as the experiment says); `survivorship` and `unadjusted_splits` are notes and never trip. */
export interface GuardVerdict {
  guard: GuardName;
  tripped: boolean;
  message: string;
}

/** Guards that only note something beside the numbers (lib/training/survivorship.ts, splitsNote in lib/training/dataset.ts): they never trip. */
const NOTE_GUARDS: ReadonlySet<string> = new Set<GuardName>(['survivorship', 'unadjusted_splits']);

/** How a verdict reads in summaries and reports. */
export function verdictWord(g: { guard: string; tripped: boolean }): 'TRIPPED' | 'passed' | 'noted' {
  return g.tripped ? 'TRIPPED' : NOTE_GUARDS.has(g.guard) ? 'noted' : 'passed';
}

/**
 * What is credible out of sample for one label kind: the AUC may exceed neither `maxAuc` nor the
 * strongest naive baseline's AUC by more than `maxAucAboveBaseline`, and accuracy may not exceed
 * `maxAccuracy`.
 */
export interface PlausibilityBound {
  maxAuc: number;
  maxAucAboveBaseline: number;
  maxAccuracy: number;
}

/**
 * Defaults per label kind. Direction: published out-of-sample daily and weekly hit rates on large
 * US stocks are 51–54% (Krauss, Do & Huck 2017; Fischer & Krauss 2018), monthly R² under 1% (Gu,
 * Kelly & Xiu 2020), so an AUC above 0.60 or a hit rate above 65% means a leak far more often than
 * skill. Triple barrier labels are a path-dependent sign of the same returns: bounds a little wider.
 * Volatility regime: volatility clusters (Corsi 2009's HAR model explains much of tomorrow's
 * volatility from today's), so persistence alone scores an AUC near 0.75; a model may add to that,
 * but not 0.12 of AUC, and nothing real reaches 0.95.
 */
export const DEFAULT_PLAUSIBILITY: Readonly<Record<LabelSpec['kind'], PlausibilityBound>> = {
  direction: { maxAuc: 0.6, maxAucAboveBaseline: 0.08, maxAccuracy: 0.65 },
  triple_barrier: { maxAuc: 0.62, maxAucAboveBaseline: 0.1, maxAccuracy: 0.66 },
  volatility_regime: { maxAuc: 0.95, maxAucAboveBaseline: 0.12, maxAccuracy: 0.9 },
};

/** The AUC above which a score is implausible, given the strongest naive baseline's AUC. */
export function aucCeiling(bound: PlausibilityBound, baselineAuc: number): number {
  return Math.min(bound.maxAuc, (Number.isFinite(baselineAuc) ? Math.max(0.5, baselineAuc) : 0.5) + bound.maxAucAboveBaseline);
}

/**
 * The accuracy above which a hit rate is implausible: `maxAccuracy` is set for balanced classes
 * (chance 0.5), so with the strongest naive baseline (e.g. the majority class) higher, the same
 * margin above that baseline; an honest model no better than a 71% majority class is no leak.
 */
export function accuracyCeiling(bound: PlausibilityBound, baselineAccuracy: number): number {
  return Number.isFinite(baselineAccuracy) ? Math.max(bound.maxAccuracy, baselineAccuracy + (bound.maxAccuracy - 0.5)) : bound.maxAccuracy;
}

/**
 * Clusters a clustering needs before a guard relies on its interval (ClusterOptions.minClusters).
 * A cluster-robust variance from G clusters has about G − 1 degrees of freedom, and the interval
 * uses Student's t on them: the 97.5% quantile is 12.7 at G = 2, 4.30 at 3, 3.18 at 4, then 2.78 at
 * 5 and 2.26 at 10 (1.96 normal). Below 5 the interval is 1.6 to 6.5 times as wide as the normal's
 * and rests on a variance with at most 3 degrees of freedom, so a guard comparing its lower end
 * with a ceiling could hardly trip: on 2 symbols a look-ahead model scoring AUC 0.68 passed 83% of
 * seeded runs (test/unit/training/guard-few-symbols.test.ts). Such a clustering is left out of the
 * guard's interval, as one cluster already was; the other clustering decides alone, and with none
 * left the guard judges the estimate (lowerOrEstimate). From 5 on the
 * clustering is kept: a symbol clustering of 8 stocks with drifts of their own still keeps a
 * two-way test near its size where blocks of days alone reject 30% of the time
 * (test/unit/stats/dependent-inference.test.ts). Reports keep every clustering with 2 or more
 * clusters: a wide interval is the cautious side for evidence of skill, the wrong one for a leak.
 */
export const GUARD_MIN_CLUSTERS = 5;

/**
 * The same for the symbol clustering of a panel: below 20 symbol clusters the guards judge on the
 * days alone. With 5 symbols (Student t on 4 degrees of freedom, 2.78) a look-ahead model with AUC
 * 0.65 on real S&P 500 bars passed the plausibility bound in 27 of 100 runs and was promoted; 6
 * symbols 4 of 50 (test/unit/training/guard-few-symbols.test.ts measures 5, 6 and 10).
 */
export const GUARD_MIN_SYMBOL_CLUSTERS = 20;

/**
 * The lower end of an interval, or, where none could be computed (too few clusters), the estimate
 * itself: a bound compared with NaN is never exceeded, which had let a copy of the label through.
 */
export function lowerOrEstimate(lower: number, estimate: number, format: (x: number) => string = (x) => x.toFixed(4)): { value: number; what: string } {
  return Number.isNaN(lower) ? { value: estimate, what: 'no interval: too few independent clusters; judged on the estimate' } : { value: lower, what: `95% lower bound ${format(lower)}` };
}

/**
 * The upper end of an interval, or the estimate where none could be computed; when only the lower
 * end is known, its mirror about the estimate (the guards' intervals are symmetric Student t ones).
 */
export function upperOrEstimate(upper: number | undefined, lower: number, estimate: number, format: (x: number) => string = (x) => x.toFixed(4)): { value: number; what: string } {
  const value = upper ?? 2 * estimate - lower;
  return Number.isNaN(value) ? { value: estimate, what: 'no interval: too few independent clusters; judged on the estimate' } : { value, what: `95% upper bound ${format(value)}` };
}

/**
 * The model's out-of-sample AUC and accuracy against the bound, on both sides: an AUC far below 0.5
 * ranks the future as well as one far above it with the sign flipped (the single-feature scan
 * orients each feature by max(AUC, 1 − AUC) for the same reason), and a binary model's accuracy
 * far below its baseline is a flipped model's far above it (1 − accuracy). So an AUC whose upper
 * end is below 1 − the ceiling, or an accuracy whose upper end is below 1 − its ceiling, trips as
 * a sign-flipped leak. Judged on the ends of their day-aware 95% intervals, so that a short
 * evaluation period (few independent days) cannot trip the guard by luck, while a real leak (AUC
 * near 1, or near 0, on thousands of rows) always does.
 */
export function plausibilityBound(
  kind: LabelSpec['kind'],
  bound: PlausibilityBound,
  scores: {
    auc: number;
    aucLower: number;
    /** Upper ends of the same intervals; when absent, the mirror of the lower end about the estimate. */
    aucUpper?: number;
    accuracy: number;
    accuracyLower: number;
    accuracyUpper?: number;
    baselineAuc: number;
    baselineName: string;
    baselineAccuracy?: number;
    accuracyBaselineName?: string;
    /**
     * The within-day AUC (mean of the daily AUCs across symbols) with its lower bound, beside the
     * fair baseline with the best one: held to the same ceiling. A score that ranks each day's stocks
     * by a leak but whose level wanders from day to day has a pooled AUC near 0.5.
     */
    withinDay?: { auc: number; lower: number; upper?: number; baselineAuc: number; baselineName: string };
  },
): GuardVerdict {
  const ceiling = aucCeiling(bound, scores.baselineAuc);
  const hitCeiling = accuracyCeiling(bound, scores.baselineAccuracy ?? NaN);
  const auc = lowerOrEstimate(scores.aucLower, scores.auc);
  const accuracy = lowerOrEstimate(scores.accuracyLower, scores.accuracy, (x) => `${(x * 100).toFixed(1)}%`);
  const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
  const aucHigh = upperOrEstimate(scores.aucUpper, scores.aucLower, scores.auc);
  const accuracyHigh = upperOrEstimate(scores.accuracyUpper, scores.accuracyLower, scores.accuracy, percent);
  const problems: string[] = [];
  let flipped = false;
  const flip = (text: string) => {
    flipped = true;
    problems.push(`${text}: a sign-flipped leak (the score reversed would be as far above it)`);
  };
  if (auc.value > ceiling) problems.push(`out-of-sample AUC ${scores.auc.toFixed(4)} (${auc.what}) is above the ceiling ${ceiling.toFixed(3)} for ${kind} labels (at most ${bound.maxAuc}, and at most ${bound.maxAucAboveBaseline} above ${scores.baselineName}'s ${scores.baselineAuc.toFixed(4)})`);
  else if (aucHigh.value < 1 - ceiling) flip(`out-of-sample AUC ${scores.auc.toFixed(4)} (${aucHigh.what}) is below the floor ${(1 - ceiling).toFixed(3)} for ${kind} labels (1 − the ceiling ${ceiling.toFixed(3)})`);
  const wd = scores.withinDay;
  const withinDayCeiling = wd ? aucCeiling(bound, wd.baselineAuc) : NaN;
  if (wd && Number.isFinite(wd.auc)) {
    const within = lowerOrEstimate(wd.lower, wd.auc);
    const withinHigh = upperOrEstimate(wd.upper, wd.lower, wd.auc);
    if (within.value > withinDayCeiling) problems.push(`out-of-sample within-day AUC ${wd.auc.toFixed(4)} (${within.what}) is above the ceiling ${withinDayCeiling.toFixed(3)} for ${kind} labels (at most ${bound.maxAuc}, and at most ${bound.maxAucAboveBaseline} above ${wd.baselineName}'s ${wd.baselineAuc.toFixed(4)})`);
    else if (withinHigh.value < 1 - withinDayCeiling) flip(`out-of-sample within-day AUC ${wd.auc.toFixed(4)} (${withinHigh.what}) is below the floor ${(1 - withinDayCeiling).toFixed(3)} for ${kind} labels (1 − the ceiling ${withinDayCeiling.toFixed(3)})`);
  }
  if (accuracy.value > hitCeiling) {
    const above = hitCeiling > bound.maxAccuracy ? `, ${(bound.maxAccuracy - 0.5).toFixed(2)} above ${scores.accuracyBaselineName ?? 'the strongest baseline'}'s ${((scores.baselineAccuracy ?? NaN) * 100).toFixed(1)}%` : '';
    problems.push(`out-of-sample accuracy ${percent(scores.accuracy)} (${accuracy.what}) is above the bound of ${percent(hitCeiling)} for ${kind} labels${above}`);
  } else if (accuracyHigh.value < 1 - hitCeiling) {
    flip(`out-of-sample accuracy ${percent(scores.accuracy)} (${accuracyHigh.what}) is below the floor of ${percent(1 - hitCeiling)} for ${kind} labels (1 − the bound ${percent(hitCeiling)})`);
  }
  return problems.length > 0
    ? { guard: 'plausibility_bound', tripped: true, message: `${problems.join('; ')}: too ${flipped ? 'far from chance' : 'good'} to be true, look for a feature that sees the future` }
    : { guard: 'plausibility_bound', tripped: false, message: `AUC ${scores.auc.toFixed(4)}${wd && Number.isFinite(wd.auc) ? `, within-day AUC ${wd.auc.toFixed(4)} (ceiling ${withinDayCeiling.toFixed(3)}, floor ${(1 - withinDayCeiling).toFixed(3)})` : ''} and accuracy ${percent(scores.accuracy)} are within the plausible range for ${kind} labels (AUC ceiling ${ceiling.toFixed(3)}, AUC floor ${(1 - ceiling).toFixed(3)}${hitCeiling > bound.maxAccuracy ? `, accuracy bound ${percent(hitCeiling)} above ${scores.accuracyBaselineName ?? 'the strongest baseline'}` : ''}, accuracy floor ${percent(1 - hitCeiling)}, judged on 95% interval ends)` };
}
