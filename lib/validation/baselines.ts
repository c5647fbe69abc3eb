/**
 * Naive baselines a model must beat, per label kind, on the same evaluation rows. A model is only
 * worth money if it does better than the strongest of the rules anyone could apply without it:
 *   - every label: the majority class of the period before evaluation (what a model could know);
 *   - direction and triple barrier: always up, and the sign of the past h-bar return (momentum, or
 *     reversal when reversal was right more often before the evaluation period);
 *   - volatility regime: persistence, the regime known at t (volatility clusters, so this is strong);
 *   - for information only, the evaluation period's own majority class: hindsight, never used to judge.
 * Each baseline has a predicted class per row (for accuracy) and a ranking score (for AUC; constant
 * rules score 0.5 AUC).
 */
import type { LabelSpec } from '../labels/labels';
import { volatilityRegimeKnownAt } from '../labels/labels';
import type { BarSeries } from '../market-data/bar';
import type { TrainingDataset } from '../training/dataset';
import { prePeriodRows } from '../training/evaluation-period';

export type BaselineName = 'pre_period_majority' | 'always_up' | 'momentum_sign' | 'persistence' | 'evaluation_majority';

export interface NaiveBaseline {
  name: BaselineName;
  description: string;
  /** Uses the evaluation period's own labels: shown for context, never a bar to clear. */
  hindsight: boolean;
  /** Class predicted for each evaluation row. */
  predicted: Int32Array;
  /** Ranking score for each evaluation row (higher = class 1 more likely). */
  score: Float64Array;
}

function majority(labels: ArrayLike<number>): number {
  let ones = 0;
  for (let i = 0; i < labels.length; i++) ones += labels[i];
  return ones * 2 > labels.length ? 1 : 0; // lowest class on ties, as majorityClassOf
}

function constant(name: BaselineName, description: string, hindsight: boolean, cls: number, rows: number): NaiveBaseline {
  return { name, description, hindsight, predicted: new Int32Array(rows).fill(cls), score: new Float64Array(rows).fill(cls) };
}

/** Per dataset row, the bar index of its decision day in its symbol's series (−1 when absent). */
function barIndexOfRows(ds: TrainingDataset, series: readonly BarSeries[]): { bar: Int32Array; closeOf: (r: number) => Float64Array | undefined } {
  const bySymbol = new Map(series.map((s) => [s.symbol, s]));
  const dateIndex = ds.symbols.map((symbol) => {
    const s = bySymbol.get(symbol);
    return new Map((s?.dates ?? []).map((d, i) => [d, i]));
  });
  const bar = Int32Array.from({ length: ds.rows }, (_, r) => dateIndex[ds.symbol[r]].get(ds.days[ds.start[r]]) ?? -1);
  return { bar, closeOf: (r) => bySymbol.get(ds.symbols[ds.symbol[r]])?.close };
}

/**
 * A per-row signal known at the decision day (NaN when unknown), computed once per symbol and read
 * at each row's bar.
 */
function signalAtRows(ds: TrainingDataset, series: readonly BarSeries[], rows: ArrayLike<number>, compute: (close: Float64Array) => Float64Array): Float64Array {
  const { bar, closeOf } = barIndexOfRows(ds, series);
  const cache = new Map<number, Float64Array>();
  const out = new Float64Array(rows.length).fill(NaN);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const close = closeOf(r);
    if (!close || bar[r] < 0) continue;
    let signal = cache.get(ds.symbol[r]);
    if (!signal) {
      signal = compute(close);
      cache.set(ds.symbol[r], signal);
    }
    out[i] = signal[bar[r]];
  }
  return out;
}

function pastReturn(h: number) {
  return (close: Float64Array) => Float64Array.from(close, (c, t) => (t >= h ? c / close[t - h] - 1 : NaN));
}

function accuracyOf(predicted: Int32Array, labels: Int32Array): number {
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) hits++;
  return labels.length > 0 ? hits / labels.length : NaN;
}

