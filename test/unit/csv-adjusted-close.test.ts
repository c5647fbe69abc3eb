import { isAdjustedCloseName, readBarCsv, readPriceTable, UnreadableSourceError } from '../../lib/market-data/csv-reader';
import { nextNyseTradingDay } from '../../lib/calendar/nyse';

const SRC = '/x/aapl.us.csv';
/** One row: close 100, adjusted close 50 (factor 0.5), volume 1000. */
const file = (adjName: string): string => `Date,Open,High,Low,Close,${adjName},Volume\n2017-01-03,100,110,90,100,50,1000\n`;

describe('adjust: true with the adjusted-close spellings vendors use', () => {
  it.each(['Adj Close', 'Adjusted_close', 'Adj. Close', 'Adjusted Close', 'adj_close', 'AdjClose', 'ADJ CLOSE', 'Adj Close**', 'adjusted-close'])('reads %s as the adjusted close', (name) => {
    const result = readBarCsv(file(name), { source: SRC, adjust: true });
    expect(result.unreadable).toBeUndefined();
    expect(result.format).toBe('yahoo');
    expect(result.bars[0]).toMatchObject({ open: 50, high: 55, low: 45, close: 50, volume: 2000 });
  });

  it('reads a Quandl WIKI export (Adj. Open … Adj. Volume beside the raw columns)', () => {
    const text = 'Date,Open,High,Low,Close,Volume,Ex-Dividend,Split Ratio,Adj. Open,Adj. High,Adj. Low,Adj. Close,Adj. Volume\n2017-01-03,100,110,90,100,1000,0,1,50,55,45,50,2000\n';
    const result = readBarCsv(text, { source: SRC, adjust: true });
    expect(result.bars[0]).toMatchObject({ open: 50, high: 55, low: 45, close: 50, volume: 2000 });
    // Without adjust nothing is scaled.
    expect(readBarCsv(text, { source: SRC }).bars[0]).toMatchObject({ open: 100, close: 100, volume: 1000 });
  });

  it('reads the spellings with an explicit yahoo format and in an explicit mapping', () => {
    expect(readBarCsv(file('Adjusted_close'), { source: SRC, format: 'yahoo', adjust: true }).bars[0]).toMatchObject({ close: 50, volume: 2000 });
    const mapping = { date: 'Date', open: 'Open', high: 'High', low: 'Low', close: 'Close', volume: 'Volume', adjClose: 'Adjusted_close' };
    expect(readBarCsv(file('Adj. Close'), { source: SRC, mapping, adjust: true }).bars[0]).toMatchObject({ close: 50, volume: 2000 });
  });

  it('refuses adjust when the file has no adjusted-close column, naming the file and its columns', () => {
    const text = 'Date,Open,High,Low,Close,Volume\n2017-01-03,100,110,90,100,1000\n';
    let thrown: unknown;
    try {
      readPriceTable(text, { source: '/data/ibm.us.csv', adjust: true });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UnreadableSourceError);
    expect(thrown).toMatchObject({ rule: 'bad_header', code: 'UNREADABLE_SOURCE' });
    expect((thrown as Error).message).toBe(
      'Cannot read /data/ibm.us.csv as a price table: adjust was asked, but the header has no adjusted-close column (Adj Close, Adj. Close, Adjusted Close, Adjusted_close, AdjClose), so the prices would be stored unadjusted; its columns are "Date", "Open", "High", "Low", "Close", "Volume". Import it without adjust, or give a column mapping with adjClose',
    );
    // The same with an explicit mapping that has no adjClose.
    const mapping = { date: 'Date', open: 'Open', high: 'High', low: 'Low', close: 'Close', volume: 'Volume' };
    expect(readBarCsv(text, { source: SRC, mapping, adjust: true }).unreadable).toMatch(/adjust was asked, but the header has no adjusted-close column/);
  });

  it('refuses a format that would ignore an adjusted-close column of another spelling', () => {
    const result = readBarCsv(file('Adj. Close'), { source: SRC, format: 'stooq', adjust: true });
    expect(result.issues.map((i) => [i.rule, i.line])).toEqual([['bad_header', 1]]);
    expect(result.unreadable).toMatch(/adjust was asked and column 6 "Adj\. Close" holds adjusted closes, but the stooq format does not read it/);
  });

  it('refuses two adjusted-close columns of different spellings, naming both as written', () => {
    const result = readBarCsv('Date,Open,High,Low,Close,Adj Close,Adjusted_close,Volume\n2017-01-03,100,110,90,100,50,50,1000\n', { source: SRC, adjust: true });
    expect(result.bars).toEqual([]);
    expect(result.unreadable).toMatch(/has more than one column for adjClose \(columns 6 "Adj Close" and 7 "Adjusted_close"\).*every adjusted-close spelling/);
  });

  it('knows the spellings, and nothing else', () => {
    for (const name of ['Adj Close', 'Adjusted_close', 'Adj. Close', 'adjclose', 'Adjusted Close']) expect(isAdjustedCloseName(name)).toBe(true);
    for (const name of ['Close', 'Adj. Open', 'Adj. Volume', 'Adjustment', 'close adj']) expect(isAdjustedCloseName(name)).toBe(false);
  });
});

