/**
 * The last value of each per-symbol feature, computed without building its whole series: what
 * computeSymbolFeature (lib/features/symbol-features.ts) returns at the last index of a series,
 * obtained by the same floating-point operations in the same order, so the result is identical
 * bit for bit (bench/online-indicators-check.ts compares both on every symbol of the data).
 *
 * Why: the online updater needs one row per symbol and batch, but computeSymbolFeature returns
 * whole columns; for one symbol that is about a hundred typed arrays (each allocated off the V8
 * heap, a few µs apiece) and most of the consumer's CPU time. Here a symbol's row costs a few
 * passes of scalar loops over its window and no allocation.
 *
 * Series are given as arrays plus the range [from, n) the reference would see as its input (the
 * window's tail, see online-updater.ts); "relative" indices below count from `from`, as the
 * reference's do. Running sums (SMA), cumulative lines (OBV, A/D) and recursive averages (EMA,
 * Wilder) are therefore started where the reference starts them. Kinds without a fast path here,
 * series with non-finite values and series shorter than a feature's warm-up return false, and the
 * caller uses computeSymbolFeature.
 */
import { warmupBars } from '../features/compute-features';
import type { SymbolFeatureSpec } from '../features/feature-set';
import type { Ohlcv } from '../features/indicators/indicators';

/** Scratch space for the few kinds that need a short series of intermediate values (%K of the stochastic). */
let scratch = new Float64Array(1024);
function scratchOf(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(n);
  return scratch;
}

/** sma(x, w) of the reference (a running sum from `from`, reset by NaN) at index `end`. */
function smaAt(x: Float64Array, from: number, end: number, w: number): number {
  let sum = 0;
  let valid = 0;
  for (let i = from; i <= end; i++) {
    const v = x[i];
    if (Number.isNaN(v)) {
      sum = 0;
      valid = 0;
      continue;
    }
    sum += v;
    valid++;
    if (valid > w) sum -= x[i - w];
  }
  return !Number.isNaN(x[end]) && valid >= w ? sum / w : NaN;
}

/** ema / wilder of the reference on finite x (start = from) at index n - 1. */
function smoothedLast(x: Float64Array, from: number, n: number, w: number, alpha: number): number {
  if (from + w > n) return NaN;
  let acc = 0;
  for (let i = from; i < from + w; i++) acc += x[i];
  let prev = acc / w;
  for (let i = from + w; i < n; i++) prev = prev + alpha * (x[i] - prev);
  return prev;
}

/** rollingStd(x, w, ddof) of the reference at index i (i - w + 1 must be in range). */
function stdAt(x: Float64Array, i: number, w: number, ddof: 0 | 1): number {
  const ref = x[i];
  let mean = 0;
  for (let j = i - w + 1; j <= i; j++) mean += x[j] - ref;
  mean /= w;
  let ss = 0;
  for (let j = i - w + 1; j <= i; j++) ss += (x[j] - ref - mean) * (x[j] - ref - mean);
  return Math.sqrt(ss / (w - ddof));
}

function maxOf(x: Float64Array, first: number, last: number): number {
  let m = x[first];
  for (let j = first + 1; j <= last; j++) if (x[j] >= m) m = x[j];
  return m;
}

function minOf(x: Float64Array, first: number, last: number): number {
  let m = x[first];
  for (let j = first + 1; j <= last; j++) if (x[j] <= m) m = x[j];
  return m;
}

/** exactWindowSums(x, w) of the reference at index i. */
function windowSum(x: Float64Array, i: number, w: number): number {
  let t = 0;
  for (let j = i - w + 1; j <= i; j++) t += x[j];
  return t;
}

/** RSI (Wilder) at the last index. */
function rsiLast(c: Float64Array, from: number, n: number, w: number): number {
  const m = n - from;
  if (m - 1 < w) return NaN;
  let ag = 0;
  let al = 0;
  for (let i = from + 1; i <= from + w; i++) {
    const d = c[i] - c[i - 1];
    ag += d > 0 ? d : 0;
    al += d < 0 ? -d : 0;
  }
  ag = ag / w;
  al = al / w;
  const alpha = 1 / w;
  for (let i = from + w + 1; i < n; i++) {
    const d = c[i] - c[i - 1];
    ag = ag + alpha * ((d > 0 ? d : 0) - ag);
    al = al + alpha * ((d < 0 ? -d : 0) - al);
  }
  return al === 0 ? (ag === 0 ? 50 : 100) : 100 - 100 / (1 + ag / al);
}

