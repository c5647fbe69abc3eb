/**
 * Declared prediction targets. A label at row t looks forward from bar t over the next `horizon`
 * NYSE sessions (lib/calendar/nyse.ts), not the next `horizon` stored bars: when a session in that
 * window has no stored bar (a quarantined or not yet imported day, a halt), the row has no label
 * rather than one measured over a longer window. `end[t]` is the index of the last bar it uses, so
 * training can purge samples whose label windows overlap a test fold.
 * Scale inputs (volatility) come from bars <= t only.
 *
 * Returns a label is made of are tradable (tradableReturn): bought at the open of the session after
 * t and sold at the close of the horizon's last session. Row t's features use bar t's close, so an
 * order placed on them fills at the next open at the earliest; a label from bar t's close credited a
 * score with the overnight gap into t + 1, which no such order earns (a score of that gap alone,
 * whose backtest loses, beat every naive baseline on AUC and became champion).
 */
import { z } from 'zod';
import { nyseTradingDaysBetween } from '../calendar/nyse';
import { nanArray } from '../features/indicators/rolling';

/**
 * The version of the label computations: datasets record it (TrainingDataset.labelCodeVersion), so
 * each says which definition made its labels. Bump it when computeLabels gives another value or end
 * for the same spec and bars.
 * 2: the horizon counts NYSE sessions, and a session missing from the stored bars inside it leaves
 *    the row unlabelled (1 counted stored bars, so a missing bar stretched the window by a session);
 *    volatility windows across a missing session are not used.
 * 3: direction and triple-barrier labels enter at the next session's open (tradableReturn), not at
 *    the close that made the features; volatility-regime labels are unchanged.
 */
export const LABEL_CODE_VERSION = 3;

const positive = (d: number) => z.number().positive().default(d);
const bars = (d: number) => z.number().int().min(1).max(1000).default(d);

export const labelSpecSchema = z.discriminatedUnion('kind', [
  /**
   * 1 when the close h sessions ahead is above the next session's open (tradableReturn > 0), 0 otherwise.
   * Moves within the dead zone (|return| <= deadZone) are not trained on, but are evaluated like every
   * other row (LabelSeries.evaluationOnly).
   */
  z.object({ kind: z.literal('direction'), horizon: bars(5), deadZone: z.number().min(0).default(0) }),
  /**
   * Entered at the next session's open: 1 when a close reaches the profit-take first, 0 the stop-loss
   * first (both set from the entry price); at the time limit the sign of the tradable return decides.
   */
  z.object({ kind: z.literal('triple_barrier'), horizon: bars(10), profitTake: positive(2), stopLoss: positive(2), volWindow: bars(20) }),
  /** 1 when realised volatility over the next h sessions is above the median of the trailing h-session volatilities. */
  z.object({ kind: z.literal('volatility_regime'), horizon: bars(20), trailing: bars(252) }),
]);
export type LabelSpec = z.infer<typeof labelSpecSchema>;
export type LabelSpecInput = z.input<typeof labelSpecSchema>;

export interface LabelSeries {
  /** 0/1, NaN where no label exists (not enough future or past, or a session of the horizon missing). */
  value: Float64Array;
  /** Index of the last bar the label uses; -1 where there is no label. */
  end: Int32Array;
  /**
   * 1 where the label is for evaluation only: a direction move inside the dead zone, labelled by its
   * sign. Models are not trained on such rows, but they are predicted, scored and traded like any
   * other: which rows fall in the dead zone is known only after the horizon, so leaving them out of
   * the evaluation would score the model on the days with large moves alone.
   */
  evaluationOnly?: Uint8Array;
}

/**
 * Where each bar's horizon ends: `ends[t]` is the index of the bar `h` sessions after bar t when
 * every session in between has a stored bar, else -1 (a session missing, or not stored yet).
 * `gap[i]` is 1 when a session between bars i-1 and i is missing, so the return from one to the
 * other spans more than one session.
 * The sessions are the NYSE's trading days (lib/calendar/nyse.ts), and any other day the series has a
 * bar on: a bar shows the instrument traded that day (the quality checks keep other days out of the
 * store, so for stored bars the calendar is the NYSE's). An NYSE trading day without a bar (a halt, a
 * quarantined or missing row) is a missing session.
 * Without dates the bars are taken as consecutive sessions (a synthetic series): ends[t] = t + h.
 */
