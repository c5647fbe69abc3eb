import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { toSymbolBars } from '../../lib/features/materialize';
import { readBarCsv, type CandidateBar } from '../../lib/market-data/csv-reader';
import { qualityPolicySchema } from '../../lib/quality/policy';
import { checkQuality, evaluateQualityGate } from '../../lib/quality/report';
import { seriesIssues } from '../../lib/quality/rules';
import { QUALITY_RULES } from '../../lib/quality/rules-catalog';
import { seriesSplits, splitsAsOfTheirDay, splitsIn } from '../../lib/quality/splits';
import { SHARED_SP500_DIR } from '../helpers/databases';

// Unadjusted splits under the extreme-move limit (probe p04-split-3-2.ts): a 3:2 split is -33%,
// a 4:3 split -25%, both below extremeMoveLimit (35%), so the extreme_move hint never fired.
const POLICY = { ...qualityPolicySchema.parse({}), minHistoryBars: 1 };
const DAYS = nyseTradingDaysBetween('2019-01-02', '2019-12-31');

/**
 * 60 bars around 90 (the probe's shape), moved at bar 40 by `priceRatio` (open and close) and the
 * volume by `volumeRatio` from then on; `dayVolume` overrides the volume of bar 40 alone.
 */
function split(priceRatio: number, volumeRatio: number, dayVolume?: number, bars = 60): CandidateBar[] {
  return DAYS.slice(0, bars).map((date, i) => {
    const f = i >= 40 ? priceRatio : 1;
    const c = (90 + (i % 7) * 0.3) * f;
    const volume = i === 40 && dayVolume !== undefined ? dayVolume : Math.round(1e6 * (i >= 40 ? volumeRatio : 1) * (1 + (i % 3) * 0.05));
    return { symbol: 'S', date, open: c, high: c * 1.01, low: c * 0.99, close: c, volume, source: '/x/s.csv', line: i + 2, raw: '' };
  });
}

const splits = (s: readonly CandidateBar[]) => seriesIssues(s, POLICY).filter((i) => i.rule === 'unadjusted_split');

describe('unadjusted_split', () => {
  it('is a flag, as the extreme_move split hint is: the bars are stored and the finding is evidence', () => {
    expect(QUALITY_RULES.unadjusted_split.severity).toBe('flag');
  });

  it.each([
    [2 / 3, '3:2'],
    [3 / 4, '4:3'],
    [4 / 5, '5:4'],
    [1 / 2, '2:1'],
    [3 / 2, '2:3 reverse'],
    [2, '1:2 reverse'],
    // Reverse splits of small and leveraged issues, as the series_splice rule already took them.
    [8, '1:8 reverse'],
    [20, '1:20 reverse'],
    [1 / 15, '15:1'],
  ])('flags a price move of ×%p with the volume moving by the inverse, whatever its size (%s)', (ratio, label) => {
    const s = split(ratio, 1 / ratio);
    const found = splits(s);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ symbol: 'S', date: s[40].date, line: 42, severity: 'flag' });
    expect(found[0].message).toContain(`looks like an unadjusted ${label} split`);
  });

  it('leaves an earnings gap of the same size alone: volume spikes on the day instead of moving by the inverse ratio', () => {
    expect(splits(split(2 / 3, 1.3, 8e6))).toEqual([]);
    expect(splits(split(3 / 4, 1.1, 5e6))).toEqual([]);
  });

  it('leaves an intraday move alone: a split moves the price overnight, so the open must show the ratio, not the close alone', () => {
    const s = split(2 / 3, 1.5).map((b, i) => (i === 40 ? { ...b, open: 92, high: 92.5 } : b));
    expect(splits(s)).toEqual([]);
  });

  it('leaves a split-sized price move without the volume change alone (volume unchanged, or no volume at all)', () => {
    expect(splits(split(2 / 3, 1))).toEqual([]);
    expect(splits(split(2 / 3, 1).map((b) => ({ ...b, volume: 0 })))).toEqual([]);
  });

  it('leaves a one-bar glitch that the next bar undoes alone', () => {
    const s = split(2 / 3, 1.5);
    const glitch = s.map((b, i) => (i > 40 ? { ...b, open: b.open * 1.5, high: b.high * 1.5, low: b.low * 1.5, close: b.close * 1.5 } : b));
    expect(splits(glitch)).toEqual([]);
  });

  it('leaves the bar that undoes a one-bar glitch alone, even with the volume fitting the inverse ratio (MPC 2017-09-14/15 in the real files)', () => {
    // Bar 40 is +25% on 0.8× volume (a 4:5 reverse split's shape), bar 41 back to the old level on the old volume.
    const s = split(1, 1).map((b, i) => (i === 40 ? { ...b, open: b.open * 1.25, high: b.high * 1.25, low: b.low * 1.25, close: b.close * 1.25, volume: 8e5 } : b));
    expect(splits(s)).toEqual([]);
  });

  it('does not move the price tolerance beyond 2%: a 3:2-sized gap 3% off the ratio is not a split', () => {
    expect(splits(split((2 / 3) * 1.03, 1.5))).toEqual([]);
  });

  it('stores the bars and passes the gate (a flag), with the finding in the issues', () => {
    const s = split(2 / 3, 1.5);
    const { accepted, issues, report } = checkQuality(s, [], s.length, POLICY, { now: () => new Date('2024-01-02T23:00:00Z') });
    expect(accepted).toHaveLength(60);
    expect(issues.map((i) => i.rule)).toEqual(['unadjusted_split']);
    expect(report.byRule).toEqual({ unadjusted_split: 1 });
    expect(evaluateQualityGate(report).passed).toBe(true);
  });
});

