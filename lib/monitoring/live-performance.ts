/**
 * How the served model does on predictions whose outcome is known, beside what its backtest
 * promised: hit rate (Wilson interval), AUC, calibration (reliability bins, expected calibration
 * error), the realised return and drawdown of the backtest's own strategy re-traded on the live
 * period (live-book.ts: the drawdown alarm compares it, and only it, with the promised drawdown), and
 * a costless check of the signal (long when it predicts up, else flat, over the label horizon).
 *
 * One sample per symbol and day: the API predicts the same vector many times, and counting each
 * request would make twelve symbols look like thousands of observations. Samples of one day share
 * the market's move and samples of days less than the horizon apart share their forward returns, so
 * the hit-rate interval rests on a dependence-robust effective sample size and Student's t on the
 * independent stretches of days (hitRateIntervalOf).
 *
 * Below the minimum sample the verdict is "insufficient-data", never an alarm; on fewer than
 * HIT_RATE_MIN_STRETCHES independent stretches of days it is "insufficient-data" too (never "ok"),
 * unless the hit rate's interval lies wholly below the promise.
 */
import { z } from 'zod';
import { maxDrawdownOf } from '../backtest/performance';
import { binaryAucOf } from '../stats/binary-scores';
import { clusteredMean, type PanelDependence } from '../stats/dependent-inference';
import { dependentProportionInterval, type DependentProportion } from '../stats/proportions';
import { studentTQuantile } from '../stats/distributions';
import { GUARD_MIN_CLUSTERS } from '../training/guards';
import { rng } from '../random';
import type { RefusedBarsSummary } from '../store/bar-signature';
import type { RefusedLogRowsSummary } from '../serving/prediction-log-signature';
import { roundSignificant } from './binning';
import type { LiveBook } from './live-book';

export interface OutcomeSample {
  symbol: string;
  /** Trading day of the features the prediction used. */
  asOf: string;
  /** P(up). */
  probability: number;
  predictedClass: 0 | 1;
  outcome: 0 | 1;
  /** Tradable return over the label horizon from asOf (next open to the horizon's last close); null when a bar is missing. */
  forwardReturn: number | null;
}

export interface PerformanceOptions {
  /** Matured samples and distinct days needed before anything is judged. */
  minSamples: number;
  minDays: number;
  confidence: number;
  /** Degraded when the hit rate's upper confidence bound is below the promised accuracy minus this. */
  maxHitRateDrop: number;
  /**
   * Degraded when the live book's drawdown (the backtest's strategy on the live period) exceeds the
   * largest of: the backtest's maximum drawdown times this, the drawdown the promised daily mean and
   * volatility make plausible over the live sessions (plausibleDrawdownOf, at `confidence`), and
   * minDrawdownAlarm.
   */
  maxDrawdownFactor: number;
  /**
   * The drawdown that always alarms when a drawdown was promised: a backtest whose equity never fell
   * (a leaky, steadily rising one, or a strategy flat through its evaluation) promised 0, and 1.5 × 0
   * had switched the alarm off (a live book down 35% read "ok").
   */
  minDrawdownAlarm: number;
  /** Degraded (calibration) when the expected calibration error exceeds this plus its sampling noise. */
  maxCalibrationError: number;
  calibrationBins: number;
  /** Label horizon in trading days: the strategy holds each signal this long (overlapping tranches). */
  horizon: number;
}

export const DEFAULT_PERFORMANCE_OPTIONS: PerformanceOptions = { minSamples: 100, minDays: 10, confidence: 0.99, maxHitRateDrop: 0.02, maxDrawdownFactor: 1.5, minDrawdownAlarm: 0.05, maxCalibrationError: 0.15, calibrationBins: 10, horizon: 5 };

