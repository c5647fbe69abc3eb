/**
 * Window primitives over Float64Array series. Every output has the input's length; positions
 * without enough history hold NaN. A value at i uses inputs at indices <= i only (no look-ahead).
 */

import { newSeries } from './scratch';

export function nanArray(n: number): Float64Array {
  return newSeries(n).fill(NaN);
}

/** [f(0), …, f(n − 1)]: Float64Array.from(x, mapFn) does the same ~20× slower (~50 ns per element in V8). */
export function seriesOf(n: number, f: (i: number) => number): Float64Array {
  const out = newSeries(n);
  for (let i = 0; i < n; i++) out[i] = f(i);
  return out;
}

export function sma(x: Float64Array, window: number): Float64Array {
  const out = nanArray(x.length);
  let sum = 0;
  let valid = 0; // NaN-free run length, so a NaN poisons only the windows that contain it
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (Number.isNaN(v)) {
      sum = 0;
      valid = 0;
      continue;
    }
    sum += v;
    valid++;
    if (valid > window) sum -= x[i - window];
    if (valid >= window) out[i] = sum / window;
  }
  return out;
}

/** Exponential moving average, alpha = 2/(window+1), seeded with the SMA of the first window values. */
export function ema(x: Float64Array, window: number, start = firstValid(x)): Float64Array {
  return smoothed(x, window, 2 / (window + 1), start);
}

/** Wilder's smoothing (RMA), alpha = 1/window, seeded with the SMA of the first window values. */
export function wilder(x: Float64Array, window: number, start = firstValid(x)): Float64Array {
  return smoothed(x, window, 1 / window, start);
}

function smoothed(x: Float64Array, window: number, alpha: number, start: number): Float64Array {
  const out = nanArray(x.length);
  if (start < 0 || start + window > x.length) return out;
  let acc = 0;
  for (let i = start; i < start + window; i++) acc += x[i];
  let prev = acc / window;
  out[start + window - 1] = prev;
  for (let i = start + window; i < x.length; i++) {
    prev = prev + alpha * (x[i] - prev);
    out[i] = prev;
  }
  return out;
}

export function firstValid(x: Float64Array): number {
  for (let i = 0; i < x.length; i++) if (!Number.isNaN(x[i])) return i;
  return -1;
}

/*
 * Window statistics added up afresh for each window are computed several windows at a time below
 * (four; two for correlations, which keep five sums each). Each window's sums are taken in exactly
 * the order they would be alone, so the results are the same to the bit; but several windows give
 * independent chains of additions, which the CPU overlaps, where one chain waits on each addition's
 * latency (~1.5–2× faster for the S&P 500's features). The last few windows are done one at a time.
 */

/**
 * For each full window ending at i: the mean of x[j] − x[i] over the window, and the sum of the
 * squares (or absolute values) of x[j] − x[i] − that mean. Deviations are taken from x[i] first: a
 * constant window then gives exact zeros (sum/window need not reproduce the value, e.g. 0.1 -> std
 * 1.4e-17 instead of 0). NaN before the first full window.
 */
export function windowDeviations(x: Float64Array, window: number, kind: 'squares' | 'absolute'): { mean: Float64Array; spread: Float64Array } {
  const mean = nanArray(x.length);
  const spread = nanArray(x.length);
  const squares = kind === 'squares';
  let i = window - 1;
  for (; i + 3 < x.length; i += 4) {
    const r0 = x[i];
    const r1 = x[i + 1];
    const r2 = x[i + 2];
    const r3 = x[i + 3];
    let m0 = 0;
    let m1 = 0;
    let m2 = 0;
    let m3 = 0;
    for (let j = i - window + 1; j <= i; j++) {
      m0 += x[j] - r0;
      m1 += x[j + 1] - r1;
      m2 += x[j + 2] - r2;
      m3 += x[j + 3] - r3;
    }
    m0 /= window;
    m1 /= window;
    m2 /= window;
    m3 /= window;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = i - window + 1; j <= i; j++) {
      const d0 = x[j] - r0 - m0;
      const d1 = x[j + 1] - r1 - m1;
      const d2 = x[j + 2] - r2 - m2;
      const d3 = x[j + 3] - r3 - m3;
      s0 += squares ? d0 * d0 : Math.abs(d0);
      s1 += squares ? d1 * d1 : Math.abs(d1);
      s2 += squares ? d2 * d2 : Math.abs(d2);
      s3 += squares ? d3 * d3 : Math.abs(d3);
    }
    mean[i] = m0;
    mean[i + 1] = m1;
    mean[i + 2] = m2;
    mean[i + 3] = m3;
    spread[i] = s0;
    spread[i + 1] = s1;
    spread[i + 2] = s2;
    spread[i + 3] = s3;
  }
  for (; i < x.length; i++) {
    const ref = x[i];
    let m = 0;
    for (let j = i - window + 1; j <= i; j++) m += x[j] - ref;
    m /= window;
    let t = 0;
    for (let j = i - window + 1; j <= i; j++) t += squares ? (x[j] - ref - m) * (x[j] - ref - m) : Math.abs(x[j] - ref - m);
    mean[i] = m;
    spread[i] = t;
  }
  return { mean, spread };
}