export function naiveBaselinesOf(ds: TrainingDataset, evaluationRows: Int32Array, series: readonly BarSeries[]): NaiveBaseline[] {
  const n = evaluationRows.length;
  const labels = Int32Array.from(evaluationRows, (r) => ds.labels[r]);
  const pre = prePeriodRows(ds, ds.start[evaluationRows[0]]);
  const preLabels = Int32Array.from(pre, (r) => ds.labels[r]);
  const baselines: NaiveBaseline[] = [];
  if (pre.length > 0) {
    const cls = majority(preLabels);
    baselines.push(constant('pre_period_majority', `always class ${cls}, the majority before the evaluation period`, false, cls, n));
  }
  const label: LabelSpec = ds.label;
  const h = label.horizon;
  if (label.kind === 'direction' || label.kind === 'triple_barrier') {
    baselines.push(constant('always_up', 'always up (class 1)', false, 1, n));
    // Momentum or reversal: the sign that was right more often before the evaluation period.
    const prePast = signalAtRows(ds, series, pre, pastReturn(h));
    let agree = 0;
    let counted = 0;
    prePast.forEach((v, i) => {
      if (Number.isNaN(v) || v === 0) return;
      counted++;
      if ((v > 0 ? 1 : 0) === preLabels[i]) agree++;
    });
    const sign = counted === 0 || agree * 2 >= counted ? 1 : -1;
    const past = signalAtRows(ds, series, evaluationRows, pastReturn(h));
    const fallback = pre.length > 0 ? majority(preLabels) : 1;
    const predicted = Int32Array.from(past, (v) => (Number.isNaN(v) || v === 0 ? fallback : sign * v > 0 ? 1 : 0));
    const score = Float64Array.from(past, (v) => (Number.isNaN(v) ? 0 : sign * v));
    baselines.push({ name: 'momentum_sign', description: `${sign > 0 ? 'momentum' : 'reversal'}: ${sign > 0 ? 'the sign' : 'the opposite sign'} of the past ${h}-bar return (chosen on the pre-period)`, hindsight: false, predicted, score });
  }
  if (label.kind === 'volatility_regime') {
    // One pass per symbol (a rolling median is not cheap) for both the class and the score.
    const regimes = new WeakMap<Float64Array, ReturnType<typeof volatilityRegimeKnownAt>>();
    const regimeOf = (close: Float64Array) => regimes.get(close) ?? regimes.set(close, volatilityRegimeKnownAt(label, close)).get(close)!;
    const known = signalAtRows(ds, series, evaluationRows, (close) => regimeOf(close).value);
    const knownScore = signalAtRows(ds, series, evaluationRows, (close) => regimeOf(close).score);
    const fallback = pre.length > 0 ? majority(preLabels) : 0;
    baselines.push({
      name: 'persistence',
      description: `persistence: the regime known at t (past ${h}-bar volatility against the same trailing median)`,
      hindsight: false,
      predicted: Int32Array.from(known, (v) => (Number.isNaN(v) ? fallback : v)),
      score: Float64Array.from(knownScore, (v) => (Number.isNaN(v) ? 0 : v)),
    });
  }
  const evaluationClass = majority(labels);
  baselines.push(constant('evaluation_majority', `always class ${evaluationClass}, the evaluation period's own majority (hindsight)`, true, evaluationClass, n));
  return baselines;
}

/** The non-hindsight baseline with the highest accuracy on these labels (first listed on ties). */
export function strongestBaseline(baselines: readonly NaiveBaseline[], labels: Int32Array): NaiveBaseline {
  const fair = baselines.filter((b) => !b.hindsight);
  if (fair.length === 0) throw new Error('no non-hindsight baseline');
  return fair.reduce((best, b) => (accuracyOf(b.predicted, labels) > accuracyOf(best.predicted, labels) ? b : best));
}

export { accuracyOf as baselineAccuracyOf };