/** What the version's out-of-sample evaluation (walk-forward and backtest) said it would do. */
export interface BacktestPromise {
  accuracy: number | null;
  auc: number | null;
  /** The backtest strategy's net maximum drawdown over the evaluation period: positive fraction, 0.2 = −20%. */
  maxDrawdown: number | null;
  /** The backtest strategy's mean net return per period: compare with the live book's, not the signal check's. */
  meanDailyReturn: number | null;
  /**
   * The backtest strategy's annualised volatility and its number of periods, when its metrics have
   * them: the drawdown its volatility makes plausible over the live sessions, and the sampling error
   * of its promised mean return.
   */
  annualVolatility?: number;
  periods?: number;
  /**
   * The share of each class the model got right out of sample (recall of down, of up), when its
   * metrics have them: the accuracy it promised at the live period's own share of ups is
   * share·up + (1 − share)·down.
   */
  recall?: { down: number; up: number };
}

const finite = z.number().refine(Number.isFinite);
const promiseSchema = z.object({
  outOfSample: z
    .object({
      classification: z.object({ accuracy: finite.optional(), rocAuc: finite.optional(), recall: z.array(z.number().min(0).max(1)).length(2).optional() }).partial().optional(),
      backtest: z.object({ strategy: z.object({ maxDrawdown: finite.optional(), meanReturn: finite.optional(), annualVolatility: finite.optional(), periods: z.number().int().positive().optional() }).partial().optional() }).partial().optional(),
    })
    .partial()
    .optional(),
});

/** The promise in a version's registry metrics (missing parts are null: registered outside a training run, or older metrics). */
export function backtestPromiseOf(metrics: Record<string, unknown>): BacktestPromise {
  const parsed = promiseSchema.safeParse(metrics);
  const o = parsed.success ? parsed.data.outOfSample : undefined;
  return {
    accuracy: o?.classification?.accuracy ?? null,
    auc: o?.classification?.rocAuc ?? null,
    maxDrawdown: o?.backtest?.strategy?.maxDrawdown ?? null,
    meanDailyReturn: o?.backtest?.strategy?.meanReturn ?? null,
    ...(o?.backtest?.strategy?.annualVolatility !== undefined ? { annualVolatility: o.backtest.strategy.annualVolatility } : {}),
    ...(o?.backtest?.strategy?.periods !== undefined ? { periods: o.backtest.strategy.periods } : {}),
    ...(o?.classification?.recall ? { recall: { down: o.classification.recall[0], up: o.classification.recall[1] } } : {}),
  };
}

export interface CalibrationBin {
  from: number;
  to: number;
  count: number;
  meanPredicted: number | null;
  observedRate: number | null;
}

export interface LiveStrategy {
  days: number;
  totalReturn: number;
  maxDrawdown: number;
  meanDailyReturn: number;
}

/** unavailable: nothing judged (with MODEL_SIGNING_KEY, bars the outcomes are measured on were refused: `unverifiedBars`). */
export type PerformanceStatus = 'insufficient-data' | 'ok' | 'degraded' | 'unavailable';

export interface LivePerformance {
  status: PerformanceStatus;
  /** 'critical' when the hit rate is significantly below the promise, 'warning' for drawdown or calibration only. */
  severity: 'warning' | 'critical' | null;
  reasons: string[];
  samples: number;
  days: number;
  from: string | null;
  to: string | null;
  hitRate: number | null;
  /** With its level (`confidence`), which whatever shows the interval must name. */
  hitRateInterval: { lower: number; upper: number; confidence: number } | null;
  /**
   * The stronger constant on the same matured predictions: always up or always down, whichever
   * scores more (chosen in hindsight, so a bar no real rule clears more easily). A hit rate is shown
   * beside it: 51.9% reads well until always down scores 57.6% on the same rows.
   */
  baseline: { name: 'always up' | 'always down'; hitRate: number } | null;
  /**
   * Samples after the design effect of their dependence; null when the interval rests on fewer than
   * HIT_RATE_MIN_STRETCHES independent stretches of days (a variance from so few cannot tell it).
   */
  effectiveSamples: number | null;
  auc: number | null;
  /** The calibration error a perfectly calibrated model shows on this many samples (`noise`) is allowed on top of the bound. */
  calibration: { bins: CalibrationBin[]; expectedCalibrationError: number | null; noise: number | null };
  /**
   * The costless signal check (liveStrategyOf): another strategy than the backtest's, never held
   * against its promise.
   */
  strategy: LiveStrategy | null;
  /** The backtest's strategy re-traded on the live period (live-book.ts), or why it could not be: what the promised drawdown and return are compared with. */
  book: LiveBook;
  promised: BacktestPromise;
  /** Why nothing was judged (status unavailable): the refused bars; the bars_unverified rule alerts. */
  unverifiedBars?: RefusedBarsSummary;
  /** Why nothing was judged (status unavailable): the refused prediction log rows; the predictions_unverified rule alerts. */
  unverifiedLog?: RefusedLogRowsSummary;
}

