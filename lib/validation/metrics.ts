/**
 * Scores of a classifier on held-out rows, ranking quality of a score across symbols, and tests of
 * a model against the majority-class baseline. Supersedes accuracyOf / rocAucOf in
 * models/evaluation.ts (same conventions: row-major probabilities, argmax with the lowest class
 * winning ties, AUC ties counted half).
 *
 * Independence: the intervals and tests in `compareWithBaseline` treat rows as independent. Rows of
 * market data are not (neighbouring days share overlapping labels, symbols of one day share the
 * market move), so those intervals are too narrow and p-values too small; use
 * `blockBootstrapIntervalsOf`, which resamples blocks of consecutive days, or the cluster-robust
 * estimates of lib/stats/dependent-inference.ts, for an honest interval.
 */
import { BadInputError } from '../errors';
import { argsortOf } from '../sorted';
import { rng } from '../random';
import { binomialLowerTail, binomialProbability, binomialUpperTail, chiSquare1UpperTail } from '../stats/distributions';
import { clusteredMean, type Estimate, type PanelDependence } from '../stats/dependent-inference';
import { normalInverseCdf } from '../stats/normal';

export interface Interval {
  lower: number;
  upper: number;
}

export interface ClassificationReport {
  rows: number;
  classes: number;
  /** Sum of row weights (= rows when unweighted); every metric below is weighted by them. */
  totalWeight: number;
  /** classes × classes, row = true class, column = predicted (argmax) class; weighted counts. */
  confusion: Float64Array;
  accuracy: number;
  /** Mean recall over the classes that occur in the labels. */
  balancedAccuracy: number;
  /** Per class; 0 where undefined (no predictions / no rows of the class), as scikit-learn does. */
  precision: Float64Array;
  recall: Float64Array;
  f1: Float64Array;
  /** Weight of the rows whose label is each class. */
  support: Float64Array;
  /** Unweighted means over all `classes` classes. */
  macroPrecision: number;
  macroRecall: number;
  macroF1: number;
  /** Binary: AUC of P(class 1). Multi-class: mean of the one-vs-rest AUCs that are defined. NaN if none is. */
  rocAuc: number;
  /** One-vs-rest AUC of each class's probability; NaN where the class is absent or the only one present. */
  rocAucPerClass: Float64Array;
  /** Mean −ln P(true class), probabilities clipped to [1e-15, 1 − 1e-15]. */
  logLoss: number;
  /** Multi-class: mean over rows of Σ_k (p_k − [y = k])². Binary: mean (P(1) − y)², half of that sum. */
  brier: number;
  /** Matthews correlation; multi-class by Gorodkin's R_K, 0 when a marginal is constant. */
  mcc: number;
}

export interface InformationCoefficient {
  /** Days that were scored (≥ 3 finite pairs and neither side constant), ascending. */
  days: Int32Array;
  /** Spearman correlation of score and forward return across symbols, one per entry of `days`. */
  perDay: Float64Array;
  mean: number;
  /** Sample standard deviation (n − 1) of the per-day values; NaN with fewer than 2 days. */
  std: number;
  /** Information ratio mean / std. */
  ir: number;
  /** mean / std · √count: the t statistic of "mean IC = 0" if days were independent. */
  tStat: number;
  count: number;
  /** The rows of the scored days, and each one's share of its day's IC (the shares of a day sum to it): for inference that clusters rows by symbol. */
  rows: Int32Array;
  rowShare: Float64Array;
}

/** Predicted classes, or probabilities from which the argmax class is taken. */
export type Predictions = Int32Array | { proba: Float64Array; classes: number };

export interface McNemarTest {
  /** Exact two-sided p-value: binomial(b + c, ½) on the discordant rows. */
  pValue: number;
  /** Mid-p variant: less conservative, close to nominal size. */
  midPValue: number;
  /** One-sided exact p-value of "the first classifier is better" (P(X ≥ b)). */
  pValueFirstBetter: number;
  /** (|b − c| − 1)² / (b + c), continuity corrected; 0 when b + c = 0. */
  chiSquare: number;
  /** P(χ²₁ ≥ chiSquare). */
  chiSquarePValue: number;
}

