import { computeFeatures } from '../../lib/features/compute-features';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { effectiveTradingDay, parseHeadlinesCsv, scoreHeadline, type Headline } from '../../lib/news/headlines';
import { syntheticUniverse } from '../helpers/universe';

describe('headline scoring and timing', () => {
  it('scores with the lexicon plus the finance overlay', () => {
    expect(scoreHeadline('Acme beats estimates, shares surge')).toBeGreaterThan(0);
    expect(scoreHeadline('Acme misses guidance; shares plunge amid fraud probe')).toBeLessThan(0);
    expect(scoreHeadline('Acme shares')).toBe(0); // AFINN alone calls "shares" positive
  });

  it('assigns a headline to the first trading day that can act on it (no look-ahead)', () => {
    expect(effectiveTradingDay('2017-03-01', '09:45')).toBe('2017-03-01'); // before the close
    expect(effectiveTradingDay('2017-03-01', '16:05')).toBe('2017-03-02'); // after the close
    expect(effectiveTradingDay('2017-03-01', undefined)).toBe('2017-03-02'); // unknown time: next day
    expect(effectiveTradingDay('2017-03-04', '10:00')).toBe('2017-03-06'); // Saturday -> Monday
    expect(effectiveTradingDay('2017-12-22', '17:00')).toBe('2017-12-26'); // after the close before Christmas
  });

  it('parses the CSV, reports bad rows with their line, and gives re-imports the same ids', () => {
    const csv = 'date,time,symbol,headline\n2017-03-01,09:45,acme,Acme beats estimates\n2017-03-01,,,Markets rally on jobs data\n2017-13-01,10:00,ACME,bad date\n2017-03-02,25:00,ACME,bad time\n2017-03-02,10:00,ACME,\n';
    const a = parseHeadlinesCsv(csv, 'news.csv');
    expect(a.headlines.map((h) => [h.symbol, h.effectiveDate])).toEqual([
      ['ACME', '2017-03-01'],
      [null, '2017-03-02'],
    ]);
    expect(a.errors.map((e) => e.line)).toEqual([4, 5, 6]);
    expect(a.errors[0].message).toMatch(/date: expected YYYY-MM-DD/);
    expect(parseHeadlinesCsv(csv, 'news.csv').headlines.map((h) => h.id)).toEqual(a.headlines.map((h) => h.id));
    expect(parseHeadlinesCsv('when,what\n', 'x.csv').errors[0].message).toMatch(/header must hold date, symbol and headline/);
    // The one symbol rule: index and volatility series as the importer stores them, nothing else.
    const symbols = parseHeadlinesCsv('date,time,symbol,headline\n2017-03-01,09:45,$VIX,Volatility spikes\n2017-03-01,09:45,^gspc,Index record\n2017-03-01,09:45,../etc,bad\n', 'x.csv');
    expect(symbols.headlines.map((h) => h.symbol)).toEqual(['$VIX', '^GSPC']);
    expect(symbols.errors.map((e) => e.line)).toEqual([4]);
  });
});

describe('news_sentiment feature', () => {
  const set = defineFeatureSet({ name: 'news', features: [{ kind: 'return', horizon: 1 }, { kind: 'news_sentiment', window: 3 }] });
  const universe = syntheticUniverse(2, '2017-01-03', '2017-06-30');
  const sym = universe[0].symbol;
  const h = (effectiveDate: string, symbol: string | null, score: number): Headline => ({ id: `${effectiveDate}${symbol}${score}`, published: effectiveDate, effectiveDate, symbol, headline: 'x', score });
  const news = [h('2017-03-01', sym, 1), h('2017-03-02', sym, -0.5), h('2017-03-02', null, 0.25), h('2017-03-04', sym, 2)];

  it('averages the scores of the last `window` bars, counts them, and keeps market news apart', () => {
    const out = computeFeatures(universe, set, { news });
    const f = out.frames.find((x) => x.symbol === sym);
    const at = (date: string, column: string) => f?.columns[out.columns.indexOf(column)][f.dates.indexOf(date)];
    expect(at('2017-03-02', 'news_sentiment_3')).toBeCloseTo(0.25, 12); // (1 - 0.5) / 2
    expect(at('2017-03-02', 'news_count_3')).toBe(2);
    expect(at('2017-03-02', 'news_market_sentiment_3')).toBe(0.25);
    expect(at('2017-03-06', 'news_sentiment_3')).toBeCloseTo((-0.5 + 2) / 2, 12); // window Thu..Mon; Saturday's news counts on Monday
    expect(at('2017-03-08', 'news_count_3')).toBe(1);
    expect(at('2017-02-28', 'news_count_3')).toBe(0);
  });

  it('is point-in-time: headlines effective after t change nothing at or before t', () => {
    const a = computeFeatures(universe, set, { news });
    const b = computeFeatures(universe, set, { news: [...news, h('2017-03-03', sym, -3), h('2017-03-03', null, 5)] });
    for (const [k, fa] of a.frames.entries()) {
      fa.dates.forEach((d, r) => {
        if (d > '2017-03-02') return;
        fa.columns.forEach((column, c) => expect(Object.is(column[r], b.frames[k].columns[c][r])).toBe(true));
      });
    }
    const f = b.frames.find((x) => x.symbol === sym);
    expect(f?.columns[b.columns.indexOf('news_count_3')][f.dates.indexOf('2017-03-03')]).toBe(3);
  });
});