export function sessionHorizons(dates: readonly string[] | undefined, n: number, h: number): { ends: Int32Array; gap: Uint8Array } {
  const ends = new Int32Array(n).fill(-1);
  const gap = new Uint8Array(n);
  if (dates !== undefined && dates.length !== n) throw new RangeError(`${dates.length} dates for ${n} bars: the label needs one date per bar`);
  // missing[i]: sessions missing before bar i, from the first bar on.
  const missing = new Int32Array(n);
  if (dates !== undefined && n > 0) {
    const sessions = nyseTradingDaysBetween(dates[0], dates[n - 1]);
    for (let i = 1, j = 0; i < n; i++) {
      if (!(dates[i] > dates[i - 1])) throw new RangeError(`bar dates must ascend strictly: ${dates[i - 1]} is followed by ${dates[i]} at index ${i}`);
      // NYSE sessions strictly between the two bars are missing ones.
      while (j < sessions.length && sessions[j] <= dates[i - 1]) j++;
      let skipped = 0;
      while (j < sessions.length && sessions[j] < dates[i]) {
        skipped++;
        j++;
      }
      if (skipped > 0) gap[i] = 1;
      missing[i] = missing[i - 1] + skipped;
    }
  }
  // Bar t + h is h sessions after bar t exactly when no session is missing between them.
  for (let t = 0; t + h < n; t++) if (missing[t + h] === missing[t]) ends[t] = t + h;
  return { ends, gap };
}

/** The prices labels are made of, one per bar. */
export interface LabelPrices {
  open: Float64Array;
  close: Float64Array;
}

/**
 * The return of a position taken on row t's signal and held to the close of bar e: bought at the open
 * of bar t + 1 (the first price an order placed after t's close can fill at), sold at e's close; NaN
 * where either price is not a positive number. The labels, the dataset's forward return, the
 * information coefficient and live performance all measure this return.
 */
export function tradableReturn(prices: LabelPrices, t: number, e: number): number {
  const buy = prices.open[t + 1];
  const sell = prices.close[e];
  return buy > 0 && sell > 0 && e > t ? sell / buy - 1 : NaN;
}

/**
 * The price moves row t's label reads, each named by the bar it moves into (bar i: from bar i − 1's
 * close to bar i's close): the `back` bars up to t for the trailing volatility a triple barrier
 * scales by or a volatility regime compares with (t − back < i ≤ t; also the bars before t a label
 * needs stored), and those from bar t + `ahead` to the label's end. Direction and triple-barrier
 * labels enter at the open of t + 1, after the overnight move into it; a volatility regime measures
 * that move too.
 */
export function labelReach(spec: LabelSpec): { back: number; ahead: 1 | 2 } {
  switch (spec.kind) {
    case 'direction':
      return { back: 0, ahead: 2 };
    case 'triple_barrier':
      return { back: spec.volWindow, ahead: 2 };
    case 'volatility_regime':
      return { back: spec.horizon + spec.trailing - 1, ahead: 1 };
  }
}

/**
 * Whether row t, whose label ends at bar `end`, reads the move into any bar of `moved`: within `back`
 * bars up to t (its features' reach, or its label's when longer) or from t + `ahead` to `end`. What
 * keeps an unadjusted split's move out of training rows and live outcomes alike.
 */
export function readsMove(moved: readonly number[], t: number, end: number, reach: { back: number; ahead: number }): boolean {
  return moved.some((i) => (i > t - reach.back && i <= t) || (i >= t + reach.ahead && i <= end));
}

/** Log returns between consecutive bars; NaN where a session between them is missing (not a one-session return). */
function logReturns(close: Float64Array, gap: Uint8Array): Float64Array {
  const r = nanArray(close.length);
  for (let i = 1; i < close.length; i++) if (gap[i] === 0) r[i] = Math.log(close[i] / close[i - 1]);
  return r;
}