describe('adjust: volumes follow the splits in the factor, not the dividends', () => {
  /** Rows on consecutive sessions with the given close, adjusted close and volume, oldest first. */
  const rows = (list: Array<[string, number, number, number]>) => `Date,Open,High,Low,Close,Adj Close,Volume\n${list.map(([d, c, a, v]) => `${d},${c},${c},${c},${c},${a},${v}`).join('\n')}\n`;

  it("leaves Yahoo's volumes as they are: its Close is split-adjusted already, so the factor is dividends alone", () => {
    // Quarterly dividends of 1% each: factors 0.97, 0.98, 0.99, 1 going forward.
    const text = rows([
      ['2017-01-03', 100, 97, 1000],
      ['2017-04-03', 100, 98, 1100],
      ['2017-07-03', 100, 99, 1200],
      ['2017-10-02', 100, 100, 1300],
    ]);
    const bars = readBarCsv(text, { source: SRC, adjust: true }).bars;
    expect(bars.map((b) => b.volume)).toEqual([1000, 1100, 1200, 1300]);
    expect(bars.map((b) => b.close)).toEqual([97, 98, 99, 100]);
  });

  it('scales the volumes before an unadjusted split by its ratio, and by nothing for the dividends around it', () => {
    // Raw closes with a 2:1 split on 2017-07-03 and dividends of 1% before and after it (newest first in the file).
    const text = rows([
      ['2017-10-02', 50, 50, 2600],
      ['2017-07-03', 50, 49.5, 2400],
      ['2017-04-03', 100, 49, 1100],
      ['2017-01-03', 100, 48.5, 1000],
    ]);
    const bars = readBarCsv(text, { source: SRC, adjust: true }).bars;
    expect(bars.map((b) => [b.date, b.volume])).toEqual([
      ['2017-10-02', 2600],
      ['2017-07-03', 2400],
      ['2017-04-03', 2200],
      ['2017-01-03', 2000],
    ]);
  });

  it.each([0.8, 0.75, 0.62])('reads a newest factor of %s as dividends (an old range downloaded years later), not as a 5:4, 4:3 or 3:2 split', (factor) => {
    const bars = readBarCsv(rows([['2014-01-02', 100, 100 * factor, 1000]]), { source: SRC, adjust: true }).bars;
    expect(bars[0].volume).toBe(1000);
  });

  it('reads a 20% special dividend between two rows as a dividend, not a 5:4 split, and flags the reading', () => {
    const result = readBarCsv(rows([['2017-01-03', 100, 80, 1000], ['2017-01-04', 100, 100, 1100]]), { source: SRC, adjust: true });
    expect(result.bars.map((b) => b.volume)).toEqual([1000, 1100]);
    expect(result.issues.map((i) => [i.rule, i.date])).toEqual([['ambiguous_adjustment', '2017-01-04']]);
  });

  it('rejects a newest row whose Adj Close alone steps by a split ratio (a glitch no later row can show persisting), naming the cause', () => {
    // Factors 1 throughout but the newest row's Adj Close halved, its Close as continuous as the rest.
    const text = rows([
      ['2017-01-03', 100, 100, 1000],
      ['2017-01-04', 101, 101, 1100],
      ['2017-01-05', 102, 102, 1200],
      ['2017-01-06', 101.5, 50.75, 1300],
    ]);
    const result = readBarCsv(text, { source: SRC, adjust: true });
    expect(result.bars.map((b) => [b.date, b.close, b.volume])).toEqual([
      ['2017-01-03', 100, 1000],
      ['2017-01-04', 101, 1100],
      ['2017-01-05', 102, 1200],
    ]);
    expect(result.issues.map((i) => [i.rule, i.date, i.line])).toEqual([['one_bar_glitch', '2017-01-06', 5]]);
    expect(result.issues[0].message).toBe(
      'Adj Close 50.75 / Close 101.5 is ×0.500 of the row before\'s (2017-01-05: ×1.000), the step a 2:1 split leaves, but the Close moved ×0.995 (a 2:1 split moves it ×2.000 the other way: the Adj Close steps where the Close does not): on the newest row of AAPL no later row shows the step persisting, so it is a glitch of the Adj Close column, not a split, and the bar would be stored ×0.500 off; rejected, and a stored bar of the date is kept',
    );
    // The same glitch doubling the Adj Close.
    const doubled = readBarCsv(rows([['2017-01-04', 101, 101, 1100], ['2017-01-05', 102, 204, 1200]]), { source: SRC, adjust: true });
    expect(doubled.bars.map((b) => b.date)).toEqual(['2017-01-04']);
    expect(doubled.issues.map((i) => i.rule)).toEqual(['one_bar_glitch']);
  });

  it('reads a split on the newest row: the Close moves by the ratio and the factor steps back by it', () => {
    // A 2:1 split on 2017-01-06: raw closes halve on it, the older rows' Adj Close is on the new basis.
    const text = rows([
      ['2017-01-04', 202, 101, 1100],
      ['2017-01-05', 204, 102, 1200],
      ['2017-01-06', 101.5, 101.5, 2600],
    ]);
    const result = readBarCsv(text, { source: SRC, adjust: true });
    expect(result.issues).toEqual([]);
    expect(result.bars.map((b) => [b.date, b.close, b.volume])).toEqual([
      ['2017-01-04', 101, 2200],
      ['2017-01-05', 102, 2400],
      ['2017-01-06', 101.5, 2600],
    ]);
  });

  it('reads an export cut before the newest splits: the newest row\'s factor is split from its dividends', () => {
    // A 2:1 split after the file ends, and 15% of dividends since: factor 0.425 = 0.5 × 0.85.
    const bars = readBarCsv(rows([['2017-01-03', 100, 42.5, 1000]]), { source: SRC, adjust: true }).bars;
    expect(bars[0]).toMatchObject({ close: 42.5, volume: 2000 });
  });
});

