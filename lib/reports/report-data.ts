/**
 * The numbers of a run report, assembled from what a registered version stores (params, metrics,
 * lineage) and, when its files are still under ARTIFACT_DIR, from the walk-forward predictions
 * recomputed against the dataset and bars (equity, monthly figures, IC by day, ROC, calibration,
 * importance). Pure: no store, no files, no Temporal; lib/reports/version-report.ts does the I/O.
 *
 * Every section is either recorded or says why not ("not recorded for this version"), so versions
 * registered before a piece of data was stored still get a report.
 */
import { z } from 'zod';
import { backtestOf } from '../backtest/backtest';
import { backtestOptionsSchema, type BacktestOptionsInput } from '../backtest/input';
import type { PerformanceMetrics } from '../backtest/performance';
import { MIN_ANNUALISED_PERIODS } from '../backtest/short-sample';
import type { BarSeries } from '../market-data/bar';
import { rng } from '../random';
import { sortWithIndex } from '../sorted';
import type { AliasHistoryEntry, ModelVersion } from '../registry/model-registry';
import { accuracyComparisonsOf, NO_INFORMATION_BASELINE, pValueText, type AccuracyComparison, type PromotionDecision } from '../registry/promotion';
import { binaryAucOf } from '../stats/binary-scores';
import type { TrainingDataset } from '../training/dataset';
import { backtestInputOf, periodRivalsOf } from '../training/evaluation-report';
import type { GuardVerdict } from '../training/guards';
import { guardsSchema } from '../experiments/experiment';
import { relaxedGuardsOf } from '../experiments/relaxed-guards';
import { datasetRows } from '../training/trial';
import { thinRows } from '../training/thin-rows';
import type { WalkForwardPredictions } from '../training/walk-forward';
import { baselineAccuracyOf, strongestBaseline } from '../validation/baselines';
import { classificationReportOf, informationCoefficient, predictedClassesOf } from '../validation/metrics';
import type { FeatureMatrix, TrainedModel } from '../../models/model';

export const NOT_RECORDED = 'not recorded for this version';

export type Section<T> = { recorded: true; data: T } | { recorded: false; reason: string };

const recorded = <T>(data: T): Section<T> => ({ recorded: true, data });
const missing = <T>(reason: string): Section<T> => ({ recorded: false, reason });

export interface HeadlineRow {
  metric: string;
  model: number;
  /** The strongest naive baseline (or buy-and-hold for strategy figures) on the same rows or days. */
  baseline: number;
  baselineName: string;
  note?: string;
}

export interface EquitySection {
  dates: string[];
  strategy: number[];
  buyAndHold: number[];
  /** equity / running peak − 1 (≤ 0). */
  strategyDrawdown: number[];
  buyAndHoldDrawdown: number[];
  sharpe: { strategy: number; buyAndHold: number };
  maxDrawdown: { strategy: number; buyAndHold: number };
  totalReturn: { strategy: number; buyAndHold: number };
}

export interface MonthlyReturn {
  month: string;
  strategy: number;
  buyAndHold: number;
}

export interface IcSection {
  dates: string[];
  ic: number[];
  rolling: number[];
  window: number;
  mean: number;
  baseline: { name: string; mean: number };
}

export interface MonthlyAccuracy {
  month: string;
  rows: number;
  accuracy: number;
  baselineAccuracy: number;
  auc: number;
  baselineAuc: number;
}

export interface CurvePoint {
  x: number;
  y: number;
}

export interface RocSection {
  model: { auc: number; points: CurvePoint[] };
  baseline: { name: string; auc: number; points: CurvePoint[] };
}

export interface CalibrationBin {
  from: number;
  to: number;
  count: number;
  meanPredicted: number;
  observed: number;
}

export interface ImportanceSection {
  method: 'gain' | 'permutation';
  note: string;
  features: Array<{ name: string; value: number }>;
}

export interface TrialPoint {
  trial: number;
  score: number;
  bestSoFar: number;
  seconds: number;
  error?: string;
}

export interface GuardRow {
  guard: string;
  tripped: boolean;
  message: string;
  /** Which step judged it: the dataset, the predictions, or the shuffled-label refit. */
  source: string;
  /** A guard the experiment switched off or loosened (lib/experiments/relaxed-guards.ts): shown instead of passed. */
  verdict?: 'NOT RUN' | 'LOOSENED';
}

export interface PromotionSection {
  promote: boolean;
  reason: string;
  source: string;
  aliases: string[];
  history: AliasHistoryEntry[];
}

/** The backtest figures of the headline, each beside buy-and-hold's. */
const HEADLINE_PERFORMANCE = [
  ['sharpe', 'Sharpe ratio (net)'],
  ['cagr', 'CAGR (net, compound annual growth)'],
  ['maxDrawdown', 'max drawdown'],
] as const satisfies ReadonlyArray<readonly [keyof PerformanceMetrics, string]>;

/**
 * What the report could check of the registry row it was built from (lib/reports/version-report.ts
 * loadReportInputs fills it): whether a signing key is configured, and why the row or the report
 * record (the promotion decision and guard verdicts recorded after registration) fail their signatures.
 */
export interface ReportIntegrity {
  /** The id of the configured MODEL_SIGNING_KEY (lib/registry/row-signature.ts signingKeyId); undefined: no key, nothing is signed. */
  keyId?: string;
  /** Why the registry row fails verification under the key: nothing it names is read or shown, and the report is not recorded. */
  rowProblem?: string;
  /** The id of the previous key (MODEL_SIGNING_PREVIOUS_KEYS) whose signature vouches for the row: re-signing with the current key is pending. */
  rowPreviousKeyId?: string;
  /** Why the promotion decision and guard verdicts recorded with the version are not vouched for: they are not shown. */
  recordProblem?: string;
}

/** The report's verdict on its own inputs, shown at its top. */
export interface ReportIntegrityVerdict {
  /** verified: signed and valid; unsigned: no key is configured; refused: a signature fails; unchecked: built without the check. */
  status: 'verified' | 'unsigned' | 'refused' | 'unchecked';
  messages: string[];
}