const r4 = (x: number) => roundSignificant(x, 4);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Reliability bins of equal width on [0, 1] and the expected calibration error Σ (n_b / n)·|mean p − rate|. */
export function calibrationOf(samples: readonly OutcomeSample[], bins: number): LivePerformance['calibration'] {
  const count = new Array<number>(bins).fill(0);
  const sumP = new Array<number>(bins).fill(0);
  const sumY = new Array<number>(bins).fill(0);
  for (const s of samples) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(s.probability * bins)));
    count[b]++;
    sumP[b] += s.probability;
    sumY[b] += s.outcome;
  }
  let ece = 0;
  let noise = 0;
  const out: CalibrationBin[] = count.map((c, b) => {
    if (c > 0) {
      const p = sumP[b] / c;
      ece += (c / samples.length) * Math.abs(p - sumY[b] / c);
      // E|observed − p| of a perfectly calibrated bin: √(2p(1 − p) / (π n)).
      noise += (c / samples.length) * Math.sqrt((2 * p * (1 - p)) / (Math.PI * c));
    }
    return { from: b / bins, to: (b + 1) / bins, count: c, meanPredicted: c > 0 ? r4(sumP[b] / c) : null, observedRate: c > 0 ? r4(sumY[b] / c) : null };
  });
  return { bins: out, expectedCalibrationError: samples.length > 0 ? r4(ece) : null, noise: samples.length > 0 ? r4(noise) : null };
}

/**
 * Long the symbols predicted up, flat otherwise, equally weighted per day; each day's book is held
 * for the horizon in overlapping tranches, so a day contributes its mean horizon return / horizon.
 * No costs: it is a check of the signal, not a P&L, and not the backtest's strategy (its exposure is
 * the share predicted up over the horizon), so its drawdown is never compared with the promise.
 */
export function liveStrategyOf(samples: readonly OutcomeSample[], horizon: number): LiveStrategy | null {
  const byDay = new Map<string, { sum: number; n: number }>();
  for (const s of samples) {
    if (s.forwardReturn === null) continue;
    const d = byDay.get(s.asOf) ?? { sum: 0, n: 0 };
    d.sum += s.predictedClass === 1 ? s.forwardReturn : 0;
    d.n++;
    byDay.set(s.asOf, d);
  }
  const days = [...byDay.keys()].sort();
  if (days.length === 0) return null;
  const returns = Float64Array.from(days, (d) => {
    const { sum, n } = byDay.get(d) as { sum: number; n: number };
    return sum / n / horizon;
  });
  const equity = new Float64Array(returns.length + 1);
  equity[0] = 1;
  for (let i = 0; i < returns.length; i++) equity[i + 1] = equity[i] * (1 + returns[i]);
  return { days: days.length, totalReturn: r4(equity[equity.length - 1] - 1), maxDrawdown: r4(maxDrawdownOf(equity).depth), meanDailyReturn: r4(returns.reduce((a, b) => a + b, 0) / returns.length) };
}

/**
 * Effective sample size of a proportion from day clusters (days taken as independent of each other;
 * the hit rate's interval uses hitRateIntervalOf, which is not): n / deff, deff = the cluster-robust
 * variance of the hit rate over its binomial variance (at least 1).
 */
