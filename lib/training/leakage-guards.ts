/**
 * Guards against models that see the future, each reported by name with its evidence:
 *   - the point-in-time audit (point-in-time-audit.ts) recomputes sampled feature rows from the bars
 *     up to their date only: it catches look-ahead however it got into the feature computation, but
 *     not look-ahead inside the stored bars (it recomputes from the same bars; the quality gate's
 *     next_session_leak is what sees bars carrying the next session's prices);
 *   - the single-feature scan: any single feature that predicts the label implausibly well on its
 *     own (a copy of the label, a forward return) is named as a suspected leak;
 *   - the plausibility bound: an out-of-sample AUC or accuracy beyond what is credible for the label
 *     kind, or too far above the strongest naive baseline, is an alarm, not a success;
 *   - the shuffled-label control: the same algorithm, parameters and CV on labels permuted within
 *     each symbol must score at chance. What it can catch is narrow: a route by which the *labels
 *     themselves* reach the features or the evaluation (a target-derived column built from the label
 *     array, a split that lets test rows into training). A feature computed from future prices is
 *     not caught, because permuting the labels also breaks that feature's link to them.
 */
import { rng } from '../random';
import type { LabelSpec } from '../labels/labels';
import { aucCeiling, GUARD_MIN_CLUSTERS, GUARD_MIN_SYMBOL_CLUSTERS, lowerOrEstimate, type GuardVerdict, type PlausibilityBound } from './guards';
import { binaryAucOf } from '../stats/binary-scores';
import { clusteredAuc, type PanelDependence } from '../stats/dependent-inference';
import { describeMergedSymbols, nearDuplicateSymbolGroups, symbolClustersOf } from '../stats/symbol-clusters';
import type { TrainingDataset } from './dataset';
import { crossValidate, trialResultOf, type FoldResult, type TrialRequest } from './trial';
import { yieldToEventLoop } from '../event-loop';

/**
 * Labels permuted across all rows, seeded. Across symbols, not within each: a within-symbol
 * permutation keeps each symbol's up-rate, and a model that recognises symbols from their features
 * then scores above chance on "shuffled" labels without any leak.
 */
export function permutedLabels(labels: Int32Array, seed: number): Int32Array {
  const out = labels.slice();
  const random = rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = out[i];
    out[i] = out[j];
    out[j] = a;
  }
  return out;
}

export interface ShuffledLabelResult {
  auc: number;
  /** The band around 0.5 counted as chance: the configured tolerance, or three null standard errors if wider. */
  tolerance: number;
  passed: boolean;
  message: string;
}

/**
 * Standard error of a mean fold AUC under "no signal". Each fold's AUC has Hanley & McNeil's (1982)
 * null variance (M + N + 1) / (12·M·N), M and N the fold's positive and negative test rows (with a
 * rare class several times that of balanced classes, and a band made for those tripped on noise):
 * permuted labels are exchangeable, whatever the features. The folds' AUCs are not independent,
 * though: fold A's model learns from fold B's permuted labels and fold B's from A's, so the chance
 * agreement between A's labels and B's (through the features) lifts or lowers both. To first order in
 * the training labels each such cross term enters exactly two folds' AUCs, which at most doubles the
 * variance of their mean: 2·Σ v_f / k² for k > 1 folds. Measured on the small synthetic experiment
 * (1,530 rows, 3 folds, logistic regression, 60 permutations): the mean's SD was 1.23× the
 * independent-folds value, within the doubled variance's 1.41×; with the independent value the 3-SE
 * band tripped on honest runs. Fold results recorded without their positives count as balanced.
 */
export function nullAucStandardError(folds: ReadonlyArray<{ testRows: number; testPositives?: number }>): number {
  const variances = folds.map((f) => {
    const m = Math.max(1, f.testPositives ?? f.testRows / 2);
    const n = Math.max(1, f.testRows - (f.testPositives ?? f.testRows / 2));
    return (m + n + 1) / (12 * m * n);
  });
  const coupling = folds.length > 1 ? 2 : 1;
  return Math.sqrt(coupling * variances.reduce((a, b) => a + b, 0)) / folds.length;
}

export async function shuffledLabelControl(ds: TrainingDataset, assemble: (labels: Int32Array) => TrainingDataset, request: TrialRequest, tolerance: number): Promise<ShuffledLabelResult> {
  const { folds } = await crossValidate(assemble(shuffledLabelsOf(ds, request)), request);
  return shuffledLabelVerdict(request, folds, tolerance);
}

/** The labels the shuffled-label control trains and scores on: the dataset's, permuted with a seed of the request. */
export function shuffledLabelsOf(ds: Pick<TrainingDataset, 'labels'>, request: Pick<TrialRequest, 'seed'>): Int32Array {
  return permutedLabels(ds.labels, request.seed + 7919);
}

/** The control's verdict from its cross-validation folds (however they were run). */
export function shuffledLabelVerdict(request: Pick<TrialRequest, 'algorithm'>, foldResults: readonly FoldResult[], tolerance: number): ShuffledLabelResult {
  const { score, folds } = trialResultOf(foldResults);
  // On a small dataset chance itself wanders further than a fixed tolerance.
  const band = Math.max(tolerance, 3 * nullAucStandardError(folds));
  const passed = Math.abs(score - 0.5) <= band;
  return {
    auc: score,
    tolerance: band,
    passed,
    message: passed
      ? `on permuted labels ${request.algorithm} scores AUC ${score.toFixed(3)}, at chance (0.5 ± ${band.toFixed(3)})`
      : `on permuted labels ${request.algorithm} still scores AUC ${score.toFixed(3)} (chance is 0.5 ± ${band.toFixed(3)}): labels reach the features or the evaluation (fails as leaking)`,
  };
}