export interface BaselineComparison extends McNemarTest {
  rows: number;
  baselineClass: number;
  modelAccuracy: number;
  baselineAccuracy: number;
  /** modelAccuracy − baselineAccuracy. */
  difference: number;
  confidence: number;
  /** Wilson score interval of the model accuracy (independent rows assumed). */
  modelAccuracyInterval: Interval;
  /** Agresti–Min adjusted Wald interval of the paired difference (independent rows assumed). */
  differenceInterval: Interval;
  /** Discordant rows: only the model is right (b), only the baseline is right (c). */
  modelOnlyCorrect: number;
  baselineOnlyCorrect: number;
}

export interface BootstrapOptions {
  /** Calendar day of each row; blocks are runs of consecutive distinct days. */
  dayIndex: Int32Array;
  /** Days per block; at least the label horizon so overlapping labels stay in one block. */
  blockDays: number;
  seed: number;
  /** Default 2000. */
  resamples?: number;
  /** Default 0.95. */
  confidence?: number;
}

export interface BootstrapIntervals {
  modelAccuracy: Interval;
  /** Of model accuracy − baseline accuracy. */
  difference: Interval;
  resamples: number;
}

function invalid(message: string): never {
  throw new BadInputError(message, 'INVALID_METRIC_INPUT');
}

function checkConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) invalid(`confidence must be in (0, 1), got ${confidence}`);
}

function checkLabels(labels: Int32Array, classes: number): void {
  if (!Number.isInteger(classes) || classes < 2) invalid(`classes must be an integer >= 2, got ${classes}`);
  if (labels.length === 0) invalid('There are no rows to score; the test split is empty');
  for (let r = 0; r < labels.length; r++) {
    if (labels[r] < 0 || labels[r] >= classes) invalid(`Label ${labels[r]} at row ${r} is outside 0..${classes - 1}; drop unlabelled rows or pass the right number of classes`);
  }
}

function checkProba(proba: Float64Array, rows: number, classes: number): void {
  if (proba.length !== rows * classes) invalid(`Probabilities have ${proba.length} values but ${rows} rows × ${classes} classes need ${rows * classes}; pass them row-major`);
  for (let i = 0; i < proba.length; i++) {
    if (!Number.isFinite(proba[i])) invalid(`Probability of row ${Math.floor(i / classes)}, class ${i % classes} is ${proba[i]}; the model produced an invalid prediction`);
  }
}

/** Weights, or all ones; rejects negative or non-finite weights and a zero total. */
function weightsOrOnes(weights: Float64Array | undefined, rows: number): Float64Array {
  if (!weights) return new Float64Array(rows).fill(1);
  if (weights.length !== rows) invalid(`There are ${weights.length} weights for ${rows} rows; pass one weight per row`);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    if (!(weights[r] >= 0 && Number.isFinite(weights[r]))) invalid(`Weight ${weights[r]} at row ${r} is not a finite number >= 0`);
    total += weights[r];
  }
  if (total === 0) invalid('All row weights are 0; at least one row must count');
  return weights;
}

/** Argmax class of each row; the lowest class wins ties. */
export function predictedClassesOf(proba: Float64Array, classes: number): Int32Array {
  const rows = proba.length / classes;
  if (!Number.isInteger(rows)) invalid(`Probabilities have ${proba.length} values, not a multiple of ${classes} classes`);
  const predicted = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (proba[r * classes + k] > proba[r * classes + best]) best = k;
    predicted[r] = best;
  }
  return predicted;
}

/** The most frequent (heaviest) class of the training labels, lowest on ties: the baseline's constant prediction. */
export function majorityClassOf(trainLabels: Int32Array, classes: number, weights?: Float64Array): number {
  checkLabels(trainLabels, classes);
  const w = weightsOrOnes(weights, trainLabels.length);
  const mass = new Float64Array(classes);
  for (let r = 0; r < trainLabels.length; r++) mass[trainLabels[r]] += w[r];
  let best = 0;
  for (let k = 1; k < classes; k++) if (mass[k] > mass[best]) best = k;
  return best;
}