export function dayClusteredEffectiveSize(samples: readonly OutcomeSample[]): number {
  const n = samples.length;
  if (n === 0) return 0;
  const hits = samples.reduce((a, s) => a + (s.predictedClass === s.outcome ? 1 : 0), 0);
  const p = hits / n;
  const byDay = new Map<string, { hits: number; n: number }>();
  for (const s of samples) {
    const d = byDay.get(s.asOf) ?? { hits: 0, n: 0 };
    d.hits += s.predictedClass === s.outcome ? 1 : 0;
    d.n++;
    byDay.set(s.asOf, d);
  }
  let clustered = 0;
  for (const d of byDay.values()) clustered += (d.hits - p * d.n) ** 2;
  const binomial = p * (1 - p) * n;
  if (binomial === 0 || clustered === 0) return n;
  return Math.min(n, (n * binomial) / clustered);
}

/**
 * Symbols of fewer than this are not a clustering of their own: with 12 symbols Student's t would
 * rest on 11 units, and with 3 on 2 (a critical value of 9.9 at 99%), blinding the check; the days
 * (within the horizon) then carry the dependence alone, as for the leakage guards.
 */
export const HIT_RATE_MIN_SYMBOL_CLUSTERS = 20;

/**
 * Independent stretches of days the hit rate's interval must rest on before it is judged at all, as
 * for the leakage guards (GUARD_MIN_CLUSTERS): below, Student's t has at most 3 degrees of freedom
 * and the variance is a guess. 10 days × 10 symbols of 5-session outcomes (2 stretches, 1 df) of a
 * model right 30% of the time against a promised 55% gave an interval of 0.3%–98.9% and "ok", with
 * 100 "effective" samples; with 3 stretches a 34%-right model was still "not significantly below".
 */
export const HIT_RATE_MIN_STRETCHES = GUARD_MIN_CLUSTERS;

/**
 * The hit rate's interval, robust to how matured outcomes depend on each other: rows of one day
 * share the market's move, and outcomes of days less than the label horizon apart share most of
 * their forward return (a 5-session outcome of Monday and of Tuesday overlap in four sessions), as
 * do a stock's rows (its own drift, a model's persistent call on it). The variance counts every pair
 * of rows within horizon − 1 trading days, and of one symbol (from HIT_RATE_MIN_SYMBOL_CLUSTERS
 * symbols), the panel dependence the training evaluation used for the accuracy it promised
 * (lib/stats/dependent-inference.ts); the Wilson interval is taken on the effective sample with
 * Student's t on the independent stretches of days. Clustering by day alone took a 5-session
 * model's consecutive days for independent ones: a model as good as promised was called
 * significantly worse in 4–6% of runs at a nominal 0.5%.
 */
export function hitRateIntervalOf(samples: readonly OutcomeSample[], horizon: number, confidence: number): DependentProportion | undefined {
  if (samples.length === 0) return undefined;
  const hits = Float64Array.from(samples, (s) => (s.predictedClass === s.outcome ? 1 : 0));
  return dependentProportionInterval(hits, outcomeDependence(samples, horizon), { confidence, minSymbolClusters: HIT_RATE_MIN_SYMBOL_CLUSTERS });
}

/** How matured outcomes depend on each other (see hitRateIntervalOf). */
function outcomeDependence(samples: readonly OutcomeSample[], horizon: number): PanelDependence {
  const days = [...new Set(samples.map((s) => s.asOf))].sort();
  const dayOf = new Map(days.map((d, i) => [d, i]));
  const symbols = new Map<string, number>();
  for (const s of samples) if (!symbols.has(s.symbol)) symbols.set(s.symbol, symbols.size);
  const day = Int32Array.from(samples, (s) => dayOf.get(s.asOf) as number);
  const lags = Math.max(0, Math.round(horizon) - 1);
  return symbols.size >= HIT_RATE_MIN_SYMBOL_CLUSTERS ? { day, symbol: Int32Array.from(samples, (s) => symbols.get(s.symbol) as number), lags } : { day, lags };
}

