/**
 * Naive baselines a model must beat, per label kind, on the same evaluation rows. A model is only
 * worth money if it does better than the strongest of the rules anyone could apply without it:
 *   - every label: the majority class of the period before evaluation (what a model could know);
 *   - direction and triple barrier: always up, and the sign of the past h-bar return (momentum, or
 *     reversal when reversal was right more often before the evaluation period);
 *   - direction and triple barrier, timing the market (one score for every symbol on a day, from the
 *     universe's bars up to that day): the sign of the equal-weighted market's past h-bar return, and
 *     market breadth (the share of symbols above their 50-day average) against its pre-period median,
 *     each oriented on the pre-period as momentum_sign is. A pooled AUC rewards timing the market as
 *     much as ranking stocks: without these, a model of market columns only "beat" momentum_sign
 *     by +0.026 AUC on S&P 500 data where −breadth alone, fitted to nothing, is within 0.001 of it;
 *   - volatility regime: persistence, the regime known at t (volatility clusters, so this is strong),
 *     and the strongest on the pre-period of the fit-free rules with longer windows and blends
 *     (volatilityRuleWindows): without them a model was credited with an AUC edge over persistence
 *     20–60% larger than over the mean of the past 5-, 20- and 60-session volatilities;
 *   - for information only, the evaluation period's own majority class: hindsight, never used to judge.
 * Each baseline has a predicted class per row (for accuracy) and a ranking score (for AUC; constant
 * rules score 0.5 AUC).
 */
import type { LabelSpec } from '../labels/labels';
import { volatilityRulesKnownAt, volatilityRuleWindows, type VolatilityRuleKnownAt } from '../labels/labels';
import { binaryAucOf } from '../stats/binary-scores';
import type { BarSeries } from '../market-data/bar';
import type { TrainingDataset } from '../training/dataset';
import { prePeriodRows } from '../training/evaluation-period';

export type BaselineName = 'pre_period_majority' | 'always_up' | 'momentum_sign' | 'market_momentum_sign' | 'market_breadth' | 'persistence' | 'smoothed_volatility' | 'evaluation_majority';

/** Trading days of the moving average market breadth compares each close with (as the `breadth` feature's default). */
export const MARKET_BREADTH_WINDOW = 50;

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

interface RowBars {
  bar: Int32Array;
  closeOf: (r: number) => Float64Array | undefined;
}