/** classes × classes weighted counts, row = true class, column = predicted class. */
export function confusionMatrixOf(labels: Int32Array, predicted: Int32Array, classes: number, weights?: Float64Array): Float64Array {
  checkLabels(labels, classes);
  if (predicted.length !== labels.length) invalid(`There are ${predicted.length} predictions for ${labels.length} labels`);
  const w = weightsOrOnes(weights, labels.length);
  const confusion = new Float64Array(classes * classes);
  for (let r = 0; r < labels.length; r++) {
    if (predicted[r] < 0 || predicted[r] >= classes) invalid(`Predicted class ${predicted[r]} at row ${r} is outside 0..${classes - 1}`);
    confusion[labels[r] * classes + predicted[r]] += w[r];
  }
  return confusion;
}

/**
 * Weighted Mann–Whitney AUC of `score` (taken every `stride` values from `offset`) for rows where
 * `isPositive` holds: P(score of a positive > score of a negative), ties counted half.
 */
function aucOf(score: Float64Array, stride: number, offset: number, isPositive: (r: number) => boolean, w: Float64Array): number {
  const rows = w.length;
  // Not a typed-array sort with a comparator (~4× as long); stable, so tied rows' weights add up in
  // the same order as before and the AUC keeps its bits. checkProba has refused NaN.
  const column = new Float64Array(rows);
  for (let r = 0; r < rows; r++) column[r] = score[r * stride + offset];
  const { order, sorted: keys } = argsortOf(column, { stable: true });
  let negativeBelow = 0;
  let pairs = 0;
  let positives = 0;
  for (let i = 0; i < rows; ) {
    let j = i;
    let pos = 0;
    let neg = 0;
    for (; j < rows && keys[j] === keys[i]; j++) {
      if (isPositive(order[j])) pos += w[order[j]];
      else neg += w[order[j]];
    }
    pairs += pos * (negativeBelow + neg / 2);
    positives += pos;
    negativeBelow += neg;
    i = j;
  }
  return positives === 0 || negativeBelow === 0 ? NaN : pairs / (positives * negativeBelow);
}