/**
 * How much the dependence of matured outcomes (rows of one day, of days within the horizon, of one
 * stock) inflates the variance of an observed rate over independent rows: at least 1. The
 * calibration bins' observed rates share it: in a month the market rose, every bin's rate rose.
 */
export function outcomeDesignEffect(samples: readonly OutcomeSample[], horizon: number): number {
  const n = samples.length;
  if (n < 2) return 1;
  const outcomes = Float64Array.from(samples, (s) => s.outcome);
  const e = clusteredMean(outcomes, outcomeDependence(samples, horizon), { minSymbolClusters: HIT_RATE_MIN_SYMBOL_CLUSTERS });
  const p = e.estimate;
  const binomial = (p * (1 - p)) / n;
  if (!(binomial > 0) || !Number.isFinite(e.standardError)) return 1;
  return Math.max(1, e.standardError ** 2 / binomial);
}

/**
 * The hit rate against what the model promised at the live period's own share of ups: each row's
 * hit less the recall the model promised for its class, so a period in which the market mostly falls
 * (fewer ups than in the evaluation) does not read as lost skill for a model that calls up more
 * often than down, and a model whose recall of either class fell does. Its interval is the same
 * dependence-robust one (Student's t on the independent stretches of days).
 */
export function hitRateShortfallOf(samples: readonly OutcomeSample[], recall: { down: number; up: number }, horizon: number, confidence: number): { expected: number; upShare: number; difference: number; upper: number } | undefined {
  if (samples.length === 0) return undefined;
  const difference = Float64Array.from(samples, (s) => (s.predictedClass === s.outcome ? 1 : 0) - (s.outcome === 1 ? recall.up : recall.down));
  const e = clusteredMean(difference, outcomeDependence(samples, horizon), { confidence, minSymbolClusters: HIT_RATE_MIN_SYMBOL_CLUSTERS });
  if (!(e.degreesOfFreedom >= 1) || !Number.isFinite(e.standardError)) return undefined;
  const upShare = samples.reduce((a, s) => a + s.outcome, 0) / samples.length;
  return { expected: upShare * recall.up + (1 - upShare) * recall.down, upShare, difference: e.estimate, upper: e.interval[1] };
}

/**
 * Calibration bins whose sampling noise counts the outcomes' dependence (outcomeDesignEffect): the
 * noise of independent rows let a perfectly calibrated model be warned about in 3% of runs of a
 * market moving 1% a day (5-session outcomes, 37 days, 50 symbols).
 */
function calibrationWithDependence(samples: readonly OutcomeSample[], options: PerformanceOptions): LivePerformance['calibration'] {
  const calibration = calibrationOf(samples, options.calibrationBins);
  if (calibration.noise === null) return calibration;
  return { ...calibration, noise: r4(calibration.noise * Math.sqrt(outcomeDesignEffect(samples, options.horizon))) };
}

/** Paths of the drawdown simulation: the 99% quantile then rests on the 40 deepest. */
const DRAWDOWN_PATHS = 4000;
const plausibleDrawdowns = new Map<string, number>();

/**
 * The `confidence` quantile of the maximum drawdown of `sessions` independent normal daily returns
 * of this mean and standard deviation: how deep a book that keeps its promise draws down over the
 * live period by luck alone. Drawdowns grow with the period (about as √sessions), so a backtest's
 * drawdown over a year is no bound for a quarter's, nor a quarter's for a year's. Simulated with a
 * fixed seed (deterministic) and cached. Independent returns are an approximation: a book holding
 * each signal for days has autocorrelated returns and somewhat deeper drawdowns.
 */