/** Sample standard deviation of the finite values of x[from..to]; NaN with fewer than two. */
function std(x: Float64Array, from: number, to: number): number {
  let n = 0;
  let mean = 0;
  for (let i = from; i <= to; i++) {
    if (!Number.isFinite(x[i])) continue;
    n++;
    mean += x[i];
  }
  if (n < 2) return NaN;
  mean /= n;
  let ss = 0;
  for (let i = from; i <= to; i++) if (Number.isFinite(x[i])) ss += (x[i] - mean) ** 2;
  return Math.sqrt(ss / (n - 1));
}

/**
 * The labels of one symbol's bars. `dates` (ascending, one per bar) place the horizon on the NYSE
 * calendar: a row whose next `horizon` sessions are not all stored gets no label. Every caller with
 * stored bars passes them; without, consecutive bars are taken as consecutive sessions.
 */
export function computeLabels(spec: LabelSpec, prices: LabelPrices, dates?: readonly string[]): LabelSeries {
  const { open, close } = prices;
  const n = close.length;
  if (open.length !== n) throw new RangeError(`${open.length} opens for ${n} closes: the label needs both prices of every bar`);
  const value = nanArray(n);
  const end = new Int32Array(n).fill(-1);
  const h = spec.horizon;
  const { ends, gap } = sessionHorizons(dates, n, h);
  switch (spec.kind) {
    case 'direction': {
      // A return of exactly 0 is in every dead zone, the default 0 included: no direction to learn.
      const evaluationOnly = new Uint8Array(n);
      for (let t = 0; t < n; t++) {
        const e = ends[t];
        if (e < 0) continue; // the horizon is not (all) stored: no label
        const r = tradableReturn(prices, t, e);
        if (!Number.isFinite(r)) continue; // a zero or missing price: no return, no label
        value[t] = r > 0 ? 1 : 0;
        end[t] = e;
        if (Math.abs(r) <= spec.deadZone) evaluationOnly[t] = 1;
      }
      return { value, end, evaluationOnly };
    }
    case 'triple_barrier': {
      const r = logReturns(close, gap);
      // Only bars with the whole horizon ahead are labelled, even where a barrier is hit early:
      // otherwise which of the last h bars have a label would depend on their future path.
      for (let t = spec.volWindow; t < n; t++) {
        const e = ends[t];
        if (e < 0) continue;
        const sigma = std(r, t - spec.volWindow + 1, t); // daily volatility known at t (one-session returns only)
        if (!Number.isFinite(sigma)) continue; // no scale, no barriers
        const entry = open[t + 1];
        if (!(entry > 0)) continue; // no price to enter at: no label
        const upper = entry * Math.exp(spec.profitTake * sigma);
        const lower = entry * Math.exp(-spec.stopLoss * sigma);
        for (let k = t + 1; k <= e; k++) {
          const c = close[k];
          if (c >= upper || c <= lower) {
            value[t] = c >= upper ? 1 : 0;
            end[t] = k;
            break;
          }
        }
        if (end[t] < 0) {
          const ret = tradableReturn(prices, t, e);
          if (!Number.isFinite(ret)) continue;
          value[t] = ret > 0 ? 1 : 0;
          end[t] = e;
        }
      }
      break;
    }
    case 'volatility_regime': {
      const r = logReturns(close, gap);
      const { median } = trailingVolatility(r, ends, h, spec.trailing);
      for (let t = h + spec.trailing - 1; t < n; t++) {
        const e = ends[t];
        if (e < 0 || Number.isNaN(median[t])) continue;
        const ahead = std(r, t + 1, e);
        if (Number.isNaN(ahead)) continue;
        value[t] = ahead > median[t] ? 1 : 0;
        end[t] = e;
      }
      break;
    }
  }
  return { value, end };
}

/**
 * Realised volatility over the w sessions ending at each bar; NaN when one of them is missing (a
 * window across a missing session is not a w-session window, as the label's would not be). `ends`:
 * sessionHorizons' for w.
 */
function pastVolatility(r: Float64Array, ends: Int32Array, w: number): Float64Array {
  const n = r.length;
  const past = nanArray(n);
  for (let s = w; s < n; s++) if (ends[s - w] === s) past[s] = std(r, s - w + 1, s);
  return past;
}