/** Everything in ClassificationReport; predictions are the argmax of `proba`. */
export function classificationReportOf(proba: Float64Array, labels: Int32Array, classes: number, weights?: Float64Array): ClassificationReport {
  checkLabels(labels, classes);
  const rows = labels.length;
  checkProba(proba, rows, classes);
  const w = weightsOrOnes(weights, rows);
  const confusion = confusionMatrixOf(labels, predictedClassesOf(proba, classes), classes, w);

  const support = new Float64Array(classes); // row sums: true class
  const predictedMass = new Float64Array(classes); // column sums: predicted class
  let totalWeight = 0;
  let correct = 0;
  for (let t = 0; t < classes; t++) {
    for (let p = 0; p < classes; p++) {
      support[t] += confusion[t * classes + p];
      predictedMass[p] += confusion[t * classes + p];
    }
    correct += confusion[t * classes + t];
    totalWeight += support[t];
  }

  const precision = new Float64Array(classes);
  const recall = new Float64Array(classes);
  const f1 = new Float64Array(classes);
  let recallPresent = 0;
  let present = 0;
  for (let k = 0; k < classes; k++) {
    const hit = confusion[k * classes + k];
    precision[k] = predictedMass[k] > 0 ? hit / predictedMass[k] : 0;
    recall[k] = support[k] > 0 ? hit / support[k] : 0;
    f1[k] = precision[k] + recall[k] > 0 ? (2 * precision[k] * recall[k]) / (precision[k] + recall[k]) : 0;
    if (support[k] > 0) {
      recallPresent += recall[k];
      present++;
    }
  }
  const mean = (x: Float64Array) => x.reduce((s, v) => s + v, 0) / x.length;

  const rocAucPerClass = new Float64Array(classes);
  for (let k = 0; k < classes; k++) rocAucPerClass[k] = aucOf(proba, classes, k, (r) => labels[r] === k, w);
  let rocAuc = rocAucPerClass[1];
  if (classes > 2) {
    const defined = rocAucPerClass.filter((v) => !Number.isNaN(v));
    rocAuc = defined.length > 0 ? mean(defined) : NaN;
  }

  let logLoss = 0;
  let brier = 0;
  for (let r = 0; r < rows; r++) {
    const p = Math.min(Math.max(proba[r * classes + labels[r]], 1e-15), 1 - 1e-15);
    logLoss -= w[r] * Math.log(p);
    let squares = 0;
    for (let k = 0; k < classes; k++) squares += (proba[r * classes + k] - (k === labels[r] ? 1 : 0)) ** 2;
    brier += w[r] * squares;
  }
  logLoss /= totalWeight;
  brier /= totalWeight;
  if (classes === 2) brier /= 2; // with P(0) = 1 − P(1) both squares are equal: keep the usual binary scale

  // Gorodkin (2004): (c·s − Σ p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²)).
  let pt = 0;
  let pp = 0;
  let tt = 0;
  for (let k = 0; k < classes; k++) {
    pt += predictedMass[k] * support[k];
    pp += predictedMass[k] ** 2;
    tt += support[k] ** 2;
  }
  const s2 = totalWeight ** 2;
  const mccDenominator = Math.sqrt((s2 - pp) * (s2 - tt));
  const mcc = mccDenominator > 0 ? (correct * totalWeight - pt) / mccDenominator : 0;

  return {
    rows,
    classes,
    totalWeight,
    confusion,
    accuracy: correct / totalWeight,
    balancedAccuracy: recallPresent / present,
    precision,
    recall,
    f1,
    support,
    macroPrecision: mean(precision),
    macroRecall: mean(recall),
    macroF1: mean(f1),
    rocAuc,
    rocAucPerClass,
    logLoss,
    brier,
    mcc,
  };
}

/** Ranks 1..n in ascending order of x, tied values sharing the mean of their ranks. */
export function averageRanksOf(x: Float64Array): Float64Array {
  const n = x.length;
  // An argsort without a comparator call per comparison (3–4× faster for the 50,000–200,000 scores
  // an evaluation ranks); ties are ranked together, so their order within the sort does not matter.
  // NaN has no place in an order: such input keeps the comparator sort it always had.
  const order = x.some(Number.isNaN) ? Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b]) : argsortOf(x).order;
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && x[order[j + 1]] === x[order[i]]) j++;
    for (let t = i; t <= j; t++) ranks[order[t]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return ranks;
}

/** Means of x and y, and the sums of centred products Σ(x − x̄)(y − ȳ), Σ(x − x̄)², Σ(y − ȳ)². */
function centredSums(x: Float64Array, y: Float64Array): { mx: number; my: number; sxy: number; sxx: number; syy: number } {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return { mx, my, sxy, sxx, syy };
}