export function plausibleDrawdownOf(mean: number, volatility: number, sessions: number, confidence: number): number {
  const n = Math.max(0, Math.round(sessions));
  const key = `${mean}/${volatility}/${n}/${confidence}`;
  const known = plausibleDrawdowns.get(key);
  if (known !== undefined) return known;
  const next = rng(20_240_601);
  const depths = new Float64Array(DRAWDOWN_PATHS);
  for (let path = 0; path < DRAWDOWN_PATHS; path++) {
    let equity = 1;
    let peak = 1;
    let worst = 0;
    for (let t = 0; t < n; t++) {
      const z = volatility > 0 ? Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()) : 0;
      equity *= Math.max(0, 1 + mean + volatility * z);
      if (equity > peak) peak = equity;
      else if (1 - equity / peak > worst) worst = 1 - equity / peak;
    }
    depths[path] = worst;
  }
  depths.sort();
  const quantile = depths[Math.min(DRAWDOWN_PATHS - 1, Math.max(0, Math.ceil(confidence * DRAWDOWN_PATHS) - 1))];
  if (plausibleDrawdowns.size > 1000) plausibleDrawdowns.clear();
  plausibleDrawdowns.set(key, quantile);
  return quantile;
}

/** The promise's volatility per period of the book (its options' periodsPerYear), or undefined when its metrics lack it. */
function promisedDailyVolatility(promised: BacktestPromise, book: Extract<LiveBook, { status: 'traded' }>): number | undefined {
  const v = promised.annualVolatility;
  return v !== undefined && Number.isFinite(v) && v >= 0 ? v / Math.sqrt(book.options.periodsPerYear) : undefined;
}

/**
 * The live book's drawdown against the promise: over the largest of options.maxDrawdownFactor × the
 * promised drawdown, the drawdown the promised mean and volatility make plausible over the live
 * sessions, and options.minDrawdownAlarm. A reason only when it alarms or cannot compare.
 */
function drawdownVerdict(promised: BacktestPromise, book: LiveBook, options: PerformanceOptions): { alarm: boolean; reason?: string } {
  if (promised.maxDrawdown === null) return { alarm: false };
  if (book.status !== 'traded') return { alarm: false, reason: `drawdown not compared with the backtest's ${pct(promised.maxDrawdown)}: ${book.reason}` };
  const vol = promisedDailyVolatility(promised, book);
  const plausible = vol === undefined ? undefined : plausibleDrawdownOf(promised.meanDailyReturn ?? 0, vol, book.sessions, options.confidence);
  const limits = [
    { value: promised.maxDrawdown * options.maxDrawdownFactor, text: `${options.maxDrawdownFactor}× the ${pct(promised.maxDrawdown)} the same strategy drew down in the backtest's evaluation period` },
    ...(plausible !== undefined && vol !== undefined ? [{ value: plausible, text: `the ${pct(plausible)} its promised ${(100 * (promised.meanDailyReturn ?? 0)).toFixed(3)}% a day on ${(100 * vol).toFixed(2)}% daily volatility reaches over ${book.sessions} sessions in ${Math.round(options.confidence * 100)}% of simulated runs` }] : []),
    { value: options.minDrawdownAlarm, text: `the ${pct(options.minDrawdownAlarm)} floor` },
  ];
  const limit = limits.reduce((a, b) => (b.value > a.value ? b : a));
  if (!(book.maxDrawdown > limit.value)) return { alarm: false };
  return {
    alarm: true,
    reason: `live drawdown ${pct(book.maxDrawdown)} of the backtest's strategy (${book.strategy}) re-traded on ${book.symbols} symbols' served predictions over ${book.sessions} sessions exceeds ${limit.text}${vol === undefined ? ' (the backtest recorded no volatility to scale it by)' : ''}`,
  };
}

/**
 * The live book's mean daily net return against the promised one: degraded when the upper end of
 * the `confidence` interval of their difference is below 0. The live mean's standard error is
 * Newey–West (bookReturnEstimateOf); the promised mean's own sampling error (volatility / √periods,
 * as if its days were independent) is added when the backtest recorded them, since the promise is an
 * estimate too. Student t on the live book's degrees of freedom.
 */