/** Per dataset row, the bar index of its decision day in its symbol's series (−1 when absent). */
function barIndexOfRows(ds: TrainingDataset, series: readonly BarSeries[]): RowBars {
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
function signalAtRows(ds: TrainingDataset, series: readonly BarSeries[], { bar, closeOf }: RowBars, rows: ArrayLike<number>, compute: (close: Float64Array, dates: readonly string[] | undefined) => Float64Array): Float64Array {
  const datesOf = new Map(series.map((s) => [s.close, s.dates]));
  const cache = new Map<number, Float64Array>();
  const out = new Float64Array(rows.length).fill(NaN);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const close = closeOf(r);
    if (!close || bar[r] < 0) continue;
    let signal = cache.get(ds.symbol[r]);
    if (!signal) {
      signal = compute(close, datesOf.get(close));
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

/**
 * A market-wide signal per dataset day: the mean over the symbols with a value on that day of a
 * per-symbol series computed from its own bars up to that day (causal, as a feature known at t).
 * NaN on days no symbol has a value.
 */
function marketSignalByDay(days: readonly string[], series: readonly BarSeries[], perSymbol: (close: Float64Array) => Float64Array): Float64Array {
  const sum = new Float64Array(days.length);
  const count = new Float64Array(days.length);
  for (const s of series) {
    const x = perSymbol(s.close);
    // Both date lists ascend: one walk along them, no lookups by string.
    for (let t = 0, d = 0; t < x.length && d < days.length; t++) {
      while (d < days.length && days[d] < s.dates[t]) d++;
      if (d < days.length && days[d] === s.dates[t] && Number.isFinite(x[t])) {
        sum[d] += x[t];
        count[d]++;
      }
    }
  }
  return Float64Array.from(sum, (v, d) => (count[d] > 0 ? v / count[d] : NaN));
}

/** 1 where the close is above its `window`-bar simple moving average (the bar itself included), 0 below or equal, NaN before. */
function aboveAverage(window: number) {
  return (close: Float64Array) => {
    const out = new Float64Array(close.length).fill(NaN);
    let sum = 0;
    for (let t = 0; t < close.length; t++) {
      sum += close[t];
      if (t >= window) sum -= close[t - window];
      if (t >= window - 1) out[t] = close[t] > sum / window ? 1 : 0;
    }
    return out;
  };
}

/**
 * A rule "class 1 when the signal is above `center`", or its reverse: the orientation that was right
 * more often on the pre-period's rows (momentum or reversal), never chosen on the evaluation period.
 * Unknown or exactly centred signals predict `fallback` and score 0 (the centre).
 */
function orientedRule(pre: { signal: Float64Array; labels: Int32Array }, signal: Float64Array, center: number, fallback: number): { sign: 1 | -1; predicted: Int32Array; score: Float64Array } {
  let agree = 0;
  let counted = 0;
  for (let i = 0; i < pre.signal.length; i++) {
    const v = pre.signal[i];
    if (Number.isNaN(v) || v === center) continue;
    counted++;
    if ((v > center ? 1 : 0) === pre.labels[i]) agree++;
  }
  const sign = counted === 0 || agree * 2 >= counted ? 1 : -1;
  const predicted = new Int32Array(signal.length);
  const score = new Float64Array(signal.length);
  for (let i = 0; i < signal.length; i++) {
    const v = signal[i];
    predicted[i] = Number.isNaN(v) || v === center ? fallback : sign * (v - center) > 0 ? 1 : 0;
    score[i] = Number.isNaN(v) ? 0 : sign * (v - center);
  }
  return { sign, predicted, score };
}

function medianOf(values: Float64Array): number {
  const finite = values.filter((v) => !Number.isNaN(v)).sort();
  if (finite.length === 0) return NaN;
  const m = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[m] : (finite[m - 1] + finite[m]) / 2;
}

export function naiveBaselinesOf(ds: TrainingDataset, evaluationRows: Int32Array, series: readonly BarSeries[]): NaiveBaseline[] {
  const n = evaluationRows.length;
  // Every rule below reads its signal at the rows' bars: the index is built once.
  const rowBars = barIndexOfRows(ds, series);
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
    const fallback = pre.length > 0 ? majority(preLabels) : 1;
    // Momentum or reversal: the sign that was right more often before the evaluation period.
    const momentum = orientedRule({ signal: signalAtRows(ds, series, rowBars, pre, pastReturn(h)), labels: preLabels }, signalAtRows(ds, series, rowBars, evaluationRows, pastReturn(h)), 0, fallback);
    const sign = momentum.sign;
    baselines.push({ name: 'momentum_sign', description: `${sign > 0 ? 'momentum' : 'reversal'}: ${sign > 0 ? 'the sign' : 'the opposite sign'} of the past ${h}-bar return (chosen on the pre-period)`, hindsight: false, predicted: momentum.predicted, score: momentum.score });
    // Market timing: one score per day for every symbol, so its pooled AUC is all timing and no ranking.
    const atRows = (byDay: Float64Array, rows: ArrayLike<number>) => Float64Array.from(rows, (r) => byDay[ds.start[r]]);
    const marketReturn = marketSignalByDay(ds.days, series, pastReturn(h));
    const market = orientedRule({ signal: atRows(marketReturn, pre), labels: preLabels }, atRows(marketReturn, evaluationRows), 0, fallback);
    baselines.push({ name: 'market_momentum_sign', description: `market ${market.sign > 0 ? 'momentum' : 'reversal'}: ${market.sign > 0 ? 'the sign' : 'the opposite sign'} of the equal-weighted market's past ${h}-bar return, the same for every symbol (chosen on the pre-period)`, hindsight: false, predicted: market.predicted, score: market.score });
    const breadth = marketSignalByDay(ds.days, series, aboveAverage(MARKET_BREADTH_WINDOW));
    const preBreadth = atRows(breadth, pre);
    // Breadth rarely sits at 50% (a rising market keeps most stocks above their average): its usual level before the period is the centre.
    const center = medianOf(preBreadth);
    if (Number.isFinite(center)) {
      const rule = orientedRule({ signal: preBreadth, labels: preLabels }, atRows(breadth, evaluationRows), center, fallback);
      baselines.push({ name: 'market_breadth', description: `market breadth: up when the share of symbols above their ${MARKET_BREADTH_WINDOW}-day average is ${rule.sign > 0 ? 'above' : 'below'} its pre-period median (${(center * 100).toFixed(1)}%), the same for every symbol (chosen on the pre-period)`, hindsight: false, predicted: rule.predicted, score: rule.score });
    }
  }
  if (label.kind === 'volatility_regime') {
    // One pass per symbol (a rolling median is not cheap) for every rule's class and score.
    const rules = volatilityRuleWindows(h);
    const known = new WeakMap<Float64Array, VolatilityRuleKnownAt[]>();
    // Over the NYSE sessions of the bars, as the label: a window with a missing session is unknown.
    const rulesOf = (close: Float64Array, dates: readonly string[] | undefined) => known.get(close) ?? known.set(close, volatilityRulesKnownAt(label, close, dates, rules)).get(close)!;
    const fallback = pre.length > 0 ? majority(preLabels) : 0;
    const ruleAt = (k: number, rows: ArrayLike<number>) => {
      const value = signalAtRows(ds, series, rowBars, rows, (close, dates) => rulesOf(close, dates)[k].value);
      const score = signalAtRows(ds, series, rowBars, rows, (close, dates) => rulesOf(close, dates)[k].score);
      // Unknown where a window spans a missing session or before warm-up: the pre-period's majority, the centre score.
      return { predicted: Int32Array.from(value, (v) => (Number.isNaN(v) ? fallback : v)), score: Float64Array.from(score, (v) => (Number.isNaN(v) ? 0 : v)) };
    };
    baselines.push({ name: 'persistence', description: `persistence: the regime known at t (past ${h}-session volatility against the same trailing median)`, hindsight: false, ...ruleAt(0, evaluationRows) });
    // The longer windows and blends: the one that ranked the pre-period's labels best (its AUC), as
    // momentum's sign is chosen; the first listed without a pre-period or on ties.
    let best = 1;
    let bestAuc = -Infinity;
    for (let k = 1; k < rules.length && pre.length > 0; k++) {
      const auc = binaryAucOf(ruleAt(k, pre).score, preLabels);
      if (auc > bestAuc) {
        best = k;
        bestAuc = auc;
      }
    }
    const windows = rules[best];
    const what = windows.length === 1 ? `past ${windows[0]}-session volatility` : `the mean of the past ${windows.slice(0, -1).join('-, ')}- and ${windows[windows.length - 1]}-session volatilities`;
    const among = rules.slice(1).map((ws) => (ws.length === 1 ? `${ws[0]}` : `mean(${ws.join(', ')})`)).join(', ');
    baselines.push({ name: 'smoothed_volatility', description: `smoothed volatility: ${what} against the label's trailing median of past ${h}-session volatilities (chosen on the pre-period among ${among}${Number.isFinite(bestAuc) ? `, AUC ${bestAuc.toFixed(4)} there` : ''})`, hindsight: false, ...ruleAt(best, evaluationRows) });
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

/**
 * Whether a baseline's ranking score takes more than one value over the rows. A constant rule
 * (always up, a majority class) trades as holding every symbol or none: buy-and-hold and cash, which
 * every strategy is already measured against.
 */
export function baselineVaries(b: Pick<NaiveBaseline, 'score'>): boolean {
  const s = b.score;
  for (let i = 1; i < s.length; i++) if (s[i] !== s[0]) return true;
  return false;
}

/**
 * A ranking rule's cross-sectional form: each row's score minus the median score of its day, up
 * where it is above it. Short-term reversal and momentum are usually traded so (Lehmann 1990,
 * Jegadeesh 1990): a top-k book of the day's biggest losers holds k stocks every day, where the sign
 * rule holds only those that fell. Undefined for a rule that gives every row of a day one score (market timing).
 */
export function crossSectionalRuleOf(b: Pick<NaiveBaseline, 'name' | 'description' | 'score'>, dayOfRow: Int32Array): { name: string; description: string; predicted: Int32Array; score: Float64Array } | undefined {
  if (dayOfRow.length !== b.score.length) throw new RangeError(`${dayOfRow.length} days for ${b.score.length} scores`);
  const byDay = new Map<number, number[]>();
  dayOfRow.forEach((d, i) => {
    const list = byDay.get(d);
    if (list) list.push(i);
    else byDay.set(d, [i]);
  });
  const score = new Float64Array(b.score.length);
  let varies = false;
  for (const rows of byDay.values()) {
    const values = rows.map((i) => b.score[i]).sort((x, y) => x - y);
    const m = values.length >> 1;
    const median = values.length % 2 === 1 ? values[m] : (values[m - 1] + values[m]) / 2;
    for (const i of rows) {
      score[i] = b.score[i] - median;
      if (score[i] !== 0) varies = true;
    }
  }
  if (!varies) return undefined;
  return { name: `${b.name}_cross_sectional`, description: `${b.description}, relative to the day's median`, predicted: Int32Array.from(score, (v) => (v > 0 ? 1 : 0)), score };
}

/**
 * A naive rule's decisions as the backtest trades a model's P(up): rows the rule predicts up score
 * above `threshold` (long), rows it predicts down score below min(threshold, 1 − threshold) (flat, or
 * short in long_short), and within each side a higher ranking score is a higher probability, so a
 * top-k cut takes the rule's most confident picks. The scale of the score does not matter (each side
 * is a monotone map of score / its median magnitude). Unknown signals score 0, the middle of their side.
 */
export function tradedProbabilitiesOf(b: Pick<NaiveBaseline, 'predicted' | 'score'>, threshold: number): Float64Array {
  if (!(threshold >= 0 && threshold < 1)) throw new RangeError(`threshold must be in [0, 1), got ${threshold}`);
  const magnitudes = Array.from(b.score, Math.abs).filter((v) => v > 0 && Number.isFinite(v)).sort((x, y) => x - y);
  const scale = magnitudes.length > 0 ? magnitudes[magnitudes.length >> 1] : 1;
  const low = Math.min(threshold, 1 - threshold);
  return Float64Array.from(b.predicted, (cls, i) => {
    const v = Number.isFinite(b.score[i]) ? b.score[i] / scale : 0;
    // In (0, 1), increasing in the score; kept off 0 and 1 so each side stays strictly inside its band.
    const u = Math.min(Math.max(1 / (1 + Math.exp(-v)), 1e-9), 1 - 1e-9);
    return cls === 1 ? threshold + (1 - threshold) * u : low * u;
  });
}

export { accuracyOf as baselineAccuracyOf };