export interface RunReport {
  title: string;
  generatedAt: string;
  /** The version the report is of (name, version and artifact sha256 are also in the HTML's head, checked whenever a stored report is read). */
  model: { name: string; version: number; artifactSha256: string; algorithm: string; aliases: string[]; createdAt: string; featureSetVersion: string; label: Record<string, unknown>; params: Record<string, unknown>; period?: { from: string; to: string; days: number; rows: number } };
  integrity: ReportIntegrityVerdict;
  headline: Section<HeadlineRow[]>;
  equity: Section<EquitySection>;
  monthlyReturns: Section<MonthlyReturn[]>;
  ic: Section<IcSection>;
  monthlyAccuracy: Section<{ baselineName: string; aucBaselineName: string; months: MonthlyAccuracy[] }>;
  roc: Section<RocSection>;
  /** `baselines`: constant forecasts' Brier scores on the same rows (absent in reports made before them). */
  calibration: Section<{ brier: number; bins: CalibrationBin[]; baselines?: Array<{ name: string; brier: number }> }>;
  confusion: Section<{ classes: string[]; counts: number[] }>;
  importance: Section<ImportanceSection>;
  trials: Section<{ metric: string; points: TrialPoint[] }>;
  guards: Section<GuardRow[]>;
  lineage: Section<Array<[string, string]>>;
  promotion: Section<PromotionSection>;
}

/** What a report is built from; everything but the version is optional. */
export interface ReportInputs {
  version: ModelVersion;
  /** Aliases pointing at the version now. */
  aliases?: string[];
  aliasHistory?: AliasHistoryEntry[];
  /** The registration's promotion decision (the run passes it; later reports read it from the lineage). */
  decision?: PromotionDecision;
  /** Verdicts of the guards that judged the dataset (point-in-time audit, single-feature scan). */
  datasetGuards?: GuardVerdict[];
  /**
   * The walk-forward predictions with their dataset and bars; absent (with the reason) when the files
   * are gone. The bars are needed only when the prediction sections are not given.
   */
  evaluation?: { dataset: TrainingDataset; predictions: WalkForwardPredictions; series?: readonly BarSeries[] };
  /** The prediction sections when they were computed already (the run's evaluation step files them). */
  sections?: PredictionSections;
  evaluationMissing?: string;
  /** The registered model, for feature importance. */
  model?: TrainedModel;
  /**
   * Its permutation importance when the caller computed it already (lib/reports/version-report.ts
   * does, on training threads): the same values permutationImportanceOf would give.
   */
  permutationImportance?: Array<{ name: string; value: number }>;
  modelMissing?: string;
  /** What the signatures say of the row and its report record; absent: not checked (the report says so). */
  integrity?: ReportIntegrity;
  now?: Date;
}

// What the report reads from the stored JSON: checked, since rows of older versions may lack any of it.
const guardSchema = z.object({ guard: z.string(), tripped: z.boolean(), message: z.string() });
const storedLift = { accuracy: z.number().nullable(), accuracyLift: z.number().nullable().optional(), liftInterval: z.array(z.number().nullable()).optional(), pValue: z.number().nullable().optional() };
const storedReportSchema = z.object({
  period: z.object({ from: z.string(), to: z.string(), days: z.number(), rows: z.number() }).optional(),
  classification: z.object({ accuracy: z.number().nullable(), rocAuc: z.number().nullable(), confusion: z.array(z.number().nullable()).optional() }),
  // The lift and its evidence are absent in versions evaluated before they were stored; noInformation in those before the no-information rate was.
  baseline: z.object({ name: z.string(), ...storedLift, naivePValue: z.number().nullable().optional(), noInformation: z.object(storedLift).optional() }),
  // interval and difference: absent in versions evaluated before they were stored.
  auc: z.object({ versus: z.string(), baselineAuc: z.number().nullable(), interval: z.array(z.number().nullable()).optional(), difference: z.object({ value: z.number().nullable(), interval: z.array(z.number().nullable()), pValue: z.number().nullable() }).optional(), withinDay: z.object({ value: z.number().nullable(), interval: z.array(z.number().nullable()), days: z.number(), versus: z.string(), baselineValue: z.number().nullable(), difference: z.object({ value: z.number().nullable(), interval: z.array(z.number().nullable()), pValue: z.number().nullable() }).optional() }).optional() }).optional(),
  informationCoefficient: z.object({ mean: z.number().nullable(), tStat: z.number().nullable().optional(), naiveTStat: z.number().nullable().optional(), baseline: z.object({ name: z.string(), tStat: z.number().nullable().optional() }).optional() }).optional(),
  backtest: z
    .object({
      strategy: z.record(z.string(), z.number().nullable()),
      buyAndHold: z.record(z.string(), z.number().nullable()),
      marketModel: z.object({ alpha: z.object({ value: z.number().nullable(), interval: z.array(z.number().nullable()), pValue: z.number().nullable() }), beta: z.object({ value: z.number().nullable() }) }).optional(),
      sharpeDifference: z.object({ versus: z.string(), difference: z.object({ pValue: z.number().nullable() }) }).optional(),
      versusNaiveStrategy: z.object({ versus: z.string(), rivalSharpe: z.number().nullable(), difference: z.object({ pValue: z.number().nullable() }) }).optional(),
    })
    .optional(),
  guards: z.array(guardSchema).optional(),
});
/** Versions registered before relaxed guards were recorded: read from the experiment in their lineage. */
function relaxedGuardsOfLineage(experiment: unknown): Array<{ guard: string; status: 'not_run' | 'loosened'; message: string }> {
  const e = z.object({ guards: guardsSchema, label: z.object({ kind: z.enum(['direction', 'triple_barrier', 'volatility_regime']) }), promotion: z.object({ alpha: z.number().optional() }).optional() }).safeParse(experiment);
  return e.success ? relaxedGuardsOf(e.data) : [];
}
const storedMetricsSchema = z.object({
  outOfSample: storedReportSchema.optional(),
  shuffledLabel: z.object({ passed: z.boolean(), message: z.string() }).optional(),
  scores: z.object({ trippedGuards: z.array(guardSchema).optional(), relaxedGuards: z.array(z.object({ guard: z.string(), status: z.enum(['not_run', 'loosened']), message: z.string() })).optional() }).optional(),
  cv: z.object({ auc: z.number().nullable() }).optional(),
});
/** NaN (a failed trial in memory) reads like the null it becomes in stored JSON. */
const nanAsNull = z.preprocess((v) => (typeof v === 'number' && Number.isNaN(v) ? null : v), z.number().nullable());
const trialSchema = z.object({ trial: z.number(), score: nanAsNull, seconds: nanAsNull.optional(), error: z.string().optional() });
const decisionSchema = z.object({ promote: z.boolean(), reason: z.string() });
const experimentSchema = z.object({ name: z.string().optional(), seed: z.number().optional(), backtest: z.unknown().optional(), search: z.object({ method: z.string().optional() }).optional(), walkForward: z.record(z.string(), z.unknown()).optional(), promotion: z.object({ metric: z.string().optional() }).optional() });