function meanReturnVerdict(promised: BacktestPromise, book: LiveBook, confidence: number): { alarm: boolean; reason?: string } {
  if (promised.meanDailyReturn === null) return { alarm: false };
  const promise = `the promised ${(100 * promised.meanDailyReturn).toFixed(3)}%`;
  if (book.status !== 'traded') return { alarm: false };
  const live = `live mean daily return ${(100 * book.meanDailyReturn).toFixed(3)}% of the backtest's strategy over ${book.sessions} sessions`;
  const e = book.meanDailyReturnEstimate;
  if (!e || !(e.standardError >= 0) || !(e.degreesOfFreedom >= 1)) return { alarm: false, reason: `${live} not compared with ${promise}: ${e ? 'too few sessions for its standard error' : 'the book records no standard error of its mean'}` };
  const vol = promisedDailyVolatility(promised, book);
  // The promise is a mean of the same strategy's daily returns, as dependent as the live book's (a
  // 10-day holding overlaps ten tranches): its sampling error is vol/√periods times the long-run
  // variance factor the live book shows (never below 1). Taken as independent, books drawn from a
  // 10-day-holding promise alarmed 2.6–4.8% of the time at a nominal 0.5%.
  const inflation = Math.max(1, e.varianceInflation ?? 1);
  const promiseError = vol !== undefined && promised.periods !== undefined ? (vol * Math.sqrt(inflation)) / Math.sqrt(promised.periods) : 0;
  const se = Math.sqrt(e.standardError ** 2 + promiseError ** 2);
  const difference = book.meanDailyReturn - promised.meanDailyReturn;
  const upper = difference + studentTQuantile(1 - (1 - confidence) / 2, e.degreesOfFreedom) * se;
  const detail = `difference ${(100 * difference).toFixed(3)} points, ${Math.round(confidence * 100)}% interval up to ${(100 * upper).toFixed(3)}, Newey–West over ${e.lags} lags${promiseError > 0 ? `, with the promise's own sampling error` : ''}`;
  return upper < 0 ? { alarm: true, reason: `${live} is significantly below ${promise} (${detail})` } : { alarm: false, reason: `${live} is not significantly below ${promise} (${detail})` };
}

const NO_BOOK: LiveBook = { status: 'unavailable', reason: 'the backtest strategy was not re-traded on the live period' };

/**
 * `book`: the backtest's strategy on the live period (liveBookOf); without it the drawdown is not
 * compared with the promise, and the reasons say so.
 */
