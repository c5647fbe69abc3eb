/**
 * Candlestick patterns and breakouts as 0/1 (or -1/0/+1) series. Candle definitions follow Nison's
 * descriptions with explicit thresholds; trend context is the sign of the close change across the 5
 * bars before the pattern (c[i-1] - c[i-5]). Every value at i uses bars <= i only.
 */
import type { Ohlcv } from './indicators';
import { nanArray, rollingMax, rollingMin, sma } from './rolling';
import { newSeries, zeroSeries } from './scratch';

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
  const out = Object.fromEntries(CANDLE_PATTERNS.map((p) => [p, zeroSeries(n)])) as Record<CandlePattern, Float64Array>;
  const { open: o, high: h, low: l, close: c } = b;
  // Per-bar candle geometry once, as arrays: the pattern tests below only compare numbers.
  const bodyOf = newSeries(n);
  const rangeOf = newSeries(n);
  const upperOf = newSeries(n);
  const lowerOf = newSeries(n);
  for (let i = 0; i < n; i++) {
    bodyOf[i] = Math.abs(c[i] - o[i]);
    rangeOf[i] = h[i] - l[i];
    upperOf[i] = h[i] - Math.max(o[i], c[i]);
    lowerOf[i] = Math.min(o[i], c[i]) - l[i];
  }
  const { doji, hammer, hanging_man, inverted_hammer, shooting_star, bullish_engulfing, bearish_engulfing, bullish_harami, bearish_harami, piercing_line, dark_cloud_cover, morning_star, evening_star, three_white_soldiers, three_black_crows } = out;
  for (let i = 0; i < n; i++) {
    const r = rangeOf[i];
    const bi = bodyOf[i];
    if (r > 0 && bi <= DOJI_BODY * r) doji[i] = 1;
    const trend = i >= TREND_BARS ? c[i - 1] - c[i - TREND_BARS] : 0; // move into the pattern
    const hammerShape = bi > 0 && lowerOf[i] >= SHADOW_RATIO * bi && upperOf[i] <= SMALL_SHADOW * r;
    const starShape = bi > 0 && upperOf[i] >= SHADOW_RATIO * bi && lowerOf[i] <= SMALL_SHADOW * r;
    if (hammerShape && trend < 0) hammer[i] = 1;
    if (hammerShape && trend > 0) hanging_man[i] = 1;
    if (starShape && trend < 0) inverted_hammer[i] = 1;
    if (starShape && trend > 0) shooting_star[i] = 1;
    if (i < 1) continue;
    const p = i - 1;
    const upI = c[i] > o[i];
    const downI = c[i] < o[i];
    const upP = c[p] > o[p];
    const downP = c[p] < o[p];
    if (downP && upI && o[i] <= c[p] && c[i] >= o[p] && bi > bodyOf[p]) bullish_engulfing[i] = 1;
    if (upP && downI && o[i] >= c[p] && c[i] <= o[p] && bi > bodyOf[p]) bearish_engulfing[i] = 1;
    if (downP && upI && o[i] > c[p] && c[i] < o[p]) bullish_harami[i] = 1;
    if (upP && downI && o[i] < c[p] && c[i] > o[p]) bearish_harami[i] = 1;
    const midP = (o[p] + c[p]) / 2;
    if (downP && upI && o[i] < l[p] && c[i] > midP && c[i] < o[p]) piercing_line[i] = 1;
    if (upP && downI && o[i] > h[p] && c[i] < midP && c[i] > o[p]) dark_cloud_cover[i] = 1;
    if (i < 2) continue;
    const q = i - 2;
    const upQ = c[q] > o[q];
    const downQ = c[q] < o[q];
    const midQ = (o[q] + c[q]) / 2;
    const smallMiddle = bodyOf[p] <= 0.3 * bodyOf[q];
    if (downQ && smallMiddle && Math.max(o[p], c[p]) < c[q] && upI && c[i] > midQ) morning_star[i] = 1;
    if (upQ && smallMiddle && Math.min(o[p], c[p]) > c[q] && downI && c[i] < midQ) evening_star[i] = 1;
    const strong = bodyOf[q] >= 0.6 * rangeOf[q] && bodyOf[p] >= 0.6 * rangeOf[p] && bi >= 0.6 * r;
    if (strong && upQ && upP && upI && c[p] > c[q] && c[i] > c[p] && o[p] > o[q] && o[p] < c[q] && o[i] > o[p] && o[i] < c[p]) three_white_soldiers[i] = 1;
    if (strong && downQ && downP && downI && c[p] < c[q] && c[i] < c[p] && o[p] < o[q] && o[p] > c[q] && o[i] < o[p] && o[i] > c[p]) three_black_crows[i] = 1;
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
  // Zero volume confirms nothing (0 >= ratio × 0 would, and a running mean can end a hair below 0).
  for (let i = window; i < out.length; i++) out[i] = breakout[i] !== 0 && b.volume[i] > 0 && b.volume[i] >= ratio * avgVolume[i - 1] ? breakout[i] : 0;
  return out;
}