const num = (x: number | null | undefined) => (typeof x === 'number' ? x : NaN);
/** A stored figure in a note: '-' where it is undefined (null in stored JSON). */
const fixed = (x: number | null | undefined, digits = 4) => (Number.isFinite(num(x)) ? num(x).toFixed(digits) : '-');
const signedFixed = (x: number | null | undefined, digits = 4) => `${num(x) >= 0 ? '+' : ''}${fixed(x, digits)}`;

/** An accuracy comparison's baseline as the headline names it: the period's own majority class as hindsight. */
const accuracyRivalName = (c: AccuracyComparison) => (c.hindsight ? `${c.versus} (the evaluation period's own majority class, the no-information rate: known only in hindsight)` : c.versus);

/** equity[i] / max(equity[0..i]) − 1: how far below its running peak the curve is (0 at a new high). */
export function drawdownSeriesOf(equity: ArrayLike<number>): number[] {
  let peak = -Infinity;
  return Array.from(equity, (e) => {
    peak = Math.max(peak, e);
    return e / peak - 1;
  });
}

/**
 * Compounded returns per calendar month; period i runs from dates[i] to dates[i + 1] and belongs to
 * the month it ends in (so `dates` has one more entry than `returns`).
 */
export function monthlyReturnsOf(dates: readonly string[], strategy: ArrayLike<number>, benchmark: ArrayLike<number>): MonthlyReturn[] {
  const out: MonthlyReturn[] = [];
  for (let i = 0; i < strategy.length; i++) {
    const month = dates[i + 1].slice(0, 7);
    let last = out[out.length - 1];
    if (!last || last.month !== month) out.push((last = { month, strategy: 1, buyAndHold: 1 }));
    last.strategy *= 1 + strategy[i];
    last.buyAndHold *= 1 + benchmark[i];
  }
  return out.map((m) => ({ month: m.month, strategy: m.strategy - 1, buyAndHold: m.buyAndHold - 1 }));
}

/** Trailing mean over `window` values (fewer at the start). */
export function rollingMeanOf(values: readonly number[], window: number): number[] {
  let sum = 0;
  return values.map((v, i) => {
    sum += v;
    if (i >= window) sum -= values[i - window];
    return sum / Math.min(i + 1, window);
  });
}

/** ROC points (false-positive rate, true-positive rate) over distinct thresholds, at most `max`. */
export function rocCurveOf(score: ArrayLike<number>, positive: ArrayLike<boolean>, max = 200): CurvePoint[] {
  if (!Number.isInteger(max) || max < 2) throw new RangeError(`an ROC curve needs at least its two ends: max must be an integer ≥ 2, got ${max}`);
  // Finite scores, highest first (an argsort of their negatives): a point is taken only where the
  // score changes, so the order within ties does not matter.
  let finite = 0;
  for (let i = 0; i < score.length; i++) if (Number.isFinite(score[i])) finite++;
  const order = new Int32Array(finite);
  const keys = new Float64Array(finite);
  for (let i = 0, k = 0; i < score.length; i++) {
    if (!Number.isFinite(score[i])) continue;
    order[k] = i;
    keys[k++] = -score[i];
  }
  sortWithIndex(keys, order, 0, finite);
  let p = 0;
  for (let k = 0; k < finite; k++) if (positive[order[k]]) p++;
  const n = order.length - p;
  if (p === 0 || n === 0) return [];
  // The origin, then a point where each run of equal scores ends; beyond max points, max of them
  // evenly picked. Counted first, so that only the points kept are made.
  let runs = 0;
  for (let k = 0; k < finite; k++) if (k + 1 === finite || keys[k + 1] !== keys[k]) runs++;
  const total = runs + 1;
  const step = total <= max ? 1 : (total - 1) / (max - 1);
  const points: CurvePoint[] = [];
  let next = 0; // index (among all points) of the next point kept
  let at = 0;
  const point = (x: number, y: number) => {
    if (at++ !== next) return;
    points.push({ x, y });
    next = Math.round(points.length * step);
  };
  point(0, 0);
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < finite; k++) {
    if (positive[order[k]]) tp++;
    else fp++;
    if (k + 1 < finite && keys[k + 1] === keys[k]) continue;
    point(fp / n, tp / p);
  }
  return points;
}

/** Reliability of P(class) in `bins` equal-width bins: mean predicted vs observed frequency. */
/**
 * The Brier scores of constant forecasts on the same rows: a coin (0.5) and the period's own up
 * share (in hindsight, the best constant): a model's 0.2532 read as calibrated until the constant
 * scored 0.2479.
 */
function constantBriers(positive: ArrayLike<boolean>): Array<{ name: string; brier: number }> {
  const n = positive.length;
  if (n === 0) return [];
  let ups = 0;
  for (let i = 0; i < n; i++) if (positive[i]) ups++;
  const share = ups / n;
  return [
    { name: `the period's up share ${share.toFixed(3)} (constant, in hindsight)`, brier: share * (1 - share) },
    { name: 'a coin (0.5)', brier: 0.25 },
  ];
}

export function calibrationOf(probability: ArrayLike<number>, positive: ArrayLike<boolean>, bins = 10): CalibrationBin[] {
  const acc = Array.from({ length: bins }, (_, b) => ({ from: b / bins, to: (b + 1) / bins, count: 0, sumP: 0, hits: 0 }));
  for (let i = 0; i < probability.length; i++) {
    const p = probability[i];
    if (!Number.isFinite(p)) continue;
    const b = acc[Math.min(bins - 1, Math.max(0, Math.floor(p * bins)))];
    b.count++;
    b.sumP += p;
    if (positive[i]) b.hits++;
  }
  return acc.filter((b) => b.count > 0).map((b) => ({ from: b.from, to: b.to, count: b.count, meanPredicted: b.sumP / b.count, observed: b.hits / b.count }));
}