/** MACD line, signal and histogram at the last index, each divided by the close (as symbol-features does). */
function macdLast(c: Float64Array, from: number, n: number, fast: number, slow: number, signal: number, out: number[]): void {
  const af = 2 / (fast + 1);
  const as = 2 / (slow + 1);
  const ag = 2 / (signal + 1);
  let f = NaN;
  let s = NaN;
  let fAcc = 0;
  let sAcc = 0;
  let line = NaN;
  let sig = NaN;
  let sigAcc = 0;
  let lineCount = 0; // defined line values seen so far
  for (let i = from; i < n; i++) {
    const r = i - from;
    const x = c[i];
    if (r < fast) {
      fAcc += x;
      if (r === fast - 1) f = fAcc / fast;
    } else f = f + af * (x - f);
    if (r < slow) {
      sAcc += x;
      if (r === slow - 1) s = sAcc / slow;
    } else s = s + as * (x - s);
    line = f - s;
    if (Number.isNaN(line)) continue;
    if (lineCount < signal) {
      sigAcc += line;
      lineCount++;
      if (lineCount === signal) sig = sigAcc / signal;
    } else sig = sig + ag * (line - sig);
  }
  const close = c[n - 1];
  out.push(line / close, sig / close, (line - sig) / close);
}

/** ATR (Wilder on the true range from the second bar) at the last index. */
function atrLast(b: Ohlcv, from: number, n: number, w: number): number {
  if (from + 1 + w > n) return NaN;
  const { high: h, low: l, close: c } = b;
  const tr = (i: number): number => {
    const pc = c[i - 1];
    return Math.max(h[i] - l[i], Math.abs(h[i] - pc), Math.abs(l[i] - pc));
  };
  let acc = 0;
  for (let i = from + 1; i < from + 1 + w; i++) acc += tr(i);
  let prev = acc / w;
  const alpha = 1 / w;
  for (let i = from + 1 + w; i < n; i++) prev = prev + alpha * (tr(i) - prev);
  return prev;
}

/** ADX (Wilder) at the last index. */
function adxLast(b: Ohlcv, from: number, n: number, w: number): number {
  const m = n - from;
  if (w + w > m || 1 + w > m) return NaN;
  const { high: h, low: l, close: c } = b;
  const alpha = 1 / w;
  let str = 0;
  let sp = 0;
  let sm = 0;
  let dxAcc = 0;
  let adx = NaN;
  for (let r = 1; r < m; r++) {
    const i = from + r;
    const pc = c[i - 1];
    const tr = Math.max(h[i] - l[i], Math.abs(h[i] - pc), Math.abs(l[i] - pc));
    const up = h[i] - h[i - 1];
    const down = l[i - 1] - l[i];
    const pdm = up > down && up > 0 ? up : 0;
    const mdm = down > up && down > 0 ? down : 0;
    if (r <= w) {
      str += tr;
      sp += pdm;
      sm += mdm;
      if (r < w) continue;
      str = str / w;
      sp = sp / w;
      sm = sm / w;
    } else {
      str = str + alpha * (tr - str);
      sp = sp + alpha * (pdm - sp);
      sm = sm + alpha * (mdm - sm);
    }
    // r >= w from here on
    const plusDi = str > 0 ? (100 * sp) / str : 0;
    const minusDi = str > 0 ? (100 * sm) / str : 0;
    const sum = plusDi + minusDi;
    const dx = sum > 0 ? (100 * Math.abs(plusDi - minusDi)) / sum : 0;
    if (r < w + w) {
      dxAcc += dx;
      if (r === w + w - 1) adx = dxAcc / w;
    } else adx = adx + alpha * (dx - adx);
  }
  return adx;
}

/** Stochastic %K and %D (SMA of %K, a running sum from the first defined %K) at the last index. */
function stochasticLast(b: Ohlcv, from: number, n: number, w: number, smooth: number, out: number[]): void {
  const { high: h, low: l, close: c } = b;
  const m = n - from;
  const k = scratchOf(m);
  for (let r = 0; r < m; r++) {
    if (r < w - 1) {
      k[r] = NaN;
      continue;
    }
    const i = from + r;
    const hh = maxOf(h, i - w + 1, i);
    const ll = minOf(l, i - w + 1, i);
    const range = hh - ll;
    k[r] = range > 0 ? (100 * (c[i] - ll)) / range : 50;
  }
  out.push(k[m - 1], smaAt(k, 0, m - 1, smooth));
}