export function livePerformanceOf(samples: readonly OutcomeSample[], promised: BacktestPromise, options: PerformanceOptions = DEFAULT_PERFORMANCE_OPTIONS, book: LiveBook = NO_BOOK): LivePerformance {
  const days = [...new Set(samples.map((s) => s.asOf))].sort();
  const n = samples.length;
  const base: LivePerformance = {
    status: 'insufficient-data',
    severity: null,
    reasons: [],
    samples: n,
    days: days.length,
    from: days[0] ?? null,
    to: days[days.length - 1] ?? null,
    hitRate: null,
    hitRateInterval: null,
    baseline: null,
    effectiveSamples: null,
    auc: null,
    calibration: calibrationWithDependence(samples, options),
    strategy: liveStrategyOf(samples, options.horizon),
    book,
    promised,
  };
  let units = 0;
  if (n > 0) {
    const hits = samples.reduce((a, s) => a + (s.predictedClass === s.outcome ? 1 : 0), 0);
    const interval = hitRateIntervalOf(samples, options.horizon, options.confidence);
    units = interval?.units ?? 0;
    const auc = binaryAucOf(samples.map((s) => s.probability), samples.map((s) => s.outcome));
    const upShare = samples.reduce((a, s) => a + (s.outcome === 1 ? 1 : 0), 0) / n;
    base.baseline = upShare >= 0.5 ? { name: 'always up', hitRate: r4(upShare) } : { name: 'always down', hitRate: r4(1 - upShare) };
    Object.assign(base, { hitRate: r4(hits / n), hitRateInterval: interval ? { lower: r4(interval.lower), upper: r4(interval.upper), confidence: options.confidence } : null, effectiveSamples: interval ? r4(interval.effectiveSamples) : null, auc: Number.isFinite(auc) ? r4(auc) : null });
  }
  if (n < options.minSamples || days.length < options.minDays) {
    return { ...base, reasons: [`${n} matured predictions on ${days.length} days; performance is judged from ${options.minSamples} predictions on ${options.minDays} days`] };
  }
  // On few stretches the wide interval proves nothing good; an interval wholly below the promise
  // still proves the loss (a 3-stretch sample of a model right a third of the time stays an alarm).
  const clearlyBelow = base.hitRateInterval !== null && base.hitRateInterval.upper < (promised.accuracy ?? 0.5) - options.maxHitRateDrop;
  if (base.hitRateInterval === null || (units < HIT_RATE_MIN_STRETCHES && !clearlyBelow)) {
    const interval = base.hitRateInterval === null ? '' : ` (its ${Math.round(options.confidence * 100)}% interval would be ${pct(base.hitRateInterval.lower)}–${pct(base.hitRateInterval.upper)})`;
    return {
      ...base,
      effectiveSamples: null,
      reasons: [`${n} matured predictions on ${days.length} days make ${units} independent stretch(es) of ${options.horizon}-session outcomes; the hit rate is judged from ${HIT_RATE_MIN_STRETCHES}${interval}`],
    };
  }

  const reasons: string[] = [];
  let severity: LivePerformance['severity'] = null;
  const hitRate = base.hitRate as number;
  const upper = (base.hitRateInterval as { upper: number }).upper;
  // Without a promise the model should at least beat a coin.
  const target = promised.accuracy ?? 0.5;
  const shortfall = promised.recall ? hitRateShortfallOf(samples, promised.recall, options.horizon, options.confidence) : undefined;
  const against = shortfall
    ? `the ${pct(shortfall.expected)} its promised recalls (up ${pct((promised.recall as { up: number }).up)}, down ${pct((promised.recall as { down: number }).down)}) give at this period's ${pct(shortfall.upShare)} ups (difference ${(100 * shortfall.difference).toFixed(1)} points, interval up to ${(100 * shortfall.upper).toFixed(1)})`
    : promised.accuracy === null
      ? 'a coin flip'
      : `the promised ${pct(target)}`;
  const baseline = base.baseline as { name: string; hitRate: number };
  const hitText = `hit rate ${pct(hitRate)} (${Math.round(options.confidence * 100)}% interval up to ${pct(upper)}, ${n} predictions, ${Math.round(base.effectiveSamples as number)} effective over ${units} independent stretches of days; ${baseline.name} scores ${pct(baseline.hitRate)} on the same predictions) against ${against}`;
  if (shortfall ? shortfall.upper < -options.maxHitRateDrop : upper < target - options.maxHitRateDrop) {
    severity = 'critical';
    reasons.push(`${hitText}: significantly more than ${(100 * options.maxHitRateDrop).toFixed(1)} points below`);
  } else reasons.push(`${hitText}: not significantly more than ${(100 * options.maxHitRateDrop).toFixed(1)} points below`);
  // Like with like: the backtest's strategy, with its costs, on the live period against the same
  // strategy's drawdown and mean return in the evaluation; the signal check is another strategy and is not compared.
  for (const verdict of [drawdownVerdict(promised, book, options), meanReturnVerdict(promised, book, options.confidence)]) {
    if (verdict.alarm) severity ??= 'warning';
    if (verdict.reason) reasons.push(verdict.reason);
  }
  const { expectedCalibrationError: ece, noise } = base.calibration;
  if (ece !== null && noise !== null && ece > options.maxCalibrationError + noise) {
    severity ??= 'warning';
    reasons.push(`expected calibration error ${ece.toFixed(3)} exceeds ${options.maxCalibrationError} (+ ${noise.toFixed(3)} sampling noise)`);
  }
  return { ...base, status: severity === null ? 'ok' : 'degraded', severity, reasons };
}