/** Best score so far per trial (failed trials keep the previous best). */
export function trialPointsOf(trials: ReadonlyArray<z.infer<typeof trialSchema>>): TrialPoint[] {
  let best = -Infinity;
  return [...trials]
    .sort((a, b) => a.trial - b.trial)
    .map((t) => {
      const score = num(t.score);
      if (Number.isFinite(score) && score > best) best = score;
      return { trial: t.trial, score, bestSoFar: Number.isFinite(best) ? best : NaN, seconds: num(t.seconds), ...(t.error ? { error: t.error } : {}) };
    });
}

interface Evaluated {
  labels: Int32Array;
  classes: number;
  score: Float64Array;
  predicted: Int32Array;
  proba: Float64Array;
  months: string[];
  dayIndex: Int32Array;
}

function evaluatedOf(ds: TrainingDataset, predictions: WalkForwardPredictions): Evaluated {
  const { rows, proba, classes } = predictions;
  return {
    labels: Int32Array.from(rows, (r) => ds.labels[r]),
    classes,
    score: Float64Array.from(rows, (_, i) => proba[i * classes + classes - 1]),
    predicted: predictedClassesOf(proba, classes),
    proba,
    months: Array.from(rows, (r) => ds.days[ds.start[r]].slice(0, 7)),
    dayIndex: Int32Array.from(rows, (r) => ds.start[r]),
  };
}

/** The rows permutation importance is measured on: at most `maxRows` of `rows`, spread over days and symbols (thinRows). */
export function permutationRowsOf(ds: TrainingDataset, rows: Int32Array, maxRows = 4000): { x: FeatureMatrix; y: Int32Array } {
  return datasetRows(ds, thinRows(ds, rows, maxRows));
}

/**
 * Permutation importance of the given columns (in that order): the drop in AUC (binary) or accuracy
 * when column j alone is shuffled (its own seeded Fisher–Yates, seed + j), so any split of the
 * columns gives the same values as one pass over all of them.
 */
export function permutationImportanceOfColumns(model: TrainedModel, x: FeatureMatrix, y: Int32Array, seed: number, columns: readonly number[]): Float64Array {
  const classes = model.classes;
  const metric = (proba: Float64Array) => {
    if (classes === 2) return binaryAucOf(Float64Array.from(y, (_, i) => proba[i * 2 + 1]), y);
    return classificationReportOf(proba, y, classes).accuracy;
  };
  const base = metric(model.predictProba(x));
  const p = x.featureNames.length;
  const out = new Float64Array(columns.length);
  /** Column j of x after its own seeded Fisher–Yates. */
  const shuffled = (j: number) => {
    const next = rng(seed + j);
    const column = Float64Array.from({ length: x.rows }, (_, i) => x.values[i * p + j]);
    for (let i = x.rows - 1; i > 0; i--) {
      const k = Math.floor(next() * (i + 1));
      const t = column[i];
      column[i] = column[k];
      column[k] = t;
    }
    return column;
  };
  if (model.predictProbaColumnSwaps) {
    // All columns in one call: the model reuses each row's work across them.
    model.predictProbaColumnSwaps(x, columns.map((j) => ({ column: j, values: shuffled(j) }))).forEach((proba, c) => (out[c] = base - metric(proba)));
    return out;
  }
  const values = new Float64Array(x.values.length);
  columns.forEach((j, c) => {
    values.set(x.values);
    const column = shuffled(j);
    for (let i = 0; i < x.rows; i++) values[i * p + j] = column[i];
    out[c] = base - metric(model.predictProba({ ...x, values }));
  });
  return out;
}

/** Permutation importance: the drop in AUC (binary) or accuracy when one column is shuffled, on at most `maxRows` rows. */
export function permutationImportanceOf(model: TrainedModel, ds: TrainingDataset, rows: Int32Array, options: { seed: number; maxRows?: number }): Array<{ name: string; value: number }> {
  const { x, y } = permutationRowsOf(ds, rows, options.maxRows);
  const values = permutationImportanceOfColumns(model, x, y, options.seed, ds.columns.map((_, j) => j));
  return ds.columns.map((name, j) => ({ name, value: values[j] }));
}

/** Whether a model's report needs permutation importance (expensive: one prediction of 4000 rows per feature) rather than split gains. */
export function usesPermutationImportance(model: TrainedModel): boolean {
  return treeGains(model) === undefined;
}