/** Commodity channel index at the last index. */
function cciLast(b: Ohlcv, from: number, n: number, w: number): number {
  const i = n - 1;
  if (i - from < w - 1) return NaN;
  const { high: h, low: l, close: c } = b;
  const tpi = (h[i] + l[i] + c[i]) / 3;
  let m = 0;
  for (let j = i - w + 1; j <= i; j++) m += (h[j] + l[j] + c[j]) / 3 - tpi;
  m /= w;
  let dev = 0;
  for (let j = i - w + 1; j <= i; j++) dev += Math.abs((h[j] + l[j] + c[j]) / 3 - tpi - m);
  dev /= w;
  return dev > 0 ? -m / (0.015 * dev) : 0;
}

/** Money flow index at the last index. */
function mfiLast(b: Ohlcv, from: number, n: number, w: number): number {
  const i = n - 1;
  if (i - from < w) return NaN;
  const { high: h, low: l, close: c, volume: v } = b;
  let sp = 0;
  let sn = 0;
  let prevTp = (h[i - w] + l[i - w] + c[i - w]) / 3;
  for (let j = i - w + 1; j <= i; j++) {
    const tp = (h[j] + l[j] + c[j]) / 3;
    const flow = tp * v[j];
    sp += tp > prevTp ? flow : 0;
    sn += tp < prevTp ? flow : 0;
    prevTp = tp;
  }
  return sn === 0 ? (sp === 0 ? 50 : 100) : 100 - 100 / (1 + sp / sn);
}

/** Sample standard deviation of the log returns ending at the last index, annualised. */
function realizedVolLast(c: Float64Array, from: number, n: number, w: number): number {
  const i = n - 1;
  if (i - from < w) return NaN;
  const ri = Math.log(c[i] / c[i - 1]);
  let mean = 0;
  for (let j = i - w + 1; j <= i; j++) mean += Math.log(c[j] / c[j - 1]) - ri;
  mean /= w;
  let ss = 0;
  for (let j = i - w + 1; j <= i; j++) {
    const d = Math.log(c[j] / c[j - 1]) - ri - mean;
    ss += d * d;
  }
  return Math.sqrt(ss / (w - 1)) * Math.sqrt(252);
}

const DOJI_BODY = 0.1;
const SHADOW_RATIO = 2;
const SMALL_SHADOW = 0.1;
const TREND_BARS = 5;

/** The 15 candlestick pattern flags of lib/features/indicators/patterns.ts at the last index, in CANDLE_PATTERNS order. */
function candlesLast(b: Ohlcv, from: number, n: number, out: number[]): void {
  const { open: o, high: h, low: l, close: c } = b;
  const i = n - 1;
  const rel = i - from;
  const body = (j: number) => Math.abs(c[j] - o[j]);
  const rangeOf = (j: number) => h[j] - l[j];
  const r = rangeOf(i);
  const bi = body(i);
  const upper = h[i] - Math.max(o[i], c[i]);
  const lower = Math.min(o[i], c[i]) - l[i];
  const flags = new Array<number>(15).fill(0);
  if (r > 0 && bi <= DOJI_BODY * r) flags[0] = 1;
  const trend = rel >= TREND_BARS ? c[i - 1] - c[i - TREND_BARS] : 0;
  const hammerShape = bi > 0 && lower >= SHADOW_RATIO * bi && upper <= SMALL_SHADOW * r;
  const starShape = bi > 0 && upper >= SHADOW_RATIO * bi && lower <= SMALL_SHADOW * r;
  if (hammerShape && trend < 0) flags[1] = 1;
  if (hammerShape && trend > 0) flags[2] = 1;
  if (starShape && trend < 0) flags[3] = 1;
  if (starShape && trend > 0) flags[4] = 1;
  if (rel >= 1) {
    const p = i - 1;
    const upI = c[i] > o[i];
    const downI = c[i] < o[i];
    const upP = c[p] > o[p];
    const downP = c[p] < o[p];
    const bodyP = body(p);
    if (downP && upI && o[i] <= c[p] && c[i] >= o[p] && bi > bodyP) flags[5] = 1;
    if (upP && downI && o[i] >= c[p] && c[i] <= o[p] && bi > bodyP) flags[6] = 1;
    if (downP && upI && o[i] > c[p] && c[i] < o[p]) flags[7] = 1;
    if (upP && downI && o[i] < c[p] && c[i] > o[p]) flags[8] = 1;
    const midP = (o[p] + c[p]) / 2;
    if (downP && upI && o[i] < l[p] && c[i] > midP && c[i] < o[p]) flags[9] = 1;
    if (upP && downI && o[i] > h[p] && c[i] < midP && c[i] > o[p]) flags[10] = 1;
    if (rel >= 2) {
      const q = i - 2;
      const upQ = c[q] > o[q];
      const downQ = c[q] < o[q];
      const midQ = (o[q] + c[q]) / 2;
      const bodyQ = body(q);
      const smallMiddle = bodyP <= 0.3 * bodyQ;
      if (downQ && smallMiddle && Math.max(o[p], c[p]) < c[q] && upI && c[i] > midQ) flags[11] = 1;
      if (upQ && smallMiddle && Math.min(o[p], c[p]) > c[q] && downI && c[i] < midQ) flags[12] = 1;
      const strong = bodyQ >= 0.6 * rangeOf(q) && bodyP >= 0.6 * rangeOf(p) && bi >= 0.6 * r;
      if (strong && upQ && upP && upI && c[p] > c[q] && c[i] > c[p] && o[p] > o[q] && o[p] < c[q] && o[i] > o[p] && o[i] < c[p]) flags[13] = 1;
      if (strong && downQ && downP && downI && c[p] < c[q] && c[i] < c[p] && o[p] < o[q] && o[p] > c[q] && o[i] < o[p] && o[i] > c[p]) flags[14] = 1;
    }
  }
  for (const f of flags) out.push(f);
}

