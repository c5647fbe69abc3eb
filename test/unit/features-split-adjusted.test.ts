/**
 * An unadjusted split in a symbol's bars must not reach its own features as a crash or a jump:
 * recursive smoothers (EMA, MACD, Wilder RSI and ADX) never forget a move, so rows past the set's
 * warm-up still read it unless the prices are adjusted at the split. A 2:1 split planted into a
 * clean series: every row from the split's warm-up on equals the row of the series without the
 * split, and every row before it is unchanged bit for bit.
 */
import { computeFeatures, frameRow, requiredBars, type SymbolBars } from '../../lib/features/compute-features';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { splitsAsOfTheirDay } from '../../lib/quality/splits';
import { syntheticUniverse } from '../helpers/universe';

/** `s` with an unadjusted split of price multiplier `ratio` from bar `at` on (prices × ratio, volume ÷ ratio), volumes made steady first so the rule finds it on its own day. */
function planted(s: SymbolBars, at: number, ratio: number): { plain: SymbolBars; split: SymbolBars } {
  const volume = Float64Array.from(s.volume, (_, k) => 1_000_000 + (k % 7) * 10_000);
  const plain = { ...s, volume };
  const scaled = (x: Float64Array) => Float64Array.from(x, (v, k) => (k >= at ? v * ratio : v));
  return { plain, split: { ...s, open: scaled(s.open), high: scaled(s.high), low: scaled(s.low), close: scaled(s.close), volume: Float64Array.from(volume, (v, k) => (k >= at ? v / ratio : v)) } };
}

const rowsByDate = (s: SymbolBars, set: ReturnType<typeof defineFeatureSet>) => {
  const { frames } = computeFeatures([s], set);
  return new Map(frames[0].dates.map((d, r) => [d, frameRow(frames[0], r)] as const));
};

describe('per-symbol features over an unadjusted split', () => {
  const [series] = syntheticUniverse(1, '2015-01-02', '2018-12-31', 11);
  const AT = 500;
  const set = defineFeatureSet({
    name: 'recursive-short',
    features: [
      { kind: 'rsi', window: 14 },
      { kind: 'ema_ratio', window: 50 },
      { kind: 'adx', window: 14 },
      { kind: 'macd' },
      { kind: 'return', horizon: 5 },
      { kind: 'atr_pct', window: 14 },
      { kind: 'obv_trend', window: 20 },
      { kind: 'relative_volume', window: 20 },
      { kind: 'mfi', window: 14 },
    ],
  });

  it.each([
    ['2:1', 0.5],
    ['3:2', 2 / 3],
    ['1:3 reverse', 3],
  ])('read the series without the split on every row past the split: %s', (_, ratio) => {
    const { plain, split } = planted(series, AT, ratio);
    expect(splitsAsOfTheirDay(split).map((s) => s.index)).toEqual([AT]);
    const want = rowsByDate(plain, set);
    const got = rowsByDate(split, set);
    const columns = computeFeatures([plain], set).columns;
    let after = 0;
    for (const [date, row] of got) {
      const i = series.dates.indexOf(date);
      const expected = want.get(date) as Float64Array;
      row.forEach((v, c) => {
        // Before the split: the very same bars, the very same values.
        if (i < AT && !Object.is(v, expected[c])) throw new Error(`${columns[c]} ${date} (bar ${i}, before the split): ${v}, not ${expected[c]}`);
        // The split's own bar and those after: the move is no return; only rounding differs.
        if (i >= AT && !(Math.abs(v - expected[c]) <= 1e-9 * Math.max(1, Math.abs(expected[c])))) throw new Error(`${columns[c]} ${date} (split + ${i - AT}): ${v} with the split, ${expected[c]} without`);
      });
      if (i >= AT + requiredBars(set)) after++;
    }
    expect(after).toBeGreaterThan(200);
  });

  it('leaves the prices as stored at a split of a ratio an ordinary day moves by (5:4, flagged only)', () => {
    const { split } = planted(series, AT, 0.8);
    const raw = rowsByDate(split, set);
    const columns = computeFeatures([split], set).columns;
    const ret = columns.indexOf('ret_5');
    // The 5:4 move is read as the -20% it looks like, on the split's day.
    expect(raw.get(series.dates[AT])?.[ret]).toBeLessThan(-0.1);
  });
});
