/**
 * Candlestick patterns and breakouts as 0/1 (or -1/0/+1) series. Candle definitions follow Nison's
 * descriptions with explicit thresholds; trend context is the sign of the 5-day return before the
 * pattern. Every value at i uses bars <= i only.
 */
import type { Ohlcv } from './indicators';
import { nanArray, rollingMax, rollingMin, sma } from './rolling';

export const CANDLE_PATTERNS = [
  'doji',
  'hammer',
  'hanging_man',
  'inverted_hammer',
  'shooting_star',
  'bullish_engulfing',
  'bearish_engulfing',
  'bullish_harami',
  'bearish_harami',
  'piercing_line',
  'dark_cloud_cover',
  'morning_star',
  'evening_star',
  'three_white_soldiers',
  'three_black_crows',
] as const;
export type CandlePattern = (typeof CANDLE_PATTERNS)[number];

const DOJI_BODY = 0.1; // body at most 10% of the range
const SHADOW_RATIO = 2; // long shadow at least twice the body
const SMALL_SHADOW = 0.1; // the other shadow at most 10% of the range
const TREND_BARS = 5;

export function candlePatterns(b: Pick<Ohlcv, 'open' | 'high' | 'low' | 'close'>): Record<CandlePattern, Float64Array> {
  const n = b.close.length;
  const out = Object.fromEntries(CANDLE_PATTERNS.map((p) => [p, new Float64Array(n)])) as Record<CandlePattern, Float64Array>;
  const { open: o, high: h, low: l, close: c } = b;
  const body = (i: number) => Math.abs(c[i] - o[i]);
  const range = (i: number) => h[i] - l[i];
  const up = (i: number) => c[i] > o[i];
  const down = (i: number) => c[i] < o[i];
  const upper = (i: number) => h[i] - Math.max(o[i], c[i]);
  const lower = (i: number) => Math.min(o[i], c[i]) - l[i];
  for (let i = 0; i < n; i++) {
    const r = range(i);
    if (r > 0 && body(i) <= DOJI_BODY * r) out.doji[i] = 1;
    const trend = i >= TREND_BARS ? c[i - 1] - c[i - 1 - TREND_BARS + 1] : 0; // move into the pattern
    const hammerShape = body(i) > 0 && lower(i) >= SHADOW_RATIO * body(i) && upper(i) <= SMALL_SHADOW * r;
    const starShape = body(i) > 0 && upper(i) >= SHADOW_RATIO * body(i) && lower(i) <= SMALL_SHADOW * r;
    if (hammerShape && trend < 0) out.hammer[i] = 1;
    if (hammerShape && trend > 0) out.hanging_man[i] = 1;
    if (starShape && trend < 0) out.inverted_hammer[i] = 1;
    if (starShape && trend > 0) out.shooting_star[i] = 1;
    if (i < 1) continue;
    const p = i - 1;
    if (down(p) && up(i) && o[i] <= c[p] && c[i] >= o[p] && body(i) > body(p)) out.bullish_engulfing[i] = 1;
    if (up(p) && down(i) && o[i] >= c[p] && c[i] <= o[p] && body(i) > body(p)) out.bearish_engulfing[i] = 1;
    if (down(p) && up(i) && o[i] > c[p] && c[i] < o[p]) out.bullish_harami[i] = 1;
    if (up(p) && down(i) && o[i] < c[p] && c[i] > o[p]) out.bearish_harami[i] = 1;
    const midP = (o[p] + c[p]) / 2;
    if (down(p) && up(i) && o[i] < l[p] && c[i] > midP && c[i] < o[p]) out.piercing_line[i] = 1;
    if (up(p) && down(i) && o[i] > h[p] && c[i] < midP && c[i] > o[p]) out.dark_cloud_cover[i] = 1;
    if (i < 2) continue;
    const q = i - 2;
    const midQ = (o[q] + c[q]) / 2;
    const smallMiddle = body(p) <= 0.3 * body(q);
    if (down(q) && smallMiddle && Math.max(o[p], c[p]) < c[q] && up(i) && c[i] > midQ) out.morning_star[i] = 1;
    if (up(q) && smallMiddle && Math.min(o[p], c[p]) > c[q] && down(i) && c[i] < midQ) out.evening_star[i] = 1;
    const strong = (k: number) => body(k) >= 0.6 * range(k);
    if (up(q) && up(p) && up(i) && c[p] > c[q] && c[i] > c[p] && o[p] > o[q] && o[p] < c[q] && o[i] > o[p] && o[i] < c[p] && strong(q) && strong(p) && strong(i)) {
      out.three_white_soldiers[i] = 1;
    }
    if (down(q) && down(p) && down(i) && c[p] < c[q] && c[i] < c[p] && o[p] < o[q] && o[p] > c[q] && o[i] < o[p] && o[i] > c[p] && strong(q) && strong(p) && strong(i)) {
      out.three_black_crows[i] = 1;
    }
  }
  return out;
}

/** +1 when the close breaks above the prior `window`-day high, -1 below the prior low, else 0. */
export function donchianBreakout(b: Pick<Ohlcv, 'high' | 'low' | 'close'>, window: number): Float64Array {
  const hh = rollingMax(b.high, window);
  const ll = rollingMin(b.low, window);
  const out = nanArray(b.close.length);
  for (let i = window; i < out.length; i++) out[i] = b.close[i] > hh[i - 1] ? 1 : b.close[i] < ll[i - 1] ? -1 : 0;
  return out;
}

/** A Donchian breakout on volume at least `ratio` × its prior `window`-day average (signed). */
export function volumeConfirmedBreakout(b: Ohlcv, window: number, ratio: number): Float64Array {
  const breakout = donchianBreakout(b, window);
  const avgVolume = sma(b.volume, window);
  const out = nanArray(b.close.length);
  for (let i = window; i < out.length; i++) out[i] = breakout[i] !== 0 && b.volume[i] >= ratio * avgVolume[i - 1] ? breakout[i] : 0;
  return out;
}