/** Rolling standard deviation; ddof 0 (population, as Bollinger bands use) or 1 (sample). */
export function rollingStd(x: Float64Array, window: number, ddof: 0 | 1): Float64Array {
  const { spread } = windowDeviations(x, window, 'squares');
  const out = nanArray(x.length);
  for (let i = window - 1; i < x.length; i++) out[i] = Math.sqrt(spread[i] / (window - ddof));
  return out;
}

export function rollingSum(x: Float64Array, window: number): Float64Array {
  const out = sma(x, window);
  for (let i = 0; i < out.length; i++) out[i] *= window;
  return out;
}

/**
 * Window sums added up afresh for each window (O(n·window)), NaN before it fills. A running sum
 * keeps a residue once large values leave the window (−1.1e-8 where 0 was due made a zero-volume
 * VWAP −∞), so tests such as "no volume traded" are only exact this way.
 */
export function exactWindowSums(x: Float64Array, window: number): Float64Array {
  const out = nanArray(x.length);
  let i = window - 1;
  for (; i + 3 < x.length; i += 4) {
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    let t3 = 0;
    for (let j = i - window + 1; j <= i; j++) {
      t0 += x[j];
      t1 += x[j + 1];
      t2 += x[j + 2];
      t3 += x[j + 3];
    }
    out[i] = t0;
    out[i + 1] = t1;
    out[i + 2] = t2;
    out[i + 3] = t3;
  }
  for (; i < x.length; i++) {
    let t = 0;
    for (let j = i - window + 1; j <= i; j++) t += x[j];
    out[i] = t;
  }
  return out;
}

/** Rolling max/min in O(n) with a monotonic deque. */
export function rollingMax(x: Float64Array, window: number): Float64Array {
  return rollingExtreme(x, window, true);
}
export function rollingMin(x: Float64Array, window: number): Float64Array {
  return rollingExtreme(x, window, false);
}

/** The deque's memory, reused: rollingExtreme runs to its end before it is called again. */
let dequeMemory = new Int32Array(0);

// A flag, not a comparison callback: the callback, called per step from both, was not inlined (~50 ms a run of the S&P 500's features).
function rollingExtreme(x: Float64Array, window: number, max: boolean): Float64Array {
  const out = nanArray(x.length);
  if (dequeMemory.length < x.length) dequeMemory = new Int32Array(x.length);
  const deque = dequeMemory;
  let head = 0;
  let tail = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    while (tail > head && (max ? v >= x[deque[tail - 1]] : v <= x[deque[tail - 1]])) tail--;
    deque[tail++] = i;
    if (deque[head] <= i - window) head++;
    if (i >= window - 1) out[i] = x[deque[head]];
  }
  return out;
}

/** x shifted forward by k: out[i] = x[i-k] (NaN where i < k). */
export function lag(x: Float64Array, k: number): Float64Array {
  const out = nanArray(x.length);
  for (let i = k; i < x.length; i++) out[i] = x[i - k];
  return out;
}

/** Rolling Pearson correlation of two series. */
export function rollingCorrelation(a: Float64Array, b: Float64Array, window: number): Float64Array {
  const out = nanArray(a.length);
  let i = window - 1;
  for (; i + 1 < a.length; i += 2) {
    // Deviations from a[i], b[i] first, so a constant window has exactly zero variance (-> NaN).
    const ra0 = a[i];
    const rb0 = b[i];
    const ra1 = a[i + 1];
    const rb1 = b[i + 1];
    let ma0 = 0;
    let mb0 = 0;
    let ma1 = 0;
    let mb1 = 0;
    for (let j = i - window + 1; j <= i; j++) {
      ma0 += a[j] - ra0;
      mb0 += b[j] - rb0;
      ma1 += a[j + 1] - ra1;
      mb1 += b[j + 1] - rb1;
    }
    ma0 /= window;
    mb0 /= window;
    ma1 /= window;
    mb1 /= window;
    let cov0 = 0;
    let va0 = 0;
    let vb0 = 0;
    let cov1 = 0;
    let va1 = 0;
    let vb1 = 0;
    for (let j = i - window + 1; j <= i; j++) {
      const da0 = a[j] - ra0 - ma0;
      const db0 = b[j] - rb0 - mb0;
      const da1 = a[j + 1] - ra1 - ma1;
      const db1 = b[j + 1] - rb1 - mb1;
      cov0 += da0 * db0;
      va0 += da0 * da0;
      vb0 += db0 * db0;
      cov1 += da1 * db1;
      va1 += da1 * da1;
      vb1 += db1 * db1;
    }
    out[i] = va0 > 0 && vb0 > 0 ? cov0 / Math.sqrt(va0 * vb0) : NaN;
    out[i + 1] = va1 > 0 && vb1 > 0 ? cov1 / Math.sqrt(va1 * vb1) : NaN;
  }
  for (; i < a.length; i++) {
    const ra = a[i];
    const rb = b[i];
    let ma = 0;
    let mb = 0;
    for (let j = i - window + 1; j <= i; j++) {
      ma += a[j] - ra;
      mb += b[j] - rb;
    }
    ma /= window;
    mb /= window;
    let cov = 0;
    let va = 0;
    let vb = 0;
    for (let j = i - window + 1; j <= i; j++) {
      const da = a[j] - ra - ma;
      const db = b[j] - rb - mb;
      cov += da * db;
      va += da * da;
      vb += db * db;
    }
    out[i] = va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : NaN;
  }
  return out;
}
