import { readBarCsv } from '../../lib/market-data/csv-reader';
import { toSymbolBars } from '../../lib/features/materialize';
import { computeSymbolFeature } from '../../lib/features/symbol-features';

/** A Yahoo export around a 2:1 split: raw prices halve and raw volume doubles on 2019-01-07. */
function yahooSplit(): string {
  const rows = ['Date,Open,High,Low,Close,Adj Close,Volume'];
  const days = ['2019-01-02', '2019-01-03', '2019-01-04', '2019-01-07', '2019-01-08', '2019-01-09'];
  days.forEach((d, i) => {
    const raw = i < 3 ? 100 : 50;
    const volume = i < 3 ? 1000 : 2000;
    rows.push(`${d},${raw},${raw},${raw},${raw},50,${volume}`);
  });
  return rows.join('\n');
}

describe('--adjust scales volume inversely with the price factor', () => {
  it('keeps split-adjusted volume continuous across a split', () => {
    const { bars } = readBarCsv(yahooSplit(), { source: '/x/AAPL.csv', adjust: true });
    expect(bars.map((b) => b.close)).toEqual([50, 50, 50, 50, 50, 50]);
    expect(bars.map((b) => b.volume)).toEqual([2000, 2000, 2000, 2000, 2000, 2000]);
    // Shares × price (the traded value) is unchanged by the adjustment.
    const raw = readBarCsv(yahooSplit(), { source: '/x/AAPL.csv' }).bars;
    bars.forEach((b, i) => expect(b.volume * b.close).toBeCloseTo(raw[i].volume * raw[i].close, 9));
  });

  it('gives no relative-volume jump at the split', () => {
    const { bars } = readBarCsv(yahooSplit(), { source: '/x/AAPL.csv', adjust: true });
    const [rv] = computeSymbolFeature({ kind: 'relative_volume', window: 3, normalize: 'none' }, toSymbolBars('AAPL', bars));
    expect(Array.from(rv.subarray(2))).toEqual([1, 1, 1, 1]);
  });
});