/** AUC of a raw value against binary labels (Mann–Whitney, ties half); rows with NaN are left out. */
export function singleValueAuc(values: Float64Array, labels: Int32Array): number {
  const keep: number[] = [];
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i])) keep.push(i);
  return binaryAucOf(Float64Array.from(keep, (i) => values[i]), Int32Array.from(keep, (i) => labels[i]));
}

export interface SingleFeatureScan {
  verdict: GuardVerdict;
  /** Every feature's AUC alone, oriented (max(AUC, 1 − AUC)), with the lower end of its day-aware 95% interval; highest first. */
  features: Array<{ feature: string; auc: number; lower: number }>;
  ceiling: number;
}

/**
 * Each feature alone against the label on the evaluation rows: no model, no fitting, so a feature
 * that separates the classes beyond the plausibility ceiling carries the answer (a label copy, a
 * forward return) and is named as a suspected leak. A feature is suspect only when the lower end of
 * its interval (dependent by symbol and within `lags` days: lib/stats/dependent-inference.ts) is above the ceiling, so a noise feature on a short period (a few
 * dozen independent weeks) is not; a leak on any real period is far above it. Symbols whose forward
 * returns are near duplicates (share classes, a symbol imported twice) are one symbol cluster, and a
 * clustering with too few clusters (GUARD_MIN_CLUSTERS for the days, GUARD_MIN_SYMBOL_CLUSTERS for
 * the symbols) is left out of the interval.
 */
export async function singleFeatureScan(columns: readonly string[], values: Float64Array, rows: Int32Array, ds: Pick<TrainingDataset, 'labels' | 'start' | 'symbol' | 'symbols' | 'forwardReturn'>, lags: number, kind: LabelSpec['kind'], bound: PlausibilityBound, baseline: { name: string; auc: number }): Promise<SingleFeatureScan> {
  const p = columns.length;
  const start = Int32Array.from(rows, (r) => ds.start[r]);
  const symbol = Int32Array.from(rows, (r) => ds.symbol[r]);
  const groups = nearDuplicateSymbolGroups(symbol, start, Float64Array.from(rows, (r) => ds.forwardReturn[r]));
  // Clusterings of all evaluation rows, shared by every feature without missing values.
  const all: PanelDependence = { day: start, symbol: symbolClustersOf(symbol, groups), lags };
  const labelsOf = (subset: Int32Array) => Int32Array.from(subset, (r) => ds.labels[r]);
  const allLabels = labelsOf(rows);
  function scanFeature(feature: string, c: number): { feature: string; auc: number; lower: number } {
    // The feature's values gathered by a loop, not typed-array filter/from with a callback (~100-200 ns a row in V8).
    const x = new Float64Array(rows.length);
    const defined = new Int32Array(rows.length);
    let count = 0;
    for (let i = 0; i < rows.length; i++) {
      const v = values[rows[i] * p + c];
      if (Number.isNaN(v)) continue;
      x[count] = v;
      defined[count++] = rows[i];
    }
    if (count === 0) return { feature, auc: NaN, lower: NaN };
    const complete = count === rows.length;
    const kept = defined.subarray(0, count);
    const clusters: PanelDependence = complete ? all : { day: Int32Array.from(kept, (r) => ds.start[r]), symbol: symbolClustersOf(Int32Array.from(kept, (r) => ds.symbol[r]), groups), lags };
    const e = clusteredAuc(x.subarray(0, count), complete ? allLabels : labelsOf(kept), clusters, { minClusters: GUARD_MIN_CLUSTERS, minSymbolClusters: GUARD_MIN_SYMBOL_CLUSTERS, symbolsAloneOverFewDays: true });
    // Either direction counts: a feature equal to minus the label is as much a leak.
    return e.estimate >= 0.5 ? { feature, auc: e.estimate, lower: e.interval[0] } : { feature, auc: 1 - e.estimate, lower: 1 - e.interval[1] };
  }
  const features: Array<{ feature: string; auc: number; lower: number }> = [];
  for (let c = 0; c < p; c++) {
    // A feature at a time (~0.1 s each on the full universe): the worker's other activities start meanwhile.
    if (c > 0) await yieldToEventLoop();
    features.push(scanFeature(columns[c], c));
  }
  features.sort((a, b) => (Number.isNaN(a.auc) ? 1 : Number.isNaN(b.auc) ? -1 : b.auc - a.auc));
  const ceiling = aucCeiling(bound, baseline.auc);
  // A feature whose interval could not be computed (too few clusters) is judged on its AUC.
  const suspects = features.filter((f) => lowerOrEstimate(f.lower, f.auc).value > ceiling);
  const merged = groups.merged.length > 0 ? `; near-duplicate symbols clustered as one: ${describeMergedSymbols(groups, ds.symbols)}` : '';
  const verdict: GuardVerdict = suspects.length > 0
    ? { guard: 'single_feature_scan', tripped: true, message: `suspected leak: ${suspects.slice(0, 5).map((f) => `${f.feature} alone scores AUC ${f.auc.toFixed(4)} (${lowerOrEstimate(f.lower, f.auc).what})`).join(', ')}${suspects.length > 5 ? ` and ${suspects.length - 5} more` : ''}, above the ceiling ${ceiling.toFixed(3)} for ${kind} labels (${baseline.name} scores ${baseline.auc.toFixed(4)})${merged}` }
    : { guard: 'single_feature_scan', tripped: false, message: `no single feature is implausibly predictive (best: ${features[0]?.feature ?? '-'} at AUC ${features[0]?.auc.toFixed(4) ?? '-'}, ceiling ${ceiling.toFixed(3)} on 95% lower bounds)${merged}` };
  return { verdict, features, ceiling };
}
