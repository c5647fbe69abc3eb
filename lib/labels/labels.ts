/**
 * Declared prediction targets. A label at row t looks forward from bar t; `end[t]` is the index of
 * the last bar it uses, so training can purge samples whose label windows overlap a test fold.
 * Scale inputs (volatility) come from bars <= t only.
 */
import { z } from 'zod';
import { nanArray } from '../features/indicators/rolling';

const positive = (d: number) => z.number().positive().default(d);
const bars = (d: number) => z.number().int().min(1).max(1000).default(d);

export const labelSpecSchema = z.discriminatedUnion('kind', [
  /**
   * 1 when the close h bars ahead is above today's, 0 otherwise. Moves within the dead zone (|return|
   * <= deadZone) are not trained on, but are evaluated like every other row (LabelSeries.evaluationOnly).
   */
  z.object({ kind: z.literal('direction'), horizon: bars(5), deadZone: z.number().min(0).default(0) }),
  /** 1 profit-take first, 0 stop-loss first; at the time limit the sign of the return decides. */
  z.object({ kind: z.literal('triple_barrier'), horizon: bars(10), profitTake: positive(2), stopLoss: positive(2), volWindow: bars(20) }),
  /** 1 when realised volatility over the next h bars is above the median of the trailing h-bar volatilities. */
  z.object({ kind: z.literal('volatility_regime'), horizon: bars(20), trailing: bars(252) }),
]);
export type LabelSpec = z.infer<typeof labelSpecSchema>;
export type LabelSpecInput = z.input<typeof labelSpecSchema>;

export interface LabelSeries {
  /** 0/1, NaN where no label exists (not enough future or past). */
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

function logReturns(close: Float64Array): Float64Array {
  const r = nanArray(close.length);
  for (let i = 1; i < close.length; i++) r[i] = Math.log(close[i] / close[i - 1]);
  return r;
}

function std(x: Float64Array, from: number, to: number): number {
  const n = to - from + 1;
  let mean = 0;
  for (let i = from; i <= to; i++) mean += x[i];
  mean /= n;
  let ss = 0;
  for (let i = from; i <= to; i++) ss += (x[i] - mean) ** 2;
  return Math.sqrt(ss / (n - 1));
}

export function computeLabels(spec: LabelSpec, close: Float64Array): LabelSeries {
  const n = close.length;
  const value = nanArray(n);
  const end = new Int32Array(n).fill(-1);
  const h = spec.horizon;
  switch (spec.kind) {
    case 'direction': {
      // A return of exactly 0 is in every dead zone, the default 0 included: no direction to learn.
      const evaluationOnly = new Uint8Array(n);
      for (let t = 0; t + h < n; t++) {
        const r = close[t + h] / close[t] - 1;
        if (!Number.isFinite(r)) continue; // a zero or missing close: no return, no label
        value[t] = r > 0 ? 1 : 0;
        end[t] = t + h;
        if (Math.abs(r) <= spec.deadZone) evaluationOnly[t] = 1;
      }
      return { value, end, evaluationOnly };
    }
    case 'triple_barrier': {
      const r = logReturns(close);
      // Only bars with the whole horizon ahead are labelled, even where a barrier is hit early:
      // otherwise which of the last h bars have a label would depend on their future path.
      for (let t = spec.volWindow; t + h < n; t++) {
        const sigma = std(r, t - spec.volWindow + 1, t); // daily volatility known at t
        const upper = close[t] * Math.exp(spec.profitTake * sigma);
        const lower = close[t] * Math.exp(-spec.stopLoss * sigma);
        for (let k = 1; k <= h; k++) {
          const c = close[t + k];
          if (c >= upper || c <= lower) {
            value[t] = c >= upper ? 1 : 0;
            end[t] = t + k;
            break;
          }
        }
        if (end[t] < 0) {
          value[t] = close[t + h] > close[t] ? 1 : 0;
          end[t] = t + h;
        }
      }
      break;
    }
    case 'volatility_regime': {
      const r = logReturns(close);
      const { median } = trailingVolatility(r, h, spec.trailing);
      for (let t = h + spec.trailing - 1; t + h < n; t++) {
        value[t] = std(r, t + 1, t + h) > median[t] ? 1 : 0;
        end[t] = t + h;
      }
      break;
    }
  }
  return { value, end };
}

/** Realised h-bar volatility ending at each bar, and the median of the last `trailing` of them (both known at that bar). */
function trailingVolatility(r: Float64Array, h: number, trailing: number): { past: Float64Array; median: Float64Array } {
  const n = r.length;
  const past = nanArray(n);
  for (let s = h; s < n; s++) past[s] = std(r, s - h + 1, s);
  const median = nanArray(n);
  for (let t = h + trailing - 1; t < n; t++) {
    const window = Array.from(past.subarray(t - trailing + 1, t + 1)).sort((a, b) => a - b);
    const m = window.length;
    median[t] = m % 2 === 1 ? window[(m - 1) / 2] : (window[m / 2 - 1] + window[m / 2]) / 2;
  }
  return { past, median };
}

/**
 * The volatility regime as known at bar t (the persistence forecast): the same comparison as the
 * label, made with the h-bar window that ends at t instead of the one that starts after it.
 * `score` is log(past volatility / trailing median), a ranking score for AUC; NaN before warm-up.
 */
export function volatilityRegimeKnownAt(spec: Extract<LabelSpec, { kind: 'volatility_regime' }>, close: Float64Array): { value: Float64Array; score: Float64Array } {
  const { past, median } = trailingVolatility(logReturns(close), spec.horizon, spec.trailing);
  const value = nanArray(close.length);
  const score = nanArray(close.length);
  for (let t = 0; t < close.length; t++) {
    if (Number.isNaN(median[t]) || Number.isNaN(past[t])) continue;
    value[t] = past[t] > median[t] ? 1 : 0;
    score[t] = Math.log(past[t] / median[t]);
  }
  return { value, score };
}