/** Tree ensembles report split gain; other models' own importances (coefficients) are not comparable, so they get permutation importance. */
const TREE_ALGORITHMS = new Set(['random_forest', 'gradient_boosting']);
function treeGains(model: TrainedModel): ReadonlyMap<string, number> | undefined {
  return TREE_ALGORITHMS.has(model.algorithm) ? model.featureImportances?.() : undefined;
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/**
 * The sections a report computes from the walk-forward predictions, the dataset and the bars (all but
 * importance, which needs the model). The evaluation step computes them beside the other algorithms'
 * training and files them (lib/reports/version-report.ts), so that the run's reports at its end only
 * read them; a report without them computes them here, with the same values.
 */
export type PredictionSections = Pick<RunReport, 'equity' | 'monthlyReturns' | 'ic' | 'monthlyAccuracy' | 'roc' | 'calibration' | 'confusion'> & {
  /** The headline recomputed from the predictions, for versions registered without a stored evaluation. */
  recomputedHeadline: HeadlineRow[];
  /** The mean daily IC beside the AUC rival's, when some day had a cross-section. */
  icHeadline?: HeadlineRow;
  period: NonNullable<RunReport['model']['period']>;
  /** Classes of the predictions (2: binary). */
  classes: number;
};

/** The backtest options a report runs with: the experiment's (as registered), or the defaults when they do not parse. */
export function reportBacktestOptionsOf(experiment: unknown): BacktestOptionsInput {
  const parsed = experimentSchema.safeParse(experiment ?? {});
  const options = backtestOptionsSchema.safeParse((parsed.success ? parsed.data : {}).backtest ?? {});
  return options.success ? options.data : ({} as BacktestOptionsInput);
}

export function predictionSectionsOf(evaluation: { dataset: TrainingDataset; predictions: WalkForwardPredictions; series: readonly BarSeries[] }, options: { backtest: BacktestOptionsInput; seed: number }): PredictionSections {
  const { dataset: ds, predictions, series } = evaluation;
  const e = evaluatedOf(ds, predictions);
  const binary = e.classes === 2;
  const lastClass = Array.from(e.labels, (y) => y === e.classes - 1);
  const rivals = periodRivalsOf(ds, predictions.rows, series);
  const baselines = rivals.baselines;
  const strongest = strongestBaseline(baselines, e.labels);
  const fair = baselines.filter((b) => !b.hindsight).map((b) => ({ b, auc: binaryAucOf(b.score, lastClass.map((t) => (t ? 1 : 0))) }));
  const aucRival = fair.reduce((best, x) => (x.auc > best.auc || !Number.isFinite(best.auc) ? x : best));

  // Equity and drawdown: the same backtest the evaluation ran (experiment options, version seed).
  const bt = backtestOf(backtestInputOf(ds, predictions, series), options.backtest, { seed: options.seed });
  const strategy = Array.from(bt.strategy.equity);
  const buyAndHold = Array.from(bt.benchmark.equity);
  const sd = drawdownSeriesOf(strategy);
  const bd = drawdownSeriesOf(buyAndHold);
  const equity = recorded({
    dates: bt.equityDates,
    strategy,
    buyAndHold,
    strategyDrawdown: sd,
    buyAndHoldDrawdown: bd,
    sharpe: { strategy: bt.strategy.metrics.sharpe, buyAndHold: bt.benchmark.metrics.sharpe },
    maxDrawdown: { strategy: -Math.min(0, ...sd), buyAndHold: -Math.min(0, ...bd) },
    totalReturn: { strategy: strategy[strategy.length - 1] - 1, buyAndHold: buyAndHold[buyAndHold.length - 1] - 1 },
  });

  // IC by day with its rolling mean, beside the strongest baseline's mean IC.
  const forward = rivals.forward();
  const ic = informationCoefficient(e.score, forward, e.dayIndex);
  // Beside the fair baseline with the best mean IC: a market-timing rule (one score for every symbol
  // on a day, possibly the rival by AUC) ranks no stocks and has no IC.
  const icRival = rivals.icRival();
  const baselineIc = icRival?.ic ?? informationCoefficient(aucRival.b.score, forward, e.dayIndex);
  const icBaselineName = icRival?.baseline.name ?? aucRival.b.name;
  const icValues = Array.from(ic.perDay);
  const window = 21;

  // Accuracy and AUC by month beside the strongest naive baselines (by accuracy, by AUC).
  const byMonth = new Map<string, number[]>();
  e.months.forEach((m, i) => (byMonth.get(m) ?? byMonth.set(m, []).get(m)!).push(i));
  const months: MonthlyAccuracy[] = [...byMonth.entries()].map(([month, idx]) => {
    const labels = Int32Array.from(idx, (i) => e.labels[i]);
    const positive = idx.map((i) => (lastClass[i] ? 1 : 0));
    return {
      month,
      rows: idx.length,
      accuracy: baselineAccuracyOf(Int32Array.from(idx, (i) => e.predicted[i]), labels),
      baselineAccuracy: baselineAccuracyOf(Int32Array.from(idx, (i) => strongest.predicted[i]), labels),
      auc: binaryAucOf(idx.map((i) => e.score[i]), positive),
      baselineAuc: binaryAucOf(idx.map((i) => aucRival.b.score[i]), positive),
    };
  });

  const cls = classificationReportOf(e.proba, e.labels, e.classes);
  return {
    equity,
    monthlyReturns: recorded(monthlyReturnsOf(bt.equityDates, bt.strategy.netReturns, bt.benchmark.netReturns)),
    ic: ic.count > 0 ? recorded({ dates: Array.from(ic.days, (d) => ds.days[d]), ic: icValues, rolling: rollingMeanOf(icValues, window), window, mean: ic.mean, baseline: { name: icBaselineName, mean: baselineIc.mean } }) : missing('no day had three or more scored symbols: the IC needs a cross-section'),
    monthlyAccuracy: recorded({ baselineName: strongest.name, aucBaselineName: aucRival.b.name, months }),
    roc: recorded({
      model: { auc: binaryAucOf(e.score, lastClass.map((t) => (t ? 1 : 0))), points: rocCurveOf(e.score, lastClass) },
      baseline: { name: aucRival.b.name, auc: aucRival.auc, points: rocCurveOf(aucRival.b.score, lastClass) },
    }),
    calibration: recorded({ brier: cls.brier, bins: calibrationOf(e.score, lastClass), baselines: constantBriers(lastClass) }),
    confusion: recorded({ classes: Array.from({ length: e.classes }, (_, i) => String(i)), counts: Array.from(cls.confusion) }),
    recomputedHeadline: [
      { metric: 'accuracy (out of sample)', model: cls.accuracy, baseline: baselineAccuracyOf(strongest.predicted, e.labels), baselineName: strongest.name, note: 'recomputed from the stored predictions' },
      // The period's own majority class: a model that predicts one class beats every fair baseline when the pre-period's majority was the other.
      ...baselines.filter((b) => b.name === NO_INFORMATION_BASELINE).map((b) => ({ metric: 'accuracy beside the no-information rate', model: cls.accuracy, baseline: baselineAccuracyOf(b.predicted, e.labels), baselineName: `${b.name} (the evaluation period's own majority class, the no-information rate: known only in hindsight)`, note: 'recomputed from the stored predictions' })),
      { metric: 'ROC AUC (out of sample)', model: binary ? cls.rocAuc : NaN, baseline: aucRival.auc, baselineName: aucRival.b.name, note: 'recomputed from the stored predictions' },
      bt.strategy.metrics.periods < MIN_ANNUALISED_PERIODS
        ? { metric: 'Sharpe ratio (net)', model: NaN, baseline: NaN, baselineName: 'buy-and-hold (equal weight)', note: `n/a: annualised from ${bt.strategy.metrics.periods} periods (shown from ${MIN_ANNUALISED_PERIODS})` }
        : { metric: 'Sharpe ratio (net)', model: bt.strategy.metrics.sharpe, baseline: bt.benchmark.metrics.sharpe, baselineName: 'buy-and-hold (equal weight)', note: 'recomputed from the stored predictions' },
    ],
    ...(ic.count > 0 ? { icHeadline: { metric: 'mean daily IC (Spearman)', model: ic.mean, baseline: baselineIc.mean, baselineName: icBaselineName } } : {}),
    period: { from: ds.days[e.dayIndex[0]], to: ds.days[e.dayIndex[e.dayIndex.length - 1]], days: new Set(e.dayIndex).size, rows: e.labels.length },
    classes: e.classes,
  };
}

export function assembleRunReport(inputs: ReportInputs): RunReport {
  const v = inputs.version;
  const metricsParsed = storedMetricsSchema.safeParse(v.metrics);
  const metrics = metricsParsed.success ? metricsParsed.data : {};
  const stored = metrics.outOfSample;
  const experimentParsed = experimentSchema.safeParse(v.lineage.experiment ?? {});
  const experiment = experimentParsed.success ? experimentParsed.data : {};
  const aliases = inputs.aliases ?? [];

  const report: RunReport = {
    title: `${v.name} v${v.version} (${v.algorithm})`,
    generatedAt: (inputs.now ?? new Date()).toISOString(),
    model: { name: v.name, version: v.version, artifactSha256: v.artifactSha256, algorithm: v.algorithm, aliases, createdAt: v.createdAt, featureSetVersion: v.featureSetVersion, label: v.label, params: v.params, period: stored?.period },
    integrity: integrityVerdictOf(v, inputs.integrity),
    headline: missing(NOT_RECORDED),
    equity: missing(NOT_RECORDED),
    monthlyReturns: missing(NOT_RECORDED),
    ic: missing(NOT_RECORDED),
    monthlyAccuracy: missing(NOT_RECORDED),
    roc: missing(NOT_RECORDED),
    calibration: missing(NOT_RECORDED),
    confusion: missing(NOT_RECORDED),
    importance: missing(NOT_RECORDED),
    trials: missing(NOT_RECORDED),
    guards: missing(NOT_RECORDED),
    lineage: missing(NOT_RECORDED),
    promotion: missing(NOT_RECORDED),
  };
  const noEvaluation = `${NOT_RECORDED}: ${inputs.evaluationMissing ?? 'no out-of-sample predictions stored'}`;

  // Headline: the figures the promotion was decided on, each beside its strongest naive baseline.
  if (stored) {
    // Accuracy beside the comparison promotion judges accuracy_lift on (the weaker evidence of the
    // strongest fair baseline and the period's majority class), the other in a row of its own.
    const accuracy = accuracyComparisonsOf(stored.baseline);
    const liftNote = (c: AccuracyComparison) => `lift ${signedFixed(c.lift)}, 95% [${c.interval.map((x) => fixed(x)).join(', ')}], ${stored.baseline.naivePValue === undefined ? 'p (naive: assumes independent rows)' : 'one-sided p'} ${pValueText(c.pValue)}`;
    const lifted = stored.baseline.accuracyLift !== undefined;
    const rows: HeadlineRow[] = [{ metric: 'accuracy (out of sample)', model: num(stored.classification.accuracy), baseline: accuracy.judged.accuracy, baselineName: accuracyRivalName(accuracy.judged), ...(lifted ? { note: `${liftNote(accuracy.judged)}${accuracy.other ? ': the comparison promotion judges accuracy_lift on, the weaker evidence' : ''}` } : {}) }];
    if (accuracy.other) rows.push({ metric: accuracy.other.hindsight ? 'accuracy beside the no-information rate' : 'accuracy beside the strongest fair baseline', model: num(stored.classification.accuracy), baseline: accuracy.other.accuracy, baselineName: accuracyRivalName(accuracy.other), note: `${liftNote(accuracy.other)}: not the comparison judged, its evidence is the stronger` });
    // With the evidence `mlp run` prints for it: the model's interval and the paired difference's.
    const aucNote = stored.auc ? [stored.auc.interval ? `95% interval ${stored.auc.interval.map((x) => fixed(x)).join(' .. ')}` : '', stored.auc.difference ? `difference ${signedFixed(stored.auc.difference.value)} [${stored.auc.difference.interval.map((x) => signedFixed(x)).join(', ')}], one-sided p ${pValueText(stored.auc.difference.pValue)}` : ''].filter((x) => x).join('; ') : 'baseline AUC not recorded; chance is 0.5';
    rows.push({ metric: 'ROC AUC (out of sample)', model: num(stored.classification.rocAuc), baseline: num(stored.auc?.baselineAuc), baselineName: stored.auc?.versus ?? 'chance', ...(aucNote ? { note: aucNote } : {}) });
    // Beside the pooled AUC, which credits timing the market: the part that ranks the day's stocks,
    // with its paired difference to the baseline (the evidence of promotion metric within_day_auc).
    const withinDay = stored.auc?.withinDay;
    if (withinDay) {
      const d = withinDay.difference;
      const difference = d ? `; difference ${signedFixed(d.value)} [${d.interval.map((x) => signedFixed(x)).join(', ')}], one-sided p ${pValueText(d.pValue)}` : '';
      const metric = experiment.promotion?.metric ?? 'auc';
      const role = metric === 'within_day_auc' ? 'the promotion metric' : `for information (this experiment promotes on ${metric})`;
      rows.push({ metric: 'within-day AUC (ranks stocks; mean of daily AUCs)', model: num(withinDay.value), baseline: num(withinDay.baselineValue), baselineName: withinDay.versus, note: `${withinDay.days} days, 95% interval ${withinDay.interval.map((x) => fixed(x)).join(' .. ')}${difference}; ${role}` });
    }
    if (stored.backtest) {
      const { marketModel, sharpeDifference } = stored.backtest;
      // The Sharpe ratio's paired test, and the alpha beyond the market exposure (beta) the strategy took: what `sharpe` promotion reads.
      const sharpeNote = sharpeDifference ? { note: `paired difference to ${sharpeDifference.versus === 'cash' ? "cash's 0 (buy-and-hold's was not positive)" : "buy-and-hold's"}: one-sided p ${pValueText(sharpeDifference.difference.pValue)}, Newey–West` } : {};
      // By PerformanceMetrics' own names (the report stores them so: storedPerformance), so a misnamed figure fails to compile instead of being left out.
      // Annualised figures of a backtest shorter than a trading month are not shown (lib/backtest/short-sample.ts).
      const periods = stored.backtest.strategy.periods;
      const tooShort = typeof periods === 'number' && periods < MIN_ANNUALISED_PERIODS;
      for (const [key, label] of HEADLINE_PERFORMANCE) {
        if (!(key in stored.backtest.strategy)) continue;
        if (tooShort && key !== 'maxDrawdown') rows.push({ metric: label, model: NaN, baseline: NaN, baselineName: 'buy-and-hold (equal weight)', note: `n/a: annualised from ${periods} periods (shown from ${MIN_ANNUALISED_PERIODS})` });
        else rows.push({ metric: label, model: num(stored.backtest.strategy[key]), baseline: num(stored.backtest.buyAndHold[key]), baselineName: 'buy-and-hold (equal weight)', ...(key === 'sharpe' ? sharpeNote : {}) });
      }
      // The best naive rule traded the same way: the Sharpe ratio `sharpe` promotion must also beat.
      const naive = stored.backtest.versusNaiveStrategy;
      if (naive && 'sharpe' in stored.backtest.strategy && !tooShort) rows.push({ metric: 'Sharpe ratio (net) against the naive rules traded the same way', model: num(stored.backtest.strategy.sharpe), baseline: num(naive.rivalSharpe), baselineName: naive.versus, note: `the best naive rule's; paired difference: one-sided p ${pValueText(naive.difference.pValue)}, Newey–West` });
      if (marketModel) {
        const bp = (x: number | null) => fixed(num(x) * 1e4, 2);
        rows.push({ metric: 'alpha (basis points a day, net, beyond beta × buy-and-hold)', model: num(marketModel.alpha.value) * 1e4, baseline: 0, baselineName: `buy-and-hold at the strategy's beta ${fixed(marketModel.beta.value, 2)}`, note: `95% interval ${bp(marketModel.alpha.interval[0])} .. ${bp(marketModel.alpha.interval[1])}, one-sided p ${pValueText(marketModel.alpha.pValue)}, Newey–West` });
      }
    }
    report.headline = recorded(rows);
    if (stored.classification.confusion && stored.classification.confusion.length > 0) {
      const counts = stored.classification.confusion.map(num);
      const k = Math.round(Math.sqrt(counts.length));
      report.confusion = recorded({ classes: Array.from({ length: k }, (_, i) => String(i)), counts });
    }
  }

  const sections = inputs.sections ?? (inputs.evaluation?.series ? predictionSectionsOf({ ...inputs.evaluation, series: inputs.evaluation.series }, { backtest: reportBacktestOptionsOf(v.lineage.experiment), seed: v.seed }) : undefined);
  if (sections) {
    report.equity = sections.equity;
    report.monthlyReturns = sections.monthlyReturns;
    report.ic = sections.ic;
    report.monthlyAccuracy = sections.monthlyAccuracy;
    report.roc = sections.roc;
    report.calibration = sections.calibration;
    report.confusion = sections.confusion;
    if (!stored) {
      // No stored evaluation (an older row): the headline from the recomputation.
      report.headline = recorded(sections.recomputedHeadline);
      report.model.period = sections.period;
    }
    if (report.headline.recorded && sections.icHeadline) {
      // The stored t-statistics: the mean alone says nothing of whether it is told apart from 0.
      const ic = stored?.informationCoefficient;
      const t = (x: number) => fixed(x, 2);
      const note = typeof ic?.tStat === 'number' ? `t ${t(ic.tStat)} (rows of one symbol and of nearby days dependent${typeof ic.naiveTStat === 'number' ? `; ${t(ic.naiveTStat)} if days were independent` : ''})${ic.baseline && typeof ic.baseline.tStat === 'number' && ic.baseline.name === sections.icHeadline.baselineName ? `; ${ic.baseline.name} t ${t(ic.baseline.tStat)}` : ''}` : undefined;
      report.headline.data.push({ ...sections.icHeadline, ...(note ? { note } : {}) });
    }

    if (inputs.model) {
      const gains = treeGains(inputs.model);
      const binary = sections.classes === 2;
      const features = gains
        ? [...gains.entries()].map(([name, value]) => ({ name, value }))
        : (inputs.permutationImportance ?? (inputs.evaluation ? permutationImportanceOf(inputs.model, inputs.evaluation.dataset, inputs.evaluation.predictions.rows, { seed: v.seed }) : undefined));
      if (features) {
        features.sort((a, b) => b.value - a.value);
        report.importance = recorded({
          method: gains ? 'gain' : 'permutation',
          note: gains
            ? 'share of the total split gain (loss or impurity decrease) of the registered model'
            : `drop in ${binary ? 'ROC AUC' : 'accuracy'} of the registered model when one feature is shuffled, on up to 4000 rows of the evaluation period (the registered model was trained on them: in-sample for it)`,
          features: features.slice(0, 25),
        });
      } else report.importance = missing(`${NOT_RECORDED}: permutation importance needs the evaluation rows (${inputs.evaluationMissing ?? 'the dataset and predictions were not read'})`);
    } else report.importance = missing(`${NOT_RECORDED}: ${inputs.modelMissing ?? 'the model artifact is not available'}`);
  } else {
    for (const key of ['equity', 'monthlyReturns', 'ic', 'monthlyAccuracy', 'roc', 'calibration'] as const) report[key] = missing(noEvaluation);
    if (!report.confusion.recorded) report.confusion = missing(noEvaluation);
    const gains = inputs.model ? treeGains(inputs.model) : undefined;
    if (gains) {
      const features = [...gains.entries()].map(([name, value]) => ({ name, value })).sort((a, b) => b.value - a.value);
      report.importance = recorded({ method: 'gain', note: 'share of the total split gain (impurity decrease) of the registered model', features: features.slice(0, 25) });
    } else report.importance = missing(`${NOT_RECORDED}: permutation importance needs the evaluation rows (${inputs.evaluationMissing ?? 'no out-of-sample predictions stored'})`);
  }

  const trials = z.array(trialSchema).safeParse(v.lineage.trials);
  if (trials.success && trials.data.length > 0) report.trials = recorded({ metric: 'cross-validated ROC AUC (mean over purged folds; −log loss for multi-class)', points: trialPointsOf(trials.data) });

  // Guards: on the dataset (from the run or the lineage), on the predictions, and the shuffled-label refit.
  const guards: GuardRow[] = [];
  const seen = new Set<string>();
  const add = (g: { guard: string; tripped: boolean; message: string }, source: string) => {
    const key = `${g.guard}\u0000${g.message}`;
    if (seen.has(key)) return;
    seen.add(key);
    guards.push({ guard: g.guard, tripped: g.tripped, message: g.message, source });
  };
  // The verdicts recorded with the version after registration only when their signature holds (or no key is configured).
  const recordProblem = inputs.integrity?.recordProblem;
  const datasetGuards = inputs.datasetGuards ?? (recordProblem ? undefined : (z.array(guardSchema).safeParse(v.lineage.datasetGuards).data ?? undefined));
  if (!inputs.datasetGuards && recordProblem) add({ guard: 'dataset guards', tripped: true, message: `the verdicts recorded with this version are not shown: ${recordProblem}` }, 'dataset');
  for (const g of datasetGuards ?? []) add(g, 'dataset');
  for (const g of stored?.guards ?? []) add(g, 'predictions');
  if (metrics.shuffledLabel) add({ guard: 'shuffled_label', tripped: !metrics.shuffledLabel.passed, message: metrics.shuffledLabel.message }, 'refit on shuffled labels');
  for (const g of metrics.scores?.trippedGuards ?? []) add(g, 'promotion scores');
  // Switched off or loosened by the experiment: listed, so an absent verdict never reads as passed.
  for (const r of metrics.scores?.relaxedGuards ?? relaxedGuardsOfLineage(v.lineage.experiment)) guards.push({ guard: r.guard, tripped: false, message: r.message, source: 'experiment settings', verdict: r.status === 'not_run' ? 'NOT RUN' : 'LOOSENED' });
  if (guards.length > 0) report.guards = recorded(guards);
  if (!datasetGuards && !recordProblem && guards.length > 0) guards.push({ guard: 'dataset guards', tripped: false, message: `${NOT_RECORDED} (only tripped ones are kept in the promotion scores)`, source: 'dataset' });

  const walkForward = v.lineage.walkForward as Record<string, unknown> | undefined;
  const universe = v.lineage.universe as { source?: string; snapshotId?: string; trained?: unknown[]; requested?: unknown[] } | undefined;
  const lineage: Array<[string, string]> = [
    ['model artifact', `sha256 ${v.artifactSha256} (${v.artifactBytes} bytes)`],
    ['snapshot', v.snapshotId ? `${v.snapshotId}${v.snapshotHash ? ` (content ${v.snapshotHash})` : ''}` : '-'],
    ['training dataset', describe(v.lineage.datasetId)],
    ['walk-forward predictions', walkForward ? `${describe(walkForward.predictionsId)} (${describe(walkForward.rows)} rows, ${describe(walkForward.windows)} windows)` : '-'],
    ['feature set', v.featureSetVersion],
    ['label', describe(v.label)],
    ['universe', universe ? `${universe.source ?? '?'}${universe.snapshotId ? ` of ${universe.snapshotId}` : ''}: ${universe.trained?.length ?? '?'} symbols trained of ${universe.requested?.length ?? '?'} requested` : '-'],
    ['experiment', experiment.name ? `${experiment.name} (seed ${experiment.seed ?? v.seed}, search ${experiment.search?.method ?? '?'})` : '-'],
    ['walk-forward settings', describe(experiment.walkForward)],
    ['parameters', describe(v.params)],
    ['final model training rows', describe(v.lineage.finalTrainRows)],
    ['timings (s)', describe(v.lineage.timings)],
    ['code version', v.codeVersion],
    ['training run', v.workflowId ? `${v.workflowId} / ${v.runId ?? '-'}` : '-'],
    ['registered', v.createdAt],
  ];
  report.lineage = recorded(lineage);

  const decision = inputs.decision ?? (recordProblem ? undefined : decisionSchema.safeParse(v.lineage.promotion).data);
  const history = (inputs.aliasHistory ?? []).filter((h) => h.toVersion === v.version || h.fromVersion === v.version);
  if (!decision && recordProblem) report.promotion = missing(`not shown: ${recordProblem}`);
  else if (decision) report.promotion = recorded({ ...decision, source: inputs.decision ? 'the registration of this run' : 'recorded with the version', aliases, history });
  else if (history.length > 0) {
    const moved = history.filter((h) => h.toVersion === v.version);
    const last = moved[moved.length - 1];
    report.promotion = recorded({ promote: last !== undefined, reason: last ? `${last.alias}: ${last.reason}` : 'no alias ever pointed at this version', source: `${NOT_RECORDED}; from the alias history`, aliases, history });
  } else report.promotion = missing(`${NOT_RECORDED} (no decision stored and no alias ever pointed at it)`);

  // A row that fails verification: only what it claims (its lineage) is shown, under the refusal.
  const rowProblem = inputs.integrity?.rowProblem;
  if (rowProblem) {
    const refused = `not shown: this registry row fails verification (${rowProblem}); serving refuses it, and nothing it names was read`;
    for (const key of ['headline', 'equity', 'monthlyReturns', 'ic', 'monthlyAccuracy', 'roc', 'calibration', 'confusion', 'importance', 'trials', 'guards', 'promotion'] as const) report[key] = missing(refused);
    report.model.period = undefined;
  }
  return report;
}

/** The integrity verdict the report opens with. */
function integrityVerdictOf(v: ModelVersion, integrity: ReportIntegrity | undefined): ReportIntegrityVerdict {
  const of = `${v.name} v${v.version} (model artifact sha256 ${v.artifactSha256})`;
  if (!integrity) return { status: 'unchecked', messages: [`Built for ${of}; the registry row's signatures were not checked.`] };
  if (integrity.keyId === undefined) {
    return { status: 'unsigned', messages: [`Report of ${of}. No MODEL_SIGNING_KEY is configured: the registry row and the promotion decision and guard verdicts recorded with it are not signed, so an edit of the registry cannot be detected here.`] };
  }
  const messages: string[] = [];
  if (integrity.rowProblem) messages.push(`REFUSED: the registry row of ${v.name} v${v.version} fails verification: ${integrity.rowProblem}. Serving refuses this version; this report shows nothing it names and is not recorded.`);
  else if (integrity.rowPreviousKeyId !== undefined) messages.push(`Report of ${of}: the registry row's signature is valid (key id ${integrity.rowPreviousKeyId}, one of MODEL_SIGNING_PREVIOUS_KEYS: re-sign it with \`mlp models sign ${v.name} ${v.version}\` to finish the key rotation).`);
  else messages.push(`Report of ${of}: the registry row's signature is valid (key id ${integrity.keyId}).`);
  if (integrity.recordProblem) messages.push(`REFUSED: ${integrity.recordProblem}. The recorded promotion decision and guard verdicts are not shown, and this report is not recorded.`);
  return { status: integrity.rowProblem || integrity.recordProblem ? 'refused' : 'verified', messages };
}