function pearsonOf(x: Float64Array, y: Float64Array): number {
  const { sxy, sxx, syy } = centredSums(x, y);
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Spearman rank correlation (Pearson of average ranks); NaN when either side is constant or n < 2. */
export function spearmanCorrelationOf(x: Float64Array, y: Float64Array): number {
  if (x.length !== y.length) invalid(`Cannot correlate ${x.length} values with ${y.length}; pass pairs`);
  return x.length < 2 ? NaN : pearsonOf(averageRanksOf(x), averageRanksOf(y));
}

/**
 * Daily cross-sectional Spearman IC of a score against forward returns. Pairs with a non-finite
 * score or return are ignored; days with fewer than 3 pairs or a constant side are skipped.
 */
export function informationCoefficient(score: Float64Array, forwardReturn: Float64Array, dayIndex: Int32Array): InformationCoefficient {
  const n = score.length;
  if (forwardReturn.length !== n || dayIndex.length !== n) invalid(`score (${n}), forwardReturn (${forwardReturn.length}) and dayIndex (${dayIndex.length}) must have one value per row`);
  const order = Int32Array.from({ length: n }, (_, i) => i)
    .filter((i) => Number.isFinite(score[i]) && Number.isFinite(forwardReturn[i]))
    .sort((a, b) => dayIndex[a] - dayIndex[b]);
  const days: number[] = [];
  const perDay: number[] = [];
  const sharedRows: number[] = [];
  const shares: number[] = [];
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j < order.length && dayIndex[order[j]] === dayIndex[order[i]]) j++;
    if (j - i >= 3) {
      const rows = order.subarray(i, j);
      const day = rankProducts(averageRanksOf(Float64Array.from(rows, (r) => score[r])), averageRanksOf(Float64Array.from(rows, (r) => forwardReturn[r])));
      if (day !== undefined) {
        days.push(dayIndex[order[i]]);
        perDay.push(day.rho);
        rows.forEach((r, k) => {
          sharedRows.push(r);
          shares.push(day.share[k]);
        });
      }
    }
    i = j;
  }
  const count = perDay.length;
  const mean = count > 0 ? perDay.reduce((s, v) => s + v, 0) / count : NaN;
  const std = count > 1 ? Math.sqrt(perDay.reduce((s, v) => s + (v - mean) ** 2, 0) / (count - 1)) : NaN;
  const ir = mean / std;
  return { days: Int32Array.from(days), perDay: Float64Array.from(perDay), mean, std, ir, tStat: ir * Math.sqrt(count), count, rows: Int32Array.from(sharedRows), rowShare: Float64Array.from(shares) };
}

/**
 * The mean daily IC with the panel's dependence (as AUC's): each row's share of its day's IC,
 * clustered by symbol and by days within the label's overlap. A Newey–West variance of the daily
 * ICs alone missed both: Bartlett's weights keep ~0.73 of an overlapping 5-day return's long-run
 * variance, and a score that persists per stock shares its stocks' drifts on every day, so a score
 * without skill had |t| > 1.65 one-sided in 9–15% of null panels (40 symbols, 250 days).
 */
export function informationCoefficientEstimate(ic: InformationCoefficient, cluster: PanelDependence): Estimate | undefined {
  if (ic.rows.length === 0) return undefined;
  const perRow = ic.rows.length / ic.count;
  const values = Float64Array.from(ic.rowShare, (v) => v * perRow);
  const pick = (a: Int32Array) => Int32Array.from(ic.rows, (r) => a[r]);
  // As evidence of skill, whose daily ICs may drift with the market longer than the labels overlap (persistentDays).
  return clusteredMean(values, { day: pick(cluster.day), ...(cluster.symbol ? { symbol: pick(cluster.symbol) } : {}), lags: cluster.lags }, { evidence: true, persistentDays: true });
}

/**
 * The fair (no-hindsight) baseline whose scores have the highest mean IC, with it; undefined when
 * none has an IC (a market-timing rule gives every symbol of a day one score and ranks no stocks).
 */
export function strongestIcBaseline<B extends { name: string; score: Float64Array; hindsight: boolean }>(baselines: readonly B[], forwardReturn: Float64Array, dayIndex: Int32Array): { baseline: B; ic: InformationCoefficient } | undefined {
  let best: { baseline: B; ic: InformationCoefficient } | undefined;
  for (const baseline of baselines) {
    if (baseline.hindsight) continue;
    const ic = informationCoefficient(baseline.score, forwardReturn, dayIndex);
    if (ic.count > 0 && (!best || ic.mean > best.ic.mean)) best = { baseline, ic };
  }
  return best;
}