describe('adjust: a factor step of a small split ratio is flagged unless the file decides it', () => {
  /**
   * 24 sessions from 2015-05-01 (newest first, as Quandl and Alpha Vantage write them) around a
   * corporate action on the 13th (2015-05-19): raw closes before it `before`, after it `after`, the
   * adjusted close `after` throughout (the factor steps by after / before), raw volumes 1000 before
   * and `volumeAfter` from it on. `extra(isStep)` gives the cells after the volume.
   */
  const sessions = (): string[] => {
    const days = ['2015-05-01'];
    while (days.length < 24) days.push(nextNyseTradingDay(days[days.length - 1]));
    return days;
  };
  const STEP = '2015-05-19';
  const file = (header: string, before: number, after: number, volumeAfter: number, extra: (isStep: boolean) => string = () => '') =>
    `${header}\n${sessions()
      .map((d) => {
        const close = d < STEP ? before : after;
        return `${d},${close},${close},${close},${close},${after},${d < STEP ? 1000 : volumeAfter}${extra(d === STEP)}`;
      })
      .reverse()
      .join('\n')}\n`;
  const YAHOO = 'Date,Open,High,Low,Close,Adj Close,Volume';

  it.each([
    ['5:4 split', 80, 64, 1250, 'a 20% special dividend'],
    ['4:3 split', 80, 60, 1333, 'a 25% special dividend'],
    ['4:5 reverse split', 50, 62.5, 800, 'no dividend'],
    ['3:4 reverse split', 60, 80, 750, 'no dividend'],
  ])('stores a step the size of a %s as now but flags it, naming the date, both readings and how to decide', (label, before, after, volumeAfter, other) => {
    const result = readBarCsv(file(YAHOO, before, after, volumeAfter), { source: SRC, adjust: true });
    expect(result.bars).toHaveLength(24);
    // Stored as before: the volumes before the step as written (the dividend reading).
    expect(result.bars.filter((b) => b.date < STEP).every((b) => b.volume === 1000)).toBe(true);
    expect(result.issues.map((i) => [i.rule, i.severity, i.symbol, i.date])).toEqual([['ambiguous_adjustment', 'flag', 'AAPL', STEP]]);
    const message = result.issues[0].message;
    expect(message).toContain(label);
    expect(message).toContain(other);
    expect(message).toContain('12 rows before 2015-05-19');
    expect(message).toMatch(/split column/);
  });

  it('names the measured evidence: the 5:4 step of the probe file, volumes 25% low on the dividend reading', () => {
    const message = readBarCsv(file(YAHOO, 80, 64, 1250), { source: SRC, adjust: true }).issues[0].message;
    expect(message).toBe(
      "Adj Close / Close steps ×0.800 from 2015-05-19 (×1.000) to the row before (2015-05-18: ×0.800): the step a 5:4 split leaves (prices ×0.800, shares ×1.250), and a 20% special dividend's alike; it was read as the dividend, so the volumes of the 12 rows before 2015-05-19 are not scaled for it (2015-05-18: 1,000), 20% low if it was the split (they would be 1,250); the volume as written moved ×1.250 at it (medians of up to 10 rows on each side; a split moves it ×1.250, and ordinary days move so too). The file has no split column to decide it: import the vendor's file with its split column (Quandl's Split Ratio, Alpha Vantage's split_coefficient; found by name, or named by a column mapping's splitRatio), which decides it, or check AAPL's corporate actions on 2015-05-19; the prices are adjusted either way, only the volumes before it depend on the reading",
    );
  });

  it('lets a Quandl WIKI Split Ratio column decide: the split scales the volumes before it, with no flag', () => {
    const header = 'Date,Open,High,Low,Close,Adj Close,Volume,Split Ratio';
    const split = readBarCsv(file(header, 80, 64, 1250, (isStep) => `,${isStep ? 1.25 : 1}`), { source: SRC, adjust: true });
    expect(split.issues).toEqual([]);
    expect(split.bars.filter((b) => b.date < STEP).every((b) => b.volume === 1250)).toBe(true);
    // The same step on a row whose Split Ratio is 1: a dividend, volumes as written, no flag.
    const dividend = readBarCsv(file(header, 80, 64, 1000, () => ',1.0'), { source: SRC, adjust: true });
    expect(dividend.issues).toEqual([]);
    expect(dividend.bars.every((b) => b.volume === 1000)).toBe(true);
  });

  it("lets Alpha Vantage's split_coefficient decide under a mapping that does not name it, and a mapping name it", () => {
    const header = 'timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient';
    const text = file(header, 80, 64, 1250, (isStep) => `,0.0000,${isStep ? '1.25' : '1.0'}`);
    const mapping = { date: 'timestamp', open: 'open', high: 'high', low: 'low', close: 'close', volume: 'volume', adjClose: 'adjusted_close' };
    const auto = readBarCsv(text, { source: SRC, mapping, adjust: true });
    expect(auto.issues).toEqual([]);
    expect(auto.bars.filter((b) => b.date < STEP).every((b) => b.volume === 1250)).toBe(true);
    const named = readBarCsv(text.replace('split_coefficient', 'Splits'), { source: SRC, mapping: { ...mapping, splitRatio: 'Splits' }, adjust: true });
    expect(named.issues).toEqual([]);
    expect(named.bars.filter((b) => b.date < STEP).every((b) => b.volume === 1250)).toBe(true);
  });

  it('keeps the flag when the split column contradicts the step, naming what it says', () => {
    const header = 'Date,Open,High,Low,Close,Adj Close,Volume,Split Ratio';
    const result = readBarCsv(file(header, 80, 64, 1250, (isStep) => `,${isStep ? 2 : 1}`), { source: SRC, adjust: true });
    expect(result.issues.map((i) => [i.rule, i.date])).toEqual([['ambiguous_adjustment', STEP]]);
    expect(result.issues[0].message).toContain('Its split column, column 8 "Split Ratio", says 2 on 2015-05-19, which is neither that split (1.25) nor none');
  });
});