/** The median of the last `trailing` finite values of `past` up to each bar (NaN before h + trailing − 1 bars). */
function trailingMedian(past: Float64Array, h: number, trailing: number): Float64Array {
  const n = past.length;
  const median = nanArray(n);
  for (let t = h + trailing - 1; t < n; t++) {
    const window = Array.from(past.subarray(t - trailing + 1, t + 1))
      .filter((v) => !Number.isNaN(v))
      .sort((a, b) => a - b);
    const m = window.length;
    if (m === 0) continue;
    median[t] = m % 2 === 1 ? window[(m - 1) / 2] : (window[m / 2 - 1] + window[m / 2]) / 2;
  }
  return median;
}

/** The median of the last `trailing` h-session volatilities at each bar: what the label compares the coming h sessions with. */
function trailingVolatility(r: Float64Array, ends: Int32Array, h: number, trailing: number): { past: Float64Array; median: Float64Array } {
  const past = pastVolatility(r, ends, h);
  return { past, median: trailingMedian(past, h, trailing) };
}

/**
 * The fit-free volatility forecasts the regime label is judged against, each a set of windows (in
 * sessions) whose past volatilities are averaged: persistence first (the label's own h sessions),
 * then longer windows and blends of them. Volatility clusters over months as well as weeks, so a
 * longer window or a blend (as in HAR models) often forecasts the next h sessions better than the
 * last h alone: on S&P 500 stocks 2016–2017 (h = 20) persistence ranked the label at AUC 0.590, the
 * mean of the 5-, 20- and 60-session volatilities at 0.604.
 */
export function volatilityRuleWindows(h: number): number[][] {
  const short = Math.max(2, Math.round(h / 4));
  const distinct = (ws: number[]) => [...new Set(ws)];
  return [[h], distinct([short, h, 3 * h]), [h, 3 * h], [3 * h], [6 * h]];
}

/** A volatility rule's regime as known at each bar: class and ranking score (see volatilityRegimeKnownAt). */
export interface VolatilityRuleKnownAt {
  windows: readonly number[];
  value: Float64Array;
  score: Float64Array;
}

/**
 * Each rule of `rules` (windows, as volatilityRuleWindows gives them) as known at bar t: the mean of
 * its windows' past volatilities against the label's trailing median, 1 when above; `score` is
 * log(mean / median). NaN before warm-up and where a window ending at t spans a missing session.
 * `dates` as computeLabels takes them.
 */
export function volatilityRulesKnownAt(spec: Extract<LabelSpec, { kind: 'volatility_regime' }>, close: Float64Array, dates: readonly string[] | undefined, rules: readonly (readonly number[])[] = volatilityRuleWindows(spec.horizon)): VolatilityRuleKnownAt[] {
  const { ends, gap } = sessionHorizons(dates, close.length, spec.horizon);
  const r = logReturns(close, gap);
  const { past, median } = trailingVolatility(r, ends, spec.horizon, spec.trailing);
  const pastOf = new Map<number, Float64Array>([[spec.horizon, past]]);
  const windowOf = (w: number) => pastOf.get(w) ?? pastOf.set(w, pastVolatility(r, sessionHorizons(dates, close.length, w).ends, w)).get(w)!;
  return rules.map((windows) => {
    const series = windows.map(windowOf);
    const value = nanArray(close.length);
    const score = nanArray(close.length);
    for (let t = 0; t < close.length; t++) {
      if (Number.isNaN(median[t])) continue;
      let sum = 0;
      for (const x of series) sum += x[t];
      if (Number.isNaN(sum)) continue;
      const forecast = sum / series.length;
      value[t] = forecast > median[t] ? 1 : 0;
      score[t] = Math.log(forecast / median[t]);
    }
    return { windows, value, score };
  });
}

/**
 * The volatility regime as known at bar t (the persistence forecast): the same comparison as the
 * label, made with the h-session window that ends at t instead of the one that starts after it.
 * `score` is log(past volatility / trailing median), a ranking score for AUC; NaN before warm-up
 * and where a session of the window ending at t is missing. `dates` as computeLabels takes them.
 */
export function volatilityRegimeKnownAt(spec: Extract<LabelSpec, { kind: 'volatility_regime' }>, close: Float64Array, dates?: readonly string[]): { value: Float64Array; score: Float64Array } {
  const [{ value, score }] = volatilityRulesKnownAt(spec, close, dates, [[spec.horizon]]);
  return { value, score };
}