/** Donchian breakout (+1, -1, 0) at the last index: the close against the prior `w` bars' extremes. */
function donchianLast(b: Ohlcv, from: number, n: number, w: number): number {
  const i = n - 1;
  if (i - from < w) return NaN;
  const hh = maxOf(b.high, i - w, i - 1);
  const ll = minOf(b.low, i - w, i - 1);
  return b.close[i] > hh ? 1 : b.close[i] < ll ? -1 : 0;
}

/** (line[i] − line[i − w]) / volume traded in the window, for a cumulative line started at `from`. */
function trendLast(line: (i: number) => number, v: Float64Array, from: number, n: number, w: number, endBefore: number): number {
  const i = n - 1;
  if (i - from < w) return NaN;
  const traded = windowSum(v, i, w);
  return traded > 0 ? (line(i) - endBefore) / traded : 0;
}

/**
 * Appends the last values of `spec`'s columns on the series [from, n) to `out`. False (and `out`
 * unchanged) when the kind has no fast path or the series is too short for it: use the reference.
 * The series must hold finite values only (the caller checks).
 */
export function lastValues(spec: SymbolFeatureSpec, b: Ohlcv, from: number, n: number, out: number[]): boolean {
  const m = n - from;
  if (m < warmupBars(spec) + 2) return false;
  const { open: o, high: h, low: l, close: c, volume: v } = b;
  const i = n - 1;
  switch (spec.kind) {
    case 'return':
      out.push(c[i] / c[i - spec.horizon] - 1);
      return true;
    case 'sma_ratio':
      out.push(c[i] / smaAt(c, from, i, spec.window) - 1);
      return true;
    case 'ema_ratio':
      out.push(c[i] / smoothedLast(c, from, n, spec.window, 2 / (spec.window + 1)) - 1);
      return true;
    case 'rsi':
      out.push(rsiLast(c, from, n, spec.window));
      return true;
    case 'macd':
      macdLast(c, from, n, spec.fast, spec.slow, spec.signal, out);
      return true;
    case 'bollinger': {
      const w = spec.window;
      const middle = smaAt(c, from, i, w);
      const sd = stdAt(c, i, w, 0);
      const upper = middle + spec.k * sd;
      const lower = middle - spec.k * sd;
      const width = upper - lower;
      out.push(width > 0 ? (c[i] - lower) / width : width === 0 ? 0.5 : NaN, width / middle);
      return true;
    }
    case 'atr_pct':
      out.push(atrLast(b, from, n, spec.window) / c[i]);
      return true;
    case 'adx':
      out.push(adxLast(b, from, n, spec.window));
      return true;
    case 'stochastic':
      stochasticLast(b, from, n, spec.window, spec.smooth, out);
      return true;
    case 'cci':
      out.push(cciLast(b, from, n, spec.window));
      return true;
    case 'williams_r': {
      const w = spec.window;
      const hh = maxOf(h, i - w + 1, i);
      const ll = minOf(l, i - w + 1, i);
      const range = hh - ll;
      out.push(range > 0 ? (-100 * (hh - c[i])) / range : -50);
      return true;
    }
    case 'roc': {
      const prev = c[i - spec.window];
      out.push((100 * (c[i] - prev)) / prev);
      return true;
    }
    case 'mfi':
      out.push(mfiLast(b, from, n, spec.window));
      return true;
    case 'realized_vol':
      out.push(realizedVolLast(c, from, n, spec.window));
      return true;
    case 'candlestick':
      candlesLast(b, from, n, out);
      return true;
    case 'gap':
      out.push(o[i] / c[i - 1] - 1);
      return true;
    case 'donchian_breakout':
      out.push(donchianLast(b, from, n, spec.window));
      return true;
    case 'range_position': {
      const w = spec.window;
      out.push(c[i] / maxOf(h, i - w + 1, i) - 1, c[i] / minOf(l, i - w + 1, i) - 1);
      return true;
    }
    case 'volume_breakout': {
      const w = spec.window;
      const breakout = donchianLast(b, from, n, w);
      const avg = smaAt(v, from, i - 1, w);
      out.push(breakout !== 0 && v[i] > 0 && v[i] >= spec.volumeRatio * avg ? breakout : 0);
      return true;
    }
    case 'relative_volume': {
      const t = windowSum(v, i, spec.window);
      out.push(Number.isNaN(t) ? NaN : t > 0 ? (v[i] * spec.window) / t : 1);
      return true;
    }
    case 'volume_zscore': {
      const mean = smaAt(v, from, i, spec.window);
      const sd = stdAt(v, i, spec.window, 1);
      out.push(sd > 0 ? (v[i] - mean) / sd : 0);
      return true;
    }
    case 'obv_trend': {
      // On-balance volume from `from` (0 there), kept at i − w and at i.
      let line = 0;
      let before = 0;
      for (let j = from + 1; j <= i; j++) {
        const d = c[j] - c[j - 1];
        line = line + (d > 0 ? v[j] : d < 0 ? -v[j] : 0);
        if (j === i - spec.window) before = line;
      }
      const last = line;
      out.push(trendLast(() => last, v, from, n, spec.window, before));
      return true;
    }
    case 'ad_trend': {
      let acc = 0;
      let before = 0;
      for (let j = from; j <= i; j++) {
        const range = h[j] - l[j];
        const mfm = range > 0 ? (c[j] - l[j] - (h[j] - c[j])) / range : 0;
        acc += mfm * v[j];
        if (j === i - spec.window) before = acc;
      }
      const last = acc;
      out.push(trendLast(() => last, v, from, n, spec.window, before));
      return true;
    }
    case 'price_volume_corr': {
      const w = spec.window;
      const ra = Math.log(c[i] / c[i - 1]);
      const rb = Math.log((v[i] + 1) / (v[i - 1] + 1));
      let ma = 0;
      let mb = 0;
      for (let j = i - w + 1; j <= i; j++) {
        ma += Math.log(c[j] / c[j - 1]) - ra;
        mb += Math.log((v[j] + 1) / (v[j - 1] + 1)) - rb;
      }
      ma /= w;
      mb /= w;
      let cov = 0;
      let va = 0;
      let vb = 0;
      for (let j = i - w + 1; j <= i; j++) {
        const da = Math.log(c[j] / c[j - 1]) - ra - ma;
        const db = Math.log((v[j] + 1) / (v[j - 1] + 1)) - rb - mb;
        cov += da * db;
        va += da * da;
        vb += db * db;
      }
      const corr = va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : NaN;
      out.push(Number.isNaN(corr) ? 0 : corr);
      return true;
    }
    case 'vwap_distance': {
      const w = spec.window;
      let value = 0;
      let traded = 0;
      let plain = 0;
      for (let j = i - w + 1; j <= i; j++) {
        const tp = (h[j] + l[j] + c[j]) / 3;
        value += tp * v[j];
        traded += v[j];
        plain += tp;
      }
      out.push(c[i] / (traded > 0 ? value / traded : plain / w) - 1);
      return true;
    }
    default:
      return false;
  }
}

/** Whether every value of the series [from, n) is finite (the fast paths assume it). */
export function allFinite(b: Ohlcv, from: number, n: number): boolean {
  for (let i = from; i < n; i++) {
    if (!Number.isFinite(b.open[i]) || !Number.isFinite(b.high[i]) || !Number.isFinite(b.low[i]) || !Number.isFinite(b.close[i]) || !Number.isFinite(b.volume[i])) return false;
  }
  return true;
}