describe('adjust: a factor step of a large split ratio is a split only if nothing in the file says otherwise', () => {
  /**
   * 24 sessions from 2015-05-01 (newest first, as Quandl writes them) around a corporate action on
   * 2015-05-19 that halves the raw Close: the factor (Adj Close / Close) steps ×0.5 there, as a 2:1
   * split leaves it and as a spin-off worth half the price does. `volume(isAfter)` gives the raw
   * volume, `cells(isStep, isAfter, volume)` the cells after the Adj. Close.
   */
  const sessions = (): string[] => {
    const days = ['2015-05-01'];
    while (days.length < 24) days.push(nextNyseTradingDay(days[days.length - 1]));
    return days;
  };
  const STEP = '2015-05-19';
  const QUANDL = 'Date,Open,High,Low,Close,Volume,Ex-Dividend,Split Ratio,Adj. Open,Adj. High,Adj. Low,Adj. Close,Adj. Volume';
  /** A Quandl WIKI file: raw close 80 then 40, adjusted close 40 throughout. */
  const quandl = (volume: (isAfter: boolean) => number, exDividend: (isStep: boolean) => number, splitRatio: (isStep: boolean) => string, adjVolume: (isAfter: boolean, v: number) => number) =>
    `${QUANDL}\n${sessions()
      .map((d) => {
        const after = d >= STEP;
        const close = after ? 40 : 80;
        const v = volume(after);
        return `${d},${close},${close},${close},${close},${v},${exDividend(d === STEP)},${splitRatio(d === STEP)},40,40,40,40,${adjVolume(after, v)}`;
      })
      .reverse()
      .join('\n')}\n`;
  /** The file without the columns named. */
  const drop = (text: string, names: string[]) => {
    const lines = text.trim().split('\n').map((l) => l.split(','));
    const keep = lines[0].map((h, i) => (names.includes(h) ? -1 : i)).filter((i) => i >= 0);
    return `${lines.map((l) => keep.map((i) => l[i]).join(',')).join('\n')}\n`;
  };
  const before = (bars: ReadonlyArray<{ date: string; volume: number }>) => [...new Set(bars.filter((b) => b.date < STEP).map((b) => b.volume))];
  const after = (bars: ReadonlyArray<{ date: string; volume: number }>) => [...new Set(bars.filter((b) => b.date >= STEP).map((b) => b.volume))];

  it('stores a spin-off the Split Ratio column says is no split (Adj. Volume = Volume) with its volumes as written, with no flag', () => {
    // Measured before: every volume before 2015-05-19 stored doubled (2,000 where the file and its Adj. Volume say 1,000), 0 flags.
    const result = readBarCsv(quandl(() => 1000, (isStep) => (isStep ? 40 : 0), () => '1.0', (_a, v) => v), { source: SRC, adjust: true });
    expect(result.issues).toEqual([]);
    expect(result.bars).toHaveLength(24);
    expect(before(result.bars)).toEqual([1000]);
    expect(after(result.bars)).toEqual([1000]);
  });

  it('scales the volumes before a 2:1 split the Split Ratio column states (2.0), which its Adj. Volume agrees with', () => {
    const result = readBarCsv(quandl((a) => (a ? 2000 : 1000), () => 0, (isStep) => (isStep ? '2.0' : '1.0'), () => 2000), { source: SRC, adjust: true });
    expect(result.issues).toEqual([]);
    expect(before(result.bars)).toEqual([2000]);
  });

  it('follows the Split Ratio column but flags a step its Adj. Volume reads the other way, naming both columns', () => {
    // Split Ratio says none; Adj. Volume doubles the volumes before the step as a 2:1 split would.
    const result = readBarCsv(quandl(() => 1000, () => 0, () => '1.0', (a, v) => (a ? v : 2 * v)), { source: SRC, adjust: true });
    expect(before(result.bars)).toEqual([1000]);
    expect(result.issues.map((i) => [i.rule, i.severity, i.date])).toEqual([['ambiguous_adjustment', 'flag', STEP]]);
    expect(result.issues[0].message).toContain('it was read as no split, as its split column, column 8 "Split Ratio", says 1 on 2015-05-19 (no split)');
    expect(result.issues[0].message).toContain('its adjusted volume, column 13 "Adj. Volume", scales the volumes before it ×2.000 against 2015-05-19\'s (the 2:1 split\'s shares multiplier): if it was the split, they would be 2,000');
  });

  it("does not let the row after a missing split session say 'no split': the split is read from the other evidence, as before", () => {
    // The split day's row is rejected when read (an empty volume) or absent: the factor then steps
    // between 2015-05-18 and 2015-05-20, whose Split Ratio (1.0) speaks for 2015-05-20 only. Measured
    // before this rule: the volumes before the split stored as written (1,000), half what they are
    // in post-split shares; with no Adj. Volume, silently.
    const complete = quandl((a) => (a ? 2000 : 1000), () => 0, (isStep) => (isStep ? '2.0' : '1.0'), () => 2000);
    const rejected = complete.replace(/^(2015-05-19,40,40,40,40,)2000,/m, '$1,');
    const absent = complete.replace(/^2015-05-19,.*\n/m, '');
    expect(rejected).not.toBe(complete);
    expect(absent).not.toBe(complete);
    for (const text of [rejected, absent, drop(rejected, ['Adj. Volume']), drop(absent, ['Adj. Volume'])]) {
      const result = readBarCsv(text, { source: SRC, adjust: true });
      expect(before(result.bars)).toEqual([2000]);
    }
  });

  it('lets Adj. Volume decide when the file has no split column, and an Ex-Dividend amount that explains the step when it has neither', () => {
    const spinoff = quandl(() => 1000, (isStep) => (isStep ? 40 : 0), () => '1.0', (_a, v) => v);
    const byVolume = readBarCsv(drop(spinoff, ['Split Ratio']), { source: SRC, adjust: true });
    expect([byVolume.issues, before(byVolume.bars)]).toEqual([[], [1000]]);
    const split = readBarCsv(drop(quandl((a) => (a ? 2000 : 1000), () => 0, () => '1.0', () => 2000), ['Split Ratio']), { source: SRC, adjust: true });
    expect([split.issues, before(split.bars)]).toEqual([[], [2000]]);
    // Ex-Dividend 40 on a raw close of 80 the row before: the step ×0.5 is that distribution's.
    const byDividend = readBarCsv(drop(spinoff, ['Split Ratio', 'Adj. Volume']), { source: SRC, adjust: true });
    expect([byDividend.issues, before(byDividend.bars)]).toEqual([[], [1000]]);
  });

  it('reads a 2:1 step nothing in the file decides as the split, as before, but flags it when the volume as written did not move with it', () => {
    const yahoo = (volumeAfter: number) =>
      `Date,Open,High,Low,Close,Adj Close,Volume\n${sessions()
        .map((d) => (d < STEP ? `${d},80,80,80,80,40,1000` : `${d},40,40,40,40,40,${volumeAfter}`))
        .reverse()
        .join('\n')}\n`;
    // The volume doubles at it: a split's evidence; no flag.
    const split = readBarCsv(yahoo(2000), { source: SRC, adjust: true });
    expect([split.issues, before(split.bars)]).toEqual([[], [2000]]);
    // The volume stays: read as the split still, flagged with both readings.
    const flat = readBarCsv(yahoo(1000), { source: SRC, adjust: true });
    expect(before(flat.bars)).toEqual([2000]);
    expect(flat.issues.map((i) => [i.rule, i.severity, i.date])).toEqual([['ambiguous_adjustment', 'flag', STEP]]);
    expect(flat.issues[0].message).toBe(
      "Adj Close / Close steps ×0.500 from 2015-05-19 (×1.000) to the row before (2015-05-18: ×0.500): the step a 2:1 split leaves (prices ×0.500, shares ×2.000), and a spin-off's or special dividend's worth 50% of the price alike; it was read as the split, so the volumes of the 12 rows before 2015-05-19 are scaled by ×2.000 (2015-05-18: 2,000 stored, 1,000 as written), but the volume as written moved ×1.000 at it (medians of up to 10 rows on each side; a split moves it ×2.000): if it was no split, they should be as written. The file has no split column to decide it: import the vendor's file with its split column (Quandl's Split Ratio, Alpha Vantage's split_coefficient; found by name, or named by a column mapping's splitRatio), which decides it, or check AAPL's corporate actions on 2015-05-19; the prices are adjusted either way, only the volumes before it depend on the reading",
    );
  });

  it('reads a 2:1 step as the split when the Split Ratio column states another split, flagging what it says', () => {
    const result = readBarCsv(drop(quandl((a) => (a ? 2000 : 1000), () => 0, (isStep) => (isStep ? '3.0' : '1.0'), () => 2000), ['Adj. Volume']), { source: SRC, adjust: true });
    expect(before(result.bars)).toEqual([2000]);
    expect(result.issues.map((i) => [i.rule, i.date])).toEqual([['ambiguous_adjustment', STEP]]);
    expect(result.issues[0].message).toContain('Its split column, column 8 "Split Ratio", says 3 on 2015-05-19, which is neither that split (2) nor none (1 or 0)');
  });
});