/** Pearson correlation of two rank vectors and each pair's share of it ((x − x̄)(y − ȳ)/√(Sxx·Syy), summing to it); undefined when a side is constant. */
function rankProducts(x: Float64Array, y: Float64Array): { rho: number; share: Float64Array } | undefined {
  const { mx, my, sxy, sxx, syy } = centredSums(x, y);
  if (!(sxx > 0 && syy > 0)) return undefined;
  const scale = Math.sqrt(sxx * syy);
  return { rho: sxy / scale, share: Float64Array.from(x, (v, i) => ((v - mx) * (y[i] - my)) / scale) };
}

// The distribution functions moved to lib/stats/distributions.ts; re-exported for existing callers.
export { binomialLowerTail, binomialProbability, binomialUpperTail, chiSquare1UpperTail, logGamma, regularizedBeta } from '../stats/distributions';

/** Wilson score interval of a proportion (successes of trials) at the given confidence. */
export function wilsonInterval(successes: number, trials: number, confidence = 0.95): Interval {
  checkConfidence(confidence);
  if (!(trials > 0) || !(successes >= 0 && successes <= trials)) invalid(`Wilson interval needs 0 <= successes <= trials and trials > 0, got ${successes} of ${trials}`);
  const z = normalInverseCdf(1 - (1 - confidence) / 2);
  const p = successes / trials;
  const z2n = (z * z) / trials;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / trials + (z * z) / (4 * trials * trials));
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/**
 * McNemar's test of two classifiers scored on the same rows, from the discordant counts:
 * b = rows only the first gets right, c = rows only the second gets right. Under H0 (equal
 * accuracy) b ~ Binomial(b + c, ½); concordant rows carry no information.
 */
export function mcNemarTest(b: number, c: number): McNemarTest {
  if (!Number.isInteger(b) || !Number.isInteger(c) || b < 0 || c < 0) invalid(`McNemar counts must be integers >= 0, got b = ${b}, c = ${c}`);
  const n = b + c;
  if (n === 0) return { pValue: 1, midPValue: 1, pValueFirstBetter: 1, chiSquare: 0, chiSquarePValue: 1 };
  const m = Math.min(b, c);
  const chiSquare = Math.max(0, Math.abs(b - c) - 1) ** 2 / n;
  return {
    pValue: Math.min(1, 2 * binomialLowerTail(m, n, 0.5)),
    midPValue: Math.min(1, 2 * (binomialLowerTail(m, n, 0.5) - binomialProbability(m, n, 0.5) / 2)),
    pValueFirstBetter: binomialUpperTail(b, n, 0.5),
    chiSquare,
    chiSquarePValue: chiSquare1UpperTail(chiSquare),
  };
}

function predictedOf(predictions: Predictions, rows: number): Int32Array {
  if (predictions instanceof Int32Array) {
    if (predictions.length !== rows) invalid(`There are ${predictions.length} predictions for ${rows} labels`);
    return predictions;
  }
  checkProba(predictions.proba, rows, predictions.classes);
  return predictedClassesOf(predictions.proba, predictions.classes);
}

/**
 * Model accuracy against always predicting `baselineClass` (the majority class of the training
 * labels, see majorityClassOf) on the same rows, with McNemar's test of the paired difference.
 * Intervals and p-values assume independent rows (see the note at the top of this file).
 */
export function compareWithBaseline(labels: Int32Array, predictions: Predictions, baselineClass: number, confidence = 0.95): BaselineComparison {
  checkConfidence(confidence);
  const rows = labels.length;
  if (rows === 0) invalid('There are no rows to compare on; the test split is empty');
  if (!Number.isInteger(baselineClass) || baselineClass < 0) invalid(`baselineClass must be a class index, got ${baselineClass}`);
  const predicted = predictedOf(predictions, rows);
  let modelCorrect = 0;
  let baselineCorrect = 0;
  let b = 0;
  let c = 0;
  for (let r = 0; r < rows; r++) {
    const model = predicted[r] === labels[r];
    const baseline = baselineClass === labels[r];
    if (model) modelCorrect++;
    if (baseline) baselineCorrect++;
    if (model && !baseline) b++;
    if (baseline && !model) c++;
  }
  // Agresti & Min (2005): Wald interval after adding ½ to each cell of the paired 2×2 table.
  const z = normalInverseCdf(1 - (1 - confidence) / 2);
  const centre = (b - c) / (rows + 2);
  const half = (z * Math.sqrt(b + c + 1 - (b - c) ** 2 / (rows + 2))) / (rows + 2);
  return {
    rows,
    baselineClass,
    modelAccuracy: modelCorrect / rows,
    baselineAccuracy: baselineCorrect / rows,
    difference: (b - c) / rows,
    confidence,
    modelAccuracyInterval: wilsonInterval(modelCorrect, rows, confidence),
    differenceInterval: { lower: Math.max(-1, centre - half), upper: Math.min(1, centre + half) },
    modelOnlyCorrect: b,
    baselineOnlyCorrect: c,
    ...mcNemarTest(b, c),
  };
}