describe('unadjusted_split of a ratio an ordinary day moves by (4:3, 5:4 and their reverses)', () => {
  // IBM's real history with a -20% gap on 2016-06-01 that lasts (prices ×0.8 from then on) and a
  // modest lasting volume rise (×1.25): what a 5:4 split would leave, and what an ordinary gap does.
  const ibm = readBarCsv(fs.readFileSync(path.join(SHARED_SP500_DIR, 'IBM.csv'), 'utf8'), { source: '/x/IBM.csv' }).bars;
  const moved = (price: number, volume: number): CandidateBar[] =>
    ibm.map((b) => {
      if (b.date < '2016-06-01') return b;
      const px = (x: number) => Number((x * price).toFixed(2));
      return { ...b, open: px(b.open), high: px(b.high), low: px(b.low), close: px(b.close), volume: Math.round(b.volume * volume) };
    });

  it('flags the gap, saying it is a flag only, and nothing downstream adjusts for it (no rescaled closes, no rows left out)', () => {
    const gap = moved(0.8, 1.25);
    const found = splits(gap);
    expect(found.map((i) => [i.date, i.severity])).toEqual([['2016-06-01', 'flag']]);
    expect(found[0].message).toContain('looks like an unadjusted 5:4 split');
    expect(found[0].message).toContain("a 5:4 split's price move (×0.800) and volume rise (×1.250) are also an ordinary gap's, so this is a flag only: nothing downstream adjusts for it");
    const series = toSymbolBars('IBM', gap);
    expect(seriesSplits(series)).toEqual([]);
    expect(splitsAsOfTheirDay(series)).toEqual([]);
    expect(splitsIn(gap)).toEqual([]);
  });

  it('still finds a 2:1 or 3:2 split planted the same way, for the dataset and the market columns', () => {
    for (const [ratio, label] of [[0.5, '2:1'], [2 / 3, '3:2']] as const) {
      const series = toSymbolBars('IBM', moved(ratio, 1 / ratio));
      expect(seriesSplits(series)).toEqual([{ index: series.dates.indexOf('2016-06-01'), date: '2016-06-01', ratio, label }]);
      expect(splitsAsOfTheirDay(series).map((s) => s.date)).toEqual(['2016-06-01']);
    }
  });

  it('a true 5:4 split with Adj Close, imported with adjust, stores its prices on one basis, not flagged as unadjusted, but its volumes are flagged as read', () => {
    const rows = fs.readFileSync(path.join(SHARED_SP500_DIR, 'IBM.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const text = ['Date,Open,High,Low,Close,Adj Close,Volume', ...rows.map(([d, o, h, l, c, v]) => {
      const k = d < '2016-06-01' ? 1.25 : 1; // raw prices before the split on the old basis
      const px = (x: string) => (Number(x) * k).toFixed(4);
      return [d, px(o), px(h), px(l), px(c), c, Math.round(Number(v) / k)].join(',');
    })].join('\n');
    const read = readBarCsv(text, { source: '/x/IBM.csv', adjust: true });
    // Nothing in a Yahoo-layout file tells the 5:4 step of its factor from a 20% special dividend:
    // read as the dividend (volumes before it not scaled) and flagged, naming both readings.
    expect(read.issues.map((i) => [i.rule, i.date])).toEqual([['ambiguous_adjustment', '2016-06-01']]);
    read.bars.forEach((b, i) => expect(b.close).toBeCloseTo(ibm[i].close, 6));
    expect(splits(read.bars)).toEqual([]);
    expect(seriesSplits(toSymbolBars('IBM', read.bars))).toEqual([]);
  });
});