/** Linear-interpolated quantile of sorted values. */
function quantileOfSorted(sorted: Float64Array, q: number): number {
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (at - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Percentile intervals of model accuracy and of its difference to the baseline by a circular
 * moving-block bootstrap over days: each resample strings together random runs of `blockDays`
 * consecutive days (all symbols of a day together) until it has as many days as the data, so
 * correlation within a day and across nearby days is kept. The baseline is a constant class or a
 * class per row (a naive rule such as momentum or persistence).
 */
export function blockBootstrapIntervalsOf(labels: Int32Array, predictions: Predictions, baseline: number | Int32Array, options: BootstrapOptions): BootstrapIntervals {
  const rows = labels.length;
  const { dayIndex, blockDays, seed } = options;
  const resamples = options.resamples ?? 2000;
  const confidence = options.confidence ?? 0.95;
  checkConfidence(confidence);
  if (rows === 0) invalid('There are no rows to resample; the test split is empty');
  if (dayIndex.length !== rows) invalid(`There are ${dayIndex.length} day indices for ${rows} rows`);
  if (!Number.isInteger(blockDays) || blockDays < 1) invalid(`blockDays must be an integer >= 1, got ${blockDays}`);
  if (!Number.isInteger(resamples) || resamples < 100) invalid(`resamples must be an integer >= 100, got ${resamples}`);
  const predicted = predictedOf(predictions, rows);

  // Per distinct day (ascending): rows, model hits, baseline hits.
  const order = Int32Array.from({ length: rows }, (_, i) => i).sort((a, b) => dayIndex[a] - dayIndex[b]);
  const count: number[] = [];
  const modelHits: number[] = [];
  const baselineHits: number[] = [];
  for (let i = 0; i < rows; i++) {
    const r = order[i];
    if (i === 0 || dayIndex[r] !== dayIndex[order[i - 1]]) {
      count.push(0);
      modelHits.push(0);
      baselineHits.push(0);
    }
    const d = count.length - 1;
    count[d]++;
    if (predicted[r] === labels[r]) modelHits[d]++;
    if ((typeof baseline === 'number' ? baseline : baseline[r]) === labels[r]) baselineHits[d]++;
  }

  const days = count.length;
  const random = rng(seed);
  const accuracy = new Float64Array(resamples);
  const difference = new Float64Array(resamples);
  for (let s = 0; s < resamples; s++) {
    let n = 0;
    let model = 0;
    let baseline = 0;
    for (let taken = 0; taken < days; ) {
      const first = Math.floor(random() * days);
      for (let k = 0; k < blockDays && taken < days; k++, taken++) {
        const d = (first + k) % days;
        n += count[d];
        model += modelHits[d];
        baseline += baselineHits[d];
      }
    }
    accuracy[s] = model / n;
    difference[s] = (model - baseline) / n;
  }
  accuracy.sort();
  difference.sort();
  const alpha = (1 - confidence) / 2;
  return {
    modelAccuracy: { lower: quantileOfSorted(accuracy, alpha), upper: quantileOfSorted(accuracy, 1 - alpha) },
    difference: { lower: quantileOfSorted(difference, alpha), upper: quantileOfSorted(difference, 1 - alpha) },
    resamples,
  };
}
